// Client side of the internal service: one @grpc/grpc-js channel per member address, unary calls
// with raw-bytes (de)serializers, a deadline per call and cancellation by AbortSignal. Forward
// answers a union (ok / not-owner / unavailable / failed) because the caller's retry loop branches
// on it; the query methods throw SkeinErrors (UNAVAILABLE when the member could not be reached in
// time, the catalogue code the member sent otherwise).
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, SkeinError, type ErrorCode } from '../errors/index.js';
import { TENANT_HEADER, type OperationInfo, type SearchRequest, type SearchResult, type TraceResult } from '../model/index.js';
import { FLUSHED_REVISION_TRAILER, FORWARD_METADATA, RPC_PATHS, decodeJson, encodeJson, groupsFromTracesData, type ForwardRequest } from './protocol.js';

export interface CallOptions {
  /** Time the call may take, ms from now. */
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
}

export type ForwardOutcome =
  | { readonly kind: 'ok' }
  /** The member does not own the shard; `ownerHint` (`member@address`) is who it thinks does. */
  | { readonly kind: 'not-owner'; readonly message: string; readonly ownerHint?: string }
  /** Could not reach the member, it timed out, or it answered with a retryable error. */
  | { readonly kind: 'unavailable'; readonly message: string }
  /** The member refused the spans for good (bad input): retrying elsewhere will not help. */
  | { readonly kind: 'failed'; readonly error: SkeinError };

export interface IngesterClient {
  readonly address: string;
  forward(request: ForwardRequest, options: CallOptions): Promise<ForwardOutcome>;
  findTrace(tenant: string, traceId: Uint8Array, options: CallOptions): Promise<TraceResult | null>;
  search(tenant: string, request: SearchRequest, options: CallOptions): Promise<SearchResult>;
  tagNames(tenant: string, options: CallOptions): Promise<string[]>;
  tagValues(tenant: string, tag: string, options: CallOptions): Promise<string[]>;
  services(tenant: string, options: CallOptions): Promise<string[]>;
  operations(tenant: string, service: string, options: CallOptions): Promise<OperationInfo[]>;
}

export interface IngesterClientPool {
  /** The client of `address` (`host:port`), created on first use. */
  get(address: string): IngesterClient;
  /** Closes the clients of addresses not in `addresses`. */
  retain(addresses: ReadonlySet<string>): void;
  /** Closes every client; calls in flight fail with UNAVAILABLE. */
  close(): void;
}

export interface IngesterClientPoolOptions {
  /** Largest message sent or received (default 64 MiB). */
  readonly maxMessageBytes?: number;
}

const identity = (b: Buffer): Buffer => b;
const toBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** A grpc-js ServiceError → SkeinError: the member leads its message with our catalogue code. */
function fromServiceError(address: string, e: grpc.ServiceError): SkeinError {
  const details = e.details ?? e.message;
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(details);
  if (m !== null && Object.hasOwn(ErrorCodes, m[1]!)) return new SkeinError(m[1] as ErrorCode, `member ${address}: ${m[2]!}`);
  switch (e.code) {
    case grpc.status.DEADLINE_EXCEEDED:
      return new SkeinError('UNAVAILABLE', `member ${address}: no answer before the deadline`);
    case grpc.status.CANCELLED:
      return new SkeinError('UNAVAILABLE', `member ${address}: call cancelled`);
    case grpc.status.UNAVAILABLE:
      return new SkeinError('UNAVAILABLE', `member ${address} unreachable: ${details}`);
    case grpc.status.RESOURCE_EXHAUSTED:
      return new SkeinError('PAYLOAD_TOO_LARGE', `member ${address}: ${details}`);
    default:
      return new SkeinError('INTERNAL', `member ${address}: gRPC status ${e.code}: ${details}`);
  }
}

class MemberClient implements IngesterClient {
  private readonly client: grpc.Client;

  constructor(
    readonly address: string,
    maxMessageBytes: number,
  ) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': maxMessageBytes,
      'grpc.max_receive_message_length': maxMessageBytes,
      // Reconnect quickly after a member restarts on the same address (failover is measured in seconds).
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    });
  }

  /** Calls started and not yet answered: close() cancels them (grpc-js would let them run on). */
  private readonly inflight = new Set<grpc.ClientUnaryCall>();
  private closed = false;

  close(): void {
    this.closed = true;
    for (const call of this.inflight) call.cancel();
    this.inflight.clear();
    this.client.close();
  }

  /** One unary call; rejects with the raw ServiceError. */
  private async call(path: string, body: Uint8Array, metadata: grpc.Metadata, options: CallOptions): Promise<Buffer> {
    return (await this.callWithTrailers(path, body, metadata, options)).value;
  }

  /** One unary call answering the message and the trailing metadata that came with status OK. */
  private callWithTrailers(path: string, body: Uint8Array, metadata: grpc.Metadata, options: CallOptions): Promise<{ value: Buffer; trailers: grpc.Metadata }> {
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      if (signal?.aborted === true) {
        reject(Object.assign(new Error('cancelled before the call'), { code: grpc.status.CANCELLED, details: 'cancelled before the call', metadata: new grpc.Metadata() }));
        return;
      }
      const unavailable = (details: string): grpc.ServiceError =>
        Object.assign(new Error(details), { code: grpc.status.UNAVAILABLE, details, metadata: new grpc.Metadata() });
      if (this.closed) {
        reject(unavailable('client closed (the member left the cluster, or this process is shutting down)'));
        return;
      }
      const deadline = new Date(Date.now() + Math.max(1, options.deadlineMs));
      const onAbort = (): void => call?.cancel();
      let call: grpc.ClientUnaryCall | undefined;
      // grpc-js calls the callback, then emits 'status' (with the trailers) in the same step.
      let received: Buffer | undefined;
      try {
        call = this.client.makeUnaryRequest(path, identity, identity, toBuffer(body), metadata, { deadline }, (err, value) => {
          signal?.removeEventListener('abort', onAbort);
          if (call !== undefined) this.inflight.delete(call);
          if (err !== null) reject(err);
          else received = value ?? Buffer.alloc(0);
        });
        call.on('status', (status: grpc.StatusObject) => {
          if (received !== undefined) resolve({ value: received, trailers: status.metadata });
        });
      } catch (e) {
        // grpc-js throws (no status code) when the channel was shut down meanwhile.
        reject(unavailable(`channel closed: ${(e as Error).message}`));
        return;
      }
      this.inflight.add(call);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async query(path: string, body: unknown, options: CallOptions): Promise<Buffer> {
    return (await this.queryWithFlushed(path, body, options)).value;
  }

  /** A query answer and its flushed-revision trailer, if the member sent one. */
  private async queryWithFlushed(path: string, body: unknown, options: CallOptions): Promise<{ value: Buffer; flushedRevision: number | undefined }> {
    let answer: { value: Buffer; trailers: grpc.Metadata };
    try {
      answer = await this.callWithTrailers(path, encodeJson(body), new grpc.Metadata(), options);
    } catch (e) {
      throw fromServiceError(this.address, e as grpc.ServiceError);
    }
    const text = answer.trailers.get(FLUSHED_REVISION_TRAILER)[0];
    if (text === undefined) return { value: answer.value, flushedRevision: undefined };
    const n = typeof text === 'string' && /^\d{1,15}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n)) throw new SkeinError('INTERNAL', `${path} answer from ${this.address}: trailer ${FLUSHED_REVISION_TRAILER} is not a revision: ${String(text)}`);
    return { value: answer.value, flushedRevision: n };
  }

  private async queryJson(path: string, body: unknown, options: CallOptions): Promise<unknown> {
    return decodeJson(await this.query(path, body, options), `${path} answer from ${this.address}`);
  }

  async forward(request: ForwardRequest, options: CallOptions): Promise<ForwardOutcome> {
    const metadata = new grpc.Metadata();
    metadata.set(TENANT_HEADER, request.tenant);
    metadata.set(FORWARD_METADATA.shard, String(request.shard));
    metadata.set(FORWARD_METADATA.partitionVersion, String(request.partitionVersion));
    metadata.set(FORWARD_METADATA.from, request.from);
    try {
      await this.call(RPC_PATHS.forward, request.body, metadata, options);
      return { kind: 'ok' };
    } catch (e) {
      const se = e as grpc.ServiceError;
      const err = fromServiceError(this.address, se);
      if (err.code === 'NOT_OWNER') {
        const hint = se.metadata?.get(FORWARD_METADATA.owner)[0];
        return typeof hint === 'string' ? { kind: 'not-owner', message: err.message, ownerHint: hint } : { kind: 'not-owner', message: err.message };
      }
      if (err.retryable || err.code === 'INTERNAL') return { kind: 'unavailable', message: err.message };
      return { kind: 'failed', error: err };
    }
  }

  async findTrace(tenant: string, traceId: Uint8Array, options: CallOptions): Promise<TraceResult | null> {
    const { value: bytes, flushedRevision } = await this.queryWithFlushed(RPC_PATHS.findTrace, { tenant, traceId: Buffer.from(traceId).toString('hex') }, options);
    // Not found here, but the member moved spans into blocks: the caller must know how recently.
    if (bytes.length === 0) return flushedRevision === undefined ? null : { groups: [], flushedRevision };
    try {
      const groups = groupsFromTracesData(bytes);
      return flushedRevision === undefined ? { groups } : { groups, flushedRevision };
    } catch (e) {
      throw new SkeinError('INTERNAL', `FindTrace answer from ${this.address} is not OTLP TracesData: ${(e as Error).message}`);
    }
  }

  async search(tenant: string, request: SearchRequest, options: CallOptions): Promise<SearchResult> {
    const { value, flushedRevision } = await this.queryWithFlushed(RPC_PATHS.search, { tenant, request }, options);
    const a = decodeJson(value, `${RPC_PATHS.search} answer from ${this.address}`) as Partial<SearchResult> | null;
    if (a === null || typeof a !== 'object' || !Array.isArray(a.traces) || typeof a.inspectedTraces !== 'number') {
      throw new SkeinError('INTERNAL', `Search answer from ${this.address} has no traces/inspectedTraces`);
    }
    return flushedRevision === undefined ? { traces: a.traces, inspectedTraces: a.inspectedTraces } : { traces: a.traces, inspectedTraces: a.inspectedTraces, flushedRevision };
  }

  private async strings(path: string, body: unknown, options: CallOptions): Promise<string[]> {
    const answer = await this.queryJson(path, body, options);
    if (!Array.isArray(answer) || !answer.every((s) => typeof s === 'string')) throw new SkeinError('INTERNAL', `${path} answer from ${this.address} is not a list of strings`);
    return answer as string[];
  }

  tagNames(tenant: string, options: CallOptions): Promise<string[]> {
    return this.strings(RPC_PATHS.tagNames, { tenant }, options);
  }

  tagValues(tenant: string, tag: string, options: CallOptions): Promise<string[]> {
    return this.strings(RPC_PATHS.tagValues, { tenant, tag }, options);
  }

  services(tenant: string, options: CallOptions): Promise<string[]> {
    return this.strings(RPC_PATHS.services, { tenant }, options);
  }

  async operations(tenant: string, service: string, options: CallOptions): Promise<OperationInfo[]> {
    const answer = await this.queryJson(RPC_PATHS.operations, { tenant, service }, options);
    const ok =
      Array.isArray(answer) &&
      answer.every((o: unknown) => typeof o === 'object' && o !== null && typeof (o as OperationInfo).name === 'string' && typeof (o as OperationInfo).spanKind === 'number');
    if (!ok) throw new SkeinError('INTERNAL', `Operations answer from ${this.address} is not a list of {name, spanKind}`);
    return answer as OperationInfo[];
  }
}

export function createIngesterClientPool(options: IngesterClientPoolOptions = {}): IngesterClientPool {
  const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
  const clients = new Map<string, MemberClient>();
  let closed = false;
  return {
    get(address) {
      if (closed) throw new SkeinError('UNAVAILABLE', 'the member client pool is closed (shutting down)');
      let c = clients.get(address);
      if (c === undefined) {
        c = new MemberClient(address, maxMessageBytes);
        clients.set(address, c);
      }
      return c;
    },
    retain(addresses) {
      for (const [address, c] of clients) {
        if (!addresses.has(address)) {
          c.close();
          clients.delete(address);
        }
      }
    },
    close() {
      closed = true;
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}
