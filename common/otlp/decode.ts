// Full decoder: OTLP protobuf bytes → the model in common/model. Used where whole spans are needed
// (query responses, format conversion), never on the ingest routing path. Byte fields are copied
// so the model never aliases a request buffer; int64 and fixed64 become bigint.
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
import { Cursor, MAX_NESTING_DEPTH, WireType, badPayload } from './wire.js';

const EMPTY_BYTES: Uint8Array = new Uint8Array(0);
const { VARINT, FIXED64, LEN, FIXED32 } = WireType;

/** Decodes an ExportTraceServiceRequest (or TracesData). Throws SkeinError('BAD_PAYLOAD'). */
export function decodeExportRequest(buf: Uint8Array): ResourceSpans[] {
  const cur = new Cursor(buf);
  const out: ResourceSpans[] = [];
  const what = 'ExportTraceServiceRequest';
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    if (tag >>> 3 === 1) {
      cur.expect(tag, LEN, what);
      const outer = cur.enter(what);
      out.push(readResourceSpans(cur));
      cur.leave(outer);
    } else {
      cur.skip(tag, what);
    }
  }
  return out;
}

export function decodeSpan(bytes: Uint8Array): Span {
  return readSpan(new Cursor(bytes));
}

export function decodeResource(bytes: Uint8Array): Resource {
  return readResource(new Cursor(bytes));
}

export function decodeScope(bytes: Uint8Array): InstrumentationScope {
  return readScope(new Cursor(bytes));
}

function readResourceSpans(cur: Cursor): ResourceSpans {
  const what = 'ResourceSpans';
  let resource: Resource = { attributes: [], droppedAttributesCount: 0 };
  let schemaUrl = '';
  const scopeSpans: ScopeSpans[] = [];
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1: {
        cur.expect(tag, LEN, what);
        const outer = cur.enter(what);
        resource = readResource(cur);
        cur.leave(outer);
        break;
      }
      case 2: {
        cur.expect(tag, LEN, what);
        const outer = cur.enter(what);
        scopeSpans.push(readScopeSpans(cur));
        cur.leave(outer);
        break;
      }
      case 3:
        cur.expect(tag, LEN, what);
        schemaUrl = cur.string(what);
        break;
      default:
        cur.skip(tag, what);
    }
  }
  return { resource, schemaUrl, scopeSpans };
}

function readScopeSpans(cur: Cursor): ScopeSpans {
  const what = 'ScopeSpans';
  let scope: InstrumentationScope = { name: '', version: '', attributes: [], droppedAttributesCount: 0 };
  let schemaUrl = '';
  const spans: Span[] = [];
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1: {
        cur.expect(tag, LEN, what);
        const outer = cur.enter(what);
        scope = readScope(cur);
        cur.leave(outer);
        break;
      }
      case 2: {
        cur.expect(tag, LEN, what);
        const outer = cur.enter(what);
        spans.push(readSpan(cur));
        cur.leave(outer);
        break;
      }
      case 3:
        cur.expect(tag, LEN, what);
        schemaUrl = cur.string(what);
        break;
      default:
        cur.skip(tag, what);
    }
  }
  return { scope, schemaUrl, spans };
}

function readResource(cur: Cursor): Resource {
  const what = 'Resource';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1:
        cur.expect(tag, LEN, what);
        attributes.push(readKeyValueField(cur, what, 1));
        break;
      case 2:
        cur.expect(tag, VARINT, what);
        droppedAttributesCount = cur.uint32(what);
        break;
      default:
        cur.skip(tag, what);
    }
  }
  return { attributes, droppedAttributesCount };
}

function readScope(cur: Cursor): InstrumentationScope {
  const what = 'InstrumentationScope';
  let name = '';
  let version = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1:
        cur.expect(tag, LEN, what);
        name = cur.string(what);
        break;
      case 2:
        cur.expect(tag, LEN, what);
        version = cur.string(what);
        break;
      case 3:
        cur.expect(tag, LEN, what);
        attributes.push(readKeyValueField(cur, what, 1));
        break;
      case 4:
        cur.expect(tag, VARINT, what);
        droppedAttributesCount = cur.uint32(what);
        break;
      default:
        cur.skip(tag, what);
    }
  }
  return { name, version, attributes, droppedAttributesCount };
}

function readSpan(cur: Cursor): Span {
  const what = 'Span';
  let traceId = EMPTY_BYTES;
  let spanId = EMPTY_BYTES;
  let traceState = '';
  let parentSpanId = EMPTY_BYTES;
  let flags = 0;
  let name = '';
  let kind = 0;
  let startTimeUnixNano = 0n;
  let endTimeUnixNano = 0n;
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  const events: SpanEvent[] = [];
  let droppedEventsCount = 0;
  const links: SpanLink[] = [];
  let droppedLinksCount = 0;
  let statusCode = 0;
  let statusMessage = '';
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1:
        cur.expect(tag, LEN, what);
        traceId = cur.bytes(what);
        break;
      case 2:
        cur.expect(tag, LEN, what);
        spanId = cur.bytes(what);
        break;
      case 3:
        cur.expect(tag, LEN, what);
        traceState = cur.string(what);
        break;
      case 4:
        cur.expect(tag, LEN, what);
        parentSpanId = cur.bytes(what);
        break;
      case 5:
        cur.expect(tag, LEN, what);
        name = cur.string(what);
        break;
      case 6:
        cur.expect(tag, VARINT, what);
        kind = cur.int32(what);
        break;
      case 7:
        cur.expect(tag, FIXED64, what);
        startTimeUnixNano = cur.fixed64(what);
        break;
      case 8:
        cur.expect(tag, FIXED64, what);
        endTimeUnixNano = cur.fixed64(what);
        break;
      case 9:
        cur.expect(tag, LEN, what);
        attributes.push(readKeyValueField(cur, what, 1));
        break;
      case 10:
        cur.expect(tag, VARINT, what);
        droppedAttributesCount = cur.uint32(what);
        break;
      case 11: {
        cur.expect(tag, LEN, what);
        const outer = cur.enter(what);
        events.push(readEvent(cur));
        cur.leave(outer);
        break;
      }
      case 12:
        cur.expect(tag, VARINT, what);
        droppedEventsCount = cur.uint32(what);
        break;
      case 13: {
        cur.expect(tag, LEN, what);
        const outer = cur.enter(what);
        links.push(readLink(cur));
        cur.leave(outer);
        break;
      }
      case 14:
        cur.expect(tag, VARINT, what);
        droppedLinksCount = cur.uint32(what);
        break;
      case 15: {
        // A repeated Status merges field by field (protobuf's rule for message fields), matching
        // readSpanFields.
        cur.expect(tag, LEN, what);
        const outer = cur.enter(what);
        while (cur.pos < cur.end) {
          const t = cur.tag('Status');
          if (t >>> 3 === 2) {
            cur.expect(t, LEN, 'Status');
            statusMessage = cur.string('Status');
          } else if (t >>> 3 === 3) {
            cur.expect(t, VARINT, 'Status');
            statusCode = cur.int32('Status');
          } else {
            cur.skip(t, 'Status');
          }
        }
        cur.leave(outer);
        break;
      }
      case 16:
        cur.expect(tag, FIXED32, what);
        flags = cur.fixed32(what);
        break;
      default:
        cur.skip(tag, what);
    }
  }
  return {
    traceId,
    spanId,
    traceState,
    parentSpanId,
    flags,
    name,
    kind,
    startTimeUnixNano,
    endTimeUnixNano,
    attributes,
    droppedAttributesCount,
    events,
    droppedEventsCount,
    links,
    droppedLinksCount,
    status: { code: statusCode, message: statusMessage },
  };
}

function readEvent(cur: Cursor): SpanEvent {
  const what = 'Span.Event';
  let timeUnixNano = 0n;
  let name = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1:
        cur.expect(tag, FIXED64, what);
        timeUnixNano = cur.fixed64(what);
        break;
      case 2:
        cur.expect(tag, LEN, what);
        name = cur.string(what);
        break;
      case 3:
        cur.expect(tag, LEN, what);
        attributes.push(readKeyValueField(cur, what, 2));
        break;
      case 4:
        cur.expect(tag, VARINT, what);
        droppedAttributesCount = cur.uint32(what);
        break;
      default:
        cur.skip(tag, what);
    }
  }
  return { timeUnixNano, name, attributes, droppedAttributesCount };
}

function readLink(cur: Cursor): SpanLink {
  const what = 'Span.Link';
  let traceId = EMPTY_BYTES;
  let spanId = EMPTY_BYTES;
  let traceState = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  let flags = 0;
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1:
        cur.expect(tag, LEN, what);
        traceId = cur.bytes(what);
        break;
      case 2:
        cur.expect(tag, LEN, what);
        spanId = cur.bytes(what);
        break;
      case 3:
        cur.expect(tag, LEN, what);
        traceState = cur.string(what);
        break;
      case 4:
        cur.expect(tag, LEN, what);
        attributes.push(readKeyValueField(cur, what, 2));
        break;
      case 5:
        cur.expect(tag, VARINT, what);
        droppedAttributesCount = cur.uint32(what);
        break;
      case 6:
        cur.expect(tag, FIXED32, what);
        flags = cur.fixed32(what);
        break;
      default:
        cur.skip(tag, what);
    }
  }
  return { traceId, spanId, traceState, attributes, droppedAttributesCount, flags };
}

/**
 * Reads the length-delimited KeyValue at the cursor. `depth` is its message nesting level below the
 * span/resource/scope (counted as isWellFormed counts it, so validateSpan and this decoder agree).
 */
function readKeyValueField(cur: Cursor, parent: string, depth: number): KeyValue {
  if (depth > MAX_NESTING_DEPTH) throw tooDeep(cur);
  const outer = cur.enter(parent);
  const what = 'KeyValue';
  let key = '';
  let value: AnyValue = { kind: 'empty' };
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1:
        cur.expect(tag, LEN, what);
        key = cur.string(what);
        break;
      case 2:
        cur.expect(tag, LEN, what);
        value = readAnyValueField(cur, what, depth + 1);
        break;
      default:
        cur.skip(tag, what);
    }
  }
  cur.leave(outer);
  return { key, value };
}

/** Reads the length-delimited AnyValue at the cursor; the last oneof member sent wins. */
function readAnyValueField(cur: Cursor, parent: string, depth: number): AnyValue {
  if (depth > MAX_NESTING_DEPTH) throw tooDeep(cur);
  const outer = cur.enter(parent);
  const what = 'AnyValue';
  let value: AnyValue = { kind: 'empty' };
  while (cur.pos < cur.end) {
    const tag = cur.tag(what);
    switch (tag >>> 3) {
      case 1:
        cur.expect(tag, LEN, what);
        value = { kind: 'string', value: cur.string(what) };
        break;
      case 2:
        cur.expect(tag, VARINT, what);
        value = { kind: 'bool', value: cur.bool(what) };
        break;
      case 3:
        cur.expect(tag, VARINT, what);
        value = { kind: 'int', value: cur.int64(what) };
        break;
      case 4:
        cur.expect(tag, FIXED64, what);
        value = { kind: 'double', value: cur.double(what) };
        break;
      case 5: {
        cur.expect(tag, LEN, what);
        if (depth + 1 > MAX_NESTING_DEPTH) throw tooDeep(cur);
        const arrOuter = cur.enter(what);
        const values: AnyValue[] = [];
        while (cur.pos < cur.end) {
          const t = cur.tag('ArrayValue');
          if (t >>> 3 === 1) {
            cur.expect(t, LEN, 'ArrayValue');
            values.push(readAnyValueField(cur, 'ArrayValue', depth + 2));
          } else {
            cur.skip(t, 'ArrayValue');
          }
        }
        cur.leave(arrOuter);
        value = { kind: 'array', value: values };
        break;
      }
      case 6: {
        cur.expect(tag, LEN, what);
        if (depth + 1 > MAX_NESTING_DEPTH) throw tooDeep(cur);
        const listOuter = cur.enter(what);
        const values: KeyValue[] = [];
        while (cur.pos < cur.end) {
          const t = cur.tag('KeyValueList');
          if (t >>> 3 === 1) {
            cur.expect(t, LEN, 'KeyValueList');
            values.push(readKeyValueField(cur, 'KeyValueList', depth + 2));
          } else {
            cur.skip(t, 'KeyValueList');
          }
        }
        cur.leave(listOuter);
        value = { kind: 'kvlist', value: values };
        break;
      }
      case 7:
        cur.expect(tag, LEN, what);
        value = { kind: 'bytes', value: cur.bytes(what) };
        break;
      default:
        cur.skip(tag, what);
    }
  }
  cur.leave(outer);
  return value;
}

function tooDeep(cur: Cursor): Error {
  return badPayload(`attribute values nested deeper than ${MAX_NESTING_DEPTH} levels at byte ${cur.pos}`);
}
