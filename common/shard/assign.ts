// Shard → member assignment planning for the shard controller (DESIGN.md §5 "Assign"): pure, so the
// controller can be tested without a coordinator. Rules:
// - a shard with no live assignee (never assigned, or its member left/died) is always assigned;
// - otherwise a shard moves only to fix an imbalance (max load − min load > 1), at most `maxMoves`
//   such moves per plan (rate limit), each from the most to the least loaded member;
// - choices between equals use rendezvous (highest-random-weight) hashing, so plans are
//   deterministic and stable when members come and go.
import { xxh64 } from './xxh64.js';

export type MoveReason = 'unassigned' | 'member-gone' | 'rebalance';

export interface Move {
  readonly shard: number;
  /** Previous assignee, if any (gone or being rebalanced away from). */
  readonly from: string | undefined;
  readonly to: string;
  readonly reason: MoveReason;
}

export interface PlanInput {
  readonly shardCount: number;
  /** Members eligible to own shards (alive, ready, on the current partition map). */
  readonly members: readonly string[];
  /** Current assignee per shard (index = shard); undefined when unassigned. */
  readonly current: readonly (string | undefined)[];
  /** Most rebalance moves in this plan (moves of shards whose assignee is still live). */
  readonly maxMoves: number;
  /**
   * Shards the rebalance step must leave where they are (the controller pins shards already in a
   * handoff to their live target, so one plan never redirects a move that is under way). They still
   * count towards their assignee's load and are still reassigned when that assignee is not live.
   */
  readonly pinned?: readonly number[];
}

const encoder = new TextEncoder();

/** Rendezvous weight of (shard, member): xxh64 of "member/shard". Higher wins. */
export function rendezvousWeight(shard: number, member: string): bigint {
  return xxh64(encoder.encode(`${member}/${shard}`), 0n);
}

/** Members ordered by rendezvous preference for `shard` (most preferred first). */
export function rankMembers(shard: number, members: readonly string[]): string[] {
  return [...members].sort((a, b) => {
    const wa = rendezvousWeight(shard, a);
    const wb = rendezvousWeight(shard, b);
    return wa === wb ? (a < b ? -1 : 1) : wa > wb ? -1 : 1;
  });
}

/** Plans the moves; applying them in order yields the new assignment. */
export function planAssignments(input: PlanInput): Move[] {
  const members = [...new Set(input.members)].sort();
  const moves: Move[] = [];
  if (members.length === 0) return moves;
  const live = new Set(members);
  const owned = new Map<string, Set<number>>(members.map((m) => [m, new Set<number>()]));
  const assignee: (string | undefined)[] = [];
  for (let shard = 0; shard < input.shardCount; shard++) {
    const m = input.current[shard];
    assignee[shard] = m !== undefined && live.has(m) ? m : undefined;
    if (assignee[shard] !== undefined) owned.get(m!)!.add(shard);
  }
  const load = (m: string): number => owned.get(m)!.size;

  // 1. Every shard without a live assignee goes to the least loaded member (rendezvous breaks ties).
  for (let shard = 0; shard < input.shardCount; shard++) {
    if (assignee[shard] !== undefined) continue;
    const min = Math.min(...members.map(load));
    const to = rankMembers(
      shard,
      members.filter((m) => load(m) === min),
    )[0]!;
    const from = input.current[shard];
    moves.push({ shard, from, to, reason: from === undefined ? 'unassigned' : 'member-gone' });
    assignee[shard] = to;
    owned.get(to)!.add(shard);
  }

  // 2. Rebalance, rate-limited.
  const pinned = new Set(input.pinned ?? []);
  let budget = Math.max(0, Math.floor(input.maxMoves));
  while (budget > 0) {
    const byLoad = [...members].sort((a, b) => load(a) - load(b) || (a < b ? -1 : 1));
    const to = byLoad[0]!;
    const from = byLoad[byLoad.length - 1]!;
    if (load(from) - load(to) <= 1) break;
    // The shard of `from` that prefers `to` the most.
    let best = -1;
    let bestWeight = -1n;
    for (const shard of owned.get(from)!) {
      if (pinned.has(shard)) continue;
      const w = rendezvousWeight(shard, to);
      if (w > bestWeight || (w === bestWeight && shard < best)) {
        best = shard;
        bestWeight = w;
      }
    }
    // Everything the most loaded member holds is pinned: wait for its handoffs to finish.
    if (best < 0) break;
    owned.get(from)!.delete(best);
    owned.get(to)!.add(best);
    assignee[best] = to;
    moves.push({ shard: best, from, to, reason: 'rebalance' });
    budget--;
  }
  return moves;
}

/** Applies moves to an assignment (pure helper for tests and the controller). */
export function applyMoves(current: readonly (string | undefined)[], shardCount: number, moves: readonly Move[]): (string | undefined)[] {
  const next = Array.from({ length: shardCount }, (_, i) => current[i]);
  for (const m of moves) next[m.shard] = m.to;
  return next;
}
