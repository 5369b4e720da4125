// Structural check of nested OTLP messages without decoding them: every tag, length and fixed-size
// payload is in bounds, known fields have the wire type the schema gives them, nesting stays under
// MAX_NESTING_DEPTH. Ingest runs it on each span (validateSpan) and on each resource/scope (scanner)
// so that bytes we store can always be decoded later — a span whose attributes are garbage is
// rejected at the edge instead of poisoning a trace at query time. Strings are not checked for
// valid UTF-8: decoders replace bad sequences rather than fail, as protobuf-es and protobufjs do.
import { MAX_NESTING_DEPTH, WireType, uint32At, varintEnd } from './wire.js';

interface FieldRule {
  readonly wire: number;
  /** Always present (null for scalars) so every rule has one hidden class and lookups stay monomorphic. */
  readonly child: MessageSchema | null;
}

export interface MessageSchema {
  readonly name: string;
  /** Indexed by field number; fields not listed are unknown and skipped by wire type. */
  readonly fields: (FieldRule | undefined)[];
}

function schema(name: string): { name: string; fields: (FieldRule | undefined)[] } {
  return { name, fields: [] };
}

const V = WireType.VARINT;
const F64 = WireType.FIXED64;
const L = WireType.LEN;
const F32 = WireType.FIXED32;

// Field numbers from opentelemetry-proto common/v1/common.proto, resource/v1/resource.proto,
// trace/v1/trace.proto and collector/trace/v1/trace_service.proto.
export const ANY_VALUE = schema('AnyValue');
export const ARRAY_VALUE = schema('ArrayValue');
export const KEY_VALUE_LIST = schema('KeyValueList');
export const KEY_VALUE = schema('KeyValue');
export const RESOURCE = schema('Resource');
export const SCOPE = schema('InstrumentationScope');
export const STATUS = schema('Status');
export const EVENT = schema('Span.Event');
export const LINK = schema('Span.Link');
export const SPAN = schema('Span');

ANY_VALUE.fields[1] = { wire: L, child: null };
ANY_VALUE.fields[2] = { wire: V, child: null };
ANY_VALUE.fields[3] = { wire: V, child: null };
ANY_VALUE.fields[4] = { wire: F64, child: null };
ANY_VALUE.fields[5] = { wire: L, child: ARRAY_VALUE };
ANY_VALUE.fields[6] = { wire: L, child: KEY_VALUE_LIST };
ANY_VALUE.fields[7] = { wire: L, child: null };
ARRAY_VALUE.fields[1] = { wire: L, child: ANY_VALUE };
KEY_VALUE_LIST.fields[1] = { wire: L, child: KEY_VALUE };
KEY_VALUE.fields[1] = { wire: L, child: null };
KEY_VALUE.fields[2] = { wire: L, child: ANY_VALUE };
RESOURCE.fields[1] = { wire: L, child: KEY_VALUE };
RESOURCE.fields[2] = { wire: V, child: null };
SCOPE.fields[1] = { wire: L, child: null };
SCOPE.fields[2] = { wire: L, child: null };
SCOPE.fields[3] = { wire: L, child: KEY_VALUE };
SCOPE.fields[4] = { wire: V, child: null };
STATUS.fields[2] = { wire: L, child: null };
STATUS.fields[3] = { wire: V, child: null };
EVENT.fields[1] = { wire: F64, child: null };
EVENT.fields[2] = { wire: L, child: null };
EVENT.fields[3] = { wire: L, child: KEY_VALUE };
EVENT.fields[4] = { wire: V, child: null };
LINK.fields[1] = { wire: L, child: null };
LINK.fields[2] = { wire: L, child: null };
LINK.fields[3] = { wire: L, child: null };
LINK.fields[4] = { wire: L, child: KEY_VALUE };
LINK.fields[5] = { wire: V, child: null };
LINK.fields[6] = { wire: F32, child: null };
for (const f of [1, 2, 3, 4, 5]) SPAN.fields[f] = { wire: L, child: null };
SPAN.fields[6] = { wire: V, child: null };
SPAN.fields[7] = { wire: F64, child: null };
SPAN.fields[8] = { wire: F64, child: null };
SPAN.fields[9] = { wire: L, child: KEY_VALUE };
SPAN.fields[10] = { wire: V, child: null };
SPAN.fields[11] = { wire: L, child: EVENT };
SPAN.fields[12] = { wire: V, child: null };
SPAN.fields[13] = { wire: L, child: LINK };
SPAN.fields[14] = { wire: V, child: null };
SPAN.fields[15] = { wire: L, child: STATUS };
SPAN.fields[16] = { wire: F32, child: null };

/**
 * Reads a length prefix at `pos` (at most 5 bytes, as lengths < 2^32 need) and returns the
 * position just past the payload, or -1 when the prefix is bad or the payload overruns `end`.
 * The payload starts at varintEnd(buf, pos, end).
 */
export function lengthDelimitedEnd(buf: Uint8Array, pos: number, end: number): number {
  const next = varintEnd(buf, pos, end);
  if (next < 0 || next - pos > 5) return -1;
  let len = 0;
  let mul = 1;
  for (let i = pos; i < next; i++) {
    len += (buf[i]! & 0x7f) * mul;
    mul *= 128;
  }
  const payloadEnd = next + len;
  return payloadEnd > end ? -1 : payloadEnd;
}

/**
 * Position after the payload of a field with wire type `wire` starting at `pos`, or -1 when it is
 * malformed. Groups (wire type 3) are skipped to their matching end; wire type 4 outside a group,
 * and 6 and 7, are malformed.
 */
export function skipFieldAt(buf: Uint8Array, pos: number, end: number, wire: number, field: number): number {
  switch (wire) {
    case WireType.VARINT:
      return varintEnd(buf, pos, end);
    case WireType.FIXED64:
      return pos + 8 <= end ? pos + 8 : -1;
    case WireType.LEN:
      return lengthDelimitedEnd(buf, pos, end);
    case WireType.FIXED32:
      return pos + 4 <= end ? pos + 4 : -1;
    case WireType.START_GROUP:
      return skipGroupAt(buf, pos, end, field);
    default:
      return -1;
  }
}

function skipGroupAt(buf: Uint8Array, pos: number, end: number, field: number): number {
  const open = [field];
  while (open.length > 0) {
    if (pos >= end) return -1;
    const next = varintEnd(buf, pos, end);
    if (next < 0 || next - pos > 5) return -1;
    const tag = uint32At(buf, pos);
    pos = next;
    const wire = tag & 7;
    if (tag >>> 3 === 0) return -1;
    if (wire === WireType.START_GROUP) {
      if (open.length >= MAX_NESTING_DEPTH) return -1;
      open.push(tag >>> 3);
    } else if (wire === WireType.END_GROUP) {
      if (open.pop() !== tag >>> 3) return -1;
    } else {
      pos = skipFieldAt(buf, pos, end, wire, tag >>> 3);
      if (pos < 0) return -1;
    }
  }
  return pos;
}

/** True when buf[start, end) is a well-formed `schema` message (recursively). Allocates nothing. */
export function isWellFormed(buf: Uint8Array, start: number, end: number, schema: MessageSchema, depth = 0): boolean {
  if (depth > MAX_NESTING_DEPTH) return false;
  const fields = schema.fields;
  let pos = start;
  while (pos < end) {
    // One-byte tags and lengths are the overwhelmingly common case; take them inline.
    let tag = buf[pos]!;
    if (tag < 0x80) {
      pos++;
    } else {
      const next = varintEnd(buf, pos, end);
      if (next < 0 || next - pos > 5) return false;
      tag = uint32At(buf, pos);
      pos = next;
    }
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) return false;
    const rule = field < fields.length ? fields[field] : undefined;
    if (rule !== undefined && rule.wire !== wire) return false;
    if (wire === WireType.LEN) {
      let payloadStart: number;
      let payloadEnd: number;
      const first = pos < end ? buf[pos]! : 0x80;
      if (first < 0x80) {
        payloadStart = pos + 1;
        payloadEnd = payloadStart + first;
        if (payloadEnd > end) return false;
      } else {
        payloadEnd = lengthDelimitedEnd(buf, pos, end);
        if (payloadEnd < 0) return false;
        payloadStart = varintEnd(buf, pos, end);
      }
      if (rule !== undefined && rule.child !== null && !isWellFormed(buf, payloadStart, payloadEnd, rule.child, depth + 1)) return false;
      pos = payloadEnd;
    } else {
      pos = skipFieldAt(buf, pos, end, wire, field);
      if (pos < 0) return false;
    }
  }
  return pos === end;
}

// Span checks run once per ingested span, and almost all of a span's nested bytes are attributes
// whose values are scalars. The generic walk pays a schema lookup, a recursive call and a rule
// check per field; the fast paths below handle exactly those common shapes inline. They only ever
// say "well-formed" for bytes the generic walk also accepts; anything else (unusual tags, long
// tags, nested values, malformed bytes) is handed to isWellFormed on the same range and depth, so
// the verdict is always the generic one.

/** True when buf[start, end) is a well-formed Span: the same answer as isWellFormed(…, SPAN). */
export function isWellFormedSpan(buf: Uint8Array, start: number, end: number): boolean {
  let pos = start;
  while (pos < end) {
    const tag = buf[pos]!;
    if (tag === 0x4a) {
      // attributes (9, LEN): KeyValue at depth 1.
      const payloadEnd = lengthDelimitedEnd(buf, pos + 1, end);
      if (payloadEnd >= 0) {
        const payloadStart = buf[pos + 1]! < 0x80 ? pos + 2 : varintEnd(buf, pos + 1, end);
        if (keyValueFast(buf, payloadStart, payloadEnd)) {
          pos = payloadEnd;
          continue;
        }
      }
    } else if (tag === 0x39 || tag === 0x41) {
      // start / end time (7, 8: FIXED64).
      if (pos + 9 <= end) {
        pos += 9;
        continue;
      }
    } else if (tag === 0x0a || tag === 0x12 || tag === 0x1a || tag === 0x22 || tag === 0x2a) {
      // IDs, trace state, name (1–5: LEN, no children).
      const first = pos + 1 < end ? buf[pos + 1]! : 0x80;
      if (first < 0x80 && pos + 2 + first <= end) {
        pos += 2 + first;
        continue;
      }
    } else if (tag === 0x30 && pos + 1 < end && buf[pos + 1]! < 0x80) {
      // kind (6: VARINT), one byte.
      pos += 2;
      continue;
    }
    // Anything else: one generic step over this field (the depth-0 rules of SPAN).
    pos = spanFieldGeneric(buf, pos, end);
    if (pos < 0) return false;
  }
  return pos === end;
}

/** The generic walk's handling of the one Span field at `pos`; the position after it or -1. */
function spanFieldGeneric(buf: Uint8Array, pos: number, end: number): number {
  let tag = buf[pos]!;
  if (tag < 0x80) {
    pos++;
  } else {
    const next = varintEnd(buf, pos, end);
    if (next < 0 || next - pos > 5) return -1;
    tag = uint32At(buf, pos);
    pos = next;
  }
  const field = tag >>> 3;
  const wire = tag & 7;
  if (field === 0) return -1;
  const fields = SPAN.fields;
  const rule = field < fields.length ? fields[field] : undefined;
  if (rule !== undefined && rule.wire !== wire) return -1;
  if (wire !== WireType.LEN) return skipFieldAt(buf, pos, end, wire, field);
  const payloadEnd = lengthDelimitedEnd(buf, pos, end);
  if (payloadEnd < 0) return -1;
  if (rule !== undefined && rule.child !== null) {
    const payloadStart = varintEnd(buf, pos, end);
    if (!isWellFormed(buf, payloadStart, payloadEnd, rule.child, 1)) return -1;
  }
  return payloadEnd;
}

/**
 * A span attribute (KeyValue at depth 1) made of one-byte tags: key, then a scalar value. Answers
 * with the generic walk whenever it meets anything else.
 */
function keyValueFast(buf: Uint8Array, start: number, end: number): boolean {
  // The shape nearly every attribute has: key (one-byte length), then a value (one-byte length)
  // holding exactly one scalar field that ends where the attribute ends.
  if (buf[start] === 0x0a && start + 1 < end) {
    const keyLength = buf[start + 1]!;
    const p = start + 2 + keyLength;
    if (keyLength < 0x80 && p + 1 < end && buf[p] === 0x12 && buf[p + 1]! < 0x80 && p + 2 + buf[p + 1]! === end) {
      const q = p + 2;
      if (q === end) return true; // empty AnyValue
      const t = buf[q]!;
      if (t === 0x0a || t === 0x3a) {
        // string_value (1) / bytes_value (7), one-byte length
        if (q + 1 < end && buf[q + 1]! < 0x80 && q + 2 + buf[q + 1]! === end) return true;
      } else if (t === 0x18 || t === 0x10) {
        // int_value (3) / bool_value (2)
        if (varintEnd(buf, q + 1, end) === end) return true;
      } else if (t === 0x21) {
        // double_value (4)
        if (q + 9 === end) return true;
      }
    }
  }
  let pos = start;
  while (pos < end) {
    const tag = buf[pos]!;
    if (tag !== 0x0a && tag !== 0x12) break; // key (1, LEN), value (2, LEN)
    const payloadEnd = lengthDelimitedEnd(buf, pos + 1, end);
    if (payloadEnd < 0) break;
    if (tag === 0x12) {
      const first = buf[pos + 1]!;
      const payloadStart = first < 0x80 ? pos + 2 : varintEnd(buf, pos + 1, end);
      if (!anyValueScalar(buf, payloadStart, payloadEnd)) break;
    }
    pos = payloadEnd;
  }
  return pos === end || isWellFormed(buf, start, end, KEY_VALUE, 1);
}

/**
 * True when buf[start, end) is an AnyValue holding only scalar fields (string, bool, int, double,
 * bytes) with one-byte tags, all well-formed. False means "not this shape", not "malformed".
 */
function anyValueScalar(buf: Uint8Array, start: number, end: number): boolean {
  let pos = start;
  while (pos < end) {
    const tag = buf[pos++]!;
    if (tag === 0x0a || tag === 0x3a) {
      // string_value (1) / bytes_value (7): LEN
      pos = lengthDelimitedEnd(buf, pos, end);
    } else if (tag === 0x10 || tag === 0x18) {
      // bool_value (2) / int_value (3): VARINT
      pos = varintEnd(buf, pos, end);
    } else if (tag === 0x21) {
      // double_value (4): FIXED64
      pos = pos + 8 <= end ? pos + 8 : -1;
    } else {
      return false;
    }
    if (pos < 0) return false;
  }
  return true;
}
