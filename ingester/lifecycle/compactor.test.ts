// The compactor on the coordinator and object-store twins, with blocks published by the real flush
// path and jobs planned by the real manifest transition: a commit turns the output live and the
// inputs compacted in one revision and the output holds the union of the inputs minus duplicates;
// a claim lost mid-job is fenced and leaves the inputs authoritative; a corrupt input releases the
// claim and is backed off; queries running alongside see exactly the expected spans at every step.
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, MemoryStore, createKeyspace, type Coordinator, type Lease } from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry, type Registry } from '../../common/metrics/index.js';
import type { SpanGroup } from '../../common/model/index.js';
import { encodeSpan, readSpanFields, createSpanFields } from '../../common/otlp/index.js';
import { createMemoryObjectStore, type MemoryObjectStore, type ObjectStore } from '../../common/storage/index.js';
import { blockObjectKey, INDEX_OBJECT, openBlock, type BlockReader } from '../block/index.js';
import { flipByte } from '../block/testing/index.js';
import { createBlockWorkerPool, type BlockWorkerPool } from '../block-worker/index.js';
import { group, span, spanId, traceId } from '../head/testing/index.js';
import { createCompactor, type Compactor, type CompactorOptions } from './compactor.js';
import { createFlusher, type FlushInput } from './flush.js';
import { visibleBlocks, type ObservedBlock } from './manifest.js';
import { createManifestStore, watchManifest, type ManifestStore } from './manifest-store.js';
import { observeBlock, observeJob, observeOrphan, seedOwner } from './testing.js';

const ks = createKeyspace('ns', 'c1');
const SHARD = 3;
const TENANT = 'acme';
const BASE = 1_700_000_000_000_000_000n;
const MS = 1_000_000n;

/** One span: trace number, span number, service; `variant` changes its bytes but not its identity. */
type S = readonly [trace: number, span: number, service: 'api' | 'db', variant?: number];

function encode([t, s, _service, variant = 0]: S): Uint8Array {
  return encodeSpan(span({ trace: traceId(t), id: spanId(s), name: `op-${variant}`, start: BASE + BigInt(t) * 10n * MS + BigInt(s) * MS, end: BASE + BigInt(t) * 10n * MS + BigInt(s + 1) * MS }));
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fields = createSpanFields();
const spanKey = (traceHex: string, s: Uint8Array): string => {
  readSpanFields(s, fields);
  return `${traceHex}/${hex(s.subarray(fields.spanIdOffset, fields.spanIdOffset + 8))}`;
};

/** An ObjectStore that runs `before` ahead of every call (delays, faults, gates). */
function hooked(inner: ObjectStore, before: (op: string, key: string, signal: AbortSignal | undefined) => Promise<void>): ObjectStore {
  return {
    description: inner.description,
    put: async (k, b, o) => (await before('put', k, o?.signal), inner.put(k, b, o)),
    get: async (k, o) => (await before('get', k, o?.signal), inner.get(k, o)),
    getRange: async (k, off, len, o) => (await before('getRange', k, o?.signal), inner.getRange(k, off, len, o)),
    stat: async (k, o) => (await before('stat', k, o?.signal), inner.stat(k, o)),
    list: async (p, o) => (await before('list', p, o?.signal), inner.list(p, o)),
    delete: async (k, o) => (await before('delete', k, o?.signal), inner.delete(k, o)),
    close: () => inner.close(),
  };
}

interface World {
  readonly clock: ManualClock;
  readonly server: MemoryStore;
  readonly coord: Coordinator;
  readonly objects: MemoryObjectStore;
  readonly manifest: ManifestStore;
  readonly token: number;
  readonly lease: Lease;
  readonly registry: Registry;
  /** Flushes the spans as one level-0 block through the real flush path; returns its id. */
  flushBlock(spans: readonly S[]): Promise<string>;
  /** Plans a job over the blocks (in this order) with the real plan transition. */
  plan(jobId: string, blockIds: readonly string[], output?: string): Promise<void>;
  compactor(over?: Partial<CompactorOptions>): Compactor;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function world(): Promise<World> {
  const clock = new ManualClock();
  const server = new MemoryStore({ clock });
  const coord = server.connect();
  const objects = createMemoryObjectStore();
  const manifest = createManifestStore({ coord, keyspace: ks });
  const lease = await coord.grantLease(10);
  const token = await seedOwner(coord, ks, SHARD, 'm1', lease.id);
  const registry = createRegistry({ defaultMetrics: false });
  let n = 0;
  const flusher = createFlusher({ store: objects, manifest, member: 'm1', tailPolicy: () => undefined, logger: createSilentLogger(), registry, newBlockId: () => `in-${++n}` });
  cleanups.push(() => coord.close());
  return {
    clock,
    server,
    coord,
    objects,
    manifest,
    token,
    lease,
    registry,
    async flushBlock(spans) {
      const byTrace = new Map<number, S[]>();
      for (const s of spans) byTrace.set(s[0], [...(byTrace.get(s[0]) ?? []), s]);
      const groupsOf = new Map<string, SpanGroup[]>();
      for (const [t, list] of byTrace) {
        const services = [...new Set(list.map((s) => s[2]))];
        groupsOf.set(
          hex(traceId(t)),
          services.map((svc) => group(svc, [])).map((g, i) => ({ ...g, spans: list.filter((s) => s[2] === services[i]).map(encode) })),
        );
      }
      const input: FlushInput = {
        shard: SHARD,
        head: { findTrace: (_tenant, id) => groupsOf.get(hex(id)) ?? null },
        tenants: [{ tenant: TENANT, traces: [...byTrace.keys()].map((t) => ({ traceId: traceId(t), spanCount: byTrace.get(t)!.length, startNs: 0, endNs: 0, hasError: false })) }],
      };
      const out = await flusher.flush(input, token);
      if (out.kind !== 'committed') throw new Error(`flush: ${out.kind}`);
      return `in-${n}`;
    },
    async plan(jobId, blockIds, output = `out-${jobId}`) {
      const read = await manifest.readBlocks(SHARD, blockIds);
      if (!read.ok) throw new Error(read.corrupt.error);
      const planned = await manifest.plan({ jobId, inputs: read.blocks, output, level: 1, windowStartMs: 0, windowEndMs: 1 });
      if (planned.kind !== 'committed') throw new Error(`plan: ${JSON.stringify(planned)}`);
    },
    compactor(over = {}) {
      const pool = createBlockWorkerPool({ size: 0 });
      const c = createCompactor({
        coord,
        keyspace: ks,
        store: objects,
        member: 'm1',
        lease: () => lease.id,
        ownedShards: () => new Map([[SHARD, token]]),
        pool,
        logger: createSilentLogger(),
        registry,
        intervalMs: 60_000,
        ...over,
      });
      cleanups.push(async () => {
        await c.stop();
        await pool.close();
      });
      return c;
    },
  };
}

/** (trace/span) → span hex of every span in the block. */
async function contents(reader: BlockReader): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const t of reader.scan()) for (const g of t.groups) for (const s of g.spans) out.set(spanKey(hex(t.traceId), s), hex(s));
  return out;
}

/** Union of span lists, first copy of an identity wins. */
function union(...inputs: (readonly S[])[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const list of inputs) {
    for (const s of list) {
      const bytes = encode(s);
      const k = spanKey(hex(traceId(s[0])), bytes);
      if (!out.has(k)) out.set(k, hex(bytes));
    }
  }
  return out;
}

const metric = async (r: Registry, name: string, labels = ''): Promise<number> => {
  const line = (await r.metrics()).split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
};

// Three level-0 blocks: trace 2 spans all of them, trace 3 two; span (2, 1) is in every block, the
// first copy (variant 0) must win; (3, 7) repeats with the same bytes.
const A: S[] = [[1, 1, 'api'], [1, 2, 'db'], [2, 1, 'api'], [3, 7, 'db']];
const B: S[] = [[2, 1, 'api', 1], [2, 2, 'db'], [3, 7, 'db'], [3, 8, 'api'], [4, 1, 'api']];
const C: S[] = [[2, 1, 'db', 2], [2, 3, 'api'], [5, 1, 'db']];

describe('compactor', () => {
  it('commits the output live and the inputs compacted in one revision; output == union minus duplicates (worker pool)', async () => {
    const w = await world();
    const ids = [await w.flushBlock(A), await w.flushBlock(B), await w.flushBlock(C)];
    await w.plan('job-1', ids);
    const pool: BlockWorkerPool = createBlockWorkerPool({ size: 1 });
    cleanups.push(() => pool.close());
    const results = await w.compactor({ pool }).runOnce();
    expect(results).toMatchObject([{ jobId: 'job-1', outcome: 'committed', merge: { duplicateSpans: 3 } }]);

    const out = await observeBlock(w.coord, ks, SHARD, 'out-job-1');
    expect(out?.value).toMatchObject({ state: 'live', meta: { level: 1, tenant: TENANT, spanCount: 9 } });
    expect(out?.value.flushedBy).toBeUndefined();
    for (const id of ids) {
      const b = await observeBlock(w.coord, ks, SHARD, id);
      expect(b?.value).toMatchObject({ state: 'compacted', compactedInto: 'out-job-1' });
      // One txn: the output's creation and every input's change share a revision.
      expect(b?.modRevision).toBe(out?.createRevision);
    }
    expect(results[0]!.revision).toBe(out?.createRevision);
    expect(await observeJob(w.coord, ks, 'job-1')).toBeUndefined();
    expect((await w.coord.get(ks.jobClaim('job-1'))).kv).toBeUndefined();

    const reader = await openBlock(w.objects, TENANT, SHARD, 'out-job-1');
    expect(await contents(reader)).toEqual(union(A, B, C));

    expect(await metric(w.registry, 'skein_ingester_compaction_jobs_total', '{outcome="committed"}')).toBe(1);
    expect(await metric(w.registry, 'skein_ingester_compaction_spans_deduplicated_total')).toBe(3);
    expect(await metric(w.registry, 'skein_ingester_compaction_output_bytes_total')).toBe(out!.value.meta.bytes);
    const inputBytes = (await Promise.all(ids.map((id) => observeBlock(w.coord, ks, SHARD, id)))).reduce((n, b) => n + b!.value.meta.bytes, 0);
    expect(await metric(w.registry, 'skein_ingester_compaction_input_bytes_total')).toBe(inputBytes);
    expect(await metric(w.registry, 'skein_ingester_compaction_duration_seconds_count')).toBe(1);
  });

  it('runs only unclaimed jobs of shards it owns, and nothing without a lease', async () => {
    const w = await world();
    const ids = [await w.flushBlock(A), await w.flushBlock(B)];
    await w.plan('job-1', ids);
    expect(await w.compactor({ ownedShards: () => new Map([[SHARD + 1, 1]]) }).runOnce()).toEqual([]);
    expect(await w.compactor({ lease: () => undefined }).runOnce()).toEqual([]);
    // Claimed by another member: left alone.
    const other = await w.coord.grantLease(10);
    const job = (await observeJob(w.coord, ks, 'job-1'))!;
    expect((await w.manifest.claim({ job, member: 'm2', lease: other.id })).kind).toBe('committed');
    expect(await w.compactor().runOnce()).toEqual([]);
    expect((await observeBlock(w.coord, ks, SHARD, ids[0]!))?.value.state).toBe('compacting');
  });

  it('a claim whose lease expires mid-job: the commit is fenced, the inputs stay authoritative, the output becomes an orphan', async () => {
    const w = await world();
    const ids = [await w.flushBlock(A), await w.flushBlock(B)];
    await w.plan('job-1', ids);
    const claimLease = await w.coord.grantLease(5);
    let expired = false;
    // The holder pauses while writing its output (GC, SIGSTOP): meanwhile its lease lapses on the
    // server. It does not notice locally (lease() keeps answering the old id), so it goes on to commit.
    const store = hooked(w.objects, async (op, key) => {
      if (op === 'put' && key.includes('out-job-1') && !expired) {
        expired = true;
        claimLease.abandon();
        await w.clock.advance(6_000);
        expect((await w.coord.get(ks.jobClaim('job-1'))).kv).toBeUndefined();
      }
    });
    const results = await w.compactor({ store, lease: () => claimLease.id, leaseCheckMs: 60_000 }).runOnce();
    // Fenced by the commit txn itself (the claim key is gone), not by a local check.
    expect(results).toMatchObject([{ jobId: 'job-1', outcome: 'fenced', message: expect.stringMatching(/^commit fenced: claim-token/) }]);
    expect(await observeBlock(w.coord, ks, SHARD, 'out-job-1')).toBeUndefined();
    for (const id of ids) expect((await observeBlock(w.coord, ks, SHARD, id))?.value).toMatchObject({ state: 'compacting', job: 'job-1' });
    expect(await metric(w.registry, 'skein_ingester_compaction_jobs_total', '{outcome="fenced"}')).toBe(1);

    // The lifecycle controller's side: the claim is gone, so the job is abandoned; inputs live again.
    const job = (await observeJob(w.coord, ks, 'job-1'))!;
    const inputs = (await Promise.all(ids.map((id) => observeBlock(w.coord, ks, SHARD, id)))) as ObservedBlock[];
    expect((await w.manifest.abandon({ job, inputs, unclaimedTimeoutMs: 60_000 })).kind).toBe('committed');
    for (const id of ids) expect((await observeBlock(w.coord, ks, SHARD, id))?.value.state).toBe('live');
    expect((await observeOrphan(w.coord, ks, SHARD, 'out-job-1'))?.value).toMatchObject({ reason: 'abandoned', job: 'job-1' });
  });

  it('a lease lost locally mid-job stops the job before its commit', async () => {
    const w = await world();
    const ids = [await w.flushBlock(A), await w.flushBlock(B)];
    await w.plan('job-1', ids);
    let lease: string | undefined = w.lease.id;
    // The local lease deadline passes while the inputs are read.
    const store = hooked(w.objects, async (op) => {
      if (op === 'get') lease = undefined;
      await Promise.resolve();
    });
    const results = await w.compactor({ store, lease: () => lease, leaseCheckMs: 1 }).runOnce();
    expect(results).toMatchObject([{ jobId: 'job-1', outcome: 'fenced', message: expect.stringContaining("no longer this member's") }]);
    expect(await observeBlock(w.coord, ks, SHARD, 'out-job-1')).toBeUndefined();
    for (const id of ids) expect((await observeBlock(w.coord, ks, SHARD, id))?.value.state).toBe('compacting');
  });

  it('a corrupt input releases the claim, is counted, and is backed off instead of retried in a loop', async () => {
    const w = await world();
    const ids = [await w.flushBlock(A), await w.flushBlock(B)];
    await w.plan('job-1', ids);
    await flipByte(w.objects, blockObjectKey(TENANT, SHARD, ids[1]!, INDEX_OBJECT), 40);
    let now = 1_000_000;
    const c = w.compactor({ now: () => now, backoff: { minMs: 1000, maxMs: 60_000 } });
    const results = await c.runOnce();
    expect(results).toMatchObject([{ jobId: 'job-1', outcome: 'failed', reason: 'corrupt', message: expect.stringContaining(ids[1]!) }]);
    expect(await metric(w.registry, 'skein_ingester_compaction_failures_total', '{reason="corrupt"}')).toBe(1);
    // Released at once: the claim key is gone, the job names its (only) claim, nothing committed.
    expect((await w.coord.get(ks.jobClaim('job-1'))).kv).toBeUndefined();
    expect(await observeBlock(w.coord, ks, SHARD, 'out-job-1')).toBeUndefined();

    // The controller abandons it and plans the same inputs again: backed off, not run.
    const job = (await observeJob(w.coord, ks, 'job-1'))!;
    const inputs = (await Promise.all(ids.map((id) => observeBlock(w.coord, ks, SHARD, id)))) as ObservedBlock[];
    expect((await w.manifest.abandon({ job, inputs, unclaimedTimeoutMs: 60_000 })).kind).toBe('committed');
    await w.plan('job-2', ids);
    expect(await c.runOnce()).toEqual([]);
    // After the back-off it is tried once more (and fails again: the back-off doubles).
    now += 1001;
    expect(await c.runOnce()).toMatchObject([{ jobId: 'job-2', outcome: 'failed', reason: 'corrupt' }]);
    expect(await metric(w.registry, 'skein_ingester_compaction_failures_total', '{reason="corrupt"}')).toBe(2);
    const job2 = (await observeJob(w.coord, ks, 'job-2'))!;
    const inputs2 = (await Promise.all(ids.map((id) => observeBlock(w.coord, ks, SHARD, id)))) as ObservedBlock[];
    expect((await w.manifest.abandon({ job: job2, inputs: inputs2, unclaimedTimeoutMs: 60_000 })).kind).toBe('committed');
    await w.plan('job-3', ids);
    now += 1001;
    expect(await c.runOnce()).toEqual([]);
    now += 1000;
    expect(await c.runOnce()).toMatchObject([{ jobId: 'job-3', outcome: 'failed' }]);
  });

  it('queries running alongside see exactly the expected spans at every step, and never both or neither', async () => {
    const w = await world();
    // Duplicates here carry the same bytes (a retried delivery), so every view has one right answer.
    const a: S[] = [[1, 1, 'api'], [2, 1, 'api'], [2, 2, 'db'], [3, 1, 'db']];
    const b: S[] = [[2, 1, 'api'], [2, 3, 'api'], [3, 1, 'db'], [4, 1, 'db']];
    const c: S[] = [[2, 2, 'db'], [4, 2, 'api'], [5, 1, 'api']];
    const ids = [await w.flushBlock(a), await w.flushBlock(b), await w.flushBlock(c)];
    await w.plan('job-1', ids);
    const expected = union(a, b, c);
    const traces = [1, 2, 3, 4, 5, 6].map((t) => traceId(t));

    // Every object call yields to the event loop, so the reader gets turns throughout the job.
    const slow = hooked(w.objects, () => new Promise((r) => setImmediate(r)));
    const watch = watchManifest(w.coord, ks, () => undefined);
    cleanups.push(() => Promise.resolve(watch.close()));
    await watch.ready;
    const readers = new Map<string, Promise<BlockReader>>();
    const seen = { inputs: 0, output: 0 };
    let compacting = true;

    const query = async (): Promise<void> => {
      const visible = visibleBlocks(watch.view().blocks.values()).filter((b) => b.shard === SHARD);
      const names = visible.map((b) => b.blockId).sort();
      if (names.join() === [...ids].sort().join()) seen.inputs++;
      else if (names.join() === 'out-job-1') seen.output++;
      else throw new Error(`a view shows ${names.join(',')}: neither all inputs nor the output alone`);
      const got = new Map<string, string>();
      for (const id of traces) {
        for (const blk of visible) {
          let r = readers.get(blk.blockId);
          if (r === undefined) {
            r = openBlock(slow, TENANT, SHARD, blk.blockId);
            readers.set(blk.blockId, r);
          }
          const groups = await (await r).findTrace(id);
          for (const g of groups ?? []) for (const s of g.spans) got.set(spanKey(hex(id), s), hex(s));
        }
      }
      expect(got).toEqual(expected);
    };
    const reading = (async () => {
      while (compacting) await query();
      await query();
    })();
    const results = await w.compactor({ store: slow }).runOnce().finally(() => (compacting = false));
    await reading;
    expect(results).toMatchObject([{ outcome: 'committed' }]);
    expect(seen.inputs).toBeGreaterThan(0);
    expect(seen.output).toBeGreaterThan(0);
  });

  it('stop() aborts a running job and releases its claim', async () => {
    const w = await world();
    const ids = [await w.flushBlock(A), await w.flushBlock(B)];
    await w.plan('job-1', ids);
    let writing!: () => void;
    const started = new Promise<void>((r) => (writing = r));
    // The output's first put never finishes until aborted.
    const store = hooked(w.objects, (op, key, signal) => {
      if (op !== 'put' || !key.includes('out-job-1')) return Promise.resolve();
      writing();
      return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
    });
    const c = w.compactor({ store, intervalMs: 10 });
    c.start();
    await started;
    expect((await w.coord.get(ks.jobClaim('job-1'))).kv).toBeDefined();
    await c.stop();
    expect((await w.coord.get(ks.jobClaim('job-1'))).kv).toBeUndefined();
    expect(await observeBlock(w.coord, ks, SHARD, 'out-job-1')).toBeUndefined();
    expect(await metric(w.registry, 'skein_ingester_compaction_jobs_total', '{outcome="aborted"}')).toBe(1);
  });

  it('once started, picks up a job as soon as it is planned (watch on jobs/)', async () => {
    const w = await world();
    const ids = [await w.flushBlock(A), await w.flushBlock(C)];
    const c = w.compactor({ intervalMs: 60_000 });
    c.start();
    await new Promise((r) => setTimeout(r, 20));
    await w.plan('job-1', ids);
    for (let i = 0; i < 200 && (await observeBlock(w.coord, ks, SHARD, 'out-job-1')) === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await observeBlock(w.coord, ks, SHARD, 'out-job-1'))?.value.state).toBe('live');
    await c.stop();
  });
});
