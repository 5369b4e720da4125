// The manifest transitions against a real etcd started by this test (DESIGN.md §11): the whole
// lifecycle with a watched view, etcd's 128-operations-per-txn limit (a job of MAX_JOB_INPUTS
// inputs plans and commits; one more is refused before anything is sent; etcd itself refuses a
// txn over the limit), and unknown outcomes provoked for real — a reply lost after etcd applied
// the txn (a TCP proxy drops it), and etcd hanging (SIGSTOP) mid-txn.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockValue, createEtcdCoordinator, createKeyspace, encodeValue, put, type Coordinator, type TxnRequest, type TxnResult } from '../../common/coord/index.js';
import { startEtcd, type EtcdServer } from '../../common/proc/index.js';
import {
  MAX_JOB_INPUTS,
  MAX_TXN_OPS,
  createManifestStore,
  decodeManifest,
  visibleBlocks,
  watchManifest,
  type ManifestOutcome,
  type ManifestStore,
  type ManifestView,
  type ObservedBlock,
} from './index.js';
import { blockMeta, hex32, observeBlock, observeJob, policyValue, seedOwner, seedPolicy } from './testing.js';

const ks = createKeyspace('int', 'manifest');
const kind = (o: ManifestOutcome): string => (o.kind === 'committed' ? (o.recovered ? 'committed (recovered)' : 'committed') : o.kind === 'conflict' || o.kind === 'fenced' ? `${o.kind}: ${o.reason}` : o.kind);

/** Counts the txns that reach the wrapped coordinator. */
class Counting implements Coordinator {
  txns = 0;
  constructor(readonly inner: Coordinator) {}
  get: Coordinator['get'] = (k) => this.inner.get(k);
  range: Coordinator['range'] = (p, o) => this.inner.range(p, o);
  grantLease: Coordinator['grantLease'] = (t, o) => this.inner.grantLease(t, o);
  watchPrefix: Coordinator['watchPrefix'] = (p, h) => this.inner.watchPrefix(p, h);
  now = (): number => this.inner.now();
  close = (): Promise<void> => this.inner.close();
  txn(request: TxnRequest): Promise<TxnResult> {
    this.txns++;
    return this.inner.txn(request);
  }
}

/** A TCP proxy in front of etcd that forwards the next request and drops every reply to it, then cuts the connection. */
async function startReplyDropper(targetPort: number): Promise<{ port: number; dropNextReply(ms: number): void; close(): Promise<void> }> {
  let armedMs: number | undefined;
  let dropping = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const kill = (): void => {
      for (const s of [client, upstream]) {
        s.destroy();
        sockets.delete(s);
      }
    };
    client.on('data', (data) => {
      upstream.write(data);
      if (armedMs !== undefined && !dropping) {
        dropping = true;
        const ms = armedMs;
        armedMs = undefined;
        setTimeout(() => {
          kill();
          dropping = false;
        }, ms);
      }
    });
    upstream.on('data', (data) => {
      if (!dropping) client.write(data);
    });
    client.on('error', kill).on('close', kill);
    upstream.on('error', kill).on('close', kill);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    dropNextReply: (ms) => (armedMs = ms),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('manifest store against etcd', () => {
  let server: EtcdServer;
  let admin: Coordinator;
  let counting: Counting;
  let manifest: ManifestStore;
  let paused = false;
  const clients: Coordinator[] = [];

  beforeAll(async () => {
    server = await startEtcd(); // throws (fails the suite) when the etcd binary is missing
    admin = createEtcdCoordinator({ endpoints: [server.endpoint], requestTimeoutMs: 5000 });
    counting = new Counting(createEtcdCoordinator({ endpoints: [server.endpoint], requestTimeoutMs: 5000 }));
    manifest = createManifestStore({ coord: counting, keyspace: ks });
    clients.push(admin, counting);
  });
  afterAll(async () => {
    if (paused) server.resume();
    for (const c of clients) await c.close();
    await server?.stop();
  });

  async function begun(m: ManifestStore, shard: number, token: number, blockId: string): Promise<number> {
    const o = await m.beginUpload({ shard, token, member: 'ing-0', blockId, tenant: 't1' });
    if (o.kind !== 'committed') throw new Error(kind(o));
    return o.revision;
  }

  it('the lifecycle: upload, flush, plan, claim, commit, expire, collect — and the watched view flips at the commit in one update', async () => {
    const shard = 1;
    const token = await seedOwner(admin, ks, shard, 'ing-0');
    const views: string[] = [];
    const visible = (v: ManifestView): string =>
      visibleBlocks(v.blocks.values())
        .filter((b) => b.shard === shard)
        .map((b) => b.blockId)
        .sort()
        .join(',');
    const watch = watchManifest(admin, ks, (v) => views.push(visible(v)));
    await watch.ready;

    for (const [id, end] of [
      ['a', 1_000],
      ['b', 2_000],
    ] as const) {
      const upload = await begun(manifest, shard, token, id);
      expect(kind(await manifest.flush({ shard, token, upload, member: 'ing-0', meta: blockMeta(shard, id, { minStartMs: 0, maxEndMs: end }) }))).toBe('committed');
    }
    const inputs = [(await observeBlock(admin, ks, shard, 'a'))!, (await observeBlock(admin, ks, shard, 'b'))!];
    expect(kind(await manifest.plan({ jobId: 'j1', output: 'ab', level: 1, windowStartMs: 0, windowEndMs: 10_000, inputs }))).toBe('committed');
    const lease = await admin.grantLease(10);
    const claimed = await manifest.claim({ job: (await observeJob(admin, ks, 'j1'))!, member: 'ing-1', lease: lease.id });
    if (claimed.kind !== 'committed') throw new Error(kind(claimed));
    const job = (await observeJob(admin, ks, 'j1'))!;
    expect(job.claim?.token).toBe(claimed.claim.token);
    const compacting = [(await observeBlock(admin, ks, shard, 'a'))!, (await observeBlock(admin, ks, shard, 'b'))!];
    expect(kind(await manifest.commit({ job, claim: claimed.claim, inputs: compacting, output: blockMeta(shard, 'ab', { level: 1, minStartMs: 0, maxEndMs: 2_000, spanCount: 20 }) }))).toBe('committed');
    expect(await observeJob(admin, ks, 'j1')).toBeUndefined();

    await seedPolicy(admin, ks, policyValue(1, 60_000));
    const read = await manifest.read();
    const output = [...read.blocks.values()].find((b) => b.blockId === 'ab')!;
    expect(kind(await manifest.expire({ block: output, policy: read.policy! }))).toBe('committed');
    const deleted: string[] = [];
    for (const b of (await manifest.read()).blocks.values()) {
      if (b.shard !== shard) continue;
      expect(kind(await manifest.collect({ block: b, graceMs: 0, deleteObjects: (x) => Promise.resolve(void deleted.push(x.blockId)) }))).toBe('committed');
    }
    expect(deleted.sort()).toEqual(['a', 'ab', 'b']);
    await lease.revoke();

    const deadline = Date.now() + 5000;
    while (views.at(-1) !== '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    watch.close();
    // snapshot, a, a+b, plan (still a,b), commit flips to the output alone, expire hides it; collects change no view.
    expect(views.filter((v, i) => i === 0 || v !== views[i - 1])).toEqual(['', 'a', 'a,b', 'ab', '']);
    expect(views).not.toContain('a,ab,b');
  });

  it(`a job of MAX_JOB_INPUTS = ${MAX_JOB_INPUTS} inputs plans and commits (${MAX_TXN_OPS} operations); one more is refused before sending; etcd refuses an oversized txn itself`, async () => {
    const shard = 2;
    const ids = Array.from({ length: MAX_JOB_INPUTS + 1 }, (_, i) => `in${String(i).padStart(3, '0')}`);
    const value = (id: string, i: number): BlockValue => ({
      state: 'live',
      meta: blockMeta(shard, id, { minTraceId: hex32(i + 1), maxTraceId: hex32(i + 2), minStartMs: i, maxEndMs: i + 10 }),
      createdAtMs: 0,
      stateChangedAtMs: 0,
    });
    for (let i = 0; i < ids.length; i += 100) {
      const r = await admin.txn({ compare: [], success: ids.slice(i, i + 100).map((id, j) => put(ks.block(shard, id), encodeValue(BlockValue, value(id, i + j)))) });
      expect(r.kind).toBe('committed');
    }
    const all = [...decodeManifest(ks, (await admin.range(ks.blocksPrefix(shard))).entries).blocks.values()].sort((a, b) => (a.blockId < b.blockId ? -1 : 1));
    expect(all.length).toBe(MAX_JOB_INPUTS + 1);

    const before = counting.txns;
    const tooMany = await manifest.plan({ jobId: 'big-1', output: 'big-out-1', level: 1, windowStartMs: 0, windowEndMs: 1, inputs: all });
    expect(tooMany).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/at most 124 inputs/) });
    expect(counting.txns).toBe(before); // refused before sending
    expect(await observeJob(admin, ks, 'big-1')).toBeUndefined();

    const inputs: ObservedBlock[] = all.slice(0, MAX_JOB_INPUTS);
    expect(kind(await manifest.plan({ jobId: 'big', output: 'big-out', level: 1, windowStartMs: 0, windowEndMs: 1, inputs }))).toBe('committed');
    const lease = await admin.grantLease(10);
    const claimed = await manifest.claim({ job: (await observeJob(admin, ks, 'big'))!, member: 'ing-1', lease: lease.id });
    if (claimed.kind !== 'committed') throw new Error(kind(claimed));
    const read = await manifest.readBlocks(shard, inputs.map((b) => b.blockId));
    if (!read.ok) throw new Error(read.corrupt.error);
    const output = blockMeta(shard, 'big-out', { level: 1, minTraceId: hex32(1), maxTraceId: hex32(MAX_JOB_INPUTS + 1), minStartMs: 0, maxEndMs: MAX_JOB_INPUTS + 9, spanCount: 10 * MAX_JOB_INPUTS });
    expect(kind(await manifest.commit({ job: (await observeJob(admin, ks, 'big'))!, claim: claimed.claim, inputs: read.blocks, output }))).toBe('committed');
    const after = decodeManifest(ks, (await admin.range(ks.blocksPrefix(shard))).entries);
    expect([...after.blocks.values()].filter((b) => b.value.state === 'compacted' && b.value.compactedInto === 'big-out').length).toBe(MAX_JOB_INPUTS);
    await lease.revoke();

    // The bound is etcd's, not ours: a txn one operation over it is refused (nothing applied).
    const oversized = Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => put(`/int/oversized/${i}`, 'x'));
    await expect(admin.txn({ compare: [], success: oversized })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await admin.range('/int/oversized/')).entries.length).toBe(0);
    await expect(admin.txn({ compare: [], success: oversized.slice(0, MAX_TXN_OPS) })).resolves.toMatchObject({ kind: 'committed' });
  });

  it('a flush whose reply was lost after etcd applied it is recovered by re-reading (unknown → committed)', async () => {
    const shard = 3;
    const proxy = await startReplyDropper(Number(new URL(server.endpoint).port));
    const viaProxy = createEtcdCoordinator({ endpoints: [`http://127.0.0.1:${proxy.port}`], requestTimeoutMs: 3000 });
    clients.push(viaProxy);
    try {
      const m = createManifestStore({ coord: viaProxy, keyspace: ks });
      const token = await seedOwner(admin, ks, shard, 'ing-0');
      const upload = await begun(m, shard, token, 'lost');
      proxy.dropNextReply(300);
      const o = await m.flush({ shard, token, upload, member: 'ing-0', meta: blockMeta(shard, 'lost') });
      expect(kind(o)).toBe('committed (recovered)');
      const block = (await observeBlock(admin, ks, shard, 'lost'))!;
      expect([block.value.state, block.modRevision === block.createRevision, o.kind === 'committed' && o.revision]).toEqual(['live', true, block.createRevision]);
      expect((await admin.get(ks.upload(shard, 'lost'))).kv).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it('a flush sent while etcd hangs (SIGSTOP) is unknown; after etcd resumes, re-sending it commits exactly once', async () => {
    const shard = 4;
    const short = createEtcdCoordinator({ endpoints: [server.endpoint], requestTimeoutMs: 500, dialTimeoutMs: 1000 });
    clients.push(short);
    const m = createManifestStore({ coord: short, keyspace: ks });
    const token = await seedOwner(admin, ks, shard, 'ing-0');
    const upload = await begun(m, shard, token, 'hung');
    const p = { shard, token, upload, member: 'ing-0', meta: blockMeta(shard, 'hung') };
    server.pause();
    paused = true;
    let first: ManifestOutcome;
    try {
      first = await m.flush(p);
    } finally {
      server.resume();
      paused = false;
    }
    expect(first).toMatchObject({ kind: 'unknown', message: expect.stringMatching(/re-read failed too/) });
    // Whether etcd applied the first request when it woke up or not, re-sending is safe and settles it.
    let outcome: ManifestOutcome = first;
    for (let i = 0; i < 20 && outcome.kind === 'unknown'; i++) {
      outcome = await m.flush(p);
      if (outcome.kind === 'unknown') await new Promise((r) => setTimeout(r, 100));
    }
    expect(['committed', 'committed (recovered)']).toContain(kind(outcome));
    const block = (await observeBlock(admin, ks, shard, 'hung'))!;
    expect(block.modRevision).toBe(block.createRevision); // one write, however many sends
  });
});
