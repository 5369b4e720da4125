// The executor on the memory twin with a fault wrapper: a txn whose reply is lost (applied, answer
// `unknown`) or whose request is lost (not applied, answer `unknown`), with other actors moving the
// manifest on between the lost answer and the re-read; and the watched view queriers use.
import { describe, expect, it } from 'vitest';
import { MemoryStore, createKeyspace, put, type BlockValue, type Coordinator, type TxnRequest, type TxnResult } from '../../common/coord/index.js';
import { SkeinError } from '../../common/errors/index.js';
import { createManifestStore, visibleBlocks, watchManifest, type ManifestOutcome, type ManifestStore, type ManifestView } from './index.js';
import { blockMeta, observeBlock, observeJob, policyValue, seedBlock, seedOwner, seedPolicy } from './testing.js';

const ks = createKeyspace('unit', 'store');
const NOW = 1_700_000_000_000;

type Fault = 'reply-lost' | 'request-lost' | 'invalid-argument';

/** Delegates to a memory client; the next txn (only) suffers `fault`, then `between` runs before anything else is sent. */
class FaultyCoordinator implements Coordinator {
  fault: Fault | undefined;
  between: (() => Promise<void>) | undefined;
  sent = 0;
  constructor(
    readonly store: MemoryStore,
    readonly inner: Coordinator = store.connect(),
  ) {}
  get: Coordinator['get'] = (k) => this.inner.get(k);
  range: Coordinator['range'] = (p, o) => this.inner.range(p, o);
  grantLease: Coordinator['grantLease'] = (t, o) => this.inner.grantLease(t, o);
  watchPrefix: Coordinator['watchPrefix'] = (p, h) => this.inner.watchPrefix(p, h);
  now = (): number => this.inner.now();
  close = (): Promise<void> => this.inner.close();
  async txn(request: TxnRequest): Promise<TxnResult> {
    this.sent++;
    const fault = this.fault;
    this.fault = undefined;
    if (fault === 'invalid-argument') throw new SkeinError('INVALID_ARGUMENT', 'etcdserver: too many operations in txn request');
    if (fault === undefined) return this.inner.txn(request);
    if (fault === 'reply-lost') await this.inner.txn(request);
    const between = this.between;
    this.between = undefined;
    await between?.();
    return { kind: 'unknown', error: new Error(`simulated: ${fault}`) };
  }
}

function setup() {
  const store = new MemoryStore();
  const coord = new FaultyCoordinator(store);
  const admin = store.connect();
  const manifest = createManifestStore({ coord, keyspace: ks, wallClock: () => NOW });
  const other = createManifestStore({ coord: admin, keyspace: ks, wallClock: () => NOW + 1 });
  return { store, coord, admin, manifest, other };
}

async function begin(manifest: ManifestStore, token: number, blockId = 'b1'): Promise<number> {
  const o = await manifest.beginUpload({ shard: 0, token, member: 'ing-0', blockId, tenant: 't1' });
  if (o.kind !== 'committed') throw new Error(o.kind);
  return o.revision;
}

const kind = (o: ManifestOutcome): string => (o.kind === 'committed' ? (o.recovered ? 'committed (recovered)' : 'committed') : o.kind === 'conflict' || o.kind === 'fenced' ? `${o.kind}: ${o.reason}` : o.kind);
const live = (id: string, over: Parameters<typeof blockMeta>[2] = {}): BlockValue => ({ state: 'live', meta: blockMeta(0, id, over), createdAtMs: 0, stateChangedAtMs: 0 });

describe('manifest store: unknown outcomes are resolved by re-reading', () => {
  it.each<[string, Fault, boolean, string, string]>([
    ['reply lost: applied, recognised by its id and token', 'reply-lost', false, 'committed (recovered)', 'committed (recovered)'],
    ['request lost: not applied yet, guards still pass → unknown; the re-send commits', 'request-lost', false, 'unknown', 'committed'],
    ['reply lost and re-sent anyway: the rejected twin is recognised', 'reply-lost', true, 'committed (recovered)', 'committed (recovered)'],
  ])('flush, %s', async (_name, fault, _resend, first, second) => {
    const { coord, admin, manifest } = setup();
    const token = await seedOwner(admin, ks, 0, 'ing-0');
    const p = { shard: 0, token, upload: await begin(manifest, token), member: 'ing-0', meta: blockMeta(0, 'b1') };
    coord.fault = fault;
    const o1 = await manifest.flush(p);
    expect(kind(o1)).toBe(first);
    const o2 = await manifest.flush(p);
    expect(kind(o2)).toBe(second);
    const block = (await observeBlock(admin, ks, 0, 'b1'))!;
    expect(block.modRevision).toBe(block.createRevision); // written exactly once
    for (const o of [o1, o2]) if (o.kind === 'committed') expect(o.revision).toBe(block.createRevision);
    if (o1.kind === 'unknown') expect(o1.message).toMatch(/re-sending it is safe/);
  });

  it('begin-upload and orphan-upload whose replies were lost are recognised (the intent, then its orphan)', async () => {
    const { coord, admin, manifest } = setup();
    const token = await seedOwner(admin, ks, 0, 'ing-0');
    coord.fault = 'reply-lost';
    const begun = await manifest.beginUpload({ shard: 0, token, member: 'ing-0', blockId: 'b1', tenant: 't1' });
    const kv = (await admin.get(ks.upload(0, 'b1'))).kv!;
    expect(begun).toEqual({ kind: 'committed', revision: kv.createRevision, recovered: true });
    const upload = (await manifest.read()).uploads.get(ks.upload(0, 'b1'))!;
    coord.fault = 'reply-lost';
    expect(kind(await manifest.orphanUpload({ upload, why: { kind: 'given-up' } }))).toBe('committed (recovered)');
    expect([(await admin.get(ks.upload(0, 'b1'))).kv, (await admin.get(ks.orphan(0, 'b1'))).kv?.version]).toEqual([undefined, 1]);
    // …and the flush that needed the intent can never pass now.
    expect(kind(await manifest.flush({ shard: 0, token, upload: kv.createRevision, member: 'ing-0', meta: blockMeta(0, 'b1') }))).toBe('conflict: upload-gone');
  });

  it('request lost and the owner lost the shard before the re-read: fenced, final', async () => {
    const { store, coord, admin, manifest } = setup();
    const lease = store.grantLease(60).id;
    const token = await seedOwner(admin, ks, 0, 'ing-0', lease);
    const upload = await begin(manifest, token);
    coord.fault = 'request-lost';
    coord.between = async () => {
      store.revokeLease(lease);
      await seedOwner(admin, ks, 0, 'ing-1');
    };
    expect(kind(await manifest.flush({ shard: 0, token, upload, member: 'ing-0', meta: blockMeta(0, 'b1') }))).toBe('fenced: owner-token');
    expect(await observeBlock(admin, ks, 0, 'b1')).toBeUndefined();
  });

  it('the re-read fails too: unknown, with both reasons', async () => {
    const { store, coord, admin, manifest } = setup();
    const token = await seedOwner(admin, ks, 0, 'ing-0');
    const upload = await begin(manifest, token);
    coord.fault = 'reply-lost';
    coord.between = () => Promise.resolve(store.setReachable(false));
    const o = await manifest.flush({ shard: 0, token, upload, member: 'ing-0', meta: blockMeta(0, 'b1') });
    expect(o).toMatchObject({ kind: 'unknown', message: expect.stringMatching(/re-read failed too/) });
    store.setReachable(true);
    expect(kind(await manifest.flush({ shard: 0, token, upload, member: 'ing-0', meta: blockMeta(0, 'b1') }))).toBe('committed (recovered)');
  });

  it('a value that no longer parses at the re-read is reported as corrupt, not as absent', async () => {
    const { coord, admin, manifest } = setup();
    const token = await seedOwner(admin, ks, 0, 'ing-0');
    const upload = await begin(manifest, token);
    coord.fault = 'reply-lost';
    coord.between = async () => void (await admin.txn({ compare: [], success: [put(ks.block(0, 'b1'), '{"state":"liv')] }));
    expect(await manifest.flush({ shard: 0, token, upload, member: 'ing-0', meta: blockMeta(0, 'b1') })).toMatchObject({ kind: 'corrupt', key: ks.block(0, 'b1') });
  });

  it('etcd refusing the request as malformed is invalid (nothing applied)', async () => {
    const { coord, admin, manifest } = setup();
    const token = await seedOwner(admin, ks, 0, 'ing-0');
    const upload = await begin(manifest, token);
    coord.fault = 'invalid-argument';
    expect(await manifest.flush({ shard: 0, token, upload, member: 'ing-0', meta: blockMeta(0, 'b1') })).toMatchObject({ kind: 'invalid', reason: /too many operations/ });
  });

  async function plannedAndClaimed(s: ReturnType<typeof setup>, lease: string) {
    const inputs = [await seedBlock(s.admin, ks, live('a', { maxEndMs: 2000 })), await seedBlock(s.admin, ks, live('b'))];
    expect((await s.other.plan({ jobId: 'j1', output: 'o1', level: 1, windowStartMs: 0, windowEndMs: 1, inputs })).kind).toBe('committed');
    const claimed = await s.other.claim({ job: (await observeJob(s.admin, ks, 'j1'))!, member: 'ing-9', lease });
    if (claimed.kind !== 'committed') throw new Error(claimed.kind);
    return claimed.claim;
  }

  it.each<[string, 'nothing' | 'commit' | 'abandon']>([
    ['still there', 'nothing'],
    ['committed and gone (recognised by its output)', 'commit'],
    ['abandoned and gone (recognised by its orphan record)', 'abandon'],
  ])('plan whose reply was lost, the job by the re-read: %s', async (_name, meanwhile) => {
    const s = setup();
    const inputs = [await seedBlock(s.admin, ks, live('a')), await seedBlock(s.admin, ks, live('b'))];
    s.coord.fault = 'reply-lost';
    // Between the lost reply and the re-read, a holder and the controller move OUR job on.
    s.coord.between = async () => {
      const job = await observeJob(s.admin, ks, 'j1');
      if (job === undefined) throw new Error('reply-lost plan did not apply');
      if (meanwhile === 'nothing') return;
      const lease = s.store.grantLease(60).id;
      const claimed = await s.other.claim({ job, member: 'ing-9', lease });
      if (claimed.kind !== 'committed') throw new Error(claimed.kind);
      const ins = [(await observeBlock(s.admin, ks, 0, 'a'))!, (await observeBlock(s.admin, ks, 0, 'b'))!];
      const now = (await observeJob(s.admin, ks, 'j1'))!;
      if (meanwhile === 'commit') {
        expect(kind(await s.other.commit({ job: now, claim: claimed.claim, inputs: ins, output: blockMeta(0, 'o1', { level: 1, spanCount: 12 }) }))).toBe('committed');
      } else {
        s.store.revokeLease(lease);
        expect(kind(await s.other.abandon({ job: (await observeJob(s.admin, ks, 'j1'))!, inputs: ins, unclaimedTimeoutMs: 0 }))).toBe('committed');
      }
      expect(await observeJob(s.admin, ks, 'j1')).toBeUndefined();
    };
    expect(kind(await s.manifest.plan({ jobId: 'j1', output: 'o1', level: 1, windowStartMs: 0, windowEndMs: 1, inputs }))).toBe('committed (recovered)');
  });

  it('claim whose reply was lost: recovered with the claim key\'s create revision as the token — even after the lease lapsed', async () => {
    for (const lapse of [false, true]) {
      const s = setup();
      const inputs = [await seedBlock(s.admin, ks, live('a')), await seedBlock(s.admin, ks, live('b'))];
      expect((await s.other.plan({ jobId: 'j1', output: 'o1', level: 1, windowStartMs: 0, windowEndMs: 1, inputs })).kind).toBe('committed');
      const lease = s.store.grantLease(60).id;
      let token = 0;
      s.coord.fault = 'reply-lost';
      s.coord.between = async () => {
        token = (await observeJob(s.admin, ks, 'j1'))!.claim!.token;
        if (lapse) s.store.revokeLease(lease);
      };
      const o = await s.manifest.claim({ job: (await observeJob(s.admin, ks, 'j1'))!, member: 'ing-2', lease });
      expect(o).toMatchObject({ kind: 'committed', recovered: true, claim: { jobId: 'j1', member: 'ing-2', lease, token } });
      if (o.kind !== 'committed') continue;
      const job = (await observeJob(s.admin, ks, 'j1'))!;
      const ins = [(await observeBlock(s.admin, ks, 0, 'a'))!, (await observeBlock(s.admin, ks, 0, 'b'))!];
      // With the claim in hand the holder commits; with the lease gone it is fenced.
      expect(kind(await s.manifest.commit({ job, claim: o.claim, inputs: ins, output: blockMeta(0, 'o1', { level: 1, spanCount: 12 }) }))).toBe(lapse ? 'fenced: claim-token' : 'committed');
    }
  });

  it.each<[string, Fault]>([
    ['reply lost', 'reply-lost'],
    ['request lost', 'request-lost'],
  ])('commit, expire and collect resolve a %s', async (_name, fault) => {
    const s = setup();
    const claim = await plannedAndClaimed(s, s.store.grantLease(60).id);
    const job = (await observeJob(s.admin, ks, 'j1'))!;
    const ins = [(await observeBlock(s.admin, ks, 0, 'a'))!, (await observeBlock(s.admin, ks, 0, 'b'))!];
    const want = fault === 'reply-lost' ? 'committed (recovered)' : 'unknown';
    s.coord.fault = fault;
    expect(kind(await s.manifest.commit({ job, claim, inputs: ins, output: blockMeta(0, 'o1', { level: 1, spanCount: 12 }) }))).toBe(want);
    if (fault === 'request-lost') expect(kind(await s.manifest.commit({ job, claim, inputs: ins, output: blockMeta(0, 'o1', { level: 1, spanCount: 12 }) }))).toBe('committed');

    await seedPolicy(s.admin, ks, policyValue(1, 1000));
    const policy = (await s.manifest.read()).policy!;
    s.coord.fault = fault;
    const output = (await observeBlock(s.admin, ks, 0, 'o1'))!;
    expect(kind(await s.manifest.expire({ block: output, policy }))).toBe(want);
    if (fault === 'request-lost') expect(kind(await s.manifest.expire({ block: output, policy }))).toBe('committed');

    s.coord.fault = fault;
    const expired = (await observeBlock(s.admin, ks, 0, 'o1'))!;
    const deleted: string[] = [];
    const collect = () => s.manifest.collect({ block: expired, graceMs: 0, deleteObjects: (b) => Promise.resolve(void deleted.push(b.blockId)) });
    expect(kind(await collect())).toBe(want);
    if (fault === 'request-lost') expect(kind(await collect())).toBe('committed');
    expect(await observeBlock(s.admin, ks, 0, 'o1')).toBeUndefined();
    expect(new Set(deleted)).toEqual(new Set(['o1']));
  });
});

describe('watchManifest', () => {
  it('snapshot then events; a compaction commit flips in one update; corrupt values are reported, not read; views are immutable', async () => {
    const store = new MemoryStore();
    const admin = store.connect();
    const manifest = createManifestStore({ coord: admin, keyspace: ks, wallClock: () => NOW });
    await seedBlock(admin, ks, live('a'));
    const views: ManifestView[] = [];
    const disconnects: string[] = [];
    const watch = watchManifest(store.connect(), ks, (v) => views.push(v), { onDisconnected: (e) => disconnects.push(e.message) });
    await watch.ready;
    const visible = (v: ManifestView): string => visibleBlocks(v.blocks.values()).map((b) => b.blockId).sort().join(',');
    const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

    await seedBlock(admin, ks, live('b'));
    const inputs = [(await observeBlock(admin, ks, 0, 'a'))!, (await observeBlock(admin, ks, 0, 'b'))!];
    expect((await manifest.plan({ jobId: 'j', output: 'o', level: 1, windowStartMs: 0, windowEndMs: 1, inputs })).kind).toBe('committed');
    const claimed = await manifest.claim({ job: (await observeJob(admin, ks, 'j'))!, member: 'm', lease: store.grantLease(60).id });
    if (claimed.kind !== 'committed') throw new Error(claimed.kind);
    const ins = [(await observeBlock(admin, ks, 0, 'a'))!, (await observeBlock(admin, ks, 0, 'b'))!];
    expect((await manifest.commit({ job: (await observeJob(admin, ks, 'j'))!, claim: claimed.claim, inputs: ins, output: blockMeta(0, 'o', { level: 1, spanCount: 20 }) })).kind).toBe('committed');
    await admin.txn({ compare: [], success: [put(ks.block(0, 'bad'), 'nope')] });
    await settle();

    expect(views.map(visible)).toEqual(['a', 'a,b', 'a,b', 'o', 'o']);
    const last = views.at(-1)!;
    expect(last.corrupt.get(ks.block(0, 'bad'))).toMatch(/not JSON/);
    expect(last.blocks.has(ks.block(0, 'bad'))).toBe(false);
    expect(visible(views[1]!)).toBe('a,b'); // an earlier view did not change under its reader
    expect(watch.view()).toBe(last);

    store.setReachable(false);
    await settle();
    expect(disconnects.length).toBe(1);
    await admin.close();
    watch.close();
  });
});
