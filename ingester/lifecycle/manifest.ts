// The block manifest's state machine (DESIGN.md §7), pure: decoding what was read from the
// coordinator into observations, the allowed transitions, one builder per transition returning the
// single guarded txn that performs it, and the evaluation of guards and effects that lets the
// executor (manifest-store.ts) explain a rejection and resolve an unknown outcome. No I/O here.
//
// Every builder returns a ManifestTxn whose
//   - guards are the txn's compares, each tagged with what its failure means (fenced / conflict);
//   - failure branch reads every guarded key, so a rejection is explained from the state the txn
//     was evaluated against (atomically), not from a later read;
//   - recognise() identifies the txn's own effect in a later read. Each transition creates or
//     changes a key that one of its own guards compares (so it can apply at most once, and re-sending
//     it is safe) and leaves a mark that names it: a block id or job id used once, the writer's
//     token, the holder's lease, or the timestamp it wrote. That is what makes an unknown outcome
//     resolvable by re-reading.
import {
  BlockMeta,
  BlockValue,
  JobClaimValue,
  JobValue,
  OrphanValue,
  PolicyValue,
  UploadValue,
  decodeValue,
  del,
  encodeValue,
  get,
  ifAbsent,
  ifCreateRevision,
  ifModRevision,
  put,
  toBytes,
  type BlockState,
  type Compare,
  type KeyValue,
  type Keyspace,
  type LeaseId,
  type Op,
  type TxnRequest,
} from '../../common/coord/index.js';

/** etcd's default --max-txn-ops: it refuses a txn whose compares, success ops or failure ops exceed it. */
export const MAX_TXN_OPS = 128;

/**
 * Most inputs one compaction job may have. etcd counts max(#compares, #success ops, #failure ops)
 * of a txn against MAX_TXN_OPS. The largest transition is commit, for k inputs:
 *   compares: claim token + job unchanged + output absent + output not orphaned + k inputs = k + 4
 *   success:  output put + k input puts + job delete + claim delete                     = k + 3
 *   failure:  one get per compared key (the output is one of them)                      = k + 4
 * so k + 4 ≤ 128 → k ≤ 124. (plan needs k + 3: its failure branch also reads the output's block
 * and orphan keys; abandon needs k + 3.)
 */
export const MAX_JOB_INPUTS = MAX_TXN_OPS - 4;

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

// ------------------------------------------------------------------------------ state machine

export type Transition = 'begin-upload' | 'flush' | 'orphan-upload' | 'plan' | 'claim' | 'release' | 'commit' | 'abandon' | 'expire' | 'collect' | 'record-orphan' | 'collect-orphan';

/** A block key's lifecycle; `absent` before the key exists, `deleted` after garbage collection. */
export type BlockPhase = BlockState | 'absent' | 'deleted';

export interface BlockTransitionRule {
  readonly from: BlockPhase;
  readonly to: BlockPhase;
  readonly by: Transition;
  readonly actor: 'shard owner' | 'lifecycle controller' | 'job holder';
}

/** Every change a block key may go through; anything else is a bug. */
export const BLOCK_TRANSITIONS: readonly BlockTransitionRule[] = [
  { from: 'absent', to: 'live', by: 'flush', actor: 'shard owner' },
  { from: 'absent', to: 'live', by: 'commit', actor: 'job holder' }, // the job's output
  { from: 'live', to: 'compacting', by: 'plan', actor: 'lifecycle controller' },
  { from: 'compacting', to: 'compacted', by: 'commit', actor: 'job holder' },
  { from: 'compacting', to: 'live', by: 'abandon', actor: 'lifecycle controller' },
  { from: 'live', to: 'expired', by: 'expire', actor: 'lifecycle controller' },
  { from: 'compacted', to: 'deleted', by: 'collect', actor: 'lifecycle controller' },
  { from: 'expired', to: 'deleted', by: 'collect', actor: 'lifecycle controller' },
];

export function isAllowedTransition(from: BlockPhase, to: BlockPhase, by?: Transition): boolean {
  return BLOCK_TRANSITIONS.some((r) => r.from === from && r.to === to && (by === undefined || r.by === by));
}

/** What queriers read: live blocks, and compacting ones (their job has not committed, so they are still authoritative). */
export function isVisible(state: BlockState): boolean {
  return state === 'live' || state === 'compacting';
}

export function visibleBlocks<B extends { readonly value: BlockValue }>(manifest: Iterable<B>): B[] {
  const out: B[] = [];
  for (const b of manifest) if (isVisible(b.value.state)) out.push(b);
  return out;
}

// ------------------------------------------------------------------------------ observations

export interface ObservedBlock {
  readonly key: string;
  readonly shard: number;
  readonly blockId: string;
  readonly value: BlockValue;
  readonly createRevision: number;
  readonly modRevision: number;
}

export interface ObservedClaim {
  readonly key: string;
  readonly member: string;
  readonly lease: LeaseId | undefined;
  readonly claimedAtMs: number;
  /** The claim key's create revision: the job holder's fencing token. */
  readonly token: number;
}

export interface ObservedJob {
  readonly key: string;
  readonly id: string;
  readonly value: JobValue;
  readonly createRevision: number;
  readonly modRevision: number;
  /** The claim KEY (bound to the holder's lease); undefined when absent, whatever `value.claim` says. */
  readonly claim: ObservedClaim | undefined;
}

export interface ObservedOrphan {
  readonly key: string;
  readonly shard: number;
  readonly blockId: string;
  readonly value: OrphanValue;
  readonly createRevision: number;
  readonly modRevision: number;
}

export interface ObservedUpload {
  readonly key: string;
  readonly shard: number;
  readonly blockId: string;
  readonly value: UploadValue;
  /** The flush compares this: the writer's handle on its own intent. */
  readonly createRevision: number;
  readonly modRevision: number;
}

export interface ObservedPolicy {
  readonly key: string;
  readonly value: PolicyValue;
  readonly modRevision: number;
}

/** A claim this process holds, as the claim txn left it. */
export interface HeldClaim {
  readonly jobId: string;
  readonly member: string;
  readonly lease: LeaseId;
  readonly token: number;
}

/** A key whose value does not parse: reported, never treated as absent. */
export interface CorruptKey {
  readonly key: string;
  readonly error: string;
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly corrupt: CorruptKey };

function corrupt<T>(key: string, error: string): Decoded<T> {
  return { ok: false, corrupt: { key, error } };
}

type KeyKind =
  | { kind: 'block'; shard: number; blockId: string }
  | { kind: 'job'; id: string }
  | { kind: 'claim'; id: string }
  | { kind: 'orphan'; shard: number; blockId: string }
  | { kind: 'upload'; shard: number; blockId: string }
  | { kind: 'policy' }
  | { kind: 'other' };

/** What a key under the cluster root is, by its name alone. */
export function parseManifestKey(ks: Keyspace, key: string): KeyKind {
  if (!key.startsWith(ks.root)) return { kind: 'other' };
  const rest = key.slice(ks.root.length);
  if (rest === 'policy') return { kind: 'policy' };
  const parts = rest.split('/');
  const shardOf = (s: string | undefined): number | undefined => (s !== undefined && /^(0|[1-9][0-9]{0,8})$/.test(s) ? Number(s) : undefined);
  if (parts[0] === 'blocks' && parts.length === 3) {
    const shard = shardOf(parts[1]);
    if (shard !== undefined && ID.test(parts[2]!)) return { kind: 'block', shard, blockId: parts[2]! };
  }
  if ((parts[0] === 'orphans' || parts[0] === 'uploads') && parts.length === 3) {
    const shard = shardOf(parts[1]);
    if (shard !== undefined && ID.test(parts[2]!)) return { kind: parts[0] === 'orphans' ? 'orphan' : 'upload', shard, blockId: parts[2]! };
  }
  if (parts[0] === 'jobs' && ID.test(parts[1] ?? '')) {
    if (parts.length === 2) return { kind: 'job', id: parts[1]! };
    if (parts.length === 3 && parts[2] === 'claim') return { kind: 'claim', id: parts[1]! };
  }
  return { kind: 'other' };
}

export function decodeBlock(ks: Keyspace, kv: KeyValue): Decoded<ObservedBlock> {
  const k = parseManifestKey(ks, kv.key);
  if (k.kind !== 'block') return corrupt(kv.key, 'not a block key');
  const v = decodeValue(BlockValue, kv.value);
  if (!v.ok) return corrupt(kv.key, v.error);
  // The key is what transitions compare, the meta what readers use: they must name the same block.
  if (v.value.meta.blockId !== k.blockId || v.value.meta.shard !== k.shard) {
    return corrupt(kv.key, `meta names block ${v.value.meta.shard}/${v.value.meta.blockId}, the key ${k.shard}/${k.blockId}`);
  }
  return { ok: true, value: { key: kv.key, shard: k.shard, blockId: k.blockId, value: v.value, createRevision: kv.createRevision, modRevision: kv.modRevision } };
}

export function decodeClaim(kv: KeyValue): Decoded<ObservedClaim> {
  const v = decodeValue(JobClaimValue, kv.value);
  if (!v.ok) return corrupt(kv.key, v.error);
  return { ok: true, value: { key: kv.key, member: v.value.member, lease: kv.lease, claimedAtMs: v.value.claimedAtMs, token: kv.createRevision } };
}

export function decodeJob(ks: Keyspace, kv: KeyValue, claimKv: KeyValue | undefined): Decoded<ObservedJob> {
  const k = parseManifestKey(ks, kv.key);
  if (k.kind !== 'job') return corrupt(kv.key, 'not a job key');
  const v = decodeValue(JobValue, kv.value);
  if (!v.ok) return corrupt(kv.key, v.error);
  let claim: ObservedClaim | undefined;
  if (claimKv !== undefined) {
    const c = decodeClaim(claimKv);
    if (!c.ok) return c;
    claim = c.value;
  }
  return { ok: true, value: { key: kv.key, id: k.id, value: v.value, createRevision: kv.createRevision, modRevision: kv.modRevision, claim } };
}

export function decodeOrphan(ks: Keyspace, kv: KeyValue): Decoded<ObservedOrphan> {
  const k = parseManifestKey(ks, kv.key);
  if (k.kind !== 'orphan') return corrupt(kv.key, 'not an orphan key');
  const v = decodeValue(OrphanValue, kv.value);
  if (!v.ok) return corrupt(kv.key, v.error);
  return { ok: true, value: { key: kv.key, shard: k.shard, blockId: k.blockId, value: v.value, createRevision: kv.createRevision, modRevision: kv.modRevision } };
}

export function decodeUpload(ks: Keyspace, kv: KeyValue): Decoded<ObservedUpload> {
  const k = parseManifestKey(ks, kv.key);
  if (k.kind !== 'upload') return corrupt(kv.key, 'not an upload key');
  const v = decodeValue(UploadValue, kv.value);
  if (!v.ok) return corrupt(kv.key, v.error);
  return { ok: true, value: { key: kv.key, shard: k.shard, blockId: k.blockId, value: v.value, createRevision: kv.createRevision, modRevision: kv.modRevision } };
}

export function decodePolicy(kv: KeyValue): Decoded<ObservedPolicy> {
  const v = decodeValue(PolicyValue, kv.value);
  if (!v.ok) return corrupt(kv.key, v.error);
  return { ok: true, value: { key: kv.key, value: v.value, modRevision: kv.modRevision } };
}

/** Everything the lifecycle reads, decoded; unparseable keys are listed in `corrupt` and left out of the maps. */
export interface ManifestState {
  /** By block key. */
  readonly blocks: ReadonlyMap<string, ObservedBlock>;
  /** By job id. */
  readonly jobs: ReadonlyMap<string, ObservedJob>;
  /** By orphan key. */
  readonly orphans: ReadonlyMap<string, ObservedOrphan>;
  /** By upload key. */
  readonly uploads: ReadonlyMap<string, ObservedUpload>;
  readonly policy: ObservedPolicy | undefined;
  readonly corrupt: readonly CorruptKey[];
}

/** Decodes any mix of keys under the cluster root (ranges of `blocks/`, `jobs/`, `orphans/`, `uploads/`, the policy); others are ignored. */
export function decodeManifest(ks: Keyspace, entries: Iterable<KeyValue>): ManifestState {
  const blocks = new Map<string, ObservedBlock>();
  const jobs = new Map<string, ObservedJob>();
  const orphans = new Map<string, ObservedOrphan>();
  const uploads = new Map<string, ObservedUpload>();
  const corruptKeys: CorruptKey[] = [];
  const jobKvs = new Map<string, KeyValue>();
  const claimKvs = new Map<string, KeyValue>();
  let policy: ObservedPolicy | undefined;
  const take = <T>(d: Decoded<T>, into: (v: T) => void): void => (d.ok ? into(d.value) : void corruptKeys.push(d.corrupt));
  for (const kv of entries) {
    const k = parseManifestKey(ks, kv.key);
    switch (k.kind) {
      case 'block':
        take(decodeBlock(ks, kv), (b) => blocks.set(b.key, b));
        break;
      case 'orphan':
        take(decodeOrphan(ks, kv), (o) => orphans.set(o.key, o));
        break;
      case 'upload':
        take(decodeUpload(ks, kv), (u) => uploads.set(u.key, u));
        break;
      case 'job':
        jobKvs.set(k.id, kv);
        break;
      case 'claim':
        claimKvs.set(k.id, kv);
        break;
      case 'policy':
        take(decodePolicy(kv), (p) => (policy = p));
        break;
      case 'other':
        break;
    }
  }
  for (const [id, kv] of jobKvs) take(decodeJob(ks, kv, claimKvs.get(id)), (j) => jobs.set(j.id, j));
  // A claim without its job is left behind by nothing in the protocol (commit and abandon delete the
  // job; the claim goes with commit or with the lease): report it so a person can look.
  for (const [id, kv] of claimKvs) if (!jobKvs.has(id)) corruptKeys.push({ key: kv.key, error: `claim of job ${id}, which does not exist` });
  return { blocks, jobs, orphans, uploads, policy, corrupt: corruptKeys };
}

// ------------------------------------------------------------------------------ guarded txns

export type ConflictReason =
  | 'block-exists' // the block key exists (another write used the id, or the manifest moved on)
  | 'block-orphaned' // the block id was recorded as an orphan: it can never be committed
  | 'block-changed' // a block key changed since it was read
  | 'job-exists'
  | 'job-changed' // the job was claimed, committed or abandoned since it was read
  | 'job-claimed' // the claim key exists
  | 'policy-changed' // the policy key changed since the decision
  | 'orphan-exists'
  | 'orphan-changed'
  | 'upload-exists' // an upload intent for this block id exists
  | 'upload-gone' // the writer's upload intent was turned into an orphan (stale or too slow): the id is given up
  | 'upload-changed'
  | 'owner-current'; // the upload's owner still holds the shard (it is not stale)

export type FencedReason = 'owner-token' | 'claim-token';

export interface Guard {
  readonly compare: Compare;
  /** What it means when this compare fails. Fencing guards are reported first: a stale writer is told so. */
  readonly onFail: { readonly kind: 'fenced'; readonly reason: FencedReason } | { readonly kind: 'conflict'; readonly reason: ConflictReason };
}

export type Recognition = { readonly kind: 'applied'; readonly revision: number } | { readonly kind: 'not-applied' } | { readonly kind: 'corrupt'; readonly corrupt: CorruptKey };

export interface ManifestTxn {
  readonly transition: Transition;
  /** compare = guards' compares; failure = a get of every guarded and effect key (explains a rejection from the state it was evaluated against). */
  readonly request: TxnRequest;
  readonly guards: readonly Guard[];
  /** Keys to re-read (with the guarded ones) to recognise the effect after an unknown outcome. */
  readonly effectKeys: readonly string[];
  /** Whether a read (keys → current value, absent = undefined) shows this txn's effect. `readRevision` is the read's revision. */
  recognise(kvs: ReadonlyMap<string, KeyValue | undefined>, readRevision: number): Recognition;
}

/** A builder's answer: the txn, or why the transition is not allowed from what was observed (nothing is sent). */
export type BuildResult = { readonly ok: true; readonly txn: ManifestTxn } | { readonly ok: false; readonly reason: string };

const refuse = (reason: string): BuildResult => ({ ok: false, reason });

const fenced = (compare: Compare, reason: FencedReason): Guard => ({ compare, onFail: { kind: 'fenced', reason } });
const conflict = (compare: Compare, reason: ConflictReason): Guard => ({ compare, onFail: { kind: 'conflict', reason } });

/** etcd counts the largest of the three lists. */
export function txnOpCount(request: TxnRequest): number {
  return Math.max(request.compare.length, request.success.length, request.failure?.length ?? 0);
}

function assemble(
  transition: Transition,
  guards: Guard[],
  success: Op[],
  effectKeys: string[],
  recognise: ManifestTxn['recognise'],
): BuildResult {
  const failure = [...new Set([...guards.map((g) => g.compare.key), ...effectKeys])].map((k) => get(k));
  const request: TxnRequest = { compare: guards.map((g) => g.compare), success, failure };
  const count = txnOpCount(request);
  if (count > MAX_TXN_OPS) return refuse(`${transition} needs ${count} operations in one txn; etcd allows ${MAX_TXN_OPS}`);
  const written = success.filter((o) => o.op !== 'get').map((o) => o.key);
  if (new Set(written).size !== written.length) return refuse(`${transition} writes one key twice (etcd refuses duplicate keys in a txn)`);
  return { ok: true, txn: { transition, request, guards, effectKeys, recognise } };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One compare against a key as read — etcd's semantics (a missing key has revisions 0, no lease, and no value). */
export function evaluateCompare(c: Compare, kv: KeyValue | undefined): boolean {
  switch (c.target) {
    case 'value': {
      if (kv === undefined) return false; // etcd: a value compare on a missing key is false
      const equal = bytesEqual(kv.value, toBytes(c.value));
      return c.op === '==' ? equal : !equal;
    }
    case 'lease': {
      const equal = (kv?.lease ?? '0') === (c.value ?? '0');
      return c.op === '==' ? equal : !equal;
    }
    default: {
      const actual = kv === undefined ? 0 : kv[c.target];
      switch (c.op) {
        case '==':
          return actual === c.value;
        case '!=':
          return actual !== c.value;
        case '<':
          return actual < c.value;
        case '>':
          return actual > c.value;
      }
    }
  }
}

export type GuardVerdict =
  | { readonly kind: 'passes' }
  | { readonly kind: 'fenced'; readonly reason: FencedReason; readonly key: string }
  | { readonly kind: 'conflict'; readonly reason: ConflictReason; readonly key: string };

/** Which guard fails against `kvs` (fencing guards first), or that all pass. */
export function evaluateGuards(txn: ManifestTxn, kvs: ReadonlyMap<string, KeyValue | undefined>): GuardVerdict {
  const failed = txn.guards.filter((g) => !evaluateCompare(g.compare, kvs.get(g.compare.key)));
  const first = failed.find((g) => g.onFail.kind === 'fenced') ?? failed[0];
  if (first === undefined) return { kind: 'passes' };
  return first.onFail.kind === 'fenced'
    ? { kind: 'fenced', reason: first.onFail.reason, key: first.compare.key }
    : { kind: 'conflict', reason: first.onFail.reason, key: first.compare.key };
}

function parsed<T>(kv: KeyValue, decode: (kv: KeyValue) => Decoded<T>, match: (v: T) => boolean): Recognition | T {
  const d = decode(kv);
  if (!d.ok) return { kind: 'corrupt', corrupt: d.corrupt };
  return match(d.value) ? d.value : { kind: 'not-applied' };
}

const isRecognition = (x: unknown): x is Recognition => typeof x === 'object' && x !== null && 'kind' in x && ['applied', 'not-applied', 'corrupt'].includes((x as { kind: string }).kind);

const blockValueBytes = (v: BlockValue): Uint8Array => encodeValue(BlockValue, v);

function withState(v: BlockValue, state: BlockState, nowMs: number, extra: { job?: string; compactedInto?: string } = {}): BlockValue {
  const { job: _job, compactedInto: _into, ...rest } = v;
  return { ...rest, ...extra, state, stateChangedAtMs: nowMs };
}

function checkNow(nowMs: number): string | undefined {
  return Number.isSafeInteger(nowMs) && nowMs >= 0 ? undefined : `now ${nowMs} is not wall-clock milliseconds`;
}

// ---- begin upload, flush, orphan upload: absent → live (shard owner, fenced by its token)

export interface BeginUploadParams {
  readonly shard: number;
  /** The owner's fencing token: the create revision of `shards/<n>/owner` when it acquired the shard. */
  readonly token: number;
  readonly member: string;
  /** A block id never used before. */
  readonly blockId: string;
  readonly tenant: string;
  readonly nowMs: number;
}

/**
 * Records the intent to write a block's objects. The owner writes no object before this commits
 * (after an unknown outcome it resolves or re-sends first): so every object of a flush is named by
 * an upload record, a block key or an orphan record, and GC needs no listing to find them.
 */
export function buildBeginUploadTxn(ks: Keyspace, p: BeginUploadParams): BuildResult {
  if (!ID.test(p.blockId)) return refuse(`block id ${JSON.stringify(p.blockId)} is not [A-Za-z0-9._-]`);
  if (!Number.isSafeInteger(p.token) || p.token < 1) return refuse(`token ${p.token} is not a create revision`);
  const bad = checkNow(p.nowMs);
  if (bad !== undefined) return refuse(bad);
  const uploadKey = ks.upload(p.shard, p.blockId);
  const value: UploadValue = { member: p.member, token: p.token, tenant: p.tenant, startedAtMs: p.nowMs };
  const upload = UploadValue.safeParse(value);
  if (!upload.success) return refuse(`invalid upload: ${upload.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return assemble(
    'begin-upload',
    [
      fenced(ifCreateRevision(ks.owner(p.shard), p.token), 'owner-token'),
      conflict(ifAbsent(ks.block(p.shard, p.blockId)), 'block-exists'),
      conflict(ifAbsent(ks.orphan(p.shard, p.blockId)), 'block-orphaned'),
      conflict(ifAbsent(uploadKey), 'upload-exists'),
    ],
    [put(uploadKey, encodeValue(UploadValue, upload.data))],
    [uploadKey],
    (kvs) => {
      const kv = kvs.get(uploadKey);
      if (kv === undefined) return { kind: 'not-applied' }; // (or already flushed/orphaned: then the flush or the orphan says so)
      const r = parsed(kv, (x) => decodeUpload(ks, x), (u) => u.value.token === p.token && u.value.member === p.member);
      return isRecognition(r) ? r : { kind: 'applied', revision: r.createRevision };
    },
  );
}

export interface FlushParams {
  readonly shard: number;
  /** The owner's fencing token. */
  readonly token: number;
  readonly member: string;
  /** Create revision of this block's upload record (begin-upload's revision). */
  readonly upload: number;
  /** Of a block whose objects are all written; its id is used for this one flush (and its re-sends) only. */
  readonly meta: BlockMeta;
  readonly nowMs: number;
}

export function buildFlushTxn(ks: Keyspace, p: FlushParams): BuildResult {
  const meta = BlockMeta.safeParse(p.meta);
  if (!meta.success) return refuse(`invalid block meta: ${meta.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  if (p.meta.shard !== p.shard) return refuse(`block ${p.meta.blockId} belongs to shard ${p.meta.shard}, not ${p.shard}`);
  if (!Number.isSafeInteger(p.token) || p.token < 1) return refuse(`token ${p.token} is not a create revision`);
  if (!Number.isSafeInteger(p.upload) || p.upload < 1) return refuse(`upload ${p.upload} is not a create revision`);
  const bad = checkNow(p.nowMs);
  if (bad !== undefined) return refuse(bad);
  const blockKey = ks.block(p.shard, p.meta.blockId);
  const uploadKey = ks.upload(p.shard, p.meta.blockId);
  const value: BlockValue = { state: 'live', meta: meta.data, createdAtMs: p.nowMs, stateChangedAtMs: p.nowMs, flushedBy: { member: p.member, token: p.token } };
  return assemble(
    'flush',
    [
      fenced(ifCreateRevision(ks.owner(p.shard), p.token), 'owner-token'),
      conflict(ifAbsent(blockKey), 'block-exists'),
      // The intent must still be this writer's: once turned into an orphan it is gone for good.
      conflict(ifCreateRevision(uploadKey, p.upload), 'upload-gone'),
      conflict(ifAbsent(ks.orphan(p.shard, p.meta.blockId)), 'block-orphaned'),
    ],
    [put(blockKey, blockValueBytes(value)), del(uploadKey)],
    [blockKey],
    (kvs) => {
      // The block id is used by this writer only; flushedBy names the writer and its token. The key
      // may have moved on since (compacting, compacted, expired): the value keeps flushedBy.
      const kv = kvs.get(blockKey);
      if (kv === undefined) return { kind: 'not-applied' };
      const r = parsed(kv, (x) => decodeBlock(ks, x), (b) => b.value.flushedBy?.token === p.token && b.value.flushedBy.member === p.member);
      return isRecognition(r) ? r : { kind: 'applied', revision: r.createRevision };
    },
  );
}

export type OrphanUploadWhy =
  /** The writer itself gives the id up (its flush was fenced or refused): compares its own intent. */
  | { readonly kind: 'given-up' }
  /** The owner that began it no longer holds the shard (the owner key is gone or re-created). */
  | { readonly kind: 'stale-owner'; readonly ownerCreateRevision: number | undefined }
  /** Its owner still holds the shard but took longer than this: its flush will fail and it cuts a new block. */
  | { readonly kind: 'timed-out'; readonly timeoutMs: number };

export interface OrphanUploadParams {
  readonly upload: ObservedUpload;
  readonly why: OrphanUploadWhy;
  readonly nowMs: number;
}

const createRevisionNot = (key: string, value: number): Compare => ({ key, target: 'createRevision', op: '!=', value });

/** upload → orphan in one txn: the flush that needs the upload can never pass afterwards. */
export function buildOrphanUploadTxn(ks: Keyspace, p: OrphanUploadParams): BuildResult {
  const u = p.upload;
  const bad = checkNow(p.nowMs);
  if (bad !== undefined) return refuse(bad);
  const guards: Guard[] = [conflict(ifModRevision(u.key, u.modRevision), 'upload-changed')];
  switch (p.why.kind) {
    case 'given-up':
      break;
    case 'stale-owner':
      if (p.why.ownerCreateRevision === u.value.token) return refuse(`upload ${u.blockId}: its owner (token ${u.value.token}) still holds shard ${u.shard}`);
      // Holds whether the owner key is absent (create revision 0) or re-created by another owner.
      guards.push(conflict(createRevisionNot(ks.owner(u.shard), u.value.token), 'owner-current'));
      break;
    case 'timed-out':
      if (p.nowMs < u.value.startedAtMs + p.why.timeoutMs) return refuse(`upload ${u.blockId} started at ${u.value.startedAtMs}; it times out at ${u.value.startedAtMs + p.why.timeoutMs}`);
      break;
  }
  const orphanKey = ks.orphan(u.shard, u.blockId);
  const orphan: OrphanValue = { tenant: u.value.tenant, reason: 'uncommitted', recordedAtMs: p.nowMs };
  return assemble('orphan-upload', guards, [del(u.key), put(orphanKey, encodeValue(OrphanValue, orphan))], [orphanKey, ks.block(u.shard, u.blockId)], (kvs) => {
    if (kvs.get(u.key)?.createRevision === u.createRevision) return { kind: 'not-applied' };
    if (kvs.get(ks.block(u.shard, u.blockId)) !== undefined) return { kind: 'not-applied' }; // it was flushed instead
    const kv = kvs.get(orphanKey);
    if (kv === undefined) return { kind: 'not-applied' };
    const r = parsed(kv, (x) => decodeOrphan(ks, x), (o) => o.value.reason === 'uncommitted');
    return isRecognition(r) ? r : { kind: 'applied', revision: r.createRevision };
  });
}

// ---- plan: create the job, inputs live → compacting(job) (lifecycle controller)

export interface PlanParams {
  readonly jobId: string;
  /** The inputs as read; each must be live, all of one shard and tenant. */
  readonly inputs: readonly ObservedBlock[];
  /** A block id never used before: the output the holder will write. */
  readonly output: string;
  /** Level of the output. */
  readonly level: number;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly nowMs: number;
}

export function buildPlanTxn(ks: Keyspace, p: PlanParams): BuildResult {
  if (!ID.test(p.jobId)) return refuse(`job id ${JSON.stringify(p.jobId)} is not [A-Za-z0-9._-]`);
  if (!ID.test(p.output)) return refuse(`output id ${JSON.stringify(p.output)} is not [A-Za-z0-9._-]`);
  if (p.inputs.length === 0) return refuse('a job needs at least one input');
  if (p.inputs.length > MAX_JOB_INPUTS) return refuse(`a job may have at most ${MAX_JOB_INPUTS} inputs (one txn of at most ${MAX_TXN_OPS} operations commits it), got ${p.inputs.length}`);
  const bad = checkNow(p.nowMs);
  if (bad !== undefined) return refuse(bad);
  const first = p.inputs[0]!;
  const ids = new Set<string>();
  for (const b of p.inputs) {
    if (ids.has(b.blockId)) return refuse(`input ${b.blockId} listed twice`);
    ids.add(b.blockId);
    if (b.value.state !== 'live') return refuse(`input ${b.blockId} is ${b.value.state}, not live`);
    if (b.shard !== first.shard || b.value.meta.tenant !== first.value.meta.tenant) return refuse(`inputs span shards or tenants (${b.blockId})`);
  }
  if (ids.has(p.output)) return refuse(`output ${p.output} is one of the inputs`);
  const job = JobValue.safeParse({
    shard: first.shard,
    tenant: first.value.meta.tenant,
    level: p.level,
    windowStartMs: p.windowStartMs,
    windowEndMs: p.windowEndMs,
    inputs: p.inputs.map((b) => b.blockId),
    output: p.output,
    createdAtMs: p.nowMs,
  });
  if (!job.success) return refuse(`invalid job: ${job.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const jobKey = ks.job(p.jobId);
  const outputKey = ks.block(first.shard, p.output);
  const orphanKey = ks.orphan(first.shard, p.output);
  return assemble(
    'plan',
    [conflict(ifAbsent(jobKey), 'job-exists'), ...p.inputs.map((b) => conflict(ifModRevision(b.key, b.modRevision), 'block-changed'))],
    [put(jobKey, encodeValue(JobValue, job.data)), ...p.inputs.map((b) => put(b.key, blockValueBytes(withState(b.value, 'compacting', p.nowMs, { job: p.jobId }))))],
    [jobKey, outputKey, orphanKey],
    (kvs, readRevision) => {
      // Job ids are used once. The job may already be gone again: committed (its output exists) or
      // abandoned (its output is an orphan recorded with this job id).
      const jobKv = kvs.get(jobKey);
      if (jobKv !== undefined) {
        const r = parsed(jobKv, (x) => decodeJob(ks, x, undefined), (j) => j.value.output === p.output);
        return isRecognition(r) ? r : { kind: 'applied', revision: r.createRevision };
      }
      const out = kvs.get(outputKey);
      if (out !== undefined) {
        const r = parsed(out, (x) => decodeBlock(ks, x), (b) => b.value.flushedBy === undefined);
        return isRecognition(r) ? r : { kind: 'applied', revision: readRevision };
      }
      const orphan = kvs.get(orphanKey);
      if (orphan !== undefined) {
        const r = parsed(orphan, (x) => decodeOrphan(ks, x), (o) => o.value.job === p.jobId);
        return isRecognition(r) ? r : { kind: 'applied', revision: readRevision };
      }
      return { kind: 'not-applied' };
    },
  );
}

// ---- claim: bind the job to a holder's lease (job holder)

export interface ClaimParams {
  readonly job: ObservedJob;
  readonly member: string;
  /** The holder's lease: the claim key is put with it and vanishes with it. */
  readonly lease: LeaseId;
  readonly nowMs: number;
}

export function buildClaimTxn(ks: Keyspace, p: ClaimParams): BuildResult {
  if (p.job.claim !== undefined) return refuse(`job ${p.job.id} is claimed by ${p.job.claim.member}`);
  // One claim per job: a holder whose claim lapsed may still be writing the output's objects, so the
  // same output id must never be handed to a second holder. The controller abandons and re-plans.
  if (p.job.value.claim !== undefined) return refuse(`job ${p.job.id} was claimed before (by ${p.job.value.claim.member}); a lost claim is abandoned, not taken over`);
  if (!/^[1-9][0-9]*$/.test(p.lease)) return refuse(`lease ${JSON.stringify(p.lease)} is not a lease id`);
  const bad = checkNow(p.nowMs);
  if (bad !== undefined) return refuse(bad);
  const claimKey = ks.jobClaim(p.job.id);
  const value: JobValue = { ...p.job.value, claim: { member: p.member, lease: p.lease, claimedAtMs: p.nowMs } };
  return assemble(
    'claim',
    [conflict(ifModRevision(p.job.key, p.job.modRevision), 'job-changed'), conflict(ifAbsent(claimKey), 'job-claimed')],
    [put(claimKey, encodeValue(JobClaimValue, { member: p.member, claimedAtMs: p.nowMs }), p.lease), put(p.job.key, encodeValue(JobValue, value))],
    [claimKey, p.job.key],
    (kvs) => {
      // The claim key carries our lease; if it already lapsed, the job value still names it.
      const c = kvs.get(claimKey);
      if (c !== undefined && c.lease === p.lease) return { kind: 'applied', revision: c.createRevision };
      const j = kvs.get(p.job.key);
      if (j === undefined) return { kind: 'not-applied' };
      const r = parsed(j, (x) => decodeJob(ks, x, undefined), (job) => job.value.claim?.lease === p.lease && job.value.claim.member === p.member);
      return isRecognition(r) ? r : { kind: 'applied', revision: r.modRevision };
    },
  );
}

// ---- release: a holder gives its claim up (so the controller can abandon the job at once)

export function buildReleaseTxn(ks: Keyspace, claim: HeldClaim): BuildResult {
  const claimKey = ks.jobClaim(claim.jobId);
  return assemble('release', [fenced(ifCreateRevision(claimKey, claim.token), 'claim-token')], [del(claimKey)], [claimKey], (kvs, readRevision) =>
    // The goal is "this claim no longer exists", whoever reached it (the lease may have lapsed).
    kvs.get(claimKey)?.createRevision === claim.token ? { kind: 'not-applied' } : { kind: 'applied', revision: readRevision },
  );
}

// ---- commit: output absent → live, inputs compacting(job) → compacted, job and claim deleted (job holder)

export interface CommitParams {
  readonly job: ObservedJob;
  readonly claim: HeldClaim;
  /** Every input of the job as read now, each compacting(job). */
  readonly inputs: readonly ObservedBlock[];
  /** Meta of the written output: union of the inputs minus duplicates. */
  readonly output: BlockMeta;
  readonly nowMs: number;
}

export function buildCommitTxn(ks: Keyspace, p: CommitParams): BuildResult {
  const job = p.job.value;
  if (p.claim.jobId !== p.job.id) return refuse(`claim is for job ${p.claim.jobId}, not ${p.job.id}`);
  const meta = BlockMeta.safeParse(p.output);
  if (!meta.success) return refuse(`invalid output meta: ${meta.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const out = meta.data;
  if (out.blockId !== job.output) return refuse(`output ${out.blockId} is not the job's planned output ${job.output}`);
  if (out.shard !== job.shard || out.tenant !== job.tenant) return refuse(`output belongs to ${out.shard}/${out.tenant}, the job to ${job.shard}/${job.tenant}`);
  if (out.level !== job.level) return refuse(`output level ${out.level} is not the job's level ${job.level}`);
  const bad = checkNow(p.nowMs);
  if (bad !== undefined) return refuse(bad);
  const byId = new Map(p.inputs.map((b) => [b.blockId, b]));
  if (byId.size !== p.inputs.length || byId.size !== job.inputs.length || job.inputs.some((id) => !byId.has(id))) {
    return refuse(`inputs given (${[...byId.keys()].join(',')}) are not the job's (${job.inputs.join(',')})`);
  }
  for (const b of p.inputs) {
    if (b.value.state !== 'compacting' || b.value.job !== p.job.id) return refuse(`input ${b.blockId} is ${b.value.state}${b.value.job === undefined ? '' : `(${b.value.job})`}, not compacting(${p.job.id})`);
  }
  // The output replaces its inputs for readers and for retention: it must cover them (a narrower
  // time range would let retention expire spans early; a narrower ID range would hide traces).
  const ins = p.inputs.map((b) => b.value.meta);
  const minStart = Math.min(...ins.map((m) => m.minStartMs));
  const maxEnd = Math.max(...ins.map((m) => m.maxEndMs));
  const minId = ins.map((m) => m.minTraceId).sort()[0]!;
  const maxId = ins.map((m) => m.maxTraceId).sort().at(-1)!;
  if (out.minStartMs > minStart || out.maxEndMs < maxEnd) return refuse(`output time range [${out.minStartMs}, ${out.maxEndMs}] does not cover the inputs' [${minStart}, ${maxEnd}]`);
  if (out.minTraceId > minId || out.maxTraceId < maxId) return refuse(`output trace-ID range does not cover the inputs'`);
  const spans = ins.reduce((n, m) => n + m.spanCount, 0);
  if (out.spanCount > spans) return refuse(`output has ${out.spanCount} spans, its inputs ${spans} together (compaction only removes duplicates)`);

  const claimKey = ks.jobClaim(p.job.id);
  const outputKey = ks.block(job.shard, out.blockId);
  const outputValue: BlockValue = { state: 'live', meta: out, createdAtMs: p.nowMs, stateChangedAtMs: p.nowMs };
  return assemble(
    'commit',
    [
      fenced(ifCreateRevision(claimKey, p.claim.token), 'claim-token'),
      conflict(ifModRevision(p.job.key, p.job.modRevision), 'job-changed'),
      conflict(ifAbsent(outputKey), 'block-exists'),
      conflict(ifAbsent(ks.orphan(job.shard, out.blockId)), 'block-orphaned'),
      ...p.inputs.map((b) => conflict(ifModRevision(b.key, b.modRevision), 'block-changed')),
    ],
    [
      put(outputKey, blockValueBytes(outputValue)),
      ...p.inputs.map((b) => put(b.key, blockValueBytes(withState(b.value, 'compacted', p.nowMs, { compactedInto: out.blockId })))),
      del(p.job.key),
      del(claimKey),
    ],
    [outputKey],
    (kvs) => {
      // Only this job's commit ever creates the planned output id (flush never uses it).
      const kv = kvs.get(outputKey);
      if (kv === undefined) return { kind: 'not-applied' };
      const r = parsed(kv, (x) => decodeBlock(ks, x), (b) => b.value.flushedBy === undefined);
      return isRecognition(r) ? r : { kind: 'applied', revision: r.createRevision };
    },
  );
}

// ---- abandon: inputs compacting(job) → live, job deleted, output recorded as an orphan (lifecycle controller)

export interface AbandonParams {
  readonly job: ObservedJob;
  /** The job's inputs that exist, as read now (each compacting(job)). */
  readonly inputs: readonly ObservedBlock[];
  readonly nowMs: number;
  /** A job never claimed is abandoned only this long after it was planned. */
  readonly unclaimedTimeoutMs: number;
}

export function buildAbandonTxn(ks: Keyspace, p: AbandonParams): BuildResult {
  const job = p.job.value;
  if (p.job.claim !== undefined) return refuse(`job ${p.job.id} is still claimed by ${p.job.claim.member}`);
  const bad = checkNow(p.nowMs);
  if (bad !== undefined) return refuse(bad);
  if (job.claim === undefined && p.nowMs < job.createdAtMs + p.unclaimedTimeoutMs) {
    return refuse(`job ${p.job.id} is unclaimed but only ${p.nowMs - job.createdAtMs} ms old (timeout ${p.unclaimedTimeoutMs} ms)`);
  }
  const wanted = new Set(job.inputs);
  const seen = new Set<string>();
  for (const b of p.inputs) {
    if (!wanted.has(b.blockId) || b.shard !== job.shard || seen.has(b.blockId)) return refuse(`block ${b.shard}/${b.blockId} is not an input of job ${p.job.id}`);
    seen.add(b.blockId);
    if (b.value.state !== 'compacting' || b.value.job !== p.job.id) return refuse(`input ${b.blockId} is ${b.value.state}, not compacting(${p.job.id})`);
  }
  const claimKey = ks.jobClaim(p.job.id);
  const orphanKey = ks.orphan(job.shard, job.output);
  const orphan: OrphanValue = { tenant: job.tenant, reason: 'abandoned', job: p.job.id, recordedAtMs: p.nowMs };
  return assemble(
    'abandon',
    [conflict(ifModRevision(p.job.key, p.job.modRevision), 'job-changed'), conflict(ifAbsent(claimKey), 'job-claimed'), ...p.inputs.map((b) => conflict(ifModRevision(b.key, b.modRevision), 'block-changed'))],
    [...p.inputs.map((b) => put(b.key, blockValueBytes(withState(b.value, 'live', p.nowMs)))), del(p.job.key), put(orphanKey, encodeValue(OrphanValue, orphan))],
    [orphanKey],
    (kvs) => {
      // Recognised by effect, not author: the job is gone and its output is an orphan of this job.
      if (kvs.get(p.job.key) !== undefined) return { kind: 'not-applied' };
      const kv = kvs.get(orphanKey);
      if (kv === undefined) return { kind: 'not-applied' };
      const r = parsed(kv, (x) => decodeOrphan(ks, x), (o) => o.value.job === p.job.id && o.value.reason === 'abandoned');
      return isRecognition(r) ? r : { kind: 'applied', revision: r.modRevision };
    },
  );
}

// ---- expire: live → expired (lifecycle controller, under the policy in force)

export interface ExpireParams {
  readonly block: ObservedBlock;
  readonly policy: ObservedPolicy;
  readonly nowMs: number;
}

/** Newest end time a block may have to be expired under `policy` at `nowMs` (exclusive). */
export function computeRetentionHorizon(policy: PolicyValue, nowMs: number): number {
  return nowMs - policy.retention.tracesMs;
}

export function buildExpireTxn(ks: Keyspace, p: ExpireParams): BuildResult {
  const b = p.block;
  if (b.value.state !== 'live') return refuse(`block ${b.blockId} is ${b.value.state}; only live blocks expire`);
  const bad = checkNow(p.nowMs);
  if (bad !== undefined) return refuse(bad);
  const horizon = computeRetentionHorizon(p.policy.value, p.nowMs);
  if (!(b.value.meta.maxEndMs < horizon)) return refuse(`block ${b.blockId} ends at ${b.value.meta.maxEndMs}, not before the horizon ${horizon} (policy version ${p.policy.value.version})`);
  return assemble(
    'expire',
    // The policy's mod revision, not just its version field: the decision was made on exactly this
    // policy, and any write to it in between (a new retention) makes the txn fail and be re-decided.
    [conflict(ifModRevision(b.key, b.modRevision), 'block-changed'), conflict(ifModRevision(p.policy.key, p.policy.modRevision), 'policy-changed')],
    [put(b.key, blockValueBytes(withState(b.value, 'expired', p.nowMs)))],
    [b.key],
    (kvs) => {
      const kv = kvs.get(b.key);
      if (kv === undefined) return { kind: 'not-applied' };
      // Only expire moves a block to expired, so the state is the mark (whoever sent it, and
      // whatever time it wrote: a re-send through the store carries a newer one).
      const r = parsed(kv, (x) => decodeBlock(ks, x), (x) => x.value.state === 'expired');
      return isRecognition(r) ? r : { kind: 'applied', revision: r.modRevision };
    },
  );
}

// ---- collect: delete the key of a compacted or expired block after the grace period (lifecycle controller)

export interface CollectParams {
  readonly block: ObservedBlock;
  readonly nowMs: number;
  /** Longer than any query in flight: a query that listed the block while it was visible may still read it. */
  readonly graceMs: number;
}

/**
 * Whether a compacted or expired block's objects may be deleted now. The executor deletes the
 * OBJECTS FIRST, then the key (this txn): a crash in between leaves a key that no reader reads
 * (compacted/expired are invisible) and that the next GC pass finds and finishes; the other order
 * would leave objects that nothing points at any more.
 */
export function isCollectable(block: ObservedBlock, nowMs: number, graceMs: number): boolean {
  return (block.value.state === 'compacted' || block.value.state === 'expired') && block.value.stateChangedAtMs + graceMs <= nowMs;
}

export function buildCollectTxn(ks: Keyspace, p: CollectParams): BuildResult {
  const b = p.block;
  if (b.value.state !== 'compacted' && b.value.state !== 'expired') return refuse(`block ${b.blockId} is ${b.value.state}; only compacted and expired blocks are collected`);
  if (!isCollectable(b, p.nowMs, p.graceMs)) return refuse(`block ${b.blockId} is ${b.value.state} since ${b.value.stateChangedAtMs}; grace ends at ${b.value.stateChangedAtMs + p.graceMs}`);
  return assemble('collect', [conflict(ifModRevision(b.key, b.modRevision), 'block-changed')], [del(b.key)], [b.key], (kvs, readRevision) =>
    kvs.get(b.key)?.createRevision === b.createRevision ? { kind: 'not-applied' } : { kind: 'applied', revision: readRevision },
  );
}

// ---- orphans: record a block id that will never be committed; collect it after the grace period

export interface RecordOrphanParams {
  readonly shard: number;
  readonly blockId: string;
  readonly tenant: string;
  readonly reason: OrphanValue['reason'];
  readonly job?: string;
  readonly nowMs: number;
}

export function buildRecordOrphanTxn(ks: Keyspace, p: RecordOrphanParams): BuildResult {
  if (!ID.test(p.blockId)) return refuse(`block id ${JSON.stringify(p.blockId)} is not [A-Za-z0-9._-]`);
  const bad = checkNow(p.nowMs);
  if (bad !== undefined) return refuse(bad);
  const orphanKey = ks.orphan(p.shard, p.blockId);
  const value: OrphanValue = { tenant: p.tenant, reason: p.reason, recordedAtMs: p.nowMs, ...(p.job === undefined ? {} : { job: p.job }) };
  return assemble(
    'record-orphan',
    // Only while neither a block key nor an upload intent names the id: then it can never be
    // committed (a flush needs its intent; commit needs its job's claim, and both compare the
    // orphan key absent) — a block id is committed or orphaned, whichever txn comes first.
    [conflict(ifAbsent(ks.block(p.shard, p.blockId)), 'block-exists'), conflict(ifAbsent(orphanKey), 'orphan-exists'), conflict(ifAbsent(ks.upload(p.shard, p.blockId)), 'upload-exists')],
    [put(orphanKey, encodeValue(OrphanValue, value))],
    [orphanKey],
    (kvs) => {
      const kv = kvs.get(orphanKey);
      if (kv === undefined) return { kind: 'not-applied' };
      const r = parsed(kv, (x) => decodeOrphan(ks, x), (o) => o.value.reason === p.reason && o.value.job === p.job);
      return isRecognition(r) ? r : { kind: 'applied', revision: r.createRevision };
    },
  );
}

export interface CollectOrphanParams {
  readonly orphan: ObservedOrphan;
  readonly nowMs: number;
  readonly graceMs: number;
}

export function isOrphanCollectable(orphan: ObservedOrphan, nowMs: number, graceMs: number): boolean {
  return orphan.value.recordedAtMs + graceMs <= nowMs;
}

/** Objects first (see isCollectable), then this txn deletes the record. */
export function buildCollectOrphanTxn(ks: Keyspace, p: CollectOrphanParams): BuildResult {
  const o = p.orphan;
  if (!isOrphanCollectable(o, p.nowMs, p.graceMs)) return refuse(`orphan ${o.blockId} was recorded at ${o.value.recordedAtMs}; grace ends at ${o.value.recordedAtMs + p.graceMs}`);
  return assemble('collect-orphan', [conflict(ifModRevision(o.key, o.modRevision), 'orphan-changed')], [del(o.key)], [o.key], (kvs, readRevision) =>
    kvs.get(o.key)?.createRevision === o.createRevision ? { kind: 'not-applied' } : { kind: 'applied', revision: readRevision },
  );
}

// ------------------------------------------------------------------------------ orphan sweep

export interface SweepParams {
  /** Blocks found in the object store (objects are stored under `<tenant>/<shard>/<blockId>/`). */
  readonly stored: ReadonlyArray<{ readonly shard: number; readonly blockId: string; readonly tenant: string }>;
  readonly manifest: ManifestState;
  /** When each unreferenced id was first seen unreferenced (from the previous sweep; empty after a restart). */
  readonly firstSeen: ReadonlyMap<string, number>;
  readonly nowMs: number;
  /** How long an id must stay unreferenced before it is recorded: longer than any upload plus its commit. */
  readonly delayMs: number;
}

export interface SweepResult {
  /** Ids to record as `unreferenced` orphans (buildRecordOrphanTxn refuses any that got committed meanwhile). */
  readonly record: ReadonlyArray<{ readonly shard: number; readonly blockId: string; readonly tenant: string }>;
  /** Carry to the next sweep. Keyed `<shard>/<blockId>`. */
  readonly firstSeen: ReadonlyMap<string, number>;
}

/**
 * The backstop for objects that no record names: every writer records its intent before its first
 * object (an upload for a flush, the job for a compaction output), so what is left is a writer
 * that kept writing after its intent was turned into an orphan and that orphan was collected — a
 * stale owner or a job holder whose claim lapsed, neither of which can ever commit. Such ids are
 * recorded as `unreferenced` orphans (the txn checks no block, upload or orphan key exists) and
 * collected like any orphan. `firstSeen` only avoids deleting objects a zombie is still writing.
 */
export function computeOrphanSweep(p: SweepParams): SweepResult {
  const referenced = new Set<string>();
  for (const b of p.manifest.blocks.values()) referenced.add(`${b.shard}/${b.blockId}`);
  for (const o of p.manifest.orphans.values()) referenced.add(`${o.shard}/${o.blockId}`);
  for (const u of p.manifest.uploads.values()) referenced.add(`${u.shard}/${u.blockId}`);
  for (const j of p.manifest.jobs.values()) referenced.add(`${j.value.shard}/${j.value.output}`);
  const firstSeen = new Map<string, number>();
  const record: Array<{ shard: number; blockId: string; tenant: string }> = [];
  for (const b of p.stored) {
    const id = `${b.shard}/${b.blockId}`;
    if (referenced.has(id) || firstSeen.has(id)) continue;
    const since = p.firstSeen.get(id) ?? p.nowMs;
    firstSeen.set(id, since);
    if (since + p.delayMs <= p.nowMs) record.push({ shard: b.shard, blockId: b.blockId, tenant: b.tenant });
  }
  return { record, firstSeen };
}

