// What the operator reports about shard ownership (TracingCluster status.shards, DESIGN.md §9),
// derived from the same parsed view the shard controller plans from.
import type { ClusterState } from './cluster-state.js';

export interface ClusterSummary {
  /** Version and shard count of the partition map; undefined before the controller wrote one. */
  readonly mapVersion: number | undefined;
  readonly mapShardCount: number | undefined;
  /** Shards below the map's shard count whose owner key exists (an ingester holds it on a live lease). */
  readonly owned: number;
  /** Shards below the map's shard count in handoff. */
  readonly handoffs: number;
  readonly members: number;
  readonly readyMembers: number;
}

export function summarizeCluster(state: ClusterState): ClusterSummary {
  const count = state.partition?.value?.shardCount;
  let owned = 0;
  let handoffs = 0;
  for (const [n, keys] of state.shards) {
    if (count === undefined || n >= count) continue;
    if (keys.owner !== undefined) owned++;
    if (keys.assignment?.value?.state === 'handoff') handoffs++;
  }
  let readyMembers = 0;
  for (const m of state.members.values()) if (m.value?.ready === true) readyMembers++;
  return { mapVersion: state.partition?.value?.version, mapShardCount: count, owned, handoffs, members: state.members.size, readyMembers };
}
