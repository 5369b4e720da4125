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
