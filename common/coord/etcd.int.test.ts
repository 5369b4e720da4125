// The conformance suite against a real etcd server started by this test (DESIGN.md §11), plus the
// etcd3-specific pitfalls that only a real client/server pair can show.
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ifAbsent, put, valueText, type Coordinator } from './coordinator.js';
import { createEtcdCoordinator } from './etcd.js';
import { describeCoordinatorConformance, WatchMirror } from './testing/conformance.js';
import { startEtcd, type EtcdServer } from './testing/etcd-server.js';
import { startTcpProxy, type TcpProxy } from './testing/tcp-proxy.js';

describeCoordinatorConformance('etcd', async () => {
  const server = await startEtcd(); // throws (fails the suite) when the etcd binary is missing
  const clients: Coordinator[] = [];
  return {
    connect: () => {
      const c = createEtcdCoordinator({ endpoints: [server.endpoint], requestTimeoutMs: 1000, dialTimeoutMs: 2000 });
      clients.push(c);
      return c;
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    pause: () => server.pause(),
    resume: () => server.resume(),
    restart: () => server.restart(),
    ttlSeconds: 1,
    close: async () => {
      for (const c of clients) await c.close();
      await server.stop();
    },
  };
});

describe('etcd coordinator: etcd3 pitfalls', () => {
  let server: EtcdServer;
  let proxy: TcpProxy;
  let direct: Coordinator;
  let viaProxy: Coordinator;

  beforeAll(async () => {
    server = await startEtcd();
    proxy = await startTcpProxy(Number(new URL(server.endpoint).port));
    direct = createEtcdCoordinator({ endpoints: [server.endpoint], requestTimeoutMs: 2000 });
    viaProxy = createEtcdCoordinator({ endpoints: [`http://127.0.0.1:${proxy.port}`], requestTimeoutMs: 2000 });
  });
  afterAll(async () => {
    await viaProxy?.close();
    await direct?.close();
    await proxy?.close();
    await server?.stop();
  });

  it('a CAS whose reply is lost is reported unknown, not re-sent (a re-send would report it rejected)', async () => {
    const key = '/pitfall/owner';
    expect((await viaProxy.get('/pitfall/warm-up')).kv).toBeUndefined(); // the channel is connected and idle
    proxy.loseNextReply(300);
    const result = await viaProxy.txn({ compare: [ifAbsent(key)], success: [put(key, 'me')] });
    expect(result.kind).toBe('unknown');
    // It WAS applied: exactly the case in which etcd3's default retry(3) would have re-sent the
    // create-if-absent and answered "compare failed" to the writer that actually won.
    const kv = (await direct.get(key)).kv;
    expect(kv === undefined ? undefined : [valueText(kv), kv.version]).toEqual(['me', 1]);
    // The client recovers for the next call.
    expect((await viaProxy.get(key)).kv?.createRevision).toBe(kv!.createRevision);
  });

  it('closing one watch or lease stream disturbs no other call on the same client', async () => {
    // etcd3 treats a cancelled stream as a host failure (markFailed → resetAllServices); this checks
    // that concurrent txns and an unrelated watch survive our own stream cancellations.
    const mirror = new WatchMirror();
    const watch = direct.watchPrefix('/streams/a/', mirror.handler);
    await watch.ready;
    const kinds: string[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) kinds.push((await direct.txn({ compare: [], success: [put(`/streams/a/${i % 10}`, String(i))] })).kind);
    })();
    for (let i = 0; i < 5; i++) {
      const other = direct.watchPrefix('/streams/b/', () => {});
      await other.ready;
      other.close();
      const lease = await direct.grantLease(1);
      await new Promise((r) => setTimeout(r, 100));
      lease.abandon();
    }
    stop = true;
    await writer;
    watch.close();
    expect(kinds.length).toBeGreaterThan(10);
    expect(kinds.filter((k) => k !== 'committed')).toEqual([]);
    expect([mirror.disconnects, mirror.snapshots]).toEqual([0, 1]);
  });

  it('a watch whose start revision was compacted re-lists instead of losing events', async () => {
    const admin = new Etcd3({ hosts: server.endpoint });
    let gapTaken = false;
    const c = createEtcdCoordinator({
      endpoints: [server.endpoint],
      // Between the first snapshot and its watch stream: change the prefix, then compact past the
      // snapshot, so the stream's start revision no longer exists.
      beforeWatchStream: async () => {
        if (gapTaken) return;
        gapTaken = true;
        await direct.txn({ compare: [], success: [put('/compact/in-gap', '1')] });
        const last = await direct.txn({ compare: [], success: [put('/compact/in-gap-2', '1')] });
        if (last.kind !== 'committed') throw new Error('setup write failed');
        await admin.kv.compact({ revision: last.revision, physical: true });
      },
    });
    try {
      await direct.txn({ compare: [], success: [put('/compact/before', '1')] });
      const mirror = new WatchMirror();
      const watch = c.watchPrefix('/compact/', mirror.handler);
      await watch.ready;
      const deadline = Date.now() + 5000;
      while (mirror.snapshots < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(gapTaken).toBe(true);
      expect(mirror.snapshots).toBe(2);
      const after = await direct.txn({ compare: [], success: [put('/compact/after', '1')] });
      while (after.kind === 'committed' && mirror.lastRevision < after.revision && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(mirror.violations).toEqual([]);
      expect([...mirror.state.keys()].sort()).toEqual(['/compact/after', '/compact/before', '/compact/in-gap', '/compact/in-gap-2']);
      watch.close();
    } finally {
      await c.close();
      admin.close();
    }
  });
});
