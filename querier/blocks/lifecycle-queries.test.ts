// Issue 5 (DESIGN.md §10.6–7): queries during compaction and retention return exactly the expected
// spans. The real flush path, lifecycle controller, compactor and collector run on the in-memory
// twins while readers query the querier's block backend. Traces within retention are exact on every
// read; an expired trace is whole until the querier's view holds its block's expiry, gone after.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, createKeyspace, put, type Coordinator, type Lease } from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { toHex, type SearchResult, type Span, type TraceResult } from '../../common/model/index.js';
import { createSpanFields, encodeSpan, readSpanFields } from '../../common/otlp/index.js';
import { createMemoryObjectStore, type ObjectStore } from '../../common/storage/index.js';
import { createBlockWorkerPool } from '../../ingester/block-worker/index.js';
import { createShardHead, type HeadTraceInfo } from '../../ingester/head/index.js';
import { batch, group, span, spanId, traceId } from '../../ingester/head/testing/index.js';
import {
  createCollector,
  createCompactor,
  createFlusher,
  createManifestStore,
  watchManifest,
  type CollectorPassReport,
  type CompactionResult,
  type ManifestWatch,
} from '../../ingester/lifecycle/index.js';
import { createLifecycleController, writePolicy } from '../../operator/cluster/index.js';
import { createBlockBackend } from './block-backend.js';

const ks = createKeyspace('ns', 'lifecycle-queries');
const SHARD = 0;
const TENANT = 'acme';
const MIN = 60_000;
const HOUR = 60 * MIN;
/** The wall clock at the start; it moves only when the test says so. */
const T0 = Date.UTC(2025, 0, 2, 12);
const RETENTION_MS = 24 * HOUR;
/** The retention step: horizon T0-24h → T0-12h expires both old windows and nothing recent. */
const RETENTION_STEP_MS = 12 * HOUR;
const GRACE_MS = MIN;

/** Compaction windows (the policy's windowMs is an hour) that the blocks' spans end in. */
const WINDOWS = { old1: T0 - 20 * HOUR, old2: T0 - 18 * HOUR, r1: T0 - 3 * HOUR, r2: T0 - HOUR } as const;
type Window = keyof typeof WINDOWS;
const OLD: readonly Window[] = ['old1', 'old2'];

/** One span: trace number, span number, and the window its times lie in (identity and bytes follow from these). */
type S = readonly [trace: number, span: number, window: Window];

// Thirteen level-0 blocks of one shard, named by window. Traces 2, 20, 102 are split over blocks
// (20 over both recent windows); (103,1), (3,1) and (10,1) are stored twice in one window (merged
// by compaction), (21,1) twice across the recent windows (never merged: deduplicated by every query).
//
// Expired traces (101–106, 201–202) live only in old windows, never beside recent spans: expiry is
// per block, so a trace spread over blocks of different ages could legitimately be half-expired.
// old2 is one block; old1's three blocks are merged into one before the clock moves (asserted
// below: each old window is expired by exactly one transition), so every expired trace goes at once.
const BLOCKS: Readonly<Record<string, readonly S[]>> = {
  'o1-a': [[101, 1, 'old1'], [101, 2, 'old1'], [102, 1, 'old1']],
  'o1-b': [[102, 2, 'old1'], [103, 1, 'old1'], [106, 1, 'old1']],
  'o1-c': [[103, 1, 'old1'], [103, 2, 'old1'], [104, 1, 'old1'], [105, 1, 'old1']],
  'o2-a': [[201, 1, 'old2'], [201, 2, 'old2'], [202, 1, 'old2']],
  'r1-a': [[1, 1, 'r1'], [1, 2, 'r1'], [2, 1, 'r1'], [20, 1, 'r1']],
  'r1-b': [[2, 2, 'r1'], [3, 1, 'r1'], [20, 2, 'r1']],
  'r1-c': [[3, 1, 'r1'], [4, 1, 'r1'], [21, 1, 'r1']],
  'r1-d': [[5, 1, 'r1'], [5, 2, 'r1'], [6, 1, 'r1']],
  'r2-a': [[9, 1, 'r2'], [10, 1, 'r2'], [20, 3, 'r2']],
  'r2-b': [[10, 2, 'r2'], [11, 1, 'r2'], [21, 1, 'r1'], [21, 2, 'r2']],
  'r2-c': [[10, 1, 'r2'], [12, 1, 'r2']],
  'r2-d': [[7, 1, 'r2'], [13, 1, 'r2']],
  'r2-e': [[8, 1, 'r2'], [14, 1, 'r2'], [20, 4, 'r2']],
};
const ABSENT = 999;

const startMs = ([t, s, w]: S): number => WINDOWS[w] + 10 * MIN + t * 10_000 + s * 100;
const endMs = (s: S): number => startMs(s) + 50;
const spanOf = (s: S): Span => span({ trace: traceId(s[0]), id: spanId(s[1]), name: `op-${s[1]}`, start: BigInt(startMs(s)) * 1_000_000n, end: BigInt(endMs(s)) * 1_000_000n });
const spanBytes = (s: S): Uint8Array => encodeSpan(spanOf(s));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface Expected {
  /** Hex of each distinct span's bytes, sorted. */
  readonly spans: readonly string[];
  readonly window: Window;
  readonly old: boolean;
  readonly startNs: bigint;
  readonly endNs: bigint;
}

function expectedTraces(): Map<number, Expected> {
  const byTrace = new Map<number, Map<number, S>>();
  for (const spans of Object.values(BLOCKS)) for (const s of spans) byTrace.set(s[0], (byTrace.get(s[0]) ?? new Map<number, S>()).set(s[1], s));
  const out = new Map<number, Expected>();
  for (const [t, spans] of byTrace) {
    const list = [...spans.values()];
    const old = list.filter((s) => OLD.includes(s[2]));
    // The premise of the expiry checks: no trace mixes old and recent spans.
    if (old.length !== 0 && old.length !== list.length) throw new Error(`trace ${t} mixes old and recent spans`);
    out.set(t, {
      spans: list.map((s) => hex(spanBytes(s))).sort(),
      window: list[0]![2],
      old: old.length > 0,
      startNs: BigInt(Math.min(...list.map(startMs))) * 1_000_000n,
      endNs: BigInt(Math.max(...list.map(endMs))) * 1_000_000n,
    });
  }
  return out;
}

const windowOf = (ms: number): Window | undefined => (Object.keys(WINDOWS) as Window[]).find((w) => WINDOWS[w] <= ms && ms < WINDOWS[w] + HOUR);

/** `inner` with a turn of the event loop before every call (so readers run between any two steps of a job or GC pass), and hooks before puts and deletes. */
function interleaved(inner: ObjectStore, hooks: { beforePut?: () => Promise<void>; beforeDelete?: () => Promise<void> } = {}): ObjectStore {
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  return {
    description: inner.description,
    put: async (k, b, o) => (await turn(), await hooks.beforePut?.(), inner.put(k, b, o)),
    get: async (k, o) => (await turn(), inner.get(k, o)),
    getRange: async (k, off, len, o) => (await turn(), inner.getRange(k, off, len, o)),
    stat: async (k, o) => (await turn(), inner.stat(k, o)),
    list: async (p, o) => (await turn(), inner.list(p, o)),
    delete: async (k, o) => (await turn(), await hooks.beforeDelete?.(), inner.delete(k, o)),
    close: () => inner.close(),
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('queries during compaction and retention (issue 5)', () => {
  it('return exactly the expected spans while the lifecycle controller, compactor and collector run', async () => {
    const expected = expectedTraces();
    const recent = [...expected].filter(([, e]) => !e.old).map(([t]) => t);
    const expiring = [...expected].filter(([, e]) => e.old).map(([t]) => t);
    const logger = createSilentLogger();
    let wallMs = T0;
    const wall = (): number => wallMs;

    // ---- the cluster: coordinator and object store twins, this member owning the shard
    const server = new MemoryStore();
    const coord: Coordinator = server.connect();
    cleanups.push(() => coord.close());
    const owner = await coord.txn({ compare: [], success: [put(ks.owner(SHARD), JSON.stringify({ member: 'm1', address: 'm1:1' }))] });
    if (owner.kind !== 'committed') throw new Error('owner');
    const token = owner.revision;
    const owned = (): ReadonlyMap<number, number> => new Map([[SHARD, token]]);
    const memberLease: Lease = await coord.grantLease(30);
    cleanups.push(() => memberLease.revoke());
    const objects = createMemoryObjectStore();
    await writePolicy(coord, ks, {
      retention: { tracesMs: RETENTION_MS },
      compaction: { enabled: true, windowMs: HOUR, maxBlockBytes: 1 << 30 },
      sampling: { keepPercent: 100, keepErrors: true },
    });

    // ---- the blocks, through the real flush path
    let nextBlockId = '';
    const flusher = createFlusher({
      store: objects,
      manifest: createManifestStore({ coord, keyspace: ks, wallClock: wall }),
      member: 'm1',
      tailPolicy: () => undefined,
      logger,
      registry: createRegistry({ defaultMetrics: false }),
      newBlockId: () => nextBlockId,
    });
    for (const [id, spans] of Object.entries(BLOCKS)) {
      const head = createShardHead({ maxBytes: 16 << 20 });
      head.insert(batch(TENANT, group('api', spans.map(spanOf))));
      const traces: HeadTraceInfo[] = [];
      head.forEachTrace(TENANT, (t) => traces.push(t));
      nextBlockId = id;
      const out = await flusher.flush({ shard: SHARD, head, tenants: [{ tenant: TENANT, traces }] }, token);
      if (out.kind !== 'committed') throw new Error(`flush ${id}: ${out.kind}`);
    }

    // ---- our own view of the manifest: what the test knows about transitions (never what readers use)
    const expireRevision = new Map<Window, number>();
    const everSeen = new Set<string>();
    const premiseErrors: string[] = [];
    const manifest: ManifestWatch = watchManifest(coord, ks, (v) => {
      for (const b of v.blocks.values()) {
        everSeen.add(b.blockId);
        const w = windowOf(b.value.meta.maxEndMs);
        if (w === undefined) premiseErrors.push(`block ${b.blockId} ends outside every window`);
        if (b.value.state !== 'expired' || w === undefined) continue;
        const seen = expireRevision.get(w);
        if (seen === undefined) expireRevision.set(w, b.modRevision);
        else if (seen !== b.modRevision) premiseErrors.push(`window ${w} expired by more than one transition (its traces could be half-expired)`);
      }
    });
    cleanups.push(() => manifest.close());
    await manifest.ready;
    const blocksIn = (w: Window): { level: number; state: string }[] =>
      [...manifest.view().blocks.values()].filter((b) => windowOf(b.value.meta.maxEndMs) === w).map((b) => ({ level: b.value.meta.level, state: b.value.state }));
    const visibleIn = (w: Window): number[] => blocksIn(w).filter((b) => b.state === 'live' || b.state === 'compacting').map((b) => b.level).sort();
    const jobInFlight = (): boolean => [...manifest.view().blocks.values()].some((b) => b.value.state === 'compacting');
    const describeManifest = (): string => JSON.stringify([...manifest.view().blocks.values()].map((b) => [b.blockId, windowOf(b.value.meta.maxEndMs), b.value.meta.level, b.value.state]));
    expect(Object.fromEntries((Object.keys(WINDOWS) as Window[]).map((w) => [w, visibleIn(w)]))).toEqual({ old1: [0, 0, 0], old2: [0], r1: [0, 0, 0, 0], r2: [0, 0, 0, 0, 0] });

    // ---- the querier's block backend and the readers
    const blocks = createBlockBackend({ coord, keyspace: ks, store: interleaved(objects), logger, registry: createRegistry({ defaultMetrics: false }), concurrency: 2 });
    await blocks.start();
    cleanups.push(() => blocks.stop());

    const violations: string[] = [];
    const violation = (what: string): void => void (violations.length < 40 && violations.push(what));
    /** Reads of old traces (trace-by-ID and search): the view revision they used and whether they showed the trace. */
    const oldReads: { window: Window; revision: number; present: boolean }[] = [];
    const stats = { searches: 0, readsDuringJob: 0, readsDuringGc: 0 };
    const fields = createSpanFields();

    const checkTrace = (t: number, r: TraceResult | null, revision: number): void => {
      if (r?.partial !== undefined) violation(`trace ${t} @${revision}: partial ${r.partial.reasons.join('; ')}`);
      const got: string[] = [];
      for (const g of r?.groups ?? []) {
        for (const s of g.spans) {
          readSpanFields(s, fields);
          if (hex(s.subarray(fields.traceIdOffset, fields.traceIdOffset + 16)) !== hex(traceId(t))) violation(`trace ${t} @${revision}: a span of another trace`);
          got.push(hex(s));
        }
      }
      got.sort();
      const e = expected.get(t);
      if (e === undefined) {
        if (r !== null) violation(`trace ${t} @${revision}: never written, got ${got.length} spans`);
        return;
      }
      const whole = got.join() === e.spans.join();
      if (!e.old) {
        if (!whole) violation(`trace ${t} @${revision}: ${got.length} spans (${new Set(got).size} distinct), want exactly ${e.spans.length}`);
        return;
      }
      if (!whole && got.length > 0) violation(`old trace ${t} @${revision}: ${got.length} of ${e.spans.length} spans (neither whole nor gone)`);
      oldReads.push({ window: e.window, revision, present: got.length > 0 });
    };

    const checkSearch = (r: SearchResult, revision: number): void => {
      if (r.partial !== undefined) violation(`search @${revision}: partial ${r.partial.reasons.join('; ')}`);
      const byId = new Map(r.traces.map((s) => [s.traceId, s]));
      if (byId.size !== r.traces.length) violation(`search @${revision}: a trace listed twice`);
      for (let i = 1; i < r.traces.length; i++) if (BigInt(r.traces[i]!.startTimeUnixNano) > BigInt(r.traces[i - 1]!.startTimeUnixNano)) violation(`search @${revision}: not newest first`);
      const known = new Set([...expected.keys()].map((t) => toHex(traceId(t))));
      for (const id of byId.keys()) if (!known.has(id)) violation(`search @${revision}: unknown trace ${id}`);
      const presentOld = new Map<Window, boolean[]>();
      for (const [t, e] of expected) {
        const s = byId.get(toHex(traceId(t)));
        if (e.old) presentOld.set(e.window, [...(presentOld.get(e.window) ?? []), s !== undefined]);
        if (s === undefined) {
          if (!e.old) violation(`search @${revision}: trace ${t} missing`);
          continue;
        }
        // Start and duration do not depend on how the spans are spread over blocks; the span count
        // does (a summary per block, summed), so it is only a lower bound.
        if (BigInt(s.startTimeUnixNano) !== e.startNs || BigInt(s.durationNanos) !== e.endNs - e.startNs) violation(`search @${revision}: trace ${t} summary ${s.startTimeUnixNano}+${s.durationNanos}`);
        if (s.spanCount < e.spans.length) violation(`search @${revision}: trace ${t} counts ${s.spanCount} spans, has ${e.spans.length}`);
      }
      for (const [window, present] of presentOld) {
        if (present.some((p) => p !== present[0])) violation(`search @${revision}: window ${window} partly there`);
        oldReads.push({ window, revision, present: present[0]! });
      }
    };

    let stopReading = false;
    let completed = 0;
    let gcDeletes = 0;
    let waiters: { target: number; resolve: () => void }[] = [];
    const inflight = new Set<Promise<void>>();
    /** Resolves once `n` more reads have completed (at once when the readers have stopped). */
    const afterReads = (n: number): Promise<void> => (stopReading ? Promise.resolve() : new Promise((resolve) => waiters.push({ target: completed + n, resolve })));
    const releaseWaiters = (all: boolean): void => {
      const due = waiters.filter((w) => all || w.target <= completed);
      waiters = waiters.filter((w) => !due.includes(w));
      for (const w of due) w.resolve();
    };

    async function read(what: number | 'search'): Promise<void> {
      // The backend takes its manifest view synchronously when a query starts: this is that view's revision.
      const revision = blocks.revision();
      const duringJob = jobInFlight();
      const deletes = gcDeletes;
      try {
        if (what === 'search') {
          checkSearch(await blocks.search(TENANT, { tags: [], limit: 1000 }), revision);
          stats.searches++;
        } else {
          checkTrace(what, await blocks.findTrace(TENANT, traceId(what)), revision);
        }
      } catch (e) {
        violation(`read of ${what} @${revision} threw: ${(e as Error).message}`);
      }
      if (duringJob || jobInFlight()) stats.readsDuringJob++;
      if (gcDeletes !== deletes) stats.readsDuringGc++;
      completed++;
      releaseWaiters(false);
    }

    const round: (number | 'search')[] = [...expected.keys(), ABSENT, 'search'];
    const readers = [0, 1].map(async (k) => {
      for (let i = k * 7; !stopReading; i++) {
        const p = read(round[i % round.length]!);
        inflight.add(p);
        await p;
        inflight.delete(p);
      }
    });
    const stopReaders = async (): Promise<void> => {
      stopReading = true;
      releaseWaiters(true);
      await Promise.all(readers);
    };
    cleanups.push(stopReaders);
    await afterReads(2 * round.length); // the starting state, read in full

    // ---- the lifecycle: controller (autonomous, on its own timers), compactor and collector passes
    const pool = createBlockWorkerPool({ size: 0 });
    cleanups.push(() => pool.close());
    const compactor = createCompactor({
      coord,
      keyspace: ks,
      // Every object the output is written as waits for reads: they run while the job is between plan and commit.
      store: interleaved(objects, { beforePut: () => afterReads(3) }),
      member: 'm1',
      lease: () => memberLease.id,
      ownedShards: owned,
      pool,
      logger,
      registry: createRegistry({ defaultMetrics: false }),
      intervalMs: 60_000,
      wallClock: wall,
    });
    cleanups.push(() => compactor.stop());
    const collector = createCollector({
      coord,
      keyspace: ks,
      store: interleaved(objects, { beforeDelete: () => (gcDeletes++, afterReads(1)) }),
      member: 'm1',
      ownedShards: owned,
      graceMs: GRACE_MS,
      uploadTimeoutMs: HOUR,
      logger,
      registry: createRegistry({ defaultMetrics: false }),
      wallClock: wall,
      sweepEvery: 1,
    });
    cleanups.push(() => collector.stop());
    const controllerCoord = server.connect();
    cleanups.push(() => controllerCoord.close());
    const controller = createLifecycleController({
      coord: controllerCoord,
      keyspace: ks,
      identity: 'ctl-0',
      logger,
      registry: createRegistry({ defaultMetrics: false }),
      intervalMs: 10,
      leaseTtlSeconds: 30,
      wallClock: wall,
      plan: { minInputs: 4, maxJobInputs: 4, settleMs: 15 * MIN, jobClaimTimeoutMs: 7 * 24 * HOUR },
    });
    cleanups.push(() => controller.stop());

    const jobs: CompactionResult[] = [];
    const gc: CollectorPassReport[] = [];
    const pass = async (): Promise<void> => {
      jobs.push(...(await compactor.runOnce()));
      gc.push(await collector.runPass());
      await new Promise((r) => setTimeout(r, 2)); // the controller's timers
    };
    const until = async (what: string, cond: () => boolean | Promise<boolean>): Promise<void> => {
      for (let i = 0; i < 500; i++) {
        if (await cond()) return;
        await pass();
      }
      throw new Error(`not reached: ${what}\nmanifest: ${describeManifest()}\nviolations so far: ${JSON.stringify(violations.slice(0, 5))}`);
    };
    const noJobs = async (): Promise<boolean> => (await coord.range(ks.jobsPrefix)).entries.length === 0 && !jobInFlight();
    /**
     * Moves the wall clock. Grace must outlast any query that saw a block visible (collector.ts "THE
     * ASSUMPTION"); the clock here jumps, so a jump first lets the querier's view catch up with the
     * manifest and waits for the reads in flight, which the next GC pass could otherwise overtake.
     */
    const advanceWall = async (ms: number): Promise<void> => {
      wallMs += ms;
      const rev = Math.max(0, ...(await coord.range(ks.blocksRoot)).entries.map((kv) => kv.modRevision));
      expect(await blocks.waitForRevision(rev, 5000)).toBe(true);
      await Promise.all([...inflight]);
    };

    await controller.start();
    // Phase 1 (wall T0): closed windows old1 and r1 merge down to one block each; the open window
    // r2 merges 4 of its 5 level-0 blocks (maxJobInputs) into a level-1 block and, with fewer than
    // minInputs left, keeps the fifth.
    await until('first compactions', async () => (await noJobs()) && visibleIn('old1').join() === '1' && visibleIn('r1').join() === '1' && visibleIn('r2').join() === '0,1');
    expect(visibleIn('old2')).toEqual([0]);
    expect(expireRevision.size).toBe(0);

    // Phase 2 (wall T0+12h): both old windows pass the horizon and expire; r2 is closed now and
    // merges down; GC removes the inputs of phase 1 meanwhile.
    await advanceWall(RETENTION_STEP_MS);
    await until('expiry and the last compaction', async () => (await noJobs()) && expireRevision.size === 2 && OLD.every((w) => visibleIn(w).length === 0) && visibleIn('r1').length === 1 && visibleIn('r2').length === 1);
    expect(visibleIn('r2')).toEqual([2]);

    // Phase 3 (a grace later): GC removes the expired and the last compacted blocks.
    await advanceWall(GRACE_MS);
    await until('garbage collected', () => [...manifest.view().blocks.values()].every((b) => b.value.state === 'live'));
    await afterReads(2 * round.length); // the final state, read in full
    await stopReaders();
    await controller.stop();

    // ---- every read made during the run
    expect(premiseErrors).toEqual([]);
    expect(violations).toEqual([]);
    for (const w of OLD) {
      const expiredAt = expireRevision.get(w)!;
      const mine = oldReads.filter((r) => r.window === w);
      // Whole while the query's view predates the expiry (one view per query, objects kept for the
      // grace); gone once the view holds it (invariant 7: nothing expired is ever returned).
      expect(mine.filter((r) => r.present !== r.revision < expiredAt)).toEqual([]);
      expect(mine.filter((r) => r.present).length).toBeGreaterThan(0);
      expect(mine.filter((r) => !r.present).length).toBeGreaterThan(0);
    }
    expect(stats.searches).toBeGreaterThan(0);
    expect(stats.readsDuringJob).toBeGreaterThan(0);
    expect(stats.readsDuringGc).toBeGreaterThan(0);

    // ---- what the lifecycle did: 4 jobs committed (nothing else tried), 2 expiries, everything else collected
    expect(jobs.map((j) => j.outcome)).toEqual(['committed', 'committed', 'committed', 'committed']);
    const live = [...manifest.view().blocks.values()];
    expect(live.map((b) => windowOf(b.value.meta.maxEndMs)).sort()).toEqual(['r1', 'r2']);
    const deleted = gc.reduce((n, r) => n + r.blocksDeleted, 0);
    expect(deleted).toBe(everSeen.size - live.length);
    // All 13 level-0 blocks (12 compacted, o2-a expired), old1's level-1 output (expired) and r2's (compacted into level 2).
    expect(deleted).toBe(15);
    expect(gc.reduce((n, r) => n + r.orphansRecorded + r.uploadsOrphaned, 0)).toBe(0);
    for (const prefix of [ks.orphansPrefix(SHARD), ks.uploadsPrefix(SHARD), ks.jobsPrefix]) expect((await coord.range(prefix)).entries).toEqual([]);
    const stored = new Set((await objects.list('')).map((o) => o.key.split('/')[2]));
    expect([...stored].sort()).toEqual(live.map((b) => b.blockId).sort());

    // ---- and the final answers
    for (const t of recent) expect(((await blocks.findTrace(TENANT, traceId(t)))?.groups ?? []).flatMap((g) => g.spans.map(hex)).sort()).toEqual(expected.get(t)!.spans);
    for (const t of [...expiring, ABSENT]) expect(await blocks.findTrace(TENANT, traceId(t))).toBeNull();
    const final = await blocks.search(TENANT, { tags: [], limit: 1000 });
    expect(final.traces.map((s) => s.traceId).sort()).toEqual(recent.map((t) => toHex(traceId(t))).sort());
  });
});
