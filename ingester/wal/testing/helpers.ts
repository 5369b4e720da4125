// Test-only helpers shared by the WAL's append and recovery suites: temp directories removed after
// each test, a content identity for batches, a replay that collects what a reopen delivers, and
// metric sums from a registry.
import { afterEach } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SpanBatch } from '../../../common/model/index.js';
import type { Registry } from '../../../common/metrics/index.js';
import { encodeBatchRecord } from '../batch-codec.js';
import type { ReplayReport } from '../replay.js';
import { openWal } from '../wal.js';

/** Returns a maker of fresh temp directories, all removed after each test of the calling file. */
export function useTempDirs(): () => Promise<string> {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'skein-wal-test-'));
    dirs.push(dir);
    return dir;
  };
}

/** Content identity of a batch: its encoding is deterministic and round-trips (batch-codec.test). */
export const batchKey = (b: SpanBatch): string => Buffer.from(encodeBatchRecord(b)).toString('base64');

/** Reopens the WAL in `dir` and returns the keys of the replayed batches, in order. */
export async function replayKeys(dir: string, registry?: Registry): Promise<{ keys: string[]; report: ReplayReport; segments: number[] }> {
  const keys: string[] = [];
  const { wal, report } = await openWal({ dir, fsync: 'none', registry }, (b) => keys.push(batchKey(b)));
  const segments = wal.segments();
  await wal.close();
  return { keys, report, segments };
}

/** Sum of a metric's values over the series whose labels include `labels`; 0 when unregistered. */
export async function metricSum(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const { values } = await m.get();
  return values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((s, v) => s + v.value, 0);
}
