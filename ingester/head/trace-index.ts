// Trace IDs of a head and, per tenant, the hash table from trace ID to trace ordinal. IDs are kept
// as four big-endian uint32 words per trace (16 bytes, compared word-wise in byte order); the
// table holds only ordinals. Against a Map keyed by a 16-character string this saves the string,
// the Map entry (~100 bytes a trace together) and a string allocation per lookup.
import { U32Column, type MemoryMeter } from './columns.js';
import { fmix32 } from './hash.js';

export function wordAt(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** The 16-byte IDs of all traces of a head, by ordinal. */
export class TraceIds {
  private readonly words: U32Column;

  constructor(meter: MemoryMeter) {
    this.words = new U32Column(meter);
  }

  set(t: number, w0: number, w1: number, w2: number, w3: number): void {
    const i = t * 4;
    this.words.set(i + 3, w3); // the highest index first: sizes the pages once
    this.words.set(i, w0);
    this.words.set(i + 1, w1);
    this.words.set(i + 2, w2);
  }

  equals(t: number, w0: number, w1: number, w2: number, w3: number): boolean {
    const i = t * 4;
    const w = this.words;
    return w.get(i) === w0 && w.get(i + 1) === w1 && w.get(i + 2) === w2 && w.get(i + 3) === w3;
  }

  /** Byte-order comparison of two traces' IDs: negative, zero or positive. */
  compare(a: number, b: number): number {
    const w = this.words;
    for (let k = 0; k < 4; k++) {
      const x = w.get(a * 4 + k);
      const y = w.get(b * 4 + k);
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  }

  /** The 16 bytes of trace `t`'s ID, freshly allocated. */
  bytes(t: number): Uint8Array {
    const out = new Uint8Array(16);
    for (let k = 0; k < 4; k++) {
      const w = this.words.get(t * 4 + k);
      out[k * 4] = w >>> 24;
      out[k * 4 + 1] = (w >>> 16) & 0xff;
      out[k * 4 + 2] = (w >>> 8) & 0xff;
      out[k * 4 + 3] = w & 0xff;
    }
    return out;
  }

  hex(t: number): string {
    let out = '';
    for (let k = 0; k < 4; k++) out += this.words.get(t * 4 + k).toString(16).padStart(8, '0');
    return out;
  }
}

/** Hash of a trace ID's words: all 16 bytes count, since callers need not send random IDs. */
export function traceIdHash(w0: number, w1: number, w2: number, w3: number): number {
  return fmix32((Math.imul(w0, 0x9e3779b1) ^ Math.imul(w1, 0x85ebca77) ^ Math.imul(w2, 0xc2b2ae3d) ^ w3) >>> 0);
}

/**
 * One tenant's trace ID → ordinal table: open addressing with two words a slot (the ID's hash, and
 * ordinal + 1 with 0 for empty), so probing compares hashes and reads a stored ID only on a match.
 */
export class TraceTable {
  private slots: Uint32Array;
  private mask: number;
  private size = 0;

  constructor(
    private readonly ids: TraceIds,
    private readonly meter: MemoryMeter,
  ) {
    this.slots = new Uint32Array(64 * 2);
    this.mask = 63;
    meter.bytes += 64 * 8 + 64;
  }

  /** Ordinal of the trace with these ID words (whose traceIdHash is `hash`), or -1. */
  find(hash: number, w0: number, w1: number, w2: number, w3: number): number {
    const slots = this.slots;
    const mask = this.mask;
    let i = hash & mask;
    for (;;) {
      const v = slots[i * 2 + 1]!;
      if (v === 0) return -1;
      if (slots[i * 2] === hash && this.ids.equals(v - 1, w0, w1, w2, w3)) return v - 1;
      i = (i + 1) & mask;
    }
  }

  /** Adds ordinal `t`, whose ID hashes to `hash` and is not yet in this table. */
  insert(t: number, hash: number): void {
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) this.grow();
    const slots = this.slots;
    const mask = this.mask;
    let i = hash & mask;
    while (slots[i * 2 + 1] !== 0) i = (i + 1) & mask;
    slots[i * 2] = hash;
    slots[i * 2 + 1] = t + 1;
    this.size++;
  }

  private grow(): void {
    const old = this.slots;
    const cap = old.length; // slots double: old.length / 2 slots → old.length slots
    this.meter.bytes += old.length * 4;
    const slots = new Uint32Array(cap * 2);
    const mask = cap - 1;
    for (let j = 0; j < old.length; j += 2) {
      const v = old[j + 1]!;
      if (v === 0) continue;
      const hash = old[j]!;
      let i = hash & mask;
      while (slots[i * 2 + 1] !== 0) i = (i + 1) & mask;
      slots[i * 2] = hash;
      slots[i * 2 + 1] = v;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
