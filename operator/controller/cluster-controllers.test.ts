import { afterEach, describe, expect, it } from 'vitest';
import { createKeyspace, decodeValue, MemoryStore, PartitionValue, PolicyValue, type Coordinator } from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import type { PolicyContent } from '../cluster/index.js';
import { seedLiveBlock, startFakeMember, type FakeMember } from '../cluster/testing/index.js';
import { computeBlockStatus, createClusterControllers, type ClusterControllers, type ClusterTarget } from './cluster-controllers.js';

const policy = (keepPercent: number): PolicyContent => ({
  retention: { tracesMs: 3_600_000 },
  compaction: { enabled: true, windowMs: 600_000, maxBlockBytes: 2 ** 30 },
  sampling: { keepPercent, keepErrors: true },
});
const target = (shards: number, keepPercent = 100, endpoints = ['memory://a']): ClusterTarget => ({ key: 'ns/tc', namespace: 'ns', name: 'tc', etcdEndpoints: endpoints, shards, policy: policy(keepPercent) });
const ks = createKeyspace('ns', 'tc');

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function read<T>(coord: Coordinator, key: string, schema: typeof PartitionValue | typeof PolicyValue): Promise<T | undefined> {
  const { kv } = await coord.get(key);
  if (kv === undefined) return undefined;
  const d = decodeValue(schema as never, kv.value);
  return d.ok ? (d.value as T) : undefined;
}

describe('cluster controllers (on the coordinator twin)', () => {
  let store: MemoryStore;
  let admin: Coordinator;
  let controllers: ClusterControllers | undefined;
  let members: FakeMember[] = [];
  const changes: string[] = [];

  const setup = (): ClusterControllers => {
    store = new MemoryStore();
    admin = store.connect();
    changes.length = 0;
    controllers = createClusterControllers({
      connect: () => store.connect(),
      identity: 'operator-0',
      logger: createSilentLogger(),
      registryFor: () => createRegistry({ defaultMetrics: false }),
      onChange: (key) => changes.push(key),
      leaseTtlSeconds: 2,
      rebalanceIntervalMs: 50,
      retryMinMs: 10,
      retryMaxMs: 50,
      blockStatusIntervalMs: 200,
    });
    return controllers;
  };

  afterEach(async () => {
    for (const m of members) await m.kill().catch(() => {});
    members = [];
    await controllers?.stopAll();
    controllers = undefined;
  });

  it('writes the partition map and policy from the target, and reports ownership as members take shards', async () => {
    const c = setup();
    c.ensure(target(4));
    await until('partition map', () => read<PartitionValue>(admin, ks.partition, PartitionValue));
    expect(await read<PartitionValue>(admin, ks.partition, PartitionValue)).toEqual({ version: 1, shardCount: 4 });
    expect(await read<PolicyValue>(admin, ks.policy, PolicyValue)).toEqual({ ...policy(100), version: 1 });
    await until('running with policy v1', () => (c.state('ns/tc')?.phase === 'running' && c.state('ns/tc')?.policyVersion === 1) || undefined);
    expect(c.state('ns/tc')?.etcdError).toBeUndefined();

    members = [await startFakeMember({ coord: store.connect(), keyspace: ks, id: 'ingester-0', ttlSeconds: 2 })];
    const s = await until('every shard owned', () => (c.state('ns/tc')?.summary?.owned === 4 ? c.state('ns/tc') : undefined));
    expect(s.summary).toMatchObject({ mapVersion: 1, mapShardCount: 4, owned: 4, members: 1, readyMembers: 1 });
    await until('a change notification', () => changes.includes('ns/tc') || undefined);
  });

  it('a new shard count is a new partition version; a new policy is a new policy version; neither goes down', async () => {
    const c = setup();
    c.ensure(target(4));
    await until('map v1', async () => (await read<PartitionValue>(admin, ks.partition, PartitionValue))?.version === 1);
    c.ensure(target(6, 50));
    await until('map v2 with 6 shards', async () => {
      const p = await read<PartitionValue>(admin, ks.partition, PartitionValue);
      return p?.shardCount === 6 && p.version === 2;
    });
    await until('policy v2', async () => (await read<PolicyValue>(admin, ks.policy, PolicyValue))?.version === 2);
    c.ensure(target(6, 50)); // same again: nothing new
    await new Promise((r) => setTimeout(r, 100));
    expect((await read<PolicyValue>(admin, ks.policy, PolicyValue))?.version).toBe(2);
    expect((await read<PartitionValue>(admin, ks.partition, PartitionValue))?.version).toBe(2);
  });

  it('reports an unreachable etcd, then recovers without another ensure()', async () => {
    const c = setup();
    store.setReachable(false);
    c.ensure(target(2));
    await until('etcd error', () => c.state('ns/tc')?.etcdError);
    expect(c.state('ns/tc')?.phase).toBe('connecting');
    store.setReachable(true);
    const s = await until('running', () => (c.state('ns/tc')?.phase === 'running' && c.state('ns/tc')?.etcdError === undefined ? c.state('ns/tc') : undefined), 10_000);
    expect(s.summary?.mapShardCount).toBe(2);
  });

  it('stop() resigns; purge() deletes every key under the cluster root and nothing else', async () => {
    const c = setup();
    c.ensure(target(3));
    await until('map', () => read<PartitionValue>(admin, ks.partition, PartitionValue));
    const other = createKeyspace('ns', 'other');
    await admin.txn({ compare: [], success: [{ op: 'put', key: other.partition, value: new TextEncoder().encode('{"version":1,"shardCount":1}') }] });
    const deleted = await c.purge({ key: 'ns/tc', namespace: 'ns', name: 'tc', etcdEndpoints: ['memory://a'] });
    expect(deleted).toBeGreaterThan(0);
    expect(c.keys()).toEqual([]);
    expect((await admin.range(ks.root)).entries).toEqual([]);
    expect((await admin.get(other.partition)).kv).toBeDefined();
  });

  it('runs the lifecycle controller under the spec’s policy and reports the manifest for status', async () => {
    const c = setup();
    c.ensure(target(2));
    await until('running', () => (c.state('ns/tc')?.phase === 'running' ? true : undefined));
    await until('the lifecycle controller leads', () => c.state('ns/tc')?.lifecycleLeading || undefined);
    changes.length = 0;
    // Four flushed blocks in the current (open) 10-minute window: at minInputs, so one job is planned.
    const now = Date.now();
    const windowStart = Math.floor(now / 600_000) * 600_000;
    for (let i = 0; i < 4; i++) await seedLiveBlock(admin, ks, { id: `b${i}`, minStartMs: windowStart - 1000, maxEndMs: windowStart + i, nowMs: now });
    await until('a job planned', async () => (await admin.range(ks.jobsPrefix)).entries.length === 1 || undefined);
    const blocks = await until('blocks in the state', () => (c.state('ns/tc')?.blocks?.count === 4 ? c.state('ns/tc')?.blocks : undefined));
    expect(blocks).toEqual({ count: 4, bytes: 4096 });
    await until('a change notification', () => changes.includes('ns/tc') || undefined);
  });

  it('computeBlockStatus: visible blocks, and times in whole seconds', () => {
    const summary = {
      blocks: { live: { count: 2, bytes: 20 }, compacting: { count: 1, bytes: 10 }, compacted: { count: 5, bytes: 50 }, expired: { count: 1, bytes: 1 } },
      visible: { count: 3, bytes: 30 },
      jobs: { unclaimed: 1, claimed: 0 },
      lastCompactionMs: Date.UTC(2025, 0, 1, 0, 0, 1, 999),
      lastRetentionMs: undefined,
    };
    expect(computeBlockStatus(summary)).toEqual({ count: 3, bytes: 30, lastCompactionTime: '2025-01-01T00:00:01Z' });
  });

  it('new endpoints restart the controllers against the new etcd', async () => {
    const c = setup();
    c.ensure(target(2, 100, ['memory://a']));
    await until('map', () => read<PartitionValue>(admin, ks.partition, PartitionValue));
    c.ensure(target(2, 100, ['memory://b']));
    await until('running again', () => (c.state('ns/tc')?.phase === 'running' ? true : undefined));
    expect(c.keys()).toEqual(['ns/tc']);
  });
});
