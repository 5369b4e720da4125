// Ownership against a real etcd that hangs (SIGSTOP) for longer than the lease TTL: the member must
// stop acknowledging by its LOCAL deadline while etcd says nothing, then come back with a new lease
// and a strictly higher fencing token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AssignmentValue,
  PartitionValue,
  createEtcdCoordinator,
  createKeyspace,
  encodeValue,
  put,
  type Coordinator,
} from '../../common/coord/index.js';
import { startEtcd, type EtcdServer } from '../../common/proc/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { createOwnership, type Ownership } from './index.js';

const ME = 'ing-0';
const TTL_SECONDS = 2;
const ks = createKeyspace('test', 'ownership-int');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await pred()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
}

describe('ownership against etcd', () => {
  let server: EtcdServer;
  let coord: Coordinator;
  let admin: Coordinator;
  let own: Ownership | undefined;
  let paused = false;

  beforeAll(async () => {
    server = await startEtcd(); // throws (fails the suite) when the etcd binary is missing
    coord = createEtcdCoordinator({ endpoints: [server.endpoint], requestTimeoutMs: 500, dialTimeoutMs: 1000 });
    admin = createEtcdCoordinator({ endpoints: [server.endpoint], requestTimeoutMs: 2000 });
  });
  afterAll(async () => {
    if (paused) server.resume();
    await own?.stop();
    await coord?.close();
    await admin?.close();
    await server?.stop();
  });

  it('a paused etcd: unowned by the local deadline, onRelease(lost), then re-registered and re-acquired with a higher token', async () => {
    const calls: string[] = [];
    own = createOwnership({
      coord,
      keyspace: ks,
      memberId: ME,
      address: '127.0.0.1:9095',
      ports: { internal: 9095 },
      version: 'test',
      leaseTtlSeconds: TTL_SECONDS,
      logger: createSilentLogger(),
      registry: createRegistry({ defaultMetrics: false }),
      onAcquire: (shard, token) => {
        calls.push(`acquire ${shard}@${token}`);
        return Promise.resolve();
      },
      onRelease: (shard, token, reason) => {
        calls.push(`release ${shard}@${token} ${reason}`);
        return Promise.resolve();
      },
    });
    const assign = (generation: number) =>
      admin.txn({ compare: [], success: [put(ks.assignment(0), encodeValue(AssignmentValue, { member: ME, generation, state: 'active' }))] });

    await admin.txn({ compare: [], success: [put(ks.partition, encodeValue(PartitionValue, { version: 1, shardCount: 2 }))] });
    await own.start();
    await own.setReady(true);
    await assign(1);
    await waitFor('shard 0 owned', () => own!.ownedToken(0) !== undefined, 10_000);
    const t1 = own.ownedToken(0)!;
    expect((await admin.get(ks.owner(0))).kv?.createRevision).toBe(t1);
    const firstLease = own.debug().lease!.id;

    server.pause();
    paused = true;
    const pausedAt = coord.now();
    // The deadline rests only on keep-alives acknowledged before the pause: it cannot move any more.
    const deadline = own.debug().lease!.deadline;
    expect(deadline).toBeLessThanOrEqual(pausedAt + TTL_SECONDS * 1000);
    await sleep(deadline - coord.now() + 20);
    expect(paused).toBe(true);
    expect(own.ownedToken(0)).toBeUndefined();
    expect(own.ownedShards().size).toBe(0);
    await waitFor('onRelease(lost)', () => calls.includes(`release 0@${t1} lost`), 5000);

    // Stay paused past the TTL, so etcd itself lets the lease lapse when it wakes up.
    await sleep(pausedAt + TTL_SECONDS * 1000 + 1000 - coord.now());
    server.resume();
    paused = false;

    await waitFor(
      'member registered again under a new lease',
      async () => {
        const kv = (await admin.get(ks.member(ME))).kv;
        return kv !== undefined && kv.lease !== undefined && kv.lease !== firstLease;
      },
      20_000,
    );
    expect(own.debug().lease!.id).not.toBe(firstLease);
    await assign(2);
    await waitFor('shard 0 owned again', () => own!.ownedToken(0) !== undefined, 20_000);
    const t2 = own.ownedToken(0)!;
    expect(t2).toBeGreaterThan(t1);
    const owner = (await admin.get(ks.owner(0))).kv;
    expect(owner?.createRevision).toBe(t2);
    expect(owner?.lease).toBe(own.debug().lease!.id);
    expect(calls.filter((c) => c.startsWith('acquire'))).toEqual([`acquire 0@${t1}`, `acquire 0@${t2}`]);

    await own.releaseAll();
    await own.stop();
    expect((await admin.get(ks.member(ME))).kv).toBeUndefined();
    expect((await admin.get(ks.owner(0))).kv).toBeUndefined();
  });
});
