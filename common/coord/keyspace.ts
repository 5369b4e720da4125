// The cluster's key space in the coordinator (DESIGN.md §5 table), one place for key names and
// the zod schemas of their JSON values, shared by the shard controller, ingesters and queriers.
// Values are JSON so `etcdctl get` shows something a person can read while debugging.
import { z } from 'zod';

/** Key builders under `/skein/<namespace>/<cluster>/`. */
export function createKeyspace(namespace: string, cluster: string) {
  for (const [what, v] of [
    ['namespace', namespace],
    ['cluster', cluster],
  ] as const) {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(v)) throw new RangeError(`${what} ${JSON.stringify(v)} is not a DNS-1123 name`);
  }
  const root = `/skein/${namespace}/${cluster}/`;
  const shard = (n: number): string => {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`shard must be a non-negative integer, got ${n}`);
    return `${root}shards/${n}/`;
  };
  return {
    root,
    membersPrefix: `${root}members/`,
    member: (id: string) => `${root}members/${id}`,
    partition: `${root}partition`,
    policy: `${root}policy`,
    shardsPrefix: `${root}shards/`,
    assignment: (n: number) => `${shard(n)}assignment`,
    owner: (n: number) => `${shard(n)}owner`,
    blocksPrefix: (n: number) => `${root}blocks/${n}/`,
    block: (n: number, blockId: string) => `${root}blocks/${n}/${blockId}`,
    jobsPrefix: `${root}jobs/`,
    job: (id: string) => `${root}jobs/${id}`,
    /** Every shard's blocks (the manifest a querier watches). */
    blocksRoot: `${root}blocks/`,
    /**
     * A job's claim, put WITH the holder's lease so it vanishes when that lease does (JobClaimValue).
     * It sits under the job's own key so one range of `jobsPrefix` returns jobs and their claims at
     * one revision — what "abandon only when the claim is gone" is decided on. Job ids never hold '/'.
     */
    jobClaim: (id: string) => `${root}jobs/${id}/claim`,
    /** Flush intents: a block id whose objects the shard owner is writing (UploadValue), recorded before the first object. */
    uploadsRoot: `${root}uploads/`,
    uploadsPrefix: (n: number) => `${root}uploads/${n}/`,
    upload: (n: number, blockId: string) => `${root}uploads/${n}/${blockId}`,
    /** Block ids whose objects may exist but which can never become (or stay) a manifest block (OrphanValue). */
    orphansRoot: `${root}orphans/`,
    orphansPrefix: (n: number) => `${root}orphans/${n}/`,
    orphan: (n: number, blockId: string) => `${root}orphans/${n}/${blockId}`,
    controllerElection: `${root}controller/leader`,
    /** One key per member that may hold acknowledged spans on its own disk (no lease: it outlives a crash). */
    holdersPrefix: `${root}holders/`,
    holder: (id: string) => `${root}holders/${id}`,
  };
}
export type Keyspace = ReturnType<typeof createKeyspace>;

export const MemberValue = z.object({
  /** host:port of the member's internal gRPC service (forwarding, queries). */
  address: z.string().min(1),
  ports: z.record(z.string(), z.number().int().min(0).max(65535)).default({}),
  version: z.string(),
  ready: z.boolean(),
  /** Partition map version the member runs with (eligibility, DESIGN.md §5 Failover). */
  partitionVersion: z.number().int().min(0),
});
export type MemberValue = z.infer<typeof MemberValue>;

/**
 * `holders/<id>`: written by a member when it joins (before it can acknowledge anything), deleted
 * only when it left gracefully with every local shard drained. A holder that is not a live member
 * crashed or was killed with acknowledged spans on its disk: queriers mark answers partial until it
 * is back (or a person deletes the key because that disk is gone for good).
 */
export const HolderValue = z.object({
  address: z.string().min(1),
  /** When the member last joined (ms since the epoch), for people reading the key. */
  joinedAt: z.number().int().min(0),
});
export type HolderValue = z.infer<typeof HolderValue>;

export const PartitionValue = z.object({
  version: z.number().int().min(1),
  shardCount: z.number().int().min(1).max(4096),
});
export type PartitionValue = z.infer<typeof PartitionValue>;

/**
 * `policy`: what the controller derived from the spec for the storage lifecycle and tail sampling
 * (DESIGN.md §5, §7). `version` goes up by one on every change and never down, so a manifest
 * transition can compare the policy version it decided under (retention) in its txn.
 */
export const PolicyValue = z.object({
  version: z.number().int().min(1),
  retention: z.object({ tracesMs: z.number().int().min(1) }),
  compaction: z.object({ enabled: z.boolean(), windowMs: z.number().int().min(1), maxBlockBytes: z.number().int().min(1) }),
  sampling: z.object({
    keepPercent: z.number().int().min(0).max(100),
    keepErrors: z.boolean(),
    /** Keep traces with a span at least this long; absent = no latency rule. */
    keepSlowerThanMs: z.number().int().min(0).optional(),
  }),
  /**
   * The agents' head sampling and scrubbing, relayed by the ingesters to every agent (agents never
   * talk to etcd). Kept opaque here: the agent validates it with its own schema and keeps its
   * previous settings when it does not parse.
   */
  agent: z.object({ sampling: z.record(z.string(), z.unknown()), scrubbing: z.record(z.string(), z.unknown()) }).optional(),
});
export type PolicyValue = z.infer<typeof PolicyValue>;

export const AssignmentValue = z.object({
  member: z.string().min(1),
  /** Bumped on every change of `member`; lets readers order assignments. */
  generation: z.number().int().min(1),
  /** `handoff`: the current owner must flush and release; `to` is the next member. */
  state: z.enum(['active', 'handoff']),
  to: z.string().min(1).optional(),
});
export type AssignmentValue = z.infer<typeof AssignmentValue>;

export const OwnerValue = z.object({
  member: z.string().min(1),
  address: z.string().min(1),
});
export type OwnerValue = z.infer<typeof OwnerValue>;

// ---- the block manifest (DESIGN.md §7; state machine and transitions in ingester/lifecycle) ----

/**
 * Block and job ids are one object-store key segment ([A-Za-z0-9._-], STYLE.md storage keys), so
 * they can be used in object keys and etcd keys alike and never contain '/'.
 */
const ObjectId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 characters of [A-Za-z0-9._-], starting alphanumeric');
const TraceIdHex = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lowercase hex digits');
const EpochMs = z.number().int().min(0);
const Count = z.number().int().min(0);
const MemberId = z.string().min(1);

/**
 * What the block writer records about a block (the field names are the block writer's BlockMeta).
 * Loose on purpose: a field added by a newer writer survives a rewrite of the key by an older
 * controller (expire, plan and commit rewrite the value around `meta`, never rebuild it).
 */
export const BlockMeta = z
  .looseObject({
    blockId: ObjectId,
    tenant: z.string().min(1),
    shard: z.number().int().min(0),
    formatVersion: z.number().int().min(1),
    /** 0 for a block cut from a head; a compaction output is one level above its inputs' job level. */
    level: z.number().int().min(0),
    minTraceId: TraceIdHex,
    maxTraceId: TraceIdHex,
    minStartMs: EpochMs,
    /** Retention compares this: a block is expired only when ALL of it is older than the horizon. */
    maxEndMs: EpochMs,
    spanCount: Count,
    traceCount: Count,
    bytes: Count,
  })
  .refine((m) => m.minTraceId <= m.maxTraceId, { message: 'minTraceId > maxTraceId', path: ['minTraceId'] })
  .refine((m) => m.minStartMs <= m.maxEndMs, { message: 'minStartMs > maxEndMs', path: ['minStartMs'] });
export type BlockMeta = z.infer<typeof BlockMeta>;

export const BlockState = z.enum(['live', 'compacting', 'compacted', 'expired']);
export type BlockState = z.infer<typeof BlockState>;

/**
 * `blocks/<shard>/<blockId>`: one block of the manifest. Queriers read `live` and `compacting`
 * blocks only. `job` is set exactly when compacting; `compactedInto` exactly when compacted.
 * Times are wall-clock ms since the epoch (they are compared across processes, so never a
 * monotonic clock): `stateChangedAtMs` starts the garbage-collection grace period.
 */
export const BlockValue = z
  .object({
    state: BlockState,
    job: ObjectId.optional(),
    meta: BlockMeta,
    createdAtMs: EpochMs,
    stateChangedAtMs: EpochMs,
    /** Who committed the block with which fencing token (flush only; kept through later states). */
    flushedBy: z.object({ member: MemberId, token: z.number().int().min(1) }).optional(),
    compactedInto: ObjectId.optional(),
  })
  .refine((v) => (v.state === 'compacting') === (v.job !== undefined), { message: 'job is set exactly when the state is compacting', path: ['job'] })
  .refine((v) => (v.state === 'compacted') === (v.compactedInto !== undefined), { message: 'compactedInto is set exactly when the state is compacted', path: ['compactedInto'] });
export type BlockValue = z.infer<typeof BlockValue>;

/**
 * `jobs/<id>`: a compaction job, created by the lifecycle controller together with its inputs'
 * move to `compacting(id)`. `output` is the block id the holder must write: recorded before any
 * object of it exists, so an abandoned job's output is a known orphan. `claim` mirrors the claim
 * key for people and status (the claim KEY, bound to the lease, is what transitions check); a job is
 * claimed at most once — a lost claim is abandoned and planned again under a new output id.
 */
export const JobValue = z
  .object({
    shard: z.number().int().min(0),
    tenant: z.string().min(1),
    /** Level of the output block. */
    level: z.number().int().min(0),
    windowStartMs: EpochMs,
    windowEndMs: EpochMs,
    /** Block ids; at most etcd's 128 operations per txn (the lifecycle module bounds it tighter). */
    inputs: z.array(ObjectId).min(1).max(128),
    output: ObjectId,
    createdAtMs: EpochMs,
    claim: z.object({ member: MemberId, lease: z.string().regex(/^[1-9][0-9]*$/), claimedAtMs: EpochMs }).optional(),
  })
  .refine((j) => j.windowStartMs <= j.windowEndMs, { message: 'windowStartMs > windowEndMs', path: ['windowStartMs'] })
  .refine((j) => new Set(j.inputs).size === j.inputs.length, { message: 'duplicate input', path: ['inputs'] })
  .refine((j) => !j.inputs.includes(j.output), { message: 'output is one of the inputs', path: ['output'] });
export type JobValue = z.infer<typeof JobValue>;

/** `jobs/<id>/claim`: put with the holder's lease; its create revision is the holder's fencing token. */
export const JobClaimValue = z.object({ member: MemberId, claimedAtMs: EpochMs });
export type JobClaimValue = z.infer<typeof JobClaimValue>;

/**
 * `uploads/<shard>/<blockId>`: the shard owner is writing this block's objects. Created (fenced by
 * the owner token) BEFORE the first object, consumed by the flush txn, which requires it — so
 * every object of a flush has a record, and a flush whose intent was turned into an orphan can
 * never commit, however late it arrives.
 */
export const UploadValue = z.object({
  member: MemberId,
  /** The owner's fencing token when it began. */
  token: z.number().int().min(1),
  tenant: z.string().min(1),
  startedAtMs: EpochMs,
});
export type UploadValue = z.infer<typeof UploadValue>;

/**
 * `orphans/<shard>/<blockId>`: objects of this block id may exist but the id will never be a
 * manifest block. Created only while the block key is absent and, for a flush, in the same txn
 * that deletes its upload intent (which the flush requires); flush and compaction commit also
 * compare it absent. GC deletes the objects after the grace period, then this key.
 * `abandoned`: output of an abandoned job; `uncommitted`: an upload given up by its writer, or
 * stale (its owner lost the shard, or it took too long); `unreferenced`: found in the object store
 * with no key at all (a job holder that kept writing after its job was abandoned).
 */
export const OrphanValue = z.object({
  /** Objects are stored under `<tenant>/<shard>/<blockId>/`: GC needs it to find them. */
  tenant: z.string().min(1),
  reason: z.enum(['abandoned', 'uncommitted', 'unreferenced']),
  job: ObjectId.optional(),
  recordedAtMs: EpochMs,
});
export type OrphanValue = z.infer<typeof OrphanValue>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeValue<T>(schema: z.ZodType<T>, value: T): Uint8Array {
  return encoder.encode(JSON.stringify(schema.parse(value)));
}

/** Parses a stored value; a malformed one is reported, never thrown (a bad key must not stop a controller). */
export function decodeValue<T>(schema: z.ZodType<T>, bytes: Uint8Array): { ok: true; value: T } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  const r = schema.safeParse(json);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
}
