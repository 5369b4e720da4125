// OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): the proto3 JSON
// mapping with OTLP's exceptions — trace and span IDs are hex, not base64; enums are integers on
// output (names accepted on input); keys are lowerCamelCase on output (snake_case accepted on input);
// unknown keys are ignored, as OTLP requires of receivers. int64/fixed64 are decimal strings on
// output and numbers or strings on input, as in the protobuf JSON mapping.
import type {
  AnyValue,
  InstrumentationScope,
  KeyValue,
  Resource,
  ResourceSpans,
  ScopeSpans,
  Span,
  SpanEvent,
  SpanLink,
} from '../model/index.js';
import { toHex } from '../model/index.js';
import { MAX_NESTING_DEPTH, badPayload } from './wire.js';

// ---------------------------------------------------------------- output

type Json = Record<string, unknown>;

function base64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

function doubleJson(v: number): number | string {
  return Number.isFinite(v) ? v : String(v); // "NaN", "Infinity", "-Infinity" per the proto3 mapping
}

function anyValueJson(v: AnyValue): Json {
  switch (v.kind) {
    case 'string':
      return { stringValue: v.value };
    case 'bool':
      return { boolValue: v.value };
    case 'int':
      return { intValue: v.value.toString() };
    case 'double':
      return { doubleValue: doubleJson(v.value) };
    case 'bytes':
      return { bytesValue: base64(v.value) };
    case 'array':
      return { arrayValue: { values: v.value.map(anyValueJson) } };
    case 'kvlist':
      return { kvlistValue: { values: v.value.map(keyValueJson) } };
    case 'empty':
      return {};
  }
}

function keyValueJson(kv: KeyValue): Json {
  return { key: kv.key, value: anyValueJson(kv.value) };
}

function withDropped(o: Json, key: string, n: number): Json {
  if (n !== 0) o[key] = n;
  return o;
}

function resourceJson(r: Resource): Json {
  return withDropped({ attributes: r.attributes.map(keyValueJson) }, 'droppedAttributesCount', r.droppedAttributesCount);
}

function scopeJson(s: InstrumentationScope): Json {
  const o: Json = { name: s.name };
  if (s.version !== '') o['version'] = s.version;
  if (s.attributes.length > 0) o['attributes'] = s.attributes.map(keyValueJson);
  return withDropped(o, 'droppedAttributesCount', s.droppedAttributesCount);
}

function eventJson(e: SpanEvent): Json {
  const o: Json = { timeUnixNano: e.timeUnixNano.toString(), name: e.name, attributes: e.attributes.map(keyValueJson) };
  return withDropped(o, 'droppedAttributesCount', e.droppedAttributesCount);
}

function linkJson(l: SpanLink): Json {
  const o: Json = { traceId: toHex(l.traceId), spanId: toHex(l.spanId) };
  if (l.traceState !== '') o['traceState'] = l.traceState;
  o['attributes'] = l.attributes.map(keyValueJson);
  withDropped(o, 'droppedAttributesCount', l.droppedAttributesCount);
  if (l.flags !== 0) o['flags'] = l.flags;
  return o;
}

/**
 * The span as OTLP/JSON. Proto3 defaults are omitted except the fields every consumer reads
 * (IDs, name, kind, times, attributes, status — `status: {}` when unset, as protojson writes a
 * present-but-empty message) so UIs can dereference them without guards.
 */
function spanJson(s: Span): Json {
  const o: Json = { traceId: toHex(s.traceId), spanId: toHex(s.spanId) };
  if (s.traceState !== '') o['traceState'] = s.traceState;
  if (s.parentSpanId.length > 0) o['parentSpanId'] = toHex(s.parentSpanId);
  if (s.flags !== 0) o['flags'] = s.flags;
  o['name'] = s.name;
  o['kind'] = s.kind;
  o['startTimeUnixNano'] = s.startTimeUnixNano.toString();
  o['endTimeUnixNano'] = s.endTimeUnixNano.toString();
  o['attributes'] = s.attributes.map(keyValueJson);
  withDropped(o, 'droppedAttributesCount', s.droppedAttributesCount);
  if (s.events.length > 0) o['events'] = s.events.map(eventJson);
  withDropped(o, 'droppedEventsCount', s.droppedEventsCount);
  if (s.links.length > 0) o['links'] = s.links.map(linkJson);
  withDropped(o, 'droppedLinksCount', s.droppedLinksCount);
  const status: Json = {};
  if (s.status.message !== '') status['message'] = s.status.message;
  if (s.status.code !== 0) status['code'] = s.status.code;
  o['status'] = status;
  return o;
}

function scopeSpansJson(ss: ScopeSpans): Json {
  const o: Json = { scope: scopeJson(ss.scope), spans: ss.spans.map(spanJson) };
  if (ss.schemaUrl !== '') o['schemaUrl'] = ss.schemaUrl;
  return o;
}

function resourceSpansJson(rs: ResourceSpans): Json {
  const o: Json = { resource: resourceJson(rs.resource), scopeSpans: rs.scopeSpans.map(scopeSpansJson) };
  if (rs.schemaUrl !== '') o['schemaUrl'] = rs.schemaUrl;
  return o;
}

/** ExportTraceServiceRequest / TracesData as OTLP/JSON (a plain value for JSON.stringify). */
export function toOtlpJson(rs: readonly ResourceSpans[]): { resourceSpans: unknown[] } {
  return { resourceSpans: rs.map(resourceSpansJson) };
}

/**
 * A display string for an attribute value (tag values, search matching): strings as-is, ints in
 * decimal, bools true/false, doubles by String(), bytes base64, arrays and kvlists as JSON (ints
 * exact, bytes base64, empty null, non-finite doubles as strings).
 */
export function anyValueToString(v: AnyValue): string {
  switch (v.kind) {
    case 'string':
      return v.value;
    case 'int':
      return v.value.toString();
    case 'bool':
      return v.value ? 'true' : 'false';
    case 'double':
      return String(v.value);
    case 'bytes':
      return base64(v.value);
    case 'empty':
      return '';
    case 'array':
    case 'kvlist':
      return jsonText(v);
  }
}

function jsonText(v: AnyValue): string {
  switch (v.kind) {
    case 'string':
      return JSON.stringify(v.value);
    case 'int':
      return v.value.toString(); // a valid, exact JSON number
    case 'bool':
      return v.value ? 'true' : 'false';
    case 'double':
      return Number.isFinite(v.value) ? JSON.stringify(v.value) : JSON.stringify(String(v.value));
    case 'bytes':
      return JSON.stringify(base64(v.value));
    case 'empty':
      return 'null';
    case 'array':
      return `[${v.value.map(jsonText).join(',')}]`;
    case 'kvlist':
      return `{${v.value.map((kv) => `${JSON.stringify(kv.key)}:${jsonText(kv.value)}`).join(',')}}`;
  }
}

// ---------------------------------------------------------------- input

type Obj = Record<string, unknown>;

function fail(path: string, expected: string): never {
  throw badPayload(`${path}: ${expected}`);
}

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asObject(v: unknown, path: string): Obj {
  if (!isObject(v)) fail(path, 'expected an object');
  return v;
}

/** Field by its lowerCamelCase or snake_case name; JSON null means "not set" in the proto3 mapping. */
function field(o: Obj, camel: string, snake?: string): unknown {
  const v = o[camel];
  if (v !== undefined && v !== null) return v;
  if (snake === undefined) return undefined;
  const s = o[snake];
  return s === null ? undefined : s;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function arrayField<T>(o: Obj, path: string, camel: string, snake: string | undefined, item: (v: unknown, path: string) => T): T[] {
  const v = field(o, camel, snake);
  if (v === undefined) return [];
  const p = join(path, camel);
  if (!Array.isArray(v)) fail(p, 'expected an array');
  const out: T[] = new Array<T>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = item(v[i], `${p}[${i}]`);
  return out;
}

function stringField(o: Obj, path: string, camel: string, snake?: string): string {
  const v = field(o, camel, snake);
  if (v === undefined) return '';
  if (typeof v !== 'string') fail(join(path, camel), 'expected a string');
  return v;
}

const DECIMAL = /^-?\d+$/;
const TWO_64 = 2n ** 64n;

/** An integer given as a JSON number or a decimal string (proto3 JSON accepts both for every integer type). */
function integer(v: unknown, path: string, min: bigint, max: bigint): bigint {
  let n: bigint;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) fail(path, 'expected an integer');
    n = BigInt(v);
  } else if (typeof v === 'string' && DECIMAL.test(v)) {
    n = BigInt(v);
  } else {
    fail(path, 'expected an integer (number or decimal string)');
  }
  if (n < min || n > max) fail(path, `integer out of range [${min}, ${max}]`);
  return n;
}

function uint32Field(o: Obj, path: string, camel: string, snake: string): number {
  const v = field(o, camel, snake);
  return v === undefined ? 0 : Number(integer(v, join(path, camel), 0n, 0xffffffffn));
}

function uint64Field(o: Obj, path: string, camel: string, snake: string): bigint {
  const v = field(o, camel, snake);
  return v === undefined ? 0n : integer(v, join(path, camel), 0n, TWO_64 - 1n);
}

function enumField(o: Obj, path: string, camel: string, snake: string | undefined, names: Record<string, number>): number {
  const v = field(o, camel, snake);
  if (v === undefined) return 0;
  if (typeof v === 'string' && !DECIMAL.test(v)) {
    const n = names[v];
    if (n === undefined) fail(join(path, camel), `unknown enum value "${v}"`);
    return n;
  }
  return Number(integer(v, join(path, camel), -(2n ** 31n), 2n ** 31n - 1n));
}

const SPAN_KIND_NAMES: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};

const STATUS_CODE_NAMES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

const HEX = /^[0-9a-fA-F]*$/;

/**
 * Hex of any even length: a wrong-length ID is well-formed JSON, so it is kept and rejected later
 * by span validation with a precise reason, without failing the rest of the request.
 */
function hexField(o: Obj, path: string, camel: string, snake: string): Uint8Array {
  const v = field(o, camel, snake);
  if (v === undefined) return new Uint8Array(0);
  if (typeof v !== 'string' || !HEX.test(v)) fail(join(path, camel), 'expected a hex string');
  if (v.length % 2 !== 0) fail(join(path, camel), 'expected an even number of hex characters');
  return Uint8Array.from(Buffer.from(v, 'hex'));
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function base64Value(v: unknown, path: string): Uint8Array {
  // The proto3 JSON mapping accepts standard and URL-safe base64, with or without padding.
  if (typeof v !== 'string' || !BASE64.test(v) || v.replace(/=+$/, '').length % 4 === 1) fail(path, 'expected a base64 string');
  return Uint8Array.from(Buffer.from(v, 'base64'));
}

function doubleValue(v: unknown, path: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = Number(v);
    if (v.trim() !== '' && !Number.isNaN(n)) return n;
  }
  return fail(path, 'expected a number');
}

function anyValue(v: unknown, path: string, depth: number): AnyValue {
  if (depth > MAX_NESTING_DEPTH) fail(path, `values nested deeper than ${MAX_NESTING_DEPTH} levels`);
  const o = asObject(v, path);
  let x = field(o, 'stringValue', 'string_value');
  if (x !== undefined) {
    if (typeof x !== 'string') fail(`${path}.stringValue`, 'expected a string');
    return { kind: 'string', value: x };
  }
  x = field(o, 'boolValue', 'bool_value');
  if (x !== undefined) {
    if (typeof x !== 'boolean') fail(`${path}.boolValue`, 'expected true or false');
    return { kind: 'bool', value: x };
  }
  x = field(o, 'intValue', 'int_value');
  if (x !== undefined) return { kind: 'int', value: integer(x, `${path}.intValue`, -(2n ** 63n), 2n ** 63n - 1n) };
  x = field(o, 'doubleValue', 'double_value');
  if (x !== undefined) return { kind: 'double', value: doubleValue(x, `${path}.doubleValue`) };
  x = field(o, 'arrayValue', 'array_value');
  if (x !== undefined) {
    const p = `${path}.arrayValue`;
    if (depth + 1 > MAX_NESTING_DEPTH) fail(p, `values nested deeper than ${MAX_NESTING_DEPTH} levels`);
    return { kind: 'array', value: arrayField(asObject(x, p), p, 'values', undefined, (item, ip) => anyValue(item, ip, depth + 2)) };
  }
  x = field(o, 'kvlistValue', 'kvlist_value');
  if (x !== undefined) {
    const p = `${path}.kvlistValue`;
    if (depth + 1 > MAX_NESTING_DEPTH) fail(p, `values nested deeper than ${MAX_NESTING_DEPTH} levels`);
    return { kind: 'kvlist', value: arrayField(asObject(x, p), p, 'values', undefined, (item, ip) => keyValue(item, ip, depth + 2)) };
  }
  x = field(o, 'bytesValue', 'bytes_value');
  if (x !== undefined) return { kind: 'bytes', value: base64Value(x, `${path}.bytesValue`) };
  return { kind: 'empty' };
}

function keyValue(v: unknown, path: string, depth: number): KeyValue {
  if (depth > MAX_NESTING_DEPTH) fail(path, `values nested deeper than ${MAX_NESTING_DEPTH} levels`);
  const o = asObject(v, path);
  const value = field(o, 'value');
  return { key: stringField(o, path, 'key'), value: value === undefined ? { kind: 'empty' } : anyValue(value, `${path}.value`, depth + 1) };
}

const attrs = (o: Obj, path: string, depth = 1): KeyValue[] => arrayField(o, path, 'attributes', undefined, (v, p) => keyValue(v, p, depth));

function resource(v: unknown, path: string): Resource {
  if (v === undefined) return { attributes: [], droppedAttributesCount: 0 };
  const o = asObject(v, path);
  return { attributes: attrs(o, path), droppedAttributesCount: uint32Field(o, path, 'droppedAttributesCount', 'dropped_attributes_count') };
}

function scope(v: unknown, path: string): InstrumentationScope {
  if (v === undefined) return { name: '', version: '', attributes: [], droppedAttributesCount: 0 };
  const o = asObject(v, path);
  return {
    name: stringField(o, path, 'name'),
    version: stringField(o, path, 'version'),
    attributes: attrs(o, path),
    droppedAttributesCount: uint32Field(o, path, 'droppedAttributesCount', 'dropped_attributes_count'),
  };
}

function event(v: unknown, path: string): SpanEvent {
  const o = asObject(v, path);
  return {
    timeUnixNano: uint64Field(o, path, 'timeUnixNano', 'time_unix_nano'),
    name: stringField(o, path, 'name'),
    attributes: attrs(o, path, 2),
    droppedAttributesCount: uint32Field(o, path, 'droppedAttributesCount', 'dropped_attributes_count'),
  };
}

function link(v: unknown, path: string): SpanLink {
  const o = asObject(v, path);
  return {
    traceId: hexField(o, path, 'traceId', 'trace_id'),
    spanId: hexField(o, path, 'spanId', 'span_id'),
    traceState: stringField(o, path, 'traceState', 'trace_state'),
    attributes: attrs(o, path, 2),
    droppedAttributesCount: uint32Field(o, path, 'droppedAttributesCount', 'dropped_attributes_count'),
    flags: uint32Field(o, path, 'flags', 'flags'),
  };
}

function span(v: unknown, path: string): Span {
  const o = asObject(v, path);
  const statusValue = field(o, 'status');
  let status = { code: 0, message: '' };
  if (statusValue !== undefined) {
    const sp = `${path}.status`;
    const so = asObject(statusValue, sp);
    status = { code: enumField(so, sp, 'code', undefined, STATUS_CODE_NAMES), message: stringField(so, sp, 'message') };
  }
  return {
    traceId: hexField(o, path, 'traceId', 'trace_id'),
    spanId: hexField(o, path, 'spanId', 'span_id'),
    traceState: stringField(o, path, 'traceState', 'trace_state'),
    parentSpanId: hexField(o, path, 'parentSpanId', 'parent_span_id'),
    flags: uint32Field(o, path, 'flags', 'flags'),
    name: stringField(o, path, 'name'),
    kind: enumField(o, path, 'kind', undefined, SPAN_KIND_NAMES),
    startTimeUnixNano: uint64Field(o, path, 'startTimeUnixNano', 'start_time_unix_nano'),
    endTimeUnixNano: uint64Field(o, path, 'endTimeUnixNano', 'end_time_unix_nano'),
    attributes: attrs(o, path),
    droppedAttributesCount: uint32Field(o, path, 'droppedAttributesCount', 'dropped_attributes_count'),
    events: arrayField(o, path, 'events', undefined, event),
    droppedEventsCount: uint32Field(o, path, 'droppedEventsCount', 'dropped_events_count'),
    links: arrayField(o, path, 'links', undefined, link),
    droppedLinksCount: uint32Field(o, path, 'droppedLinksCount', 'dropped_links_count'),
    status,
  };
}

function scopeSpans(v: unknown, path: string): ScopeSpans {
  const o = asObject(v, path);
  return {
    scope: scope(field(o, 'scope'), `${path}.scope`),
    schemaUrl: stringField(o, path, 'schemaUrl', 'schema_url'),
    spans: arrayField(o, path, 'spans', undefined, span),
  };
}

function resourceSpans(v: unknown, path: string): ResourceSpans {
  const o = asObject(v, path);
  return {
    resource: resource(field(o, 'resource'), `${path}.resource`),
    schemaUrl: stringField(o, path, 'schemaUrl', 'schema_url'),
    scopeSpans: arrayField(o, path, 'scopeSpans', 'scope_spans', scopeSpans),
  };
}

/**
 * Parses an OTLP/JSON ExportTraceServiceRequest (already JSON.parse'd). Also accepts `batches`,
 * the key Tempo's JSON trace format uses for the same list. Throws SkeinError('BAD_PAYLOAD') naming
 * the path of the first bad field, e.g. `resourceSpans[0].scopeSpans[1].spans[3].traceId: expected
 * a hex string`.
 */
export function fromOtlpJson(value: unknown): ResourceSpans[] {
  const o = asObject(value, '(request)');
  if (field(o, 'resourceSpans', 'resource_spans') === undefined && field(o, 'batches') !== undefined) {
    return arrayField(o, '', 'batches', undefined, resourceSpans);
  }
  return arrayField(o, '', 'resourceSpans', 'resource_spans', resourceSpans);
}
