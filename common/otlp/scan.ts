// The lazy reader: finds spans inside an ExportTraceServiceRequest (identical on the wire to
// TracesData: field 1, repeated ResourceSpans) and pulls routing/index fields out of span bytes
// without materialising objects. Span bytes are handed out as subarray views of the request buffer;
// callers that keep them beyond the request must copy.
import { skipFieldAt, isWellFormed, lengthDelimitedEnd, RESOURCE, SCOPE } from './check.js';
import { Cursor, WireType, badPayload, fixed32At, uint32At, utf8At, varintEnd } from './wire.js';

export interface ScannedScopeSpans {
  /** Encoded InstrumentationScope (view into the request); empty when absent. */
  readonly scope: Uint8Array;
  readonly schemaUrl: string;
  /** Each an encoded Span (views into the request, no copy). */
  readonly spans: Uint8Array[];
}

export interface ScannedResourceSpans {
  /** Encoded Resource (view into the request); empty when absent. */
  readonly resource: Uint8Array;
  readonly schemaUrl: string;
  readonly scopeSpans: ScannedScopeSpans[];
}

export interface ScannedRequest {
  readonly resourceSpans: ScannedResourceSpans[];
}

const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * Walks the request down to span boundaries. Resource and scope bytes are checked structurally
 * (they are few and shared by many spans, so a bad one fails the request); span bytes are only
 * framed here — readSpanFields/validateSpan judge each span on its own so one bad span does not
 * sink its neighbours. A field sent more than once keeps its last value (for the resource and scope
 * messages this is a simplification of protobuf's merge rule that no real exporter relies on).
 * Throws SkeinError('BAD_PAYLOAD') naming the byte offset and message for malformed input.
 */
export function scanExportRequest(buf: Uint8Array): ScannedRequest {
  const cur = new Cursor(buf);
  const resourceSpans: ScannedResourceSpans[] = [];
  while (cur.pos < cur.end) {
    const tag = cur.tag('ExportTraceServiceRequest');
    if (tag >>> 3 === 1) {
      cur.expect(tag, WireType.LEN, 'ExportTraceServiceRequest');
      resourceSpans.push(within(cur, 'ExportTraceServiceRequest', scanResourceSpans));
    } else {
      cur.skip(tag, 'ExportTraceServiceRequest');
    }
  }
  return { resourceSpans };
}

/** Narrows the cursor to the length-delimited payload at its position, runs `fn`, restores. */
function within<T>(cur: Cursor, what: string, fn: (cur: Cursor) => T): T {
  const end = cur.lenEnd(what);
  const outer = cur.end;
  cur.end = end;
  const result = fn(cur);
  cur.end = outer;
  cur.pos = end;
  return result;
}

function checkedView(cur: Cursor, what: string, schema: typeof RESOURCE): Uint8Array {
  const view = cur.view(what);
  const start = cur.pos - view.length;
  if (!isWellFormed(view, 0, view.length, schema)) {
    throw badPayload(`malformed ${schema.name} at bytes ${start}..${cur.pos} in ${what}`);
  }
  return view;
}

function scanResourceSpans(cur: Cursor): ScannedResourceSpans {
  const what = 'ResourceSpans';
  let resource = EMPTY;
  let schemaUrl = '';
  const scopeSpans: ScannedScopeSpans[] = [];
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1:
        cur.expect(tag, WireType.LEN, what);
        resource = checkedView(cur, what, RESOURCE);
        break;
      case 2:
        cur.expect(tag, WireType.LEN, what);
        scopeSpans.push(within(cur, what, scanScopeSpans));
        break;
      case 3:
        cur.expect(tag, WireType.LEN, what);
        schemaUrl = cur.string(what);
        break;
      default:
        cur.skip(tag, what);
    }
  }
  return { resource, schemaUrl, scopeSpans };
}

function scanScopeSpans(cur: Cursor): ScannedScopeSpans {
  const what = 'ScopeSpans';
  let scope = EMPTY;
  let schemaUrl = '';
  const spans: Uint8Array[] = [];
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1:
        cur.expect(tag, WireType.LEN, what);
        scope = checkedView(cur, what, SCOPE);
        break;
      case 2: {
        cur.expect(tag, WireType.LEN, what);
        // A plain Uint8Array view, not buf.subarray: on a Buffer that builds a Buffer through
        // Node's JS subclass, which costs ~2.5× as much and is paid for every span of every request.
        const end = cur.lenEnd(what);
        const buf = cur.buf;
        spans.push(new Uint8Array(buf.buffer, buf.byteOffset + cur.pos, end - cur.pos));
        cur.pos = end;
        break;
      }
      case 3:
        cur.expect(tag, WireType.LEN, what);
        schemaUrl = cur.string(what);
        break;
      default:
        cur.skip(tag, what);
    }
  }
  return { scope, schemaUrl, spans };
}

/**
 * What ingest needs from one span, as offsets into the span's bytes. Mutable so one instance can
 * be reused for every span of a request (readSpanFields allocates nothing).
 */
export interface SpanFields {
  traceIdOffset: number;
  /** 0 when absent. */
  traceIdLength: number;
  spanIdOffset: number;
  spanIdLength: number;
  parentSpanIdOffset: number;
  /** 0 for a root span. */
  parentSpanIdLength: number;
  nameOffset: number;
  nameLength: number;
  /** SpanKind number (int32). */
  kind: number;
  /** Unix ns as float64: approximate above 2^53 (~104 days of ns), fine for ranges and durations. */
  startTimeUnixNano: number;
  endTimeUnixNano: number;
  /** Exact fixed64 halves (uint32 each). */
  startHi: number;
  startLo: number;
  endHi: number;
  endLo: number;
  /** Status.code (int32); 0 when there is no status. */
  statusCode: number;
  /** Span.flags (fixed32); 0 when absent. */
  flags: number;
  attributeCount: number;
  eventCount: number;
  linkCount: number;
}

export function createSpanFields(): SpanFields {
  return {
    traceIdOffset: 0,
    traceIdLength: 0,
    spanIdOffset: 0,
    spanIdLength: 0,
    parentSpanIdOffset: 0,
    parentSpanIdLength: 0,
    nameOffset: 0,
    nameLength: 0,
    kind: 0,
    startTimeUnixNano: 0,
    endTimeUnixNano: 0,
    startHi: 0,
    startLo: 0,
    endHi: 0,
    endLo: 0,
    statusCode: 0,
    flags: 0,
    attributeCount: 0,
    eventCount: 0,
    linkCount: 0,
  };
}

const TWO_32 = 4294967296;

/**
 * Fills `out` from one encoded Span. Returns false when the span's top-level framing is malformed
 * (bad tag, length overrun, known field with the wrong wire type, malformed status); nested
 * attributes/events/links are only framed here — validateSpan checks them. Scalar fields sent more
 * than once keep their last value, as protobuf specifies.
 */
export function readSpanFields(span: Uint8Array, out: SpanFields): boolean {
  out.traceIdOffset = 0;
  out.traceIdLength = 0;
  out.spanIdOffset = 0;
  out.spanIdLength = 0;
  out.parentSpanIdOffset = 0;
  out.parentSpanIdLength = 0;
  out.nameOffset = 0;
  out.nameLength = 0;
  out.kind = 0;
  out.startHi = 0;
  out.startLo = 0;
  out.endHi = 0;
  out.endLo = 0;
  out.statusCode = 0;
  out.flags = 0;
  out.attributeCount = 0;
  out.eventCount = 0;
  out.linkCount = 0;

  const end = span.length;
  let pos = 0;
  while (pos < end) {
    let tag = span[pos]!;
    if (tag < 0x80) {
      pos++;
    } else {
      const next = varintEnd(span, pos, end);
      if (next < 0 || next - pos > 5) return false;
      tag = uint32At(span, pos);
      pos = next;
    }
    const wire = tag & 7;
    const field = tag >>> 3;

    if (field === 0) return false;

    // Payload bounds: [start, pos) after this block.
    let start = pos;
    if (wire === WireType.LEN) {
      const len = pos < end ? span[pos]! : 0x80;
      if (len < 0x80) {
        // One-byte length: the common case for IDs, names and attributes.
        start = pos + 1;
        pos = start + len;
        if (pos > end) return false;
      } else {
        pos = lengthDelimitedEnd(span, pos, end);
        if (pos < 0) return false;
        start = varintEnd(span, start, end);
      }
    } else {
      pos = skipFieldAt(span, pos, end, wire, field);
      if (pos < 0) return false;
    }

    switch (field) {
      case 1:
        if (wire !== WireType.LEN) return false;
        out.traceIdOffset = start;
        out.traceIdLength = pos - start;
        break;
      case 2:
        if (wire !== WireType.LEN) return false;
        out.spanIdOffset = start;
        out.spanIdLength = pos - start;
        break;
      case 3:
        if (wire !== WireType.LEN) return false;
        break;
      case 4:
        if (wire !== WireType.LEN) return false;
        out.parentSpanIdOffset = start;
        out.parentSpanIdLength = pos - start;
        break;
      case 5:
        if (wire !== WireType.LEN) return false;
        out.nameOffset = start;
        out.nameLength = pos - start;
        break;
      case 6:
        if (wire !== WireType.VARINT) return false;
        out.kind = uint32At(span, start) | 0;
        break;
      case 7:
        if (wire !== WireType.FIXED64) return false;
        out.startLo = fixed32At(span, start);
        out.startHi = fixed32At(span, start + 4);
        break;
      case 8:
        if (wire !== WireType.FIXED64) return false;
        out.endLo = fixed32At(span, start);
        out.endHi = fixed32At(span, start + 4);
        break;
      case 9:
        if (wire !== WireType.LEN) return false;
        out.attributeCount++;
        break;
      case 11:
        if (wire !== WireType.LEN) return false;
        out.eventCount++;
        break;
      case 13:
        if (wire !== WireType.LEN) return false;
        out.linkCount++;
        break;
      case 10:
      case 12:
      case 14:
        if (wire !== WireType.VARINT) return false;
        break;
      case 15: {
        if (wire !== WireType.LEN) return false;
        const code = statusCodeIn(span, start, pos, out.statusCode);
        if (code !== code) return false; // NaN: malformed status
        out.statusCode = code;
        break;
      }
      case 16:
        if (wire !== WireType.FIXED32) return false;
        out.flags = fixed32At(span, start);
        break;
      default:
        break; // unknown field, already skipped
    }
  }
  out.startTimeUnixNano = out.startHi * TWO_32 + out.startLo;
  out.endTimeUnixNano = out.endHi * TWO_32 + out.endLo;
  return true;
}

/**
 * end − start in ns from the exact halves: exact while the duration is below 2^53 ns (104 days),
 * unlike endTimeUnixNano − startTimeUnixNano, whose float64 inputs are only 256 ns-precise today.
 * Negative when the span ends before it starts.
 */
export function spanDurationNanos(fields: SpanFields): number {
  return (fields.endHi - fields.startHi) * TWO_32 + (fields.endLo - fields.startLo);
}

/** Status.code inside buf[start, end), `previous` when the message has none (merge rule); NaN if malformed. */
function statusCodeIn(buf: Uint8Array, start: number, end: number, previous: number): number {
  let code = previous;
  let pos = start;
  while (pos < end) {
    const next = varintEnd(buf, pos, end);
    if (next < 0 || next - pos > 5) return NaN;
    const tag = uint32At(buf, pos);
    pos = next;
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) return NaN;
    if (field === 3) {
      if (wire !== WireType.VARINT) return NaN;
      const after = varintEnd(buf, pos, end);
      if (after < 0) return NaN;
      code = uint32At(buf, pos) | 0;
      pos = after;
    } else {
      if (field === 2 && wire !== WireType.LEN) return NaN;
      pos = skipFieldAt(buf, pos, end, wire, field);
      if (pos < 0) return NaN;
    }
  }
  return code;
}

/** AnyValue's oneof, numbered by its field numbers (0 when no value is set). */
export const AnyValueType = {
  EMPTY: 0,
  STRING: 1,
  BOOL: 2,
  INT: 3,
  DOUBLE: 4,
  ARRAY: 5,
  KVLIST: 6,
  BYTES: 7,
} as const;
export type AnyValueType = (typeof AnyValueType)[keyof typeof AnyValueType];

/**
 * Receives one KeyValue. Offsets index `buf`. The value payload is: STRING/BYTES the raw bytes;
 * BOOL/INT the varint bytes (read with readVarintAt); DOUBLE the 8 little-endian bytes (readDoubleAt);
 * ARRAY an encoded ArrayValue, KVLIST an encoded KeyValueList; EMPTY has length 0. Returning
 * `false` stops the walk.
 */
export type AttributeVisitor = (
  buf: Uint8Array,
  keyOffset: number,
  keyLength: number,
  valueType: AnyValueType,
  valueOffset: number,
  valueLength: number,
) => void | boolean;

/**
 * Visits each KeyValue of repeated field `fieldNumber` of the message in buf[start, end): span
 * attributes are field 9, Resource attributes field 1, InstrumentationScope attributes field 3,
 * Event attributes 3, Link attributes 4, KeyValueList values 1. Throws SkeinError('BAD_PAYLOAD')
 * on malformed bytes (validateSpan rules that out for spans it accepted). Within an AnyValue the
 * last oneof member sent wins, as protobuf specifies.
 */
export function forEachAttribute(buf: Uint8Array, start: number, end: number, fieldNumber: number, visit: AttributeVisitor): void {
  let pos = start;
  while (pos < end) {
    const tagAt = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) {
      pos++;
    } else {
      tag = tagAfter(buf, pos, end);
      pos = varintEnd(buf, pos, end);
    }
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) throw badPayload(`field number 0 at byte ${tagAt}`);
    if (wire === WireType.LEN) {
      const ps = lenStart(buf, pos, end);
      const pe = ps < 0 ? -1 : ps + lenValue(buf, pos, ps);
      if (pe < 0 || pe > end) throw badPayload(`malformed length of field ${field} at byte ${tagAt}`);
      if (field === fieldNumber && visitKeyValue(buf, ps, pe, visit) === false) return;
      pos = pe;
    } else {
      if (field === fieldNumber) throw badPayload(`field ${field} has wire type ${wire}, expected 2, at byte ${tagAt}`);
      pos = skipFieldAt(buf, pos, end, wire, field);
      if (pos < 0) throw badPayload(`malformed field ${field} (wire type ${wire}) at byte ${tagAt}`);
    }
  }
}

/** The tag at `pos` when it takes more than one byte; throws when truncated or longer than 5 bytes. */
function tagAfter(buf: Uint8Array, pos: number, end: number): number {
  const next = varintEnd(buf, pos, end);
  if (next < 0 || next - pos > 5) throw badPayload(`truncated or oversized tag at byte ${pos}`);
  return uint32At(buf, pos);
}

/** Start of the payload whose length prefix is at `pos`, or -1 when the prefix is bad. */
function lenStart(buf: Uint8Array, pos: number, end: number): number {
  if (pos < end && buf[pos]! < 0x80) return pos + 1;
  const next = varintEnd(buf, pos, end);
  return next < 0 || next - pos > 5 ? -1 : next;
}

/** The length whose prefix occupies [pos, payloadStart). */
function lenValue(buf: Uint8Array, pos: number, payloadStart: number): number {
  if (payloadStart === pos + 1) return buf[pos]!;
  let len = 0;
  let mul = 1;
  for (let i = pos; i < payloadStart; i++) {
    len += (buf[i]! & 0x7f) * mul;
    mul *= 128;
  }
  return len;
}

/**
 * Visits the one KeyValue encoded in buf[start, end) (the payload of an attributes field), as
 * forEachAttribute does for each of its entries; returns what `visit` returned. For walkers that
 * already stand on the field, so a message is not walked once per repeated field they look at.
 */
export function visitKeyValue(buf: Uint8Array, start: number, end: number, visit: AttributeVisitor): void | boolean {
  // The shape nearly every attribute has, taken inline: key (one-byte tag and length), then a value
  // (one-byte tag and length) holding exactly one scalar field that ends where the attribute ends.
  // It reports what the generic walk below reports for the same bytes; anything else goes there.
  if (buf[start] === 0x0a && start + 1 < end) {
    const keyLength = buf[start + 1]!;
    const p = start + 2 + keyLength;
    if (keyLength < 0x80 && p + 1 < end && buf[p] === 0x12 && buf[p + 1]! < 0x80 && p + 2 + buf[p + 1]! === end) {
      const q = p + 2;
      if (q === end) return visit(buf, start + 2, keyLength, AnyValueType.EMPTY, end, 0);
      const t = buf[q]!;
      if (t === 0x0a || t === 0x3a) {
        // string_value (1) / bytes_value (7)
        if (q + 1 < end && buf[q + 1]! < 0x80 && q + 2 + buf[q + 1]! === end) {
          return visit(buf, start + 2, keyLength, t === 0x0a ? AnyValueType.STRING : AnyValueType.BYTES, q + 2, end - q - 2);
        }
      } else if (t === 0x18 || t === 0x10) {
        // int_value (3) / bool_value (2)
        if (varintEnd(buf, q + 1, end) === end) return visit(buf, start + 2, keyLength, t === 0x18 ? AnyValueType.INT : AnyValueType.BOOL, q + 1, end - q - 1);
      } else if (t === 0x21 && q + 9 === end) {
        // double_value (4)
        return visit(buf, start + 2, keyLength, AnyValueType.DOUBLE, q + 1, 8);
      }
    }
  }
  let keyOffset = start;
  let keyLength = 0;
  let valueStart = -1;
  let valueEnd = -1;
  let pos = start;
  while (pos < end) {
    const tagAt = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) {
      pos++;
    } else {
      tag = tagAfter(buf, pos, end);
      pos = varintEnd(buf, pos, end);
    }
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) throw badPayload(`field number 0 at byte ${tagAt} in KeyValue`);
    if (wire === WireType.LEN) {
      const ps = lenStart(buf, pos, end);
      const pe = ps < 0 ? -1 : ps + lenValue(buf, pos, ps);
      if (pe < 0 || pe > end) throw badPayload(`malformed length of field ${field} at byte ${tagAt} in KeyValue`);
      if (field === 1) {
        keyOffset = ps;
        keyLength = pe - ps;
      } else if (field === 2) {
        valueStart = ps;
        valueEnd = pe;
      }
      pos = pe;
    } else {
      if (field === 1 || field === 2) throw badPayload(`field ${field} in KeyValue has wire type ${wire}, expected 2, at byte ${tagAt}`);
      pos = skipFieldAt(buf, pos, end, wire, field);
      if (pos < 0) throw badPayload(`malformed field ${field} (wire type ${wire}) at byte ${tagAt} in KeyValue`);
    }
  }
  if (valueStart < 0) return visit(buf, keyOffset, keyLength, AnyValueType.EMPTY, end, 0);

  // AnyValue: the last oneof member sent wins.
  let type: AnyValueType = AnyValueType.EMPTY;
  let valueOffset = valueEnd;
  let valueLength = 0;
  pos = valueStart;
  while (pos < valueEnd) {
    const tagAt = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) {
      pos++;
    } else {
      tag = tagAfter(buf, pos, valueEnd);
      pos = varintEnd(buf, pos, valueEnd);
    }
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) throw badPayload(`field number 0 at byte ${tagAt} in AnyValue`);
    const known = field >= 1 && field <= 7;
    if (known) {
      const expected = field === 2 || field === 3 ? WireType.VARINT : field === 4 ? WireType.FIXED64 : WireType.LEN;
      if (wire !== expected) throw badPayload(`field ${field} in AnyValue has wire type ${wire}, expected ${expected}, at byte ${tagAt}`);
    }
    if (wire === WireType.LEN) {
      const ps = lenStart(buf, pos, valueEnd);
      const pe = ps < 0 ? -1 : ps + lenValue(buf, pos, ps);
      if (pe < 0 || pe > valueEnd) throw badPayload(`malformed length of field ${field} at byte ${tagAt} in AnyValue`);
      if (known) {
        type = field as AnyValueType;
        valueOffset = ps;
        valueLength = pe - ps;
      }
      pos = pe;
    } else {
      const pe = skipFieldAt(buf, pos, valueEnd, wire, field);
      if (pe < 0) throw badPayload(`malformed field ${field} (wire type ${wire}) at byte ${tagAt} in AnyValue`);
      if (known) {
        type = field as AnyValueType;
        valueOffset = pos;
        valueLength = pe - pos;
      }
      pos = pe;
    }
  }
  return visit(buf, keyOffset, keyLength, type, valueOffset, valueLength);
}

// "service.name" as bytes, compared in place to avoid decoding every resource attribute key.
const SERVICE_NAME_KEY = [0x73, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65, 0x2e, 0x6e, 0x61, 0x6d, 0x65];

/**
 * The `service.name` string attribute of an encoded Resource, '' when absent or not a string.
 * Throws SkeinError('BAD_PAYLOAD') on a malformed resource (never for scanExportRequest output,
 * which checked it).
 */
export function readServiceName(resource: Uint8Array): string {
  let result = '';
  forEachAttribute(resource, 0, resource.length, 1, (buf, keyOffset, keyLength, valueType, valueOffset, valueLength) => {
    if (keyLength !== SERVICE_NAME_KEY.length) return;
    for (let i = 0; i < keyLength; i++) if (buf[keyOffset + i] !== SERVICE_NAME_KEY[i]) return;
    // Attribute keys must be unique, so the first match is the answer.
    result = valueType === AnyValueType.STRING ? utf8At(buf, valueOffset, valueLength) : '';
    return false;
  });
  return result;
}
