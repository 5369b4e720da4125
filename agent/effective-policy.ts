// Which sampling and scrubbing an agent runs: the cluster's (spec.agent, relayed by the ingesters)
// when the cluster has one, else its own configuration. The local scrub hashKey is kept either way:
// a cluster policy never carries keys. An invalid cluster policy is refused as a whole (the caller
// keeps what it runs) rather than half-applied.
import type { AgentPolicyResponse } from '../common/agent-policy/index.js';
import type { AgentPolicy } from './agent.js';
import { SamplingConfigSchema } from './sampling-config.js';
import { ScrubConfigSchema } from './scrub-config.js';

export function computeEffectivePolicy(local: AgentPolicy, cluster: AgentPolicyResponse | undefined): { ok: true; policy: AgentPolicy; source: 'local' | 'cluster' } | { ok: false; error: string } {
  if (cluster === undefined || cluster.version === 0) return { ok: true, policy: local, source: 'local' };
  const sampling = SamplingConfigSchema.safeParse(cluster.sampling ?? {});
  const scrubbing = ScrubConfigSchema.safeParse({ ...(cluster.scrubbing ?? {}), ...(local.scrubbing.hashKey === undefined ? {} : { hashKey: local.scrubbing.hashKey }) });
  if (!sampling.success || !scrubbing.success) {
    const issues = [...(sampling.error?.issues ?? []).map((i) => `sampling.${i.path.join('.')}: ${i.message}`), ...(scrubbing.error?.issues ?? []).map((i) => `scrubbing.${i.path.join('.')}: ${i.message}`)];
    return { ok: false, error: issues.slice(0, 5).join('; ') };
  }
  return { ok: true, policy: { sampling: sampling.data, scrubbing: scrubbing.data }, source: 'cluster' };
}
