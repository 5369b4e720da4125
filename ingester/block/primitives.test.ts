import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BloomFilter, bloomBlocksFor, murmur3, traceIdHash } from './bloom.js';
import { add64, ByteReader, ByteWriter, decimal64, sub64, unzigzag64, zigzag64 } from './bytes.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('murmur3 (x86, 32-bit)', () => {
  // Published test vectors of MurmurHash3_x86_32.
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['\0\0\0\0', 0, 0x2362f9de],
    ['a', 0x9747b28c, 0x7fa09ea6],
    ['abc', 0x9747b28c, 0xc84a62dd],
    ['abcd', 0x9747b28c, 0xf0478627],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ])('%j seed %i', (text, seed, want) => {
    const b = ascii(text);
    expect(murmur3(b, 0, b.length, seed)).toBe(want);
  });

  it('hashes a range of a larger buffer as the range alone', () => {
    const b = ascii('xxabcdyy');
    expect(murmur3(b, 2, 4, 7)).toBe(murmur3(ascii('abcd'), 0, 4, 7));
  });
});

describe('split-block bloom filter', () => {
  it('never forgets a value it holds, across sizes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 24 }), (ids, bits) => {
        const bloom = new BloomFilter(bloomBlocksFor(ids.length, bits));
        const h = [0, 0];
        for (const id of ids) {
          traceIdHash(id, 0, h);
          bloom.add(h[0]!, h[1]!);
        }
        const again = BloomFilter.fromBytes(bloom.toBytes());
        for (const id of ids) {
          traceIdHash(id, 0, h);
          expect(again.has(h[0]!, h[1]!)).toBe(true);
        }
      }),
    );
  });

  it('answers no for most values it does not hold at 16 bits per value', () => {
    const bloom = new BloomFilter(bloomBlocksFor(10_000, 16));
    const h = [0, 0];
    const id = new Uint8Array(16);
    const view = new DataView(id.buffer);
    for (let i = 0; i < 10_000; i++) {
      view.setUint32(0, i);
      traceIdHash(id, 0, h);
      bloom.add(h[0]!, h[1]!);
    }
    let positives = 0;
    for (let i = 0; i < 10_000; i++) {
      view.setUint32(0, 1_000_000 + i);
      traceIdHash(id, 0, h);
      if (bloom.has(h[0]!, h[1]!)) positives++;
    }
    expect(positives / 10_000).toBeLessThan(0.01);
  });

  it('holds nothing when empty', () => {
    expect(new BloomFilter(0).has(1, 2)).toBe(false);
  });
});

describe('64-bit varints', () => {
  const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  const halves = (v: bigint): [number, number] => [Number(v >> 32n), Number(v & 0xffffffffn)];
  const join = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

  it('round-trips unsigned values and zigzag of differences (property)', () => {
    fc.assert(
      fc.property(fc.array(u64, { maxLength: 20 }), u64, (values, base) => {
        const w = new ByteWriter(4);
        const out = [0, 0];
        for (const v of values) {
          const [bh, bl] = halves(base);
          const [vh, vl] = halves(v);
          sub64(vh, vl, bh, bl, out);
          zigzag64(out[0]!, out[1]!, out);
          w.uvarint64(out[0]!, out[1]!);
        }
        const r = new ByteReader(w.finish());
        for (const v of values) {
          r.uvarint64(out);
          unzigzag64(out[0]!, out[1]!, out);
          const [bh, bl] = halves(base);
          add64(bh, bl, out[0]!, out[1]!, out);
          expect(join(out[0]!, out[1]!)).toBe(v);
        }
        expect(r.remaining).toBe(0);
      }),
    );
  });

  it('zigzag maps small magnitudes to small codes', () => {
    const out = [0, 0];
    zigzag64(0xffffffff, 0xffffffff, out); // −1
    expect(out).toEqual([0, 1]);
    zigzag64(0, 1, out);
    expect(out).toEqual([0, 2]);
  });

  it('renders exact decimals', () => {
    expect(decimal64(0xffffffff, 0xffffffff)).toBe('18446744073709551615');
    expect(decimal64(0x17b3c4b, 0x5c3a2c00)).toBe(String((0x17b3c4bn << 32n) | 0x5c3a2c00n));
  });

  it('refuses varints that run past the end', () => {
    expect(() => new ByteReader(Uint8Array.of(0x80, 0x80)).uvarint()).toThrow(/past the end/);
    expect(() => new ByteReader(Uint8Array.of(0x80)).uvarint64([0, 0])).toThrow(/past the end/);
  });
});
