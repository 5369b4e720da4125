// Test-only: an independent reference codec (protobufjs over proto/otlp-trace.proto) and the
// conversions between its message objects and our model. Never imported by production code.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type {
  AnyValue,
  InstrumentationScope,
  KeyValue,
  Resource,
  ResourceSpans,
  Span,
} from '../../model/index.js';

const PROTO = fileURLToPath(new URL('../proto/otlp-trace.proto', import.meta.url));
export const root = protobuf.loadSync(PROTO).resolveAll();
const PKG = 'skein.reference.otlp';
export const ref = {
  ExportRequest: root.lookupType(`${PKG}.ExportRequest`),
  ExportResponse: root.lookupType(`${PKG}.ExportResponse`),
  ResourceSpans: root.lookupType(`${PKG}.ResourceSpans`),
  Resource: root.lookupType(`${PKG}.Resource`),
  Scope: root.lookupType(`${PKG}.Scope`),
  Span: root.lookupType(`${PKG}.Span`),
  AnyValue: root.lookupType(`${PKG}.AnyValue`),
  ArrayValue: root.lookupType(`${PKG}.ArrayValue`),
  KeyValueList: root.lookupType(`${PKG}.KeyValueList`),
};

// Typed narrowly: protobufjs declares util.Long as a bare constructor.
const Long = protobuf.util.Long as unknown as { fromBits(lo: number, hi: number, unsigned: boolean): unknown };

function long(v: bigint, unsigned: boolean): unknown {
  const u = BigInt.asUintN(64, v);
  return Long.fromBits(Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0, unsigned);
}

// ---- model → reference plain objects (fed to Type.fromObject) ----

function anyToRef(v: AnyValue): Record<string, unknown> {
  switch (v.kind) {
    case 'string':
      return { stringValue: v.value };
    case 'bool':
      return { boolValue: v.value };
    case 'int':
      return { intValue: long(v.value, false) };
    case 'double':
      return { doubleValue: v.value };
    case 'bytes':
      return { bytesValue: v.value };
    case 'array':
      return { arrayValue: { values: v.value.map(anyToRef) } };
    case 'kvlist':
      return { kvlistValue: { values: v.value.map(kvToRef) } };
    case 'empty':
      return {};
  }
}

function kvToRef(kv: KeyValue): Record<string, unknown> {
  return { key: kv.key, value: anyToRef(kv.value) };
}

export function resourceToRef(r: Resource): Record<string, unknown> {
  return { attributes: r.attributes.map(kvToRef), droppedAttributesCount: r.droppedAttributesCount };
}

export function scopeToRef(s: InstrumentationScope): Record<string, unknown> {
  return { name: s.name, version: s.version, attributes: s.attributes.map(kvToRef), droppedAttributesCount: s.droppedAttributesCount };
}

export function spanToRef(s: Span): Record<string, unknown> {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    traceState: s.traceState,
    parentSpanId: s.parentSpanId,
    flags: s.flags,
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: long(s.startTimeUnixNano, true),
    endTimeUnixNano: long(s.endTimeUnixNano, true),
    attributes: s.attributes.map(kvToRef),
    droppedAttributesCount: s.droppedAttributesCount,
    events: s.events.map((e) => ({
      timeUnixNano: long(e.timeUnixNano, true),
      name: e.name,
      attributes: e.attributes.map(kvToRef),
      droppedAttributesCount: e.droppedAttributesCount,
    })),
    droppedEventsCount: s.droppedEventsCount,
    links: s.links.map((l) => ({
      traceId: l.traceId,
      spanId: l.spanId,
      traceState: l.traceState,
      attributes: l.attributes.map(kvToRef),
      droppedAttributesCount: l.droppedAttributesCount,
      flags: l.flags,
    })),
    droppedLinksCount: s.droppedLinksCount,
    status: { code: s.status.code, message: s.status.message },
  };
}

export function requestToRef(rs: readonly ResourceSpans[]): Record<string, unknown> {
  return {
    resourceSpans: rs.map((r) => ({
      resource: resourceToRef(r.resource),
      schemaUrl: r.schemaUrl,
      scopeSpans: r.scopeSpans.map((ss) => ({
        scope: scopeToRef(ss.scope),
        schemaUrl: ss.schemaUrl,
        spans: ss.spans.map(spanToRef),
      })),
    })),
  };
}

/** Reference encoding of a request. */
export function referenceEncode(rs: readonly ResourceSpans[]): Uint8Array {
  const T = ref.ExportRequest;
  return Uint8Array.from(T.encode(T.fromObject(requestToRef(rs))).finish());
}

// ---- reference decode → model ----

const TO_OBJECT = { longs: String, defaults: true, oneofs: true } as const;

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-call */
function bytes(b: any): Uint8Array {
  return b == null ? new Uint8Array(0) : Uint8Array.from(b as ArrayLike<number>);
}

export function anyFromRef(o: any): AnyValue {
  if (o == null) return { kind: 'empty' };
  switch (o.value) {
    case 'stringValue':
      return { kind: 'string', value: o.stringValue };
    case 'boolValue':
      return { kind: 'bool', value: o.boolValue };
    case 'intValue':
      return { kind: 'int', value: BigInt(o.intValue) };
    case 'doubleValue':
      return { kind: 'double', value: o.doubleValue };
    case 'bytesValue':
      return { kind: 'bytes', value: bytes(o.bytesValue) };
    case 'arrayValue':
      return { kind: 'array', value: (o.arrayValue?.values ?? []).map(anyFromRef) };
    case 'kvlistValue':
      return { kind: 'kvlist', value: (o.kvlistValue?.values ?? []).map(kvFromRef) };
    default:
      return { kind: 'empty' };
  }
}

function kvFromRef(o: any): KeyValue {
  return { key: o.key, value: anyFromRef(o.value) };
}

export function resourceFromRef(o: any): Resource {
  if (o == null) return { attributes: [], droppedAttributesCount: 0 };
  return { attributes: o.attributes.map(kvFromRef), droppedAttributesCount: o.droppedAttributesCount };
}

export function scopeFromRef(o: any): InstrumentationScope {
  if (o == null) return { name: '', version: '', attributes: [], droppedAttributesCount: 0 };
  return { name: o.name, version: o.version, attributes: o.attributes.map(kvFromRef), droppedAttributesCount: o.droppedAttributesCount };
}

export function spanFromRef(o: any): Span {
  return {
    traceId: bytes(o.traceId),
    spanId: bytes(o.spanId),
    traceState: o.traceState,
    parentSpanId: bytes(o.parentSpanId),
    flags: o.flags,
    name: o.name,
    kind: o.kind,
    startTimeUnixNano: BigInt(o.startTimeUnixNano),
    endTimeUnixNano: BigInt(o.endTimeUnixNano),
    attributes: o.attributes.map(kvFromRef),
    droppedAttributesCount: o.droppedAttributesCount,
    events: o.events.map((e: any) => ({
      timeUnixNano: BigInt(e.timeUnixNano),
      name: e.name,
      attributes: e.attributes.map(kvFromRef),
      droppedAttributesCount: e.droppedAttributesCount,
    })),
    droppedEventsCount: o.droppedEventsCount,
    links: o.links.map((l: any) => ({
      traceId: bytes(l.traceId),
      spanId: bytes(l.spanId),
      traceState: l.traceState,
      attributes: l.attributes.map(kvFromRef),
      droppedAttributesCount: l.droppedAttributesCount,
      flags: l.flags,
    })),
    droppedLinksCount: o.droppedLinksCount,
    status: o.status == null ? { code: 0, message: '' } : { code: o.status.code, message: o.status.message },
  };
}

/** Reference decoding of a request into the model. */
export function referenceDecode(buf: Uint8Array): ResourceSpans[] {
  const T = ref.ExportRequest;
  const o: any = T.toObject(T.decode(buf), TO_OBJECT);
  return o.resourceSpans.map((r: any) => ({
    resource: resourceFromRef(r.resource),
    schemaUrl: r.schemaUrl,
    scopeSpans: r.scopeSpans.map((ss: any) => ({
      scope: scopeFromRef(ss.scope),
      schemaUrl: ss.schemaUrl,
      spans: ss.spans.map(spanFromRef),
    })),
  }));
}

/** Decodes one message with the reference and converts with `fromRef`. */
export function referenceDecodeAs<T>(type: protobuf.Type, buf: Uint8Array, fromRef: (o: any) => T): T {
  return fromRef(type.toObject(type.decode(buf), TO_OBJECT));
}
/* eslint-enable */
