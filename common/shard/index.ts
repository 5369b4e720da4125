// common/shard — pure sharding functions: xxh64, jump consistent hash, and the shard of a
// (tenant, trace ID) pair. Later: rendezvous ranking and the partition map.
export { xxh64, createXxh64For16, type U64 } from './xxh64.js';
export { jumpHash, jumpHashReference } from './jump.js';
export { createShardFunction, tenantSeed, type ShardFunction } from './shard.js';
