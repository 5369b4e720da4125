// One catalogue of errors with stable codes and retryable flags (STYLE.md rule 5). Codes are part
// of the API: they appear in HTTP bodies, gRPC messages, logs and metric labels. Never rename one.

export const ErrorCodes = {
  /** Request body could not be decoded (protobuf/JSON syntax). */
  BAD_PAYLOAD: { retryable: false, http: 400, grpc: 3 /* INVALID_ARGUMENT */ },
  /** Request is well-formed but semantically invalid (bad parameter, bad ID). */
  INVALID_ARGUMENT: { retryable: false, http: 400, grpc: 3 },
  /** Request or message too large. */
  PAYLOAD_TOO_LARGE: { retryable: false, http: 413, grpc: 8 /* RESOURCE_EXHAUSTED */ },
  /** Content-Type/Content-Encoding not supported. */
  UNSUPPORTED_MEDIA_TYPE: { retryable: false, http: 415, grpc: 3 },
  /** Tenancy is required and no X-Scope-OrgID was sent, or it is malformed. */
  TENANT_REQUIRED: { retryable: false, http: 401, grpc: 16 /* UNAUTHENTICATED */ },
  /** Head memory budget exhausted: retry later. */
  HEAD_FULL: { retryable: true, http: 429, grpc: 8 },
  /** Durable append failed (disk error): retry, another attempt may succeed. */
  WAL_WRITE_FAILED: { retryable: true, http: 503, grpc: 14 /* UNAVAILABLE */ },
  /** Process is shutting down or not ready. */
  UNAVAILABLE: { retryable: true, http: 503, grpc: 14 },
  /** This member does not own the shard (any more): re-read ownership and retry at the owner. */
  NOT_OWNER: { retryable: true, http: 503, grpc: 14 },
  NOT_FOUND: { retryable: false, http: 404, grpc: 5 },
  /** A stored block (or one of its pages) fails its checksum, is truncated or has an unknown format version: that part is unreadable. */
  CORRUPT_BLOCK: { retryable: false, http: 500, grpc: 15 /* DATA_LOSS */ },
  INTERNAL: { retryable: false, http: 500, grpc: 13 },
} as const satisfies Record<string, { retryable: boolean; http: number; grpc: number }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class SkeinError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Suggested client back-off, seconds (sent as Retry-After / RetryInfo). */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SkeinError';
    this.code = code;
    this.retryable = ErrorCodes[code].retryable;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get httpStatus(): number {
    return ErrorCodes[this.code].http;
  }

  get grpcStatus(): number {
    return ErrorCodes[this.code].grpc;
  }
}

export function isSkeinError(e: unknown): e is SkeinError {
  return e instanceof SkeinError;
}

/** Wraps anything thrown into a SkeinError (INTERNAL unless it already is one). */
export function toSkeinError(e: unknown): SkeinError {
  if (e instanceof SkeinError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new SkeinError('INTERNAL', message, { cause: e });
}
