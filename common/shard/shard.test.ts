import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { xxh64, createXxh64For16, jumpHash, jumpHashReference, createShardFunction, tenantSeed } from './index.js';

const enc = new TextEncoder();

describe('xxh64', () => {
  // Published vectors (xxHash repository / spec).
  it.each([
    ['', 0n, 0xef46db3751d8e999n],
    ['a', 0n, 0xd24ec4f1a98c6e5bn],
    ['abc', 0n, 0x44bc2cf5ad770999n],
    ['Nobody inspects the spammish repetition', 0n, 0xfbcea83c8a378bf1n],
  ])('xxh64(%j, %d)', (text, seed, want) => {
    expect(xxh64(enc.encode(text), seed)).toBe(want);
  });

  it('fast 16-byte path equals the reference for any input and seed', () => {
    const hash16 = createXxh64For16();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.nat(8), (id, seed, pad) => {
        const buf = new Uint8Array(pad + 16);
        buf.set(id, pad);
        const out = { hi: 0, lo: 0 };
        hash16({ hi: Number(seed >> 32n), lo: Number(seed & 0xffffffffn) }, buf, pad, out);
        expect((BigInt(out.hi) << 32n) | BigInt(out.lo)).toBe(xxh64(id, seed));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('jumpHash', () => {
  it('equals the BigInt transcription of the paper', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.integer({ min: 1, max: 100_000 }), (key, n) => {
        expect(jumpHash(Number(key >> 32n), Number(key & 0xffffffffn), n)).toBe(jumpHashReference(key, n));
      }),
      { numRuns: 2000 },
    );
  });

  it('moves keys only to the new bucket when the count grows', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), fc.integer({ min: 1, max: 500 }), (hi, lo, n) => {
        const before = jumpHash(hi, lo, n);
        const after = jumpHash(hi, lo, n + 1);
        expect(after === before || after === n).toBe(true);
        expect(before).toBeGreaterThanOrEqual(0);
        expect(before).toBeLessThan(n);
      }),
      { numRuns: 3000 },
    );
  });

  it('rejects non-positive bucket counts', () => {
    expect(() => jumpHash(1, 2, 0)).toThrow(RangeError);
    expect(() => jumpHash(1, 2, 1.5)).toThrow(RangeError);
  });
});

describe('shardOf', () => {
  it('spreads sequential (non-random) trace IDs evenly over shards', () => {
    const shards = createShardFunction();
    const n = 16;
    const counts = new Array<number>(n).fill(0);
    const id = new Uint8Array(16);
    const view = new DataView(id.buffer);
    const total = 64_000;
    for (let i = 1; i <= total; i++) {
      view.setUint32(12, i);
      counts[shards.shardOf('single-tenant', id, 0, n)]!++;
    }
    const expected = total / n;
    // chi-square with 15 degrees of freedom: p=0.001 critical value ≈ 37.7
    const chi = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi).toBeLessThan(37.7);
  });

  it('depends on the tenant and is stable', () => {
    const shards = createShardFunction();
    const id = enc.encode('0123456789abcdef');
    expect(shards.hash64('a', id, 0)).toBe(xxh64(id, xxh64(enc.encode('a'))));
    expect(shards.hash64('a', id, 0)).not.toBe(shards.hash64('b', id, 0));
    const s = tenantSeed('a');
    expect((BigInt(s.hi) << 32n) | BigInt(s.lo)).toBe(xxh64(enc.encode('a')));
    const first = shards.shardOf('t', id, 0, 64);
    expect(createShardFunction().shardOf('t', id, 0, 64)).toBe(first);
  });
});
