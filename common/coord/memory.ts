// The in-memory twin of etcd: one MemoryStore plays the server (one global revision counter,
// create/mod revisions and versions per key, leases expiring on an injectable clock, prefix watches),
// and each `connect()` returns a Coordinator client of it. Used by all-in-one and by unit tests;
// passes the same conformance suite as etcd.ts. `setReachable(false)` and `restart()` simulate a
// partition and a server restart so fault behaviour (unknown outcomes, re-list on reconnect, local
// lease deadlines) is testable without a real server.
import { SkeinError } from '../errors/index.js';
import { sleep, systemClock, type Clock } from './clock.js';
import {
  toBytes,
  type Compare,
  type Coordinator,
  type GetResult,
  type GrantLeaseOptions,
  type KeyValue,
  type Lease,
  type LeaseId,
  type Op,
  type OpResult,
  type RangeOptions,
  type RangeResult,
  type TxnRequest,
  type TxnResult,
  type Watch,
  type WatchEvent,
  type WatchUpdate,
} from './coordinator.js';
import { KeptLease } from './lease.js';

export interface MemoryStoreOptions {
  readonly clock?: Clock;
  /** etcd raises small TTLs to a minimum; mirror that. Default 1. */
  readonly minTtlSeconds?: number;
  /** Durable state to start from and a hook that makes every change durable (file-store.ts). */
  readonly persistence?: MemoryPersistence;
}

/**
 * How a MemoryStore survives a restart of its process. Keys bound to a lease are not restored (the
 * lease died with the process, as an etcd lease lapses after its TTL); everything else is, with its
 * revisions, and the revision counter continues — so fencing tokens keep growing across restarts.
 */
export interface MemoryPersistence {
  readonly initial?: { readonly revision: number; readonly entries: readonly KeyValue[] };
  /** Called synchronously after each change with its events, before any client sees the result. Throwing fails the process loudly. */
  onCommit(revision: number, events: readonly WatchEvent[]): void;
}

interface ServerLease {
  ttlSeconds: number;
  expiresAt: number;
  keys: Set<string>;
  cancel: () => void;
}

interface ServerWatcher {
  prefix: string;
  deliver(update: WatchUpdate): void;
}

const encoder = new TextEncoder();

function compareKeys(a: string, b: string): number {
  return Buffer.compare(encoder.encode(a), encoder.encode(b));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function unavailable(): SkeinError {
  return new SkeinError('UNAVAILABLE', 'coordinator unreachable (memory store partitioned)');
}

export class MemoryStore {
  readonly clock: Clock;
  readonly #minTtl: number;
  #revision = 1; // etcd starts at revision 1 with an empty store
  #nextLease = 7_000_000_000_000_000_000n;
  readonly #kvs = new Map<string, KeyValue>();
  readonly #leases = new Map<LeaseId, ServerLease>();
  readonly #watchers = new Set<ServerWatcher>();
  #reachable = true;
  readonly #persistence: MemoryPersistence | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.#minTtl = options.minTtlSeconds ?? 1;
    this.#persistence = options.persistence;
    const initial = options.persistence?.initial;
    if (initial !== undefined) {
      this.#revision = Math.max(1, initial.revision);
      for (const kv of initial.entries) if (kv.lease === undefined) this.#kvs.set(kv.key, kv);
    }
  }

  connect(): Coordinator {
    return new MemoryCoordinator(this);
  }

  get revision(): number {
    return this.#revision;
  }

  get reachable(): boolean {
    return this.#reachable;
  }

  /** Partition every client from the store (false) or heal it (true). Open watches disconnect and later re-list. */
  setReachable(reachable: boolean): void {
    this.#reachable = reachable;
    if (!reachable) this.#dropWatchers(new Error('memory store partitioned'));
  }

  /** Like an etcd restart: data and leases survive (leases get a fresh TTL, as etcd does on leader change), watch streams break. */
  restart(): void {
    for (const [id, lease] of this.#leases) this.#armLease(id, lease, lease.ttlSeconds);
    this.#dropWatchers(new Error('memory store restarted'));
  }

  /** Every key, for tests that compare a watcher's reconstructed state with the store. */
  dump(): KeyValue[] {
    return [...this.#kvs.values()].sort((a, b) => compareKeys(a.key, b.key));
  }

  // ---- server operations, called by MemoryCoordinator ----

  checkReachable(): void {
    if (!this.#reachable) throw unavailable();
  }

  get(key: string): GetResult {
    this.checkReachable();
    return { revision: this.#revision, kv: this.#kvs.get(key) };
  }

  range(prefix: string, options: RangeOptions = {}): RangeResult {
    this.checkReachable();
    let entries = [...this.#kvs.values()].filter((kv) => kv.key.startsWith(prefix));
    if (options.startAfter !== undefined) entries = entries.filter((kv) => compareKeys(kv.key, options.startAfter!) > 0);
    entries.sort((a, b) => compareKeys(a.key, b.key));
    const more = options.limit !== undefined && entries.length > options.limit;
    if (more) entries = entries.slice(0, options.limit);
    return { revision: this.#revision, entries, more };
  }

  txn(request: TxnRequest): TxnResult {
    if (!this.#reachable) return { kind: 'unknown', error: unavailable() };
    const succeeded = request.compare.every((c) => this.#evaluate(c));
    const ops = succeeded ? request.success : (request.failure ?? []);
    for (const op of ops) {
      if (op.op === 'put' && op.lease !== undefined && !this.#leases.has(op.lease)) return { kind: 'lease-not-found', lease: op.lease };
    }
    const next = this.#revision + 1;
    const events: WatchEvent[] = [];
    const results: OpResult[] = [];
    for (const op of ops) results.push(this.#apply(op, next, events));
    if (events.length > 0) {
      this.#revision = next;
      this.#persistence?.onCommit(next, events);
      this.#publish(next, events);
    }
    return { kind: succeeded ? 'committed' : 'rejected', revision: this.#revision, results };
  }

  grantLease(ttlSeconds: number): { id: LeaseId; ttlSeconds: number } {
    this.checkReachable();
    const ttl = Math.max(this.#minTtl, Math.ceil(ttlSeconds));
    const id = String(this.#nextLease++);
    const lease: ServerLease = { ttlSeconds: ttl, expiresAt: 0, keys: new Set(), cancel: () => {} };
    this.#leases.set(id, lease);
    this.#armLease(id, lease, ttl);
    return { id, ttlSeconds: ttl };
  }

  keepAlive(id: LeaseId): number {
    this.checkReachable();
    const lease = this.#leases.get(id);
    if (lease === undefined) return 0;
    this.#armLease(id, lease, lease.ttlSeconds);
    return lease.ttlSeconds;
  }

  revokeLease(id: LeaseId): void {
    this.checkReachable();
    this.#endLease(id);
  }

  /** Registers a watcher and hands it a snapshot in the same synchronous step, so no event can fall in between. */
  subscribe(prefix: string, deliver: (update: WatchUpdate) => void): () => void {
    this.checkReachable();
    const watcher: ServerWatcher = { prefix, deliver };
    this.#watchers.add(watcher);
    const snapshot = this.range(prefix);
    deliver({ kind: 'snapshot', revision: snapshot.revision, entries: snapshot.entries });
    return () => this.#watchers.delete(watcher);
  }

  // ---- internals ----

  #evaluate(c: Compare): boolean {
    const kv = this.#kvs.get(c.key);
    switch (c.target) {
      case 'value': {
        // etcd: a value compare against a missing key is always false (an absent value is not "").
        if (kv === undefined) return false;
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

  #apply(op: Op, revision: number, events: WatchEvent[]): OpResult {
    switch (op.op) {
      case 'get':
        return { op: 'get', kv: this.#kvs.get(op.key) };
      case 'delete': {
        const kv = this.#kvs.get(op.key);
        if (kv === undefined) return { op: 'delete', deleted: 0 };
        this.#removeKey(kv);
        events.push({ type: 'delete', key: op.key, modRevision: revision });
        return { op: 'delete', deleted: 1 };
      }
      case 'put': {
        const prev = this.#kvs.get(op.key);
        if (prev?.lease !== undefined) this.#leases.get(prev.lease)?.keys.delete(op.key);
        const kv: KeyValue = {
          key: op.key,
          value: Uint8Array.from(toBytes(op.value)),
          createRevision: prev?.createRevision ?? revision,
          modRevision: revision,
          version: (prev?.version ?? 0) + 1,
          lease: op.lease,
        };
        this.#kvs.set(op.key, kv);
        if (op.lease !== undefined) this.#leases.get(op.lease)!.keys.add(op.key);
        events.push({ type: 'put', kv });
        return { op: 'put' };
      }
    }
  }

  #removeKey(kv: KeyValue): void {
    this.#kvs.delete(kv.key);
    if (kv.lease !== undefined) this.#leases.get(kv.lease)?.keys.delete(kv.key);
  }

  #armLease(id: LeaseId, lease: ServerLease, ttlSeconds: number): void {
    lease.cancel();
    lease.expiresAt = this.clock.now() + ttlSeconds * 1000;
    lease.cancel = this.clock.setTimer(() => this.#endLease(id), ttlSeconds * 1000);
  }

  /** Expiry and revoke: every key bound to the lease goes in one revision, as in etcd. */
  #endLease(id: LeaseId): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) return;
    lease.cancel();
    this.#leases.delete(id);
    if (lease.keys.size === 0) return;
    const revision = this.#revision + 1;
    const events: WatchEvent[] = [];
    for (const key of [...lease.keys].sort(compareKeys)) {
      const kv = this.#kvs.get(key);
      if (kv === undefined) continue;
      this.#kvs.delete(key);
      events.push({ type: 'delete', key, modRevision: revision });
    }
    this.#revision = revision;
    this.#persistence?.onCommit(revision, events);
    this.#publish(revision, events);
  }

  #publish(revision: number, events: WatchEvent[]): void {
    for (const watcher of this.#watchers) {
      const mine = events.filter((e) => (e.type === 'put' ? e.kv.key : e.key).startsWith(watcher.prefix));
      if (mine.length > 0) watcher.deliver({ kind: 'events', revision, events: mine });
    }
  }

  #dropWatchers(error: Error): void {
    const watchers = [...this.#watchers];
    this.#watchers.clear();
    for (const w of watchers) w.deliver({ kind: 'disconnected', error });
  }
}

const RECONNECT_MS = 100;

class MemoryCoordinator implements Coordinator {
  readonly #store: MemoryStore;
  readonly #leases = new Set<KeptLease>();
  readonly #watches = new Set<MemoryWatch>();
  #closed = false;

  constructor(store: MemoryStore) {
    this.#store = store;
  }

  now(): number {
    return this.#store.clock.now();
  }

  // Async like the real client, so callers cannot come to depend on synchronous completion.
  async get(key: string): Promise<GetResult> {
    await Promise.resolve();
    this.#checkOpen();
    return this.#store.get(key);
  }

  async range(prefix: string, options?: RangeOptions): Promise<RangeResult> {
    await Promise.resolve();
    this.#checkOpen();
    return this.#store.range(prefix, options);
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    await Promise.resolve();
    this.#checkOpen();
    return this.#store.txn(request);
  }

  async grantLease(ttlSeconds: number, options: GrantLeaseOptions = {}): Promise<Lease> {
    await Promise.resolve();
    this.#checkOpen();
    const sentAt = this.#store.clock.now();
    const granted = this.#store.grantLease(ttlSeconds);
    const store = this.#store;
    const lease = new KeptLease({
      id: granted.id,
      ttlSeconds: granted.ttlSeconds,
      grantSentAt: sentAt,
      clock: store.clock,
      marginMs: options.marginMs,
      keepAliveIntervalMs: options.keepAliveIntervalMs,
      onKeepAlive: options.onKeepAlive,
      transport: {
        keepAlive: async (id) => {
          await Promise.resolve();
          return store.keepAlive(id);
        },
        revoke: async (id) => {
          await Promise.resolve();
          store.revokeLease(id);
        },
      },
      onStop: (l) => this.#leases.delete(l),
    });
    this.#leases.add(lease);
    return lease;
  }

  watchPrefix(prefix: string, handler: (update: WatchUpdate) => void): Watch {
    this.#checkOpen();
    const watch = new MemoryWatch(this.#store, prefix, handler, () => this.#watches.delete(watch));
    this.#watches.add(watch);
    return watch;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const watch of [...this.#watches]) watch.close();
    // Closing a client abandons its leases (they lapse after their TTL), as closing an etcd connection does.
    for (const lease of [...this.#leases]) lease.abandon();
    await Promise.resolve();
  }

  #checkOpen(): void {
    if (this.#closed) throw new SkeinError('UNAVAILABLE', 'coordinator client closed');
  }
}

/** Client side of a memory watch: re-subscribes (with a fresh snapshot) after every disconnect. */
class MemoryWatch implements Watch {
  readonly ready: Promise<void>;
  readonly #store: MemoryStore;
  readonly #prefix: string;
  readonly #handler: (update: WatchUpdate) => void;
  readonly #onClose: () => void;
  readonly #abort = new AbortController();
  #unsubscribe: (() => void) | undefined;
  #markReady: () => void = () => {};

  constructor(store: MemoryStore, prefix: string, handler: (update: WatchUpdate) => void, onClose: () => void) {
    this.#store = store;
    this.#prefix = prefix;
    this.#handler = handler;
    this.#onClose = onClose;
    this.ready = new Promise((resolve) => (this.#markReady = resolve));
    this.#connect();
  }

  close(): void {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort(new Error('watch closed'));
    this.#unsubscribe?.();
    this.#onClose();
  }

  #connect(): void {
    if (this.#abort.signal.aborted) return;
    try {
      this.#unsubscribe = this.#store.subscribe(this.#prefix, (update) => this.#enqueue(update));
    } catch (error) {
      this.#enqueue({ kind: 'disconnected', error: error as Error });
    }
  }

  // Deliveries are asynchronous (as from a stream) but strictly in order.
  #queue: WatchUpdate[] = [];
  #draining = false;

  #enqueue(update: WatchUpdate): void {
    this.#queue.push(update);
    if (!this.#draining) {
      this.#draining = true;
      queueMicrotask(() => this.#drain());
    }
  }

  #drain(): void {
    this.#draining = false;
    const queue = this.#queue;
    this.#queue = [];
    for (const update of queue) {
      if (this.#abort.signal.aborted) return;
      this.#handler(update);
      if (update.kind === 'snapshot') this.#markReady();
      if (update.kind === 'disconnected') {
        this.#unsubscribe?.();
        this.#unsubscribe = undefined;
        sleep(this.#store.clock, RECONNECT_MS, this.#abort.signal).then(
          () => this.#connect(),
          () => {},
        );
      }
    }
  }
}
