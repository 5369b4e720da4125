// Spread a component's pods over nodes when the scheduler can, without refusing to schedule when it
// cannot (a small or single-node cluster must still run): losing one node then costs one ingester's
// shards or one etcd member, not quorum or every owner at once.
export function buildPreferredAntiAffinity(selector: Readonly<Record<string, string>>): Record<string, unknown> {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { ...selector } }, topologyKey: 'kubernetes.io/hostname' } },
      ],
    },
  };
}
