// Table-driven tests of the manifest state machine: the transition table, and each builder from a
// seeded state on the memory coordinator — refused before sending, committed (asserting the
// resulting keys), or rejected with the reason its guards give.
import { describe, expect, it } from 'vitest';
import { BlockValue, JobValue, MemoryStore, UploadValue, createKeyspace, encodeValue, put, type BlockState, type Coordinator, type KeyValue } from '../../common/coord/index.js';
import {
  BLOCK_TRANSITIONS,
  MAX_JOB_INPUTS,
  MAX_TXN_OPS,
  buildCommitTxn,
  buildPlanTxn,
  computeOrphanSweep,
  decodeManifest,
  evaluateCompare,
  isAllowedTransition,
  parseManifestKey,
  txnOpCount,
  visibleBlocks,
  createManifestStore,
  type BlockPhase,
  type ManifestOutcome,
  type ManifestStore,
  type ObservedBlock,
  type Transition,
} from './index.js';
import { blockMeta, hex32, observeBlock, observeJob, observeOrphan, policyValue, seedBlock, seedJob, seedOwner, seedPolicy } from './testing.js';

const ks = createKeyspace('unit', 'c1');
const NOW = 1_700_000_000_000;

interface World {
  store: MemoryStore;
  coord: Coordinator;
  manifest: ManifestStore;
  wall: { now: number };
}

function world(): World {
  const store = new MemoryStore();
  const coord = store.connect();
  const wall = { now: NOW };
  return { store, coord, wall, manifest: createManifestStore({ coord, keyspace: ks, wallClock: () => wall.now }) };
}

const live = (shard: number, id: string, over: Parameters<typeof blockMeta>[2] = {}): BlockValue => ({ state: 'live', meta: blockMeta(shard, id, over), createdAtMs: NOW - 10, stateChangedAtMs: NOW - 10 });

function summary(o: ManifestOutcome): string {
  switch (o.kind) {
    case 'committed':
      return o.recovered ? 'committed (recovered)' : 'committed';
    case 'conflict':
    case 'fenced':
      return `${o.kind}: ${o.reason}`;
    case 'invalid':
      return `invalid: ${o.reason}`;
    case 'unknown':
      return `unknown: ${o.message}`;
    case 'corrupt':
      return `corrupt: ${o.key}`;
  }
}

async function states(w: World): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const kv of (await w.coord.range(ks.root)).entries) {
    const rest = kv.key.slice(ks.root.length);
    if (rest.startsWith('blocks/')) {
      const v = JSON.parse(new TextDecoder().decode(kv.value)) as BlockValue;
      out[rest] = v.state + (v.job === undefined ? '' : `(${v.job})`) + (v.compactedInto === undefined ? '' : `→${v.compactedInto}`);
    } else if (!rest.startsWith('shards/') && rest !== 'policy') out[rest] = kv.lease === undefined ? 'present' : 'present (leased)';
  }
  return out;
}

describe('block transition table', () => {
  const phases: BlockPhase[] = ['absent', 'live', 'compacting', 'compacted', 'expired', 'deleted'];
  const allowed = new Set(['absent→live', 'live→compacting', 'compacting→compacted', 'compacting→live', 'live→expired', 'compacted→deleted', 'expired→deleted']);
  it.each(phases.flatMap((from) => phases.map((to) => [from, to] as const)))('%s → %s', (from, to) => {
    expect(isAllowedTransition(from, to)).toBe(allowed.has(`${from}→${to}`));
  });
  it.each([
    ['absent', 'live', 'flush', true],
    ['absent', 'live', 'commit', true],
    ['absent', 'live', 'plan', false],
    ['compacting', 'live', 'abandon', true],
    ['compacting', 'live', 'commit', false],
    ['live', 'expired', 'expire', true],
    ['compacting', 'expired', 'expire', false],
    ['compacted', 'deleted', 'collect', true],
  ] as Array<[BlockPhase, BlockPhase, Transition, boolean]>)('%s → %s by %s: %s', (from, to, by, want) => {
    expect(isAllowedTransition(from, to, by)).toBe(want);
  });
  it('names an actor for every rule', () => expect(BLOCK_TRANSITIONS.every((r) => r.actor.length > 0)).toBe(true));

  it.each([
    ['live', true],
    ['compacting', true],
    ['compacted', false],
    ['expired', false],
  ] as Array<[BlockState, boolean]>)('a %s block is visible to queries: %s', (state, visible) => {
    const v: BlockValue = { ...live(0, 'b'), state, ...(state === 'compacting' ? { job: 'j' } : {}), ...(state === 'compacted' ? { compactedInto: 'o' } : {}) };
    expect(visibleBlocks([{ value: v }]).length).toBe(visible ? 1 : 0);
  });
});

describe('keys and values', () => {
  it.each([
    [ks.block(3, '01HX'), { kind: 'block', shard: 3, blockId: '01HX' }],
    [ks.job('j-1'), { kind: 'job', id: 'j-1' }],
    [ks.jobClaim('j-1'), { kind: 'claim', id: 'j-1' }],
    [ks.orphan(0, 'b.1'), { kind: 'orphan', shard: 0, blockId: 'b.1' }],
    [ks.policy, { kind: 'policy' }],
    [`${ks.root}blocks/x/01HX`, { kind: 'other' }],
    [`${ks.root}blocks/01/01HX`, { kind: 'other' }],
    [`${ks.root}jobs/j/other`, { kind: 'other' }],
    ['/skein/unit/c2/blocks/1/b', { kind: 'other' }],
  ])('%s', (key, want) => expect(parseManifestKey(ks, key)).toEqual(want));

  it('keys: claims sit under their job, orphans per shard', () => {
    expect(ks.jobClaim('j1')).toBe('/skein/unit/c1/jobs/j1/claim');
    expect(ks.orphan(2, 'b')).toBe('/skein/unit/c1/orphans/2/b');
    expect(ks.block(2, 'b').startsWith(ks.blocksRoot)).toBe(true);
  });

  const kv = (key: string, value: unknown, lease?: string): KeyValue => ({ key, value: new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value)), createRevision: 5, modRevision: 6, version: 2, lease });
  it('decodeManifest reports what does not parse instead of dropping it silently', () => {
    const good = live(1, 'good');
    const state = decodeManifest(ks, [
      kv(ks.block(1, 'good'), good),
      kv(ks.block(1, 'garbled'), '{"state":'),
      kv(ks.block(1, 'upper'), live(1, 'upper', { minTraceId: 'A'.repeat(32) })),
      kv(ks.block(2, 'moved'), live(1, 'moved')), // meta says shard 1, key says shard 2
      kv(ks.block(1, 'nojob'), { ...good, meta: blockMeta(1, 'nojob'), state: 'compacting' }),
      kv(ks.jobClaim('lonely'), { member: 'm', claimedAtMs: 1 }, '7'),
      kv(ks.policy, policyValue(3, 1000)),
      kv(ks.owner(1), { member: 'm', address: 'a' }),
    ]);
    expect([...state.blocks.keys()]).toEqual([ks.block(1, 'good')]);
    expect(state.policy?.value.version).toBe(3);
    expect(state.corrupt.map((c) => c.key).sort()).toEqual([ks.block(1, 'garbled'), ks.block(1, 'nojob'), ks.block(1, 'upper'), ks.block(2, 'moved'), ks.jobClaim('lonely')].sort());
    expect(state.corrupt.find((c) => c.key === ks.block(2, 'moved'))?.error).toMatch(/meta names block 1\/moved/);
  });

  it.each([
    ['missing key, createRevision == 0', { key: 'k', target: 'createRevision', op: '==', value: 0 }, undefined, true],
    ['missing key, value == ""', { key: 'k', target: 'value', op: '==', value: '' }, undefined, false],
    ['missing key, lease == none', { key: 'k', target: 'lease', op: '==', value: undefined }, undefined, true],
    ['modRevision ==', { key: 'k', target: 'modRevision', op: '==', value: 6 }, kv('k', 1), true],
    ['modRevision <', { key: 'k', target: 'modRevision', op: '<', value: 6 }, kv('k', 1), false],
    ['lease == 7', { key: 'k', target: 'lease', op: '==', value: '7' }, kv('k', 1, '7'), true],
    ['value !=', { key: 'k', target: 'value', op: '!=', value: '2' }, kv('k', 1), true],
  ] as const)('evaluateCompare: %s', (_name, compare, current, want) => {
    expect(evaluateCompare(compare, current)).toBe(want);
  });
});

describe('begin upload, flush, orphan upload (shard owner, fenced by its token)', () => {
  const current = (w: World): Promise<number> => seedOwner(w.coord, ks, 0, 'ing-0');
  async function stale(w: World): Promise<number> {
    const old = await seedOwner(w.coord, ks, 0, 'ing-0');
    await w.coord.txn({ compare: [], success: [{ op: 'delete', key: ks.owner(0) }] });
    await seedOwner(w.coord, ks, 0, 'ing-1');
    return old;
  }
  async function begun(w: World, token: number, blockId = 'b1'): Promise<number> {
    const o = await w.manifest.beginUpload({ shard: 0, token, member: 'ing-0', blockId, tenant: 't1' });
    if (o.kind !== 'committed') throw new Error(summary(o));
    return o.revision;
  }

  it.each<[string, (w: World) => Promise<number>, string, Record<string, string>]>([
    ['the current owner records its intent before any object', current, 'committed', { 'uploads/0/b1': 'present' }],
    ['a stale owner is fenced', stale, 'fenced: owner-token', {}],
    ['without any owner key it is fenced', () => Promise.resolve(42), 'fenced: owner-token', {}],
    ['a block id that exists is a conflict', async (w) => (await seedBlock(w.coord, ks, live(0, 'b1')), current(w)), 'conflict: block-exists', { 'blocks/0/b1': 'live' }],
    [
      'a block id recorded as an orphan is a conflict',
      async (w) => (await w.manifest.recordOrphan({ shard: 0, blockId: 'b1', tenant: 't1', reason: 'unreferenced' }), current(w)),
      'conflict: block-orphaned',
      { 'orphans/0/b1': 'present' },
    ],
    [
      'an id another writer is uploading is a conflict (the same writer re-sending is recognised instead)',
      async (w) => {
        await w.coord.txn({ compare: [], success: [put(ks.upload(0, 'b1'), encodeValue(UploadValue, { member: 'ing-9', token: 1, tenant: 't1', startedAtMs: 0 }))] });
        return current(w);
      },
      'conflict: upload-exists',
      { 'uploads/0/b1': 'present' },
    ],
  ])('begin upload: %s', async (_name, setup, want, keys) => {
    const w = world();
    const token = await setup(w);
    expect(summary(await w.manifest.beginUpload({ shard: 0, token, member: 'ing-0', blockId: 'b1', tenant: 't1' }))).toBe(want);
    expect(await states(w)).toEqual(keys);
  });

  type Flush = { token: number; upload: number };
  it.each<[string, (w: World) => Promise<Flush>, Parameters<typeof blockMeta>[2], string, Record<string, string>]>([
    ['the current owner commits its block, consuming the intent', async (w) => { const token = await current(w); return { token, upload: await begun(w, token) }; }, {}, 'committed', { 'blocks/0/b1': 'live' }],
    [
      'an owner that lost the shard after it began is fenced',
      async (w) => {
        const token = await current(w);
        const upload = await begun(w, token);
        await w.coord.txn({ compare: [], success: [{ op: 'delete', key: ks.owner(0) }] });
        await seedOwner(w.coord, ks, 0, 'ing-1');
        return { token, upload };
      },
      {},
      'fenced: owner-token',
      { 'uploads/0/b1': 'present' },
    ],
    [
      'an upload the controller turned into an orphan can never be flushed',
      async (w) => {
        const token = await current(w);
        const upload = await begun(w, token);
        w.wall.now += 600_000;
        const observed = decodeManifest(ks, (await w.coord.range(ks.uploadsRoot)).entries).uploads.get(ks.upload(0, 'b1'))!;
        expect(summary(await w.manifest.orphanUpload({ upload: observed, why: { kind: 'timed-out', timeoutMs: 600_000 } }))).toBe('committed');
        return { token, upload };
      },
      {},
      'conflict: upload-gone',
      { 'orphans/0/b1': 'present' },
    ],
    ['meta of another shard is refused before sending', async (w) => ({ token: await current(w), upload: 9 }), { shard: 1 }, 'invalid: block b1 belongs to shard 1, not 0', {}],
    ['meta with an upper-case trace id is refused', async (w) => ({ token: await current(w), upload: 9 }), { maxTraceId: 'F'.repeat(32) }, 'invalid: invalid block meta: maxTraceId: must be 32 lowercase hex digits', {}],
    ['meta ending before it starts is refused', async (w) => ({ token: await current(w), upload: 9 }), { minStartMs: 5, maxEndMs: 4 }, 'invalid: invalid block meta: minStartMs: minStartMs > maxEndMs', {}],
  ])('flush: %s', async (_name, setup, over, want, keys) => {
    const w = world();
    const { token, upload } = await setup(w);
    const outcome = await w.manifest.flush({ shard: 0, token, upload, member: 'ing-0', meta: blockMeta(0, 'b1', over) });
    expect(summary(outcome)).toBe(want);
    expect(await states(w)).toEqual(keys);
    if (outcome.kind === 'committed') {
      const b = (await observeBlock(w.coord, ks, 0, 'b1'))!;
      expect(b.value).toEqual({ state: 'live', meta: blockMeta(0, 'b1'), createdAtMs: w.wall.now, stateChangedAtMs: w.wall.now, flushedBy: { member: 'ing-0', token } });
      expect(b.createRevision).toBe(outcome.revision);
    }
  });

  it.each<[string, (w: World, token: number) => Promise<void>, 'given-up' | 'stale-owner' | 'timed-out', number, string, Record<string, string>]>([
    ['the writer gives its own upload up', async () => {}, 'given-up', 0, 'committed', { 'orphans/0/b1': 'present' }],
    ['an upload whose owner still holds the shard is not stale', async () => {}, 'stale-owner', 0, 'invalid: upload b1: its owner (token 2) still holds shard 0', { 'uploads/0/b1': 'present' }],
    ['an upload whose owner key is gone is stale', async (w) => void (await w.coord.txn({ compare: [], success: [{ op: 'delete', key: ks.owner(0) }] })), 'stale-owner', 0, 'committed', { 'orphans/0/b1': 'present' }],
    ['a young upload has not timed out', async () => {}, 'timed-out', 599_999, 'invalid: upload b1 started at 1700000000000; it times out at 1700000600000', { 'uploads/0/b1': 'present' }],
    ['an old upload has', async () => {}, 'timed-out', 600_000, 'committed', { 'orphans/0/b1': 'present' }],
    [
      'an upload flushed after it was read is a conflict',
      async (w, token) => void (await w.manifest.flush({ shard: 0, token, upload: (await w.coord.get(ks.upload(0, 'b1'))).kv!.createRevision, member: 'ing-0', meta: blockMeta(0, 'b1') })),
      'given-up',
      0,
      'conflict: upload-changed',
      { 'blocks/0/b1': 'live' },
    ],
  ])('orphan upload: %s', async (_name, meanwhile, why, ageMs, want, keys) => {
    const w = world();
    const token = await current(w);
    await begun(w, token);
    const observed = decodeManifest(ks, (await w.coord.range(ks.uploadsRoot)).entries).uploads.get(ks.upload(0, 'b1'))!;
    await meanwhile(w, token);
    w.wall.now += ageMs;
    const ownerCreateRevision = (await w.coord.get(ks.owner(0))).kv?.createRevision;
    const whyParam = why === 'given-up' ? { kind: why } : why === 'stale-owner' ? { kind: why, ownerCreateRevision } : { kind: why, timeoutMs: 600_000 };
    expect(summary(await w.manifest.orphanUpload({ upload: observed, why: whyParam }))).toBe(want);
    expect(await states(w)).toEqual(keys);
  });
});

async function twoLive(w: World, over: Parameters<typeof blockMeta>[2] = {}): Promise<ObservedBlock[]> {
  return [await seedBlock(w.coord, ks, live(0, 'a', { ...over, minStartMs: 100, maxEndMs: 200 })), await seedBlock(w.coord, ks, live(0, 'b', { ...over, minStartMs: 150, maxEndMs: 300 }))];
}

describe('plan (lifecycle controller)', () => {
  const base = { jobId: 'j1', output: 'o1', level: 1, windowStartMs: 0, windowEndMs: 3_600_000 };
  it.each<[string, (w: World) => Promise<ObservedBlock[]>, Partial<typeof base>, string, Record<string, string>]>([
    ['two live inputs: job created, inputs compacting(job)', twoLive, {}, 'committed', { 'blocks/0/a': 'compacting(j1)', 'blocks/0/b': 'compacting(j1)', 'jobs/j1': 'present' }],
    [
      'an input changed after it was read is a conflict',
      async (w) => {
        const ins = await twoLive(w);
        await w.coord.txn({ compare: [], success: [put(ins[1]!.key, encodeValue(BlockValue, ins[1]!.value))] });
        return ins;
      },
      {},
      'conflict: block-changed',
      { 'blocks/0/a': 'live', 'blocks/0/b': 'live' },
    ],
    [
      'an existing job id is a conflict',
      async (w) => {
        await seedJob(w.coord, ks, 'j1', { shard: 0, tenant: 't1', level: 1, windowStartMs: 0, windowEndMs: 1, inputs: ['x'], output: 'y', createdAtMs: NOW });
        return twoLive(w);
      },
      {},
      'conflict: job-exists',
      { 'blocks/0/a': 'live', 'blocks/0/b': 'live', 'jobs/j1': 'present' },
    ],
    [
      'a compacting input is refused',
      async (w) => [await seedBlock(w.coord, ks, { ...live(0, 'a'), state: 'compacting', job: 'other' })],
      {},
      'invalid: input a is compacting, not live',
      { 'blocks/0/a': 'compacting(other)' },
    ],
    [
      'inputs of two tenants are refused',
      async (w) => [await seedBlock(w.coord, ks, live(0, 'a')), await seedBlock(w.coord, ks, live(0, 'b', { tenant: 't2' }))],
      {},
      'invalid: inputs span shards or tenants (b)',
      { 'blocks/0/a': 'live', 'blocks/0/b': 'live' },
    ],
    ['an output that is an input is refused', twoLive, { output: 'a' }, 'invalid: output a is one of the inputs', { 'blocks/0/a': 'live', 'blocks/0/b': 'live' }],
    ['a job id with a slash is refused', twoLive, { jobId: 'j/1' }, 'invalid: job id "j/1" is not [A-Za-z0-9._-]', { 'blocks/0/a': 'live', 'blocks/0/b': 'live' }],
  ])('%s', async (_name, setup, over, want, keys) => {
    const w = world();
    const inputs = await setup(w);
    const outcome = await w.manifest.plan({ ...base, ...over, inputs });
    expect(summary(outcome)).toBe(want);
    expect(await states(w)).toEqual(keys);
    if (outcome.kind === 'committed') {
      const job = (await observeJob(w.coord, ks, 'j1'))!;
      expect(job.value).toEqual({ shard: 0, tenant: 't1', level: 1, windowStartMs: 0, windowEndMs: 3_600_000, inputs: ['a', 'b'], output: 'o1', createdAtMs: NOW });
      expect(job.createRevision).toBe(outcome.revision);
    }
  });

  it(`bounds a job to MAX_JOB_INPUTS = ${MAX_JOB_INPUTS} inputs so its largest txn (commit) fits etcd's ${MAX_TXN_OPS} operations`, () => {
    const inputs = (n: number): ObservedBlock[] =>
      Array.from({ length: n }, (_, i) => ({ key: ks.block(0, `i${i}`), shard: 0, blockId: `i${i}`, value: live(0, `i${i}`), createRevision: 2, modRevision: 2 + i }));
    const plan = (n: number) => buildPlanTxn(ks, { jobId: 'j', inputs: inputs(n), output: 'out', level: 1, windowStartMs: 0, windowEndMs: 1, nowMs: NOW });
    const atMax = plan(MAX_JOB_INPUTS);
    expect(atMax.ok && txnOpCount(atMax.txn.request)).toBe(MAX_JOB_INPUTS + 3);
    expect(plan(MAX_JOB_INPUTS + 1)).toEqual({ ok: false, reason: `a job may have at most ${MAX_JOB_INPUTS} inputs (one txn of at most ${MAX_TXN_OPS} operations commits it), got ${MAX_JOB_INPUTS + 1}` });
    const ins = inputs(MAX_JOB_INPUTS).map((b) => ({ ...b, value: { ...b.value, state: 'compacting' as const, job: 'j' } }));
    const commit = buildCommitTxn(ks, {
      job: { key: ks.job('j'), id: 'j', value: { shard: 0, tenant: 't1', level: 1, windowStartMs: 0, windowEndMs: 1, inputs: ins.map((b) => b.blockId), output: 'out', createdAtMs: NOW }, createRevision: 3, modRevision: 4, claim: undefined },
      claim: { jobId: 'j', member: 'm', lease: '7', token: 4 },
      inputs: ins,
      output: blockMeta(0, 'out', { level: 1, spanCount: 10 }),
      nowMs: NOW,
    });
    expect(commit.ok && txnOpCount(commit.txn.request)).toBe(MAX_TXN_OPS);
  });
});

describe('claim, release, commit, abandon (job holder and controller)', () => {
  async function planned(w: World): Promise<void> {
    const outcome = await w.manifest.plan({ jobId: 'j1', output: 'o1', level: 1, windowStartMs: 0, windowEndMs: 3_600_000, inputs: await twoLive(w) });
    expect(outcome.kind).toBe('committed');
  }
  async function claimed(w: World): Promise<{ lease: string; token: number }> {
    await planned(w);
    const lease = w.store.grantLease(60).id;
    const outcome = await w.manifest.claim({ job: (await observeJob(w.coord, ks, 'j1'))!, member: 'ing-2', lease });
    if (outcome.kind !== 'committed') throw new Error(summary(outcome));
    return { lease, token: outcome.claim.token };
  }
  const outputMeta = blockMeta(0, 'o1', { level: 1, minStartMs: 100, maxEndMs: 300, spanCount: 15 });

  it('claim binds the job to the lease: the claim key goes when the lease does', async () => {
    const w = world();
    const { lease, token } = await claimed(w);
    const job = (await observeJob(w.coord, ks, 'j1'))!;
    expect(job.claim).toMatchObject({ member: 'ing-2', lease, token });
    expect(job.value.claim).toEqual({ member: 'ing-2', lease, claimedAtMs: NOW });
    w.store.revokeLease(lease);
    expect((await observeJob(w.coord, ks, 'j1'))!.claim).toBeUndefined();
  });

  it.each<[string, (w: World) => Promise<void>, string]>([
    [
      'a job claimed by someone else since it was read is a conflict',
      async (w) => {
        const job = (await observeJob(w.coord, ks, 'j1'))!;
        const other = await w.manifest.claim({ job, member: 'ing-3', lease: w.store.grantLease(60).id });
        expect(other.kind).toBe('committed');
      },
      'conflict: job-changed',
    ],
    ['a lease that is gone fences the claim', async () => {}, 'fenced: lease-gone'],
  ])('claim: %s', async (_name, interfere, want) => {
    const w = world();
    await planned(w);
    const job = (await observeJob(w.coord, ks, 'j1'))!;
    await interfere(w);
    const lease = want === 'fenced: lease-gone' ? '99' : w.store.grantLease(60).id;
    expect(summary(await w.manifest.claim({ job, member: 'ing-2', lease }))).toBe(want);
  });

  it('a job whose claim lapsed is not claimed again (its output id may still be written by the old holder)', async () => {
    const w = world();
    const { lease } = await claimed(w);
    w.store.revokeLease(lease);
    const job = (await observeJob(w.coord, ks, 'j1'))!;
    expect(summary(await w.manifest.claim({ job, member: 'ing-3', lease: w.store.grantLease(60).id }))).toMatch(/^invalid: job j1 was claimed before/);
  });

  it.each<[string, (w: World, held: { lease: string; token: number }) => Promise<void>, Parameters<typeof blockMeta>[2] & { blockId?: string }, string, Record<string, string>]>([
    ['the holder commits: output live, inputs compacted, job and claim gone', async () => {}, {}, 'committed', { 'blocks/0/a': 'compacted→o1', 'blocks/0/b': 'compacted→o1', 'blocks/0/o1': 'live' }],
    [
      'a holder whose lease lapsed is fenced',
      (w, held) => Promise.resolve(w.store.revokeLease(held.lease)),
      {},
      'fenced: claim-token',
      { 'blocks/0/a': 'compacting(j1)', 'blocks/0/b': 'compacting(j1)', 'jobs/j1': 'present' },
    ],
    [
      'an output recorded as an orphan meanwhile is a conflict',
      async (w) => void (await w.manifest.recordOrphan({ shard: 0, blockId: 'o1', tenant: 't1', reason: 'unreferenced' })),
      {},
      'conflict: block-orphaned',
      { 'blocks/0/a': 'compacting(j1)', 'blocks/0/b': 'compacting(j1)', 'jobs/j1': 'present', 'jobs/j1/claim': 'present (leased)', 'orphans/0/o1': 'present' },
    ],
    [
      'an output narrower than its inputs is refused (retention would expire spans early)',
      async () => {},
      { maxEndMs: 299 },
      'invalid: output time range [100, 299] does not cover the inputs\' [100, 300]',
      { 'blocks/0/a': 'compacting(j1)', 'blocks/0/b': 'compacting(j1)', 'jobs/j1': 'present', 'jobs/j1/claim': 'present (leased)' },
    ],
    [
      'more spans than the inputs hold is refused',
      async () => {},
      { spanCount: 21 },
      'invalid: output has 21 spans, its inputs 20 together (compaction only removes duplicates)',
      { 'blocks/0/a': 'compacting(j1)', 'blocks/0/b': 'compacting(j1)', 'jobs/j1': 'present', 'jobs/j1/claim': 'present (leased)' },
    ],
    [
      'an output id other than the planned one is refused',
      async () => {},
      { blockId: 'o2' },
      'invalid: output o2 is not the job\'s planned output o1',
      { 'blocks/0/a': 'compacting(j1)', 'blocks/0/b': 'compacting(j1)', 'jobs/j1': 'present', 'jobs/j1/claim': 'present (leased)' },
    ],
  ])('commit: %s', async (_name, interfere, over, want, keys) => {
    const w = world();
    const held = await claimed(w);
    const job = (await observeJob(w.coord, ks, 'j1'))!;
    const inputs = [(await observeBlock(w.coord, ks, 0, 'a'))!, (await observeBlock(w.coord, ks, 0, 'b'))!];
    await interfere(w, held);
    const output = { ...outputMeta, ...over };
    const outcome = await w.manifest.commit({ job, claim: { jobId: 'j1', member: 'ing-2', ...held }, inputs, output });
    expect(summary(outcome)).toBe(want);
    expect(await states(w)).toEqual(keys);
  });

  it('commit refuses inputs that are not exactly the job\'s', async () => {
    const w = world();
    const held = await claimed(w);
    const job = (await observeJob(w.coord, ks, 'j1'))!;
    const a = (await observeBlock(w.coord, ks, 0, 'a'))!;
    expect(summary(await w.manifest.commit({ job, claim: { jobId: 'j1', member: 'ing-2', ...held }, inputs: [a], output: outputMeta }))).toMatch(/^invalid: inputs given \(a\) are not the job's \(a,b\)/);
  });

  it('release deletes the claim; releasing a claim that is gone (released, lapsed) reports the goal reached', async () => {
    const w = world();
    const held = await claimed(w);
    const claim = { jobId: 'j1', member: 'ing-2', ...held };
    expect(summary(await w.manifest.release(claim))).toBe('committed');
    expect((await observeJob(w.coord, ks, 'j1'))!.claim).toBeUndefined();
    expect(summary(await w.manifest.release(claim))).toBe('committed (recovered)');
    expect((await observeJob(w.coord, ks, 'j1'))!.value.claim?.member).toBe('ing-2'); // the job still says who held it
  });

  it.each<[string, (w: World) => Promise<void>, number, string, Record<string, string>]>([
    [
      'a lapsed claim: inputs back to live, job deleted, output recorded as an orphan',
      async (w) => {
        const { lease } = await claimed(w);
        w.store.revokeLease(lease);
      },
      0,
      'committed',
      { 'blocks/0/a': 'live', 'blocks/0/b': 'live', 'orphans/0/o1': 'present' },
    ],
    [
      'a held claim is refused',
      async (w) => void (await claimed(w)),
      0,
      'invalid: job j1 is still claimed by ing-2',
      { 'blocks/0/a': 'compacting(j1)', 'blocks/0/b': 'compacting(j1)', 'jobs/j1': 'present', 'jobs/j1/claim': 'present (leased)' },
    ],
    ['an unclaimed job younger than the timeout is refused', planned, 59_999, 'invalid: job j1 is unclaimed but only 59999 ms old (timeout 60000 ms)', { 'blocks/0/a': 'compacting(j1)', 'blocks/0/b': 'compacting(j1)', 'jobs/j1': 'present' }],
    ['an unclaimed job past the timeout is abandoned', planned, 60_000, 'committed', { 'blocks/0/a': 'live', 'blocks/0/b': 'live', 'orphans/0/o1': 'present' }],
  ])('abandon: %s', async (_name, setup, ageMs, want, keys) => {
    const w = world();
    await setup(w);
    w.wall.now = NOW + ageMs;
    const job = (await observeJob(w.coord, ks, 'j1'))!;
    const inputs = [(await observeBlock(w.coord, ks, 0, 'a'))!, (await observeBlock(w.coord, ks, 0, 'b'))!];
    expect(summary(await w.manifest.abandon({ job, inputs, unclaimedTimeoutMs: 60_000 }))).toBe(want);
    expect(await states(w)).toEqual(keys);
    if (want === 'committed') expect((await observeOrphan(w.coord, ks, 0, 'o1'))!.value).toEqual({ tenant: 't1', reason: 'abandoned', job: 'j1', recordedAtMs: NOW + ageMs });
  });

  it('abandon loses to a claim that lands between its read and its txn', async () => {
    const w = world();
    await planned(w);
    w.wall.now = NOW + 60_000;
    const job = (await observeJob(w.coord, ks, 'j1'))!;
    const inputs = [(await observeBlock(w.coord, ks, 0, 'a'))!, (await observeBlock(w.coord, ks, 0, 'b'))!];
    expect((await w.manifest.claim({ job, member: 'ing-2', lease: w.store.grantLease(60).id })).kind).toBe('committed');
    expect(summary(await w.manifest.abandon({ job, inputs, unclaimedTimeoutMs: 60_000 }))).toBe('conflict: job-changed');
  });
});

describe('expire (retention under the policy in force)', () => {
  const RETENTION = 86_400_000;
  it.each<[string, number, BlockState, boolean, string, string]>([
    ['a block wholly older than the horizon expires', NOW - RETENTION - 1, 'live', false, 'committed', 'expired'],
    ['a block ending exactly at the horizon stays', NOW - RETENTION, 'live', false, `invalid: block b ends at ${NOW - RETENTION}, not before the horizon ${NOW - RETENTION} (policy version 1)`, 'live'],
    ['a policy change after the decision makes it fail', NOW - RETENTION - 1, 'live', true, 'conflict: policy-changed', 'live'],
    ['a compacting block does not expire (its job decides)', 0, 'compacting', false, 'invalid: block b is compacting; only live blocks expire', 'compacting(j)'],
  ])('%s', async (_name, maxEndMs, state, changePolicy, want, after) => {
    const w = world();
    await seedPolicy(w.coord, ks, policyValue(1, RETENTION));
    const policy = decodeManifest(ks, [(await w.coord.get(ks.policy)).kv!]).policy!;
    const block = await seedBlock(w.coord, ks, { ...live(0, 'b', { minStartMs: 0, maxEndMs }), state, ...(state === 'compacting' ? { job: 'j' } : {}) });
    if (changePolicy) await seedPolicy(w.coord, ks, policyValue(2, RETENTION * 30));
    expect(summary(await w.manifest.expire({ block, policy }))).toBe(want);
    expect((await states(w))['blocks/0/b']).toBe(after);
  });
});

describe('collect and orphans (after the grace period, objects first)', () => {
  const GRACE = 600_000;
  it.each<[string, BlockValue, number, string, string[]]>([
    ['a compacted block past the grace period: objects, then the key', { ...live(0, 'b'), state: 'compacted', compactedInto: 'o', stateChangedAtMs: NOW - GRACE }, GRACE, 'committed', ['delete objects of b']],
    ['an expired block within the grace period is kept', { ...live(0, 'b'), state: 'expired', stateChangedAtMs: NOW - GRACE + 1 }, GRACE, `invalid: block b is expired since ${NOW - GRACE + 1}; grace ends at ${NOW + 1}`, []],
    ['a live block is never collected', live(0, 'b'), 0, 'invalid: block b is live; only compacted and expired blocks are collected', []],
  ])('%s', async (_name, value, graceMs, want, calls) => {
    const w = world();
    const block = await seedBlock(w.coord, ks, value);
    const log: string[] = [];
    const outcome = await w.manifest.collect({ block, graceMs, deleteObjects: (b) => Promise.resolve(void log.push(`delete objects of ${b.blockId}`)) });
    expect(summary(outcome)).toBe(want);
    expect(log).toEqual(calls);
    expect(await observeBlock(w.coord, ks, 0, 'b')).toEqual(want === 'committed' ? undefined : block);
  });

  it('a failed object delete leaves the key for the next pass', async () => {
    const w = world();
    const block = await seedBlock(w.coord, ks, { ...live(0, 'b'), state: 'expired', stateChangedAtMs: 0 });
    await expect(w.manifest.collect({ block, graceMs: 1, deleteObjects: () => Promise.reject(new Error('s3 down')) })).rejects.toThrow('s3 down');
    expect(await observeBlock(w.coord, ks, 0, 'b')).toEqual(block);
  });

  it.each<[string, (w: World) => Promise<void>, string]>([
    ['an id no key names is recorded', async () => {}, 'committed'],
    ['a committed block id is not an orphan', async (w) => void (await seedBlock(w.coord, ks, live(0, 'b'))), 'conflict: block-exists'],
    ['an id already recorded is a conflict', async (w) => void (await w.manifest.recordOrphan({ shard: 0, blockId: 'b', tenant: 't1', reason: 'abandoned' })), 'conflict: orphan-exists'],
    [
      'an id being uploaded is not an orphan',
      async (w) => void (await w.manifest.beginUpload({ shard: 0, token: await seedOwner(w.coord, ks, 0, 'ing-0'), member: 'ing-0', blockId: 'b', tenant: 't1' })),
      'conflict: upload-exists',
    ],
  ])('record orphan: %s', async (_name, setup, want) => {
    const w = world();
    await setup(w);
    expect(summary(await w.manifest.recordOrphan({ shard: 0, blockId: 'b', tenant: 't1', reason: 'uncommitted' }))).toBe(want);
  });

  it('collect orphan: refused within the grace period, then objects and record go', async () => {
    const w = world();
    await w.manifest.recordOrphan({ shard: 0, blockId: 'b', tenant: 't1', reason: 'uncommitted' });
    const orphan = (await observeOrphan(w.coord, ks, 0, 'b'))!;
    const log: string[] = [];
    const deleteObjects = (): Promise<void> => Promise.resolve(void log.push('objects'));
    expect(summary(await w.manifest.collectOrphan({ orphan, graceMs: 1000, deleteObjects }))).toMatch(/^invalid: orphan b was recorded/);
    w.wall.now += 1000;
    expect(summary(await w.manifest.collectOrphan({ orphan, graceMs: 1000, deleteObjects }))).toBe('committed');
    expect([log, await observeOrphan(w.coord, ks, 0, 'b')]).toEqual([['objects'], undefined]);
  });

  it('sweep: records ids unreferenced for the whole delay, never job outputs, and forgets ids that became referenced', () => {
    const b = (id: string): KeyValue => ({ key: ks.block(0, id), value: encodeValue(BlockValue, live(0, id)), createRevision: 2, modRevision: 2, version: 1, lease: undefined });
    const j: KeyValue = {
      key: ks.job('j'),
      value: encodeValue(JobValue, { shard: 0, tenant: 't1', level: 1, windowStartMs: 0, windowEndMs: 1, inputs: ['kept'], output: 'planned', createdAtMs: 0 }),
      createRevision: 3,
      modRevision: 3,
      version: 1,
      lease: undefined,
    };
    const manifest = decodeManifest(ks, [b('kept'), j]);
    const stored = ['kept', 'planned', 'crashed', 'young'].map((blockId) => ({ shard: 0, blockId, tenant: 't1' }));
    const first = computeOrphanSweep({ stored, manifest, firstSeen: new Map([['0/crashed', 0], ['0/gone', 0]]), nowMs: 1000, delayMs: 1000 });
    expect(first.record).toEqual([{ shard: 0, blockId: 'crashed', tenant: 't1' }]);
    expect([...first.firstSeen]).toEqual([
      ['0/crashed', 0],
      ['0/young', 1000],
    ]);
  });
});

describe('txn shapes', () => {
  it('every guarded and effect key is read in the failure branch, and no key is written twice', async () => {
    const w = world();
    const inputs = await twoLive(w);
    const built = buildPlanTxn(ks, { jobId: 'j', inputs, output: 'o', level: 1, windowStartMs: 0, windowEndMs: 1, nowMs: NOW });
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    expect(built.txn.request.failure!.map((o) => [o.op, o.key.slice(ks.root.length)])).toEqual([
      ['get', 'jobs/j'],
      ['get', 'blocks/0/a'],
      ['get', 'blocks/0/b'],
      ['get', 'blocks/0/o'],
      ['get', 'orphans/0/o'],
    ]);
    expect(hex32(255)).toBe('000000000000000000000000000000ff');
  });
});
