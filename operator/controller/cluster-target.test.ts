import { describe, expect, it } from 'vitest';
import { AgentConfigSchema } from '../../agent/index.js';
import { PolicyValue } from '../../common/coord/index.js';
import { VALID_SPECS } from '../api/testing/index.js';
import { validateTracingClusterSpec, type TracingClusterSpecInput } from '../api/index.js';
import { computeAgentConfig, computeClusterTarget, computePolicy } from './cluster-target.js';

const spec = (input: TracingClusterSpecInput) => {
  const r = validateTracingClusterSpec(input);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
};

describe('computePolicy / computeAgentConfig', () => {
  it.each(VALID_SPECS)('$title: the policy is a valid policy value and its agent part a valid agent config', ({ spec: input }) => {
    const s = spec(input);
    const policy = computePolicy(s);
    expect(PolicyValue.safeParse({ ...policy, version: 1 }).success).toBe(true);
    // What the ingesters relay and the webhook passes inline must be what the agent accepts.
    const parsed = AgentConfigSchema.safeParse(computeAgentConfig(s));
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  });

  it('maps the spec to the agent\'s shapes and units', () => {
    const s = spec({
      retention: { traces: '36h' },
      compaction: { window: '30m', maxBlockSize: '1Gi' },
      sampling: { keepPercent: 10, keepSlowerThan: '2s' },
      agent: {
        sampling: { probability: 0.5, services: [{ name: 'checkout', maxTracesPerSecond: 20, operations: [{ name: 'GET /health', probability: 0 }] }] },
        scrubbing: { disableBuiltins: ['credit-card'], rules: [{ name: 'emails', value: '@', action: 'redact' }] },
      },
    });
    const policy = computePolicy(s);
    expect(policy.retention).toEqual({ tracesMs: 36 * 3_600_000 });
    expect(policy.compaction).toEqual({ enabled: true, windowMs: 30 * 60_000, maxBlockBytes: 2 ** 30 });
    expect(policy.sampling).toEqual({ keepPercent: 10, keepErrors: true, keepSlowerThanMs: 2000 });
    expect(policy.agent).toEqual({
      sampling: { defaultProbability: 0.5, services: { checkout: { maxTracesPerSecond: 20, operations: { 'GET /health': 0 } } } },
      scrubbing: { disableBuiltins: ['credit-card'], rules: [{ name: 'emails', value: '@', ignoreCase: false, action: 'redact' }] },
    });
  });

  it('targets the external etcd, or the managed etcd\'s client Service', () => {
    expect(computeClusterTarget('tc', 'ns', spec({ etcd: { external: { endpoints: ['http://10.0.0.1:2379'] } } })).etcdEndpoints).toEqual(['http://10.0.0.1:2379']);
    expect(computeClusterTarget('tc', 'ns', spec({})).etcdEndpoints).toEqual(['http://tc-etcd-client.ns.svc:2379']);
  });
});
