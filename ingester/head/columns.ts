// Growable numeric columns and the byte arena behind the head. Nothing here allocates per element:
// a column is a list of typed-array pages, and the arena is a list of large Buffers that only ever
// grow at the end. Every structure of the head reports what it allocates to one MemoryMeter, so
// `usedBytes()` is a running sum rather than a walk over everything.

/** Running total of bytes held by the structures sharing it. */
export class MemoryMeter {
  bytes = 0;
}

const PAGE_BITS = 16;
const PAGE_SIZE = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SIZE - 1;
const FIRST_PAGE_CAPACITY = 256;

/**
 * A growable column of uint32 (or int32, through `Int32Array`) values addressed by ordinal.
 * Page 0 starts small and doubles up to a full page so that a lightly used head (many shards per
 * ingester) costs little; after that, fixed pages are added and existing ones are never copied,
 * so growth never needs twice the memory.
 */
export class U32Column {
  private pages: Uint32Array[] = [new Uint32Array(FIRST_PAGE_CAPACITY)];
  private capacity = FIRST_PAGE_CAPACITY;

  constructor(private readonly meter: MemoryMeter) {
    meter.bytes += FIRST_PAGE_CAPACITY * 4 + 64;
  }

  get(i: number): number {
    return this.pages[i >>> PAGE_BITS]![i & PAGE_MASK]!;
  }

  set(i: number, value: number): void {
    if (i >= this.capacity) this.grow(i);
    this.pages[i >>> PAGE_BITS]![i & PAGE_MASK] = value;
  }

  private grow(i: number): void {
    const before = this.capacity;
    while (i >= this.capacity) {
      if (this.capacity < PAGE_SIZE) {
        const next = new Uint32Array(Math.min(PAGE_SIZE, this.capacity * 2));
        next.set(this.pages[0]!);
        this.pages[0] = next;
        this.capacity = next.length;
      } else {
        this.pages.push(new Uint32Array(PAGE_SIZE));
        this.capacity += PAGE_SIZE;
      }
    }
    this.meter.bytes += (this.capacity - before) * 4;
  }
}

const FIRST_CHUNK_BYTES = 64 * 1024;
const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Append-only storage for span bytes. Chunks double from 64 KiB to 4 MiB; a span larger than the
 * current chunk size gets a chunk of its own. Bytes once written are never moved or overwritten,
 * so views handed out by `view` stay valid for as long as their holder keeps them.
 */
export class Arena {
  private readonly chunks: Buffer[] = [];
  private current: Buffer | undefined;
  private used = 0;
  private nextSize = FIRST_CHUNK_BYTES;

  constructor(private readonly meter: MemoryMeter) {}

  /** Copies `bytes` in; returns the chunk index (the offset is then `lastOffset`). */
  append(bytes: Uint8Array): number {
    const len = bytes.length;
    let cur = this.current;
    if (cur === undefined || this.used + len > cur.length) {
      const size = Math.max(this.nextSize, len);
      if (this.nextSize < MAX_CHUNK_BYTES) this.nextSize *= 2;
      // allocUnsafeSlow: each chunk is its own allocation, not a slice of Node's shared pool.
      cur = Buffer.allocUnsafeSlow(size);
      this.chunks.push(cur);
      this.current = cur;
      this.used = 0;
      this.meter.bytes += size;
    }
    cur.set(bytes, this.used);
    this.lastOffset = this.used;
    this.used += len;
    return this.chunks.length - 1;
  }

  /** Offset within its chunk of the most recent `append`. */
  lastOffset = 0;

  chunk(index: number): Buffer {
    return this.chunks[index]!;
  }

  view(chunk: number, offset: number, length: number): Uint8Array {
    return this.chunks[chunk]!.subarray(offset, offset + length);
  }
}
