// Compaction benchmark (issue 5 item 5): N level-0 blocks (default 8) → 1 level-1 block through the
// real compactor (createCompactor: claim, read the inputs' objects, mergeBlocks — the columnar
// merge — on the block worker pool, write, commit) on the in-memory coordinator and a filesystem
// object store on local disk.
//
// Inputs: the head benchmark's realistic spans (≈10 attributes, ~10 spans per trace, 8 services)
// cut into N blocks in arrival order; the last round of traces of each block is repeated in the next
// one (a retried delivery): traces in two blocks and duplicate spans, as carried-over traces give.
//
// Reported per job: wall time; CPU-seconds of the process (main thread + worker, process.cpuUsage)
// and of the main thread alone (process.threadCpuUsage): what the event loop pays; throughput as
// input stored MB, input OTLP MB and input spans per CPU-second; the longest event-loop stall
// during the job (perf_hooks histogram) with the worker pool and, in the first run, with the merge
// on the main thread (pool size 0) for comparison. The ratio to ingest divides compaction's spans
// per CPU-second by the all-in-one ingest rate (spans per server CPU-second, OTLP/gRPC) measured in
// the same run when the ingest suite runs too (`--suite=ingest,compaction`), else the newest
// bench/results/*.json that has one: above 1, one core compacts level 0 faster than one core
// ingests it. Nothing is asserted; numbers go to bench/results/ (bench/README.md).
//
// `--compaction-spans=N` total input spans (default 1,000,000; --quick 160,000), `--compaction-blocks=N`.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createKeyspace, encodeValue, ifAbsent, MemoryStore, OwnerValue, put, type Coordinator, type Keyspace, type Lease } from '../common/coord/index.js';
import { createSilentLogger } from '../common/log/index.js';
import { createRegistry } from '../common/metrics/index.js';
import type { SpanBatch } from '../common/model/index.js';
import { createFilesystemObjectStore, type ObjectStore } from '../common/storage/index.js';
import { buildBlock, writeBlock, type MergeInput } from '../ingester/block/index.js';
import { createBlockWorkerPool } from '../ingester/block-worker/index.js';
import { generateBatches } from '../ingester/head/head.bench.js';
import { createCompactor, createManifestStore, type ManifestStore } from '../ingester/lifecycle/index.js';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function argNumber(name: string, fallback: number): number {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  if (a === undefined) return fallback;
  const v = Number(a.slice(name.length + 3).replaceAll('_', ''));
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const cpu = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
const threadCpu = (): number => {
  const c = process.threadCpuUsage();
  return (c.user + c.system) / 1e6;
};

export interface CompactionRun {
  readonly pool: 'worker' | 'main thread';
  readonly blocks: number;
  readonly inputSpans: number;
  readonly outputSpans: number;
  readonly duplicateSpans: number;
  readonly otlpBytes: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly mainThreadCpuSeconds: number;
  readonly inputMBPerCpuSecond: number;
  readonly otlpMBPerCpuSecond: number;
  readonly spansPerCpuSecond: number;
  readonly spansPerSecond: number;
  readonly maxEventLoopDelayMs: number;
  readonly p99EventLoopDelayMs: number;
}

/** The N level-0 blocks' batches, in arrival order, with the last round of each repeated in the next. */
function inputBatches(spans: number, blocks: number, seed: number): { perBlock: SpanBatch[][]; otlpBytes: number } {
  const rounds = [...generateBatches(spans, seed, () => undefined)];
  const per = Math.ceil(rounds.length / blocks);
  const perBlock: SpanBatch[][] = [];
  let otlpBytes = 0;
  for (let b = 0; b < blocks; b++) {
    const mine = rounds.slice(b * per, (b + 1) * per);
    if (b > 0 && b * per - 1 < rounds.length) mine.unshift(rounds[b * per - 1]!);
    perBlock.push(mine.flatMap((r) => r.batches));
    otlpBytes += mine.reduce((n, r) => n + r.bytes, 0);
  }
  return { perBlock: perBlock.filter((x) => x.length > 0), otlpBytes };
}

async function seed(coord: Coordinator, ks: Keyspace, manifest: ManifestStore, store: ObjectStore, shard: number, perBlock: SpanBatch[][], leaseId: string): Promise<{ ids: string[]; inputBytes: number }> {
  const owner = await coord.txn({ compare: [ifAbsent(ks.owner(shard))], success: [put(ks.owner(shard), encodeValue(OwnerValue, { member: 'bench', address: 'bench:0' }), leaseId)] });
  if (owner.kind !== 'committed') throw new Error(`owner key: ${owner.kind}`);
  const token = owner.revision;
  const ids: string[] = [];
  let inputBytes = 0;
  for (let b = 0; b < perBlock.length; b++) {
    const blockId = `s${shard}-in-${String(b).padStart(2, '0')}`;
    const begun = await manifest.beginUpload({ shard, token, member: 'bench', blockId, tenant: 'bench' });
    if (begun.kind !== 'committed') throw new Error(`begin-upload: ${begun.kind}`);
    const built = buildBlock({ blockId, tenant: 'bench', shard, level: 0, batches: perBlock[b]! });
    await writeBlock(store, built);
    const flushed = await manifest.flush({ shard, token, member: 'bench', upload: begun.revision, meta: { ...built.meta } });
    if (flushed.kind !== 'committed') throw new Error(`flush: ${flushed.kind}`);
    ids.push(blockId);
    inputBytes += built.meta.bytes;
  }
  const read = await manifest.readBlocks(shard, ids);
  if (!read.ok) throw new Error(read.corrupt.error);
  const planned = await manifest.plan({ jobId: `job-${shard}`, inputs: read.blocks, output: `s${shard}-out`, level: 1, windowStartMs: 0, windowEndMs: 1 });
  if (planned.kind !== 'committed') throw new Error(`plan: ${JSON.stringify(planned)}`);
  return { ids, inputBytes };
}

async function oneRun(options: { spans: number; blocks: number; seed: number; withInline: boolean; log: (l: string) => void }): Promise<CompactionRun[]> {
  const { log } = options;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skein-bench-compaction-'));
  const server = new MemoryStore();
  const coord = server.connect();
  let lease: Lease | undefined;
  try {
    const store = await createFilesystemObjectStore({ root: path.join(dir, 'store') });
    const ks = createKeyspace('bench', 'compaction');
    const manifest = createManifestStore({ coord, keyspace: ks });
    lease = await coord.grantLease(3600);
    const leaseId = lease.id;
    const { perBlock, otlpBytes } = inputBatches(options.spans, options.blocks, options.seed);
    const blockCount = perBlock.length;
    const variants: { shard: number; pool: CompactionRun['pool']; size: number }[] = [{ shard: 0, pool: 'worker', size: 1 }];
    if (options.withInline) variants.push({ shard: 1, pool: 'main thread', size: 0 });
    const seeded = new Map<number, { ids: string[]; inputBytes: number }>();
    for (const v of variants) {
      log(`  seeding ${blockCount} level-0 blocks (shard ${v.shard})…`);
      seeded.set(v.shard, await seed(coord, ks, manifest, store, v.shard, perBlock, leaseId));
    }
    // Warm each pool (thread start, module load, JIT) with one block's worth of spans built and then
    // merged with itself, as the flushes and compactions of a running ingester keep it warm; then
    // let go of the generated spans, so the measurement does not pay for marking half a gigabyte of
    // bench input on every GC.
    const pools = new Map(variants.map((v) => [v.shard, createBlockWorkerPool({ size: v.size })]));
    for (const pool of pools.values()) {
      const warm = await pool.build({ blockId: 'warm', tenant: 'bench', shard: 9, level: 0, batches: perBlock[0]! });
      const object = (name: string): Uint8Array => warm.objects.find((o) => o.key.endsWith(`/${name}`))!.body;
      const input = (): MergeInput => ({ blockId: 'warm', index: new Uint8Array(object('index')), data: new Uint8Array(object('data')) });
      await pool.merge({ blockId: 'warm-2', tenant: 'bench', shard: 9, level: 1 }, [input(), input()]);
    }
    perBlock.length = 0;
    (globalThis as { gc?: () => void }).gc?.();
    const out: CompactionRun[] = [];
    for (const v of variants) {
      const pool = pools.get(v.shard)!;
      const compactor = createCompactor({
        coord,
        keyspace: ks,
        store,
        member: 'bench',
        lease: () => leaseId,
        ownedShards: () => new Map([[v.shard, 1]]),
        pool,
        logger: createSilentLogger(),
        registry: createRegistry({ defaultMetrics: false }),
        intervalMs: 60_000,
      });
      const delay = monitorEventLoopDelay({ resolution: 5 });
      const c0 = cpu();
      const m0 = threadCpu();
      const t0 = performance.now();
      delay.enable();
      const [result] = await compactor.runOnce();
      delay.disable();
      const wall = (performance.now() - t0) / 1000;
      const cpuSeconds = cpu() - c0;
      const mainSeconds = threadCpu() - m0;
      await pool.close();
      if (result?.outcome !== 'committed' || result.merge === undefined) throw new Error(`compaction did not commit: ${JSON.stringify(result)}`);
      const { inputBytes } = seeded.get(v.shard)!;
      const run: CompactionRun = {
        pool: v.pool,
        blocks: blockCount,
        inputSpans: result.merge.inputSpans,
        outputSpans: result.merge.outputSpans,
        duplicateSpans: result.merge.duplicateSpans,
        otlpBytes,
        inputBytes,
        outputBytes: result.outputBytes ?? 0,
        wallSeconds: wall,
        cpuSeconds,
        mainThreadCpuSeconds: mainSeconds,
        inputMBPerCpuSecond: inputBytes / 1e6 / cpuSeconds,
        otlpMBPerCpuSecond: otlpBytes / 1e6 / cpuSeconds,
        spansPerCpuSecond: result.merge.inputSpans / cpuSeconds,
        spansPerSecond: result.merge.inputSpans / wall,
        maxEventLoopDelayMs: delay.max / 1e6,
        p99EventLoopDelayMs: delay.percentile(99) / 1e6,
      };
      log(
        `  ${v.pool}: ${run.inputSpans.toLocaleString('en-US')} spans (${(inputBytes / 1e6).toFixed(1)} MB stored) in ${wall.toFixed(2)} s, ${cpuSeconds.toFixed(2)} CPU-s (main thread ${mainSeconds.toFixed(2)}), ${Math.round(run.spansPerCpuSecond).toLocaleString('en-US')} spans/CPU-s, event loop max ${run.maxEventLoopDelayMs.toFixed(0)} ms`,
      );
      out.push(run);
    }
    return out;
  } finally {
    // Revoked, not just left: the in-memory server's expiry timer would keep the process alive for its TTL.
    await lease?.revoke();
    await coord.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The newest recorded all-in-one ingest rate over OTLP/gRPC (spans per server CPU-second), with its file. */
function recordedIngestRate(resultsDir: string): { spansPerCpuSecond: number; file: string } | undefined {
  let files: string[];
  try {
    files = readdirSync(resultsDir).filter((f) => f.endsWith('.json')).sort().reverse();
  } catch {
    return undefined;
  }
  for (const f of files) {
    try {
      const j = JSON.parse(readFileSync(path.join(resultsDir, f), 'utf8')) as { ingest?: { grpc?: { skeinSpansPerCpuSecond?: number } } };
      const rate = j.ingest?.grpc?.skeinSpansPerCpuSecond;
      if (typeof rate === 'number' && rate > 0) return { spansPerCpuSecond: rate, file: f };
    } catch {
      // not a results file we understand
    }
  }
  return undefined;
}

export async function runCompactionSuite(options: { runs: number; quick: boolean; resultsDir: string; log: (line: string) => void; ingestSpansPerCpuSecond?: number }): Promise<{ rows: string[]; json: unknown }> {
  const { runs, quick, log } = options;
  const spans = argNumber('compaction-spans', quick ? 160_000 : 1_000_000);
  const blocks = argNumber('compaction-blocks', 8);
  const all: CompactionRun[] = [];
  for (let r = 0; r < runs; r++) {
    log(`compaction: run ${r + 1}/${runs} (${spans.toLocaleString('en-US')} spans in ${blocks} level-0 blocks → 1)…`);
    all.push(...(await oneRun({ spans, blocks, seed: 42 + r, withInline: r === 0, log })));
  }
  const worker = all.filter((x) => x.pool === 'worker');
  const inline = all.filter((x) => x.pool === 'main thread');
  const m = (xs: CompactionRun[], k: keyof CompactionRun): number => median(xs.map((x) => x[k] as number));
  const ingest = options.ingestSpansPerCpuSecond !== undefined ? { spansPerCpuSecond: options.ingestSpansPerCpuSecond, file: 'this run' } : recordedIngestRate(options.resultsDir);
  const ratio = ingest === undefined ? undefined : m(worker, 'spansPerCpuSecond') / ingest.spansPerCpuSecond;
  const n0 = (x: number): string => Math.round(x).toLocaleString('en-US');
  const rows = [
    `${n0(m(worker, 'inputSpans'))} input spans (${(m(worker, 'otlpBytes') / 1e6).toFixed(0)} MB OTLP, ${(m(worker, 'inputBytes') / 1e6).toFixed(1)} MB stored) in ${blocks} level-0 blocks → 1 level-1 block of ${n0(m(worker, 'outputSpans'))} spans (${n0(m(worker, 'duplicateSpans'))} duplicates dropped, ${(m(worker, 'outputBytes') / 1e6).toFixed(1)} MB); block worker pool of 1; medians of ${runs} run(s).`,
    '',
    '| metric | median |',
    '|---|---|',
    `| job wall time, s | ${m(worker, 'wallSeconds').toFixed(2)} |`,
    `| CPU-seconds (process: main thread + worker) | ${m(worker, 'cpuSeconds').toFixed(2)} |`,
    `| … of which on the main thread (read the inputs, write the output, manifest) | ${m(worker, 'mainThreadCpuSeconds').toFixed(2)} |`,
    `| input stored MB per CPU-second | ${m(worker, 'inputMBPerCpuSecond').toFixed(1)} |`,
    `| input OTLP MB per CPU-second | ${m(worker, 'otlpMBPerCpuSecond').toFixed(1)} |`,
    `| input spans per CPU-second | ${n0(m(worker, 'spansPerCpuSecond'))} |`,
    `| input spans per second (wall) | ${n0(m(worker, 'spansPerSecond'))} |`,
    `| event loop: longest stall / p99 during the job, ms (worker pool) | ${m(worker, 'maxEventLoopDelayMs').toFixed(0)} / ${m(worker, 'p99EventLoopDelayMs').toFixed(0)} |`,
    ...(inline.length > 0 ? [`| event loop: longest stall / p99, ms (pool size 0: merge on the main thread; first run) | ${m(inline, 'maxEventLoopDelayMs').toFixed(0)} / ${m(inline, 'p99EventLoopDelayMs').toFixed(0)} |`] : []),
    ingest === undefined
      ? '| ÷ recorded ingest rate | (no ingest result in bench/results) |'
      : `| ÷ ingest rate (${n0(ingest.spansPerCpuSecond)} spans per server CPU-s, all-in-one OTLP/gRPC, ${ingest.file}) | ${ratio!.toFixed(2)}× |`,
  ];
  return { rows, json: { spans, blocks, runs: all, ingest, ratioToIngest: ratio } };
}
