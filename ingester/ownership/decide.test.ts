import { describe, expect, it } from 'vitest';
import { decideShard, type ShardAction, type ShardFacts } from './decide.js';
import type { AssignmentView, OwnerView } from './view.js';

const ME = 'ing-0';
const LEASE = '101';

const assigned = (member: string, state: 'active' | 'handoff' = 'active', modRevision = 5): AssignmentView => ({
  value: { member, generation: 1, state, ...(state === 'handoff' ? { to: 'ing-9' } : {}) },
  modRevision,
});
const owned = (member: string, createRevision: number, lease: string | undefined): OwnerView => ({
  value: { member, address: `${member}:9095` },
  createRevision,
  modRevision: createRevision,
  lease,
});

const base: ShardFacts = {
  shard: 1,
  memberId: ME,
  leaseId: LEASE,
  accepting: true,
  shardCount: 4,
  assignment: undefined,
  owner: undefined,
  held: undefined,
  caughtUp: true,
  blocked: false,
  backingOff: false,
};

const held = { token: 7, leaseId: LEASE };

const cases: [string, Partial<ShardFacts>, ShardAction][] = [
  // not held
  ['assigned to me, no owner → acquire, guarded by the assignment revision', { assignment: assigned(ME) }, { kind: 'acquire', assignmentModRevision: 5 }],
  ['assigned to another → nothing', { assignment: assigned('ing-1') }, { kind: 'none' }],
  ['assigned to me in handoff, no owner → nothing (the controller reassigns)', { assignment: assigned(ME, 'handoff') }, { kind: 'none' }],
  ['not assigned → nothing', {}, { kind: 'none' }],
  ['shard beyond the shard count → nothing', { shard: 4, assignment: assigned(ME) }, { kind: 'none' }],
  ['no partition yet → nothing', { shardCount: undefined, assignment: assigned(ME) }, { kind: 'none' }],
  ['no valid lease → nothing', { leaseId: undefined, assignment: assigned(ME) }, { kind: 'none' }],
  ['not accepting (shutting down) → nothing', { accepting: false, assignment: assigned(ME) }, { kind: 'none' }],
  ['view behind our last write → nothing', { caughtUp: false, assignment: assigned(ME) }, { kind: 'none' }],
  ['blocked after a rejected txn → nothing', { blocked: true, assignment: assigned(ME) }, { kind: 'none' }],
  ['backing off after onAcquire failed → nothing', { backingOff: true, assignment: assigned(ME) }, { kind: 'none' }],
  ['owner is another member → nothing', { assignment: assigned(ME), owner: owned('ing-1', 9, '55') }, { kind: 'none' }],
  ['owner is me on an EARLIER lease → nothing (wait for it to lapse)', { assignment: assigned(ME), owner: owned(ME, 9, '55') }, { kind: 'none' }],
  ['owner is me on my current lease, assigned → adopt its token', { assignment: assigned(ME), owner: owned(ME, 9, LEASE) }, { kind: 'adopt', token: 9 }],
  ['owner is me on my current lease, backing off → nothing', { assignment: assigned(ME), owner: owned(ME, 9, LEASE), backingOff: true }, { kind: 'none' }],
  ['owner is me on my current lease, not assigned to me → discard', { assignment: assigned('ing-1'), owner: owned(ME, 9, LEASE) }, { kind: 'discard', token: 9 }],
  ['owner is me on my current lease, shutting down → discard', { accepting: false, assignment: assigned(ME), owner: owned(ME, 9, LEASE) }, { kind: 'discard', token: 9 }],
  ['malformed owner value → nothing', { assignment: assigned(ME), owner: { ...owned(ME, 9, LEASE), value: undefined } }, { kind: 'none' }],
  // held
  ['held, all in order → nothing', { held, assignment: assigned(ME), owner: owned(ME, 7, LEASE) }, { kind: 'none' }],
  ['held, lease invalid → lost at once, even with a stale view', { held, leaseId: undefined, caughtUp: false, assignment: assigned(ME), owner: owned(ME, 7, LEASE) }, { kind: 'lost', token: 7, cause: 'lease' }],
  ['held under an older lease → lost', { held: { token: 7, leaseId: '99' }, assignment: assigned(ME), owner: owned(ME, 7, '99') }, { kind: 'lost', token: 7, cause: 'lease' }],
  ['held, owner key gone → lost', { held, assignment: assigned(ME) }, { kind: 'lost', token: 7, cause: 'owner' }],
  ['held, owner key replaced → lost', { held, assignment: assigned(ME), owner: owned(ME, 12, LEASE) }, { kind: 'lost', token: 7, cause: 'owner' }],
  ['held, view behind our acquire → nothing (not lost)', { held, caughtUp: false, assignment: assigned(ME) }, { kind: 'none' }],
  ['held, handoff → release', { held, assignment: assigned(ME, 'handoff'), owner: owned(ME, 7, LEASE) }, { kind: 'release', token: 7, reason: 'handoff' }],
  ['held, assignment names another member → release as handoff', { held, assignment: assigned('ing-1'), owner: owned(ME, 7, LEASE) }, { kind: 'release', token: 7, reason: 'handoff' }],
  ['held, assignment deleted → keep (the controller recreates it)', { held, owner: owned(ME, 7, LEASE) }, { kind: 'none' }],
  ['held, shard count decreased below it → release', { held, shardCount: 1, assignment: assigned(ME), owner: owned(ME, 7, LEASE) }, { kind: 'release', token: 7, reason: 'partition' }],
  ['held, shutting down → release', { held, accepting: false, assignment: assigned(ME), owner: owned(ME, 7, LEASE) }, { kind: 'release', token: 7, reason: 'shutdown' }],
  ['held, blocked flag does not hold back a release', { held, blocked: true, assignment: assigned(ME, 'handoff'), owner: owned(ME, 7, LEASE) }, { kind: 'release', token: 7, reason: 'handoff' }],
];

describe('decideShard', () => {
  it.each(cases)('%s', (_name, facts, expected) => {
    expect(decideShard({ ...base, ...facts })).toEqual(expected);
  });
});
