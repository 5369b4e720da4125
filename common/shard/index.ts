// common/shard — pure sharding functions: xxh64, jump consistent hash, and the shard of a
// (tenant, trace ID) pair, and the shard → member assignment planner (rendezvous tie-breaks).
export { xxh64, createXxh64For16, type U64 } from './xxh64.js';
export { jumpHash, jumpHashReference } from './jump.js';
export { createShardFunction, tenantSeed, type ShardFunction } from './shard.js';
export { planAssignments, applyMoves, rankMembers, rendezvousWeight, type Move, type MoveReason, type PlanInput } from './assign.js';
