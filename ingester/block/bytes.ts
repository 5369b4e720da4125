// Growable little-endian byte writer and a bounds-checked reader for the block format's integers
// (FORMAT.md §Encodings). 64-bit values travel as (hi, lo) uint32 halves so that timestamps stay
// exact without BigInt on the hot paths.

/** Thrown by ByteReader on a read past the end or a malformed varint; callers turn it into BlockCorruptError. */
export class MalformedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedError';
  }
}

const TWO_32 = 4294967296;

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initial = 1024) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, v >>> 0, true);
    this.length += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }

  /** Unsigned LEB128 of a non-negative safe integer. */
  uvarint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    while (v >= 0x80) {
      b[this.length++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    b[this.length++] = v;
  }

  /** Unsigned LEB128 of the 64-bit value with halves (hi, lo). */
  uvarint64(hi: number, lo: number): void {
    this.ensure(10);
    const b = this.buf;
    hi >>>= 0;
    lo >>>= 0;
    while (hi !== 0 || lo >= 0x80) {
      b[this.length++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi >>>= 7;
    }
    b[this.length++] = lo;
  }

  /** Zigzag + LEB128 of a signed safe integer. */
  svarint(v: number): void {
    this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  bytes(v: Uint8Array): void {
    this.uvarint(v.length);
    this.raw(v);
  }

  string(v: string): void {
    this.bytes(Buffer.from(v, 'utf8'));
  }

  raw(v: Uint8Array): void {
    this.ensure(v.length);
    this.buf.set(v, this.length);
    this.length += v.length;
  }

  /** Pads with zero bytes to a multiple of `n`. */
  align(n: number): void {
    while (this.length % n !== 0) this.u8(0);
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export class ByteReader {
  readonly view: DataView;
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new MalformedError(`${what} runs past the end (at byte ${this.pos}, need ${n}, have ${this.end - this.pos})`);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(what = 'f64'): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  uvarint(what = 'varint'): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw new MalformedError(`${what} runs past the end (at byte ${this.pos})`);
      const x = this.buf[this.pos++]!;
      v += (x & 0x7f) * mul;
      if (x < 0x80) {
        if (!Number.isSafeInteger(v)) break;
        return v;
      }
      mul *= 128;
    }
    throw new MalformedError(`${what} at byte ${this.pos} is not a safe integer`);
  }

  /** Reads an unsigned 64-bit LEB128 into out = [hi, lo]. */
  uvarint64(out: Uint32Array | number[], what = 'varint64'): void {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new MalformedError(`${what} runs past the end (at byte ${this.pos})`);
      const x = this.buf[this.pos++]!;
      const bits = x & 0x7f;
      if (shift < 28) {
        lo = (lo | (bits << shift)) >>> 0;
      } else if (shift === 28) {
        lo = (lo | ((bits & 0x0f) << 28)) >>> 0;
        hi = bits >>> 4;
      } else {
        hi = (hi | (bits << (shift - 32))) >>> 0;
      }
      if (x < 0x80) {
        out[0] = hi;
        out[1] = lo;
        return;
      }
      shift += 7;
    }
    throw new MalformedError(`${what} at byte ${this.pos} is longer than 10 bytes`);
  }

  svarint(what = 'svarint'): number {
    const z = this.uvarint(what);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  bytes(what = 'bytes'): Uint8Array {
    const n = this.uvarint(what);
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Skips a `bytes` field; its offset in `buf` (the length is `pos` − offset afterwards). */
  skipBytes(what = 'bytes'): number {
    const n = this.uvarint(what);
    this.need(n, what);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  string(what = 'string'): string {
    const b = this.bytes(what);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
  }

  raw(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  align(n: number): void {
    while (this.pos % n !== 0) this.pos++;
    if (this.pos > this.end) throw new MalformedError('padding runs past the end');
  }
}

/** (hi, lo) of a 64-bit unsigned difference a − b (two's complement when negative). */
export function sub64(aHi: number, aLo: number, bHi: number, bLo: number, out: number[]): void {
  let lo = aLo - bLo;
  let borrow = 0;
  if (lo < 0) {
    lo += TWO_32;
    borrow = 1;
  }
  out[0] = (aHi - bHi - borrow) >>> 0;
  out[1] = lo >>> 0;
}

/** (hi, lo) of a + b modulo 2^64. */
export function add64(aHi: number, aLo: number, bHi: number, bLo: number, out: number[]): void {
  let lo = aLo + bLo;
  let carry = 0;
  if (lo >= TWO_32) {
    lo -= TWO_32;
    carry = 1;
  }
  out[0] = (aHi + bHi + carry) >>> 0;
  out[1] = lo >>> 0;
}

/** Zigzag of the signed 64-bit two's-complement value (hi, lo), as halves. */
export function zigzag64(hi: number, lo: number, out: number[]): void {
  const sign = hi >>> 31 === 1 ? 0xffffffff : 0;
  const zHi = ((hi << 1) | (lo >>> 31)) ^ sign;
  const zLo = (lo << 1) ^ sign;
  out[0] = zHi >>> 0;
  out[1] = zLo >>> 0;
}

export function unzigzag64(hi: number, lo: number, out: number[]): void {
  const sign = (lo & 1) === 1 ? 0xffffffff : 0;
  const vLo = ((lo >>> 1) | (hi << 31)) ^ sign;
  const vHi = (hi >>> 1) ^ sign;
  out[0] = vHi >>> 0;
  out[1] = vLo >>> 0;
}

/** Exact decimal text of the unsigned 64-bit value (hi, lo). */
export function decimal64(hi: number, lo: number): string {
  if (hi <= 0x1fffff) return String(hi * TWO_32 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}
