// A warn-level log for events a caller controls (bad input): at most `perSecond` lines per one-second
// window, then one "suppressed" line with the count, so a misbehaving client cannot flood the logs.
import type { Logger } from './log.js';

export type RateLimitedWarn = (fields: Record<string, unknown>, msg: string) => void;

export function createRateLimitedWarn(log: Pick<Logger, 'warn'>, perSecond = 5, now: () => number = Date.now): RateLimitedWarn {
  let windowStart = 0;
  let logged = 0;
  let suppressed = 0;
  return (fields, msg) => {
    const t = now();
    if (t - windowStart > 1000) {
      if (suppressed > 0) log.warn({ suppressed }, 'suppressed bad-input log lines');
      windowStart = t;
      logged = 0;
      suppressed = 0;
    }
    if (logged++ < perSecond) log.warn(fields, msg);
    else suppressed++;
  };
}
