// Benchmark of the ingest append hot path (STYLE.md rule 10): appends of N-span batches under one
// fsync policy, `concurrency` appends in flight. Run directly (after `npm run build`):
//   node dist/ingester/wal/wal.bench.js [records per run]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SpanBatch } from '../../common/model/index.js';
import { Registry } from '../../common/metrics/index.js';
import { openWal, type FsyncPolicy } from './wal.js';

export interface WalBenchOptions {
  /** Spans per batch (one record per batch). */
  spans: number;
  policy: FsyncPolicy;
  /** Records to append. Default 200. */
  records?: number;
  /** Appends in flight at once. Default 1 (each waits for the previous). */
  concurrency?: number;
  /** Bytes per encoded span. Default 400. */
  spanBytes?: number;
}

export interface WalBenchResult {
  policy: FsyncPolicy;
  spans: number;
  concurrency: number;
  records: number;
  bytes: number;
  seconds: number;
  recordsPerSecond: number;
  spansPerSecond: number;
  megabytesPerSecond: number;
  fsyncs: number;
}

function makeBatch(spans: number, spanBytes: number): SpanBatch {
  let seed = 0x9e3779b9;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed & 0xff;
  };
  const list: Uint8Array[] = [];
  for (let i = 0; i < spans; i++) {
    const span = new Uint8Array(spanBytes);
    for (let j = 0; j < spanBytes; j++) span[j] = next();
    list.push(span);
  }
  const resource = new TextEncoder().encode('\n\x1c\n\x0cservice.name\x12\x0c\n\ncheckout-1');
  return { tenant: 'bench', groups: [{ resource, resourceSchemaUrl: '', scope: new Uint8Array(0), scopeSchemaUrl: '', spans: list }] };
}

/** Appends into a fresh WAL in `dir` (which it creates and leaves behind) and measures throughput. */
export async function benchWalAppend(dir: string, options: WalBenchOptions): Promise<WalBenchResult> {
  const records = options.records ?? 200;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const batch = makeBatch(options.spans, options.spanBytes ?? 400);
  const registry = new Registry();
  const { wal } = await openWal({ dir, fsync: options.policy, registry }, () => undefined);
  let issued = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (issued < records) {
      issued++;
      await wal.append(batch);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await wal.close();
  const metricValue = async (name: string): Promise<number> => {
    const metric = registry.getSingleMetric(name);
    const got = metric ? await metric.get() : undefined;
    return got?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
  };
  const bytes = await metricValue('skein_ingester_wal_append_bytes_total');
  return {
    policy: options.policy,
    spans: options.spans,
    concurrency,
    records,
    bytes,
    seconds,
    recordsPerSecond: records / seconds,
    spansPerSecond: (records * options.spans) / seconds,
    megabytesPerSecond: bytes / seconds / (1024 * 1024),
    fsyncs: await metricValue('skein_ingester_wal_fsyncs_total'),
  };
}

async function main(): Promise<void> {
  const records = Number(process.argv[2] ?? 200);
  const rows: WalBenchResult[] = [];
  for (const policy of ['none', 'batch', 'always'] as const) {
    for (const concurrency of [1, 16]) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'skein-wal-bench-'));
      try {
        rows.push(await benchWalAppend(dir, { spans: 1000, policy, concurrency, records }));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  process.stdout.write('policy  conc  records  rec/s    spans/s     MB/s    fsyncs\n');
  for (const r of rows) {
    process.stdout.write(
      `${r.policy.padEnd(7)} ${String(r.concurrency).padStart(4)} ${String(r.records).padStart(8)} ${r.recordsPerSecond.toFixed(0).padStart(7)} ${r.spansPerSecond.toFixed(0).padStart(10)} ${r.megabytesPerSecond.toFixed(1).padStart(8)} ${String(r.fsyncs).padStart(8)}\n`,
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
