// The ingester's side of the cluster protocol (ADR 0006 "Ingester ownership"): one lease per
// process, the member key on it, and the owner keys of the shards the controller assigns to this
// member, each acquired with a fencing token and given back on handoff, shard-count decrease or
// shutdown. It knows nothing about WALs or heads: it calls `onAcquire`/`onRelease` and answers
// `ownedToken()`, the ack gate the export path checks after every append.
//
// Shape: three watches (shards, partition, own member key) feed a view; a pure decision per shard
// (decide.ts) says what to do next; a per-shard worker performs that step and asks again, so at most
// one transition per shard is in flight and every step is re-derived from the latest view
// (level-triggered). A session loop replaces the lease when it expires.
import {
  PartitionValue,
  MemberValue,
  OwnerValue,
  decodeValue,
  del,
  encodeValue,
  get,
  ifAbsent,
  ifCreateRevision,
  ifModRevision,
  put,
  sleep,
  systemClock,
  type Clock,
  type Coordinator,
  type KeyValue,
  type Keyspace,
  type Lease,
  type LeaseId,
  type Watch,
  type WatchUpdate,
} from '../../common/coord/index.js';
import { SkeinError } from '../../common/errors/index.js';
import type { Logger } from '../../common/log/index.js';
import { counter, gauge, histogram, type Counter, type Gauge, type Histogram, type Registry } from '../../common/metrics/index.js';
import { AckJournal, type AckWindow } from './ack-journal.js';
import { decideShard, type ReleaseReason, type ShardAction } from './decide.js';
import { ShardsView } from './view.js';

export type { ReleaseReason } from './decide.js';

export interface OwnershipOptions {
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  readonly memberId: string;
  /** host:port of this member's internal gRPC service (goes into member and owner values). */
  readonly address: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly version: string;
  readonly leaseTtlSeconds: number;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Timers of the retry back-offs. Default the system clock; tests pass the MemoryStore's ManualClock. */
  readonly clock?: Clock;
  /** A shard was acquired with this fencing token. Resolve once the shard can accept writes (its WAL is open). Only then is it reported as owned. */
  onAcquire(shard: number, token: number): Promise<void>;
  /** The shard stops being acknowledged from now on (ownedToken() already returns undefined when this is called). For 'handoff'/'partition'/'shutdown' ownership awaits the promise (in-flight appends finished) before it deletes the owner key; for 'lost' the key is already gone or not ours. */
  onRelease(shard: number, token: number, reason: ReleaseReason): Promise<void>;
}

export interface OwnerInfo {
  readonly member: string;
  readonly address: string;
  readonly token: number;
}

export interface Ownership {
  /** Sets the address and ports written into the member and owner values, when they are known only after construction (listeners bound to port 0). Before start() only. */
  setAddress(address: string, ports: Readonly<Record<string, number>>): void;
  /** Grants the lease, registers the member (ready: false), starts watching; resolves after the first snapshot was applied. */
  start(): Promise<void>;
  /** Rewrites the member key's `ready` (and the partitionVersion it runs with). */
  setReady(ready: boolean): Promise<void>;
  partition(): PartitionValue | undefined;
  /** Owner of a shard as the watch shows it (any member, incl. this one). */
  owner(shard: number): OwnerInfo | undefined;
  /** The ack gate: the token when this member owns the shard (acquired and onAcquire resolved, not released) AND the lease is valid right now (lease.valid()); else undefined. Cheap: called per request. */
  ownedToken(shard: number): number | undefined;
  /** True while this member holds the owner key of `shard` but onAcquire has not resolved yet (its WAL is opening). */
  opening(shard: number): boolean;
  /** Shards this member owns now → token. */
  ownedShards(): ReadonlyMap<number, number>;
  /** The member's lease while it is valid (lease.valid()), else undefined: what compaction claims are bound to. */
  leaseId(): LeaseId | undefined;
  /** Shards the watched assignments give to this member (state active, below the shard count), ascending: what it should own once settled. */
  assignedShards(): readonly number[];
  /** Called after every applied watch update / ownership change (forwarders waiting for an owner use it). Returns unsubscribe. */
  onChange(listener: () => void): () => void;
  /** Journal of acknowledgements for fault tests: the ingester calls this after answering a write for `shard` with `token`. */
  recordAck(shard: number, token: number): void;
  /** JSON for GET /debug/ownership: memberId, lease id + deadline, owned shards with tokens, per (shard, token) {firstAckMs, lastAckMs, acks} in Date.now() ms, fenced writes rejected. */
  debug(): OwnershipDebug;
  /** Shutdown step 1: member ready=false, release every owned shard (reason 'shutdown'), stop acquiring. */
  releaseAll(): Promise<void>;
  /** Stops watches, revokes the lease (deleting member + owner keys). Idempotent. */
  stop(): Promise<void>;
}

export interface OwnershipDebug {
  readonly memberId: string;
  readonly address: string;
  readonly ready: boolean;
  readonly accepting: boolean;
  readonly lease:
    | {
        readonly id: string;
        readonly ttlSeconds: number;
        readonly state: string;
        readonly valid: boolean;
        /** Local deadline on the coordinator's monotonic clock. */
        readonly deadline: number;
        /** The same deadline as Date.now() milliseconds. */
        readonly deadlineUnixMs: number;
      }
    | undefined;
  readonly partition: PartitionValue | undefined;
  readonly owned: readonly { readonly shard: number; readonly token: number }[];
  /** Acquired, onAcquire not resolved yet. */
  readonly opening: readonly { readonly shard: number; readonly token: number }[];
  readonly acks: readonly AckWindow[];
  readonly fencedWritesRejected: number;
}

export function createOwnership(options: OwnershipOptions): Ownership {
  return new MemberOwnership(options);
}

interface Hold {
  readonly token: number;
  readonly lease: Lease;
  /** False while onAcquire runs: acquired in etcd, not yet acknowledging. */
  owned: boolean;
}

interface Worker {
  promise: Promise<void> | undefined;
}

/** This member's local state for one shard. */
interface ShardLocal {
  hold: Hold | undefined;
  worker: Worker | undefined;
  /** Revision of our last committed write to the shard's keys: the view is behind until it gets there. */
  waitRevision: number;
  /** View generation at which a txn was rejected or its outcome unknown; cleared by any change or a retry timer. */
  blockedAt: number | undefined;
  /** Consecutive unknown txn outcomes (back-off exponent). */
  txnFailures: number;
  /** onAcquire failed: no new acquire before this clock time. */
  retryAt: number;
  acquireFailures: number;
  /** Pending retry timers (cancel functions); an unblock timer must not replace an open back-off one. */
  readonly timers: Set<() => void>;
}

const TXN_RETRY_MS = { min: 100, max: 2000 };
const ACQUIRE_RETRY_MS = { min: 500, max: 10_000 };
const REGISTER_RETRY_MS = { min: 100, max: 2000 };

function backoff(attempt: number, range: { min: number; max: number }): number {
  return Math.min(range.max, range.min * 2 ** Math.min(attempt, 20));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

class MemberOwnership implements Ownership {
  readonly #o: OwnershipOptions;
  readonly #coord: Coordinator;
  readonly #ks: Keyspace;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #memberKey: string;
  #address: string;
  #ports: Readonly<Record<string, number>>;
  /** Set by start() from the address known by then. */
  #ownerValue: Uint8Array = new Uint8Array();
  readonly #abort = new AbortController();
  readonly #view: ShardsView;
  readonly #locals = new Map<number, ShardLocal>();
  readonly #listeners = new Set<() => void>();
  readonly #journal = new AckJournal();
  readonly #watches: Watch[] = [];

  readonly #metrics: {
    readonly owned: Gauge;
    readonly token: Gauge<'shard'>;
    readonly handoffs: Counter<'reason'>;
    readonly fenced: Counter;
    readonly renew: Histogram;
  };

  #started = false;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #accepting = true;
  #ready = false;
  #partition: PartitionValue | undefined;
  /** The registered session's lease; undefined between expiry and re-registration. */
  #lease: Lease | undefined;
  /** The newest lease granted (registered or not): what stop() revokes. */
  #granted: Lease | undefined;
  #session: Promise<void> | undefined;
  #fencedRejected = 0;

  // The member key: writes go through one chain so an old-lease write can never overtake a newer one.
  #memberChain: Promise<unknown> = Promise.resolve();
  #memberKv: KeyValue | undefined;
  #memberViewRevision = 0;
  #memberWaitRevision = 0;
  #memberCommitted: { lease: string; bytes: Uint8Array } | undefined;

  constructor(options: OwnershipOptions) {
    this.#o = options;
    this.#coord = options.coord;
    this.#ks = options.keyspace;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger.child({ module: 'ownership', member: options.memberId });
    this.#memberKey = options.keyspace.member(options.memberId);
    this.#address = options.address;
    this.#ports = options.ports;
    this.#view = new ShardsView(options.keyspace.shardsPrefix);
    const r = options.registry;
    this.#metrics = {
      owned: gauge(r, 'skein_ingester_owned_shards', 'Shards this member owns and acknowledges writes for.'),
      token: gauge(r, 'skein_ingester_shard_token', 'Fencing token of an owned shard (0 when not owned).', ['shard']),
      handoffs: counter(r, 'skein_ingester_handoffs_total', 'Shards this member stopped owning, by reason (handoff, lost, partition, shutdown).', ['reason']),
      fenced: counter(r, 'skein_ingester_fenced_writes_rejected_total', 'Fenced coordinator writes (owner release) that etcd rejected: the key was gone or held by another token.'),
      renew: histogram(r, 'skein_ingester_lease_renew_latency_seconds', 'Round trip of acknowledged lease keep-alives.'),
    };
    this.#metrics.owned.set(0);
  }

  // ---------------------------------------------------------------- public face

  setAddress(address: string, ports: Readonly<Record<string, number>>): void {
    if (this.#started) throw new Error('ownership: the address is fixed once the member is registered');
    this.#address = address;
    this.#ports = ports;
  }

  async start(): Promise<void> {
    if (this.#started || this.#stopped) throw new Error('ownership already started or stopped');
    // Validates the address before anything is written (zod rejects an empty one).
    this.#ownerValue = encodeValue(OwnerValue, { member: this.#o.memberId, address: this.#address });
    this.#started = true;
    const lease = await this.#grant().catch((error: unknown) => {
      throw error instanceof SkeinError ? error : new SkeinError('UNAVAILABLE', `lease grant failed: ${String(error)}`, { cause: error });
    });
    if (!(await this.#register(lease))) {
      lease.abandon();
      throw new SkeinError('UNAVAILABLE', `could not register member ${this.#o.memberId}: the coordinator did not accept the member key while lease ${lease.id} was valid`);
    }
    this.#lease = lease;
    this.#log.info({ lease: lease.id, ttlSeconds: lease.ttlSeconds }, 'member registered');
    this.#watches.push(
      this.#coord.watchPrefix(this.#ks.shardsPrefix, (u) => this.#onShards(u)),
      this.#coord.watchPrefix(this.#ks.partition, (u) => this.#onPartition(u)),
      this.#coord.watchPrefix(this.#memberKey, (u) => this.#onMember(u)),
    );
    const aborted = new Promise<void>((resolve) => this.#abort.signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([Promise.all(this.#watches.map((w) => w.ready)), aborted]);
    if (this.#stopped) return;
    this.#session = this.#runSessions(lease).catch((error: unknown) => this.#log.error({ err: error }, 'session loop failed'));
    this.#kickAll();
  }

  async setReady(ready: boolean): Promise<void> {
    this.#ready = ready;
    await this.#syncMember();
  }

  partition(): PartitionValue | undefined {
    return this.#partition;
  }

  owner(shard: number): OwnerInfo | undefined {
    const o = this.#view.get(shard)?.owner;
    if (o?.value === undefined) return undefined;
    return { member: o.value.member, address: o.value.address, token: o.createRevision };
  }

  ownedToken(shard: number): number | undefined {
    const h = this.#locals.get(shard)?.hold;
    return h !== undefined && h.owned && h.lease.valid() ? h.token : undefined;
  }

  opening(shard: number): boolean {
    const h = this.#locals.get(shard)?.hold;
    return h !== undefined && !h.owned;
  }

  ownedShards(): ReadonlyMap<number, number> {
    const out = new Map<number, number>();
    for (const [shard, l] of this.#locals) if (l.hold?.owned === true && l.hold.lease.valid()) out.set(shard, l.hold.token);
    return out;
  }

  leaseId(): LeaseId | undefined {
    const lease = this.#lease;
    return lease !== undefined && lease.valid() ? lease.id : undefined;
  }

  assignedShards(): readonly number[] {
    const count = this.#partition?.shardCount;
    if (count === undefined) return [];
    const out: number[] = [];
    for (const shard of this.#view.shards()) {
      const a = this.#view.get(shard)?.assignment?.value;
      if (shard < count && a?.member === this.#o.memberId && a.state === 'active') out.push(shard);
    }
    return out.sort((x, y) => x - y);
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  recordAck(shard: number, token: number): void {
    this.#journal.record(shard, token, Date.now());
  }

  debug(): OwnershipDebug {
    const lease = this.#lease ?? this.#granted;
    const owned: { shard: number; token: number }[] = [];
    const opening: { shard: number; token: number }[] = [];
    for (const [shard, l] of [...this.#locals].sort((a, b) => a[0] - b[0])) {
      if (l.hold === undefined) continue;
      if (l.hold.owned && l.hold.lease.valid()) owned.push({ shard, token: l.hold.token });
      else if (!l.hold.owned) opening.push({ shard, token: l.hold.token });
    }
    return {
      memberId: this.#o.memberId,
      address: this.#address,
      ready: this.#ready,
      accepting: this.#accepting,
      lease:
        lease === undefined
          ? undefined
          : {
              id: lease.id,
              ttlSeconds: lease.ttlSeconds,
              state: lease.state,
              valid: lease.valid(),
              deadline: lease.deadline(),
              deadlineUnixMs: Math.round(Date.now() + (lease.deadline() - this.#coord.now())),
            },
      partition: this.#partition,
      owned,
      opening,
      acks: this.#journal.windows(),
      fencedWritesRejected: this.#fencedRejected,
    };
  }

  async releaseAll(): Promise<void> {
    this.#accepting = false;
    await this.setReady(false);
    // Every held shard now decides 'release shutdown' (a release drops the hold at once, so wait for
    // the workers, not the holds); an acquire still opening finishes first and is released after.
    for (;;) {
      this.#kickAll();
      const running = this.#running();
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  // ---------------------------------------------------------------- watches

  #onShards(update: WatchUpdate): void {
    const change = this.#view.apply(update);
    if (change === undefined) return;
    for (const m of change.malformed) this.#log.warn({ key: m.key, error: m.error }, 'malformed value in the shard key space; treated as not ours');
    if (change.shards === 'all') this.#kickAll();
    else for (const shard of change.shards) this.#kick(shard);
    this.#notify();
  }

  #onPartition(update: WatchUpdate): void {
    let kv: KeyValue | undefined;
    if (update.kind === 'disconnected') return;
    if (update.kind === 'snapshot') kv = update.entries.find((e) => e.key === this.#ks.partition);
    else {
      const mine = update.events.filter((e) => (e.type === 'put' ? e.kv.key : e.key) === this.#ks.partition);
      if (mine.length === 0) return;
      const last = mine[mine.length - 1]!;
      kv = last.type === 'put' ? last.kv : undefined;
    }
    let next: PartitionValue | undefined;
    if (kv !== undefined) {
      const decoded = decodeValue(PartitionValue, kv.value);
      if (decoded.ok) next = decoded.value;
      else this.#log.warn({ key: kv.key, error: decoded.error }, 'malformed partition value; acquiring nothing until it is fixed');
    }
    const versionChanged = next?.version !== this.#partition?.version;
    this.#partition = next;
    if (versionChanged) {
      this.#log.info({ partition: next }, 'partition map changed');
      // The controller counts a member as eligible only when it runs the stored partition version.
      this.#spawn(this.#syncMember());
    }
    this.#kickAll();
    this.#notify();
  }

  #onMember(update: WatchUpdate): void {
    if (update.kind === 'disconnected') return;
    if (update.kind === 'snapshot') this.#memberKv = update.entries.find((e) => e.key === this.#memberKey);
    else
      for (const e of update.events) {
        if (e.type === 'put' && e.kv.key === this.#memberKey) this.#memberKv = e.kv;
        else if (e.type === 'delete' && e.key === this.#memberKey) this.#memberKv = undefined;
      }
    this.#memberViewRevision = update.revision;
    // Self-healing: a member key deleted by hand, or overwritten by a late write of an earlier lease,
    // is written again while our session lives.
    this.#spawn(this.#syncMember());
  }

  // ---------------------------------------------------------------- member key

  #memberValue(): Uint8Array {
    return encodeValue(MemberValue, {
      address: this.#address,
      ports: { ...this.#ports },
      version: this.#o.version,
      ready: this.#ready,
      partitionVersion: this.#partition?.version ?? 0,
    });
  }

  #memberUpToDate(lease: Lease, bytes: Uint8Array): boolean {
    if (this.#memberViewRevision < this.#memberWaitRevision) {
      const c = this.#memberCommitted;
      return c !== undefined && c.lease === lease.id && bytesEqual(c.bytes, bytes);
    }
    const kv = this.#memberKv;
    return kv !== undefined && kv.lease === lease.id && bytesEqual(kv.value, bytes);
  }

  #enqueueMember<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#memberChain.then(task);
    this.#memberChain = run.catch(() => {});
    return run;
  }

  /** Writes the member key with `lease` until committed. False when the lease ended or stop() was called first. */
  #register(lease: Lease): Promise<boolean> {
    return this.#enqueueMember(() => this.#writeMember(lease, true));
  }

  /** Brings the member key up to date with the current session, if there is one (re-registration writes it otherwise). */
  #syncMember(): Promise<void> {
    return this.#enqueueMember(async () => {
      const lease = this.#lease;
      if (lease !== undefined) await this.#writeMember(lease, false);
    });
  }

  async #writeMember(lease: Lease, force: boolean): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      if (this.#abort.signal.aborted || !lease.valid()) return false;
      const bytes = this.#memberValue();
      if (!force && this.#memberUpToDate(lease, bytes)) return true;
      const result = await this.#coord.txn({ compare: [], success: [put(this.#memberKey, bytes, lease.id)] }).catch(
        (error: unknown) => ({ kind: 'unknown', error: error as Error }) as const,
      );
      if (result.kind === 'committed' || result.kind === 'rejected') {
        this.#memberWaitRevision = result.revision;
        this.#memberCommitted = { lease: lease.id, bytes };
        return true;
      }
      if (result.kind === 'lease-not-found') return false;
      this.#log.warn({ err: result.error, attempt }, 'member key write outcome unknown; retrying');
      try {
        await sleep(this.#clock, backoff(attempt, REGISTER_RETRY_MS), this.#abort.signal);
      } catch {
        return false;
      }
    }
  }

  // ---------------------------------------------------------------- session (lease)

  #grant(): Promise<Lease> {
    return this.#coord
      .grantLease(this.#o.leaseTtlSeconds, { onKeepAlive: (ms) => this.#metrics.renew.observe(ms / 1000) })
      .then((lease) => (this.#granted = lease));
  }

  /** Waits for the lease to end, gives up everything held under it, then grants a new one and registers again. */
  async #runSessions(first: Lease): Promise<void> {
    let lease = first;
    const signal = this.#abort.signal;
    for (;;) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          off();
          signal.removeEventListener('abort', done);
          resolve();
        };
        const off = lease.onExpired(done);
        signal.addEventListener('abort', done, { once: true });
      });
      if (signal.aborted) return;
      this.#log.warn({ lease: lease.id }, 'lease deadline passed: every owned shard is lost; registering again with a new lease');
      this.#lease = undefined;
      this.#notify();
      await this.#settleHoldsOf(lease);
      const next = await this.#renew();
      if (next === undefined) return;
      lease = next;
      this.#lease = next;
      for (const l of this.#locals.values()) l.blockedAt = undefined;
      this.#log.info({ lease: next.id }, 'member registered again');
      this.#spawn(this.#syncMember()); // desired state may have moved while we were registering
      this.#kickAll();
      this.#notify();
    }
  }

  /** Until no shard is held under `lease` any more (each has seen onRelease('lost') and the fenced cleanup). */
  async #settleHoldsOf(lease: Lease): Promise<void> {
    for (;;) {
      if (this.#stopped) return;
      const running: Promise<void>[] = [];
      for (const [shard, l] of this.#locals) {
        if (l.hold?.lease !== lease) continue;
        this.#kick(shard);
        if (l.worker?.promise !== undefined) running.push(l.worker.promise);
      }
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  async #renew(): Promise<Lease | undefined> {
    for (let attempt = 0; !this.#abort.signal.aborted; attempt++) {
      try {
        const lease = await this.#grant();
        if (await this.#register(lease)) return lease;
        lease.abandon();
      } catch (error) {
        this.#log.warn({ err: error, attempt }, 'lease grant failed; retrying');
      }
      try {
        await sleep(this.#clock, backoff(attempt, REGISTER_RETRY_MS), this.#abort.signal);
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------- per-shard workers

  #local(shard: number): ShardLocal {
    let l = this.#locals.get(shard);
    if (l === undefined) {
      l = { hold: undefined, worker: undefined, waitRevision: 0, blockedAt: undefined, txnFailures: 0, retryAt: 0, acquireFailures: 0, timers: new Set() };
      this.#locals.set(shard, l);
    }
    return l;
  }

  #decide(shard: number): ShardAction {
    const l = this.#locals.get(shard);
    const v = this.#view.get(shard);
    const lease = this.#lease;
    return decideShard({
      shard,
      memberId: this.#o.memberId,
      leaseId: lease !== undefined && lease.valid() ? lease.id : undefined,
      accepting: this.#accepting,
      shardCount: this.#partition?.shardCount,
      assignment: v?.assignment,
      owner: v?.owner,
      held: l?.hold === undefined ? undefined : { token: l.hold.token, leaseId: l.hold.lease.id },
      caughtUp: this.#view.revision >= (l?.waitRevision ?? 0),
      blocked: l?.blockedAt !== undefined && l.blockedAt === this.#view.generation(shard),
      backingOff: l !== undefined && this.#clock.now() < l.retryAt,
    });
  }

  #running(): Promise<void>[] {
    return [...this.#locals.values()].flatMap((l) => (l.worker?.promise === undefined ? [] : [l.worker.promise]));
  }

  #kickAll(): void {
    const shards = new Set<number>(this.#locals.keys());
    for (const s of this.#view.shards()) shards.add(s);
    for (const s of shards) this.#kick(s);
  }

  /** Starts a worker for the shard unless one runs (it re-decides after every step, so it sees this change too). */
  #kick(shard: number): void {
    if (this.#stopped) return;
    const existing = this.#locals.get(shard);
    if (existing?.worker !== undefined) return;
    const first = this.#decide(shard);
    if (first.kind === 'none') return;
    const l = this.#local(shard);
    const worker: Worker = { promise: undefined };
    l.worker = worker;
    worker.promise = (async () => {
      let action: ShardAction = first;
      for (;;) {
        try {
          await this.#perform(shard, action);
        } catch (error) {
          // Steps handle their expected outcomes; this is a bug or a throwing coordinator. Back off.
          this.#log.error({ err: error, shard, action: action.kind }, 'ownership step failed');
          this.#block(shard, true);
        }
        action = this.#stopped ? { kind: 'none' } : this.#decide(shard);
        // Cleared in the same synchronous step as the last decision, so no kick can fall in between.
        if (action.kind === 'none') break;
      }
      if (l.worker === worker) l.worker = undefined;
    })();
  }

  async #perform(shard: number, action: ShardAction): Promise<void> {
    switch (action.kind) {
      case 'none':
        return;
      case 'acquire':
        return this.#acquire(shard, action.assignmentModRevision);
      case 'adopt':
        this.#log.info({ shard, token: action.token }, 'adopting an owner key created under this lease');
        return this.#open(shard, action.token, this.#lease!);
      case 'discard':
        return this.#fencedDelete(shard, action.token, 'discard', false);
      case 'release':
        return this.#release(shard, action.token, action.reason);
      case 'lost':
        return this.#lost(shard, action.token, action.cause);
    }
  }

  async #acquire(shard: number, assignmentModRevision: number): Promise<void> {
    const lease = this.#lease!;
    const l = this.#local(shard);
    const ownerKey = this.#ks.owner(shard);
    // The view this attempt was decided on: updates applied while the txn is in flight are news.
    const decidedAt = this.#view.generation(shard);
    const result = await this.#coord.txn({
      compare: [ifModRevision(this.#ks.assignment(shard), assignmentModRevision), ifAbsent(ownerKey)],
      success: [put(ownerKey, this.#ownerValue, lease.id), get(ownerKey)],
    });
    switch (result.kind) {
      case 'committed': {
        l.txnFailures = 0;
        l.waitRevision = Math.max(l.waitRevision, result.revision);
        const r = result.results[1];
        const token = r?.op === 'get' && r.kv !== undefined ? r.kv.createRevision : result.revision;
        return this.#open(shard, token, lease);
      }
      case 'rejected':
        // The store differs from our view (assignment moved or an owner appeared); the watch is
        // about to show how (or already has, while the txn was in flight: then it is not blocked).
        // Try again only once it has.
        this.#block(shard, false, decidedAt);
        return;
      case 'lease-not-found':
      case 'unknown':
        // Unknown: the put may have landed; if so the watch shows our key and we adopt it. If not,
        // nothing changes in the view, so a timer retries.
        this.#log.warn({ shard, outcome: result.kind }, 'acquire outcome not committed; re-evaluating');
        this.#block(shard, true);
        return;
    }
  }

  /** The owner key with `token` is ours: tell the ingester, and only when it is ready count the shard as owned. */
  async #open(shard: number, token: number, lease: Lease): Promise<void> {
    const l = this.#local(shard);
    if (this.#stopped || this.#lease !== lease || !lease.valid()) {
      // Acquired under a lease that is already over: nobody was told, so just try to take it back.
      await this.#fencedDelete(shard, token, 'acquired after the lease ended', false);
      return;
    }
    const hold: Hold = { token, lease, owned: false };
    l.hold = hold;
    try {
      await this.#o.onAcquire(shard, token);
    } catch (error) {
      l.hold = undefined;
      l.retryAt = this.#clock.now() + backoff(l.acquireFailures++, ACQUIRE_RETRY_MS);
      this.#log.error({ err: error, shard, token, retryInMs: l.retryAt - this.#clock.now() }, 'shard could not be opened; giving the owner key back and retrying later');
      this.#armTimer(shard, l.retryAt - this.#clock.now(), false);
      await this.#fencedDelete(shard, token, 'open failed', false);
      return;
    }
    l.acquireFailures = 0;
    hold.owned = true;
    this.#log.info({ shard, token }, 'shard acquired');
    this.#updateMetrics(shard);
    this.#notify();
  }

  async #release(shard: number, token: number, reason: Exclude<ReleaseReason, 'lost'>): Promise<void> {
    const l = this.#local(shard);
    l.hold = undefined; // ownedToken() answers undefined from here on
    this.#updateMetrics(shard);
    this.#metrics.handoffs.inc({ reason });
    this.#log.info({ shard, token, reason }, 'releasing shard');
    this.#notify();
    try {
      await this.#o.onRelease(shard, token, reason);
    } catch (error) {
      // Deleting the key is still right: nothing is acknowledged for the shard any more.
      this.#log.error({ err: error, shard, token, reason }, 'onRelease failed; releasing the owner key anyway');
    }
    await this.#fencedDelete(shard, token, reason, false);
  }

  async #lost(shard: number, token: number, cause: 'lease' | 'owner'): Promise<void> {
    const l = this.#local(shard);
    l.hold = undefined;
    this.#updateMetrics(shard);
    this.#metrics.handoffs.inc({ reason: 'lost' });
    this.#log.warn({ shard, token, cause }, cause === 'lease' ? 'shard lost: lease deadline passed' : 'shard lost: owner key deleted or replaced');
    this.#notify();
    try {
      await this.#o.onRelease(shard, token, 'lost');
    } catch (error) {
      this.#log.error({ err: error, shard, token }, 'onRelease(lost) failed');
    }
    // The server may not have expired the lease yet (the local deadline keeps a margin): delete the
    // key with the old token so the shard frees up sooner. Usually the key is already gone and etcd
    // rejects it, which is what the fenced-writes counter records.
    if (cause === 'lease') await this.#fencedDelete(shard, token, 'lease lost', true);
  }

  /**
   * txn [ifCreateRevision(owner, token)] → [del(owner)]. `persist`: retry unknown outcomes until etcd
   * answers (the lease-loss path, which waits for the coordinator anyway before it can re-register);
   * otherwise an unknown outcome is left to the level-triggered loop (a key still ours is discarded).
   */
  async #fencedDelete(shard: number, token: number, why: string, persist: boolean): Promise<void> {
    const l = this.#local(shard);
    for (let attempt = 0; ; attempt++) {
      const result = await this.#coord.txn({ compare: [ifCreateRevision(this.#ks.owner(shard), token)], success: [del(this.#ks.owner(shard))] });
      switch (result.kind) {
        case 'committed':
          l.txnFailures = 0;
          l.waitRevision = Math.max(l.waitRevision, result.revision);
          return;
        case 'rejected':
          this.#fencedRejected++;
          this.#metrics.fenced.inc();
          this.#log.warn({ shard, token, why }, 'fenced owner release rejected: the key is gone or belongs to another token');
          return;
        case 'lease-not-found': // a delete names no lease; cannot happen
        case 'unknown':
          if (!persist) {
            this.#block(shard, true);
            return;
          }
          try {
            await sleep(this.#clock, backoff(attempt, TXN_RETRY_MS), this.#abort.signal);
          } catch {
            return;
          }
      }
    }
  }

  /** Holds the shard's next non-held step until its view changes; `withTimer` also retries after a back-off (for outcomes the view may never show). */
  #block(shard: number, withTimer: boolean, generation = this.#view.generation(shard)): void {
    const l = this.#local(shard);
    l.blockedAt = generation;
    if (withTimer) this.#armTimer(shard, backoff(l.txnFailures++, TXN_RETRY_MS), true);
  }

  #armTimer(shard: number, ms: number, unblock: boolean): void {
    const l = this.#local(shard);
    const cancel = this.#clock.setTimer(() => {
      l.timers.delete(cancel);
      if (unblock) l.blockedAt = undefined;
      this.#kick(shard);
    }, ms);
    l.timers.add(cancel);
  }

  // ---------------------------------------------------------------- shutdown

  async #shutdown(): Promise<void> {
    this.#stopped = true;
    this.#accepting = false;
    this.#abort.abort(new Error('ownership stopped'));
    for (const w of this.#watches) w.close();
    for (const l of this.#locals.values()) {
      for (const cancel of l.timers) cancel();
      l.timers.clear();
    }
    await Promise.all(this.#running());
    // Whatever is still held goes with the lease; the ingester still hears about it first.
    for (const [shard, l] of this.#locals) {
      const hold = l.hold;
      if (hold === undefined) continue;
      l.hold = undefined;
      this.#updateMetrics(shard);
      this.#metrics.handoffs.inc({ reason: 'shutdown' });
      try {
        await this.#o.onRelease(shard, hold.token, 'shutdown');
      } catch (error) {
        this.#log.error({ err: error, shard, token: hold.token }, 'onRelease(shutdown) failed');
      }
    }
    await this.#memberChain;
    await this.#session;
    const lease = this.#granted;
    this.#lease = undefined;
    if (lease !== undefined) {
      try {
        await lease.revoke();
        this.#log.info({ lease: lease.id }, 'lease revoked; member and owner keys deleted');
      } catch (error) {
        lease.abandon();
        this.#log.warn({ err: error, lease: lease.id }, 'lease revoke failed; its keys lapse after the TTL');
      }
    }
    this.#notify();
  }

  // ---------------------------------------------------------------- helpers

  #updateMetrics(shard: number): void {
    const h = this.#locals.get(shard)?.hold;
    this.#metrics.token.set({ shard: String(shard) }, h?.owned === true ? h.token : 0);
    let owned = 0;
    for (const l of this.#locals.values()) if (l.hold?.owned === true) owned++;
    this.#metrics.owned.set(owned);
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener();
      } catch (error) {
        this.#log.error({ err: error }, 'ownership change listener threw');
      }
    }
  }

  #spawn(p: Promise<unknown>): void {
    p.catch((error: unknown) => this.#log.error({ err: error }, 'ownership background task failed'));
  }
}
