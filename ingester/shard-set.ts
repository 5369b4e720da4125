// The shards a cluster member holds data for, opened and dropped as ownership moves (ADR 0006):
// one WAL + head per shard. A shard is `open` (its WAL takes appends: the member owns it),
// `held` (data on disk and in the head, WAL closed or not yet given up, no appends: after a restart
// or a lost lease, until the member either owns it again or drains it) or `draining` (its records
// are being sent to the shard's current owner; the head keeps answering queries until that is done,
// then the WAL directory is deleted and the head dropped). Every head, whatever its state, answers
// queries: that is what keeps acknowledged spans visible while they move.
import path from 'node:path';
import { readdir, rm } from 'node:fs/promises';
import { openWal, type Wal, type FsyncPolicy, type ReplayReport } from './wal/index.js';
import { createShardHead, type ShardHead } from './head/index.js';
import { SkeinError } from '../common/errors/index.js';
import type { SpanBatch } from '../common/model/index.js';
import type { Registry } from '../common/metrics/index.js';

export interface ShardSetOptions {
  readonly dataDir: string;
  readonly fsync: FsyncPolicy;
  readonly fsyncDelayMs: number;
  readonly walSegmentBytes: number;
  /** Memory budget of one shard's head (decided by the caller from the partition map). */
  headBytesPerShard(): number;
  readonly registry: Registry;
  readonly onReplayed?: (shard: number, report: ReplayReport, millis: number) => void;
}

export type ShardState = 'open' | 'held' | 'draining';

interface Entry {
  readonly shard: number;
  head: ShardHead;
  wal: Wal | undefined;
  state: ShardState;
  inflight: number;
  idle: (() => void)[];
  drain: { readonly abort: AbortController; readonly done: Promise<DrainOutcome> } | undefined;
}

export type DrainOutcome = { readonly kind: 'drained'; readonly records: number; readonly spans: number } | { readonly kind: 'aborted' };

/** Where a drain sends the records it reads back; `batch` may buffer, `end` flushes. Both resolve once what they sent is acknowledged; they reject only when `signal` aborts. */
export interface DrainSink {
  batch(batch: SpanBatch, signal: AbortSignal): Promise<void>;
  end(signal: AbortSignal): Promise<void>;
}

export interface ShardAppendOutcome {
  readonly stored: number;
  readonly duplicates: number;
}

export interface ShardSet {
  /** Shards with data here, any state. */
  shards(): number[];
  state(shard: number): ShardState | undefined;
  /** Every head held (open, held or draining), for queries. */
  heads(): ShardHead[];
  /** Makes `shard` take appends: stops a drain of it (its WAL is then reopened and replayed), or opens a new WAL. */
  open(shard: number): Promise<void>;
  /** admit → WAL append → commit on an open shard. Throws NOT_OWNER when the shard is not open here, HEAD_FULL, WAL_WRITE_FAILED. */
  append(shard: number, batch: SpanBatch): Promise<ShardAppendOutcome>;
  /** Stops appends to `shard` (state `held`) and resolves once the appends already running finished. */
  quiesce(shard: number): Promise<void>;
  /**
   * Starts draining `shard` (no-op if it is already draining or not here): quiesce, close the WAL,
   * read its records back, hand each to `sink`, then delete the WAL directory and drop the head.
   * Resolves with the outcome; `stopDrain`/`close` abort it, leaving the data in place.
   */
  drain(shard: number, sink: DrainSink): Promise<DrainOutcome>;
  close(): Promise<void>;
}

function walDir(dataDir: string, shard: number): string {
  return path.join(dataDir, 'wal', String(shard));
}

/** Shard numbers with a WAL directory under `dataDir`. */
async function shardsOnDisk(dataDir: string): Promise<number[]> {
  try {
    return (await readdir(path.join(dataDir, 'wal')))
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Opens the set: every WAL directory found on disk is replayed into a head and starts `held`. */
export async function openShardSet(options: ShardSetOptions): Promise<ShardSet> {
  const entries = new Map<number, Entry>();
  let closed = false;

  const openWalInto = async (shard: number, head: ShardHead): Promise<Wal> => {
    const started = performance.now();
    const { wal, report } = await openWal(
      {
        dir: walDir(options.dataDir, shard),
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
    return wal;
  };
  const newHead = (shard: number): ShardHead => createShardHead({ maxBytes: options.headBytesPerShard(), registry: options.registry, shard });

  for (const shard of await shardsOnDisk(options.dataDir)) {
    const head = newHead(shard);
    const wal = await openWalInto(shard, head);
    entries.set(shard, { shard, head, wal, state: 'held', inflight: 0, idle: [], drain: undefined });
  }

  const waitIdle = (e: Entry): Promise<void> => (e.inflight === 0 ? Promise.resolve() : new Promise((resolve) => e.idle.push(resolve)));
  const done = (e: Entry): void => {
    if (--e.inflight === 0) for (const r of e.idle.splice(0)) r();
  };

  async function runDrain(e: Entry, sink: DrainSink, signal: AbortSignal): Promise<DrainOutcome> {
    await waitIdle(e);
    if (e.wal !== undefined) {
      await e.wal.close();
      e.wal = undefined;
    }
    if (signal.aborted) return { kind: 'aborted' };
    // Read the records back (the head holds them too, but the WAL is the durable copy and keeps the
    // original resource/scope grouping). openWal would create a fresh segment; reading it through
    // a WAL we close at once keeps one reader for the format.
    const batches: SpanBatch[] = [];
    const reader = await openWal({ dir: walDir(options.dataDir, e.shard), fsync: 'none', registry: options.registry, shard: e.shard }, (batch) => {
      batches.push(batch);
    });
    await reader.wal.close();
    let spans = 0;
    try {
      for (const batch of batches) {
        if (signal.aborted) return { kind: 'aborted' };
        await sink.batch(batch, signal);
        for (const g of batch.groups) spans += g.spans.length;
      }
      await sink.end(signal);
    } catch (err) {
      if (signal.aborted) return { kind: 'aborted' };
      throw err;
    }
    if (signal.aborted) return { kind: 'aborted' };
    await rm(walDir(options.dataDir, e.shard), { recursive: true, force: true });
    entries.delete(e.shard);
    return { kind: 'drained', records: batches.length, spans };
  }

  const stopDrain = async (e: Entry): Promise<void> => {
    const d = e.drain;
    if (d === undefined) return;
    d.abort.abort(new SkeinError('UNAVAILABLE', `drain of shard ${e.shard} stopped`));
    await d.done.catch(() => undefined);
  };

  return {
    shards: () => [...entries.keys()].sort((a, b) => a - b),
    state: (shard) => entries.get(shard)?.state,
    heads: () => [...entries.values()].map((e) => e.head),

    async open(shard) {
      if (closed) throw new SkeinError('UNAVAILABLE', 'ingester is shutting down');
      let e = entries.get(shard);
      if (e?.state === 'draining') {
        await stopDrain(e);
        e = entries.get(shard);
      }
      if (e === undefined) {
        const head = newHead(shard);
        const wal = await openWalInto(shard, head);
        entries.set(shard, { shard, head, wal, state: 'open', inflight: 0, idle: [], drain: undefined });
        return;
      }
      if (e.wal === undefined) {
        // A stopped drain closed the WAL: reopen it into a fresh head (the old one holds the same
        // spans, but replaying is the one path that rebuilds a head exactly from the WAL).
        const head = newHead(shard);
        e.wal = await openWalInto(shard, head);
        e.head = head;
      }
      e.state = 'open';
    },

    async append(shard, batch) {
      const e = entries.get(shard);
      if (e === undefined || e.state !== 'open' || e.wal === undefined) throw new SkeinError('NOT_OWNER', `shard ${shard} does not take writes on this member`);
      const admitted = e.head.admit(batch);
      if (admitted.kind === 'full') {
        throw new SkeinError('HEAD_FULL', `the in-memory head of shard ${shard} is at its memory budget; retry later (or raise --head-max-bytes)`, {
          retryAfterSeconds: admitted.retryAfterSeconds,
        });
      }
      let stored = 0;
      for (const g of admitted.batch.groups) stored += g.spans.length;
      if (stored === 0) {
        e.head.commit(admitted.ticket);
        return { stored: 0, duplicates: admitted.duplicates };
      }
      e.inflight++;
      try {
        await e.wal.append(admitted.batch);
      } catch (err) {
        e.head.release(admitted.ticket);
        if (err instanceof SkeinError) throw err;
        throw new SkeinError('WAL_WRITE_FAILED', 'could not make the spans durable; retry', { cause: err });
      } finally {
        done(e);
      }
      e.head.commit(admitted.ticket);
      return { stored, duplicates: admitted.duplicates };
    },

    async quiesce(shard) {
      const e = entries.get(shard);
      if (e === undefined) return;
      if (e.state === 'open') e.state = 'held';
      await waitIdle(e);
    },

    drain(shard, sink) {
      const e = entries.get(shard);
      if (e === undefined) return Promise.resolve({ kind: 'drained', records: 0, spans: 0 });
      if (e.drain !== undefined) return e.drain.done;
      // After close() the data stays on disk for the next start, whatever releases still arrive.
      if (closed) return Promise.resolve({ kind: 'aborted' });
      e.state = 'draining';
      const abort = new AbortController();
      const drainDone = runDrain(e, sink, abort.signal).finally(() => {
        e.drain = undefined;
        if (entries.get(shard) === e && e.state === 'draining') e.state = 'held';
      });
      e.drain = { abort, done: drainDone };
      return drainDone;
    },

    async close() {
      closed = true;
      await Promise.allSettled([...entries.values()].map((e) => stopDrain(e)));
      const results = await Promise.allSettled([...entries.values()].map(async (e) => {
        await waitIdle(e);
        await e.wal?.close();
        e.wal = undefined;
      }));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
  };
}
