// Posting lists: for each index hash, the trace ordinals that had a span carrying that (key, value).
// A tenant's PostingTable is one open-addressing Uint32Array with four words per slot
// (key, count, newest trace, older-nodes head), so a lookup touches one cache line; older entries
// are singly linked through a NodePool shared by the head's tenants (8 bytes a node, no per-list
// object). A list holding a single trace — the common case for high-cardinality values such as
// URLs or request IDs — needs no node at all.
import { U32Column, type MemoryMeter } from './columns.js';
import { fmix32 } from './hash.js';

const NIL = 0xffffffff;

/** Nodes per block of the `blockMaxTrace` bound. */
export const NODE_BLOCK_BITS = 10;

/**
 * Older posting entries of every list of a head, linked newest to oldest. Node indexes grow with
 * time, so along any list they only decrease; `blockMaxTrace` records, per block of node indexes,
 * the highest trace ordinal a node there refers to — with it, search knows how recent a trace
 * the rest of a list can still hold, and stops early.
 */
export class NodePool {
  readonly trace: U32Column;
  readonly next: U32Column;
  readonly blockMaxTrace: number[] = [];
  size = 0;

  constructor(meter: MemoryMeter) {
    this.trace = new U32Column(meter);
    this.next = new U32Column(meter);
  }

  push(traceOrdinal: number, next: number): number {
    const node = this.size++;
    this.trace.set(node, traceOrdinal);
    this.next.set(node, next);
    const block = node >>> NODE_BLOCK_BITS;
    const max = this.blockMaxTrace;
    if (block >= max.length) max.push(traceOrdinal);
    else if (traceOrdinal > max[block]!) max[block] = traceOrdinal;
    return node;
  }
}

const STRIDE = 4;
const KEY = 0;
const COUNT = 1; // 0 marks an empty slot: a slot exists only once it holds an entry
const NEWEST = 2;
const OLDER = 3;
const SLOT_BYTES = STRIDE * 4;

export class PostingTable {
  private slots: Uint32Array;
  private mask: number;
  private size = 0;

  constructor(
    private readonly pool: NodePool,
    private readonly meter: MemoryMeter,
    initialSlots = 256,
  ) {
    this.slots = new Uint32Array(initialSlots * STRIDE);
    this.mask = initialSlots - 1;
    meter.bytes += initialSlots * SLOT_BYTES + 64;
  }

  /**
   * Adds `traceOrdinal` to the list of `hash` unless it is already the newest entry: spans of one
   * trace mostly arrive together, so this absorbs most repeats without a set.
   */
  add(hash: number, traceOrdinal: number): void {
    const slots = this.slots;
    let i = (fmix32(hash) & this.mask) * STRIDE;
    for (;;) {
      const count = slots[i + COUNT]!;
      if (count === 0) break;
      if (slots[i + KEY] === hash) {
        const newest = slots[i + NEWEST]!;
        if (newest === traceOrdinal) return;
        slots[i + OLDER] = this.pool.push(newest, slots[i + OLDER]!);
        slots[i + NEWEST] = traceOrdinal;
        slots[i + COUNT] = count + 1;
        return;
      }
      i = (i + STRIDE) & (this.mask * STRIDE + STRIDE - 1);
    }
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) {
      this.grow();
      this.add(hash, traceOrdinal);
      return;
    }
    slots[i + KEY] = hash;
    slots[i + COUNT] = 1;
    slots[i + NEWEST] = traceOrdinal;
    slots[i + OLDER] = NIL;
    this.size++;
  }

  private find(hash: number): number {
    const slots = this.slots;
    let i = (fmix32(hash) & this.mask) * STRIDE;
    for (;;) {
      if (slots[i + COUNT] === 0) return -1;
      if (slots[i + KEY] === hash) return i;
      i = (i + STRIDE) & (this.mask * STRIDE + STRIDE - 1);
    }
  }

  /** Entries in the list of `hash` (an upper bound on its distinct traces). */
  count(hash: number): number {
    const i = this.find(hash);
    return i < 0 ? 0 : this.slots[i + COUNT]!;
  }

  /** Calls `visit` for each entry of the list of `hash`, newest first (a trace may repeat). */
  forEach(hash: number, visit: (traceOrdinal: number) => void): void {
    this.walk(hash, (t) => {
      visit(t);
      return true;
    });
  }

  /**
   * Like forEach, but `visit` also gets the node index the entry came from (NIL for the newest
   * entry, kept in the slot) and stops the walk by returning false.
   */
  walk(hash: number, visit: (traceOrdinal: number, node: number) => boolean): void {
    const i = this.find(hash);
    if (i < 0) return;
    if (!visit(this.slots[i + NEWEST]!, NIL)) return;
    const pool = this.pool;
    for (let node = this.slots[i + OLDER]!; node !== NIL; node = pool.next.get(node)) {
      if (!visit(pool.trace.get(node), node)) return;
    }
  }

  private grow(): void {
    const old = this.slots;
    const slotCount = (this.mask + 1) * 2;
    this.meter.bytes += (slotCount / 2) * SLOT_BYTES;
    const slots = new Uint32Array(slotCount * STRIDE);
    const mask = slotCount - 1;
    for (let j = 0; j < old.length; j += STRIDE) {
      if (old[j + COUNT] === 0) continue;
      let i = (fmix32(old[j + KEY]!) & mask) * STRIDE;
      while (slots[i + COUNT] !== 0) i = (i + STRIDE) & (mask * STRIDE + STRIDE - 1);
      slots[i + KEY] = old[j + KEY]!;
      slots[i + COUNT] = old[j + COUNT]!;
      slots[i + NEWEST] = old[j + NEWEST]!;
      slots[i + OLDER] = old[j + OLDER]!;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
