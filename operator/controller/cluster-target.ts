// From a TracingCluster to what its cluster controllers need (pure): which etcd, how many shards, and
// the policy (DESIGN.md §5 `policy`) in the units the ingesters and the lifecycle controller read.
import { parseDuration, parseQuantity, type TracingClusterSpec } from '../api/index.js';
import type { PolicyContent } from '../cluster/index.js';
import { managedEtcdEndpoints } from '../manifests/index.js';
import type { ClusterTarget } from './cluster-controllers.js';

export function computePolicy(spec: TracingClusterSpec): PolicyContent {
  // The schema has already checked every duration and quantity (CEL and its TypeScript twins), so a
  // parse failure here is a bug in that validation, not bad input.
  const ms = (d: string): number => must(parseDuration(d), d);
  const keepSlowerThan = spec.sampling.keepSlowerThan;
  return {
    retention: { tracesMs: ms(spec.retention.traces) },
    compaction: { enabled: spec.compaction.enabled, windowMs: ms(spec.compaction.window), maxBlockBytes: Math.floor(must(parseQuantity(spec.compaction.maxBlockSize), String(spec.compaction.maxBlockSize))) },
    sampling: {
      keepPercent: spec.sampling.keepPercent,
      keepErrors: spec.sampling.keepErrors,
      ...(keepSlowerThan === undefined ? {} : { keepSlowerThanMs: ms(keepSlowerThan) }),
    },
    agent: computeAgentConfig(spec),
  };
}

/**
 * spec.agent's sampling and scrubbing in the agent's own config shape (agent/agent-config.ts
 * `sampling` and `scrubbing` sections): relayed to running agents through the policy, and passed
 * inline to injected agents so the first span is already treated as configured.
 */
export function computeAgentConfig(spec: TracingClusterSpec): { sampling: Record<string, unknown>; scrubbing: Record<string, unknown> } {
  const { sampling, scrubbing } = spec.agent;
  const services: Record<string, unknown> = {};
  for (const s of sampling.services ?? []) {
    services[s.name] = {
      ...(s.probability === undefined ? {} : { probability: s.probability }),
      ...(s.maxTracesPerSecond === undefined ? {} : { maxTracesPerSecond: s.maxTracesPerSecond }),
      operations: Object.fromEntries((s.operations ?? []).map((o) => [o.name, o.probability])),
    };
  }
  return {
    sampling: { defaultProbability: sampling.probability, services },
    scrubbing: {
      disableBuiltins: [...(scrubbing.disableBuiltins ?? [])],
      rules: (scrubbing.rules ?? []).map((r) => ({ name: r.name, ...(r.key === undefined ? {} : { key: r.key }), ...(r.value === undefined ? {} : { value: r.value }), ignoreCase: r.ignoreCase, action: r.action })),
    },
  };
}

export function computeEtcdEndpoints(name: string, namespace: string, spec: TracingClusterSpec): string[] {
  return spec.etcd.external !== undefined ? [...spec.etcd.external.endpoints] : managedEtcdEndpoints(name, namespace);
}

export function computeClusterTarget(name: string, namespace: string, spec: TracingClusterSpec): ClusterTarget {
  return { key: `${namespace}/${name}`, namespace, name, etcdEndpoints: computeEtcdEndpoints(name, namespace, spec), shards: spec.shards, policy: computePolicy(spec) };
}

function must(n: number | undefined, text: string): number {
  if (n === undefined) throw new Error(`unparsable value ${JSON.stringify(text)} passed validation`);
  return n;
}
