import { describe, expect, it } from 'vitest';
import { createKeyspace, toBytes, type KeyValue } from '../../common/coord/index.js';
import { buildClusterState, summarizeCluster } from './index.js';

const ks = createKeyspace('default', 'summary');
const kv = (key: string, value: unknown, i: number): KeyValue => ({ key, value: toBytes(JSON.stringify(value)), createRevision: 10 + i, modRevision: 10 + i, version: 1, lease: undefined });
const summary = (pairs: [string, unknown][]) => summarizeCluster(buildClusterState(ks, pairs.map(([k, v], i) => kv(k, v, i))));

describe('summarizeCluster', () => {
  it('knows nothing before the controller wrote a partition map', () => {
    expect(summary([])).toEqual({ mapVersion: undefined, mapShardCount: undefined, owned: 0, handoffs: 0, members: 0, readyMembers: 0 });
  });

  it('counts owners and handoffs below the shard count only', () => {
    const s = summary([
      [ks.partition, { version: 3, shardCount: 3 }],
      [ks.member('a'), { address: 'a:1', ports: {}, version: 't', ready: true, partitionVersion: 3 }],
      [ks.member('b'), { address: 'b:1', ports: {}, version: 't', ready: false, partitionVersion: 2 }],
      [ks.assignment(0), { member: 'a', generation: 1, state: 'active' }],
      [ks.owner(0), { member: 'a', address: 'a:1' }],
      [ks.assignment(1), { member: 'a', generation: 2, state: 'handoff', to: 'b' }],
      [ks.owner(1), { member: 'a', address: 'a:1' }],
      // shard 2 unowned; shard 5 is left over from a larger map
      [ks.owner(5), { member: 'b', address: 'b:1' }],
    ]);
    expect(s).toEqual({ mapVersion: 3, mapShardCount: 3, owned: 2, handoffs: 1, members: 2, readyMembers: 1 });
  });
});
