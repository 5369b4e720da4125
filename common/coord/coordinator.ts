// The narrow Coordinator interface (DESIGN.md §5): a revisioned key-value store with multi-key
// transactions, leases and prefix watches — exactly what the shard controller, the ownership
// protocol and the manifest need from etcd, and nothing more. Two implementations pass one
// conformance suite: etcd.ts (real etcd through the `etcd3` package) and memory.ts (in-process twin).
//
// Revisions are JS numbers, not bigint: etcd revisions are int64 but grow by one per write, so 2^53
// is out of reach (285 years at a million writes a second); numbers serialise to JSON, compare with
// `<` and label metrics without ceremony. Implementations reject a revision above
// Number.MAX_SAFE_INTEGER instead of rounding it. Lease IDs are NOT small (etcd derives them from the
// member ID and time, typically > 2^53), so they stay decimal strings.

/** Decimal string of an int64 lease ID. */
export type LeaseId = string;

/** A key as stored: keys are UTF-8 strings, values raw bytes. */
export interface KeyValue {
  readonly key: string;
  readonly value: Uint8Array;
  /** Revision of the write that created this incarnation of the key; a fencing token. */
  readonly createRevision: number;
  /** Revision of the last write to the key. */
  readonly modRevision: number;
  /** Number of writes since creation (1 after create; a delete resets the key). */
  readonly version: number;
  /** Lease the key is bound to, if any. */
  readonly lease: LeaseId | undefined;
}

export interface GetResult {
  /** Store revision the read observed. */
  readonly revision: number;
  readonly kv: KeyValue | undefined;
}

export interface RangeOptions {
  /** Maximum number of entries to return (all when absent). */
  readonly limit?: number;
  /** Return only keys strictly greater than this one (for caller-driven paging). */
  readonly startAfter?: string;
}

export interface RangeResult {
  /** Store revision of the read; every page was read at this same revision. */
  readonly revision: number;
  /** Entries in key order (byte order of the UTF-8 key). */
  readonly entries: readonly KeyValue[];
  /** True when `limit` cut the result short. */
  readonly more: boolean;
}

export type CompareOp = '==' | '!=' | '<' | '>';

/**
 * One guard of a transaction. A missing key has createRevision = modRevision = version = 0, no
 * lease and an empty value — etcd's semantics, which make "create if absent" `createRevision == 0`.
 */
export type Compare =
  | { readonly key: string; readonly target: 'createRevision' | 'modRevision' | 'version'; readonly op: CompareOp; readonly value: number }
  | { readonly key: string; readonly target: 'value'; readonly op: '==' | '!='; readonly value: Uint8Array | string }
  | { readonly key: string; readonly target: 'lease'; readonly op: '==' | '!='; readonly value: LeaseId | undefined };

export type Op =
  | { readonly op: 'put'; readonly key: string; readonly value: Uint8Array | string; readonly lease?: LeaseId }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'get'; readonly key: string };

export type OpResult =
  | { readonly op: 'put' }
  | { readonly op: 'delete'; readonly deleted: number }
  | { readonly op: 'get'; readonly kv: KeyValue | undefined };

export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly Op[];
  readonly failure?: readonly Op[];
}

/**
 * Outcome of a transaction. Only `committed` and `rejected` are certain. `unknown` means the request
 * may or may not have been applied (connection dropped, deadline passed): the implementation never
 * re-sends it, and the caller must re-read before deciding anything. `lease-not-found` means nothing
 * was applied because a put named a lease that no longer exists.
 */
export type TxnResult =
  | { readonly kind: 'committed'; readonly revision: number; readonly results: readonly OpResult[] }
  | { readonly kind: 'rejected'; readonly revision: number; readonly results: readonly OpResult[] }
  | { readonly kind: 'lease-not-found'; readonly lease: LeaseId }
  | { readonly kind: 'unknown'; readonly error: Error };

/** `expired`: the local deadline passed or the server reported the lease gone; `abandoned`: keep-alives stopped by `abandon()`. All but `alive` are terminal. */
export type LeaseState = 'alive' | 'expired' | 'revoked' | 'abandoned';

export interface GrantLeaseOptions {
  /** Subtracted from every computed deadline to cover clock drift and scheduling delay. Default 20% of the TTL, at most 1 s. */
  readonly marginMs?: number;
  /** Keep-alive period. Default a third of the TTL. */
  readonly keepAliveIntervalMs?: number;
  /** Called with the round-trip time of every acknowledged keep-alive (renew-latency metrics). */
  readonly onKeepAlive?: (latencyMs: number) => void;
}

/**
 * A lease with a background keep-alive owned by this object. The holder trusts only `deadline()`:
 * the send time of the last acknowledged keep-alive (or of the grant) + granted TTL − margin, on the
 * coordinator's monotonic clock. Past it, the lease counts as lost whatever the server says later;
 * `expired` is terminal (keep-alives stop) — grant a new lease to continue.
 */
export interface Lease {
  readonly id: LeaseId;
  /** TTL the server granted (etcd may raise a requested TTL to its minimum). */
  readonly ttlSeconds: number;
  readonly state: LeaseState;
  /** Local deadline in `Clock.now()` milliseconds. */
  deadline(): number;
  /** True while state is alive and now < deadline. */
  valid(): boolean;
  /** Called once when the local deadline passes (or the server reports the lease gone). Returns an unsubscribe function. */
  onExpired(listener: () => void): () => void;
  /** Stops keep-alives and revokes the lease on the server (deleting its keys). Idempotent. */
  revoke(): Promise<void>;
  /** Stops keep-alives without revoking: the lease then lapses on the server after its TTL. For shutdown paths and tests. */
  abandon(): void;
}

export type WatchEvent =
  | { readonly type: 'put'; readonly kv: KeyValue }
  | { readonly type: 'delete'; readonly key: string; readonly modRevision: number };

/**
 * What a prefix watch delivers: first a complete snapshot, then events in revision order. After any
 * reconnect or compaction the watcher re-lists and delivers a fresh snapshot, which REPLACES the
 * handler's state (events may have been missed in between; the snapshot is the truth).
 */
export type WatchUpdate =
  | { readonly kind: 'snapshot'; readonly revision: number; readonly entries: readonly KeyValue[] }
  | { readonly kind: 'events'; readonly revision: number; readonly events: readonly WatchEvent[] }
  | { readonly kind: 'disconnected'; readonly error: Error };

export interface Watch {
  /** Resolves after the first snapshot was delivered. */
  readonly ready: Promise<void>;
  close(): void;
}

export interface Coordinator {
  get(key: string): Promise<GetResult>;
  /** All keys starting with `prefix`, paginated internally so results of any size work. */
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;
  txn(request: TxnRequest): Promise<TxnResult>;
  grantLease(ttlSeconds: number, options?: GrantLeaseOptions): Promise<Lease>;
  /** The handler is called synchronously per update and must not throw. */
  watchPrefix(prefix: string, handler: (update: WatchUpdate) => void): Watch;
  /** Monotonic milliseconds; the clock lease deadlines are expressed in. */
  now(): number;
  /** Stops every keep-alive and watch this client started, then closes the connection. */
  close(): Promise<void>;
}

// Compare builders, so protocol code reads like DESIGN.md §5.
export const ifAbsent = (key: string): Compare => ({ key, target: 'createRevision', op: '==', value: 0 });
export const ifCreateRevision = (key: string, revision: number): Compare => ({ key, target: 'createRevision', op: '==', value: revision });
export const ifModRevision = (key: string, revision: number): Compare => ({ key, target: 'modRevision', op: '==', value: revision });
export const ifValue = (key: string, value: Uint8Array | string): Compare => ({ key, target: 'value', op: '==', value });
export const ifLease = (key: string, lease: LeaseId | undefined): Compare => ({ key, target: 'lease', op: '==', value: lease });
export const put = (key: string, value: Uint8Array | string, lease?: LeaseId): Op => (lease === undefined ? { op: 'put', key, value } : { op: 'put', key, value, lease });
export const del = (key: string): Op => ({ op: 'delete', key });
export const get = (key: string): Op => ({ op: 'get', key });

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const toBytes = (value: Uint8Array | string): Uint8Array => (typeof value === 'string' ? encoder.encode(value) : value);
export const valueText = (kv: KeyValue): string => decoder.decode(kv.value);

/** Smallest string greater than every string with this prefix, in UTF-8 byte order ('' = no end). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]); // etcd: range_end "\0" means "to the end of the key space"
}

export function checkRevision(value: string | number): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`revision ${String(value)} is not a safe integer`);
  return n;
}
