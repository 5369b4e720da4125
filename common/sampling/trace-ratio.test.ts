import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { computeRejectionThreshold, keepsTrace, thresholdProbability } from './trace-ratio.js';
import { traceIdWithRandomness } from './testing/index.js';

const TWO_56 = 2n ** 56n;
const thresholdOf = (p: number): bigint => {
  const t = computeRejectionThreshold(p);
  return (BigInt(t.hi) << 32n) | BigInt(t.lo);
};

describe('computeRejectionThreshold: T = 2^56 − round(p · 2^56) (OTel tracestate-probability-sampling)', () => {
  // Thresholds as the spec writes them (th hex, trailing zeros dropped), padded to 14 hex digits.
  const cases: [number, string][] = [
    [1, '00000000000000'],
    [0.5, '80000000000000'],
    [0.25, 'c0000000000000'],
    [0.125, 'e0000000000000'],
    [0.0625, 'f0000000000000'],
    [0.1, 'e6666666666666'], // the spec's table at full precision (its 4-digit form is e666)
    [0.01, 'fd70a3d70a3d71'],
    [2 ** -56, 'ffffffffffffff'],
    [2 ** -60, '100000000000000'], // below the smallest representable rate: rounds to 0
    [0, '100000000000000'], // 2^56: nothing is ≥ it
    [-1, '100000000000000'],
    [2, '00000000000000'],
    [Number.NaN, '100000000000000'],
  ];
  it.each(cases)('p = %s → T = 0x%s', (p, hex) => {
    expect(thresholdOf(p)).toBe(BigInt('0x' + hex));
  });

  it('round-trips to the probability for dyadic rates', () => {
    for (const p of [1, 0.5, 0.25, 0.75, 2 ** -20, 0]) expect(thresholdProbability(computeRejectionThreshold(p))).toBe(p);
  });
});

describe('keepsTrace: R (rightmost 7 bytes, big-endian) ≥ T', () => {
  const T = thresholdOf(0.1);
  const cases: [string, bigint, number, boolean][] = [
    ['R = T keeps', T, 0.1, true],
    ['R = T − 1 drops', T - 1n, 0.1, false],
    ['R = max keeps at any p > 0', TWO_56 - 1n, 2 ** -56, true],
    ['R = 0 drops below p = 1', 0n, 0.999999, false],
    ['R = 0 keeps at p = 1', 0n, 1, true],
    ['R = max drops at p = 0', TWO_56 - 1n, 0, false],
    ['high-half tie, low half above', (T & ~0xffffffffn) | 0xffffffffn, 0.1, true],
  ];
  it.each(cases)('%s', (_name, r, p, keep) => {
    expect(keepsTrace(traceIdWithRandomness(r), 0, computeRejectionThreshold(p))).toBe(keep);
  });

  it('ignores the leftmost 9 bytes and honours the offset', () => {
    const t = computeRejectionThreshold(0.5);
    const kept = traceIdWithRandomness(2n ** 55n, 0x00);
    const keptOtherPrefix = traceIdWithRandomness(2n ** 55n, 0xff);
    const shifted = new Uint8Array(20);
    shifted.set(traceIdWithRandomness(2n ** 55n - 1n), 4);
    expect([keepsTrace(kept, 0, t), keepsTrace(keptOtherPrefix, 0, t), keepsTrace(shifted, 4, t)]).toEqual([true, true, false]);
  });

  it('is monotone in p: kept at p is kept at every p′ ≥ p', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (id, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        if (keepsTrace(id, 0, computeRejectionThreshold(lo))) expect(keepsTrace(id, 0, computeRejectionThreshold(hi))).toBe(true);
      }),
      { seed: 42, numRuns: 2000 },
    );
  });

  it('matches a BigInt reference on random IDs and rates', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.double({ min: 0, max: 1, noNaN: true }), (id, p) => {
        const r = BigInt('0x' + Buffer.from(id.subarray(9)).toString('hex'));
        expect(keepsTrace(id, 0, computeRejectionThreshold(p))).toBe(r >= thresholdOf(p));
      }),
      { seed: 7, numRuns: 2000 },
    );
  });
});
