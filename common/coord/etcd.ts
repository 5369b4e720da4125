// Coordinator over a real etcd cluster through the `etcd3` package — used only for its connection
// pool and typed gRPC stubs (KV, Lease, Watch). Its high-level helpers are avoided on purpose,
// because of three known pitfalls of etcd3@1.1.2 (DESIGN.md §5):
//  1. Fault handling: by default every call runs through a cockatiel retry(3) + circuit breaker, so a
//     txn whose reply was lost is re-sent; the first attempt may have applied a CAS and the retry
//     then reports "compare failed". We install no-op policies and map a transport failure of a txn
//     to `{ kind: 'unknown' }`; the caller re-reads. Every unary call also gets a deadline, since
//     grpc-js waits forever by default (a SIGSTOPped server would hang a txn).
//  2. Watches: its WatchManager resumes streams itself and can skip events when it reconnects during
//     a large catch-up. We drive raw Watch streams: snapshot (paginated range at revision R), then a
//     watch from R+1; on any stream error, end or compaction cancel we re-list and deliver a fresh
//     snapshot.
//  3. Replies over 4 MiB (grpc-js's default receive limit) fail: ranges are paginated with a page
//     size adapted to the observed entry size, shrinking on RESOURCE_EXHAUSTED.
// Leases use raw LeaseKeepAlive streams under KeptLease (lease.ts): etcd3's Lease only reports
// "lost" after 2×TTL, far too late for fencing.
// cockatiel is etcd3's own dependency (its documented way to switch fault handling off is
// `Policy.noop`); it is imported directly rather than re-implementing its IPolicy interface.
import { noop } from 'cockatiel';
import {
  Etcd3,
  EtcdLeaseInvalidError,
  GRPCInvalidArgumentError,
  GRPCResourceExhastedError,
  type ICompare,
  type IDuplexStream,
  type IKeyValue,
  type ILeaseKeepAliveRequest,
  type ILeaseKeepAliveResponse,
  type IRequestOp,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
import { SkeinError } from '../errors/index.js';
import { sleep, systemClock, type Clock } from './clock.js';
import {
  checkRevision,
  prefixEnd,
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

export interface EtcdCoordinatorOptions {
  /** e.g. ['http://127.0.0.1:2379']. */
  readonly endpoints: readonly string[];
  /** Deadline of every unary call (txn, range, lease grant/revoke); a txn past it is an unknown outcome. Default 5000. */
  readonly requestTimeoutMs?: number;
  /** Connect timeout. Default 5000. */
  readonly dialTimeoutMs?: number;
  /** Target size of one range page. Default 2 MiB (half of grpc-js's 4 MiB receive limit). */
  readonly pageBytes?: number;
  readonly clock?: Clock;
  /** Test-only: runs between a watch's snapshot and its stream, so a test can compact the store in that gap. */
  readonly beforeWatchStream?: (snapshotRevision: number) => Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAX_PAGE_ENTRIES = 1000;
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2000;

export function createEtcdCoordinator(options: EtcdCoordinatorOptions): Coordinator {
  return new EtcdCoordinator(options);
}

function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: decoder.decode(kv.key),
    value: new Uint8Array(kv.value),
    createRevision: checkRevision(kv.create_revision),
    modRevision: checkRevision(kv.mod_revision),
    version: checkRevision(kv.version),
    lease: kv.lease === '0' || kv.lease === '' ? undefined : kv.lease,
  };
}

function buf(value: Uint8Array | string): Buffer {
  const bytes = toBytes(value);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** etcd rejects an empty key, so the whole key space (prefix '') starts at "\0". */
function rangeStart(prefix: Uint8Array): Buffer {
  return prefix.length === 0 ? Buffer.from([0]) : Buffer.from(prefix);
}

const compareResult = { '==': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;

function toCompare(c: Compare): ICompare {
  const key = buf(c.key);
  switch (c.target) {
    case 'value':
      return { key, target: 'Value', result: compareResult[c.op], value: buf(c.value) };
    case 'lease':
      return { key, target: 'Lease', result: compareResult[c.op], lease: c.value ?? '0' };
    case 'createRevision':
      return { key, target: 'Create', result: compareResult[c.op], create_revision: c.value };
    case 'modRevision':
      return { key, target: 'Mod', result: compareResult[c.op], mod_revision: c.value };
    case 'version':
      return { key, target: 'Version', result: compareResult[c.op], version: c.value };
  }
}

function toRequestOp(op: Op): IRequestOp {
  switch (op.op) {
    case 'put':
      return { request_put: { key: buf(op.key), value: buf(op.value), lease: op.lease ?? '0' } };
    case 'delete':
      return { request_delete_range: { key: buf(op.key) } };
    case 'get':
      return { request_range: { key: buf(op.key) } };
  }
}

function unavailable(what: string, cause: unknown): SkeinError {
  return new SkeinError('UNAVAILABLE', `etcd ${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
}

class EtcdCoordinator implements Coordinator {
  readonly #client: Etcd3;
  readonly #clock: Clock;
  readonly #pageBytes: number;
  readonly #requestTimeoutMs: number;
  readonly #beforeWatchStream: ((revision: number) => Promise<void>) | undefined;
  readonly #leases = new Set<KeptLease>();
  readonly #watches = new Set<EtcdWatch>();
  readonly #streams = new Set<KeepAliveStream>();
  #closed = false;

  constructor(options: EtcdCoordinatorOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#pageBytes = options.pageBytes ?? 2 * 1024 * 1024;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.#beforeWatchStream = options.beforeWatchStream;
    const timeout = this.#requestTimeoutMs;
    this.#client = new Etcd3({
      hosts: [...options.endpoints],
      dialTimeout: options.dialTimeoutMs ?? 5000,
      // Pitfall 1: no retries, no circuit breaker — an unknown outcome reaches the caller once.
      faultHandling: { host: () => noop, global: noop },
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
      // Detect a silent (e.g. SIGSTOPped) server on long-lived streams. etcd's default
      // --grpc-keepalive-min-time is 5 s; pinging more often gets the connection closed.
      grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 },
    });
  }

  now(): number {
    return this.#clock.now();
  }

  async get(key: string): Promise<GetResult> {
    this.#checkOpen();
    try {
      const res = await this.#client.kv.range({ key: buf(key) });
      return { revision: checkRevision(res.header.revision), kv: res.kvs[0] === undefined ? undefined : toKeyValue(res.kvs[0]) };
    } catch (error) {
      throw unavailable('get', error);
    }
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    this.#checkOpen();
    const prefixBytes = encoder.encode(prefix);
    const end = Buffer.from(prefixEnd(prefixBytes));
    let start = rangeStart(prefixBytes);
    if (options.startAfter !== undefined) {
      const after = Buffer.concat([buf(options.startAfter), Buffer.from([0])]);
      if (Buffer.compare(after, start) > 0) start = after;
    }
    const limit = options.limit;
    const entries: KeyValue[] = [];
    let revision: number | undefined;
    let pageEntries = 100;
    for (;;) {
      const remaining = limit === undefined ? Infinity : limit - entries.length;
      const want = Math.min(pageEntries, remaining);
      let res;
      try {
        res = await this.#client.kv.range({ key: start, range_end: end, limit: want, ...(revision === undefined ? {} : { revision }) });
      } catch (error) {
        // Pitfall 3: a page over the receive limit; retry the same page smaller.
        if (error instanceof GRPCResourceExhastedError && want > 1) {
          pageEntries = Math.max(1, Math.floor(want / 4));
          continue;
        }
        throw unavailable('range', error);
      }
      revision ??= checkRevision(res.header.revision);
      let bytes = 0;
      for (const kv of res.kvs) {
        entries.push(toKeyValue(kv));
        bytes += kv.key.length + kv.value.length;
      }
      if (!res.more || res.kvs.length === 0) return { revision, entries, more: false };
      if (limit !== undefined && entries.length >= limit) return { revision, entries, more: true };
      const average = Math.max(1, bytes / res.kvs.length);
      pageEntries = Math.max(1, Math.min(MAX_PAGE_ENTRIES, Math.floor(this.#pageBytes / average)));
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    this.#checkOpen();
    let res;
    try {
      res = await this.#client.kv.txn({
        compare: request.compare.map(toCompare),
        success: request.success.map(toRequestOp),
        failure: (request.failure ?? []).map(toRequestOp),
      });
    } catch (error) {
      if (error instanceof EtcdLeaseInvalidError) {
        const op = [...request.success, ...(request.failure ?? [])].find((o) => o.op === 'put' && o.lease !== undefined);
        return { kind: 'lease-not-found', lease: op?.op === 'put' ? (op.lease ?? '0') : '0' };
      }
      if (error instanceof GRPCInvalidArgumentError) throw new SkeinError('INVALID_ARGUMENT', `etcd rejected txn: ${error.message}`, { cause: error });
      // Pitfall 1: anything else (unavailable, deadline, reset, "request timed out") may or may not
      // have been applied. Never re-send.
      return { kind: 'unknown', error: error as Error };
    }
    const ops = res.succeeded ? request.success : (request.failure ?? []);
    const results: OpResult[] = ops.map((op, i): OpResult => {
      const r = res.responses[i]!;
      switch (op.op) {
        case 'put':
          return { op: 'put' };
        case 'delete':
          return { op: 'delete', deleted: Number(r.response_delete_range.deleted) };
        case 'get': {
          const kv = r.response_range.kvs[0];
          return { op: 'get', kv: kv === undefined ? undefined : toKeyValue(kv) };
        }
      }
    });
    return { kind: res.succeeded ? 'committed' : 'rejected', revision: checkRevision(res.header.revision), results };
  }

  async grantLease(ttlSeconds: number, options: GrantLeaseOptions = {}): Promise<Lease> {
    this.#checkOpen();
    const sentAt = this.#clock.now();
    let granted;
    try {
      granted = await this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlSeconds), ID: 0 });
    } catch (error) {
      throw unavailable('lease grant', error);
    }
    if (granted.error) throw unavailable('lease grant', new Error(granted.error));
    const ttl = Number(granted.TTL);
    const stream = new KeepAliveStream(this.#client, this.#clock, options.keepAliveIntervalMs ?? Math.max(50, (ttl * 1000) / 3));
    this.#streams.add(stream);
    const lease = new KeptLease({
      id: granted.ID,
      ttlSeconds: ttl,
      grantSentAt: sentAt,
      clock: this.#clock,
      marginMs: options.marginMs,
      keepAliveIntervalMs: options.keepAliveIntervalMs,
      onKeepAlive: options.onKeepAlive,
      transport: {
        keepAlive: (id) => stream.keepAlive(id),
        revoke: async (id) => {
          try {
            await this.#client.leaseClient.leaseRevoke({ ID: id });
          } catch (error) {
            if (error instanceof EtcdLeaseInvalidError) return; // already gone: the goal is reached
            throw unavailable('lease revoke', error);
          }
        },
      },
      onStop: (l) => {
        this.#leases.delete(l);
        stream.close();
        this.#streams.delete(stream);
      },
    });
    this.#leases.add(lease);
    return lease;
  }

  watchPrefix(prefix: string, handler: (update: WatchUpdate) => void): Watch {
    this.#checkOpen();
    const watch = new EtcdWatch(this, this.#client, this.#clock, prefix, handler, this.#beforeWatchStream, () => this.#watches.delete(watch));
    this.#watches.add(watch);
    return watch;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const watch of [...this.#watches]) watch.close();
    for (const lease of [...this.#leases]) lease.abandon();
    for (const stream of [...this.#streams]) stream.close();
    await Promise.resolve();
    this.#client.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new SkeinError('UNAVAILABLE', 'coordinator client closed');
  }
}

/**
 * One LeaseKeepAlive stream for one lease. Replies come back in request order, so a FIFO of
 * pending requests pairs them. A reply missing for longer than the keep-alive interval resets the
 * stream (a half-dead connection must not silently eat keep-alives).
 */
class KeepAliveStream {
  readonly #client: Etcd3;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  #stream: Promise<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>> | undefined;
  #pending: Array<{ resolve: (ttl: number) => void; reject: (e: Error) => void; cancel: () => void }> = [];
  #closed = false;

  constructor(client: Etcd3, clock: Clock, timeoutMs: number) {
    this.#client = client;
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
  }

  async keepAlive(id: LeaseId): Promise<number> {
    if (this.#closed) throw new Error('keep-alive stream closed');
    const stream = await this.#open();
    return new Promise<number>((resolve, reject) => {
      const cancel = this.#clock.setTimer(() => this.#reset(new Error('keep-alive reply timed out')), this.#timeoutMs);
      this.#pending.push({ resolve, reject, cancel });
      stream.write({ ID: id });
    });
  }

  close(): void {
    this.#closed = true;
    this.#reset(new Error('keep-alive stream closed'));
  }

  #open(): Promise<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>> {
    if (this.#stream !== undefined) return this.#stream;
    const opening = this.#client.leaseClient.leaseKeepAlive().then((stream) => {
      stream.on('data', (res) => {
        const next = this.#pending.shift();
        next?.cancel();
        next?.resolve(Number(res.TTL));
      });
      stream.on('error', (error) => this.#reset(error, opening));
      stream.on('end', () => this.#reset(new Error('keep-alive stream ended'), opening));
      return stream;
    });
    opening.catch(() => this.#reset(new Error('keep-alive stream failed to open'), opening));
    this.#stream = opening;
    return opening;
  }

  #reset(error: Error, which?: Promise<unknown>): void {
    if (which !== undefined && which !== this.#stream) return;
    const old = this.#stream;
    this.#stream = undefined;
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) {
      p.cancel();
      p.reject(error);
    }
    old?.then(
      (s) => s.cancel(),
      () => {},
    );
  }
}

/** Pitfall 2: a prefix watch that re-lists after every break instead of trusting a resumed stream. */
class EtcdWatch implements Watch {
  readonly ready: Promise<void>;
  readonly #coord: EtcdCoordinator;
  readonly #client: Etcd3;
  readonly #clock: Clock;
  readonly #prefix: string;
  readonly #handler: (update: WatchUpdate) => void;
  readonly #onClose: () => void;
  readonly #beforeStream: ((revision: number) => Promise<void>) | undefined;
  readonly #abort = new AbortController();
  #markReady: () => void = () => {};

  constructor(
    coord: EtcdCoordinator,
    client: Etcd3,
    clock: Clock,
    prefix: string,
    handler: (update: WatchUpdate) => void,
    beforeStream: ((revision: number) => Promise<void>) | undefined,
    onClose: () => void,
  ) {
    this.#beforeStream = beforeStream;
    this.#coord = coord;
    this.#client = client;
    this.#clock = clock;
    this.#prefix = prefix;
    this.#handler = handler;
    this.#onClose = onClose;
    this.ready = new Promise((resolve) => (this.#markReady = resolve));
    this.#run().catch(() => {}); // #run handles its own errors; this only keeps the promise owned
  }

  close(): void {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort(new Error('watch closed'));
    this.#onClose();
  }

  #deliver(update: WatchUpdate): void {
    if (this.#abort.signal.aborted) return;
    this.#handler(update);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let backoff = RECONNECT_MIN_MS;
    let connected = false;
    while (!signal.aborted) {
      let reason: Error;
      try {
        const snapshot = await this.#coord.range(this.#prefix);
        if (signal.aborted) return;
        this.#deliver({ kind: 'snapshot', revision: snapshot.revision, entries: snapshot.entries });
        this.#markReady();
        connected = true;
        backoff = RECONNECT_MIN_MS;
        await this.#beforeStream?.(snapshot.revision);
        reason = await this.#stream(snapshot.revision + 1);
      } catch (error) {
        reason = error as Error;
      }
      if (signal.aborted) return;
      if (connected) this.#deliver({ kind: 'disconnected', error: reason });
      connected = false;
      try {
        await sleep(this.#clock, backoff, signal);
      } catch {
        return;
      }
      backoff = Math.min(RECONNECT_MAX_MS, backoff * 2);
    }
  }

  /** Runs one watch stream from `startRevision`; resolves with the reason it stopped. */
  async #stream(startRevision: number): Promise<Error> {
    const signal = this.#abort.signal;
    const stream: IDuplexStream<IWatchRequest, IWatchResponse> = await this.#client.watchClient.watch();
    const prefixBytes = encoder.encode(this.#prefix);
    return new Promise<Error>((resolve) => {
      const finish = (error: Error): void => {
        signal.removeEventListener('abort', onAbort);
        stream.cancel();
        resolve(error);
      };
      const onAbort = (): void => finish(new Error('watch closed'));
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (res) => {
        if (res.canceled) {
          finish(new Error(`watch canceled (compact revision ${res.compact_revision}): ${res.cancel_reason}`));
          return;
        }
        // One update per revision, so a multi-key txn is applied by the handler atomically.
        let batch: WatchEvent[] = [];
        let batchRevision = 0;
        for (const ev of res.events) {
          const revision = checkRevision(ev.kv.mod_revision);
          if (revision !== batchRevision && batch.length > 0) {
            this.#deliver({ kind: 'events', revision: batchRevision, events: batch });
            batch = [];
          }
          batchRevision = revision;
          batch.push(ev.type === 'Delete' ? { type: 'delete', key: decoder.decode(ev.kv.key), modRevision: revision } : { type: 'put', kv: toKeyValue(ev.kv) });
        }
        if (batch.length > 0) this.#deliver({ kind: 'events', revision: batchRevision, events: batch });
      });
      stream.on('error', (error) => finish(error));
      stream.on('end', () => finish(new Error('watch stream ended')));
      stream.write({ create_request: { key: rangeStart(prefixBytes), range_end: Buffer.from(prefixEnd(prefixBytes)), start_revision: startRevision } });
    });
  }
}
