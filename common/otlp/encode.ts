// Encoder: the model in common/model → OTLP protobuf bytes. Fields are written in field-number
// order and proto3 defaults are omitted (as the reference implementations do), except oneof members
// of AnyValue, which are always written because their presence is the value's type.
import type { AnyValue, InstrumentationScope, KeyValue, Resource, ResourceSpans, Span } from '../model/index.js';
import { WireType, varintSize, writeDoubleInto, writeVarintInto } from './wire.js';

const { VARINT, FIXED64, LEN, FIXED32 } = WireType;

/** Growable output buffer. Nested messages reserve one length byte and shift when it needs more. */
export class Writer {
  buf: Uint8Array;
  pos = 0;

  constructor(initialSize = 256) {
    this.buf = new Uint8Array(initialSize);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  tag(field: number, wire: number): void {
    this.uint(field * 8 + wire);
  }

  /** Non-negative integer < 2^53. */
  uint(v: number): void {
    this.ensure(10);
    this.pos = writeVarintInto(this.buf, this.pos, v);
  }

  /** int32/enum: negative values are sign-extended to 64 bits (10 bytes), as protobuf requires. */
  int32(v: number): void {
    if (v >= 0) this.uint(v);
    else this.varint64((v | 0) >>> 0, 0xffffffff);
  }

  int64(v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.varint64(Number(u & 0xffffffffn), Number(u >> 32n));
  }

  private varint64(lo: number, hi: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi > 0 || lo >= 0x80) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  fixed32(v: number): void {
    this.ensure(4);
    const buf = this.buf;
    const p = this.pos;
    buf[p] = v & 0xff;
    buf[p + 1] = (v >>> 8) & 0xff;
    buf[p + 2] = (v >>> 16) & 0xff;
    buf[p + 3] = (v >>> 24) & 0xff;
    this.pos = p + 4;
  }

  fixed64(v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.fixed32(Number(u & 0xffffffffn));
    this.fixed32(Number(u >> 32n));
  }

  double(v: number): void {
    this.ensure(8);
    writeDoubleInto(this.buf, this.pos, v);
    this.pos += 8;
  }

  lenBytes(b: Uint8Array): void {
    this.uint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  lenString(s: string): void {
    const n = utf8Length(s);
    this.uint(n);
    this.ensure(n);
    this.pos = writeUtf8(this.buf, this.pos, s);
  }

  /** Starts a length-delimited region; pass the result to end(). */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  end(start: number): void {
    const len = this.pos - start - 1;
    const size = varintSize(len);
    if (size > 1) {
      this.ensure(size - 1);
      this.buf.copyWithin(start + size, start + 1, this.pos);
      this.pos += size - 1;
    }
    writeVarintInto(this.buf, start, len);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** UTF-8 byte length of `s`; lone surrogates count as U+FFFD (3 bytes), as TextEncoder writes them. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

export function writeUtf8(buf: Uint8Array, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      buf[pos++] = 0xf0 | (c >> 18);
      buf[pos++] = 0x80 | ((c >> 12) & 0x3f);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos;
}

function stringField(w: Writer, field: number, s: string): void {
  if (s.length === 0) return;
  w.tag(field, LEN);
  w.lenString(s);
}

function bytesField(w: Writer, field: number, b: Uint8Array): void {
  if (b.length === 0) return;
  w.tag(field, LEN);
  w.lenBytes(b);
}

function uint32Field(w: Writer, field: number, v: number): void {
  const u = v >>> 0;
  if (u === 0) return;
  w.tag(field, VARINT);
  w.uint(u);
}

function fixed64Field(w: Writer, field: number, v: bigint): void {
  if (v === 0n) return;
  w.tag(field, FIXED64);
  w.fixed64(v);
}

function fixed32Field(w: Writer, field: number, v: number): void {
  if (v >>> 0 === 0) return;
  w.tag(field, FIXED32);
  w.fixed32(v >>> 0);
}

function keyValues(w: Writer, field: number, kvs: readonly KeyValue[]): void {
  for (const kv of kvs) {
    w.tag(field, LEN);
    const at = w.begin();
    writeKeyValue(w, kv);
    w.end(at);
  }
}

function writeKeyValue(w: Writer, kv: KeyValue): void {
  stringField(w, 1, kv.key);
  w.tag(2, LEN);
  const at = w.begin();
  writeAnyValue(w, kv.value);
  w.end(at);
}

function writeAnyValue(w: Writer, v: AnyValue): void {
  switch (v.kind) {
    case 'string':
      w.tag(1, LEN);
      w.lenString(v.value);
      return;
    case 'bool':
      w.tag(2, VARINT);
      w.uint(v.value ? 1 : 0);
      return;
    case 'int':
      w.tag(3, VARINT);
      w.int64(v.value);
      return;
    case 'double':
      w.tag(4, FIXED64);
      w.double(v.value);
      return;
    case 'array': {
      w.tag(5, LEN);
      const at = w.begin();
      for (const item of v.value) {
        w.tag(1, LEN);
        const itemAt = w.begin();
        writeAnyValue(w, item);
        w.end(itemAt);
      }
      w.end(at);
      return;
    }
    case 'kvlist': {
      w.tag(6, LEN);
      const at = w.begin();
      keyValues(w, 1, v.value);
      w.end(at);
      return;
    }
    case 'bytes':
      w.tag(7, LEN);
      w.lenBytes(v.value);
      return;
    case 'empty':
      return;
  }
}

export function writeResource(w: Writer, r: Resource): void {
  keyValues(w, 1, r.attributes);
  uint32Field(w, 2, r.droppedAttributesCount);
}

export function writeScope(w: Writer, s: InstrumentationScope): void {
  stringField(w, 1, s.name);
  stringField(w, 2, s.version);
  keyValues(w, 3, s.attributes);
  uint32Field(w, 4, s.droppedAttributesCount);
}

export function writeSpan(w: Writer, s: Span): void {
  bytesField(w, 1, s.traceId);
  bytesField(w, 2, s.spanId);
  stringField(w, 3, s.traceState);
  bytesField(w, 4, s.parentSpanId);
  stringField(w, 5, s.name);
  if (s.kind !== 0) {
    w.tag(6, VARINT);
    w.int32(s.kind);
  }
  fixed64Field(w, 7, s.startTimeUnixNano);
  fixed64Field(w, 8, s.endTimeUnixNano);
  keyValues(w, 9, s.attributes);
  uint32Field(w, 10, s.droppedAttributesCount);
  for (const e of s.events) {
    w.tag(11, LEN);
    const at = w.begin();
    fixed64Field(w, 1, e.timeUnixNano);
    stringField(w, 2, e.name);
    keyValues(w, 3, e.attributes);
    uint32Field(w, 4, e.droppedAttributesCount);
    w.end(at);
  }
  uint32Field(w, 12, s.droppedEventsCount);
  for (const l of s.links) {
    w.tag(13, LEN);
    const at = w.begin();
    bytesField(w, 1, l.traceId);
    bytesField(w, 2, l.spanId);
    stringField(w, 3, l.traceState);
    keyValues(w, 4, l.attributes);
    uint32Field(w, 5, l.droppedAttributesCount);
    fixed32Field(w, 6, l.flags);
    w.end(at);
  }
  uint32Field(w, 14, s.droppedLinksCount);
  if (s.status.code !== 0 || s.status.message.length > 0) {
    w.tag(15, LEN);
    const at = w.begin();
    stringField(w, 2, s.status.message);
    if (s.status.code !== 0) {
      w.tag(3, VARINT);
      w.int32(s.status.code);
    }
    w.end(at);
  }
  fixed32Field(w, 16, s.flags);
}

export function encodeSpan(span: Span): Uint8Array {
  const w = new Writer();
  writeSpan(w, span);
  return w.finish();
}

export function encodeResource(resource: Resource): Uint8Array {
  const w = new Writer();
  writeResource(w, resource);
  return w.finish();
}

export function encodeScope(scope: InstrumentationScope): Uint8Array {
  const w = new Writer();
  writeScope(w, scope);
  return w.finish();
}

/** Encodes an ExportTraceServiceRequest (byte-identical to TracesData). */
export function encodeExportRequest(resourceSpans: readonly ResourceSpans[]): Uint8Array {
  const w = new Writer(4096);
  for (const rs of resourceSpans) {
    w.tag(1, LEN);
    const rsAt = w.begin();
    w.tag(1, LEN);
    const resAt = w.begin();
    writeResource(w, rs.resource);
    if (w.pos === resAt + 1) w.pos -= 2; // empty resource: drop the field (tag 0x0a is one byte)
    else w.end(resAt);
    for (const ss of rs.scopeSpans) {
      w.tag(2, LEN);
      const ssAt = w.begin();
      w.tag(1, LEN);
      const scopeAt = w.begin();
      writeScope(w, ss.scope);
      if (w.pos === scopeAt + 1) w.pos -= 2;
      else w.end(scopeAt);
      for (const span of ss.spans) {
        w.tag(2, LEN);
        const spanAt = w.begin();
        writeSpan(w, span);
        w.end(spanAt);
      }
      stringField(w, 3, ss.schemaUrl);
      w.end(ssAt);
    }
    stringField(w, 3, rs.schemaUrl);
    w.end(rsAt);
  }
  return w.finish();
}
