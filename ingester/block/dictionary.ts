// A dictionary of byte strings → dense IDs in insertion order, keyed by the bytes themselves
// (MurmurHash3 + open addressing + byte comparison): the builder looks up every attribute value
// of every span, and making a JS string per lookup was a third of the build time.
import { murmur3 } from './bloom.js';

export class ByteDictionary {
  readonly values: Uint8Array[] = [];
  /** Sum of the values' lengths. */
  bytes = 0;
  private hashes = new Uint32Array(16);
  /** Open-addressing table of ID + 1 (0 = empty slot). */
  private table = new Int32Array(16);
  private mask = 15;
  private lastId = -1;

  get size(): number {
    return this.values.length;
  }

  /** ID of buf[off, off+len), or −1. */
  find(buf: Uint8Array, off: number, len: number): number {
    const last = this.lastId;
    if (last >= 0 && same(this.values[last]!, buf, off, len)) return last;
    const h = murmur3(buf, off, len, 0);
    for (let slot = h & this.mask; ; slot = (slot + 1) & this.mask) {
      const e = this.table[slot]!;
      if (e === 0) return -1;
      const id = e - 1;
      if (this.hashes[id] === h && same(this.values[id]!, buf, off, len)) {
        this.lastId = id;
        return id;
      }
    }
  }

  /** Adds a value `find` did not find (a copy is kept); returns its ID. */
  add(buf: Uint8Array, off: number, len: number): number {
    const id = this.values.length;
    const h = murmur3(buf, off, len, 0);
    this.values.push(buf.slice(off, off + len));
    if (id === this.hashes.length) {
      const next = new Uint32Array(this.hashes.length * 2);
      next.set(this.hashes);
      this.hashes = next;
    }
    this.hashes[id] = h;
    this.bytes += len;
    if ((id + 1) * 2 > this.table.length) this.grow();
    else this.place(id, h);
    this.lastId = id;
    return id;
  }

  private place(id: number, h: number): void {
    let slot = h & this.mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & this.mask;
    this.table[slot] = id + 1;
  }

  private grow(): void {
    this.table = new Int32Array(this.table.length * 2);
    this.mask = this.table.length - 1;
    for (let id = 0; id < this.values.length; id++) this.place(id, this.hashes[id]!);
  }
}

function same(a: Uint8Array, buf: Uint8Array, off: number, len: number): boolean {
  if (a.length !== len) return false;
  for (let i = 0; i < len; i++) if (a[i] !== buf[off + i]) return false;
  return true;
}
