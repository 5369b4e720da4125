// Block GC on the coordinator and object-store twins, with an injected wall clock: what is deleted,
// when (only after the grace period), in which order (objects, then the key — shown by failing each
// step), for which shards (owned only), and the two ways a block id becomes an orphan here (a stale
// or timed-out upload intent; objects no record names, found by the sweep).
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type BlockValue,
  MemoryStore,
  OrphanValue,
  UploadValue,
  createKeyspace,
  encodeValue,
  put,
  type Coordinator,
  type TxnRequest,
} from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry, type Registry } from '../../common/metrics/index.js';
import { createMemoryObjectStore, type MemoryObjectStore, type ObjectStore } from '../../common/storage/index.js';
import { blockObjectKey, blockPrefix, buildBlock, openBlock, writeBlock } from '../block/index.js';
import { batch, group, span, spanId, traceId } from '../head/testing/index.js';
import { createCollector, parseObjectKey, parseTenantKeySegment, type Collector, type CollectorOptions } from './collector.js';
import { createManifestStore, watchManifest } from './manifest-store.js';
import { blockMeta, observeBlock, observeOrphan, seedBlock, seedJob, seedOwner } from './testing.js';

const ks = createKeyspace('unit', 'gc');
const GRACE = 600_000;
const UPLOAD_TIMEOUT = 900_000;
/** How long an id must stay unreferenced before the sweep records it. */
const SWEEP_DELAY = Math.max(GRACE, UPLOAD_TIMEOUT);
const T0 = 1_700_000_000_000;

const stopAfter: Collector[] = [];
afterEach(async () => {
  for (const c of stopAfter.splice(0)) await c.stop();
});

interface Setup {
  coord: Coordinator;
  store: MemoryObjectStore;
  registry: Registry;
  collector: Collector;
  /** Tokens of the shards this member owns (0 and 1; shard 2 belongs to someone else). */
  owned: Map<number, number>;
  now(): number;
  advance(ms: number): void;
}

async function setup(over: Partial<CollectorOptions> & { wrapCoord?: (c: Coordinator) => Coordinator; wrapStore?: (s: ObjectStore) => ObjectStore } = {}): Promise<Setup> {
  const coord = new MemoryStore().connect();
  const store = createMemoryObjectStore();
  const owned = new Map<number, number>();
  owned.set(0, await seedOwner(coord, ks, 0, 'm1'));
  owned.set(1, await seedOwner(coord, ks, 1, 'm1'));
  await seedOwner(coord, ks, 2, 'm2');
  let now = T0;
  const registry = createRegistry({ defaultMetrics: false });
  const { wrapCoord, wrapStore, ...rest } = over;
  const collector = createCollector({
    coord: wrapCoord === undefined ? coord : wrapCoord(coord),
    keyspace: ks,
    store: wrapStore === undefined ? store : wrapStore(store),
    member: 'm1',
    ownedShards: () => owned,
    graceMs: GRACE,
    uploadTimeoutMs: UPLOAD_TIMEOUT,
    logger: createSilentLogger(),
    registry,
    wallClock: () => now,
    sweepEvery: 1,
    ...rest,
  });
  stopAfter.push(collector);
  return { coord, store, registry, collector, owned, now: () => now, advance: (ms) => void (now += ms) };
}

/** Puts three objects of `size` bytes each under the block's prefix; returns the bytes written. */
async function putObjects(store: ObjectStore, tenant: string, shard: number, blockId: string, size = 100): Promise<number> {
  for (const name of ['data', 'index', 'meta.json']) await store.put(blockObjectKey(tenant, shard, blockId, name), new Uint8Array(size));
  return 3 * size;
}

const objectCount = async (store: ObjectStore, tenant: string, shard: number, blockId: string): Promise<number> => (await store.list(blockPrefix(tenant, shard, blockId))).length;

function blockValue(shard: number, blockId: string, state: BlockValue['state'], changedAtMs: number, tenant = 't1'): BlockValue {
  return {
    state,
    meta: blockMeta(shard, blockId, { tenant }),
    createdAtMs: changedAtMs - 1000,
    stateChangedAtMs: changedAtMs,
    ...(state === 'compacting' ? { job: 'job-1' } : {}),
    ...(state === 'compacted' ? { compactedInto: 'out-1' } : {}),
  };
}

async function seedState(coord: Coordinator, s: Setup, shard: number, blockId: string, state: BlockValue['state'], changedAtMs: number, tenant = 't1'): Promise<void> {
  await seedBlock(coord, ks, blockValue(shard, blockId, state, changedAtMs, tenant));
  await putObjects(s.store, tenant, shard, blockId);
}

async function putRaw(coord: Coordinator, key: string, value: Uint8Array | string): Promise<void> {
  const r = await coord.txn({ compare: [], success: [put(key, value)] });
  if (r.kind !== 'committed') throw new Error(`put ${key}: ${r.kind}`);
}

const seedUpload = (coord: Coordinator, shard: number, blockId: string, v: UploadValue): Promise<void> => putRaw(coord, ks.upload(shard, blockId), encodeValue(UploadValue, v));
const seedOrphan = (coord: Coordinator, shard: number, blockId: string, v: OrphanValue): Promise<void> => putRaw(coord, ks.orphan(shard, blockId), encodeValue(OrphanValue, v));

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return undefined;
  const values = (await m.get()).values;
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

/** A coordinator with one method replaced. */
function override<K extends keyof Coordinator>(c: Coordinator, name: K, fn: Coordinator[K]): Coordinator {
  return new Proxy(c, {
    get(target, prop, receiver) {
      if (prop === name) return fn;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Txns matching `fails` are not applied and their reply is lost, as when the process dies before the txn lands. */
function failingTxns(fails: (r: TxnRequest) => boolean): { wrap: (c: Coordinator) => Coordinator; heal(): void } {
  let on = true;
  return {
    wrap: (c) => override(c, 'txn', (r) => (on && fails(r) ? Promise.resolve({ kind: 'unknown', error: new Error('connection lost') }) : c.txn(r))),
    heal: () => void (on = false),
  };
}

describe('collector: compacted and expired blocks', () => {
  it.each([
    { state: 'compacted' as const, age: GRACE - 1, deleted: false },
    { state: 'compacted' as const, age: GRACE, deleted: true },
    { state: 'expired' as const, age: GRACE - 1, deleted: false },
    { state: 'expired' as const, age: GRACE + 3_600_000, deleted: true },
    { state: 'live' as const, age: 100 * GRACE, deleted: false },
    { state: 'compacting' as const, age: 100 * GRACE, deleted: false },
  ])('$state for $age ms: deleted=$deleted', async ({ state, age, deleted }) => {
    const s = await setup();
    await seedState(s.coord, s, 0, 'b1', state, T0 - age);
    const report = await s.collector.runPass();
    expect(await observeBlock(s.coord, ks, 0, 'b1')).toEqual(deleted ? undefined : expect.objectContaining({ blockId: 'b1' }));
    expect(await objectCount(s.store, 't1', 0, 'b1')).toBe(deleted ? 0 : 3);
    expect(report).toMatchObject({ blocksDeleted: deleted ? 1 : 0, bytesDeleted: deleted ? 300 : 0 });
    expect(await metric(s.registry, 'skein_ingester_gc_blocks_deleted_total', { state: state === 'expired' ? 'expired' : 'compacted' })).toBe(deleted ? 1 : 0);
    expect(await metric(s.registry, 'skein_ingester_gc_bytes_deleted_total')).toBe(deleted ? 300 : 0);
  });

  it('collects owned shards only; other shards and other blocks keep keys and objects', async () => {
    const s = await setup();
    const old = T0 - 2 * GRACE;
    await seedState(s.coord, s, 0, 'mine-0', 'compacted', old);
    await seedState(s.coord, s, 1, 'mine-1', 'expired', old, 'other-tenant');
    await seedState(s.coord, s, 2, 'theirs', 'compacted', old);
    await seedState(s.coord, s, 0, 'live-0', 'live', old);
    const report = await s.collector.runPass();
    expect(report).toMatchObject({ shards: 2, blocksDeleted: 2, failures: {} });
    expect(await observeBlock(s.coord, ks, 0, 'mine-0')).toBeUndefined();
    expect(await observeBlock(s.coord, ks, 1, 'mine-1')).toBeUndefined();
    expect(await objectCount(s.store, 'other-tenant', 1, 'mine-1')).toBe(0);
    expect(await observeBlock(s.coord, ks, 2, 'theirs')).toBeDefined();
    expect(await objectCount(s.store, 't1', 2, 'theirs')).toBe(3);
    expect(await observeBlock(s.coord, ks, 0, 'live-0')).toBeDefined();
    expect(await objectCount(s.store, 't1', 0, 'live-0')).toBe(3);
    // The shard moves here: the next pass collects it too.
    s.owned.set(2, 99);
    await s.collector.runPass();
    expect(await observeBlock(s.coord, ks, 2, 'theirs')).toBeUndefined();
    expect((await s.store.list('')).map((o) => o.key)).toEqual(['data', 'index', 'meta.json'].map((n) => blockObjectKey('t1', 0, 'live-0', n)));
  });

  it('objects first: when they cannot be deleted the key stays, and the next pass finishes', async () => {
    const s = await setup();
    await seedState(s.coord, s, 0, 'b1', 'compacted', T0 - GRACE);
    s.store.setReachable(false);
    const failed = await s.collector.runPass();
    expect(failed).toMatchObject({ blocksDeleted: 0, failures: { objects: 1 } });
    expect(await observeBlock(s.coord, ks, 0, 'b1')).toBeDefined();
    s.store.setReachable(true);
    expect(await objectCount(s.store, 't1', 0, 'b1')).toBe(3);
    expect(await s.collector.runPass()).toMatchObject({ blocksDeleted: 1, bytesDeleted: 300, failures: {} });
    expect(await observeBlock(s.coord, ks, 0, 'b1')).toBeUndefined();
    expect(await metric(s.registry, 'skein_ingester_gc_failures_total', { reason: 'objects' })).toBe(1);
  });

  it('a crash between the objects and the key leaves an invisible key that the next pass deletes', async () => {
    const deletesBlock = (r: TxnRequest): boolean => r.success.some((o) => o.op === 'delete' && o.key.startsWith(ks.blocksRoot));
    const faults = failingTxns(deletesBlock);
    const s = await setup({ wrapCoord: faults.wrap });
    await seedState(s.coord, s, 0, 'b1', 'expired', T0 - GRACE);
    expect(await s.collector.runPass()).toMatchObject({ blocksDeleted: 0, bytesDeleted: 300, failures: { unknown: 1 } });
    expect(await objectCount(s.store, 't1', 0, 'b1')).toBe(0);
    expect((await observeBlock(s.coord, ks, 0, 'b1'))?.value.state).toBe('expired'); // invisible to queriers
    faults.heal();
    expect(await s.collector.runPass()).toMatchObject({ blocksDeleted: 1, bytesDeleted: 0, failures: {} });
    expect(await observeBlock(s.coord, ks, 0, 'b1')).toBeUndefined();
    expect(await metric(s.registry, 'skein_ingester_gc_bytes_deleted_total')).toBe(300); // counted once
  });

  it('bounded work: at most maxPerPass per pass, longest eligible first', async () => {
    const s = await setup({ maxPerPass: 2 });
    for (let i = 0; i < 5; i++) await seedState(s.coord, s, i % 2, `b${i}`, 'compacted', T0 - GRACE - 1000 * (5 - i)); // b0 oldest
    expect(await s.collector.runPass()).toMatchObject({ blocksDeleted: 2, deferred: 3 });
    expect(await observeBlock(s.coord, ks, 0, 'b0')).toBeUndefined();
    expect(await observeBlock(s.coord, ks, 1, 'b1')).toBeUndefined();
    expect(await observeBlock(s.coord, ks, 0, 'b2')).toBeDefined();
    expect(await s.collector.runPass()).toMatchObject({ blocksDeleted: 2, deferred: 1 });
    expect(await s.collector.runPass()).toMatchObject({ blocksDeleted: 1, deferred: 0 });
    expect(await s.store.list('')).toEqual([]);
  });

  it('a corrupt key is reported and left alone; the rest is collected', async () => {
    const s = await setup();
    await putRaw(s.coord, ks.block(0, 'bad'), '{not json');
    await s.store.put(blockObjectKey('t1', 0, 'bad', 'data'), new Uint8Array(5));
    await seedState(s.coord, s, 0, 'good', 'compacted', T0 - GRACE);
    expect(await s.collector.runPass()).toMatchObject({ blocksDeleted: 1, failures: { corrupt: 1 } });
    expect(await objectCount(s.store, 't1', 0, 'bad')).toBe(1);
    expect((await s.coord.get(ks.block(0, 'bad'))).kv).toBeDefined();
  });
});

describe('collector: upload intents and orphans', () => {
  it.each([
    { name: "a previous owner's intent (stale token), just begun", token: 'older' as const, age: 0, orphaned: true },
    { name: 'our own intent, younger than the timeout', token: 'ours' as const, age: UPLOAD_TIMEOUT - 1, orphaned: false },
    { name: 'our own intent, past the timeout', token: 'ours' as const, age: UPLOAD_TIMEOUT, orphaned: true },
    { name: 'an intent of a newer owner (we are the stale one)', token: 'newer' as const, age: 10 * UPLOAD_TIMEOUT, orphaned: false },
  ])('$name: orphaned=$orphaned', async ({ token, age, orphaned }) => {
    const s = await setup();
    const ours = s.owned.get(0)!;
    const t = token === 'ours' ? ours : token === 'older' ? ours - 1 : ours + 1000;
    await seedUpload(s.coord, 0, 'u1', { member: 'mX', token: t, tenant: 'acme', startedAtMs: T0 - age });
    await putObjects(s.store, 'acme', 0, 'u1');
    const report = await s.collector.runPass();
    expect(report.uploadsOrphaned).toBe(orphaned ? 1 : 0);
    expect((await s.coord.get(ks.upload(0, 'u1'))).kv === undefined).toBe(orphaned);
    const orphan = await observeOrphan(s.coord, ks, 0, 'u1');
    expect(orphan?.value).toEqual(orphaned ? { tenant: 'acme', reason: 'uncommitted', recordedAtMs: T0 } : undefined);
    // Its objects wait for the grace (the writer may still be putting them), then go with the record.
    expect(await objectCount(s.store, 'acme', 0, 'u1')).toBe(3);
    expect(await metric(s.registry, 'skein_ingester_gc_orphans_recorded_total', { reason: 'uncommitted' })).toBe(orphaned ? 1 : 0);
    if (!orphaned) return;
    s.advance(GRACE - 1);
    await s.collector.runPass();
    expect(await objectCount(s.store, 'acme', 0, 'u1')).toBe(3);
    s.advance(1);
    await s.collector.runPass();
    expect(await objectCount(s.store, 'acme', 0, 'u1')).toBe(0);
    expect(await observeOrphan(s.coord, ks, 0, 'u1')).toBeUndefined();
    expect(await metric(s.registry, 'skein_ingester_gc_orphans_deleted_total')).toBe(1);
  });

  it('uploads of shards owned elsewhere are left to their owner', async () => {
    const s = await setup();
    await seedUpload(s.coord, 2, 'u2', { member: 'mX', token: 1, tenant: 'acme', startedAtMs: T0 - 10 * UPLOAD_TIMEOUT });
    expect(await s.collector.runPass()).toMatchObject({ uploadsOrphaned: 0 });
    expect((await s.coord.get(ks.upload(2, 'u2'))).kv).toBeDefined();
  });

  it('a stale writer cannot flush once its intent is an orphan', async () => {
    const s = await setup();
    const manifest = createManifestStore({ coord: s.coord, keyspace: ks, wallClock: () => s.now() });
    const begun = await manifest.beginUpload({ shard: 0, token: s.owned.get(0)!, member: 'm1', blockId: 'u1', tenant: 'acme' });
    expect(begun.kind).toBe('committed');
    s.advance(UPLOAD_TIMEOUT);
    expect(await s.collector.runPass()).toMatchObject({ uploadsOrphaned: 1 });
    const late = await manifest.flush({ shard: 0, token: s.owned.get(0)!, member: 'm1', upload: begun.kind === 'committed' ? begun.revision : 0, meta: blockMeta(0, 'u1', { tenant: 'acme' }) });
    expect(late).toMatchObject({ kind: 'conflict' });
    expect(await observeBlock(s.coord, ks, 0, 'u1')).toBeUndefined();
  });

  it.each([
    { age: GRACE - 1, collected: false },
    { age: GRACE, collected: true },
  ])('an orphan recorded $age ms ago: collected=$collected', async ({ age, collected }) => {
    const s = await setup();
    await seedOrphan(s.coord, 1, 'o1', { tenant: 'acme', reason: 'abandoned', job: 'j1', recordedAtMs: T0 - age });
    await putObjects(s.store, 'acme', 1, 'o1');
    expect(await s.collector.runPass()).toMatchObject({ orphansDeleted: collected ? 1 : 0 });
    expect(await objectCount(s.store, 'acme', 1, 'o1')).toBe(collected ? 0 : 3);
    expect((await observeOrphan(s.coord, ks, 1, 'o1')) === undefined).toBe(collected);
  });
});

describe('collector: sweep of objects no record names', () => {
  it("records a zombie writer's objects as an orphan after the sweep delay, then deletes them after the grace", async () => {
    const s = await setup();
    await putObjects(s.store, 'acme', 0, 'zombie');
    expect(await s.collector.runPass()).toMatchObject({ swept: true, orphansRecorded: 0 });
    s.advance(SWEEP_DELAY - 1);
    expect(await s.collector.runPass()).toMatchObject({ orphansRecorded: 0 });
    s.advance(1);
    expect(await s.collector.runPass()).toMatchObject({ orphansRecorded: 1 });
    expect((await observeOrphan(s.coord, ks, 0, 'zombie'))?.value).toEqual({ tenant: 'acme', reason: 'unreferenced', recordedAtMs: T0 + SWEEP_DELAY });
    expect(await objectCount(s.store, 'acme', 0, 'zombie')).toBe(3);
    s.advance(GRACE);
    expect(await s.collector.runPass()).toMatchObject({ orphansDeleted: 1 });
    expect(await s.store.list('')).toEqual([]);
    expect(await observeOrphan(s.coord, ks, 0, 'zombie')).toBeUndefined();
    expect(await metric(s.registry, 'skein_ingester_gc_orphans_recorded_total', { reason: 'unreferenced' })).toBe(1);
  });

  it('never records ids a block, upload, orphan or job names, nor ids of shards owned elsewhere, nor foreign objects', async () => {
    const s = await setup();
    await seedState(s.coord, s, 0, 'live', 'live', T0);
    await seedUpload(s.coord, 0, 'uploading', { member: 'm1', token: s.owned.get(0)!, tenant: 't1', startedAtMs: T0 });
    await putObjects(s.store, 't1', 0, 'uploading');
    await seedOrphan(s.coord, 0, 'pending', { tenant: 't1', reason: 'abandoned', recordedAtMs: T0 });
    await putObjects(s.store, 't1', 0, 'pending');
    await seedJob(s.coord, ks, 'job-1', { shard: 1, tenant: 't1', level: 1, windowStartMs: 0, windowEndMs: 1, inputs: ['x'], output: 'out-1', createdAtMs: T0 });
    await putObjects(s.store, 't1', 1, 'out-1');
    await putObjects(s.store, 't1', 2, 'zombie-elsewhere');
    await s.store.put('README', new Uint8Array(1));
    await s.store.put('tmp/x/y', new Uint8Array(1));
    await s.collector.runPass();
    s.advance(GRACE / 2); // the upload and the orphan stay younger than their timeouts
    const report = await s.collector.runPass();
    expect(report).toMatchObject({ orphansRecorded: 0, uploadsOrphaned: 0, orphansDeleted: 0 });
    expect((await s.store.list('')).length).toBe(3 * 5 + 2);
  });

  it('finds zombies of tenants known from the manifest, and of any tenant in a newly owned shard', async () => {
    const s = await setup();
    await seedState(s.coord, s, 0, 'live', 'live', T0, 'a_b'); // tenant known from the manifest
    await s.collector.runPass(); // first sweep: full listing
    await putObjects(s.store, 'a_b', 1, 'z1'); // known tenant, owned shard
    await putObjects(s.store, "x*y", 3, 'z2'); // unknown tenant, shard not owned yet
    await s.collector.runPass();
    s.owned.set(3, 7);
    await s.collector.runPass(); // a new shard: one full listing finds z2
    s.advance(SWEEP_DELAY);
    expect(await s.collector.runPass()).toMatchObject({ orphansRecorded: 2 });
    expect((await observeOrphan(s.coord, ks, 1, 'z1'))?.value.tenant).toBe('a_b');
    expect((await observeOrphan(s.coord, ks, 3, 'z2'))?.value.tenant).toBe('x*y');
    s.advance(GRACE);
    expect(await s.collector.runPass()).toMatchObject({ orphansDeleted: 2 });
    expect((await s.store.list('')).map((o) => o.key)).toEqual([blockObjectKey('a_b', 0, 'live', 'data'), blockObjectKey('a_b', 0, 'live', 'index'), blockObjectKey('a_b', 0, 'live', 'meta.json')]);
  });

  it('a failed listing records nothing', async () => {
    const s = await setup();
    await putObjects(s.store, 'acme', 0, 'zombie');
    await s.collector.runPass();
    s.advance(SWEEP_DELAY);
    s.store.setReachable(false);
    expect(await s.collector.runPass()).toMatchObject({ orphansRecorded: 0, failures: { list: 1 } });
    s.store.setReachable(true);
    expect(await s.collector.runPass()).toMatchObject({ orphansRecorded: 1 });
  });
});

describe('collector: queries holding an old manifest view', () => {
  // ASSUMPTION (documented in collector.ts and the flag): grace > longest query + watch lag + clock
  // skew. Then every read of a query whose view still showed the block happens before its objects go.
  it('a block compacted at t stays readable from an old view until t + grace, and only then goes', async () => {
    const s = await setup();
    const built = buildBlock({
      blockId: 'b1',
      tenant: 'acme',
      shard: 0,
      level: 0,
      batches: [batch('acme', group('api', [span({ trace: traceId(1), id: spanId(1), start: 1_700_000_000_000_000_000n, end: 1_700_000_000_005_000_000n })]))],
    });
    await writeBlock(s.store, built);
    await seedBlock(s.coord, ks, { state: 'live', meta: { ...built.meta }, createdAtMs: T0, stateChangedAtMs: T0 });
    const watch = watchManifest(s.coord, ks, () => undefined);
    await watch.ready;
    const queryView = watch.view(); // a query starts: b1 is visible in its view
    expect([...queryView.blocks.values()].map((b) => [b.blockId, b.value.state])).toEqual([['b1', 'live']]);

    const compactedAt = T0 + 1000;
    const live = (await observeBlock(s.coord, ks, 0, 'b1'))!;
    await seedBlock(s.coord, ks, { ...live.value, state: 'compacted', compactedInto: 'b2', stateChangedAtMs: compactedAt });
    const [seen] = [...queryView.blocks.values()];
    // What the query does with its view: open the block it listed and read the trace.
    const read = async (): Promise<number | null> => (await (await openBlock(s.store, seen!.value.meta.tenant, seen!.shard, seen!.blockId)).findTrace(traceId(1)))?.length ?? null;

    for (const elapsed of [0, 1000, GRACE / 2, GRACE - 1]) {
      s.advance(compactedAt + elapsed - s.now());
      await s.collector.runPass();
      expect(await read()).toBe(1); // the query's reads within the grace still find every object
    }
    s.advance(compactedAt + GRACE - s.now());
    expect(await s.collector.runPass()).toMatchObject({ blocksDeleted: 1 });
    await vi.waitFor(() => expect(watch.view().blocks.size).toBe(0));
    // A query older than the grace would now miss the objects: that is what the assumption excludes.
    await expect(read()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    watch.close();
  });
});

describe('collector: loop', () => {
  it('start runs passes until stop; failures are counted, never thrown', async () => {
    let broken = true;
    const s = await setup({
      intervalMs: 5,
      wrapCoord: (c) => override(c, 'range', (p, o) => (broken ? Promise.reject(new Error('etcd unavailable')) : c.range(p, o))),
    });
    await seedState(s.coord, s, 0, 'b1', 'compacted', T0 - GRACE);
    s.collector.start();
    s.collector.start(); // idempotent
    await vi.waitFor(async () => expect(await metric(s.registry, 'skein_ingester_gc_failures_total', { reason: 'read' })).toBeGreaterThan(0));
    broken = false;
    await vi.waitFor(async () => expect(await observeBlock(s.coord, ks, 0, 'b1')).toBeUndefined());
    expect(await metric(s.registry, 'skein_ingester_gc_last_pass_timestamp_seconds')).toBe(T0 / 1000);
    await s.collector.stop();
    await seedState(s.coord, s, 0, 'b2', 'compacted', T0 - GRACE);
    await new Promise((r) => setTimeout(r, 30));
    expect(await observeBlock(s.coord, ks, 0, 'b2')).toBeDefined(); // stopped: no more passes
  });
});

describe('object keys', () => {
  it.each(['single-tenant', 'a_b', 'x*y', "o'k(1)!", 'é', '.', '..', 'A.B-c'])('tenant %j round-trips through its key segment', (tenant) => {
    const seg = blockPrefix(tenant, 0, 'b').split('/')[0]!;
    expect(parseTenantKeySegment(seg)).toBe(tenant);
    expect(parseObjectKey(blockObjectKey(tenant, 12, 'b-1.x', 'data'))).toEqual({ tenant, shard: 12, blockId: 'b-1.x' });
  });

  it.each(['', 'a_zz', 'a_4', '_41', 'a b', '_C3'])('%j is no tenant segment', (seg) => {
    expect(parseTenantKeySegment(seg)).toBeUndefined();
  });

  it.each(['README', 't1/0/b', 't1/01/b/data', 't1/x/b/data', 't1/0/-b/data', 'a_zz/0/b/data'])('%j is no block object', (key) => {
    expect(parseObjectKey(key)).toBeUndefined();
  });
});
