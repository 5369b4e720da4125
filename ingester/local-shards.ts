// The shards this process holds: one WAL and one head per shard. Opening replays each WAL into its
// head (acknowledged spans are served again after a crash), then ingest appends go
// admit (dedup + budget, synchronous) → WAL append (durable per fsync policy) → commit (visible).
import path from 'node:path';
import { readdir, rm } from 'node:fs/promises';
import { openWal, type Wal, type FsyncPolicy, type ReplayReport } from './wal/index.js';
import { createShardHead, type ShardHead, type AdmitTicket } from './head/index.js';
import { SkeinError } from '../common/errors/index.js';
import type { SpanBatch } from '../common/model/index.js';
import type { Registry } from '../common/metrics/index.js';

export interface LocalShardsOptions {
  readonly dataDir: string;
  readonly shardCount: number;
  readonly fsync: FsyncPolicy;
  readonly fsyncDelayMs: number;
  readonly walSegmentBytes: number;
  readonly headMaxBytes: number;
  readonly registry: Registry;
  /** Progress callback while replaying (shard, report). */
  readonly onReplayed?: (shard: number, report: ReplayReport, millis: number) => void;
}

export interface LocalShard {
  readonly shard: number;
  readonly head: ShardHead;
  readonly wal: Wal;
}

export interface AppendOutcome {
  readonly stored: number;
  readonly duplicates: number;
}

export interface LocalShards {
  readonly shards: readonly LocalShard[];
  /**
   * Makes the per-shard batches durable and visible. All-or-error: if any shard cannot take its
   * batch, the caller gets the error (retryable) — batches that did reach their WAL stay stored and
   * a retry is deduplicated.
   */
  append(batches: readonly (SpanBatch | undefined)[]): Promise<AppendOutcome>;
  close(): Promise<void>;
}

/**
 * WAL directories of shards at or above the current shard count (left by a run with more shards).
 * Their records are read back and handed to `reroute` — which sends them through the normal write
 * path to their current shards — and only then is the directory removed, so acknowledged spans
 * survive a shard-count decrease. (Records inside kept shards whose spans now hash elsewhere stay
 * where they are: every head answers every query, and query-time merging dedups.)
 */
export async function drainRetiredShards(
  options: Pick<LocalShardsOptions, 'dataDir' | 'shardCount' | 'registry'>,
  reroute: (batch: SpanBatch) => Promise<void>,
  onDrained?: (shard: number, records: number, report: ReplayReport) => void,
): Promise<void> {
  const root = path.join(options.dataDir, 'wal');
  let names: string[];
  try {
    names = await readdir(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const retired = names.filter((n) => /^\d+$/.test(n) && Number(n) >= options.shardCount).map(Number).sort((a, b) => a - b);
  for (const shard of retired) {
    const dir = path.join(root, String(shard));
    const batches: SpanBatch[] = [];
    // fsync 'always' only matters for appends; we never append to a retired WAL.
    const { wal, report } = await openWal({ dir, fsync: 'always', registry: options.registry, shard }, (batch) => {
      batches.push(batch);
    });
    await wal.close();
    for (const batch of batches) await reroute(batch);
    onDrained?.(shard, batches.length, report);
    await rm(dir, { recursive: true, force: true });
  }
}

export async function openLocalShards(options: LocalShardsOptions): Promise<LocalShards> {
  const shards: LocalShard[] = [];
  const perShardBudget = Math.max(1, Math.floor(options.headMaxBytes / options.shardCount));
  try {
    for (let shard = 0; shard < options.shardCount; shard++) {
      const head = createShardHead({ maxBytes: perShardBudget, registry: options.registry, shard });
      const started = performance.now();
      const { wal, report } = await openWal(
        {
          dir: path.join(options.dataDir, 'wal', String(shard)),
          fsync: options.fsync,
          batchDelayMs: options.fsyncDelayMs,
          segmentBytes: options.walSegmentBytes,
          registry: options.registry,
          shard,
        },
        (batch) => {
          head.insert(batch);
        },
      );
      options.onReplayed?.(shard, report, performance.now() - started);
      shards.push({ shard, head, wal });
    }
  } catch (e) {
    await Promise.allSettled(shards.map((s) => s.wal.close()));
    throw e;
  }

  return {
    shards,
    async append(batches) {
      // Phase 1, synchronous: reserve in every head or in none.
      const admitted: { s: LocalShard; ticket: AdmitTicket; batch: SpanBatch }[] = [];
      let duplicates = 0;
      for (let i = 0; i < batches.length; i++) {
        const batch = batches[i];
        if (batch === undefined) continue;
        const s = shards[i];
        if (s === undefined) {
          for (const a of admitted) a.s.head.release(a.ticket);
          throw new SkeinError('INTERNAL', `batch for shard ${i} but only ${shards.length} shards are open`);
        }
        const r = s.head.admit(batch);
        if (r.kind === 'full') {
          for (const a of admitted) a.s.head.release(a.ticket);
          throw new SkeinError('HEAD_FULL', `the in-memory head of shard ${i} is at its memory budget; retry later (or raise --head-max-bytes)`, {
            retryAfterSeconds: r.retryAfterSeconds,
          });
        }
        duplicates += r.duplicates;
        if (countSpans(r.batch) === 0) {
          s.head.commit(r.ticket);
          continue;
        }
        admitted.push({ s, ticket: r.ticket, batch: r.batch });
      }
      // Phase 2: durable appends in parallel, then make visible.
      const results = await Promise.allSettled(admitted.map((a) => a.s.wal.append(a.batch)));
      let stored = 0;
      let failure: unknown;
      results.forEach((r, k) => {
        const a = admitted[k]!;
        if (r.status === 'fulfilled') {
          a.s.head.commit(a.ticket);
          stored += countSpans(a.batch);
        } else {
          a.s.head.release(a.ticket);
          failure ??= r.reason;
        }
      });
      if (failure !== undefined) {
        if (failure instanceof SkeinError) throw failure;
        throw new SkeinError('WAL_WRITE_FAILED', 'could not make the spans durable; retry', { cause: failure });
      }
      return { stored, duplicates };
    },
    async close() {
      const results = await Promise.allSettled(shards.map((s) => s.wal.close()));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
  };
}

function countSpans(batch: SpanBatch): number {
  let n = 0;
  for (const g of batch.groups) n += g.spans.length;
  return n;
}
