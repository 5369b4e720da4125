// Fixtures shared by this module's tests (unit, property, integration): block metas and seeding of
// owner / block / job / policy keys. Kept out of index.ts; only test files import it.
import {
  BlockValue,
  JobClaimValue,
  JobValue,
  PolicyValue,
  encodeValue,
  ifAbsent,
  put,
  type BlockMeta,
  type Coordinator,
  type Keyspace,
  type LeaseId,
} from '../../common/coord/index.js';
import { decodeBlock, decodeJob, decodeOrphan, type ObservedBlock, type ObservedJob, type ObservedOrphan } from './manifest.js';

export const hex32 = (n: number): string => n.toString(16).padStart(32, '0');

export function blockMeta(shard: number, blockId: string, over: Partial<BlockMeta> = {}): BlockMeta {
  return {
    blockId,
    tenant: 't1',
    shard,
    formatVersion: 1,
    level: 0,
    minTraceId: hex32(1),
    maxTraceId: hex32(0xff),
    minStartMs: 1_000,
    maxEndMs: 2_000,
    spanCount: 10,
    traceCount: 2,
    bytes: 1024,
    ...over,
  };
}

export function policyValue(version: number, retentionMs: number): PolicyValue {
  return {
    version,
    retention: { tracesMs: retentionMs },
    compaction: { enabled: true, windowMs: 3_600_000, maxBlockBytes: 1 << 30 },
    sampling: { keepPercent: 100, keepErrors: true },
  };
}

async function mustCommit(coord: Coordinator, what: string, request: Parameters<Coordinator['txn']>[0]): Promise<number> {
  const r = await coord.txn(request);
  if (r.kind !== 'committed') throw new Error(`seeding ${what}: ${r.kind}`);
  return r.revision;
}

/** Creates `shards/<n>/owner` (bound to `lease` when given) and returns the fencing token. */
export async function seedOwner(coord: Coordinator, ks: Keyspace, shard: number, member: string, lease?: LeaseId): Promise<number> {
  return mustCommit(coord, 'owner', { compare: [ifAbsent(ks.owner(shard))], success: [put(ks.owner(shard), JSON.stringify({ member, address: `${member}:9095` }), lease)] });
}

export async function seedBlock(coord: Coordinator, ks: Keyspace, value: BlockValue): Promise<ObservedBlock> {
  const key = ks.block(value.meta.shard, value.meta.blockId);
  await mustCommit(coord, 'block', { compare: [], success: [put(key, encodeValue(BlockValue, value))] });
  return observeBlock(coord, ks, value.meta.shard, value.meta.blockId) as Promise<ObservedBlock>;
}

export async function seedJob(coord: Coordinator, ks: Keyspace, id: string, value: JobValue, claim?: { member: string; lease: LeaseId; claimedAtMs: number }): Promise<ObservedJob> {
  await mustCommit(coord, 'job', {
    compare: [],
    success: [
      put(ks.job(id), encodeValue(JobValue, value)),
      ...(claim === undefined ? [] : [put(ks.jobClaim(id), encodeValue(JobClaimValue, { member: claim.member, claimedAtMs: claim.claimedAtMs }), claim.lease)]),
    ],
  });
  return (await observeJob(coord, ks, id))!;
}

export async function seedPolicy(coord: Coordinator, ks: Keyspace, value: PolicyValue): Promise<void> {
  await mustCommit(coord, 'policy', { compare: [], success: [put(ks.policy, encodeValue(PolicyValue, value))] });
}

export async function observeBlock(coord: Coordinator, ks: Keyspace, shard: number, blockId: string): Promise<ObservedBlock | undefined> {
  const kv = (await coord.get(ks.block(shard, blockId))).kv;
  if (kv === undefined) return undefined;
  const d = decodeBlock(ks, kv);
  if (!d.ok) throw new Error(`${d.corrupt.key}: ${d.corrupt.error}`);
  return d.value;
}

export async function observeJob(coord: Coordinator, ks: Keyspace, id: string): Promise<ObservedJob | undefined> {
  const kv = (await coord.get(ks.job(id))).kv;
  if (kv === undefined) return undefined;
  const d = decodeJob(ks, kv, (await coord.get(ks.jobClaim(id))).kv);
  if (!d.ok) throw new Error(`${d.corrupt.key}: ${d.corrupt.error}`);
  return d.value;
}

export async function observeOrphan(coord: Coordinator, ks: Keyspace, shard: number, blockId: string): Promise<ObservedOrphan | undefined> {
  const kv = (await coord.get(ks.orphan(shard, blockId))).kv;
  if (kv === undefined) return undefined;
  const d = decodeOrphan(ks, kv);
  if (!d.ok) throw new Error(`${d.corrupt.key}: ${d.corrupt.error}`);
  return d.value;
}
