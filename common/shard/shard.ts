// shard = jumpHash(hash64(tenant, traceId), shardCount)   (DESIGN.md §4)
//
// hash64(tenant, traceId) = xxh64(traceId, seed = xxh64(utf8(tenant), 0)). It is a protocol constant:
// every ingester and querier must compute the same shard for the same trace, so changing it is a
// breaking change of the cluster protocol. IDs are hashed (never used directly) so that callers
// sending non-random IDs still spread evenly.
import { createXxh64For16, xxh64, type U64 } from './xxh64.js';
import { jumpHash } from './jump.js';

export interface ShardFunction {
  /** Shard of the 16-byte trace ID at `bytes[offset..offset+16)` for `tenant`. */
  shardOf(tenant: string, bytes: Uint8Array, offset: number, shardCount: number): number;
  /** The 64-bit hash (exposed for tests and diagnostics). */
  hash64(tenant: string, bytes: Uint8Array, offset: number): bigint;
}

const encoder = new TextEncoder();

export function tenantSeed(tenant: string): U64 {
  const h = xxh64(encoder.encode(tenant), 0n);
  return { hi: Number(h >> 32n), lo: Number(h & 0xffffffffn) };
}

/** Creates a shard function with its own caches (tenant seeds) and scratch space. */
export function createShardFunction(): ShardFunction {
  const hash16 = createXxh64For16();
  const seeds = new Map<string, U64>();
  const out: U64 = { hi: 0, lo: 0 };
  const seedOf = (tenant: string): U64 => {
    let s = seeds.get(tenant);
    if (s === undefined) {
      s = tenantSeed(tenant);
      // Tenants are few; the bound only protects against a flood of bogus tenant names.
      if (seeds.size > 10_000) seeds.clear();
      seeds.set(tenant, s);
    }
    return s;
  };
  return {
    shardOf(tenant, bytes, offset, shardCount) {
      hash16(seedOf(tenant), bytes, offset, out);
      return jumpHash(out.hi, out.lo, shardCount);
    },
    hash64(tenant, bytes, offset) {
      hash16(seedOf(tenant), bytes, offset, out);
      return (BigInt(out.hi) << 32n) | BigInt(out.lo);
    },
  };
}
