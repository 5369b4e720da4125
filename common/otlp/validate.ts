// Edge validation of one span (DESIGN.md §6.1): pure checks on the encoded bytes, run after
// readSpanFields so a request's good spans are kept while each bad one is rejected with a reason
// that goes back to the client in OTLP partial_success.
import { isWellFormedSpan } from './check.js';
import type { SpanFields } from './scan.js';

export interface SpanLimits {
  /** Largest encoded span accepted, bytes. */
  readonly maxSpanBytes: number;
  /** Most attributes (Span.attributes entries) accepted on one span. */
  readonly maxAttributesPerSpan: number;
  /** Largest request body accepted (after decompression), bytes; enforced by the receivers. */
  readonly maxBatchBytes: number;
}

/**
 * - 256 KiB per span: SDK defaults (OTEL_ATTRIBUTE_COUNT_LIMIT=128, unlimited value length) keep
 *   real spans to a few KiB; the ones that reach 100s of KiB carry whole payloads or stack dumps,
 *   and bigger ones would crowd the head and a block's pages. Tempo's default is in this range.
 * - 1024 attributes: 8× the SDK default limit, so only runaway instrumentation trips it.
 * - 16 MiB per batch: above the OTel Collector's default batch sizes and gRPC exporters' 4 MiB
 *   message size, yet small enough that a burst of concurrent requests cannot exhaust memory.
 */
export const DEFAULT_SPAN_LIMITS: SpanLimits = {
  maxSpanBytes: 256 * 1024,
  maxAttributesPerSpan: 1024,
  maxBatchBytes: 16 * 1024 * 1024,
};

export type RejectReason =
  | 'malformed_span'
  | 'trace_id_length'
  | 'trace_id_zero'
  | 'span_id_length'
  | 'span_id_zero'
  | 'parent_span_id_length'
  | 'end_before_start'
  | 'span_too_large'
  | 'too_many_attributes';

const TRACE_ID_BYTES = 16;
const SPAN_ID_BYTES = 8;

function zeroAt(buf: Uint8Array, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * The first reason to reject `span`, or null to accept it. `fields` must come from a successful
 * readSpanFields(span, fields) (a false return there is 'malformed_span' already). Also checks the
 * nested attributes, events and links structurally, so every accepted span decodes later. An
 * 8-byte all-zero parent span ID is accepted (some SDKs send it for roots) and left to the query side.
 */
export function validateSpan(span: Uint8Array, fields: SpanFields, limits: SpanLimits): RejectReason | null {
  if (span.length > limits.maxSpanBytes) return 'span_too_large';
  if (fields.traceIdLength !== TRACE_ID_BYTES) return 'trace_id_length';
  if (zeroAt(span, fields.traceIdOffset, TRACE_ID_BYTES)) return 'trace_id_zero';
  if (fields.spanIdLength !== SPAN_ID_BYTES) return 'span_id_length';
  if (zeroAt(span, fields.spanIdOffset, SPAN_ID_BYTES)) return 'span_id_zero';
  if (fields.parentSpanIdLength !== 0 && fields.parentSpanIdLength !== SPAN_ID_BYTES) return 'parent_span_id_length';
  if (fields.endHi < fields.startHi || (fields.endHi === fields.startHi && fields.endLo < fields.startLo)) return 'end_before_start';
  if (fields.attributeCount > limits.maxAttributesPerSpan) return 'too_many_attributes';
  if (!isWellFormedSpan(span, 0, span.length)) return 'malformed_span';
  return null;
}

const DESCRIPTIONS: Record<RejectReason, string> = {
  malformed_span: 'span is not a well-formed OTLP Span message',
  trace_id_length: 'trace ID must be exactly 16 bytes (32 hex characters)',
  trace_id_zero: 'trace ID must not be all zeros',
  span_id_length: 'span ID must be exactly 8 bytes (16 hex characters)',
  span_id_zero: 'span ID must not be all zeros',
  parent_span_id_length: 'parent span ID must be empty (root span) or exactly 8 bytes',
  end_before_start: 'span end time is before its start time',
  span_too_large: 'span exceeds the maximum encoded span size',
  too_many_attributes: 'span has more attributes than allowed',
};

export function describeRejectReason(reason: RejectReason): string {
  return DESCRIPTIONS[reason];
}
