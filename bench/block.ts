// Block benchmarks (issue 5, docs/adr/0010): blocks built from the head benchmark's realistic spans
// (≈10 attributes, ~10 spans per trace, 8 services), written to local disk through the filesystem
// object store and queried through openBlock as a querier would (readers opened once and kept).
//
// - Size: stored bytes (all objects of all blocks) ÷ the spans' encoded OTLP protobuf bytes.
// - Write: buildBlock CPU per MB of OTLP input (pure, one core); writeBlock wall time separately.
// - Trace by ID: random existing trace IDs (and 20 % absent ones) asked of every block (min/max and
//   bloom prune, then one block reads its pages); p50/p99 wall, CPU per lookup.
// - Search: service + attribute queries (common values, an indexed needle, a bloom-coded needle),
//   limit 20, asked of every block and merged; p50/p99 wall.
// - Codecs: the same block's page payloads under zstd levels, lz4 and deflate (compareCodecs).
// - Parquet: the same spans and search columns as a Parquet file (compareParquet).
// The first query of each block (bloom + index read) is reported apart, as "cold".
// Nothing is asserted; numbers go to bench/results/ (bench/README.md).
//
// Span counts: `--block-spans=N` total (default 2,000,000; --quick 200,000), `--block-size=N` per
// block (default 1,000,000: what one head cut of a busy shard holds).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SearchRequest, SpanBatch, TraceSummary } from '../common/model/index.js';
import { createFilesystemObjectStore } from '../common/storage/index.js';
import { compareCodecs, compareParquet, type CodecResult, type ParquetResult } from '../ingester/block/block.bench.js';
import { generateBatches } from '../ingester/head/head.bench.js';
import { buildBlock, createPageCache, openBlock, writeBlock, type BlockReader } from '../ingester/block/index.js';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function cpuSeconds(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

function argNumber(name: string, fallback: number): number {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  if (a === undefined) return fallback;
  const v = Number(a.slice(name.length + 3).replaceAll('_', ''));
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}

/** xorshift32, as the head benchmark's generator uses. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** Shared decoded-page cache of the cached search pass (ingester/block createPageCache). */
const PAGE_CACHE_BYTES = 512 * 2 ** 20;

const SEARCHES: { label: string; request: SearchRequest }[] = [
  { label: 'service=cart http.method=POST', request: { tags: [{ key: 'service.name', value: 'cart' }, { key: 'http.method', value: 'POST' }], limit: 20 } },
  { label: 'service=payment http.status_code=500', request: { tags: [{ key: 'service.name', value: 'payment' }, { key: 'http.status_code', value: '500' }], limit: 20 } },
  { label: 'service=shipping net.peer.name=email…', request: { tags: [{ key: 'service.name', value: 'shipping' }, { key: 'net.peer.name', value: 'email.shop-prod.svc.cluster.local' }], limit: 20 } },
  { label: 'service=frontend user.id=user-1234 (needle, dictionary)', request: { tags: [{ key: 'service.name', value: 'frontend' }, { key: 'user.id', value: 'user-1234' }], limit: 20 } },
  {
    label: 'service=cart http.url=… (needle, bloom-coded key)',
    request: { tags: [{ key: 'service.name', value: 'cart' }, { key: 'http.url', value: 'https://shop.example.com/api/v1/cart/items/1234?page=3' }], limit: 20 },
  },
];

export interface BlockRun {
  spans: number;
  blocks: number;
  otlpBytes: number;
  storedBytes: number;
  ratio: number;
  bytesPerSpan: number;
  buildMBPerCpuSecond: number;
  writeMBPerSecond: number;
  coldFirstQueryMs: number;
  lookupP50Ms: number;
  lookupP99Ms: number;
  lookupCpuMs: number;
  searchP50Ms: number;
  searchP99Ms: number;
  searchCpuMs: number;
  perSearchP50Ms: Record<string, number>;
  cachedSearchP50Ms: number;
  cachedSearchP99Ms: number;
  cachedSearchCpuMs: number;
  pageCacheBytes: number;
  found: number;
}

function mergeTop(parts: TraceSummary[][], limit: number): TraceSummary[] {
  const all = parts.flat();
  all.sort((a, b) => (a.startTimeUnixNano.length !== b.startTimeUnixNano.length ? b.startTimeUnixNano.length - a.startTimeUnixNano.length : a.startTimeUnixNano < b.startTimeUnixNano ? 1 : a.startTimeUnixNano > b.startTimeUnixNano ? -1 : a.traceId < b.traceId ? 1 : -1));
  return all.slice(0, limit);
}

async function oneRun(options: { spans: number; blockSize: number; lookups: number; searchRepeats: number; seed: number; log: (l: string) => void; dir: string }): Promise<BlockRun> {
  const { spans, blockSize, log } = options;
  const store = await createFilesystemObjectStore({ root: path.join(options.dir, 'store') });
  const idStore = Buffer.alloc(Math.ceil(spans / 6 + 16) * 16);
  let traces = 0;
  let otlpBytes = 0;
  let buildCpu = 0;
  let writeWall = 0;
  let storedBytes = 0;
  const blockIds: string[] = [];
  let pending: SpanBatch[] = [];
  let pendingSpans = 0;
  const flush = async (): Promise<void> => {
    const blockId = `b${String(blockIds.length).padStart(4, '0')}`;
    const c0 = cpuSeconds();
    const built = buildBlock({ blockId, tenant: 'bench', shard: 0, level: 0, batches: pending });
    buildCpu += cpuSeconds() - c0;
    const t0 = performance.now();
    await writeBlock(store, built);
    writeWall += performance.now() - t0;
    storedBytes += built.meta.bytes;
    blockIds.push(blockId);
    log(`  block ${blockId}: ${built.meta.spanCount.toLocaleString('en-US')} spans, ${(built.meta.bytes / 1e6).toFixed(1)} MB`);
    pending = [];
    pendingSpans = 0;
  };
  for (const round of generateBatches(spans, options.seed, (id) => {
    idStore.set(id, traces++ * 16);
  })) {
    pending.push(...round.batches);
    pendingSpans += round.spans;
    otlpBytes += round.bytes;
    if (pendingSpans >= blockSize) await flush();
  }
  if (pendingSpans > 0) await flush();

  // A querier holds its readers, not the spans: let the generator's garbage go before timing.
  (globalThis as { gc?: () => void }).gc?.();
  const readers = await Promise.all(blockIds.map((b) => openBlock(store, 'bench', 0, b)));
  // Cold: the first query of each block reads its bloom and index.
  const cold: number[] = [];
  for (const r of readers) {
    const t0 = performance.now();
    await r.search({ tags: [], limit: 1 });
    cold.push(performance.now() - t0);
  }

  const next = rng(options.seed ^ 0x9e3779b9);
  const lookupMs: number[] = [];
  let found = 0;
  const absent = new Uint8Array(16);
  const c0 = cpuSeconds();
  for (let i = 0; i < options.lookups; i++) {
    let id: Uint8Array;
    if (i % 5 === 4) {
      for (let k = 0; k < 16; k += 4) new DataView(absent.buffer).setUint32(k, next());
      id = absent;
    } else {
      const k = next() % traces;
      id = idStore.subarray(k * 16, k * 16 + 16);
    }
    const t0 = performance.now();
    const parts = await Promise.all(readers.map((r) => r.findTrace(id)));
    lookupMs.push(performance.now() - t0);
    if (parts.some((p) => p !== null)) found++;
  }
  const lookupCpu = cpuSeconds() - c0;

  const perSearch = new Map<string, number[]>();
  const searches = async (rs: BlockReader[], record: boolean): Promise<{ ms: number[]; cpu: number }> => {
    const ms: number[] = [];
    const c1 = cpuSeconds();
    for (let r = 0; r < options.searchRepeats; r++) {
      for (const s of SEARCHES) {
        const t0 = performance.now();
        const parts = await Promise.all(rs.map((x) => x.search(s.request)));
        mergeTop(
          parts.map((p) => p.traces),
          s.request.limit,
        );
        const took = performance.now() - t0;
        ms.push(took);
        if (record) perSearch.set(s.label, [...(perSearch.get(s.label) ?? []), took]);
      }
    }
    return { ms, cpu: (cpuSeconds() - c1) / ms.length };
  };
  const plain = await searches(readers, true);
  // The same searches through readers sharing a page cache, once to fill it, then timed.
  const cache = createPageCache({ maxBytes: PAGE_CACHE_BYTES });
  const cachedReaders = await Promise.all(blockIds.map((b) => openBlock(store, 'bench', 0, b, { pageCache: cache })));
  for (const s of SEARCHES) await Promise.all(cachedReaders.map((x) => x.search(s.request)));
  const cached = await searches(cachedReaders, false);
  const searchMs = plain.ms;

  const run: BlockRun = {
    spans,
    blocks: blockIds.length,
    otlpBytes,
    storedBytes,
    ratio: storedBytes / otlpBytes,
    bytesPerSpan: storedBytes / spans,
    buildMBPerCpuSecond: otlpBytes / 1e6 / buildCpu,
    writeMBPerSecond: storedBytes / 1e6 / (writeWall / 1000),
    coldFirstQueryMs: median(cold),
    lookupP50Ms: percentile(lookupMs, 50),
    lookupP99Ms: percentile(lookupMs, 99),
    lookupCpuMs: (lookupCpu * 1000) / options.lookups,
    searchP50Ms: percentile(searchMs, 50),
    searchP99Ms: percentile(searchMs, 99),
    searchCpuMs: plain.cpu * 1000,
    perSearchP50Ms: Object.fromEntries([...perSearch].map(([k, v]) => [k, median(v)])),
    cachedSearchP50Ms: percentile(cached.ms, 50),
    cachedSearchP99Ms: percentile(cached.ms, 99),
    cachedSearchCpuMs: cached.cpu * 1000,
    pageCacheBytes: cache.stats().bytes,
    found,
  };
  return run;
}

export async function runBlockSuite(options: { runs: number; quick: boolean; log: (line: string) => void }): Promise<{ rows: string[]; json: unknown }> {
  const { runs, quick, log } = options;
  const spans = argNumber('block-spans', quick ? 200_000 : 2_000_000);
  const blockSize = argNumber('block-size', 1_000_000);
  const lookups = quick ? 500 : 2000;
  const searchRepeats = quick ? 5 : 20;
  const results: BlockRun[] = [];
  let codecs: CodecResult[] = [];
  let parquet: ParquetResult | undefined;
  // Codec and Parquet comparisons on their own 200k-span sample, dropped before the timed runs.
  {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'skein-bench-block-'));
    try {
      const sample: SpanBatch[] = [];
      let sampleBytes = 0;
      const sampleIds: Uint8Array[] = [];
      for (const round of generateBatches(200_000, 7, (id) => sampleIds.push(id))) {
        sample.push(...round.batches);
        sampleBytes += round.bytes;
      }
      log('block: page codecs on 200k spans…');
      codecs = await compareCodecs(sample, sampleBytes);
      log('block: the same spans as Parquet…');
      const store = await createFilesystemObjectStore({ root: path.join(dir, 'sample') });
      await writeBlock(store, buildBlock({ blockId: 'parquet-src', tenant: 'bench', shard: 0, level: 0, batches: sample }));
      sample.length = 0;
      const reader = await openBlock(store, 'bench', 0, 'parquet-src');
      parquet = await compareParquet({
        reader,
        otlpBytes: sampleBytes,
        lookups: sampleIds.filter((_, i) => i % 67 === 0).slice(0, quick ? 100 : 300),
        searches: SEARCHES.map((s) => ({ service: s.request.tags[0]!.value, key: s.request.tags[1]!.key, value: s.request.tags[1]!.value })),
        searchRepeats: quick ? 2 : 5,
        dir,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (let r = 0; r < runs; r++) {
    log(`block: run ${r + 1}/${runs} (${spans.toLocaleString('en-US')} spans, blocks of ${blockSize.toLocaleString('en-US')})…`);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'skein-bench-block-'));
    try {
      const run = await oneRun({ spans, blockSize, lookups, searchRepeats, seed: 42 + r, log, dir });
      log(`  ${(run.ratio * 100).toFixed(1)} % of OTLP, build ${run.buildMBPerCpuSecond.toFixed(0)} MB/CPU-s, lookup p99 ${run.lookupP99Ms.toFixed(1)} ms, search p99 ${run.searchP99Ms.toFixed(1)} ms (cached ${run.cachedSearchP99Ms.toFixed(1)} ms)`);
      results.push(run);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const m = (k: keyof BlockRun): number => median(results.map((x) => x[k] as number));
  const f1 = (x: number): string => x.toFixed(1);
  const rows = [
    `${spans.toLocaleString('en-US')} spans in ${results[0]!.blocks} block(s) of up to ${blockSize.toLocaleString('en-US')}, filesystem store on local disk (page cache warm), readers opened once; medians of ${runs} run(s).`,
    '',
    '| metric | median | target |',
    '|---|---|---|',
    `| stored bytes ÷ OTLP protobuf bytes | ${(m('ratio') * 100).toFixed(1)} % (${f1(m('bytesPerSpan'))} B/span) | ≤ 20 % |`,
    `| block build, MB of OTLP per CPU-second (one core) | ${f1(m('buildMBPerCpuSecond'))} | |`,
    `| block write to disk, MB/s (wall) | ${f1(m('writeMBPerSecond'))} | |`,
    `| first query of a block (bloom + index read), ms | ${f1(m('coldFirstQueryMs'))} | |`,
    `| trace-by-ID p50 / p99, ms | ${m('lookupP50Ms').toFixed(2)} / ${m('lookupP99Ms').toFixed(2)} | p99 ≤ 50 ms at 10M spans |`,
    `| trace-by-ID CPU per lookup, ms | ${m('lookupCpuMs').toFixed(2)} | |`,
    `| search (service + attribute, limit 20) p50 / p99, ms | ${f1(m('searchP50Ms'))} / ${f1(m('searchP99Ms'))} | p99 ≤ 500 ms at 10M spans |`,
    `| search CPU per query, ms | ${f1(m('searchCpuMs'))} | |`,
    `| search with a warm shared page cache (${(PAGE_CACHE_BYTES / 2 ** 20).toFixed(0)} MiB budget, ${(m('pageCacheBytes') / 2 ** 20).toFixed(0)} MiB used) p50 / p99, ms | ${f1(m('cachedSearchP50Ms'))} / ${f1(m('cachedSearchP99Ms'))} | |`,
    `| search CPU per query with the cache, ms | ${f1(m('cachedSearchCpuMs'))} | |`,
    '',
    '| search | p50 ms |',
    '|---|---|',
    ...SEARCHES.map((s) => `| ${s.label} | ${f1(median(results.map((x) => x.perSearchP50Ms[s.label]!)))} |`),
    '',
    'Page codecs (a 200k-span block\'s page payloads recompressed; index, bloom and meta as built):',
    '',
    '| codec | block ÷ OTLP | B/span | compress MB/CPU-s | decompress MB/CPU-s | one span page decompress, µs |',
    '|---|---|---|---|---|---|',
    ...codecs.map((c) => `| ${c.codec} | ${(c.ratio * 100).toFixed(1)} % | ${f1(c.bytesPerSpan)} | ${c.compressMBps.toFixed(0)} | ${c.decompressMBps.toFixed(0)} | ${c.spanPageDecompressUs.toFixed(0)} |`),
  ];
  if (parquet !== undefined) {
    rows.push(
      '',
      `Parquet (hyparquet-writer 0.17 / hyparquet 1.x, zstd-3, row groups of ${parquet.rowGroupRows.toLocaleString('en-US')} rows, 256 KiB pages; span bytes + the same search columns, ${parquet.attributeColumns} attribute columns; the same ${parquet.rows.toLocaleString('en-US')} spans as the codec table; read through one file handle):`,
      '',
      '| metric | Parquet |',
      '|---|---|',
      `| bytes ÷ OTLP | ${(parquet.ratio * 100).toFixed(1)} % (${f1(parquet.bytesPerSpan)} B/span) |`,
      `| write, MB of OTLP per CPU-second (writer only / column extraction only) | ${f1(parquet.writeMBPerCpuSecond)} / ${f1(parquet.extractMBPerCpuSecond)} |`,
      `| trace-by-ID p50 / p99, ms | ${parquet.lookupP50Ms.toFixed(2)} / ${parquet.lookupP99Ms.toFixed(2)} |`,
      `| search column scan (trace_id + service + attribute, every row group) p50 / p99, ms | ${f1(parquet.searchP50Ms)} / ${f1(parquet.searchP99Ms)} |`,
    );
  }
  return { rows, json: { spans, blockSize, runs: results, codecs, parquet } };
}
