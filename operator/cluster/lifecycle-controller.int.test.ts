// The lifecycle controller against a real etcd started by this test (DESIGN.md §11), with a fake job
// holder claiming and committing jobs through the manifest store: a compaction round, a holder
// that dies with its claim, a retention change, and a standby that takes over from a leader whose
// connection died without resigning.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdCoordinator, createKeyspace, type Coordinator, type Keyspace } from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { startEtcd, type EtcdServer } from '../../common/proc/index.js';
import { createManifestStore, type ManifestRead, type ObservedJob } from '../../ingester/lifecycle/index.js';
import { createLifecycleController, writePolicy, type LifecycleController, type PolicyContent } from './index.js';
import { createFakeHolder, seedLiveBlock } from './testing/index.js';

const TTL_SECONDS = 2;
const CLAIM_TIMEOUT_MS = 3000;
const HOUR = 3_600_000;

let server: EtcdServer;
let admin: Coordinator;
let clusterSeq = 0;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startEtcd(); // a missing etcd binary fails the suite, never skips it
  admin = connect();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

function connect(): Coordinator {
  const c = createEtcdCoordinator({ endpoints: [server.endpoint], requestTimeoutMs: 2000 });
  return c;
}

function newCluster(): Keyspace {
  return createKeyspace('default', `life-${process.pid}-${clusterSeq++}`);
}

const policy = (retentionMs: number): PolicyContent => ({
  retention: { tracesMs: retentionMs },
  compaction: { enabled: true, windowMs: HOUR, maxBlockBytes: 2 ** 32 },
  sampling: { keepPercent: 100, keepErrors: true },
});

function controller(ks: Keyspace, identity: string, extra: { policy?: PolicyContent } = {}): { controller: LifecycleController; coord: Coordinator } {
  const coord = connect();
  const c = createLifecycleController({
    coord,
    keyspace: ks,
    identity,
    intervalMs: 200,
    leaseTtlSeconds: TTL_SECONDS,
    plan: { jobClaimTimeoutMs: CLAIM_TIMEOUT_MS },
    logger: createSilentLogger(),
    registry: createRegistry({ defaultMetrics: false }),
    ...extra,
  });
  cleanups.push(async () => {
    await c.stop();
    await coord.close();
  });
  return { controller: c, coord };
}

async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`not reached within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `n` level-0 blocks ending in the current hour's (open) window. */
async function flush(ks: Keyspace, n: number, prefix: string, shard = 0): Promise<void> {
  const now = Date.now();
  const windowStart = Math.floor(now / HOUR) * HOUR;
  for (let i = 0; i < n; i++) await seedLiveBlock(admin, ks, { shard, id: `${prefix}${i}`, minStartMs: windowStart - 1000, maxEndMs: windowStart + i, nowMs: now });
}

const read = (ks: Keyspace): Promise<ManifestRead> => createManifestStore({ coord: admin, keyspace: ks }).read();
const jobs = async (ks: Keyspace): Promise<ObservedJob[]> => [...(await read(ks)).jobs.values()];

describe('lifecycle controller (real etcd)', () => {
  it('plans a job for a flush; a holder commits it; a holder that dies with its claim has its job given back and planned again', async () => {
    const ks = newCluster();
    await writePolicy(admin, ks, policy(14 * 24 * HOUR));
    const { controller: c } = controller(ks, 'ctl-0');
    await c.start();
    await flush(ks, 8, 'a');
    const job1 = await until('a job', async () => (await jobs(ks))[0]);
    expect(job1.value.inputs).toHaveLength(8);
    expect(c.leading).toBe(true);

    const holder = createFakeHolder(connect(), ks, 'ingester-0', await admin.grantLease(10), Date.now);
    expect((await holder.run(job1.id)).kind).toBe('committed');
    await until('the summary shows the commit', () => c.summary()?.visible.count === 1 || undefined);
    expect(c.summary()?.blocks.compacted.count).toBe(8);

    // Another flush; the holder claims its job and dies (its lease revoked, as etcd does when it lapses).
    await flush(ks, 4, 'b');
    const job2 = await until('a second job', async () => (await jobs(ks))[0]);
    const lease = await admin.grantLease(10);
    const doomed = createFakeHolder(connect(), ks, 'ingester-1', lease, Date.now);
    expect((await doomed.claim(job2.id)).kind).toBe('committed');
    await lease.revoke();
    const job3 = await until('the inputs planned again', async () => {
      const j = (await jobs(ks))[0];
      return j !== undefined && j.id !== job2.id ? j : undefined;
    });
    expect([...job3.value.inputs].sort()).toEqual([...job2.value.inputs].sort());
    expect((await read(ks)).orphans.get(ks.orphan(0, job2.value.output))?.value.reason).toBe('abandoned');
    expect((await holder.run(job3.id)).kind).toBe('committed');
  });

  it('writes its policy; expires under a shortened retention; a standby carries on after the leader’s connection dies', async () => {
    const ks = newCluster();
    const now = Date.now();
    await seedLiveBlock(admin, ks, { id: 'old', minStartMs: now - 4 * HOUR, maxEndMs: now - 3 * HOUR, nowMs: now });
    const one = controller(ks, 'ctl-1', { policy: policy(4 * HOUR) });
    await one.controller.start();
    await until('ctl-1 leads', () => one.controller.leading || undefined);
    await until('policy v1', async () => (await read(ks)).policy?.value.version === 1 || undefined);
    const two = controller(ks, 'ctl-2');
    await two.controller.start();
    await new Promise((r) => setTimeout(r, 500));
    expect([...(await read(ks)).blocks.values()].map((b) => b.value.state)).toEqual(['live']);

    // The leader's connection dies: no keep-alives, no resign; etcd drops its lease after the TTL.
    await one.coord.close();
    await until('ctl-2 leads', () => two.controller.leading || undefined, 15_000);
    await writePolicy(admin, ks, policy(2 * HOUR));
    await until('old expired by ctl-2', async () => (await read(ks)).blocks.get(ks.block(0, 'old'))?.value.state === 'expired' || undefined);
    expect((await read(ks)).policy?.value.version).toBe(2); // a standby that never led wrote no policy of its own

    // ctl-2 plans new flushes too.
    await flush(ks, 4, 'c', 1);
    const job = await until('a job planned by ctl-2', async () => (await jobs(ks))[0]);
    expect(job.value.shard).toBe(1);
  });
});
