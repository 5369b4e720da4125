import { describe, expect, it } from 'vitest';
import { createRateLimitedWarn } from './rate-limited.js';

describe('createRateLimitedWarn', () => {
  it('logs at most perSecond lines a window, then reports how many it suppressed', () => {
    const lines: [Record<string, unknown>, string][] = [];
    let t = 10_000;
    const warn = createRateLimitedWarn({ warn: (f: Record<string, unknown>, m: string) => lines.push([f, m]) } as never, 2, () => t);
    for (let i = 0; i < 5; i++) warn({ i }, 'bad');
    expect(lines.map(([f]) => f)).toEqual([{ i: 0 }, { i: 1 }]);
    t += 1001;
    warn({ i: 5 }, 'bad');
    expect(lines.slice(2)).toEqual([
      [{ suppressed: 3 }, 'suppressed bad-input log lines'],
      [{ i: 5 }, 'bad'],
    ]);
  });
});
