// The ownership protocol of ADR 0006 as one pure, level-triggered decision per shard: given what the
// watch shows and what this member holds, the next step to take. The caller performs it, then asks
// again; "none" ends the round until something changes. No I/O here, so every rule is unit-testable.
import type { LeaseId } from '../../common/coord/index.js';
import type { AssignmentView, OwnerView } from './view.js';

export type ReleaseReason = 'handoff' | 'lost' | 'partition' | 'shutdown';

export type ShardAction =
  | { readonly kind: 'none' }
  /** Create the owner key: txn [ifModRevision(A), ifAbsent(O)] → [put(O, lease), get(O)]. */
  | { readonly kind: 'acquire'; readonly assignmentModRevision: number }
  /** An owner key of ours on our current lease that we do not hold yet (an acquire whose outcome was unknown): take it. */
  | { readonly kind: 'adopt'; readonly token: number }
  /** Such a key, but the shard is not ours to hold (any more): delete it, fenced by its create revision. */
  | { readonly kind: 'discard'; readonly token: number }
  /** Stop acknowledging, let in-flight appends finish, then delete the owner key fenced by the token. */
  | { readonly kind: 'release'; readonly token: number; readonly reason: Exclude<ReleaseReason, 'lost'> }
  /** The shard is gone from under us: the lease ended, or the owner key was deleted or replaced. */
  | { readonly kind: 'lost'; readonly token: number; readonly cause: 'lease' | 'owner' };

export interface ShardFacts {
  readonly shard: number;
  readonly memberId: string;
  /** Lease of the registered session while it is valid; undefined while there is none (expired, re-registering). */
  readonly leaseId: LeaseId | undefined;
  /** False after releaseAll/stop: take nothing new, give back what is held. */
  readonly accepting: boolean;
  /** From the partition key; undefined while it is absent. */
  readonly shardCount: number | undefined;
  readonly assignment: AssignmentView | undefined;
  readonly owner: OwnerView | undefined;
  /** What this member holds for the shard (acquired, onAcquire done or running). */
  readonly held: { readonly token: number; readonly leaseId: LeaseId } | undefined;
  /** The view already shows this member's last committed write for the shard (until then, it is older than what we know). */
  readonly caughtUp: boolean;
  /** A txn was rejected or its outcome unknown: wait until the view changes (or a retry timer fires). */
  readonly blocked: boolean;
  /** onAcquire failed recently: do not take the shard again before the back-off ends. */
  readonly backingOff: boolean;
}

const NONE: ShardAction = { kind: 'none' };

export function decideShard(f: ShardFacts): ShardAction {
  const a = f.assignment?.value;
  const inRange = f.shardCount !== undefined && f.shard < f.shardCount;

  if (f.held !== undefined) {
    // Past the lease deadline every shard is lost at once, whatever the view says.
    if (f.leaseId === undefined || f.held.leaseId !== f.leaseId) return { kind: 'lost', token: f.held.token, cause: 'lease' };
    if (!f.caughtUp) return NONE;
    if (f.owner === undefined || f.owner.createRevision !== f.held.token) return { kind: 'lost', token: f.held.token, cause: 'owner' };
    if (!f.accepting) return { kind: 'release', token: f.held.token, reason: 'shutdown' };
    if (f.shardCount !== undefined && !inRange) return { kind: 'release', token: f.held.token, reason: 'partition' };
    // Handoff is the controller's way to move an owned shard. An assignment naming another member
    // while we own the shard cannot come from the controller (it never reassigns while an owner key
    // exists), but if someone wrote one, giving the shard back is the safe reading of it.
    if (f.assignment !== undefined && (a === undefined || a.member !== f.memberId || a.state === 'handoff')) {
      return { kind: 'release', token: f.held.token, reason: 'handoff' };
    }
    return NONE;
  }

  if (f.leaseId === undefined || !f.caughtUp || f.blocked) return NONE;
  const wanted = f.accepting && inRange && a !== undefined && a.member === f.memberId && a.state === 'active';
  const o = f.owner;
  if (o !== undefined) {
    // Only a key bound to our CURRENT lease is ours: one bound to an earlier lease of this member id
    // belongs to an incarnation that may still be acknowledging writes; it must lapse first.
    if (o.value?.member !== f.memberId || o.lease !== f.leaseId) return NONE;
    if (wanted && !f.backingOff) return { kind: 'adopt', token: o.createRevision };
    if (wanted) return NONE;
    return { kind: 'discard', token: o.createRevision };
  }
  if (wanted && !f.backingOff) return { kind: 'acquire', assignmentModRevision: f.assignment!.modRevision };
  return NONE;
}
