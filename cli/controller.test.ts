// The policy `skein controller` and all-in-one write from their flags: defaults, duration and
// boolean spellings, and the errors a mistyped value gets.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config/index.js';
import { PolicyValue } from '../common/coord/index.js';
import { ALL_IN_ONE_FLAGS } from './all-in-one.js';
import { CONTROLLER_FLAGS, computeFlagPolicy, LIFECYCLE_FLAGS } from './controller.js';

const DAY = 86_400_000;

function policyOf(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const r = loadConfig(LIFECYCLE_FLAGS, argv, env);
  if (r.kind !== 'ok') throw new Error(r.kind === 'error' ? r.message : 'help');
  return computeFlagPolicy(r.config);
}

describe('controller flags → policy', () => {
  it('defaults: 14 days, compaction on with 1h windows up to 4GiB, keep everything', () => {
    const p = policyOf([]);
    expect(p).toEqual({ retention: { tracesMs: 14 * DAY }, compaction: { enabled: true, windowMs: 3_600_000, maxBlockBytes: 4 * 1024 ** 3 }, sampling: { keepPercent: 100, keepErrors: true } });
    expect(PolicyValue.safeParse({ ...p, version: 1 }).success).toBe(true);
  });

  it.each([
    [['--retention', '336h'], { retention: { tracesMs: 14 * DAY } }],
    [['--retention', '7d'], { retention: { tracesMs: 7 * DAY } }],
    [['--retention', '1d12h'], { retention: { tracesMs: 1.5 * DAY } }],
    [['--retention', '7200000'], { retention: { tracesMs: 2 * 3_600_000 } }],
    [['--compaction-window', '90m', '--compaction-max-block-bytes', '512MiB'], { compaction: { enabled: true, windowMs: 90 * 60_000, maxBlockBytes: 512 * 1024 ** 2 } }],
    [['--compaction-enabled', 'false'], { compaction: { enabled: false, windowMs: 3_600_000, maxBlockBytes: 4 * 1024 ** 3 } }],
    [['--tail-keep-percent', '10', '--tail-keep-errors', 'false', '--tail-keep-slower-than-ms', '2000'], { sampling: { keepPercent: 10, keepErrors: false, keepSlowerThanMs: 2000 } }],
  ])('%j', (argv, want) => {
    expect(policyOf(argv)).toMatchObject(want);
  });

  it('reads SKEIN_* environment variables too', () => {
    expect(policyOf([], { SKEIN_RETENTION: '3d', SKEIN_COMPACTION_ENABLED: '0' })).toMatchObject({ retention: { tracesMs: 3 * DAY }, compaction: { enabled: false } });
  });

  it.each([
    [['--retention', '2 weeks'], /--retention.*duration like 336h/],
    [['--retention', '30m'], /--retention.*at least 1h/],
    [['--compaction-window', '48h'], /--compaction-window.*at most 24h/],
    [['--compaction-window', '1m'], /--compaction-window.*at least 5m/],
    [['--compaction-enabled', 'maybe'], /--compaction-enabled/],
    [['--tail-keep-percent', '101'], /--tail-keep-percent/],
    [['--tail-keep-slower-than-ms', '-5'], /--tail-keep-slower-than-ms/],
  ])('rejects %j naming the flag', (argv, re) => {
    const r = loadConfig(LIFECYCLE_FLAGS, argv, {});
    expect(r.kind).toBe('error');
    if (r.kind === 'error') expect(r.message).toMatch(re);
  });

  it('both commands that run a lifecycle controller take every lifecycle flag', () => {
    for (const f of LIFECYCLE_FLAGS) {
      expect(CONTROLLER_FLAGS).toContain(f);
      expect(ALL_IN_ONE_FLAGS).toContain(f);
    }
  });
});
