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
import { computeCutDue, computeCutSplit, createShardHead, type CutPolicy, type HeadTraceInfo, type ShardHead } from './head/index.js';
import { SkeinError } from '../common/errors/index.js';
import { toHex, type SearchRequest, type SpanBatch } from '../common/model/index.js';
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
  /** Wall clock for the heads (when traces were last written). Default Date.now. */
  readonly now?: () => number;
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
  /**
   * The head frozen by the last cut whose block is not committed yet, and the first WAL segment
   * written after it: segments below `walBefore` hold exactly its spans. At most one at a time —
   * removing segments below a later boundary would delete an uncommitted earlier one's spans.
   */
  frozen: FrozenHead | undefined;
  /** Set while a cut swaps heads: appends wait for it. */
  rotating: Promise<void> | undefined;
  cutting: boolean;
}

interface FrozenHead {
  readonly head: ShardHead;
  readonly view: ShardHead;
  readonly walBefore: number;
  /** Traces carried into the new head (hex IDs per tenant): the frozen view hides them. */
  readonly hidden: Map<string, Set<string>>;
  readonly reason: CutReason;
  /** Traces (per tenant) chosen for the block; decided once, kept across flush retries. */
  tenants: CutTenant[] | undefined;
}

export type CutReason = 'size' | 'age' | 'shutdown' | 'handoff';

/** The traces of one tenant a cut puts into a block. */
export interface CutTenant {
  readonly tenant: string;
  readonly traces: readonly HeadTraceInfo[];
}

/** What a flush gets: the frozen head (read spans with findTrace) and the traces to write. */
export interface FrozenCut {
  readonly shard: number;
  readonly head: ShardHead;
  readonly tenants: readonly CutTenant[];
  readonly reason: CutReason;
}

/**
 * The outcome of writing a cut's block(s) and committing them to the manifest. `committed`: every
 * block is visible (revision = the last commit's); `fenced`: this member no longer owns the shard
 * (nothing will ever be committed from here; the WAL stays for the drain); `failed`: try again later.
 */
export type FlushResult =
  | { readonly kind: 'committed'; readonly revision: number }
  | { readonly kind: 'fenced'; readonly message: string }
  /** `committedTenants`: tenants whose block did commit before the failure; the retry leaves them out. */
  | { readonly kind: 'failed'; readonly error: Error; readonly committedTenants?: readonly string[] };

export interface CutRequest {
  readonly policy: CutPolicy;
  /** The shard's head budget (the carry-over share is taken of it). */
  readonly headBudgetBytes: number;
  readonly forced?: 'shutdown' | 'handoff';
  readonly nowMs: number;
}

export type CutOutcome =
  | { readonly kind: 'not-due' }
  | { readonly kind: 'busy' }
  | { readonly kind: 'not-open' }
  | { readonly kind: 'committed'; readonly reason: CutReason; readonly revision: number; readonly traces: number; readonly spans: number; readonly carried: number }
  | { readonly kind: 'fenced'; readonly message: string }
  | { readonly kind: 'failed'; readonly error: Error };

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
  /** Every head held (open, held or draining, and a frozen head whose block is not committed yet), for queries. */
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
  /**
   * Cuts an open shard's head into block(s) when due (or forced): freezes the head and rotates the
   * WAL at one instant, carries traces still receiving spans into the new head (through the WAL),
   * hands the rest to `flush`, and once it committed deletes the WAL segments the frozen head
   * covered and drops it. A frozen head whose flush failed stays queryable and is retried by the
   * next call before anything new is cut.
   */
  cut(shard: number, request: CutRequest, flush: (cut: FrozenCut) => Promise<FlushResult>): Promise<CutOutcome>;
  close(): Promise<void>;
}

/** A frozen head as queries see it: carried-over traces are answered by the new head instead. */
function frozenView(head: ShardHead, hidden: Map<string, Set<string>>): ShardHead {
  const isHidden = (tenant: string, hex: string): boolean => hidden.get(tenant)?.has(hex) === true;
  const searchWithStats = (tenant: string, request: SearchRequest): ReturnType<ShardHead['searchWithStats']> => {
    const extra = hidden.get(tenant)?.size ?? 0;
    const r = head.searchWithStats(tenant, extra === 0 ? request : { ...request, limit: request.limit + extra });
    if (extra === 0) return r;
    return { traces: r.traces.filter((t) => !isHidden(tenant, t.traceId)).slice(0, request.limit), inspectedTraces: r.inspectedTraces };
  };
  return {
    ...head,
    admit: () => {
      throw new Error('a frozen head takes no writes');
    },
    insert: () => {
      throw new Error('a frozen head takes no writes');
    },
    usedBytes: () => head.usedBytes(),
    spanCount: () => head.spanCount(),
    traceCount: () => head.traceCount(),
    findTrace: (tenant, traceId) => (isHidden(tenant, toHex(traceId)) ? null : head.findTrace(tenant, traceId)),
    searchWithStats,
    search: (tenant, request) => searchWithStats(tenant, request).traces,
    tagNames: (tenant) => head.tagNames(tenant),
    tagValues: (tenant, tag) => head.tagValues(tenant, tag),
    services: (tenant) => head.services(tenant),
    operations: (tenant, service) => head.operations(tenant, service),
    createdAtMs: () => head.createdAtMs(),
    tenantNames: () => head.tenantNames(),
    forEachTrace: (tenant, visit) => head.forEachTrace(tenant, visit),
  };
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
  const newHead = (shard: number): ShardHead => createShardHead({ maxBytes: options.headBytesPerShard(), registry: options.registry, shard, ...(options.now === undefined ? {} : { now: options.now }) });

  for (const shard of await shardsOnDisk(options.dataDir)) {
    const head = newHead(shard);
    const wal = await openWalInto(shard, head);
    entries.set(shard, { shard, head, wal, state: 'held', inflight: 0, idle: [], drain: undefined, frozen: undefined, rotating: undefined, cutting: false });
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

  /** admit → WAL append → commit on the entry's current head (the caller checked the shard takes writes). */
  async function appendTo(e: Entry, batch: SpanBatch): Promise<ShardAppendOutcome> {
    const head = e.head;
    const wal = e.wal;
    if (wal === undefined) throw new SkeinError('NOT_OWNER', `shard ${e.shard} does not take writes on this member`);
    const admitted = head.admit(batch);
    if (admitted.kind === 'full') {
      throw new SkeinError('HEAD_FULL', `the in-memory head of shard ${e.shard} is at its memory budget; retry later (or raise --head-max-bytes)`, {
        retryAfterSeconds: admitted.retryAfterSeconds,
      });
    }
    let stored = 0;
    for (const g of admitted.batch.groups) stored += g.spans.length;
    if (stored === 0) {
      head.commit(admitted.ticket);
      return { stored: 0, duplicates: admitted.duplicates };
    }
    // Counted from admit on (same synchronous step), so a cut's rotation waits for this append.
    e.inflight++;
    try {
      await wal.append(admitted.batch);
    } catch (err) {
      head.release(admitted.ticket);
      if (err instanceof SkeinError) throw err;
      throw new SkeinError('WAL_WRITE_FAILED', 'could not make the spans durable; retry', { cause: err });
    } finally {
      done(e);
    }
    head.commit(admitted.ticket);
    return { stored, duplicates: admitted.duplicates };
  }

  /** Freezes the head and rotates the WAL with no append in between. */
  async function rotate(e: Entry, wal: Wal, reason: CutReason): Promise<FrozenHead> {
    let release!: () => void;
    e.rotating = new Promise<void>((resolve) => (release = resolve));
    try {
      await waitIdle(e);
      const walBefore = await wal.rotate();
      const hidden = new Map<string, Set<string>>();
      const frozen: FrozenHead = { head: e.head, view: frozenView(e.head, hidden), walBefore, hidden, reason, tenants: undefined };
      e.head = newHead(e.shard);
      e.frozen = frozen;
      return frozen;
    } finally {
      e.rotating = undefined;
      release();
    }
  }

  async function runCut(e: Entry, request: CutRequest, flush: (cut: FrozenCut) => Promise<FlushResult>): Promise<CutOutcome> {
    let frozen = e.frozen;
    let carried = 0;
    if (frozen === undefined) {
      const due = computeCutDue(request.policy, { usedBytes: e.head.usedBytes(), spanCount: e.head.spanCount(), createdAtMs: e.head.createdAtMs() }, request.nowMs, request.forced);
      if (!due.due) return { kind: 'not-due' };
      frozen = await rotate(e, e.wal!, due.reason);
      // Split: idle traces go to the block, active ones are carried over through the WAL.
      const avgSpanBytes = frozen.head.spanCount() === 0 ? 0 : frozen.head.usedBytes() / frozen.head.spanCount();
      const tenants: CutTenant[] = [];
      for (const tenant of frozen.head.tenantNames()) {
        const infos: HeadTraceInfo[] = [];
        frozen.head.forEachTrace(tenant, (t) => infos.push(t));
        const split = computeCutSplit(
          request.policy,
          infos.map((t) => ({ lastWriteMs: t.lastWriteMs, startNs: t.startNs, bytes: t.spanCount * avgSpanBytes })),
          request.nowMs,
          request.headBudgetBytes,
          request.forced !== undefined,
        );
        const cutTraces = split.cut.map((i) => infos[i]!);
        for (const i of split.carry) {
          const info = infos[i]!;
          const groups = frozen.head.findTrace(tenant, info.traceId);
          if (groups === null) continue;
          try {
            if (e.state !== 'open') throw new SkeinError('NOT_OWNER', 'shard stopped taking writes during the cut');
            await appendTo(e, { tenant, groups });
            let set = frozen.hidden.get(tenant);
            if (set === undefined) frozen.hidden.set(tenant, (set = new Set()));
            set.add(toHex(info.traceId));
            carried++;
          } catch {
            // The new head is full or the shard is closing: cut the trace as it is.
            cutTraces.push(info);
          }
        }
        if (cutTraces.length > 0) tenants.push({ tenant, traces: cutTraces });
      }
      frozen.tenants = tenants;
    }
    const tenants = frozen.tenants ?? [];
    const result = await flush({ shard: e.shard, head: frozen.head, tenants, reason: frozen.reason });
    if (result.kind === 'fenced') return { kind: 'fenced', message: result.message };
    if (result.kind === 'failed') {
      const committed = new Set(result.committedTenants ?? []);
      if (committed.size > 0) frozen.tenants = tenants.filter((t) => !committed.has(t.tenant));
      return { kind: 'failed', error: result.error };
    }
    // The block is visible: the segments below the rotation are no longer the only copy.
    if (e.wal !== undefined) await e.wal.removeSegmentsBefore(frozen.walBefore);
    if (e.frozen === frozen) e.frozen = undefined;
    let traces = 0;
    let spans = 0;
    for (const t of tenants) {
      traces += t.traces.length;
      for (const info of t.traces) spans += info.spanCount;
    }
    return { kind: 'committed', reason: frozen.reason, revision: result.revision, traces, spans, carried };
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
    heads: () => {
      const out: ShardHead[] = [];
      for (const e of entries.values()) {
        out.push(e.head);
        if (e.frozen !== undefined) out.push(e.frozen.view);
      }
      return out;
    },

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
        entries.set(shard, { shard, head, wal, state: 'open', inflight: 0, idle: [], drain: undefined, frozen: undefined, rotating: undefined, cutting: false });
        return;
      }
      if (e.wal === undefined) {
        // A stopped drain closed the WAL: reopen it into a fresh head (the old one holds the same
        // spans, but replaying is the one path that rebuilds a head exactly from the WAL; a frozen
        // head's spans are in the WAL too).
        const head = newHead(shard);
        e.wal = await openWalInto(shard, head);
        e.head = head;
        e.frozen = undefined;
      }
      e.state = 'open';
    },

    async append(shard, batch) {
      let e = entries.get(shard);
      while (e?.rotating !== undefined) {
        await e.rotating;
        e = entries.get(shard);
      }
      if (e === undefined || e.state !== 'open' || e.wal === undefined) throw new SkeinError('NOT_OWNER', `shard ${shard} does not take writes on this member`);
      return appendTo(e, batch);
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

    async cut(shard, request, flush) {
      const e = entries.get(shard);
      if (e === undefined || e.state !== 'open' || e.wal === undefined) return { kind: 'not-open' };
      if (e.cutting) return { kind: 'busy' };
      e.cutting = true;
      try {
        return await runCut(e, request, flush);
      } finally {
        e.cutting = false;
      }
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
