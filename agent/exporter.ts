// The agent's way out: OTLP/gRPC TraceService/Export to the ingest endpoint (the ingester Service in
// a cluster; any Skein ingester, all-in-one or OTLP/gRPC collector elsewhere), bytes in and out,
// gzip-compressed at BEST_SPEED, one deadline per attempt, cancelled by the batcher's AbortSignal.
// The call itself goes over grpc-unary.ts (unary gRPC on node:http2, not grpc-js: see there).
//
// Failures become SkeinErrors so the batcher's retry policy follows their retryable flag and retry
// hint (OTLP specification, "OTLP/gRPC Throttling" and "Failures"):
// - a Skein ingester leads its message with our catalogue code ("HEAD_FULL: …"): that code, hence
//   its retryable flag, is kept;
// - otherwise by gRPC status: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and
//   DATA_LOSS are retryable (UNAVAILABLE); RESOURCE_EXHAUSTED is retryable (HEAD_FULL) and waits at
//   least its google.rpc.RetryInfo delay, or DEFAULT_THROTTLE_SECONDS without one; everything else
//   (INVALID_ARGUMENT, UNAUTHENTICATED, UNIMPLEMENTED, …) is final. A connection that failed or
//   closed is UNAVAILABLE, an HTTP answer without grpc-status is mapped as gRPC maps it.
// The RetryInfo comes from the `grpc-status-details-bin` trailer (a google.rpc.Status) and is
// honoured on any retryable status.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { ErrorCodes, SkeinError, type ErrorCode } from '../common/errors/index.js';
import { TENANT_HEADER } from '../common/model/index.js';
import { decodeExportResponse, readVarintAt, type ExportResult } from '../common/otlp/index.js';
import { createUnaryChannel, grpcStatusName, GrpcStatus, type GrpcFailure } from './grpc-unary.js';
import { WireTypes, forEachField } from './wire-walk.js';

export { parseEndpoint, type EndpointTarget, type GrpcFailure } from './grpc-unary.js';

export const TRACE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** Wait this long at least after a RESOURCE_EXHAUSTED that carries no RetryInfo. */
export const DEFAULT_THROTTLE_SECONDS = 1;

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
  /** Closes the connection; calls in flight are cancelled. */
  close(): void;
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
  GrpcStatus.CANCELLED,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.ABORTED,
  GrpcStatus.OUT_OF_RANGE,
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DATA_LOSS,
]);

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
  const code = failure.code;
  const name = grpcStatusName(code);
  if (code === GrpcStatus.RESOURCE_EXHAUSTED) {
    return new SkeinError('HEAD_FULL', `ingest ${endpoint} is throttling (RESOURCE_EXHAUSTED): ${details}`, { retryAfterSeconds: hint ?? DEFAULT_THROTTLE_SECONDS });
  }
  if (RETRYABLE_STATUS.has(code)) {
    const why = code === GrpcStatus.DEADLINE_EXCEEDED ? 'no answer before the deadline' : `${name}: ${details}`;
    return new SkeinError('UNAVAILABLE', `ingest ${endpoint}: ${why}`, withHint);
  }
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
      return new SkeinError('INVALID_ARGUMENT', `ingest ${endpoint} refused the spans (INVALID_ARGUMENT): ${details}`);
    case GrpcStatus.UNAUTHENTICATED:
      return new SkeinError('TENANT_REQUIRED', `ingest ${endpoint} refused the spans (UNAUTHENTICATED): ${details}; set --tenant`);
    default:
      return new SkeinError('INTERNAL', `ingest ${endpoint}: gRPC status ${name}: ${details}`);
  }
}

const gzip = promisify(zlib.gzip);

/**
 * gzip at BEST_SPEED: on the agent bench's 2 MB batches it took 1.7 ms of CPU per MB against 4.4
 * for grpc-js's zlib default (level 6, 16 KiB chunks) — about 1 % of a core at 10,000 spans/s —
 * for output 12 % larger (15.5× instead of 17.3× smaller). The sidecar's CPU, charged to every
 * application pod, is the scarcer resource.
 */
const GZIP_OPTIONS: zlib.ZlibOptions = { level: zlib.constants.Z_BEST_SPEED };

export function createOtlpExporter(options: OtlpExporterOptions): OtlpExporter {
  const { endpoint, timeoutMs } = options;
  const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
  const compress = options.compression === 'gzip';
  const channel = createUnaryChannel({ endpoint, maxResponseBytes: maxMessageBytes });
  let closed = false;

  const refusal = (signal: AbortSignal | undefined): SkeinError | undefined =>
    signal?.aborted === true
      ? new SkeinError('UNAVAILABLE', 'export cancelled before the call')
      : closed
        ? new SkeinError('UNAVAILABLE', 'exporter closed (the agent is shutting down)')
        : undefined;

  return {
    endpoint,

    async export(request, callOptions = {}) {
      const { tenant, signal } = callOptions;
      const deadline = performance.now() + timeoutMs;
      let refused = refusal(signal);
      if (refused !== undefined) throw refused;
      if (request.length > maxMessageBytes) throw new SkeinError('PAYLOAD_TOO_LARGE', `export request of ${request.length} bytes exceeds ${maxMessageBytes}`);
      // Compressed off the event loop (libuv's pool), so receiving from the app is not held up.
      const payload = compress ? await gzip(request, GZIP_OPTIONS) : request;
      refused = refusal(signal);
      if (refused !== undefined) throw refused;
      const result = await channel.call(TRACE_EXPORT_PATH, payload, {
        compressed: compress,
        ...(tenant === undefined ? {} : { headers: { [TENANT_HEADER]: tenant } }),
        timeoutMs: deadline - performance.now(),
        signal,
      });
      if (!result.ok) throw toExportError(endpoint, result.failure);
      try {
        return decodeExportResponse(result.message);
      } catch {
        // The spans were accepted; only the (optional) partial_success could not be read.
        return { rejectedSpans: 0, errorMessage: '' };
      }
    },

    close() {
      closed = true;
      channel.close();
    },
  };
}
