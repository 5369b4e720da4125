import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { computeCutDue, computeCutSplit, type CutPolicy, type TraceFacts } from './cut-policy.js';

const policy: CutPolicy = { maxHeadBytes: 1000, maxHeadAgeMs: 60_000, traceIdleMs: 10_000, maxTraceAgeMs: 600_000, maxCarryFraction: 0.25 };
const NOW = 1_700_000_000_000;

describe('computeCutDue', () => {
  const cases: [string, { usedBytes: number; spanCount: number; createdAtMs: number }, 'shutdown' | 'handoff' | undefined, ReturnType<typeof computeCutDue>][] = [
    ['empty head never cuts, even forced', { usedBytes: 5000, spanCount: 0, createdAtMs: 0 }, 'shutdown', { due: false }],
    ['under both limits', { usedBytes: 999, spanCount: 5, createdAtMs: NOW - 59_999 }, undefined, { due: false }],
    ['at the size limit', { usedBytes: 1000, spanCount: 5, createdAtMs: NOW }, undefined, { due: true, reason: 'size' }],
    ['at the age limit', { usedBytes: 1, spanCount: 1, createdAtMs: NOW - 60_000 }, undefined, { due: true, reason: 'age' }],
    ['forced handoff', { usedBytes: 1, spanCount: 1, createdAtMs: NOW }, 'handoff', { due: true, reason: 'handoff' }],
  ];
  for (const [name, head, forced, want] of cases) it(name, () => expect(computeCutDue(policy, head, NOW, forced)).toEqual(want));
});

const trace = (lastWriteAgoMs: number, startAgoMs: number, bytes = 10): TraceFacts => ({ lastWriteMs: NOW - lastWriteAgoMs, startNs: (NOW - startAgoMs) * 1e6, bytes });

describe('computeCutSplit', () => {
  it('cuts idle traces and too-old ones, carries the active rest', () => {
    const traces = [trace(10_000, 20_000), trace(9_999, 20_000), trace(1, 600_000), trace(0, 1)];
    expect(computeCutSplit(policy, traces, NOW, 4000, false)).toEqual({ cut: [0, 2], carry: [1, 3] });
  });

  it('a forced cut takes everything', () => {
    const traces = [trace(0, 0), trace(50_000, 50_000)];
    expect(computeCutSplit(policy, traces, NOW, 4000, true)).toEqual({ cut: [0, 1], carry: [] });
  });

  it('the carry budget goes to the most recently written traces; the rest are cut', () => {
    // budget 0.25 × 100 = 25 bytes: two traces of 10 fit.
    const traces = [trace(3000, 5000), trace(1000, 5000), trace(2000, 5000), trace(500, 5000)];
    expect(computeCutSplit(policy, traces, NOW, 100, false)).toEqual({ cut: [0, 2], carry: [1, 3] });
  });

  it('every trace lands in exactly one of cut and carry (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ lastWriteAgo: fc.integer({ min: 0, max: 100_000 }), startAgo: fc.integer({ min: 0, max: 1_000_000 }), bytes: fc.integer({ min: 1, max: 500 }) }), { maxLength: 60 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.boolean(),
        (rows, budget, forced) => {
          const traces = rows.map((r) => trace(r.lastWriteAgo, r.startAgo, r.bytes));
          const { cut, carry } = computeCutSplit(policy, traces, NOW, budget, forced);
          expect([...cut, ...carry].sort((a, b) => a - b)).toEqual(traces.map((_, i) => i));
          const carried = carry.reduce((s, i) => s + traces[i]!.bytes, 0);
          expect(carried).toBeLessThanOrEqual(budget * policy.maxCarryFraction);
          for (const i of carry) expect(NOW - traces[i]!.lastWriteMs).toBeLessThan(policy.traceIdleMs);
        },
      ),
    );
  });
});
