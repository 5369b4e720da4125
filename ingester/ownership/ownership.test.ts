// The ownership protocol against the in-memory coordinator, on a clock the test moves. Each test
// plays the shard controller by writing partition and assignment keys itself, then checks what ended
// up in the store and what the ingester was told.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AssignmentValue,
  MemberValue,
  MemoryStore,
  OwnerValue,
  PartitionValue,
  createKeyspace,
  decodeValue,
  del,
  encodeValue,
  put,
  type Clock,
  type Coordinator,
  type KeyValue,
} from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry, type Registry } from '../../common/metrics/index.js';
import { createOwnership, type Ownership, type ReleaseReason } from './index.js';

/** Like ManualClock, plus `jump`: time passes without any timer running (a descheduled process). */
class TestClock implements Clock {
  #now = 1_000_000;
  #seq = 0;
  readonly #timers = new Set<{ at: number; seq: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  }

  jump(ms: number): void {
    this.#now += ms;
  }

  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      let next: { at: number; seq: number; fn: () => void } | undefined;
      for (const t of this.#timers) if (t.at <= target && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (next === undefined) break;
      this.#timers.delete(next);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
      await settle();
    }
    this.#now = Math.max(this.#now, target);
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const ME = 'ing-0';
const ADDRESS = '10.0.0.1:9095';
const ks = createKeyspace('test', 'c1');

interface Harness {
  clock: TestClock;
  store: MemoryStore;
  admin: Coordinator;
  registry: Registry;
  own: Ownership;
  /** Every callback in order: "acquire 2@7", "release 2@7 handoff". */
  calls: string[];
  /** Replace to control when/if onAcquire and onRelease resolve. */
  onAcquire: (shard: number, token: number) => Promise<void>;
  onRelease: (shard: number, token: number, reason: ReleaseReason) => Promise<void>;
  setPartition(version: number, shardCount: number): Promise<void>;
  assign(shard: number, member: string, state?: 'active' | 'handoff', generation?: number): Promise<void>;
  ownerKv(shard: number): Promise<KeyValue | undefined>;
  member(): Promise<{ kv: KeyValue; value: MemberValue } | undefined>;
  /** Lets async work settle (time does not move) until `pred` holds. */
  until(what: string, pred: () => boolean | Promise<boolean>): Promise<void>;
  /** Moves time in steps of `stepMs` until `pred` holds. */
  untilAdvancing(what: string, pred: () => boolean | Promise<boolean>, stepMs?: number): Promise<void>;
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
}

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.own.stop();
});

function harness(ttlSeconds = 3): Harness {
  const clock = new TestClock();
  const store = new MemoryStore({ clock });
  const admin = store.connect();
  const registry = createRegistry({ defaultMetrics: false });
  const h: Harness = {
    clock,
    store,
    admin,
    registry,
    calls: [],
    onAcquire: () => Promise.resolve(),
    onRelease: () => Promise.resolve(),
    own: undefined as unknown as Ownership,
    async setPartition(version, shardCount) {
      await admin.txn({ compare: [], success: [put(ks.partition, encodeValue(PartitionValue, { version, shardCount }))] });
    },
    async assign(shard, member, state = 'active', generation = 1) {
      const value = encodeValue(AssignmentValue, { member, generation, state, ...(state === 'handoff' ? { to: 'ing-1' } : {}) });
      await admin.txn({ compare: [], success: [put(ks.assignment(shard), value)] });
    },
    async ownerKv(shard) {
      return (await admin.get(ks.owner(shard))).kv;
    },
    async member() {
      const kv = (await admin.get(ks.member(ME))).kv;
      if (kv === undefined) return undefined;
      const decoded = decodeValue(MemberValue, kv.value);
      if (!decoded.ok) throw new Error(decoded.error);
      return { kv, value: decoded.value };
    },
    async until(what, pred) {
      for (let i = 0; i < 200; i++) {
        if (await pred()) return;
        await clock.advance(0);
      }
      throw new Error(`never happened: ${what}`);
    },
    async untilAdvancing(what, pred, stepMs = 100) {
      for (let i = 0; i < 300; i++) {
        if (await pred()) return;
        await clock.advance(stepMs);
      }
      throw new Error(`never happened: ${what}`);
    },
    async metric(name, labels = {}) {
      // Histogram series (_count, _sum, _bucket) live under the histogram's own name.
      const m = registry.getSingleMetric(name) ?? registry.getSingleMetric(name.replace(/_(count|sum|bucket)$/, ''));
      if (m === undefined) return undefined;
      const values = (await m.get()).values as { value: number; labels: Record<string, string | number>; metricName?: string }[];
      return values.find((v) => (v.metricName === undefined || v.metricName === name) && Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))?.value;
    },
  };
  h.own = createOwnership({
    coord: store.connect(),
    keyspace: ks,
    memberId: ME,
    address: ADDRESS,
    ports: { internal: 9095, http: 3200 },
    version: 'test',
    leaseTtlSeconds: ttlSeconds,
    logger: createSilentLogger(),
    registry,
    clock,
    onAcquire: async (shard, token) => {
      h.calls.push(`acquire ${shard}@${token}`);
      await h.onAcquire(shard, token);
    },
    onRelease: async (shard, token, reason) => {
      h.calls.push(`release ${shard}@${token} ${reason}`);
      await h.onRelease(shard, token, reason);
    },
  });
  harnesses.push(h);
  return h;
}

/** Starts, publishes a partition of 4 shards, assigns `shards` to this member and waits until they are owned. */
async function startOwning(h: Harness, shards: number[]): Promise<Map<number, number>> {
  await h.setPartition(1, 4);
  await h.own.start();
  for (const s of shards) await h.assign(s, ME);
  await h.until('shards owned', () => shards.every((s) => h.own.ownedToken(s) !== undefined));
  return new Map(shards.map((s) => [s, h.own.ownedToken(s)!]));
}

describe('ownership: acquire', () => {
  it('registers the member, acquires an assigned shard with token = owner create revision, and owns it only once onAcquire resolved', async () => {
    const h = harness();
    await h.setPartition(1, 4);
    await h.own.start();
    const leaseId = h.own.debug().lease!.id;
    await h.until('member key carries the partition version', async () => (await h.member())?.value.partitionVersion === 1);
    const m = await h.member();
    expect(m?.value).toEqual({ address: ADDRESS, ports: { internal: 9095, http: 3200 }, version: 'test', ready: false, partitionVersion: 1 });
    expect(m?.kv.lease).toBe(leaseId);

    const opening = deferred();
    h.onAcquire = () => opening.promise;
    await h.assign(2, ME);
    await h.until('owner key written', async () => (await h.ownerKv(2)) !== undefined);
    const kv = (await h.ownerKv(2))!;
    expect(kv.lease).toBe(leaseId);
    expect(decodeValue(OwnerValue, kv.value)).toEqual({ ok: true, value: { member: ME, address: ADDRESS } });
    await h.until('onAcquire called', () => h.calls.length === 1);
    expect(h.calls).toEqual([`acquire 2@${kv.createRevision}`]);
    // Acquired in the store, but the WAL is not open yet: nothing may be acknowledged.
    expect(h.own.ownedToken(2)).toBeUndefined();
    expect(h.own.ownedShards().size).toBe(0);
    expect(h.own.debug().opening).toEqual([{ shard: 2, token: kv.createRevision }]);
    expect(h.own.opening(2)).toBe(true); // forwarded writes wait for the WAL rather than bounce
    expect(h.own.opening(1)).toBe(false);
    await h.until('watch shows the owner', () => h.own.owner(2) !== undefined);
    expect(h.own.owner(2)).toEqual({ member: ME, address: ADDRESS, token: kv.createRevision });

    opening.resolve();
    await h.until('owned', () => h.own.ownedToken(2) !== undefined);
    expect(h.own.opening(2)).toBe(false);
    expect(h.own.ownedToken(2)).toBe(kv.createRevision);
    expect([...h.own.ownedShards()]).toEqual([[2, kv.createRevision]]);
    expect(h.own.assignedShards()).toEqual([2]);
    expect(await h.metric('skein_ingester_owned_shards')).toBe(1);
    expect(await h.metric('skein_ingester_shard_token', { shard: '2' })).toBe(kv.createRevision);

    await h.own.setReady(true);
    expect((await h.member())?.value.ready).toBe(true);

    // Keep-alives are acknowledged as time passes; their round trips feed the histogram, and the lease holds.
    await h.clock.advance(5000);
    expect(h.own.ownedToken(2)).toBe(kv.createRevision);
    expect(await h.metric('skein_ingester_lease_renew_latency_seconds_count')).toBeGreaterThanOrEqual(4);
  });

  it('leaves shards assigned to another member or with an existing owner alone; takes one once its owner key goes', async () => {
    const h = harness();
    const other = await h.admin.grantLease(30);
    await h.setPartition(1, 4);
    await h.assign(0, 'ing-1');
    await h.assign(1, ME);
    await h.admin.txn({ compare: [], success: [put(ks.owner(1), encodeValue(OwnerValue, { member: 'ing-1', address: 'x:1' }), other.id)] });
    const foreign = (await h.ownerKv(1))!;
    await h.own.start();
    for (let i = 0; i < 20; i++) await h.clock.advance(0);
    expect(await h.ownerKv(0)).toBeUndefined();
    expect((await h.ownerKv(1))?.createRevision).toBe(foreign.createRevision);
    expect(h.calls).toEqual([]);
    expect(h.own.owner(1)).toEqual({ member: 'ing-1', address: 'x:1', token: foreign.createRevision });
    expect(h.own.assignedShards()).toEqual([1]);

    await h.admin.txn({ compare: [], success: [del(ks.owner(1))] });
    await h.until('shard 1 owned', () => h.own.ownedToken(1) !== undefined);
    expect(h.own.ownedToken(1)).toBeGreaterThan(foreign.createRevision);
    expect(await h.ownerKv(0)).toBeUndefined();
    other.abandon();
  });

  it('never adopts an owner key bound to an earlier lease of its own member id; adopts one on its current lease, discards an unwanted one', async () => {
    const h = harness(5);
    const earlier = await h.admin.grantLease(2);
    await h.setPartition(1, 4);
    await h.assign(0, ME);
    await h.admin.txn({ compare: [], success: [put(ks.owner(0), encodeValue(OwnerValue, { member: ME, address: 'old:1' }), earlier.id)] });
    const stale = (await h.ownerKv(0))!;
    await h.own.start();
    for (let i = 0; i < 20; i++) await h.clock.advance(0);
    expect(h.own.ownedToken(0)).toBeUndefined();
    expect(h.calls).toEqual([]);
    expect((await h.ownerKv(0))?.lease).toBe(earlier.id);

    // The earlier incarnation's lease lapses: its key goes, and the shard is acquired with a higher token.
    earlier.abandon();
    await h.untilAdvancing('shard 0 owned', () => h.own.ownedToken(0) !== undefined);
    expect(h.own.ownedToken(0)).toBeGreaterThan(stale.createRevision);

    // An owner key of ours on the CURRENT lease (an acquire whose reply was lost) is adopted as is.
    const leaseId = h.own.debug().lease!.id;
    const mine = encodeValue(OwnerValue, { member: ME, address: ADDRESS });
    const assignment = encodeValue(AssignmentValue, { member: ME, generation: 1, state: 'active' });
    await h.admin.txn({ compare: [], success: [put(ks.assignment(1), assignment), put(ks.owner(1), mine, leaseId)] });
    const adopted = (await h.ownerKv(1))!;
    await h.until('shard 1 owned', () => h.own.ownedToken(1) !== undefined);
    expect(h.own.ownedToken(1)).toBe(adopted.createRevision);
    expect((await h.ownerKv(1))?.modRevision).toBe(adopted.modRevision); // adopted, not rewritten
    expect(h.calls).toContain(`acquire 1@${adopted.createRevision}`);

    // The same, for a shard not assigned here: the key is deleted (fenced by its create revision).
    await h.admin.txn({ compare: [], success: [put(ks.owner(2), mine, leaseId)] });
    await h.until('stray key deleted', async () => (await h.ownerKv(2)) === undefined);
    expect(h.calls.filter((c) => c.startsWith('acquire 2@'))).toEqual([]);
  });

  it('when onAcquire rejects, gives the owner key back and acquires again after a back-off', async () => {
    const h = harness();
    let failures = 1;
    h.onAcquire = () => (failures-- > 0 ? Promise.reject(new Error('disk full')) : Promise.resolve());
    await h.setPartition(1, 4);
    await h.own.start();
    await h.assign(0, ME);
    await h.until('first attempt', () => h.calls.length === 1);
    const first = Number(h.calls[0]!.split('@')[1]);
    await h.until('owner key given back', async () => (await h.ownerKv(0)) === undefined);
    expect(h.own.ownedToken(0)).toBeUndefined();
    await h.untilAdvancing('owned after the back-off', () => h.own.ownedToken(0) !== undefined);
    expect(h.own.ownedToken(0)).toBeGreaterThan(first);
    expect((await h.ownerKv(0))?.createRevision).toBe(h.own.ownedToken(0));
    expect(h.calls.filter((c) => c.startsWith('release'))).toEqual([]);
  });
});

describe('ownership: giving shards up', () => {
  it('handoff: stops acknowledging at once, awaits onRelease, and only then deletes the owner key', async () => {
    const h = harness();
    const tokens = await startOwning(h, [0]);
    const t = tokens.get(0)!;
    const releasing = deferred();
    h.onRelease = () => releasing.promise;
    await h.assign(0, ME, 'handoff');
    await h.until('onRelease called', () => h.calls.includes(`release 0@${t} handoff`));
    expect(h.own.ownedToken(0)).toBeUndefined();
    for (let i = 0; i < 10; i++) await h.clock.advance(0);
    expect((await h.ownerKv(0))?.createRevision).toBe(t); // in-flight appends still finishing: key kept

    releasing.resolve();
    await h.until('owner key deleted', async () => (await h.ownerKv(0)) === undefined);
    expect(await h.metric('skein_ingester_handoffs_total', { reason: 'handoff' })).toBe(1);
    expect(await h.metric('skein_ingester_shard_token', { shard: '0' })).toBe(0);
    expect(await h.metric('skein_ingester_owned_shards')).toBe(0);

    // The controller moves the shard on; this member does not take it back.
    await h.assign(0, 'ing-1', 'active', 2);
    for (let i = 0; i < 10; i++) await h.clock.advance(0);
    expect(await h.ownerKv(0)).toBeUndefined();
    expect(h.calls.filter((c) => c.startsWith('acquire'))).toHaveLength(1);
    expect(h.own.debug().fencedWritesRejected).toBe(0);
  });

  it('lost: the owner key deleted by someone else ends ownership; still assigned, the shard is acquired again with a higher token', async () => {
    const h = harness();
    const t1 = (await startOwning(h, [1])).get(1)!;
    await h.admin.txn({ compare: [], success: [del(ks.owner(1))] });
    await h.until('lost', () => h.calls.includes(`release 1@${t1} lost`));
    await h.until('owned again', () => h.own.ownedToken(1) !== undefined);
    expect(h.own.ownedToken(1)).toBeGreaterThan(t1);
    expect(await h.metric('skein_ingester_handoffs_total', { reason: 'lost' })).toBe(1);
  });

  it('lease expiry: unowned the instant the local deadline passes, onRelease(lost), fenced cleanup rejected, new lease, higher token', async () => {
    const h = harness(3);
    const t1 = (await startOwning(h, [0])).get(0)!;
    await h.own.setReady(true);
    const first = h.own.debug().lease!;

    // The coordinator goes silent and the process is descheduled past its deadline: no timer, no
    // event has run yet, and still nothing may be acknowledged.
    h.store.setReachable(false);
    h.clock.jump(first.deadline - h.clock.now() + 1);
    expect(h.own.ownedToken(0)).toBeUndefined();
    expect(h.own.ownedShards().size).toBe(0);
    expect(h.calls.filter((c) => c.startsWith('release'))).toEqual([]);

    // Time catches up: the lease ends locally (the server lets it lapse too, deleting its keys).
    await h.clock.advance(1000);
    await h.until('lost', () => h.calls.includes(`release 0@${t1} lost`));
    expect(await h.ownerKv(0).catch(() => 'unreachable')).toBe('unreachable');

    h.store.setReachable(true);
    await h.untilAdvancing('re-registered and owning again', () => h.own.ownedToken(0) !== undefined);
    const second = h.own.debug().lease!;
    expect(second.id).not.toBe(first.id);
    const m = await h.member();
    expect(m?.kv.lease).toBe(second.id);
    expect(m?.value.ready).toBe(true); // what was set before the loss is registered again
    const t2 = h.own.ownedToken(0)!;
    expect(t2).toBeGreaterThan(t1);
    expect((await h.ownerKv(0))?.lease).toBe(second.id);
    // The cleanup delete with the old token found the key gone.
    expect(h.own.debug().fencedWritesRejected).toBe(1);
    expect(await h.metric('skein_ingester_fenced_writes_rejected_total')).toBe(1);
  });

  it('partition decrease: owned shards at or above the new count are released; the member key moves to the new version', async () => {
    const h = harness();
    const tokens = await startOwning(h, [1, 3]);
    await h.setPartition(2, 2);
    await h.until('shard 3 released', async () => (await h.ownerKv(3)) === undefined);
    expect(h.calls).toContain(`release 3@${tokens.get(3)} partition`);
    expect(h.own.ownedToken(3)).toBeUndefined();
    expect(h.own.ownedToken(1)).toBe(tokens.get(1));
    expect((await h.ownerKv(1))?.createRevision).toBe(tokens.get(1));
    await h.until('member runs partition 2', async () => (await h.member())?.value.partitionVersion === 2);
    expect(h.own.partition()).toEqual({ version: 2, shardCount: 2 });
    expect(await h.metric('skein_ingester_handoffs_total', { reason: 'partition' })).toBe(1);
  });

  it('releaseAll gives every shard back and takes no new one; stop then deletes the member key (idempotently)', async () => {
    const h = harness();
    const tokens = await startOwning(h, [0, 1]);
    await h.own.setReady(true);
    await h.own.releaseAll();
    expect(h.calls.filter((c) => c.startsWith('release')).sort()).toEqual([`release 0@${tokens.get(0)} shutdown`, `release 1@${tokens.get(1)} shutdown`]);
    expect(await h.ownerKv(0)).toBeUndefined();
    expect(await h.ownerKv(1)).toBeUndefined();
    expect((await h.member())?.value.ready).toBe(false);
    expect(h.own.ownedShards().size).toBe(0);

    await h.assign(2, ME);
    for (let i = 0; i < 10; i++) await h.clock.advance(0);
    expect(await h.ownerKv(2)).toBeUndefined();

    await h.own.stop();
    await h.own.stop();
    expect(await h.member()).toBeUndefined();
    expect((await h.admin.range(ks.root)).entries.map((e) => e.key).filter((k) => k.endsWith('/owner') || k.includes('/members/'))).toEqual([]);
  });

  it('stop without releaseAll tells the ingester and revokes the lease, removing member and owner keys', async () => {
    const h = harness();
    const t = (await startOwning(h, [2])).get(2)!;
    await h.own.stop();
    expect(h.calls).toContain(`release 2@${t} shutdown`);
    expect(h.own.ownedToken(2)).toBeUndefined();
    expect(await h.ownerKv(2)).toBeUndefined();
    expect(await h.member()).toBeUndefined();
  });
});

describe('ownership: debug', () => {
  it('journals acknowledgements per (shard, token) with wall-clock times, next to lease and owned shards', async () => {
    const h = harness();
    const tokens = await startOwning(h, [0, 3]);
    const now = vi.spyOn(Date, 'now');
    try {
      now.mockReturnValue(1_700_000_000_000);
      h.own.recordAck(0, tokens.get(0)!);
      now.mockReturnValue(1_700_000_000_500);
      h.own.recordAck(3, tokens.get(3)!);
      now.mockReturnValue(1_700_000_001_000);
      h.own.recordAck(0, tokens.get(0)!);
      h.own.recordAck(0, 1); // an older token of the same shard is its own window
    } finally {
      now.mockRestore();
    }
    const d = h.own.debug();
    expect(d.memberId).toBe(ME);
    expect(d.lease?.id).toMatch(/^\d+$/);
    expect(d.lease?.deadline).toBeGreaterThan(h.clock.now());
    expect(d.owned).toEqual([
      { shard: 0, token: tokens.get(0) },
      { shard: 3, token: tokens.get(3) },
    ]);
    expect(d.acks).toEqual([
      { shard: 0, token: 1, firstAckMs: 1_700_000_001_000, lastAckMs: 1_700_000_001_000, acks: 1 },
      { shard: 0, token: tokens.get(0), firstAckMs: 1_700_000_000_000, lastAckMs: 1_700_000_001_000, acks: 2 },
      { shard: 3, token: tokens.get(3), firstAckMs: 1_700_000_000_500, lastAckMs: 1_700_000_000_500, acks: 1 },
    ]);
    expect(d.fencedWritesRejected).toBe(0);
    expect(JSON.parse(JSON.stringify(d))).toMatchObject({ memberId: ME, partition: { version: 1, shardCount: 4 } });
  });
});
