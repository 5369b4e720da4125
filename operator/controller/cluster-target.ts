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
