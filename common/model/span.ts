// The canonical span model: OTLP's trace data model as plain TypeScript values. Timestamps are
// bigint nanoseconds (they exceed 2^53); IDs are raw bytes (16-byte trace, 8-byte span).

export type AnyValue =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'int'; readonly value: bigint }
  | { readonly kind: 'double'; readonly value: number }
  | { readonly kind: 'bytes'; readonly value: Uint8Array }
  | { readonly kind: 'array'; readonly value: readonly AnyValue[] }
  | { readonly kind: 'kvlist'; readonly value: readonly KeyValue[] }
  | { readonly kind: 'empty' };

export interface KeyValue {
  readonly key: string;
  readonly value: AnyValue;
}

export interface Resource {
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
}

export interface InstrumentationScope {
  readonly name: string;
  readonly version: string;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
}

/** OTLP Span.SpanKind numbering. */
export const SpanKind = {
  UNSPECIFIED: 0,
  INTERNAL: 1,
  SERVER: 2,
  CLIENT: 3,
  PRODUCER: 4,
  CONSUMER: 5,
} as const;
export type SpanKind = (typeof SpanKind)[keyof typeof SpanKind];

/** OTLP Status.StatusCode numbering. */
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;
export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

export interface SpanEvent {
  readonly timeUnixNano: bigint;
  readonly name: string;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
}

export interface SpanLink {
  readonly traceId: Uint8Array;
  readonly spanId: Uint8Array;
  readonly traceState: string;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
  readonly flags: number;
}

export interface Span {
  readonly traceId: Uint8Array;
  readonly spanId: Uint8Array;
  readonly traceState: string;
  /** Empty for a root span. */
  readonly parentSpanId: Uint8Array;
  readonly flags: number;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
  readonly events: readonly SpanEvent[];
  readonly droppedEventsCount: number;
  readonly links: readonly SpanLink[];
  readonly droppedLinksCount: number;
  readonly status: { readonly code: number; readonly message: string };
}

export interface ScopeSpans {
  readonly scope: InstrumentationScope;
  readonly schemaUrl: string;
  readonly spans: readonly Span[];
}

export interface ResourceSpans {
  readonly resource: Resource;
  readonly schemaUrl: string;
  readonly scopeSpans: readonly ScopeSpans[];
}

/**
 * The unit that flows receiver → router → WAL → head: spans of one tenant kept as their encoded
 * OTLP protobuf bytes, grouped by the (resource, scope) they were sent under. Nothing here is
 * decoded more than routing and indexing need.
 */
export interface SpanGroup {
  /** Encoded `opentelemetry.proto.resource.v1.Resource` (may be empty). */
  readonly resource: Uint8Array;
  readonly resourceSchemaUrl: string;
  /** Encoded `opentelemetry.proto.common.v1.InstrumentationScope` (may be empty). */
  readonly scope: Uint8Array;
  readonly scopeSchemaUrl: string;
  /** Each an encoded `opentelemetry.proto.trace.v1.Span`. */
  readonly spans: readonly Uint8Array[];
}

export interface SpanBatch {
  readonly tenant: string;
  readonly groups: readonly SpanGroup[];
}
