import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DURATION_PATTERN, parseDuration, parseQuantity, QUANTITY_PATTERN } from './index.js';

describe('parseDuration', () => {
  it.each([
    ['72h', 72 * 3_600_000],
    ['1h30m', 5_400_000],
    ['90m', 5_400_000],
    ['5ms', 5],
    ['1s500ms', 1500],
    ['0h', 0],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '7d', '1.5h', '-1h', '1 h', 'h', '1H', '1234567h', '1hh'])('rejects %j', (text) => expect(parseDuration(text)).toBeUndefined());

  it('accepts exactly what DURATION_PATTERN (the CEL guard) accepts', () => {
    const part = fc.tuple(fc.integer({ min: 0, max: 9_999_999 }).map(String), fc.constantFrom('ms', 's', 'm', 'h', 'd', 'us', ''));
    fc.assert(
      fc.property(fc.array(part, { maxLength: 4 }), (parts) => {
        const text = parts.map(([n, u]) => n + u).join('');
        expect(parseDuration(text) !== undefined).toBe(new RegExp(DURATION_PATTERN).test(text));
      }),
    );
  });
});

describe('parseQuantity', () => {
  it.each([
    ['10Gi', 10 * 2 ** 30],
    ['512Mi', 512 * 2 ** 20],
    ['500m', 0.5],
    ['1.5', 1.5],
    ['2k', 2000],
    ['1e3', 1000],
    ['.5Ki', 512],
    ['-1', -1],
    [1073741824, 1073741824],
  ] as const)('%j → %d', (text, value) => expect(parseQuantity(text)).toBeCloseTo(value, 9));

  it.each(['', '10 Gi', '10GB', 'Gi', '1e', '1.2.3'])('rejects %j', (text) => expect(parseQuantity(text)).toBeUndefined());

  it("accepts exactly what resource.Quantity's pattern accepts", () => {
    const number = fc.oneof(fc.nat().map(String), fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `${a}.${b}`), fc.nat().map((b) => `.${b}`), fc.constant('1.'));
    const suffix = fc.constantFrom('', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'n', 'u', 'm', 'k', 'M', 'G', 'T', 'P', 'E', 'e3', 'E-2', 'KB', 'gi', ' ', 'i');
    fc.assert(
      fc.property(fc.constantFrom('', '+', '-', '--'), number, suffix, (sign, n, s) => {
        const text = sign + n + s;
        expect(parseQuantity(text) !== undefined).toBe(new RegExp(QUANTITY_PATTERN).test(text));
      }),
    );
  });
});
