import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createTailSampler, type TailDecision, type TailSamplingPolicy } from './tail.js';
import { computeRejectionThreshold, keepsTrace } from './trace-ratio.js';
import { traceIdWithRandomness } from './testing/index.js';

const TWO_56 = 2n ** 56n;
const ALWAYS_KEPT = traceIdWithRandomness(TWO_56 - 1n); // kept at any rate > 0
const NEVER_KEPT = traceIdWithRandomness(0n); // kept only at rate 1

describe('tail sampling decision', () => {
  const cases: { name: string; policy: TailSamplingPolicy; trace: { id: Uint8Array; error: boolean; ms: number }; want: TailDecision }[] = [
    { name: 'error kept before anything else', policy: { keepPercent: 0, keepErrors: true, keepSlowerThanMs: 100 }, trace: { id: NEVER_KEPT, error: true, ms: 500 }, want: 'error' },
    { name: 'error rule off: error trace falls through to slow', policy: { keepPercent: 0, keepErrors: false, keepSlowerThanMs: 100 }, trace: { id: NEVER_KEPT, error: true, ms: 500 }, want: 'slow' },
    { name: 'slow at exactly the threshold', policy: { keepPercent: 0, keepErrors: true, keepSlowerThanMs: 100 }, trace: { id: NEVER_KEPT, error: false, ms: 100 }, want: 'slow' },
    { name: 'just under the threshold, not sampled', policy: { keepPercent: 0, keepErrors: true, keepSlowerThanMs: 100 }, trace: { id: NEVER_KEPT, error: false, ms: 99.999 }, want: 'dropped' },
    { name: 'no latency rule', policy: { keepPercent: 0, keepErrors: true }, trace: { id: NEVER_KEPT, error: false, ms: 1e9 }, want: 'dropped' },
    { name: 'sampled by trace ID', policy: { keepPercent: 1, keepErrors: true }, trace: { id: ALWAYS_KEPT, error: false, ms: 1 }, want: 'sampled' },
    { name: '100 % keeps every trace', policy: { keepPercent: 100, keepErrors: false }, trace: { id: NEVER_KEPT, error: false, ms: 1 }, want: 'sampled' },
    { name: '0 % keeps none by ratio', policy: { keepPercent: 0, keepErrors: false }, trace: { id: ALWAYS_KEPT, error: false, ms: 1 }, want: 'dropped' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = createTailSampler(c.policy);
      expect(s.decide({ traceId: c.trace.id, hasError: c.trace.error, durationNs: c.trace.ms * 1e6 })).toBe(c.want);
    });
  }

  it('agrees with the agents’ head sampling on the ratio (the same trace kept at p by both)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 100 }), (id, percent) => {
        const tail = createTailSampler({ keepPercent: percent, keepErrors: false }).decide({ traceId: id, hasError: false, durationNs: 0 });
        expect(tail === 'sampled').toBe(keepsTrace(id, 0, computeRejectionThreshold(percent / 100)));
      }),
    );
  });

  it('is monotone in the rate: kept at p means kept at every higher p', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), (id, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const keptLo = createTailSampler({ keepPercent: lo, keepErrors: false }).decide({ traceId: id, hasError: false, durationNs: 0 }) === 'sampled';
        const keptHi = createTailSampler({ keepPercent: hi, keepErrors: false }).decide({ traceId: id, hasError: false, durationNs: 0 }) === 'sampled';
        if (keptLo) expect(keptHi).toBe(true);
      }),
    );
  });

  it('keeps about the configured fraction of random trace IDs', () => {
    const s = createTailSampler({ keepPercent: 25, keepErrors: false });
    let kept = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const id = new Uint8Array(16);
      crypto.getRandomValues(id);
      if (s.decide({ traceId: id, hasError: false, durationNs: 0 }) === 'sampled') kept++;
    }
    // 25 % of 20,000 has a standard deviation of ~61; 6 sigma keeps this from flaking.
    expect(Math.abs(kept - n / 4)).toBeLessThan(370);
  });

  it('rejects out-of-range policies', () => {
    expect(() => createTailSampler({ keepPercent: 101, keepErrors: true })).toThrow(RangeError);
    expect(() => createTailSampler({ keepPercent: -1, keepErrors: true })).toThrow(RangeError);
    expect(() => createTailSampler({ keepPercent: 10, keepErrors: true, keepSlowerThanMs: -5 })).toThrow(RangeError);
  });
});
