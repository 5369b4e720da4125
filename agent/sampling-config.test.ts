import { describe, expect, it } from 'vitest';
import { SamplingConfigSchema, computeJaegerStrategy, computeKeepsEverything, computeProbability, type SamplingConfigInput } from './sampling-config.js';

const parse = (input: SamplingConfigInput) => SamplingConfigSchema.parse(input);

const config = parse({
  defaultProbability: 0.5,
  services: {
    checkout: { probability: 0.2, operations: { 'POST /pay': 1, 'GET /health': 0 } },
    search: { maxTracesPerSecond: 2.5 },
    cart: { probability: 1, maxTracesPerSecond: 10.2 },
    inventory: { probability: 0.1, maxTracesPerSecond: 5 },
  },
});

describe('SamplingConfigSchema', () => {
  it('fills defaults', () => {
    expect(parse({})).toEqual({ defaultProbability: 1, debugAttribute: 'sampling.priority', services: {} });
    expect(parse({ services: { a: {} } }).services['a']).toEqual({ operations: {} });
  });

  const invalid: [string, unknown][] = [
    ['probability above 1', { defaultProbability: 1.5 }],
    ['negative probability', { services: { a: { probability: -0.1 } } }],
    ['operation probability above 1', { services: { a: { operations: { x: 2 } } } }],
    ['zero rate limit', { services: { a: { maxTracesPerSecond: 0 } } }],
    ['unknown service field (typo)', { services: { a: { probabilty: 0.1 } } }],
    ['unknown top-level field', { defaultRate: 0.1 }],
    ['empty operation name', { services: { a: { operations: { '': 0.1 } } } }],
  ];
  it.each(invalid)('rejects %s', (_name, input) => {
    expect(SamplingConfigSchema.safeParse(input).success).toBe(false);
  });
});

describe('computeProbability: operation > service > default', () => {
  const cases: [string, string, number][] = [
    ['checkout', 'POST /pay', 1],
    ['checkout', 'GET /health', 0],
    ['checkout', 'GET /other', 0.2],
    ['search', 'anything', 0.5],
    ['unknown', 'anything', 0.5],
    ['constructor', 'x', 0.5], // names from the wire never resolve to Object.prototype members
    ['__proto__', 'x', 0.5],
    ['checkout', 'toString', 0.2],
  ];
  it.each(cases)('%s / %s → %s', (service, operation, p) => {
    expect(computeProbability(config, service, operation)).toBe(p);
  });
});

describe('computeKeepsEverything', () => {
  const cases: [string, SamplingConfigInput, boolean][] = [
    ['defaults', {}, true],
    ['explicit 1 everywhere', { services: { a: { probability: 1, operations: { x: 1 } } } }, true],
    ['default below 1', { defaultProbability: 0.9 }, false],
    ['a service below 1', { services: { a: { probability: 0.9 } } }, false],
    ['an operation below 1', { services: { a: { operations: { x: 0 } } } }, false],
    ['a rate limit', { services: { a: { maxTracesPerSecond: 100 } } }, false],
  ];
  it.each(cases)('%s → %s', (_name, input, expected) => {
    expect(computeKeepsEverything(parse(input))).toBe(expected);
  });
});

describe('computeJaegerStrategy (jaeger-idl api_v2 sampling.proto JSON)', () => {
  const cases: [string, string, unknown][] = [
    ['unknown service: default probability', 'nobody', { strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0.5 } }],
    [
      'per-operation rates, sorted by operation',
      'checkout',
      {
        strategyType: 'PROBABILISTIC',
        probabilisticSampling: { samplingRate: 0.2 },
        operationSampling: {
          defaultSamplingProbability: 0.2,
          defaultLowerBoundTracesPerSecond: 0,
          perOperationStrategies: [
            { operation: 'GET /health', probabilisticSampling: { samplingRate: 0 } },
            { operation: 'POST /pay', probabilisticSampling: { samplingRate: 1 } },
          ],
        },
      },
    ],
    // p = default 0.5 < 1: the SDK samples probabilistically, the agent enforces the cap.
    ['rate limit with inherited p < 1', 'search', { strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0.5 } }],
    ['rate limit with p < 1', 'inventory', { strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0.1 } }],
    ['rate limit at p = 1, rounded up to int32', 'cart', { strategyType: 'RATE_LIMITING', rateLimitingSampling: { maxTracesPerSecond: 11 } }],
    ['prototype member name', 'constructor', { strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0.5 } }],
  ];
  it.each(cases)('%s', (_name, service, expected) => {
    expect(computeJaegerStrategy(config, service)).toEqual(expected);
  });

  it('serialises with the field names Jaeger clients parse', () => {
    expect(JSON.stringify(computeJaegerStrategy(parse({ services: { a: { maxTracesPerSecond: 3 } } }), 'a'))).toBe(
      '{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":3}}',
    );
  });
});
