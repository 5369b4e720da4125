// common/otlp — OTLP trace wire handling (pure: no fs/net). The ingest hot path uses the lazy
// scanner (scanExportRequest → span byte views → readSpanFields/forEachAttribute/validateSpan) and
// never materialises span objects; the full codec (decode*/encode*) serves queries and format
// conversion; encodeTracesData assembles query answers straight from stored span bytes; the JSON
// mapping implements OTLP/JSON (hex IDs, int64 as strings, integer enums).
export {
  scanExportRequest,
  createSpanFields,
  readSpanFields,
  spanDurationNanos,
  forEachAttribute,
  visitKeyValue,
  readServiceName,
  AnyValueType,
  type ScannedRequest,
  type ScannedResourceSpans,
  type ScannedScopeSpans,
  type SpanFields,
  type AttributeVisitor,
} from './scan.js';
export { readVarintAt, varint64At, readDoubleAt, utf8At, MAX_NESTING_DEPTH } from './wire.js';
export { decodeSpan, decodeResource, decodeScope, decodeExportRequest } from './decode.js';
export { encodeSpan, encodeResource, encodeScope, encodeExportRequest } from './encode.js';
export { encodeTracesData, groupsToResourceSpans } from './groups.js';
export { encodeExportResponse, decodeExportResponse, type ExportResult } from './response.js';
export { toOtlpJson, fromOtlpJson, anyValueToString } from './json.js';
export {
  validateSpan,
  describeRejectReason,
  DEFAULT_SPAN_LIMITS,
  type SpanLimits,
  type RejectReason,
} from './validate.js';
