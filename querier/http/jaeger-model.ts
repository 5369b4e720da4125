// OTLP → Jaeger UI JSON, following the OpenTelemetry "OpenTelemetry to Jaeger Transformation"
// spec (trace/sdk_exporters/jaeger.md) for the parts it defines, and the Jaeger query service's
// JSON model (model/json, as served by its /api/traces) for the shape. Pure.
//
// Choices the spec leaves open, taken here:
// - INTERNAL spans get no `span.kind` tag (spec: SHOULD NOT); UNSPECIFIED gets none either.
// - Scope: both `otel.scope.*` (current) and `otel.library.*` (older UIs and tools still look for it).
// - Ints beyond ±2^53 become string tags holding the exact decimal: JSON numbers would be rounded
//   by every JavaScript reader, the Jaeger UI included.
// - Non-finite doubles become string tags ("NaN", "Infinity"): JSON cannot carry them.
// - Arrays and maps become JSON text (spec: arrays "like a JSON list"; ints exact), bytes base64
//   `binary` tags (what Jaeger's Go JSON encoder emits for []byte).
// - A resource without `service.name` is shown as `unknown_service` (the SDK default name).
import type { AnyValue, KeyValue, ResourceSpans, Span } from '../../common/model/index.js';
import { SpanKind, StatusCode, isAllZero, toHex, TRACE_ID_BYTES, SPAN_ID_BYTES } from '../../common/model/index.js';
import { anyValueToString } from '../../common/otlp/index.js';

export type JaegerValueType = 'string' | 'bool' | 'int64' | 'float64' | 'binary';

export interface JaegerKeyValue {
  readonly key: string;
  readonly type: JaegerValueType;
  readonly value: string | number | boolean;
}

export interface JaegerLog {
  /** Unix microseconds. */
  readonly timestamp: number;
  readonly fields: JaegerKeyValue[];
}

export interface JaegerReference {
  readonly refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  readonly traceID: string;
  readonly spanID: string;
}

export interface JaegerSpan {
  readonly traceID: string;
  readonly spanID: string;
  readonly flags: number;
  readonly operationName: string;
  readonly references: JaegerReference[];
  /** Unix microseconds. */
  readonly startTime: number;
  /** Microseconds. */
  readonly duration: number;
  readonly tags: JaegerKeyValue[];
  readonly logs: JaegerLog[];
  readonly processID: string;
  readonly warnings: string[] | null;
}

export interface JaegerProcess {
  readonly serviceName: string;
  readonly tags: JaegerKeyValue[];
}

export interface JaegerTrace {
  readonly traceID: string;
  readonly spans: JaegerSpan[];
  readonly processes: Record<string, JaegerProcess>;
  readonly warnings: string[] | null;
}

const UNKNOWN_SERVICE = 'unknown_service';

const KIND_TAG: Readonly<Record<number, string>> = {
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
};

/** Jaeger span-kind names as /api/operations reports them (every kind, INTERNAL included). */
export function jaegerSpanKindName(kind: number): string {
  switch (kind) {
    case SpanKind.SERVER:
      return 'server';
    case SpanKind.CLIENT:
      return 'client';
    case SpanKind.PRODUCER:
      return 'producer';
    case SpanKind.CONSUMER:
      return 'consumer';
    case SpanKind.INTERNAL:
      return 'internal';
    default:
      return '';
  }
}

/**
 * Jaeger's text form of a trace ID: 16 hex digits when the high 64 bits are zero (a 64-bit
 * Jaeger/Zipkin ID), else 32 — what Jaeger's own TraceID.String() prints, so links and
 * comparisons in the UI and in users' scripts keep working.
 */
export function jaegerTraceId(id: Uint8Array): string {
  if (id.length === TRACE_ID_BYTES && isAllZero(id.subarray(0, 8))) return toHex(id.subarray(8));
  return toHex(id);
}

function isSafe(n: bigint): boolean {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER);
}

export function toJaegerKeyValue(key: string, v: AnyValue): JaegerKeyValue {
  switch (v.kind) {
    case 'string':
      return { key, type: 'string', value: v.value };
    case 'bool':
      return { key, type: 'bool', value: v.value };
    case 'int':
      return isSafe(v.value) ? { key, type: 'int64', value: Number(v.value) } : { key, type: 'string', value: v.value.toString() };
    case 'double':
      return Number.isFinite(v.value) ? { key, type: 'float64', value: v.value } : { key, type: 'string', value: String(v.value) };
    case 'bytes':
      return { key, type: 'binary', value: Buffer.from(v.value).toString('base64') };
    case 'array':
    case 'kvlist':
      // The same text search compares against, so what the UI shows is what a tag filter matches.
      return { key, type: 'string', value: anyValueToString(v) };
    case 'empty':
      return { key, type: 'string', value: '' };
  }
}

function tagsOf(attributes: readonly KeyValue[]): JaegerKeyValue[] {
  return attributes.map((kv) => toJaegerKeyValue(kv.key, kv.value));
}

const str = (key: string, value: string): JaegerKeyValue => ({ key, type: 'string', value });
const int = (key: string, value: number): JaegerKeyValue => ({ key, type: 'int64', value });

function micros(ns: bigint): number {
  return Number(ns / 1000n);
}

/** The Jaeger process of a resource: service.name becomes serviceName, the rest its tags. */
function toJaegerProcess(attributes: readonly KeyValue[]): JaegerProcess {
  let serviceName: string | undefined;
  const tags: JaegerKeyValue[] = [];
  for (const kv of attributes) {
    if (kv.key === 'service.name' && serviceName === undefined) {
      serviceName = kv.value.kind === 'string' ? kv.value.value : String(toJaegerKeyValue(kv.key, kv.value).value);
      continue;
    }
    tags.push(toJaegerKeyValue(kv.key, kv.value));
  }
  return { serviceName: serviceName === undefined || serviceName === '' ? UNKNOWN_SERVICE : serviceName, tags };
}

interface ScopeInfo {
  readonly name: string;
  readonly version: string;
}

export function toJaegerSpan(span: Span, scope: ScopeInfo, processID: string): JaegerSpan {
  const traceID = jaegerTraceId(span.traceId);
  const references: JaegerReference[] = [];
  // Spec: the parent reference comes first, links after it.
  if (span.parentSpanId.length === SPAN_ID_BYTES && !isAllZero(span.parentSpanId)) {
    references.push({ refType: 'CHILD_OF', traceID, spanID: toHex(span.parentSpanId) });
  }
  for (const link of span.links) {
    if (link.traceId.length !== TRACE_ID_BYTES || link.spanId.length !== SPAN_ID_BYTES) continue;
    references.push({ refType: 'FOLLOWS_FROM', traceID: jaegerTraceId(link.traceId), spanID: toHex(link.spanId) });
  }

  const isError = span.status.code === StatusCode.ERROR;
  // Spec: the added `error` tag MAY override a previous value; one `error` tag is clearer in the UI.
  const tags = tagsOf(isError ? span.attributes.filter((kv) => kv.key !== 'error') : span.attributes);
  if (scope.name !== '') {
    tags.push(str('otel.scope.name', scope.name), str('otel.library.name', scope.name));
  }
  if (scope.version !== '') {
    tags.push(str('otel.scope.version', scope.version), str('otel.library.version', scope.version));
  }
  const kind = KIND_TAG[span.kind];
  if (kind !== undefined) tags.push(str('span.kind', kind));
  if (span.status.code === StatusCode.OK) tags.push(str('otel.status_code', 'OK'));
  if (isError) tags.push(str('otel.status_code', 'ERROR'));
  if (span.status.code !== StatusCode.UNSET && span.status.message !== '') {
    tags.push(str('otel.status_description', span.status.message));
  }
  if (isError) tags.push({ key: 'error', type: 'bool', value: true });
  if (span.traceState !== '') tags.push(str('w3c.tracestate', span.traceState));
  if (span.droppedAttributesCount > 0) tags.push(int('otel.dropped_attributes_count', span.droppedAttributesCount));
  if (span.droppedEventsCount > 0) tags.push(int('otel.dropped_events_count', span.droppedEventsCount));
  if (span.droppedLinksCount > 0) tags.push(int('otel.dropped_links_count', span.droppedLinksCount));

  const logs: JaegerLog[] = span.events.map((event) => {
    const fields = tagsOf(event.attributes);
    // Spec: an `event` attribute takes precedence over the event's name.
    if (!event.attributes.some((kv) => kv.key === 'event')) fields.unshift(str('event', event.name));
    if (event.droppedAttributesCount > 0) fields.push(int('otel.event.dropped_attributes_count', event.droppedAttributesCount));
    return { timestamp: micros(event.timeUnixNano), fields };
  });

  const durationNs = span.endTimeUnixNano > span.startTimeUnixNano ? span.endTimeUnixNano - span.startTimeUnixNano : 0n;
  return {
    traceID,
    spanID: toHex(span.spanId),
    // Only the W3C trace-flags byte: OTLP's higher bits (remote-parent markers) mean nothing to Jaeger.
    flags: span.flags & 0xff,
    operationName: span.name,
    references,
    startTime: micros(span.startTimeUnixNano),
    duration: micros(durationNs),
    tags,
    logs,
    processID,
    warnings: null,
  };
}

/**
 * Converts one trace (its spans grouped by resource and scope) to a Jaeger trace. Resources that
 * convert to the same process (service name and tags) share one process ID (`p1`, `p2`, … in
 * order of first appearance), as Jaeger's own converter does. Spans are ordered by start time,
 * then span ID, so the output is deterministic. Returns null when there are no spans.
 */
export function toJaegerTrace(resourceSpans: readonly ResourceSpans[]): JaegerTrace | null {
  const processes: Record<string, JaegerProcess> = {};
  const processIds = new Map<string, string>();
  const spans: { span: JaegerSpan; start: bigint }[] = [];
  let traceID: string | undefined;

  for (const rs of resourceSpans) {
    if (!rs.scopeSpans.some((ss) => ss.spans.length > 0)) continue;
    const process = toJaegerProcess(rs.resource.attributes);
    const key = JSON.stringify([process.serviceName, process.tags]);
    let processID = processIds.get(key);
    if (processID === undefined) {
      processID = `p${processIds.size + 1}`;
      processIds.set(key, processID);
      processes[processID] = process;
    }
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        const js = toJaegerSpan(span, ss.scope, processID);
        traceID ??= js.traceID;
        spans.push({ span: js, start: span.startTimeUnixNano });
      }
    }
  }
  if (traceID === undefined) return null;
  spans.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.span.spanID < b.span.spanID ? -1 : a.span.spanID > b.span.spanID ? 1 : 0));
  return { traceID, spans: spans.map((s) => s.span), processes, warnings: null };
}

export interface DependencyLink {
  readonly parent: string;
  readonly child: string;
  readonly callCount: number;
}

/**
 * Service dependency edges of a set of traces: one call per span whose parent span (in the same
 * trace) belongs to a different service. Sorted by parent, then child.
 */
export function computeDependencies(traces: readonly (readonly ResourceSpans[])[]): DependencyLink[] {
  const counts = new Map<string, number>();
  for (const trace of traces) {
    const serviceOf = new Map<string, string>();
    const children: { service: string; parent: string }[] = [];
    for (const rs of trace) {
      const service = toJaegerProcess(rs.resource.attributes).serviceName;
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          serviceOf.set(toHex(span.spanId), service);
          if (span.parentSpanId.length === SPAN_ID_BYTES && !isAllZero(span.parentSpanId)) {
            children.push({ service, parent: toHex(span.parentSpanId) });
          }
        }
      }
    }
    for (const c of children) {
      const parentService = serviceOf.get(c.parent);
      if (parentService === undefined || parentService === c.service) continue;
      const key = JSON.stringify([parentService, c.service]);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  const links = [...counts].map(([key, callCount]) => {
    const [parent, child] = JSON.parse(key) as [string, string];
    return { parent, child, callCount };
  });
  links.sort((a, b) => (a.parent < b.parent ? -1 : a.parent > b.parent ? 1 : a.child < b.child ? -1 : a.child > b.child ? 1 : 0));
  return links;
}
