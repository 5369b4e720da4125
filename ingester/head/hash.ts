// 32-bit hashing for the head's indexes, and an open-addressing table keyed by those hashes.
// Hashes only ever select candidates: every consumer either compares the real bytes or verifies
// the candidate trace against the span data, so a collision costs time, never correctness.
import type { MemoryMeter } from './columns.js';

/** Default seed of hashBytes. */
const DEFAULT_SEED = 0x811c9dc5;
const FNV_PRIME = 0x01000193; // used by hashWords

/**
 * MurmurHash3 (x86, 32-bit) of `len` bytes at `off` with `seed`: four bytes per step, so long
 * values such as URLs hash several times faster than byte-at-a-time FNV.
 */
export function hashBytes(buf: Uint8Array, off: number, len: number, seed: number = DEFAULT_SEED): number {
  let h = seed | 0;
  const end = off + len;
  const blocksEnd = off + (len & ~3);
  let i = off;
  for (; i < blocksEnd; i += 4) {
    let k = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = end - i;
  if (rest > 0) {
    let k = buf[i]!;
    if (rest > 1) k |= buf[i + 1]! << 8;
    if (rest > 2) k |= buf[i + 2]! << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len;
  return fmix32(h);
}

/** murmur3's finaliser: spreads the low-entropy FNV output over all bits. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Order-dependent combination of two hashes. */
export function combineHash(a: number, b: number): number {
  return fmix32(Math.imul(a ^ 0x9e3779b9, 0x27d4eb2f) ^ b);
}

/** Hash of two 32-bit words (int64 halves, float64 bits) under a type-specific seed. */
export function hashWords(seed: number, lo: number, hi: number): number {
  let h = Math.imul(seed ^ lo, FNV_PRIME);
  h = Math.imul(h ^ hi, FNV_PRIME);
  return fmix32(h);
}

/**
 * Seeds that keep the typed interpretations of one value apart: string "500", int 500 and double
 * 500 hash differently, and a query computes one hash per interpretation.
 */
export const TypeSeed = {
  STRING: 0x811c9dc5,
  INT: 0x1b873593,
  DOUBLE: 0x5bd1e995,
  BOOL_FALSE: 0x27d4eb2f,
  BOOL_TRUE: 0x165667b1,
  EMPTY: 0x85ebca77,
} as const;

const f64 = new Float64Array(1);
const f64Words = new Uint32Array(f64.buffer);

/**
 * Hash of a double by value: -0 and 0 are one value (as numeric equality has it) and every NaN is
 * one value (they all render as "NaN"). `doubleWords` then holds the normalised bits.
 */
export function hashDouble(value: number): number {
  f64[0] = value !== value ? NaN : value === 0 ? 0 : value;
  doubleWords[0] = f64Words[0]!;
  doubleWords[1] = f64Words[1]!;
  return hashWords(TypeSeed.DOUBLE, f64Words[0]!, f64Words[1]!);
}

/** [lo, hi] bits of the double most recently passed to hashDouble (scratch: read it right after). */
export const doubleWords = [0, 0];

export function hashInt(lo: number, hi: number): number {
  return hashWords(TypeSeed.INT, lo, hi);
}

export function hashBool(value: boolean): number {
  return fmix32(value ? TypeSeed.BOOL_TRUE : TypeSeed.BOOL_FALSE);
}

export function hashEmpty(): number {
  return fmix32(TypeSeed.EMPTY);
}

/** Bytes per slot: key, value, count and occupancy. */
const SLOT_BYTES = 13;

/**
 * Open-addressing (linear probing) map from a 32-bit hash to an int32 value, plus a uint32 counter
 * per entry. Everything lives in typed arrays: an entry costs ~13 bytes per slot at the ≤ 0.75 load
 * factor it keeps, against ~80 for a JS Map entry holding an object.
 */
export class HashTable {
  private keys: Uint32Array;
  private values: Int32Array;
  private counts: Uint32Array;
  private used: Uint8Array;
  private mask: number;
  private size = 0;

  constructor(
    private readonly meter: MemoryMeter,
    initialCapacity = 64,
  ) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    meter.bytes += cap * SLOT_BYTES + 200;
    this.keys = new Uint32Array(cap);
    this.values = new Int32Array(cap);
    this.counts = new Uint32Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
  }

  /** Slot of `key`, or -1. */
  find(key: number): number {
    const keys = this.keys;
    const used = this.used;
    const mask = this.mask;
    let slot = fmix32(key) & mask;
    for (;;) {
      if (used[slot] === 0) return -1;
      if (keys[slot] === key) return slot;
      slot = (slot + 1) & mask;
    }
  }

  /** Slot of `key`, creating it (value `initial`, count 0) when absent. */
  upsert(key: number, initial: number): number {
    if ((this.size + 1) * 4 > this.keys.length * 3) this.rehash();
    const keys = this.keys;
    const used = this.used;
    const mask = this.mask;
    let slot = fmix32(key) & mask;
    for (;;) {
      if (used[slot] === 0) {
        used[slot] = 1;
        keys[slot] = key;
        this.values[slot] = initial;
        this.size++;
        return slot;
      }
      if (keys[slot] === key) return slot;
      slot = (slot + 1) & mask;
    }
  }

  valueAt(slot: number): number {
    return this.values[slot]!;
  }

  setValueAt(slot: number, value: number): void {
    this.values[slot] = value;
  }

  countAt(slot: number): number {
    return this.counts[slot]!;
  }

  incrementCountAt(slot: number): void {
    this.counts[slot] = this.counts[slot]! + 1;
  }

  entries(): number {
    return this.size;
  }

  private rehash(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const oldCounts = this.counts;
    const oldUsed = this.used;
    const cap = oldKeys.length * 2;
    this.meter.bytes += (cap - oldKeys.length) * SLOT_BYTES;
    this.keys = new Uint32Array(cap);
    this.values = new Int32Array(cap);
    this.counts = new Uint32Array(cap);
    this.used = new Uint8Array(cap);
    const mask = (this.mask = cap - 1);
    for (let i = 0; i < oldKeys.length; i++) {
      if (oldUsed[i] === 0) continue;
      let slot = fmix32(oldKeys[i]!) & mask;
      while (this.used[slot] !== 0) slot = (slot + 1) & mask;
      this.used[slot] = 1;
      this.keys[slot] = oldKeys[i]!;
      this.values[slot] = oldValues[i]!;
      this.counts[slot] = oldCounts[i]!;
    }
  }
}
