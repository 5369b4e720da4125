import { describe, expect, it } from 'vitest';
import { createKeyspace, toBytes, type KeyValue, type TxnRequest } from '../../common/coord/index.js';
import { buildClusterState, computeControllerActions, type ControllerAction, type ControllerActionOptions } from './index.js';

const ks = createKeyspace('default', 'test');
const rel = (key: string): string => key.slice(ks.root.length);

// ---- building the keys a pass sees ----

interface Key {
  readonly key: string;
  readonly value: unknown;
  readonly rev?: number;
}
const member = (id: string, opts: { ready?: boolean; partitionVersion?: number } = {}): Key => ({
  key: ks.member(id),
  value: { address: `${id}:9095`, ports: {}, version: 'test', ready: opts.ready ?? true, partitionVersion: opts.partitionVersion ?? 1 },
});
const partition = (shardCount: number, version = 1, rev?: number): Key => ({ key: ks.partition, value: { version, shardCount }, ...(rev === undefined ? {} : { rev }) });
const active = (n: number, m: string, generation = 1, rev?: number): Key => ({
  key: ks.assignment(n),
  value: { member: m, generation, state: 'active' },
  ...(rev === undefined ? {} : { rev }),
});
const handoff = (n: number, m: string, to: string, generation = 1, rev?: number): Key => ({
  key: ks.assignment(n),
  value: { member: m, generation, state: 'handoff', to },
  ...(rev === undefined ? {} : { rev }),
});
const owner = (n: number, m: string): Key => ({ key: ks.owner(n), value: { member: m, address: `${m}:9095` } });
const raw = (key: string, text: string): Key => ({ key, value: text });

/** KeyValues with distinct revisions (rev 100 + position unless given), as a watch would show them. */
function entries(keys: readonly Key[]): KeyValue[] {
  return keys.map((k, i) => {
    const rev = k.rev ?? 100 + i;
    const text = typeof k.value === 'string' ? k.value : JSON.stringify(k.value);
    return { key: k.key, value: toBytes(text), createRevision: rev, modRevision: rev, version: 1, lease: undefined };
  });
}

// ---- describing the resulting writes ----

interface Described {
  readonly kind: ControllerAction['kind'];
  readonly shard: number | undefined;
  readonly write: unknown;
  readonly guards: readonly string[];
}

function describeTxn(txn: TxnRequest): { write: unknown; guards: string[] } {
  const guards = txn.compare.map((c) => {
    if (c.target === 'createRevision' && c.op === '==' && c.value === 0) return `absent ${rel(c.key)}`;
    if (c.target === 'modRevision' && c.op === '==') return `mod ${rel(c.key)}=${c.value}`;
    return `other ${JSON.stringify(c)}`;
  });
  expect(txn.success).toHaveLength(1);
  const op = txn.success[0]!;
  const write = op.op === 'put' ? JSON.parse(new TextDecoder().decode(toBytes(op.value))) : op.op === 'delete' ? `delete ${rel(op.key)}` : 'get';
  return { write, guards };
}

function describe_(a: ControllerAction): Described {
  return { kind: a.kind, shard: a.shard, ...describeTxn(a.txn) };
}

const defaults = { desiredShardCount: 4, maxConcurrentHandoffs: 1, rebalanceAllowed: true };
function plan(keys: readonly Key[], options: Partial<Omit<ControllerActionOptions, 'keyspace'>> = {}) {
  return computeControllerActions(buildClusterState(ks, entries(keys)), { keyspace: ks, ...defaults, ...options });
}
function run(keys: readonly Key[], options: Partial<Omit<ControllerActionOptions, 'keyspace'>> = {}): Described[] {
  return plan(keys, options).actions.map(describe_);
}

const assignTo = (n: number, m: string): Described => ({
  kind: 'assign',
  shard: n,
  write: { member: m, generation: 1, state: 'active' },
  guards: [`absent shards/${n}/assignment`],
});

interface Case {
  readonly name: string;
  readonly keys: readonly Key[];
  readonly options?: Partial<Omit<ControllerActionOptions, 'keyspace'>>;
  readonly expected: readonly Described[];
}

const cases: Case[] = [
  {
    name: 'partition absent → created with version 1 and the desired count; no shard work yet',
    keys: [member('a')],
    options: { desiredShardCount: 6 },
    expected: [{ kind: 'create-partition', shard: undefined, write: { version: 1, shardCount: 6 }, guards: ['absent partition'] }],
  },
  {
    name: 'desired count differs → version bump guarded by the partition mod revision; no shard work in the same pass',
    keys: [partition(4, 3, 42), member('a', { partitionVersion: 3 })],
    options: { desiredShardCount: 8 },
    expected: [{ kind: 'update-partition', shard: undefined, write: { version: 4, shardCount: 8 }, guards: ['mod partition=42'] }],
  },
  {
    name: 'one eligible member, nothing assigned → every shard created for it, guarded by ifAbsent(assignment)',
    keys: [partition(3), member('a')],
    options: { desiredShardCount: 3 },
    expected: [assignTo(0, 'a'), assignTo(1, 'a'), assignTo(2, 'a')],
  },
  {
    name: 'no eligible member (not ready, older partition version, or unreadable) → nothing',
    keys: [partition(2, 2), member('a', { ready: false, partitionVersion: 2 }), member('b', { partitionVersion: 1 }), raw(ks.member('c'), '{"address":1}')],
    options: { desiredShardCount: 2 },
    expected: [],
  },
  {
    name: 'member gone, owner absent → reassigned, generation + 1, guarded by the assignment revision AND ifAbsent(owner)',
    keys: [partition(2), member('b'), active(0, 'a', 3, 50), active(1, 'b'), owner(1, 'b')],
    options: { desiredShardCount: 2 },
    expected: [
      {
        kind: 'reassign',
        shard: 0,
        write: { member: 'b', generation: 4, state: 'active' },
        guards: ['mod shards/0/assignment=50', 'absent shards/0/owner'],
      },
    ],
  },
  {
    name: 'member gone but its owner key is still there → handoff (no reassignment past a live owner)',
    keys: [partition(2), member('b'), active(0, 'a', 2, 50), owner(0, 'a'), active(1, 'b'), owner(1, 'b')],
    options: { desiredShardCount: 2 },
    expected: [{ kind: 'handoff', shard: 0, write: { member: 'a', generation: 2, state: 'handoff', to: 'b' }, guards: ['mod shards/0/assignment=50'] }],
  },
  {
    name: 'owner alive but its member not ready → handoff',
    keys: [partition(1), member('a', { ready: false }), member('b'), active(0, 'a', 1, 50), owner(0, 'a')],
    options: { desiredShardCount: 1 },
    expected: [{ kind: 'handoff', shard: 0, write: { member: 'a', generation: 1, state: 'handoff', to: 'b' }, guards: ['mod shards/0/assignment=50'] }],
  },
  {
    name: 'handoffs for an ineligible owner respect maxConcurrentHandoffs',
    keys: [partition(3), member('b'), active(0, 'a', 1, 50), owner(0, 'a'), active(1, 'a', 1, 51), owner(1, 'a'), active(2, 'a', 1, 52), owner(2, 'a')],
    options: { desiredShardCount: 3, maxConcurrentHandoffs: 2 },
    expected: [
      { kind: 'handoff', shard: 0, write: { member: 'a', generation: 1, state: 'handoff', to: 'b' }, guards: ['mod shards/0/assignment=50'] },
      { kind: 'handoff', shard: 1, write: { member: 'a', generation: 1, state: 'handoff', to: 'b' }, guards: ['mod shards/1/assignment=51'] },
    ],
  },
  {
    name: 'handoff whose owner released → reassigned to `to`, generation + 1, guarded by ifAbsent(owner)',
    keys: [partition(1), member('a'), member('b'), handoff(0, 'a', 'b', 5, 60)],
    options: { desiredShardCount: 1 },
    expected: [{ kind: 'reassign', shard: 0, write: { member: 'b', generation: 6, state: 'active' }, guards: ['mod shards/0/assignment=60', 'absent shards/0/owner'] }],
  },
  {
    name: 'handoff whose target is in progress (owner still there, target eligible) → wait',
    keys: [partition(1), member('a'), member('b'), handoff(0, 'a', 'b', 5, 60), owner(0, 'a')],
    options: { desiredShardCount: 1 },
    expected: [],
  },
  {
    name: 'handoff target gone while the owner is alive → cancelled (active, no `to`, same generation)',
    keys: [partition(1), member('a'), handoff(0, 'a', 'b', 5, 60), owner(0, 'a')],
    options: { desiredShardCount: 1 },
    expected: [{ kind: 'cancel-handoff', shard: 0, write: { member: 'a', generation: 5, state: 'active' }, guards: ['mod shards/0/assignment=60'] }],
  },
  {
    name: 'handoff target gone and owner released → reassigned to the plan’s choice',
    keys: [partition(1), member('c'), handoff(0, 'a', 'b', 5, 60)],
    options: { desiredShardCount: 1 },
    expected: [{ kind: 'reassign', shard: 0, write: { member: 'c', generation: 6, state: 'active' }, guards: ['mod shards/0/assignment=60', 'absent shards/0/owner'] }],
  },
  {
    name: 'handoff target gone, owner released, the old member is the plan’s choice → back to it without a generation bump',
    keys: [partition(1), member('a'), handoff(0, 'a', 'b', 5, 60)],
    options: { desiredShardCount: 1 },
    expected: [{ kind: 'reassign', shard: 0, write: { member: 'a', generation: 5, state: 'active' }, guards: ['mod shards/0/assignment=60', 'absent shards/0/owner'] }],
  },
  {
    name: 'shard count increased (partition already bumped) → only the new shards are assigned',
    keys: [partition(3, 2), member('a', { partitionVersion: 2 }), active(0, 'a'), owner(0, 'a'), active(1, 'a'), owner(1, 'a')],
    options: { desiredShardCount: 3 },
    expected: [assignTo(2, 'a')],
  },
  {
    name: 'shard count decreased → assignments n ≥ shardCount deleted only once their owner is gone',
    keys: [partition(1, 2), member('a', { partitionVersion: 2 }), active(0, 'a'), owner(0, 'a'), active(1, 'a', 1, 70), owner(1, 'a'), active(2, 'a', 1, 71), handoff(3, 'a', 'b', 1, 72)],
    options: { desiredShardCount: 1 },
    expected: [
      { kind: 'delete-assignment', shard: 2, write: 'delete shards/2/assignment', guards: ['mod shards/2/assignment=71', 'absent shards/2/owner'] },
      { kind: 'delete-assignment', shard: 3, write: 'delete shards/3/assignment', guards: ['mod shards/3/assignment=72', 'absent shards/3/owner'] },
    ],
  },
  {
    name: 'owner without assignment → the owner is recorded as assignee',
    keys: [partition(1), member('a'), member('b'), owner(0, 'b')],
    options: { desiredShardCount: 1 },
    expected: [assignTo(0, 'b')],
  },
  {
    name: 'malformed values are ignored: unreadable assignment left alone, unreadable owner still blocks reassignment',
    keys: [partition(2), member('b'), raw(ks.assignment(0), 'not json'), active(1, 'a', 1, 80), raw(ks.owner(1), '{"member":""}')],
    options: { desiredShardCount: 2 },
    expected: [{ kind: 'handoff', shard: 1, write: { member: 'a', generation: 1, state: 'handoff', to: 'b' }, guards: ['mod shards/1/assignment=80'] }],
  },
];

describe('computeControllerActions', () => {
  it.each(cases)('$name', ({ keys, options, expected }) => {
    expect(run(keys, options)).toEqual(expected);
  });

  it('spreads unassigned shards evenly over eligible members', () => {
    const p = plan([partition(12), member('a'), member('b'), member('c')], { desiredShardCount: 12 });
    expect(p.actions.every((a) => a.kind === 'assign' && !a.rebalance)).toBe(true);
    const loads = new Map<string, number>();
    for (const a of p.actions.map(describe_)) {
      const m = (a.write as { member: string }).member;
      loads.set(m, (loads.get(m) ?? 0) + 1);
    }
    expect([...loads.entries()].sort()).toEqual([
      ['a', 4],
      ['b', 4],
      ['c', 4],
    ]);
    expect(p.eligible).toEqual(['a', 'b', 'c']);
    expect(p.shards).toEqual({ active: 0, handoff: 0, unassigned: 12 });
  });

  describe('rebalance when a member joins', () => {
    const owned = (n: number): Key[] => Array.from({ length: n }, (_, i) => [active(i, 'a', 1, 200 + i), owner(i, 'a')]).flat();
    const keys = [partition(6), member('a'), member('b'), ...owned(6)];

    it.each([1, 2, 3])('marks at most maxConcurrentHandoffs=%i handoffs to the newcomer, as a rebalance', (max) => {
      const actions = plan(keys, { desiredShardCount: 6, maxConcurrentHandoffs: max }).actions;
      expect(actions).toHaveLength(max);
      for (const a of actions) {
        expect(a.kind).toBe('handoff');
        expect(a.rebalance).toBe(true);
        expect(describe_(a).write).toMatchObject({ member: 'a', state: 'handoff', to: 'b' });
      }
    });

    it('starts no round while the rebalance interval has not passed', () => {
      expect(plan(keys, { desiredShardCount: 6, maxConcurrentHandoffs: 3, rebalanceAllowed: false }).actions).toEqual([]);
    });

    it('counts handoffs already in progress against the limit and never redirects them', () => {
      const inProgress = [partition(6), member('a'), member('b'), member('c'), handoff(0, 'a', 'b', 1, 300), owner(0, 'a'), ...owned(6).slice(2)];
      const full = plan(inProgress, { desiredShardCount: 6, maxConcurrentHandoffs: 1 });
      expect(full.handoffsInProgress).toBe(1);
      expect(full.actions).toEqual([]);
      const room = plan(inProgress, { desiredShardCount: 6, maxConcurrentHandoffs: 3 });
      expect(room.actions.length).toBeGreaterThan(0);
      expect(room.actions.length).toBeLessThanOrEqual(2);
      expect(room.actions.every((a) => a.kind === 'handoff' && a.shard !== 0)).toBe(true);
    });

    it('moves a shard whose owner has not acquired yet directly, without a handoff', () => {
      const actions = plan([partition(2), member('a'), member('b'), active(0, 'a', 1, 90), active(1, 'a', 1, 91)], { desiredShardCount: 2 }).actions.map(describe_);
      expect(actions).toHaveLength(1);
      expect(actions[0]).toMatchObject({ kind: 'reassign', write: { member: 'b', state: 'active', generation: 2 } });
      expect(actions[0]!.guards).toContain(`absent shards/${actions[0]!.shard}/owner`);
    });
  });

  it('reports malformed values and key names, and waits on an unreadable partition', () => {
    const p = plan([raw(ks.partition, '{"version":0}'), raw(`${ks.shardsPrefix}x/assignment`, '{}'), raw(ks.member('z'), 'nope'), member('a')]);
    expect(p.actions).toEqual([]);
    expect(p.waitingFor).toMatch(/partition/);
    expect(p.malformed.map((m) => rel(m.key))).toEqual(['members/z', 'partition', 'shards/x/assignment']);
  });

  it('is a no-op on a converged cluster', () => {
    const p = plan([partition(2), member('a'), member('b'), active(0, 'b'), owner(0, 'b'), active(1, 'a'), owner(1, 'a')], { desiredShardCount: 2 });
    expect(p.actions).toEqual([]);
    expect(p.shards).toEqual({ active: 2, handoff: 0, unassigned: 0 });
  });
});
