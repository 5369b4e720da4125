import { describe, expect, it } from 'vitest';
import { matchesLabelSelector, parseLabelSelector } from './label-selector.js';

describe('label selectors', () => {
  const labels = { app: 'skein', tier: 'ingest', zone: 'a' };
  it.each([
    ['', true],
    ['app=skein', true],
    ['app==skein', true],
    ['app=other', false],
    ['app!=other', true],
    ['missing!=x', true],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['app=skein,tier=ingest', true],
    ['app=skein,tier=query', false],
    ['zone in (a, b)', true],
    ['zone notin (a,b),app=skein', false],
    ['missing in (a)', false],
  ])('%j → %s', (selector, expected) => {
    expect(matchesLabelSelector(parseLabelSelector(selector), labels)).toBe(expected);
  });
  it('rejects what it does not understand', () => {
    expect(() => parseLabelSelector('a > 1')).toThrow(/unsupported/);
  });
});
