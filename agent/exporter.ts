// The agent's way out: OTLP/gRPC TraceService/Export to the ingest endpoint (the ingester Service in
// a cluster; any Skein ingester, all-in-one or OTLP/gRPC collector elsewhere) over one @grpc/grpc-js
// channel, bytes in and out (identity serializers, as common/rpc/client.ts), gzip-compressed, one
// deadline per attempt, cancelled by the batcher's AbortSignal.
//
// Failures become SkeinErrors so the batcher's retry policy follows their retryable flag and retry
// hint (OTLP specification, "OTLP/gRPC Throttling" and "Failures"):
// - a Skein ingester leads its message with our catalogue code ("HEAD_FULL: …"): that code, hence
//   its retryable flag, is kept;
// - otherwise by gRPC status: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and
//   DATA_LOSS are retryable (UNAVAILABLE); RESOURCE_EXHAUSTED is retryable (HEAD_FULL) and waits at
//   least its google.rpc.RetryInfo delay, or DEFAULT_THROTTLE_SECONDS without one; everything else
//   (INVALID_ARGUMENT, UNAUTHENTICATED, UNIMPLEMENTED, …) is final.
// The RetryInfo comes from the `grpc-status-details-bin` trailer (a google.rpc.Status) and is
// honoured on any retryable status.
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, SkeinError, type ErrorCode } from '../common/errors/index.js';
import { TENANT_HEADER } from '../common/model/index.js';
import { decodeExportResponse, readVarintAt, type ExportResult } from '../common/otlp/index.js';
import { WireTypes, forEachField } from './wire-walk.js';

export const TRACE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** Wait this long at least after a RESOURCE_EXHAUSTED that carries no RetryInfo. */
export const DEFAULT_THROTTLE_SECONDS = 1;

/** grpc-js compression algorithm numbers (grpc `compression_algorithms`). */
const GZIP = 2;

export interface OtlpExporterOptions {
  /** `host:port`, `http://host[:port]` (plaintext) or `https://host[:port]` (TLS, system roots). */
  readonly endpoint: string;
  readonly compression: 'gzip' | 'none';
  /** Deadline of one Export call. */
  readonly timeoutMs: number;
  /** Largest message sent or received (default 64 MiB). */
  readonly maxMessageBytes?: number;
}

export interface OtlpExporter {
  /** The endpoint as given. */
  readonly endpoint: string;
  /**
   * One Export call with `request` (ExportTraceServiceRequest bytes). Resolves with the server's
   * partial_success (0 / '' when everything was accepted); rejects with a SkeinError.
   */
  export(request: Uint8Array, options?: { readonly tenant?: string | undefined; readonly signal?: AbortSignal }): Promise<ExportResult>;
  /** Closes the channel; calls in flight are cancelled. */
  close(): void;
}

export interface EndpointTarget {
  /** grpc-js target (`host:port` or a `dns:`/`unix:` URI). */
  readonly target: string;
  readonly tls: boolean;
}

/**
 * `--ingest-endpoint` → a grpc-js target. The OTLP/gRPC port 4317 is assumed when none is given
 * (443 for https). Throws SkeinError('INVALID_ARGUMENT') naming the accepted forms.
 */
export function parseEndpoint(endpoint: string): EndpointTarget {
  const text = endpoint.trim();
  const bad = (why: string): SkeinError =>
    new SkeinError('INVALID_ARGUMENT', `ingest endpoint ${JSON.stringify(endpoint)}: ${why}; use host:port, http://host:port or https://host:port`);
  if (/^(dns|unix|ipv4|ipv6):/.test(text)) return { target: text, tls: false };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw bad('not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`scheme ${url.protocol} is not supported`);
    if (url.pathname !== '/' && url.pathname !== '') throw bad('OTLP/gRPC takes no path');
    if (url.hostname === '') throw bad('no host');
    const tls = url.protocol === 'https:';
    return { target: `${url.hostname}:${url.port === '' ? (tls ? 443 : 4317) : url.port}`, tls };
  }
  if (text === '' || /[\s/]/.test(text)) throw bad('not a host:port');
  // host, host:port, [v6]:port
  const hasPort = /:\d+$/.test(text) && (!text.includes('::') || text.startsWith('['));
  return { target: hasPort ? text : `${text}:4317`, tls: false };
}

/**
 * The retry delay of a google.rpc.Status (bytes of `grpc-status-details-bin`) that carries a
 * google.rpc.RetryInfo detail, in seconds; undefined when there is none or the bytes are malformed.
 *   Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
 *   Any { string type_url = 1; bytes value = 2; }   RetryInfo { Duration retry_delay = 1; }
 *   Duration { int64 seconds = 1; int32 nanos = 2; }
 */
export function decodeRetryDelaySeconds(status: Uint8Array): number | undefined {
  const utf8 = new TextDecoder();
  let found: number | undefined;
  try {
    forEachField(status, 0, status.length, (field, wire, start, end) => {
      if (field !== 3 || wire !== WireTypes.LEN) return;
      let typeUrl = '';
      let value: [number, number] | undefined;
      forEachField(status, start, end, (f, w, s, e) => {
        if (w !== WireTypes.LEN) return;
        if (f === 1) typeUrl = utf8.decode(status.subarray(s, e));
        else if (f === 2) value = [s, e];
      });
      if (!typeUrl.endsWith('/google.rpc.RetryInfo') || value === undefined) return;
      let seconds = 0;
      let nanos = 0;
      forEachField(status, value[0], value[1], (f, w, s, e) => {
        if (f !== 1 || w !== WireTypes.LEN) return;
        forEachField(status, s, e, (df, dw, ds) => {
          if (dw !== WireTypes.VARINT) return;
          if (df === 1) seconds = readVarintAt(status, ds);
          else if (df === 2) nanos = readVarintAt(status, ds);
        });
      });
      if (Number.isFinite(seconds) && Number.isFinite(nanos) && seconds >= 0 && nanos >= 0) found = seconds + nanos / 1e9;
      return false;
    });
  } catch {
    return undefined;
  }
  return found;
}

/** gRPC statuses the OTLP specification calls retryable (RESOURCE_EXHAUSTED is handled apart). */
const RETRYABLE_STATUS: ReadonlySet<number> = new Set([
  grpc.status.CANCELLED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.ABORTED,
  grpc.status.OUT_OF_RANGE,
  grpc.status.UNAVAILABLE,
  grpc.status.DATA_LOSS,
]);

/** What the mapping needs of a grpc-js ServiceError. */
export interface GrpcFailure {
  readonly code: number;
  readonly details?: string;
  readonly message?: string;
  /** The `grpc-status-details-bin` trailer, when the server sent one. */
  readonly statusDetails?: Uint8Array;
}

/** A failed Export call → SkeinError with the retryable flag and retry hint the batcher follows. */
export function toExportError(endpoint: string, failure: GrpcFailure): SkeinError {
  const details = failure.details ?? failure.message ?? '';
  const hint = failure.statusDetails === undefined ? undefined : decodeRetryDelaySeconds(failure.statusDetails);
  const withHint = hint === undefined ? {} : { retryAfterSeconds: hint };
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(details);
  if (m !== null && Object.hasOwn(ErrorCodes, m[1]!)) {
    const code = m[1] as ErrorCode;
    const throttleDefault = code === 'HEAD_FULL' && hint === undefined ? { retryAfterSeconds: DEFAULT_THROTTLE_SECONDS } : withHint;
    return new SkeinError(code, `ingest ${endpoint}: ${m[2]!}`, throttleDefault);
  }
  const code: grpc.status = failure.code;
  const name = grpc.status[code] ?? String(code);
  if (code === grpc.status.RESOURCE_EXHAUSTED) {
    return new SkeinError('HEAD_FULL', `ingest ${endpoint} is throttling (RESOURCE_EXHAUSTED): ${details}`, { retryAfterSeconds: hint ?? DEFAULT_THROTTLE_SECONDS });
  }
  if (RETRYABLE_STATUS.has(code)) {
    const why = code === grpc.status.DEADLINE_EXCEEDED ? 'no answer before the deadline' : `${name}: ${details}`;
    return new SkeinError('UNAVAILABLE', `ingest ${endpoint}: ${why}`, withHint);
  }
  switch (code) {
    case grpc.status.INVALID_ARGUMENT:
      return new SkeinError('INVALID_ARGUMENT', `ingest ${endpoint} refused the spans (INVALID_ARGUMENT): ${details}`);
    case grpc.status.UNAUTHENTICATED:
      return new SkeinError('TENANT_REQUIRED', `ingest ${endpoint} refused the spans (UNAUTHENTICATED): ${details}; set --tenant`);
    default:
      return new SkeinError('INTERNAL', `ingest ${endpoint}: gRPC status ${name}: ${details}`);
  }
}

const identity = (b: Buffer): Buffer => b;
const toBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

function statusDetailsOf(metadata: grpc.Metadata | undefined): Uint8Array | undefined {
  const v = metadata?.get('grpc-status-details-bin')[0];
  return v === undefined ? undefined : typeof v === 'string' ? Buffer.from(v, 'base64') : v;
}

export function createOtlpExporter(options: OtlpExporterOptions): OtlpExporter {
  const { endpoint, timeoutMs } = options;
  const { target, tls } = parseEndpoint(endpoint);
  const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
  const client = new grpc.Client(target, tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.max_receive_message_length': maxMessageBytes,
    ...(options.compression === 'gzip' ? { 'grpc.default_compression_algorithm': GZIP } : {}),
    // The batcher owns back-off between attempts; keep the channel's own reconnect delays short so
    // an ingester coming back is used at the next attempt.
    'grpc.initial_reconnect_backoff_ms': 250,
    'grpc.max_reconnect_backoff_ms': 2000,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  const inflight = new Set<grpc.ClientUnaryCall>();
  let closed = false;

  return {
    endpoint,

    export(request, callOptions = {}) {
      const { tenant, signal } = callOptions;
      return new Promise<ExportResult>((resolve, reject) => {
        if (signal?.aborted === true) return reject(new SkeinError('UNAVAILABLE', 'export cancelled before the call'));
        if (closed) return reject(new SkeinError('UNAVAILABLE', 'exporter closed (the agent is shutting down)'));
        const metadata = new grpc.Metadata();
        if (tenant !== undefined) metadata.set(TENANT_HEADER, tenant);
        const onAbort = (): void => call?.cancel();
        let call: grpc.ClientUnaryCall | undefined;
        try {
          call = client.makeUnaryRequest(TRACE_EXPORT_PATH, identity, identity, toBuffer(request), metadata, { deadline: new Date(Date.now() + timeoutMs) }, (err, value) => {
            signal?.removeEventListener('abort', onAbort);
            if (call !== undefined) inflight.delete(call);
            if (err !== null) {
              reject(toExportError(endpoint, { code: err.code, details: err.details, message: err.message, statusDetails: statusDetailsOf(err.metadata) }));
              return;
            }
            try {
              resolve(decodeExportResponse(value ?? new Uint8Array(0)));
            } catch {
              // The spans were accepted; only the (optional) partial_success could not be read.
              resolve({ rejectedSpans: 0, errorMessage: '' });
            }
          });
        } catch (e) {
          // grpc-js throws (no status) when the channel was closed meanwhile.
          reject(new SkeinError('UNAVAILABLE', `ingest ${endpoint}: channel closed: ${(e as Error).message}`));
          return;
        }
        inflight.add(call);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },

    close() {
      closed = true;
      for (const call of inflight) call.cancel();
      inflight.clear();
      client.close();
    },
  };
}
