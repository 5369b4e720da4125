import { describe, expect, it } from 'vitest';
import { SamplingConfigSchema } from './sampling-config.js';
import { ScrubConfigSchema } from './scrub-config.js';
import { computeEffectivePolicy } from './effective-policy.js';

const local = { sampling: SamplingConfigSchema.parse({ defaultProbability: 0.5 }), scrubbing: ScrubConfigSchema.parse({ hashKey: 'k'.repeat(16), rules: [{ name: 'ids', key: '^id$', action: 'hash' }] }) };

describe('computeEffectivePolicy', () => {
  it('keeps the local policy without a cluster policy (none yet, or version 0)', () => {
    expect(computeEffectivePolicy(local, undefined)).toEqual({ ok: true, policy: local, source: 'local' });
    expect(computeEffectivePolicy(local, { version: 0 })).toEqual({ ok: true, policy: local, source: 'local' });
  });

  it('takes the cluster\'s sampling and scrubbing, keeping the local hash key', () => {
    const r = computeEffectivePolicy(local, { version: 3, sampling: { defaultProbability: 0.1, services: { api: { probability: 1 } } }, scrubbing: { rules: [{ name: 'mail', value: '@', action: 'redact' }] } });
    expect(r.ok && r.source).toBe('cluster');
    if (!r.ok) return;
    expect(r.policy.sampling.defaultProbability).toBe(0.1);
    expect(r.policy.sampling.services['api']?.probability).toBe(1);
    expect(r.policy.scrubbing.rules.map((x) => x.name)).toEqual(['mail']);
    expect(r.policy.scrubbing.hashKey).toBe(local.scrubbing.hashKey);
  });

  it('refuses an invalid cluster policy as a whole', () => {
    const r = computeEffectivePolicy(local, { version: 2, sampling: { defaultProbability: 7 }, scrubbing: {} });
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) expect(r.error).toMatch(/sampling\.defaultProbability/);
  });
});
