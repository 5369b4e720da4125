// Test helpers for the lifecycle controller (unit tests on the coordinator twin, integration tests
// on real etcd): flushed blocks seeded as a shard owner would commit them, and a compaction job
// holder reduced to its manifest steps (claim, then commit an output covering the inputs) — no
// objects are written, since the controller never reads them. Only test files import this.
import { BlockValue, encodeValue, put, type BlockMeta, type Coordinator, type Keyspace, type Lease } from '../../../common/coord/index.js';
import { createManifestStore, decodeBlock, type ManifestOutcome, type ManifestStore, type ObservedBlock, type ObservedJob } from '../../../ingester/lifecycle/index.js';

export const hex32 = (n: number): string => n.toString(16).padStart(32, '0');

/** A block writer's meta with plausible defaults. */
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

/** Puts a block key as given (no guards) and returns it as observed. */
export async function seedBlock(coord: Coordinator, ks: Keyspace, value: BlockValue): Promise<ObservedBlock> {
  const key = ks.block(value.meta.shard, value.meta.blockId);
  const r = await coord.txn({ compare: [], success: [put(key, encodeValue(BlockValue, value))] });
  if (r.kind !== 'committed') throw new Error(`seeding ${key}: ${r.kind}`);
  const kv = (await coord.get(key)).kv!;
  const d = decodeBlock(ks, kv);
  if (!d.ok) throw new Error(`${d.corrupt.key}: ${d.corrupt.error}`);
  return d.value;
}

export interface SeedBlock {
  readonly shard?: number;
  readonly id: string;
  readonly tenant?: string;
  readonly level?: number;
  readonly minStartMs: number;
  readonly maxEndMs: number;
  readonly bytes?: number;
  /** When it was flushed (createdAtMs, stateChangedAtMs). */
  readonly nowMs: number;
}

/** A live block as a flush leaves it. */
export function seedLiveBlock(coord: Coordinator, ks: Keyspace, b: SeedBlock): Promise<ObservedBlock> {
  const shard = b.shard ?? 0;
  const value: BlockValue = {
    state: 'live',
    meta: blockMeta(shard, b.id, { tenant: b.tenant ?? 't1', level: b.level ?? 0, minStartMs: b.minStartMs, maxEndMs: b.maxEndMs, bytes: b.bytes ?? 1024 }),
    createdAtMs: b.nowMs,
    stateChangedAtMs: b.nowMs,
    flushedBy: { member: 'ingester-0', token: 1 },
  };
  return seedBlock(coord, ks, value);
}

/** The output meta a merge of `inputs` would write for `job` (union of ranges, sum of counts). */
export function computeOutputMeta(job: ObservedJob, inputs: readonly ObservedBlock[]): BlockMeta {
  const metas = inputs.map((b) => b.value.meta);
  const sum = (f: (m: BlockMeta) => number): number => metas.reduce((n, m) => n + f(m), 0);
  return {
    ...blockMeta(job.value.shard, job.value.output),
    tenant: job.value.tenant,
    level: job.value.level,
    minTraceId: metas.map((m) => m.minTraceId).sort()[0]!,
    maxTraceId: metas.map((m) => m.maxTraceId).sort().at(-1)!,
    minStartMs: Math.min(...metas.map((m) => m.minStartMs)),
    maxEndMs: Math.max(...metas.map((m) => m.maxEndMs)),
    spanCount: sum((m) => m.spanCount),
    traceCount: sum((m) => m.traceCount),
    bytes: sum((m) => m.bytes),
  };
}

export interface FakeHolder {
  readonly store: ManifestStore;
  /** Claims the job with the lease; the outcome of the claim. */
  claim(jobId: string): Promise<ManifestOutcome>;
  /** Claims (unless already claimed by this holder) and commits the job's output. */
  run(jobId: string): Promise<ManifestOutcome>;
}

/** A job holder (an ingester's compaction worker) on `lease`, using the manifest store as one would. */
export function createFakeHolder(coord: Coordinator, ks: Keyspace, member: string, lease: Lease, wallClock: () => number): FakeHolder {
  const store = createManifestStore({ coord, keyspace: ks, wallClock });
  const claims = new Map<string, Extract<Awaited<ReturnType<ManifestStore['claim']>>, { kind: 'committed' }>['claim']>();
  const readJob = async (id: string): Promise<ObservedJob> => {
    const r = await store.readJob(id);
    if (!r.ok) throw new Error(`${r.corrupt.key}: ${r.corrupt.error}`);
    if (r.job === undefined) throw new Error(`job ${id} does not exist`);
    return r.job;
  };
  const claim = async (jobId: string): Promise<ManifestOutcome> => {
    const outcome = await store.claim({ job: await readJob(jobId), member, lease: lease.id });
    if (outcome.kind === 'committed') claims.set(jobId, outcome.claim);
    return outcome;
  };
  return {
    store,
    claim,
    async run(jobId) {
      if (!claims.has(jobId)) {
        const c = await claim(jobId);
        if (c.kind !== 'committed') return c;
      }
      const job = await readJob(jobId);
      const read = await store.readBlocks(job.value.shard, job.value.inputs);
      if (!read.ok) throw new Error(`${read.corrupt.key}: ${read.corrupt.error}`);
      return store.commit({ job, claim: claims.get(jobId)!, inputs: read.blocks, output: computeOutputMeta(job, read.blocks) });
    },
  };
}
