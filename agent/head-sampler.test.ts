import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Clock } from '../common/coord/index.js';
import { SpanKind, type KeyValue } from '../common/model/index.js';
import { createHeadSampler, type HeadSampler } from './head-sampler.js';
import { SamplingConfigSchema, type SamplingConfigInput } from './sampling-config.js';
import { computeRejectionThreshold, keepsTrace } from './trace-ratio.js';
import { childSpan, groupOf, kv, makeSpan, spanCount, traceIdWithRandomness } from './testing/spans.js';
import { randomBytes, seededRandom } from './testing/random.js';

class TestClock implements Clock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
  setTimer(): () => void {
    throw new Error('the head sampler sets no timers');
  }
}

function sampler(input: SamplingConfigInput, clock: Clock = new TestClock(), limits: { maxTrackedTraces?: number; decisionTtlMs?: number } = {}): HeadSampler {
  return createHeadSampler({ config: SamplingConfigSchema.parse(input), clock, maxTrackedTraces: limits.maxTrackedTraces ?? 10_000, decisionTtlMs: limits.decisionTtlMs ?? 60_000 });
}

const TWO_56 = 2n ** 56n;
/** A trace ID kept at rates ≥ p and dropped below p (its R is T(p)). */
const idAtRate = (p: number, fill = 0xab): Uint8Array => {
  const t = computeRejectionThreshold(p);
  return traceIdWithRandomness((BigInt(t.hi) << 32n) | BigInt(t.lo), fill);
};
const KEPT_AT_ANY_RATE = traceIdWithRandomness(TWO_56 - 1n, 0x11);
const DROPPED_BELOW_ONE = traceIdWithRandomness(0n, 0x22);

const priority = (value: KeyValue['value']): KeyValue => ({ key: 'sampling.priority', value });

describe('head sampler: probabilistic decisions', () => {
  it('agrees across independent instances on every trace ID (consistency across agents)', () => {
    const config: SamplingConfigInput = {
      defaultProbability: 0.3,
      services: { a: { probability: 0.05, operations: { hot: 0.9, off: 0 } }, b: { probability: 0.7 } },
    };
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            id: fc.uint8Array({ minLength: 16, maxLength: 16 }),
            service: fc.constantFrom('a', 'b', 'c'),
            name: fc.constantFrom('hot', 'off', 'cold'),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        (traces) => {
          const one = sampler(config);
          const two = sampler(config);
          const groups = traces.map((t) => groupOf(t.service, [makeSpan({ traceId: t.id, name: t.name })]));
          const keptBy = (s: HeadSampler) => groups.map((g) => s.sample([g]).keptSpans);
          expect(keptBy(one)).toEqual(keptBy(two));
        },
      ),
      { seed: 1, numRuns: 200 },
    );
  });

  it('keeps ≈ p of random traces (10k IDs, ±5 %)', () => {
    const rng = seededRandom(20261204);
    for (const p of [0.01, 0.3, 0.5, 0.9]) {
      const s = sampler({ defaultProbability: p });
      const spans = Array.from({ length: 10_000 }, () => makeSpan({ traceId: randomBytes(rng, 16) }));
      const result = s.sample([groupOf('svc', spans)]);
      expect(Math.abs(result.keptSpans / 10_000 - p)).toBeLessThan(0.05);
      expect(result.keptSpans + result.dropped.probabilistic).toBe(10_000);
    }
  });

  it('decides exactly as keepsTrace(R ≥ T) at the resolved rate', () => {
    const rng = seededRandom(99);
    const s = sampler({ defaultProbability: 0.25 });
    const ids = Array.from({ length: 500 }, () => randomBytes(rng, 16));
    const result = s.sample([groupOf('svc', ids.map((traceId) => makeSpan({ traceId })))]);
    const expected = ids.filter((id) => keepsTrace(id, 0, computeRejectionThreshold(0.25))).length;
    expect(result.keptSpans).toBe(expected);
  });

  const rateCases: [string, SamplingConfigInput, string, string, number, boolean][] = [
    ['default rate keeps at its threshold', { defaultProbability: 0.2 }, 'svc', 'op', 0.2, true],
    ['default rate drops IDs that need a higher rate', { defaultProbability: 0.2 }, 'svc', 'op', 0.21, false],
    ['service rate overrides default', { defaultProbability: 1, services: { svc: { probability: 0.1 } } }, 'svc', 'op', 0.11, false],
    ['operation rate overrides service', { services: { svc: { probability: 0, operations: { op: 0.5 } } } }, 'svc', 'op', 0.5, true],
    ['other service uses default', { defaultProbability: 0.5, services: { svc: { probability: 0 } } }, 'other', 'op', 0.5, true],
  ];
  it.each(rateCases)('%s', (_name, config, service, operation, idRate, kept) => {
    const r = sampler(config).sample([groupOf(service, [makeSpan({ traceId: idAtRate(idRate), name: operation })])]);
    expect(r.keptSpans).toBe(kept ? 1 : 0);
  });
});

describe('head sampler: one decision per trace', () => {
  const config: SamplingConfigInput = { services: { svc: { operations: { 'GET /health': 0, 'POST /pay': 1 } } } };

  it('names the trace after its root span, wherever it sits in the batch', () => {
    const id = DROPPED_BELOW_ONE;
    const spans = [childSpan(id, { name: 'POST /pay' }), childSpan(id, { name: 'db' }), makeSpan({ traceId: id, name: 'GET /health' })];
    const r = sampler(config).sample([groupOf('svc', spans)]);
    expect(r).toMatchObject({ keptSpans: 0, dropped: { probabilistic: 3 } });
  });

  it('without a root, prefers a SERVER/CONSUMER span to earlier internal spans', () => {
    const id = DROPPED_BELOW_ONE;
    const spans = [childSpan(id, { name: 'GET /health' }), childSpan(id, { name: 'POST /pay', kind: SpanKind.CONSUMER })];
    expect(sampler(config).sample([groupOf('svc', spans)]).keptSpans).toBe(2);
  });

  it('later batches of a trace follow the remembered decision', () => {
    const s = sampler(config);
    const id = DROPPED_BELOW_ONE;
    expect(s.sample([groupOf('svc', [childSpan(id, { name: 'GET /health' })])]).keptSpans).toBe(0);
    expect(s.sample([groupOf('svc', [makeSpan({ traceId: id, name: 'POST /pay' })])]).keptSpans).toBe(0);
    expect(s.trackedTraces).toBe(1);
  });

  it('decides again once the decision has expired', () => {
    const clock = new TestClock();
    const s = sampler(config, clock, { decisionTtlMs: 1000 });
    const id = DROPPED_BELOW_ONE;
    s.sample([groupOf('svc', [childSpan(id, { name: 'GET /health' })])]);
    clock.t += 1000;
    expect(s.sample([groupOf('svc', [makeSpan({ traceId: id, name: 'POST /pay' })])]).keptSpans).toBe(1);
  });

  it('remembers at most maxTrackedTraces decisions, forgetting the oldest', () => {
    const s = sampler({ defaultProbability: 0.5 }, new TestClock(), { maxTrackedTraces: 3 });
    const rng = seededRandom(5);
    for (let i = 0; i < 10; i++) s.sample([groupOf('svc', [makeSpan({ traceId: randomBytes(rng, 16) })])]);
    expect(s.trackedTraces).toBe(3);
  });

  it('decides per (service, trace): two services in one batch use their own rates', () => {
    const id = idAtRate(0.5);
    const s = sampler({ services: { a: { probability: 0.4 }, b: { probability: 0.6 } } });
    const r = s.sample([groupOf('a', [makeSpan({ traceId: id })]), groupOf('b', [childSpan(id)])]);
    expect(r.groups.map((g) => g.spans.length)).toEqual([1]);
    expect(r.dropped.probabilistic).toBe(1);
  });
});

describe('head sampler: debug traces are always kept', () => {
  const debugCases: [string, KeyValue | undefined, boolean][] = [
    ['int 1', priority({ kind: 'int', value: 1n }), true],
    ['int 0', priority({ kind: 'int', value: 0n }), false],
    ['int −1', priority({ kind: 'int', value: -1n }), false],
    ['double 0.5', priority({ kind: 'double', value: 0.5 }), true],
    ['string "1"', priority({ kind: 'string', value: '1' }), true],
    ['string "yes"', priority({ kind: 'string', value: 'yes' }), false],
    ['bool true', priority({ kind: 'bool', value: true }), false],
    ['other key', kv('sampling.prio', '1'), false],
    ['no attribute', undefined, false],
  ];
  it.each(debugCases)('%s on a child span → kept: %s', (_name, attribute, kept) => {
    const id = DROPPED_BELOW_ONE;
    const spans = [makeSpan({ traceId: id }), childSpan(id, { attributes: attribute === undefined ? [kv('a', 'b')] : [kv('a', 'b'), attribute] })];
    const r = sampler({ defaultProbability: 0 }).sample([groupOf('svc', spans)]);
    expect(r.keptSpans).toBe(kept ? 2 : 0);
    expect(r.debugSpans).toBe(kept ? 2 : 0);
  });

  it('honours a configured debug attribute', () => {
    const spans = [makeSpan({ traceId: DROPPED_BELOW_ONE, attributes: [kv('x.debug', '1')] })];
    expect(sampler({ defaultProbability: 0, debugAttribute: 'x.debug' }).sample([groupOf('svc', spans)]).keptSpans).toBe(1);
  });

  it('upgrades a remembered drop when a later batch marks the trace debug', () => {
    const s = sampler({ defaultProbability: 0 });
    const id = DROPPED_BELOW_ONE;
    expect(s.sample([groupOf('svc', [childSpan(id)])]).keptSpans).toBe(0);
    expect(s.sample([groupOf('svc', [makeSpan({ traceId: id, attributes: [priority({ kind: 'int', value: 1n })] })])]).keptSpans).toBe(1);
    expect(s.sample([groupOf('svc', [childSpan(id)])]).debugSpans).toBe(1);
  });

  it('bypasses the rate limit without consuming its tokens', () => {
    const s = sampler({ services: { svc: { maxTracesPerSecond: 1 } } });
    const rng = seededRandom(3);
    const debug = Array.from({ length: 5 }, () => makeSpan({ traceId: randomBytes(rng, 16), attributes: [priority({ kind: 'int', value: 1n })] }));
    const plain = [makeSpan({ traceId: randomBytes(rng, 16) }), makeSpan({ traceId: randomBytes(rng, 16) })];
    const r = s.sample([groupOf('svc', [...debug, ...plain])]);
    expect(r).toMatchObject({ keptSpans: 6, debugSpans: 5, dropped: { 'rate-limited': 1 } });
  });
});

describe('head sampler: per-service rate limit (token bucket on the injected clock)', () => {
  it('keeps at most maxTracesPerSecond, refilling with time, bursting up to one second', () => {
    const clock = new TestClock();
    const s = sampler({ services: { svc: { maxTracesPerSecond: 2 }, other: {} } }, clock);
    const rng = seededRandom(11);
    const batch = (n: number, service = 'svc') => groupOf(service, Array.from({ length: n }, () => makeSpan({ traceId: randomBytes(rng, 16) })));
    const steps: [number, number, number][] = [
      // [advance ms, traces offered, expected kept]
      [0, 5, 2],
      [500, 3, 1],
      [250, 3, 0],
      [10_000, 5, 2], // idle time never banks more than one second of tokens
    ];
    for (const [advance, offered, kept] of steps) {
      clock.t += advance;
      const r = s.sample([batch(offered)]);
      expect([r.keptSpans, r.dropped['rate-limited']]).toEqual([kept, offered - kept]);
    }
    expect(s.sample([batch(50, 'other')]).keptSpans).toBe(50);
  });

  it('counts traces, not spans, and rate-limits only traces the probabilistic step kept', () => {
    const s = sampler({ services: { svc: { probability: 0.5, maxTracesPerSecond: 1 } } });
    const kept = idAtRate(0.5, 1);
    const dropped = idAtRate(0.6, 2);
    const r = s.sample([groupOf('svc', [makeSpan({ traceId: dropped }), makeSpan({ traceId: kept }), childSpan(kept), childSpan(kept)])]);
    expect(r).toMatchObject({ keptSpans: 3, dropped: { probabilistic: 1, 'rate-limited': 0 } });
  });

  it('a sub-1/s rate still admits the first trace and then one per 1/rate seconds', () => {
    const clock = new TestClock();
    const s = sampler({ services: { svc: { maxTracesPerSecond: 0.5 } } }, clock);
    const one = () => s.sample([groupOf('svc', [makeSpan({ traceId: randomBytes(seededRandom(clock.t), 16) })])]).keptSpans;
    const kept: number[] = [];
    for (let i = 0; i < 6; i++) {
      kept.push(one());
      clock.t += 1000;
    }
    expect(kept).toEqual([1, 0, 1, 0, 1, 0]);
  });
});

describe('head sampler: batches in, batches out', () => {
  it('passes everything through untouched when the policy keeps everything', () => {
    const groups = [groupOf('svc', [makeSpan(), childSpan(KEPT_AT_ANY_RATE)])];
    const r = sampler({}).sample(groups);
    expect(r.groups[0]).toBe(groups[0]);
    expect(r.keptSpans).toBe(2);
  });

  it('reuses groups it keeps whole, filters partly kept ones and omits emptied ones', () => {
    const keep = groupOf('svc', [makeSpan({ traceId: KEPT_AT_ANY_RATE })]);
    const mixed = groupOf('svc', [makeSpan({ traceId: DROPPED_BELOW_ONE }), childSpan(KEPT_AT_ANY_RATE)]);
    const drop = groupOf('svc', [childSpan(DROPPED_BELOW_ONE)]);
    const r = sampler({ defaultProbability: 0.5 }).sample([keep, mixed, drop]);
    expect(r.groups).toHaveLength(2);
    expect(r.groups[0]).toBe(keep);
    expect(r.groups[1]!.spans).toEqual([mixed.spans[1]]);
    expect(r.groups[1]!.resource).toBe(mixed.resource);
    expect(spanCount(r.groups)).toBe(2);
  });

  it('drops spans without a 16-byte trace ID as malformed', () => {
    const r = sampler({ defaultProbability: 0.5 }).sample([
      groupOf('svc', [makeSpan({ traceId: new Uint8Array(8).fill(1) }), makeSpan({ traceId: KEPT_AT_ANY_RATE })]),
      { ...groupOf('svc', []), spans: [Uint8Array.of(0xff)] },
    ]);
    expect(r).toMatchObject({ keptSpans: 1, dropped: { malformed: 2 } });
  });

  it('uses the default policy for resources without service.name', () => {
    const r = sampler({ defaultProbability: 0.5, services: { '': { probability: 1 } } }).sample([groupOf(undefined, [makeSpan({ traceId: DROPPED_BELOW_ONE })])]);
    expect(r.keptSpans).toBe(1);
  });

  it('setConfig applies to new traces; remembered decisions stand', () => {
    const s = sampler({ defaultProbability: 0 });
    const old = DROPPED_BELOW_ONE;
    s.sample([groupOf('svc', [makeSpan({ traceId: old })])]);
    s.setConfig(SamplingConfigSchema.parse({ defaultProbability: 1 }));
    const r = s.sample([groupOf('svc', [childSpan(old), makeSpan({ traceId: traceIdWithRandomness(0n, 0x33) })])]);
    expect(r).toMatchObject({ keptSpans: 1, dropped: { probabilistic: 1 } });
  });

  it('returns to the pass-through path once decisions made under a stricter policy expire', () => {
    const clock = new TestClock();
    const s = sampler({ defaultProbability: 0 }, clock, { decisionTtlMs: 1000 });
    s.sample([groupOf('svc', [makeSpan({ traceId: DROPPED_BELOW_ONE })])]);
    s.setConfig(SamplingConfigSchema.parse({}));
    s.sample([groupOf('svc', [makeSpan({ traceId: KEPT_AT_ANY_RATE })])]);
    expect(s.trackedTraces).toBe(1);
    clock.t += 1000;
    const groups = [groupOf('svc', [makeSpan({ traceId: DROPPED_BELOW_ONE })])];
    const r = s.sample(groups);
    expect([r.groups[0] === groups[0], r.keptSpans, s.trackedTraces]).toEqual([true, 1, 0]);
  });
});
