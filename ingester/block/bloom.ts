// Hashing and the split-block bloom filter of the block format (FORMAT.md §Bloom filters). The
// filter is Parquet's SBBF (256-bit blocks of eight 32-bit words, eight bits set per value by the
// same salts), fed with a 64-bit hash made of two MurmurHash3 x86_32 values, so that another
// implementation can rebuild and probe it from the spec alone.

/** MurmurHash3 x86_32 of buf[off, off+len) with `seed`. */
export function murmur3(buf: Uint8Array, off: number, len: number, seed: number): number {
  let h = seed >>> 0;
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const end4 = off + (len & ~3);
  let i = off;
  for (; i < end4; i += 4) {
    let k = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = len & 3;
  if (tail !== 0) {
    let k = 0;
    if (tail === 3) k ^= buf[i + 2]! << 16;
    if (tail >= 2) k ^= buf[i + 1]! << 8;
    k ^= buf[i]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Seeds of the two halves of the 64-bit bloom hash. */
export const SEED_HI = 0x9747b28c;
export const SEED_LO = 0x5bd1e995;

/** Parquet SBBF salts. */
const SALT = [0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31];

export const BLOOM_BLOCK_BYTES = 32;
/** Upper bound on blocks so that hi × blocks stays exact in a double (2^32 × 2^21 = 2^53). */
export const MAX_BLOOM_BLOCKS = 1 << 21;

/** Number of 256-bit blocks for `n` values at `bitsPerValue` (at least one when n > 0). */
export function bloomBlocksFor(n: number, bitsPerValue: number): number {
  if (n <= 0) return 0;
  return Math.min(MAX_BLOOM_BLOCKS, Math.max(1, Math.ceil((n * bitsPerValue) / 256)));
}

/** A split-block bloom filter over 64-bit hashes given as (hi, lo) halves. */
export class BloomFilter {
  readonly words: Uint32Array;
  readonly blocks: number;

  constructor(blocksOrWords: number | Uint32Array) {
    this.words = typeof blocksOrWords === 'number' ? new Uint32Array(blocksOrWords * 8) : blocksOrWords;
    this.blocks = this.words.length >>> 3;
  }

  private base(hi: number): number {
    // floor(hi × blocks / 2^32), exact because hi < 2^32 and blocks ≤ 2^21.
    return Math.floor((hi * this.blocks) / 4294967296) * 8;
  }

  add(hi: number, lo: number): void {
    if (this.blocks === 0) return;
    const b = this.base(hi);
    const w = this.words;
    for (let i = 0; i < 8; i++) w[b + i] = w[b + i]! | (1 << (Math.imul(lo, SALT[i]!) >>> 27));
  }

  has(hi: number, lo: number): boolean {
    if (this.blocks === 0) return false;
    const b = this.base(hi);
    const w = this.words;
    for (let i = 0; i < 8; i++) if ((w[b + i]! & (1 << (Math.imul(lo, SALT[i]!) >>> 27))) === 0) return false;
    return true;
  }

  /** Little-endian bytes of the words (what the format stores). */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.words.length * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < this.words.length; i++) view.setUint32(i * 4, this.words[i]!, true);
    return out;
  }

  static fromBytes(bytes: Uint8Array): BloomFilter {
    const words = new Uint32Array(bytes.length >>> 2);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < words.length; i++) words[i] = view.getUint32(i * 4, true);
    return new BloomFilter(words);
  }
}

/** The 64-bit bloom hash of a trace ID: (murmur3(id, SEED_HI), murmur3(id, SEED_LO)). */
export function traceIdHash(id: Uint8Array, off: number, out: number[]): void {
  out[0] = murmur3(id, off, 16, SEED_HI);
  out[1] = murmur3(id, off, 16, SEED_LO);
}

/**
 * The 64-bit bloom hash of an attribute (key, match form): each half hashes the form seeded with
 * the key's hash under that half's seed, so a key's two seeds are computed once per key.
 */
export function attributeHash(keyHi: number, keyLo: number, form: Uint8Array, off: number, len: number, out: number[]): void {
  out[0] = murmur3(form, off, len, keyHi);
  out[1] = murmur3(form, off, len, keyLo);
}
