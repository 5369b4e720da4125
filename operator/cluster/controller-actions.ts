// The shard controller's decisions, as a pure function of what the watch shows (ADR 0006 "Shard
// controller"): given the cluster state it returns the CAS transactions to send, each with a reason.
// Level-triggered: the function never knows what happened before, only what is; a write rejected
// because the state moved on is simply planned again from the next state.
import {
  AssignmentValue,
  del,
  encodeValue,
  ifAbsent,
  ifModRevision,
  PartitionValue,
  put,
  type Keyspace,
  type TxnRequest,
} from '../../common/coord/index.js';
import { planAssignments, type Move } from '../../common/shard/index.js';
import type { ClusterState, MalformedKey } from './cluster-state.js';

export interface ControllerActionOptions {
  readonly keyspace: Keyspace;
  /** Shard count the cluster should run with (flag or spec); written into `partition` when it differs. */
  readonly desiredShardCount: number;
  /** Most assignments in `handoff` at once, counting those already in progress. */
  readonly maxConcurrentHandoffs: number;
  /** False until `rebalanceIntervalMs` has passed since the last rebalance round: no moves made only for balance. */
  readonly rebalanceAllowed: boolean;
}

export type ControllerActionKind = 'create-partition' | 'update-partition' | 'assign' | 'reassign' | 'handoff' | 'cancel-handoff' | 'delete-assignment';

export interface ControllerAction {
  readonly kind: ControllerActionKind;
  /** The shard written; undefined for partition writes. */
  readonly shard: number | undefined;
  /** Why, in words, for the log. */
  readonly reason: string;
  /** True when the write moves a shard only to even out load (it starts a rebalance round). */
  readonly rebalance: boolean;
  readonly txn: TxnRequest;
}

export interface ShardSummary {
  readonly active: number;
  readonly handoff: number;
  /** Shards below the shard count without a readable assignment. */
  readonly unassigned: number;
}

export interface ControllerPlan {
  readonly actions: readonly ControllerAction[];
  /** Members eligible for new shards (ADR 0006 "Eligibility"), sorted. */
  readonly eligible: readonly string[];
  /** Assignments in `handoff` before these actions. */
  readonly handoffsInProgress: number;
  /** Over the stored shard count; zeros while there is no readable partition. */
  readonly shards: ShardSummary;
  readonly malformed: readonly MalformedKey[];
  /** Set when shard work waits for the partition key (absent, unreadable, or being rewritten). */
  readonly waitingFor: string | undefined;
}

export function computeControllerActions(state: ClusterState, options: ControllerActionOptions): ControllerPlan {
  const { keyspace, desiredShardCount } = options;
  const actions: ControllerAction[] = [];
  const empty = { active: 0, handoff: 0, unassigned: 0 };
  const waiting = (waitingFor: string): ControllerPlan => ({ actions, eligible: [], handoffsInProgress: 0, shards: empty, malformed: state.malformed, waitingFor });

  // Step 1: the partition map. Shard work waits for a readable partition equal to the desired one:
  // a new version makes every member ineligible until it re-registers with it, so planning against
  // the old map in the same pass would only produce writes the next pass undoes.
  const stored = state.partition;
  if (stored === undefined) {
    actions.push({
      kind: 'create-partition',
      shard: undefined,
      reason: `no partition map yet: creating version 1 with ${desiredShardCount} shards`,
      rebalance: false,
      txn: { compare: [ifAbsent(keyspace.partition)], success: [put(keyspace.partition, encodeValue(PartitionValue, { version: 1, shardCount: desiredShardCount }))] },
    });
    return waiting('the partition map to be created');
  }
  if (stored.value === undefined) return waiting('a readable partition map (its value is malformed; fix or delete the key)');
  const { version, shardCount } = stored.value;
  if (shardCount !== desiredShardCount) {
    actions.push({
      kind: 'update-partition',
      shard: undefined,
      reason: `shard count ${shardCount} → ${desiredShardCount}: partition version ${version} → ${version + 1}`,
      rebalance: false,
      txn: {
        compare: [ifModRevision(keyspace.partition, stored.modRevision)],
        success: [put(keyspace.partition, encodeValue(PartitionValue, { version: version + 1, shardCount: desiredShardCount }))],
      },
    });
    return waiting(`partition version ${version + 1} to be stored`);
  }

  // Step 2: plan over eligible members; a shard in handoff counts as its target's already.
  const eligible = [...state.members]
    .filter(([, m]) => m.value !== undefined && m.value.ready && m.value.partitionVersion === version)
    .map(([id]) => id)
    .sort();
  const isEligible = new Set(eligible);
  const current: (string | undefined)[] = [];
  const pinned: number[] = [];
  const summary = { active: 0, handoff: 0, unassigned: 0 };
  for (let n = 0; n < shardCount; n++) {
    const a = state.shards.get(n)?.assignment?.value;
    if (a === undefined) {
      summary.unassigned++;
    } else if (a.state === 'handoff') {
      summary.handoff++;
      current[n] = a.to ?? a.member;
      if (a.to !== undefined && isEligible.has(a.to)) pinned.push(n);
    } else {
      summary.active++;
      current[n] = a.member;
    }
  }
  const inFlight = summary.handoff;
  let handoffBudget = Math.max(0, options.maxConcurrentHandoffs - inFlight);
  const moves = new Map<number, Move>();
  for (const move of planAssignments({ shardCount, members: eligible, current, maxMoves: options.rebalanceAllowed ? handoffBudget : 0, pinned })) {
    moves.set(move.shard, move);
  }
  /** Where the plan wants shard n: its move's target, else its current assignee if still eligible. */
  const planned = (n: number): string | undefined => {
    const move = moves.get(n);
    if (move !== undefined) return move.to;
    const c = current[n];
    return c !== undefined && isEligible.has(c) ? c : undefined;
  };

  // Step 3: shards below the shard count.
  for (let n = 0; n < shardCount; n++) {
    const keys = state.shards.get(n);
    const A = keys?.assignment;
    const O = keys?.owner;
    const P = planned(n);
    const move = moves.get(n);
    const rebalance = move?.reason === 'rebalance';
    if (A === undefined) {
      // An owner without an assignment (someone deleted the assignment): record the owner as the
      // assignee rather than assign past it; the next passes hand it off if it should move.
      const member = O?.value?.member ?? P;
      if (member === undefined) continue;
      const reason = O?.value !== undefined ? `shard ${n} has an owner (${member}) but no assignment` : `shard ${n} is unassigned`;
      actions.push(assignmentWrite('assign', n, reason, false, [ifAbsent(keyspace.assignment(n))], keyspace, { member, generation: 1, state: 'active' }));
      continue;
    }
    const a = A.value;
    if (a === undefined) continue; // malformed: reported, left alone until someone fixes it
    const base = [ifModRevision(A.key, A.modRevision)];
    const reassignGuard = [...base, ifAbsent(keyspace.owner(n))];
    if (a.state === 'active') {
      if (P === undefined || P === a.member) continue;
      const why = rebalance ? `rebalance: moving from ${a.member} to ${P}` : `member ${a.member} is not eligible (gone, not ready, or on an older partition map)`;
      if (O === undefined) {
        actions.push(assignmentWrite('reassign', n, `${why}; no owner: reassigning to ${P}`, rebalance, reassignGuard, keyspace, { member: P, generation: a.generation + 1, state: 'active' }));
      } else if (handoffBudget > 0) {
        handoffBudget--;
        actions.push(
          assignmentWrite('handoff', n, `${why}; owner ${O.value?.member ?? '(unreadable)'} still holds it: handoff to ${P}`, rebalance, base, keyspace, {
            member: a.member,
            generation: a.generation,
            state: 'handoff',
            to: P,
          }),
        );
      }
      continue;
    }
    // In handoff.
    const to = a.to;
    const toEligible = to !== undefined && to !== a.member && isEligible.has(to);
    if (O === undefined) {
      if (P === undefined) continue;
      const why = toEligible ? `handoff from ${a.member} done (owner released)` : `handoff target ${to ?? '(none)'} is not eligible and the owner is gone`;
      const generation = P === a.member ? a.generation : a.generation + 1;
      actions.push(assignmentWrite('reassign', n, `${why}: reassigning to ${P}`, false, reassignGuard, keyspace, { member: P, generation, state: 'active' }));
    } else if (!toEligible) {
      actions.push(
        assignmentWrite('cancel-handoff', n, `handoff target ${to ?? '(none)'} is not eligible: ${a.member} keeps the shard`, false, base, keyspace, {
          member: a.member,
          generation: a.generation,
          state: 'active',
        }),
      );
    }
    // else: waiting for the owner to flush and release.
  }

  // Step 4: shards at or above the shard count (count decreased). Their owners release on their
  // own when they see the new map; the assignment goes only once no owner key is left.
  for (const n of [...state.shards.keys()].sort((x, y) => x - y)) {
    if (n < shardCount) continue;
    const { assignment: A, owner: O } = state.shards.get(n)!;
    if (A === undefined || O !== undefined) continue;
    actions.push({
      kind: 'delete-assignment',
      shard: n,
      reason: `shard ${n} is beyond the shard count ${shardCount} and has no owner`,
      rebalance: false,
      txn: { compare: [ifModRevision(A.key, A.modRevision), ifAbsent(keyspace.owner(n))], success: [del(A.key)] },
    });
  }

  return { actions, eligible, handoffsInProgress: inFlight, shards: summary, malformed: state.malformed, waitingFor: undefined };
}

function assignmentWrite(
  kind: ControllerActionKind,
  shard: number,
  reason: string,
  rebalance: boolean,
  compare: TxnRequest['compare'],
  keyspace: Keyspace,
  value: AssignmentValue,
): ControllerAction {
  return { kind, shard, reason, rebalance, txn: { compare, success: [put(keyspace.assignment(shard), encodeValue(AssignmentValue, value))] } };
}
