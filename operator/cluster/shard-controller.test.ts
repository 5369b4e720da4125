// The shard controller against the in-memory coordinator on a manual clock, with fake members that
// follow the ingester ownership protocol. Every step of every scenario also checks the ownership
// invariant the controller exists to keep: an owner key always belongs to the shard's assignee
// (a reassignment never happens past a live owner), and never more handoffs than allowed at once.
import { afterEach, describe, expect, it } from 'vitest';
import {
  AssignmentValue,
  ManualClock,
  MemoryStore,
  OwnerValue,
  PartitionValue,
  createKeyspace,
  decodeValue,
  del,
  valueText,
  type Coordinator,
} from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry, type Counter, type Registry } from '../../common/metrics/index.js';
import { createShardController, type ShardController } from './index.js';
import { startFakeMember, type FakeMember } from './testing/index.js';

const ks = createKeyspace('default', 'unit');
const MAX_HANDOFFS = 1;

interface Harness {
  readonly clock: ManualClock;
  readonly store: MemoryStore;
  readonly admin: Coordinator;
  controller(identity: string, desiredShardCount?: number): { controller: ShardController; coord: Coordinator; registry: Registry };
  member(id: string): Promise<FakeMember>;
  /** Advances the clock in small steps until `cond` holds, checking the invariants at every step. */
  eventually(what: string, cond: () => boolean | Promise<boolean>): Promise<void>;
  /** Advances the clock by `ms` in small steps, checking the invariants at every step. */
  run(ms: number): Promise<void>;
  close(): Promise<void>;
}

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

function assignments(store: MemoryStore): Map<number, AssignmentValue> {
  const out = new Map<number, AssignmentValue>();
  for (const kv of store.dump()) {
    const m = /shards\/(\d+)\/assignment$/.exec(kv.key);
    const d = decodeValue(AssignmentValue, kv.value);
    if (m !== null && d.ok) out.set(Number(m[1]), d.value);
  }
  return out;
}
function owners(store: MemoryStore): Map<number, string> {
  const out = new Map<number, string>();
  for (const kv of store.dump()) {
    const m = /shards\/(\d+)\/owner$/.exec(kv.key);
    const d = decodeValue(OwnerValue, kv.value);
    if (m !== null && d.ok) out.set(Number(m[1]), d.value.member);
  }
  return out;
}
function partition(store: MemoryStore): PartitionValue | undefined {
  const kv = store.dump().find((k) => k.key === ks.partition);
  if (kv === undefined) return undefined;
  const d = decodeValue(PartitionValue, kv.value);
  return d.ok ? d.value : undefined;
}

/** Every shard < shardCount active, owned by its assignee, one of `members`, loads within one; nothing beyond. */
function converged(store: MemoryStore, members: readonly string[], shardCount: number): boolean {
  const a = assignments(store);
  const o = owners(store);
  if (partition(store)?.shardCount !== shardCount) return false;
  const loads = new Map(members.map((m) => [m, 0]));
  for (let n = 0; n < shardCount; n++) {
    const v = a.get(n);
    if (v === undefined || v.state !== 'active' || !loads.has(v.member) || o.get(n) !== v.member) return false;
    loads.set(v.member, loads.get(v.member)! + 1);
  }
  if ([...a.keys(), ...o.keys()].some((n) => n >= shardCount)) return false;
  return Math.max(...loads.values()) - Math.min(...loads.values()) <= 1;
}

function checkInvariants(store: MemoryStore): void {
  const a = assignments(store);
  for (const [n, member] of owners(store)) {
    const v = a.get(n);
    // An owner appears only for its assignee, and the controller never moves `member` past it.
    if (v !== undefined) expect(`shard ${n} owner ${member}`).toBe(`shard ${n} owner ${v.member}`);
  }
  expect([...a.values()].filter((v) => v.state === 'handoff').length).toBeLessThanOrEqual(MAX_HANDOFFS);
}

function createHarness(): Harness {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock });
  const admin = store.connect();
  const controllers: ShardController[] = [];
  const clients: Coordinator[] = [admin];
  const members: FakeMember[] = [];
  const step = async (): Promise<void> => {
    await clock.advance(10);
    checkInvariants(store);
  };
  const h: Harness = {
    clock,
    store,
    admin,
    controller(identity, desiredShardCount = 6) {
      const coord = store.connect();
      clients.push(coord);
      const registry = createRegistry({ defaultMetrics: false });
      const controller = createShardController({
        coord,
        keyspace: ks,
        identity,
        desiredShardCount,
        maxConcurrentHandoffs: MAX_HANDOFFS,
        rebalanceIntervalMs: 100,
        leaseTtlSeconds: 2,
        logger: createSilentLogger(),
        registry,
        clock,
      });
      controllers.push(controller);
      return { controller, coord, registry };
    },
    async member(id) {
      const coord = store.connect();
      clients.push(coord);
      const m = await startFakeMember({ coord, keyspace: ks, id, ttlSeconds: 2 });
      members.push(m);
      return m;
    },
    async eventually(what, cond) {
      for (let i = 0; i < 3000; i++) {
        if (await cond()) return;
        await step();
      }
      throw new Error(`not reached within 30 simulated seconds: ${what}\nassignments: ${JSON.stringify([...assignments(store)])}\nowners: ${JSON.stringify([...owners(store)])}`);
    },
    async run(ms) {
      for (let t = 0; t < ms; t += 10) await step();
    },
    async close() {
      await Promise.all(controllers.map((c) => c.stop()));
      for (const m of members) m.freeze();
      for (const c of clients) await c.close();
      for (const m of members) expect(m.errors).toEqual([]);
    },
  };
  return h;
}

async function writes(registry: Registry, filter: { action?: string; outcome?: string } = {}): Promise<number> {
  const metric = registry.getSingleMetric('skein_controller_writes_total') as Counter<'action' | 'outcome'> | undefined;
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => (filter.action === undefined || v.labels.action === filter.action) && (filter.outcome === undefined || v.labels.outcome === filter.outcome))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('shard controller (memory coordinator)', () => {
  it('creates the partition map and spreads the shards evenly over three members, each owned by its assignee', async () => {
    const h = (harness = createHarness());
    const { controller, registry } = h.controller('ctl-0');
    await controller.start();
    await Promise.all(['a', 'b', 'c'].map((id) => h.member(id)));
    await h.eventually('converged on a, b, c', () => converged(h.store, ['a', 'b', 'c'], 6));
    expect(partition(h.store)).toEqual({ version: 1, shardCount: 6 });
    expect(controller.leading).toBe(true);
    expect(controller.ready()).toBe(true);
    expect(JSON.parse(valueText((await h.admin.get(ks.controllerElection)).kv!))).toEqual({ identity: 'ctl-0' });
    expect(await writes(registry, { action: 'create-partition', outcome: 'committed' })).toBe(1);
    const loads = [...assignments(h.store).values()].map((a) => a.member).sort();
    expect(loads).toEqual(['a', 'a', 'b', 'b', 'c', 'c']);
  });

  it('moves a dead member’s shards only after its owner keys are gone', async () => {
    const h = (harness = createHarness());
    await h.controller('ctl-0').controller.start();
    const members = await Promise.all(['a', 'b', 'c'].map((id) => h.member(id)));
    await h.eventually('converged', () => converged(h.store, ['a', 'b', 'c'], 6));
    const cShards = [...assignments(h.store)].filter(([, a]) => a.member === 'c').map(([n]) => n);
    expect(cShards).toHaveLength(2);

    // c hangs: it stops reacting and its member key goes, but its lease (and so its owner keys) lives on.
    const c = members[2]!;
    c.freeze();
    expect((await h.admin.txn({ compare: [], success: [del(ks.member('c'))] })).kind).toBe('committed');
    await h.run(3000);
    for (const n of cShards) {
      expect(assignments(h.store).get(n)?.member).toBe('c');
      expect(owners(h.store).get(n)).toBe('c');
    }
    // The lease ends: the owner keys vanish, and only now the shards move.
    await c.kill();
    await h.eventually('converged on a, b', () => converged(h.store, ['a', 'b'], 6));
    for (const n of cShards) expect(assignments(h.store).get(n)!.generation).toBeGreaterThan(1);
  });

  it('gives a new member shards through graceful handoffs, one at a time', async () => {
    const h = (harness = createHarness());
    await h.controller('ctl-0').controller.start();
    await Promise.all(['a', 'b'].map((id) => h.member(id)));
    await h.eventually('converged on a, b', () => converged(h.store, ['a', 'b'], 6));

    const seen: AssignmentValue[] = [];
    const watch = h.admin.watchPrefix(ks.shardsPrefix, (u) => {
      if (u.kind !== 'events') return;
      for (const e of u.events) {
        if (e.type !== 'put' || !e.kv.key.endsWith('/assignment')) continue;
        const d = decodeValue(AssignmentValue, e.kv.value);
        if (d.ok) seen.push(d.value);
      }
    });
    await h.member('c');
    await h.eventually('converged on a, b, c', () => converged(h.store, ['a', 'b', 'c'], 6));
    watch.close();
    const handoffs = seen.filter((a) => a.state === 'handoff');
    expect(handoffs).toHaveLength(2);
    expect(handoffs.every((a) => a.to === 'c' && a.member !== 'c')).toBe(true);
    const toC = [...assignments(h.store).values()].filter((a) => a.member === 'c');
    expect(toC).toHaveLength(2);
    expect(toC.every((a) => a.generation === 2)).toBe(true);
  });

  it('follows a changed shard count: new partition version, new shards assigned, surplus shards released then deleted', async () => {
    const h = (harness = createHarness());
    const { controller } = h.controller('ctl-0', 4);
    await controller.start();
    await Promise.all(['a', 'b'].map((id) => h.member(id)));
    await h.eventually('converged on 4 shards', () => converged(h.store, ['a', 'b'], 4));

    controller.setDesiredShardCount(6);
    await h.eventually('converged on 6 shards', () => converged(h.store, ['a', 'b'], 6));
    expect(partition(h.store)).toEqual({ version: 2, shardCount: 6 });

    controller.setDesiredShardCount(2);
    await h.eventually('converged on 2 shards', () => converged(h.store, ['a', 'b'], 2));
    expect(partition(h.store)).toEqual({ version: 3, shardCount: 2 });
    expect(() => controller.setDesiredShardCount(0)).toThrow(RangeError);
  });

  it('with two controllers, one leads and only the leader writes', async () => {
    const h = (harness = createHarness());
    const one = h.controller('ctl-1');
    const two = h.controller('ctl-2');
    await Promise.all([one.controller.start(), two.controller.start()]);
    await Promise.all(['a', 'b', 'c'].map((id) => h.member(id)));
    await h.eventually('converged', () => converged(h.store, ['a', 'b', 'c'], 6));
    const [leader, standby] = one.controller.leading ? [one, two] : [two, one];
    expect(leader.controller.leading).toBe(true);
    expect(standby.controller.leading).toBe(false);
    expect(standby.controller.ready()).toBe(true);
    expect(await writes(leader.registry)).toBeGreaterThan(0);
    expect(await writes(standby.registry)).toBe(0);
    expect((await leader.registry.getSingleMetric('skein_controller_leader')!.get()).values[0]!.value).toBe(1);
    expect((await standby.registry.getSingleMetric('skein_controller_leader')!.get()).values[0]!.value).toBe(0);
  });

  it('a standby takes over from a leader that vanished without resigning, and still reassigns', async () => {
    const h = (harness = createHarness());
    const one = h.controller('ctl-1');
    await one.controller.start();
    await h.eventually('ctl-1 leads', () => one.controller.leading);
    const two = h.controller('ctl-2');
    await two.controller.start();
    const members = await Promise.all(['a', 'b', 'c'].map((id) => h.member(id)));
    await h.eventually('converged', () => converged(h.store, ['a', 'b', 'c'], 6));
    expect(two.controller.leading).toBe(false);

    // The leader's connection goes away: its lease is no longer kept alive and lapses after its TTL.
    await one.coord.close();
    await h.eventually('ctl-2 leads', () => two.controller.leading);
    expect(one.controller.leading).toBe(false);

    await members[0]!.kill();
    await h.eventually('converged on b, c', () => converged(h.store, ['b', 'c'], 6));
    expect(await writes(two.registry, { action: 'reassign', outcome: 'committed' })).toBe(2);
  });

  it('campaigns again when its election key disappears, and stop() resigns and revokes its lease', async () => {
    const h = (harness = createHarness());
    const { controller } = h.controller('ctl-0');
    await controller.start();
    await h.eventually('leads', () => controller.leading);
    const first = (await h.admin.get(ks.controllerElection)).kv!;
    await h.admin.txn({ compare: [], success: [del(ks.controllerElection)] });
    await h.eventually('leads again under a new key', async () => {
      const kv = (await h.admin.get(ks.controllerElection)).kv;
      return controller.leading && kv !== undefined && kv.createRevision > first.createRevision;
    });
    expect((await h.admin.get(ks.controllerElection)).kv!.lease).toBe(first.lease);

    await controller.stop();
    expect(controller.leading).toBe(false);
    expect(controller.ready()).toBe(false);
    expect((await h.admin.get(ks.controllerElection)).kv).toBeUndefined();
    // The lease is gone from the store: a put bound to it fails.
    const r = await h.admin.txn({ compare: [], success: [{ op: 'put', key: `${ks.root}probe`, value: 'x', lease: first.lease! }] });
    expect(r.kind).toBe('lease-not-found');
  });
});
