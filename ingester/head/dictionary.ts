// Exact, bounded dictionaries of the distinct tag keys, tag values and operations a tenant has sent.
// Lookups go by 32-bit hash and then compare the real bytes, so a hash collision never merges two
// entries; a string is decoded only when an entry is first created.
import type { MemoryMeter } from './columns.js';
import { HashTable } from './hash.js';

/** Value kinds a dictionary entry can hold; OPERATION entries carry a span kind in `a`. */
export const EntryType = {
  STRING: 1,
  BOOL: 2,
  INT: 3,
  DOUBLE: 4,
  EMPTY: 5,
  OPERATION: 6,
} as const;

interface Entry {
  readonly type: number;
  /** INT: low word; DOUBLE: low word of the bits; BOOL: 0/1; OPERATION: span kind. */
  readonly a: number;
  /** INT: high word; DOUBLE: high word of the bits. */
  readonly b: number;
  /** STRING / OPERATION: the UTF-8 bytes (a private copy). */
  readonly bytes: Uint8Array | undefined;
  readonly text: string;
  /** Next entry index with the same hash, or -1. */
  next: number;
}

export function sameBytes(stored: Uint8Array | undefined, buf: Uint8Array, off: number, len: number): boolean {
  if (stored === undefined || stored.length !== len) return false;
  for (let i = 0; i < len; i++) if (stored[i] !== buf[off + i]) return false;
  return true;
}

/**
 * A set of distinct values (each with its display text) capped at `limit` entries; once full it
 * stops growing, which `full` lets hot callers test before hashing anything.
 */
export class ValueSet {
  private readonly table: HashTable;
  private readonly entries: Entry[] = [];

  constructor(
    private readonly meter: MemoryMeter,
    private readonly limit: number,
  ) {
    this.table = new HashTable(meter, 16);
    meter.bytes += 96;
  }

  get full(): boolean {
    return this.entries.length >= this.limit;
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Whether the value is present. For STRING/OPERATION the bytes at buf[off, off+len) identify it;
   * for the others (type, a, b) do.
   */
  has(hash: number, type: number, a: number, b: number, buf: Uint8Array | undefined, off: number, len: number): boolean {
    const slot = this.table.find(hash);
    if (slot < 0) return false;
    for (let i = this.table.valueAt(slot); i >= 0; i = this.entries[i]!.next) {
      const e = this.entries[i]!;
      if (e.type !== type || e.a !== a || e.b !== b) continue;
      if (buf === undefined || sameBytes(e.bytes, buf, off, len)) return true;
    }
    return false;
  }

  /** Adds a value known to be absent (see `has`), unless the set is full. */
  insert(hash: number, type: number, a: number, b: number, buf: Uint8Array | undefined, off: number, len: number, text: string): void {
    if (this.full) return;
    const slot = this.table.upsert(hash, -1);
    const bytes = buf === undefined ? undefined : new Uint8Array(buf.subarray(off, off + len));
    const index = this.entries.length;
    this.entries.push({ type, a, b, bytes, text, next: this.table.valueAt(slot) });
    this.table.setValueAt(slot, index);
    this.meter.bytes += 96 + text.length * 2 + (bytes === undefined ? 0 : bytes.length + 64);
  }

  /** Display texts (unsorted, may repeat when two typed values render alike, e.g. "5" and 5). */
  texts(): string[] {
    return this.entries.map((e) => e.text);
  }

  /** Entries as (text, a) pairs — for OPERATION sets, a is the span kind. */
  pairs(): Array<{ text: string; a: number }> {
    return this.entries.map((e) => ({ text: e.text, a: e.a }));
  }
}

/**
 * The last few (unmasked) hashes confirmed present in a dictionary: the values a key takes from
 * span to span are mostly a handful of repeats, and checking eight numbers is far cheaper than a
 * table lookup plus a byte comparison. Two distinct values with equal 32-bit hashes could hide
 * one of them from tagValues — never from search, which does not use the dictionaries.
 */
export class RecentHashes {
  private readonly hashes = new Uint32Array(8);
  private filled = 0;
  private next = 0;

  has(hash: number): boolean {
    const h = this.hashes;
    for (let i = 0; i < this.filled; i++) if (h[i] === hash) return true;
    return false;
  }

  remember(hash: number): void {
    this.hashes[this.next] = hash;
    this.next = (this.next + 1) & 7;
    if (this.filled < 8) this.filled++;
  }
}

export interface KeyEntry {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Full (unmasked) hash of the key bytes, the key half of its index hashes. */
  readonly hash: number;
  readonly values: ValueSet;
  /** Value hashes recently confirmed present in `values` (see RecentHashes). */
  readonly recent: RecentHashes;
  /** Set when the key carried an array, key-value list or bytes: its postings are incomplete. */
  unindexed: boolean;
  next: number;
}

/** The distinct attribute keys of a tenant, each with its bounded set of values. */
export class KeyDictionary {
  private readonly table: HashTable;
  private readonly entries: KeyEntry[] = [];

  constructor(
    private readonly meter: MemoryMeter,
    private readonly valueLimit: number,
  ) {
    this.table = new HashTable(meter, 64);
  }

  /** The entry for the key bytes buf[off, off+len) with hash `hash`, if known. */
  find(hash: number, buf: Uint8Array, off: number, len: number): KeyEntry | undefined {
    const slot = this.table.find(hash);
    if (slot < 0) return undefined;
    for (let i = this.table.valueAt(slot); i >= 0; i = this.entries[i]!.next) {
      const e = this.entries[i]!;
      if (sameBytes(e.bytes, buf, off, len)) return e;
    }
    return undefined;
  }

  /** Adds a key known to be absent (see `find`); `fullHash` is the unmasked key hash. */
  create(hash: number, fullHash: number, buf: Uint8Array, off: number, len: number, name: string): KeyEntry {
    const slot = this.table.upsert(hash, -1);
    const entry: KeyEntry = {
      name,
      bytes: new Uint8Array(buf.subarray(off, off + len)),
      hash: fullHash,
      values: new ValueSet(this.meter, this.valueLimit),
      recent: new RecentHashes(),
      unindexed: false,
      next: this.table.valueAt(slot),
    };
    this.table.setValueAt(slot, this.entries.length);
    this.entries.push(entry);
    this.meter.bytes += 160 + name.length * 2 + len;
    return entry;
  }

  /** The entry whose name is `name`, if any (query path; no hashing needed). */
  byName(name: string): KeyEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  names(): string[] {
    return this.entries.map((e) => e.name);
  }
}
