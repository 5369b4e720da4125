import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  boundsParam,
  durationParam,
  limitParam,
  parseGoDuration,
  parseJaegerTags,
  parseLogfmtTags,
  single,
  unixMicrosParam,
  unixSecondsParam,
  type Parsed,
} from './params.js';

function value<T>(p: Parsed<T>): T {
  if (!p.ok) throw new Error(`expected ok, got: ${p.message}`);
  return p.value;
}

function message<T>(p: Parsed<T>): string {
  if (p.ok) throw new Error(`expected a failure, got ${JSON.stringify(p.value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
  return p.message;
}

describe('parseGoDuration', () => {
  const good: [string, number][] = [
    ['0', 0],
    ['1ns', 1],
    ['100ms', 100_000_000],
    ['1.5s', 1_500_000_000],
    ['2m', 120_000_000_000],
    ['1h30m', 5_400_000_000_000],
    ['.5s', 500_000_000],
    ['5.s', 5_000_000_000],
    ['1us', 1_000],
    ['1µs', 1_000],
    ['1μs', 1_000],
    ['2h45m30.5s', 9_930_500_000_000],
    ['1.0000000009s', 1_000_000_000], // truncated to whole ns, as Go does
    ['+3s', 3_000_000_000],
    ['-1s', -1_000_000_000],
    ['300ms20ns', 300_000_020],
  ];
  it.each(good)('%s → %d ns', (text, ns) => {
    expect(value(parseGoDuration(text))).toBe(ns);
  });

  const bad = ['', '100', '1x', 's', 'ms', '1.5', '1 s', 'abc', '1s2', '.s', '-', '1e3s', '10000000000h'];
  it.each(bad)('rejects %j', (text) => {
    expect(parseGoDuration(text).ok).toBe(false);
  });

  it('names the missing unit', () => {
    expect(message(parseGoDuration('100'))).toMatch(/without a unit/);
  });

  it('agrees with a direct computation for random whole-unit durations', () => {
    const units: [string, number][] = [['ns', 1], ['us', 1e3], ['ms', 1e6], ['s', 1e9], ['m', 6e10], ['h', 3.6e12]];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.constantFrom(...units)), { minLength: 1, maxLength: 4 }), (parts) => {
        const text = parts.map(([n, [u]]) => `${n}${u}`).join('');
        const expected = parts.reduce((sum, [n, [, mul]]) => sum + n * mul, 0);
        expect(value(parseGoDuration(text))).toBe(expected);
      }),
    );
  });
});

describe('durationParam', () => {
  it('is undefined when absent or empty', () => {
    expect(value(durationParam({}, 'minDuration'))).toBeUndefined();
    expect(value(durationParam({ minDuration: '' }, 'minDuration'))).toBeUndefined();
  });
  it('names the parameter and what to send', () => {
    const m = message(durationParam({ minDuration: '5 seconds' }, 'minDuration'));
    expect(m).toContain(`parameter 'minDuration'`);
    expect(m).toContain('Go duration such as 100ms');
  });
  it('rejects negative durations', () => {
    expect(message(durationParam({ maxDuration: '-5s' }, 'maxDuration'))).toMatch(/'maxDuration'.*negative/);
  });
});

describe('parseLogfmtTags', () => {
  const good: [string, [string, string][]][] = [
    ['', []],
    ['   ', []],
    ['service.name=foo', [['service.name', 'foo']]],
    ['service.name=foo http.status_code=500', [['service.name', 'foo'], ['http.status_code', '500']]],
    ['name="GET /x"', [['name', 'GET /x']]],
    ['service.name=foo   name="GET /x"  x=1', [['service.name', 'foo'], ['name', 'GET /x'], ['x', '1']]],
    ['msg="say \\"hi\\""', [['msg', 'say "hi"']]],
    ['path="a\\\\b"', [['path', 'a\\b']]],
    ['nl="a\\nb" u="\\u00e9"', [['nl', 'a\nb'], ['u', 'é']]],
    ['http.url=/x?a=b', [['http.url', '/x?a=b']]],
  ];
  it.each(good)('%j', (text, pairs) => {
    expect(value(parseLogfmtTags(text))).toEqual(pairs.map(([key, v]) => ({ key, value: v })));
  });

  const bad: [string, RegExp][] = [
    ['service.name', /tag 'service.name' has no value/],
    ['a=1 b', /tag 'b' has no value/],
    ['name="GET /x', /no closing '"'/],
    ['=foo', /expected a key/],
    ['k=', /empty value/],
    ['k=""', /empty value/],
    ['k="a"b=1', /expected a space after the quoted value/],
    ['k=a"b', /unexpected '"' inside the value/],
    ['k="\\q"', /bad escape/],
  ];
  it.each(bad)('rejects %j', (text, re) => {
    const m = message(parseLogfmtTags(text));
    expect(m).toMatch(re);
    expect(m).toContain(`parameter 'tags'`);
  });

  it('round-trips quoted values', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9._]{0,10}$/), fc.string({ minLength: 1, maxLength: 20 })), { maxLength: 5 }), (pairs) => {
        const text = pairs.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(' ');
        expect(value(parseLogfmtTags(text))).toEqual(pairs.map(([key, v]) => ({ key, value: v })));
      }),
    );
  });
});

describe('parseJaegerTags', () => {
  it('reads the JSON map the Jaeger UI sends', () => {
    expect(value(parseJaegerTags({ tags: '{"http.status_code":"500","error":"true"}' }))).toEqual([
      { key: 'http.status_code', value: '500' },
      { key: 'error', value: 'true' },
    ]);
  });
  it('stringifies numbers and booleans', () => {
    expect(value(parseJaegerTags({ tags: '{"code":500,"error":true}' }))).toEqual([
      { key: 'code', value: '500' },
      { key: 'error', value: 'true' },
    ]);
  });
  it('reads the older repeated tag=key:value form', () => {
    expect(value(parseJaegerTags({ tag: ['a:1', 'url:http://x'] }))).toEqual([
      { key: 'a', value: '1' },
      { key: 'url', value: 'http://x' },
    ]);
  });
  const bad: [Record<string, string>, RegExp][] = [
    [{ tags: 'http.status_code=500' }, /parameter 'tags'.*not valid JSON/],
    [{ tags: '["a"]' }, /parameter 'tags': expected a JSON object/],
    [{ tags: '{"a":{"b":1}}' }, /the value of 'a' must be a string/],
    [{ tags: '{"a":null}' }, /the value of 'a' must be a string/],
    [{ tag: 'nocolon' }, /parameter 'tag'.*key:value/],
  ];
  it.each(bad)('rejects %j', (query, re) => {
    expect(message(parseJaegerTags(query))).toMatch(re);
  });
});

describe('limitParam', () => {
  const limits = { defaultLimit: 20, maxLimit: 100 };
  const cases: [string | undefined, number][] = [
    [undefined, 20],
    ['', 20],
    ['0', 20],
    ['5', 5],
    ['100', 100],
    ['5000', 100],
  ];
  it.each(cases)('limit=%j → %d', (raw, n) => {
    expect(value(limitParam(raw === undefined ? {} : { limit: raw }, 'limit', limits))).toBe(n);
  });
  it.each(['-1', 'ten', '1.5', '1e3'])('rejects limit=%j naming the parameter', (raw) => {
    expect(message(limitParam({ limit: raw }, 'limit', limits))).toMatch(/parameter 'limit'.*send e.g. limit=20/);
  });
});

describe('time parameters', () => {
  it('unix seconds → ns exactly', () => {
    expect(value(unixSecondsParam({ start: '1700000000' }, 'start'))).toBe(1_700_000_000_000_000_000);
  });
  it('unix µs → ns', () => {
    expect(value(unixMicrosParam({ end: '1700000000123456' }, 'end'))).toBe(Number(1_700_000_000_123_456_000n));
  });
  it.each(['-5', 'yesterday', '17e8', '1.5'])('rejects start=%j', (raw) => {
    expect(message(unixSecondsParam({ start: raw }, 'start'))).toMatch(/parameter 'start'.*unix epoch seconds/);
  });
});

describe('boundsParam', () => {
  it.each([
    [{}, { min: undefined, max: undefined }],
    [{ minDuration: '1s' }, { min: 1e9, max: undefined }],
    [{ minDuration: '1s', maxDuration: '1s' }, { min: 1e9, max: 1e9 }],
  ])('%j → %j', (query, bounds) => {
    expect(value(boundsParam(query, 'minDuration', 'maxDuration', durationParam))).toEqual(bounds);
  });
  it.each([
    [{ minDuration: '2s', maxDuration: '1s' }, /'minDuration' is greater than 'maxDuration'/],
    [{ minDuration: 'x', maxDuration: '1s' }, /parameter 'minDuration'/],
    [{ minDuration: '1s', maxDuration: 'x' }, /parameter 'maxDuration'/],
  ])('rejects %j', (query, expected) => {
    expect(message(boundsParam(query, 'minDuration', 'maxDuration', durationParam))).toMatch(expected);
  });
});

describe('single', () => {
  it('refuses a parameter given twice', () => {
    expect(message(single({ limit: ['1', '2'] }, 'limit'))).toMatch(/'limit' was given 2 times; send it once/);
  });
  it('accepts repeats where all but one are empty', () => {
    expect(value(single({ limit: ['', '2'] }, 'limit'))).toBe('2');
  });
});
