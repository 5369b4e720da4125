import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { planAssignments, applyMoves, rankMembers } from './index.js';

const loads = (assignment: readonly (string | undefined)[], members: readonly string[]): number[] =>
  members.map((m) => assignment.filter((a) => a === m).length);

const memberArb = fc.uniqueArray(fc.stringMatching(/^ingester-[0-9]{1,2}$/), { minLength: 1, maxLength: 8 });

describe('planAssignments', () => {
  it('assigns every shard and balances within one when unlimited', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 128 }), memberArb, (shards, members) => {
        const plan = planAssignments({ shardCount: shards, members, current: [], maxMoves: 1000 });
        const next = applyMoves([], shards, plan);
        expect(next.every((m) => m !== undefined && members.includes(m))).toBe(true);
        const l = loads(next, members);
        expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
        expect(plan.every((m) => m.reason === 'unassigned')).toBe(true);
      }),
    );
  });

  it('is a no-op on a balanced assignment of live members', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 128 }), memberArb, (shards, members) => {
        const first = applyMoves([], shards, planAssignments({ shardCount: shards, members, current: [], maxMoves: 1000 }));
        expect(planAssignments({ shardCount: shards, members, current: first, maxMoves: 1000 })).toEqual([]);
      }),
    );
  });

  it('when a member joins, moves only as many shards as balance needs, all to the new member', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 128 }), memberArb, (shards, members) => {
        const before = applyMoves([], shards, planAssignments({ shardCount: shards, members, current: [], maxMoves: 1000 }));
        const joined = [...members, 'newcomer'];
        const plan = planAssignments({ shardCount: shards, members: joined, current: before, maxMoves: 1000 });
        expect(plan.every((m) => m.to === 'newcomer' && m.reason === 'rebalance')).toBe(true);
        expect(plan.length).toBeLessThanOrEqual(Math.ceil(shards / joined.length));
        const l = loads(applyMoves(before, shards, plan), joined);
        expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('when a member leaves, moves exactly its shards (and rebalance within the budget)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 128 }), memberArb.filter((m) => m.length >= 2), fc.nat(), (shards, members, pick) => {
        const before = applyMoves([], shards, planAssignments({ shardCount: shards, members, current: [], maxMoves: 1000 }));
        const gone = members[pick % members.length]!;
        const rest = members.filter((m) => m !== gone);
        const plan = planAssignments({ shardCount: shards, members: rest, current: before, maxMoves: 0 });
        const orphaned = before.map((m, s) => (m === gone ? s : -1)).filter((s) => s >= 0);
        expect(plan.map((m) => m.shard).sort((a, b) => a - b)).toEqual(orphaned);
        expect(plan.every((m) => m.reason === 'member-gone' && m.from === gone && rest.includes(m.to))).toBe(true);
      }),
    );
  });

  it('respects the rebalance budget', () => {
    const current = Array.from({ length: 32 }, () => 'a');
    const plan = planAssignments({ shardCount: 32, members: ['a', 'b', 'c', 'd'], current, maxMoves: 3 });
    expect(plan).toHaveLength(3);
    expect(plan.every((m) => m.from === 'a' && m.reason === 'rebalance')).toBe(true);
  });

  it('never rebalances a pinned shard, but still reassigns it when its assignee is gone', () => {
    const current = ['a', 'a', 'a', 'a', 'a', 'a'];
    const plan = planAssignments({ shardCount: 6, members: ['a', 'b'], current, maxMoves: 10, pinned: [0, 1, 2] });
    expect(plan.map((m) => m.shard).sort((a, b) => a - b)).toEqual([3, 4, 5]);
    // Only pinned shards left on the overloaded member: the plan waits instead of moving them.
    expect(planAssignments({ shardCount: 4, members: ['a', 'b'], current: ['a', 'a', 'a', 'a'], maxMoves: 10, pinned: [0, 1, 2, 3] })).toEqual([]);
    const gone = planAssignments({ shardCount: 2, members: ['b'], current: ['a', 'b'], maxMoves: 0, pinned: [0] });
    expect(gone).toEqual([{ shard: 0, from: 'a', to: 'b', reason: 'member-gone' }]);
  });

  it('does nothing without members and is deterministic', () => {
    expect(planAssignments({ shardCount: 8, members: [], current: [], maxMoves: 5 })).toEqual([]);
    const a = planAssignments({ shardCount: 16, members: ['x', 'y', 'z'], current: [], maxMoves: 5 });
    const b = planAssignments({ shardCount: 16, members: ['z', 'x', 'y'], current: [], maxMoves: 5 });
    expect(a).toEqual(b);
    expect(rankMembers(3, ['x', 'y', 'z'])).toEqual(rankMembers(3, ['z', 'y', 'x']));
  });
});
