// Protobuf wire primitives shared by the lazy scanner, the full decoder and the encoder. Written by
// hand (https://protobuf.dev/programming-guides/encoding/) so the ingest hot path never allocates a
// reader object per span and every malformed input becomes a SkeinError('BAD_PAYLOAD') that names
// the byte offset and the message being read.
import { SkeinError } from '../errors/index.js';

export const WireType = {
  VARINT: 0,
  FIXED64: 1,
  LEN: 2,
  START_GROUP: 3,
  END_GROUP: 4,
  FIXED32: 5,
} as const;

/**
 * protobuf's own default recursion limit. Attribute values nest (arrays of kvlists of arrays…); a
 * span of a few hundred KiB could otherwise nest 100k levels deep and overflow the JS stack, which
 * would surface as a RangeError instead of a BAD_PAYLOAD.
 */
export const MAX_NESTING_DEPTH = 100;

const TWO_32 = 4294967296;

export function badPayload(message: string): SkeinError {
  return new SkeinError('BAD_PAYLOAD', message);
}

/**
 * Position just past the varint starting at `pos`, or -1 when it runs past `end` or is longer than
 * the 10 bytes a 64-bit varint can take.
 */
export function varintEnd(buf: Uint8Array, pos: number, end: number): number {
  const limit = Math.min(end, pos + 10);
  while (pos < limit) {
    if (buf[pos++]! < 0x80) return pos;
  }
  return -1;
}

/** Low 32 bits (as uint32) of the complete varint at `pos`. Enums and uint32s are read this way. */
export function uint32At(buf: Uint8Array, pos: number): number {
  let b = buf[pos]!;
  let v = b & 0x7f;
  if (b < 0x80) return v;
  b = buf[pos + 1]!;
  v |= (b & 0x7f) << 7;
  if (b < 0x80) return v;
  b = buf[pos + 2]!;
  v |= (b & 0x7f) << 14;
  if (b < 0x80) return v;
  b = buf[pos + 3]!;
  v |= (b & 0x7f) << 21;
  if (b < 0x80) return v;
  b = buf[pos + 4]!;
  v |= (b & 0x0f) << 28;
  return v >>> 0;
}

/** Little-endian uint32 at `pos` (fixed32, or either half of a fixed64). */
export function fixed32At(buf: Uint8Array, pos: number): number {
  return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
}

/** Both 32-bit halves of the (complete) varint at `pos`; [lo, hi] written into `out`. */
export function varint64At(buf: Uint8Array, pos: number, out: Uint32Array | number[]): void {
  let lo = 0;
  let hi = 0;
  let shift = 0;
  let b = 0;
  // Bytes 0–3 fill lo bits 0–27.
  for (; shift < 28; shift += 7) {
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      out[0] = lo >>> 0;
      out[1] = 0;
      return;
    }
  }
  // Byte 4 straddles: 4 bits to lo, 3 bits to hi.
  b = buf[pos++]!;
  lo |= (b & 0x0f) << 28;
  hi = (b & 0x7f) >> 4;
  if (b >= 0x80) {
    for (shift = 3; shift < 32; shift += 7) {
      b = buf[pos++]!;
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
  }
  out[0] = lo >>> 0;
  out[1] = hi >>> 0;
}

const MAX_SAFE_HI = 0x1fffff; // hi * 2^32 + lo < 2^53 exactly when hi <= this

/**
 * The int64 varint at `off` (two's complement, as protobuf writes `int64`) as a JS number.
 * Exact whenever |value| ≤ Number.MAX_SAFE_INTEGER; larger magnitudes come back as +Infinity or
 * -Infinity so a caller can never mistake a rounded value for an exact one (use the full decoder,
 * which yields bigint, when exactness matters). NaN when the bytes at `off` are not a complete
 * varint. `bool` values read as 0 or 1.
 */
export function readVarintAt(buf: Uint8Array, off: number): number {
  if (varintEnd(buf, off, buf.length) < 0) return NaN;
  // Same bit layout as varint64At, inlined so visitors reading INT attributes allocate nothing.
  let pos = off;
  let lo = 0;
  let hi = 0;
  let b = 0;
  let done = false;
  for (let shift = 0; shift < 28; shift += 7) {
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      done = true;
      break;
    }
  }
  if (!done) {
    b = buf[pos++]!;
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      for (let shift = 3; shift < 32; shift += 7) {
        b = buf[pos++]!;
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
  }
  lo >>>= 0;
  hi >>>= 0;
  if (hi < 0x80000000) return hi > MAX_SAFE_HI ? Infinity : hi * TWO_32 + lo;
  // Negative: magnitude is the two's complement of (hi, lo).
  const nlo = (~lo + 1) >>> 0;
  const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
  return nhi > MAX_SAFE_HI ? -Infinity : -(nhi * TWO_32 + nlo);
}

/** The int64 varint at `pos` exactly, as bigint (assumes a complete varint). */
export function int64BigAt(buf: Uint8Array, pos: number): bigint {
  const halves = [0, 0];
  varint64At(buf, pos, halves);
  return BigInt.asIntN(64, (BigInt(halves[1]!) << 32n) | BigInt(halves[0]!));
}

// Scratch for reinterpreting 8 bytes as a float64 without allocating a DataView per call. It holds
// no state between calls (always fully written before being read), and JS runs one call at a time.
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian IEEE-754 double at `off` (the 8 bytes of a `double` field). */
export function readDoubleAt(buf: Uint8Array, off: number): number {
  if (littleEndianHost) {
    for (let i = 0; i < 8; i++) f64Bytes[i] = buf[off + i]!;
  } else {
    for (let i = 0; i < 8; i++) f64Bytes[7 - i] = buf[off + i]!;
  }
  return f64[0]!;
}

export function writeDoubleInto(buf: Uint8Array, off: number, value: number): void {
  f64[0] = value;
  if (littleEndianHost) {
    for (let i = 0; i < 8; i++) buf[off + i] = f64Bytes[i]!;
  } else {
    for (let i = 0; i < 8; i++) buf[off + i] = f64Bytes[7 - i]!;
  }
}

const utf8Decoder = new TextDecoder('utf-8');

// Node's native slice decoder (Buffer.prototype.utf8Slice) accepts any Uint8Array receiver and is
// the fastest option measured for the short strings that dominate spans: ~80 ns against ~110 ns for
// TextDecoder on a subarray and ~130 ns for an ASCII char-by-char fast path (the latter loses
// because building a string one char at a time costs more than the native copy). It is not a
// documented API, so fall back to TextDecoder if a runtime lacks it.
type SliceFn = (this: Uint8Array, start: number, end: number) => string;
const nativeUtf8Slice = (globalThis.Buffer?.prototype as unknown as { utf8Slice?: SliceFn } | undefined)?.utf8Slice;

/**
 * Decodes `len` bytes of UTF-8 at `off`. Invalid UTF-8 is replaced with U+FFFD (as TextDecoder
 * does), never thrown.
 */
export function utf8At(buf: Uint8Array, off: number, len: number): string {
  if (len === 0) return '';
  if (nativeUtf8Slice !== undefined) return nativeUtf8Slice.call(buf, off, off + len);
  return utf8Decoder.decode(buf.subarray(off, off + len));
}

/** Number of bytes `value` (a non-negative integer < 2^53) takes as a varint. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let n = 4;
  let v = Math.floor(value / 0x10000000);
  while (v > 0) {
    n++;
    v = Math.floor(v / 128);
  }
  return n;
}

/** Writes a non-negative integer < 2^53 as a varint at `pos`; returns the position after it. */
export function writeVarintInto(buf: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value = value >= 0x80000000 ? Math.floor(value / 128) : value >>> 7;
  }
  buf[pos++] = value;
  return pos;
}

/**
 * A bounds-checked cursor over one buffer for the non-hot paths (request scanning, full decode,
 * structural checks). Offsets in its errors are absolute within `buf`, so a client can be told
 * exactly where its payload went wrong.
 */
export class Cursor {
  pos: number;
  end: number;
  private readonly halves = [0, 0];

  constructor(
    readonly buf: Uint8Array,
    pos = 0,
    end = buf.length,
  ) {
    this.pos = pos;
    this.end = end;
  }

  /** Reads a field tag; `what` names the enclosing message for error messages. */
  tag(what: string): number {
    const at = this.pos;
    const next = varintEnd(this.buf, at, this.end);
    if (next < 0 || next - at > 5) throw badPayload(`truncated or oversized tag varint at byte ${at} in ${what}`);
    const tag = uint32At(this.buf, at);
    this.pos = next;
    const wire = tag & 7;
    if (tag >>> 3 === 0) throw badPayload(`field number 0 at byte ${at} in ${what}`);
    if (wire > 5) throw badPayload(`wire type ${wire} in ${what} at byte ${at}`);
    return tag;
  }

  /** Position after the varint at `pos`; throws when it is truncated. */
  private varintEndOrThrow(what: string): number {
    const next = varintEnd(this.buf, this.pos, this.end);
    if (next < 0) throw badPayload(`truncated varint at byte ${this.pos} in ${what}`);
    return next;
  }

  uint32(what: string): number {
    const next = this.varintEndOrThrow(what);
    const v = uint32At(this.buf, this.pos);
    this.pos = next;
    return v;
  }

  int32(what: string): number {
    return this.uint32(what) | 0;
  }

  bool(what: string): boolean {
    const next = this.varintEndOrThrow(what);
    const halves = this.halves;
    varint64At(this.buf, this.pos, halves);
    this.pos = next;
    return halves[0] !== 0 || halves[1] !== 0;
  }

  int64(what: string): bigint {
    const next = this.varintEndOrThrow(what);
    const v = int64BigAt(this.buf, this.pos);
    this.pos = next;
    return v;
  }

  fixed32(what: string): number {
    if (this.pos + 4 > this.end) throw badPayload(`truncated fixed32 at byte ${this.pos} in ${what}`);
    const v = fixed32At(this.buf, this.pos);
    this.pos += 4;
    return v;
  }

  /** fixed64 as an unsigned bigint. */
  fixed64(what: string): bigint {
    if (this.pos + 8 > this.end) throw badPayload(`truncated fixed64 at byte ${this.pos} in ${what}`);
    const lo = fixed32At(this.buf, this.pos);
    const hi = fixed32At(this.buf, this.pos + 4);
    this.pos += 8;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  double(what: string): number {
    if (this.pos + 8 > this.end) throw badPayload(`truncated double at byte ${this.pos} in ${what}`);
    const v = readDoubleAt(this.buf, this.pos);
    this.pos += 8;
    return v;
  }

  /** Reads a length prefix and returns the end of the payload, leaving `pos` at its start. */
  lenEnd(what: string): number {
    const at = this.pos;
    const next = varintEnd(this.buf, at, this.end);
    if (next < 0 || next - at > 5) throw badPayload(`truncated or oversized length varint at byte ${at} in ${what}`);
    let len = 0;
    let mul = 1;
    for (let i = at; i < next; i++) {
      len += (this.buf[i]! & 0x7f) * mul;
      mul *= 128;
    }
    const payloadEnd = next + len;
    if (payloadEnd > this.end) {
      throw badPayload(`length ${len} at byte ${at} runs past the end of ${what} (byte ${this.end})`);
    }
    this.pos = next;
    return payloadEnd;
  }

  string(what: string): string {
    const end = this.lenEnd(what);
    const s = utf8At(this.buf, this.pos, end - this.pos);
    this.pos = end;
    return s;
  }

  /** Copy of a bytes field (the model must not alias request buffers that get reused). */
  bytes(what: string): Uint8Array {
    const end = this.lenEnd(what);
    const b = this.buf.slice(this.pos, end);
    this.pos = end;
    return b;
  }

  /** View of a length-delimited field, no copy. */
  view(what: string): Uint8Array {
    const end = this.lenEnd(what);
    const b = this.buf.subarray(this.pos, end);
    this.pos = end;
    return b;
  }

  /** Narrows the cursor to the length-delimited payload at `pos`; returns the end to restore with leave(). */
  enter(what: string): number {
    const end = this.lenEnd(what);
    const outer = this.end;
    this.end = end;
    return outer;
  }

  /** Ends a region opened by enter(): continues after it. */
  leave(outer: number): void {
    this.pos = this.end;
    this.end = outer;
  }

  /** Throws unless the field's wire type is `expected` (a known field sent with the wrong type). */
  expect(tag: number, expected: number, what: string): void {
    if ((tag & 7) !== expected) {
      throw badPayload(`field ${tag >>> 3} in ${what} has wire type ${tag & 7}, expected ${expected} (before byte ${this.pos})`);
    }
  }

  /** Skips the payload of a field whose tag was just read. Groups are skipped to their matching end. */
  skip(tag: number, what: string): void {
    switch (tag & 7) {
      case WireType.VARINT:
        this.pos = this.varintEndOrThrow(what);
        return;
      case WireType.FIXED64:
        if (this.pos + 8 > this.end) throw badPayload(`truncated fixed64 at byte ${this.pos} in ${what}`);
        this.pos += 8;
        return;
      case WireType.LEN:
        this.pos = this.lenEnd(what);
        return;
      case WireType.FIXED32:
        if (this.pos + 4 > this.end) throw badPayload(`truncated fixed32 at byte ${this.pos} in ${what}`);
        this.pos += 4;
        return;
      case WireType.START_GROUP: {
        // Groups nest through their own tags, so recursion depth is bounded by the input: loop with
        // an explicit stack of open field numbers instead.
        const open = [tag >>> 3];
        while (open.length > 0) {
          if (this.pos >= this.end) throw badPayload(`unterminated group (field ${open[open.length - 1]}) in ${what}`);
          const t = this.tag(what);
          const wire = t & 7;
          if (wire === WireType.START_GROUP) {
            if (open.length >= MAX_NESTING_DEPTH) throw badPayload(`groups nested deeper than ${MAX_NESTING_DEPTH} in ${what}`);
            open.push(t >>> 3);
          } else if (wire === WireType.END_GROUP) {
            if (open.pop() !== t >>> 3) throw badPayload(`mismatched end of group (field ${t >>> 3}) before byte ${this.pos} in ${what}`);
          } else {
            this.skip(t, what);
          }
        }
        return;
      }
      default:
        throw badPayload(`unexpected end of group (field ${tag >>> 3}) before byte ${this.pos} in ${what}`);
    }
  }
}
