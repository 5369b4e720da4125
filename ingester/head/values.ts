// Typed attribute values as the head indexes and matches them. A search filter carries a string
// (QueryBackend: "compared with the attribute's value rendered as a string"); this file decides
// which typed values a query string can equal and renders stored values the same way, so the index
// (hash per interpretation) and verification (byte/number comparison) agree by construction.
import { AnyValueType, readDoubleAt, readVarintAt, varint64At } from '../../common/otlp/index.js';
import { sameBytes } from './dictionary.js';
import { hashBool, hashBytes, hashDouble, hashEmpty, hashInt, TypeSeed } from './hash.js';

/**
 * The text a double renders as: JavaScript's shortest round-trip form (500 → "500", 0.5 → "0.5"),
 * as common/otlp's anyValueToString renders it.
 */
export function renderDouble(value: number): string {
  return String(value);
}

/** The decimal text of the int64 with two's-complement halves (lo, hi). */
export function renderInt(lo: number, hi: number): string {
  if (hi === 0) return String(lo);
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
}

const halves = [0, 0];

/** Longest string value (in UTF-8 bytes) that is indexed; longer ones are found by scanning. */
export const MAX_INDEXED_VALUE_BYTES = 256;

const INT_TEXT = /^(0|-?[1-9][0-9]*)$/;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Every typed value a query string can equal under string rendering. */
export interface QueryValue {
  readonly text: string;
  readonly utf8: Buffer;
  /** Int64 halves when `text` is the canonical decimal of an int64. */
  readonly int: readonly [lo: number, hi: number] | undefined;
  /** When some double renders exactly as `text`. */
  readonly double: number | undefined;
  readonly bool: boolean | undefined;
  /** Hash of each interpretation (unmasked value hashes; combine with the key hash to look up). */
  readonly valueHashes: readonly number[];
  /** False when the string interpretation is too long to be indexed. */
  readonly indexable: boolean;
}

export function parseQueryValue(text: string): QueryValue {
  const utf8 = Buffer.from(text, 'utf8');
  const valueHashes: number[] = [];
  const indexable = utf8.length <= MAX_INDEXED_VALUE_BYTES;
  valueHashes.push(hashBytes(utf8, 0, utf8.length, TypeSeed.STRING));
  let int: [number, number] | undefined;
  if (INT_TEXT.test(text)) {
    const v = BigInt(text);
    if (v >= INT64_MIN && v <= INT64_MAX) {
      const u = BigInt.asUintN(64, v);
      int = [Number(u & 0xffffffffn), Number(u >> 32n)];
      valueHashes.push(hashInt(int[0], int[1]));
    }
  }
  let double: number | undefined;
  const n = Number(text);
  if (text.trim() !== '' && renderDouble(n) === text) {
    double = n;
    valueHashes.push(hashDouble(n));
  }
  const bool = text === 'true' ? true : text === 'false' ? false : undefined;
  if (bool !== undefined) valueHashes.push(hashBool(bool));
  if (text === '') valueHashes.push(hashEmpty());
  return { text, utf8, int, double, bool, valueHashes, indexable };
}

/**
 * Whether the attribute value at buf[off, off+len) of `type` renders as the query's text. Returns
 * undefined for arrays, key-value lists and bytes, which only a full decode can render.
 */
export function valueMatches(q: QueryValue, buf: Uint8Array, type: number, off: number, len: number): boolean | undefined {
  switch (type) {
    case AnyValueType.STRING:
      return sameBytes(q.utf8, buf, off, len);
    case AnyValueType.INT: {
      if (q.int === undefined) return false;
      varint64At(buf, off, halves);
      return halves[0] === q.int[0] && halves[1] === q.int[1];
    }
    case AnyValueType.DOUBLE: {
      if (q.double === undefined) return false;
      const d = readDoubleAt(buf, off);
      return d === q.double || (d !== d && q.double !== q.double);
    }
    case AnyValueType.BOOL:
      return q.bool !== undefined && (readVarintAt(buf, off) !== 0) === q.bool;
    case AnyValueType.EMPTY:
      return q.text === '';
    default:
      return undefined;
  }
}

