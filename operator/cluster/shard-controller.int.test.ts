// The shard controller against a real etcd started by this test (DESIGN.md §11), with fake members
// following the ingester ownership protocol: convergence, failover after a member's lease ends, and
// a standby controller taking over from a leader that vanished without resigning.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AssignmentValue, OwnerValue, createEtcdCoordinator, createKeyspace, decodeValue, type Coordinator, type Keyspace } from '../../common/coord/index.js';
import { startEtcd, type EtcdServer } from '../../common/proc/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { createShardController, type ShardController } from './index.js';
import { startFakeMember, type FakeMember } from './testing/index.js';

const SHARDS = 6;
const TTL_SECONDS = 2;

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

interface ClusterView {
  readonly assignments: Map<number, AssignmentValue>;
  readonly owners: Map<number, string>;
}

async function view(ks: Keyspace): Promise<ClusterView> {
  const assignments = new Map<number, AssignmentValue>();
  const owners = new Map<number, string>();
  for (const kv of (await admin.range(ks.shardsPrefix)).entries) {
    const m = /(\d+)\/(assignment|owner)$/.exec(kv.key);
    if (m === null) continue;
    if (m[2] === 'assignment') {
      const d = decodeValue(AssignmentValue, kv.value);
      if (d.ok) assignments.set(Number(m[1]), d.value);
    } else {
      const d = decodeValue(OwnerValue, kv.value);
      if (d.ok) owners.set(Number(m[1]), d.value.member);
    }
  }
  return { assignments, owners };
}

function converged(v: ClusterView, members: readonly string[]): boolean {
  const loads = new Map(members.map((m) => [m, 0]));
  for (let n = 0; n < SHARDS; n++) {
    const a = v.assignments.get(n);
    if (a === undefined || a.state !== 'active' || !loads.has(a.member) || v.owners.get(n) !== a.member) return false;
    loads.set(a.member, loads.get(a.member)! + 1);
  }
  return Math.max(...loads.values()) - Math.min(...loads.values()) <= 1;
}

/** Polls (one consistent range per poll) until `members` hold every shard evenly; checks owner == assignee at every poll. */
async function waitConverged(ks: Keyspace, members: readonly string[], timeoutMs = 30_000): Promise<ClusterView> {
  const until = Date.now() + timeoutMs;
  let last: ClusterView | undefined;
  while (Date.now() < until) {
    last = await view(ks);
    for (const [n, owner] of last.owners) {
      const a = last.assignments.get(n);
      if (a !== undefined) expect(`shard ${n} owner ${owner}`).toBe(`shard ${n} owner ${a.member}`);
    }
    if (converged(last, members)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not converged on ${members.join(', ')} within ${timeoutMs} ms: ${JSON.stringify(last === undefined ? null : [...last.assignments])}`);
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`not reached within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function newCluster(): Keyspace {
  return createKeyspace('default', `int-${process.pid}-${clusterSeq++}`);
}

function controller(ks: Keyspace, identity: string): { controller: ShardController; coord: Coordinator } {
  const coord = connect();
  const c = createShardController({
    coord,
    keyspace: ks,
    identity,
    desiredShardCount: SHARDS,
    maxConcurrentHandoffs: 1,
    rebalanceIntervalMs: 100,
    leaseTtlSeconds: TTL_SECONDS,
    logger: createSilentLogger(),
    registry: createRegistry({ defaultMetrics: false }),
  });
  cleanups.push(async () => {
    await c.stop();
    await coord.close();
  });
  return { controller: c, coord };
}

async function members(ks: Keyspace, ids: readonly string[]): Promise<FakeMember[]> {
  return Promise.all(
    ids.map(async (id) => {
      const coord = connect();
      const m = await startFakeMember({ coord, keyspace: ks, id, ttlSeconds: TTL_SECONDS });
      cleanups.push(async () => {
        m.freeze();
        await coord.close();
        expect(m.errors).toEqual([]);
      });
      return m;
    }),
  );
}

describe('shard controller (real etcd)', () => {
  it('converges three members to an even, owned assignment and reassigns a dead member’s shards', async () => {
    const ks = newCluster();
    const { controller: c } = controller(ks, 'ctl-0');
    await c.start();
    const [, , dead] = await members(ks, ['a', 'b', 'c']);
    const before = await waitConverged(ks, ['a', 'b', 'c']);
    expect(c.leading).toBe(true);
    const orphaned = [...before.assignments].filter(([, a]) => a.member === 'c').map(([n]) => n);
    expect(orphaned).toHaveLength(2);

    await dead!.kill(); // lease revoked: member key and owner keys go in one revision
    const after = await waitConverged(ks, ['a', 'b']);
    for (const n of orphaned) expect(after.assignments.get(n)!.generation).toBeGreaterThan(before.assignments.get(n)!.generation);
  });

  it('a standby controller takes over from a leader whose lease lapsed without resigning, and reassigns', async () => {
    const ks = newCluster();
    const one = controller(ks, 'ctl-1');
    await one.controller.start();
    await waitFor('ctl-1 leads', () => one.controller.leading);
    const two = controller(ks, 'ctl-2');
    await two.controller.start();
    const [dead] = await members(ks, ['a', 'b', 'c']);
    await waitConverged(ks, ['a', 'b', 'c']);
    expect(two.controller.leading).toBe(false);

    // The leader's connection dies: no keep-alives, no resign; etcd drops its lease after the TTL.
    await one.coord.close();
    await waitFor('ctl-2 leads', () => two.controller.leading, 15_000);
    expect(one.controller.leading).toBe(false);

    await dead!.kill();
    await waitConverged(ks, ['b', 'c']);
  });
});
