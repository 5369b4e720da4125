// Match forms (FORMAT.md §Match forms): the one byte string per attribute value that search
// compares. A search filter carries text and matches a value when the value "rendered as a string"
// equals it (common/model QueryBackend); the head decides that per type (ingester/head/values.ts).
// The block stores each value by the bytes that decision compares: a string by its own UTF-8
// bytes, an int by its decimal, a double by JavaScript's shortest round-trip text, a bool as
// true/false, an empty value as '', and arrays, key-value lists and bytes by
// common/otlp's anyValueToString. A filter then matches exactly when UTF-8(text) equals the form,
// which is the head's answer for every type (property-tested against the head).
import type { AnyValue } from '../../common/model/index.js';
import { AnyValueType, anyValueToString, readDoubleAt, readVarintAt, varint64At } from '../../common/otlp/index.js';

/** Longest string value (UTF-8 bytes) that tagValues lists, as in the head (values.ts MAX_INDEXED_VALUE_BYTES). */
export const MAX_LISTED_VALUE_BYTES = 256;

const intHalves = [0, 0];

/** Numbers render to at most 24 ASCII characters ("-1.7976931348623157e+308"); the form is a view of this. */
const scratch = new Uint8Array(32);

function ascii(text: string, out: Form): void {
  for (let i = 0; i < text.length; i++) scratch[i] = text.charCodeAt(i);
  out.buf = scratch;
  out.off = 0;
  out.len = text.length;
}

export function renderInt(lo: number, hi: number): string {
  if (hi === 0) return String(lo);
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/** A match form as buf[off, off+len): the value's own bytes or scratch space, valid until the next formOf call. */
export interface Form {
  buf: Uint8Array;
  off: number;
  len: number;
  /** Whether tagValues lists it (the head lists strings up to 256 bytes, ints, doubles, bools and empty values). */
  shown: boolean;
}

/**
 * The form of the attribute value at buf[off, off+len) of `type` (as common/otlp's attribute
 * visitors report it). `decoded(index)` supplies the decoded value of attribute `index` (visit
 * order) for arrays, key-value lists and bytes; undefined when it cannot be decoded (such a value
 * then has no form and matches nothing).
 */
export function formOf(buf: Uint8Array, type: number, off: number, len: number, decoded: (index: number) => AnyValue | undefined, index: number, out: Form): boolean {
  switch (type) {
    case AnyValueType.STRING:
      out.buf = buf;
      out.off = off;
      out.len = len;
      out.shown = len <= MAX_LISTED_VALUE_BYTES;
      return true;
    case AnyValueType.INT:
      varint64At(buf, off, intHalves);
      ascii(renderInt(intHalves[0]!, intHalves[1]!), out);
      out.shown = true;
      return true;
    case AnyValueType.DOUBLE:
      ascii(String(readDoubleAt(buf, off)), out);
      out.shown = true;
      return true;
    case AnyValueType.BOOL:
      whole(readVarintAt(buf, off) !== 0 ? TRUE : FALSE, out);
      out.shown = true;
      return true;
    case AnyValueType.EMPTY:
      whole(EMPTY, out);
      out.shown = true;
      return true;
    default: {
      const v = decoded(index);
      if (v === undefined) return false;
      whole(Buffer.from(anyValueToString(v), 'utf8'), out);
      out.shown = false;
      return true;
    }
  }
}

const TRUE = new TextEncoder().encode('true');
const FALSE = new TextEncoder().encode('false');
const EMPTY = new Uint8Array(0);

function whole(b: Uint8Array, out: Form): void {
  out.buf = b;
  out.off = 0;
  out.len = b.length;
}

export function createForm(): Form {
  return { buf: EMPTY, off: 0, len: 0, shown: false };
}

/** A copy of the form's bytes. */
export function formBytes(f: Form): Uint8Array {
  return f.buf.slice(f.off, f.off + f.len);
}

export function formEquals(f: Form, b: Uint8Array): boolean {
  if (f.len !== b.length) return false;
  const buf = f.buf;
  const off = f.off;
  for (let i = 0; i < b.length; i++) if (buf[off + i] !== b[i]) return false;
  return true;
}

/** latin1 text of bytes: a cheap exact Map key for arbitrary bytes. */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
