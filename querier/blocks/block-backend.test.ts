// Queries over blocks on the coordinator and object-store twins, with blocks written by the real
// flush path: pruning, tenant isolation, newest-first search with a limit, an unreadable block
// skipped and reported, the catch-up to a heads answer's flushed revision, and — the point of it
// all — trace-by-ID returning the same spans before, during and after a head is cut into a block.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, createKeyspace, type Coordinator } from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { toHex, type QueryBackend, type SpanGroup, type TraceResult } from '../../common/model/index.js';
import { createMemoryObjectStore, type MemoryObjectStore } from '../../common/storage/index.js';
import { createHeadQueryBackend, createShardHead, type CutPolicy, type HeadTraceInfo, type ShardHead } from '../../ingester/head/index.js';
import { batch, group, span, spanId, traceId } from '../../ingester/head/testing/index.js';
import { createFlusher, createManifestStore, type Flusher } from '../../ingester/lifecycle/index.js';
import { openShardSet, type ShardSet } from '../../ingester/shard-set.js';
import { put } from '../../common/coord/index.js';
import { createBlockBackend, type BlockBackend } from './block-backend.js';
import { createHeadsAndBlocksBackend } from './heads-and-blocks.js';

const ks = createKeyspace('ns', 'c1');
const BASE_MS = 1_700_000_000_000;
const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;

interface World {
  registry: ReturnType<typeof createRegistry>;
  coord: Coordinator;
  store: MemoryObjectStore;
  flusher: Flusher;
  token: number;
  blocks: BlockBackend;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function world(): Promise<World> {
  const coord = new MemoryStore().connect();
  const r = await coord.txn({ compare: [], success: [put(ks.owner(0), JSON.stringify({ member: 'm1', address: 'm1:1' }))] });
  if (r.kind !== 'committed') throw new Error('owner');
  const token = r.revision;
  const store = createMemoryObjectStore();
  const registry = createRegistry();
  const flusher = createFlusher({ store, manifest: createManifestStore({ coord, keyspace: ks }), member: 'm1', tailPolicy: () => undefined, logger: createSilentLogger(), registry });
  const blocks = createBlockBackend({ coord, keyspace: ks, store, logger: createSilentLogger(), registry, concurrency: 2 });
  await blocks.start();
  cleanups.push(() => blocks.stop());
  return { registry, coord, store, flusher, token, blocks };
}

/** Flushes everything of `head` as blocks (one per tenant) and returns the commit revision. */
async function flushAll(w: World, head: ShardHead): Promise<number> {
  const tenants = head.tenantNames().map((tenant) => {
    const traces: HeadTraceInfo[] = [];
    head.forEachTrace(tenant, (t) => traces.push(t));
    return { tenant, traces };
  });
  const out = await w.flusher.flush({ shard: 0, head, tenants }, w.token);
  if (out.kind !== 'committed') throw new Error(`flush: ${out.kind}`);
  return out.revision;
}

function headWith(...spans: { trace: number; span: number; ms: number; tenant?: string; service?: string }[]): ShardHead {
  const head = createShardHead({ maxBytes: 16 << 20 });
  for (const s of spans) head.insert(batch(s.tenant ?? 'acme', group(s.service ?? 'api', [span({ trace: traceId(s.trace), id: spanId(s.span), start: ns(s.ms), end: ns(s.ms + 10) })])));
  return head;
}

const spanIds = (groups: readonly SpanGroup[] | undefined | null): string[] => (groups ?? []).flatMap((g) => g.spans.map((s) => toHex(s))).sort();

describe('block backend', () => {
  it('finds a trace split over blocks, pruning blocks whose ID range cannot hold it; tenants never mix', async () => {
    const w = await world();
    await flushAll(w, headWith({ trace: 1, span: 1, ms: BASE_MS }, { trace: 2, span: 2, ms: BASE_MS }, { trace: 2, span: 9, ms: BASE_MS, tenant: 'other' }));
    await flushAll(w, headWith({ trace: 2, span: 3, ms: BASE_MS + 1000 }, { trace: 5, span: 5, ms: BASE_MS + 1000 }));
    await flushAll(w, headWith({ trace: 7, span: 7, ms: BASE_MS + 2000 }, { trace: 8, span: 8, ms: BASE_MS + 2000 }));
    const found = await w.blocks.findTrace('acme', traceId(2));
    expect(found!.groups.flatMap((g) => g.spans)).toHaveLength(2);
    expect(found!.partial).toBeUndefined();
    expect(await w.blocks.findTrace('acme', traceId(3))).toBeNull();
    const other = await w.blocks.findTrace('other', traceId(2));
    expect(other!.groups.flatMap((g) => g.spans)).toHaveLength(1);
    expect(await w.blocks.services('acme')).toEqual({ values: ['api'] });
  });

  it('search is newest first over blocks and stops at the limit', async () => {
    const w = await world();
    for (let i = 0; i < 6; i++) await flushAll(w, headWith({ trace: 10 + i, span: 10 + i, ms: BASE_MS + i * 60_000 }));
    const r = await w.blocks.search('acme', { tags: [], limit: 3 });
    expect(r.traces.map((t) => t.traceId)).toEqual([15, 14, 13].map((n) => toHex(traceId(n))));
    const windowed = await w.blocks.search('acme', { tags: [], limit: 10, startNs: Number(ns(BASE_MS + 60_000)), endNs: Number(ns(BASE_MS + 2 * 60_000 + 5)) });
    expect(windowed.traces.map((t) => t.traceId)).toEqual([12, 11].map((n) => toHex(traceId(n))));
  });

  it('a corrupt block is skipped and named in partial answers; the other blocks are still served', async () => {
    const w = await world();
    await flushAll(w, headWith({ trace: 1, span: 1, ms: BASE_MS }));
    await flushAll(w, headWith({ trace: 1, span: 2, ms: BASE_MS + 1000 }));
    const objects = await w.store.list('acme/');
    const data = objects.find((o) => o.key.endsWith('/data'))!;
    const body = await w.store.get(data.key);
    // Every page of the object damaged (a single flipped byte may hit a column page trace-by-ID never reads).
    const damaged = body.map((byte) => byte ^ 0x5a);
    await w.store.put(data.key, damaged);
    const r = await w.blocks.findTrace('acme', traceId(1));
    expect(r!.groups.flatMap((g) => g.spans)).toHaveLength(1);
    expect(r!.partial!.reasons.join(' ')).toMatch(/unreadable/);
    // Marked: the next query skips it without reading, and still says so.
    const again = await w.blocks.findTrace('acme', traceId(1));
    expect(again!.partial!.reasons).toHaveLength(1);
  });

  it('a truncated object or a missing index makes that block unreadable with a clear reason; the others answer', async () => {
    const w = await world();
    await flushAll(w, headWith({ trace: 1, span: 1, ms: BASE_MS }));
    await flushAll(w, headWith({ trace: 1, span: 2, ms: BASE_MS + 1000 }));
    await flushAll(w, headWith({ trace: 1, span: 3, ms: BASE_MS + 2000 }));
    const objects = (await w.store.list('acme/')).map((o) => o.key).sort();
    const dataKeys = objects.filter((k) => k.endsWith('/data'));
    const indexKeys = objects.filter((k) => k.endsWith('/index'));
    const body = await w.store.get(dataKeys[0]!);
    await w.store.put(dataKeys[0]!, body.subarray(0, Math.floor(body.length / 3)));
    await w.store.delete(indexKeys[1]!);
    const r = await w.blocks.findTrace('acme', traceId(1));
    expect(r!.groups.flatMap((g) => g.spans)).toHaveLength(1);
    expect(r!.partial!.reasons).toHaveLength(2);
    for (const reason of r!.partial!.reasons) expect(reason).toMatch(/^block \S+ \(tenant acme, shard 0\) is unreadable: /);
    const metrics = await w.registry.metrics();
    expect(metrics).toMatch(/skein_querier_blocks_unreadable 2/);
  });

  it('waitForRevision resolves when the view reaches the revision, or false after the timeout', async () => {
    const w = await world();
    const target = w.blocks.revision() + 1;
    expect(await w.blocks.waitForRevision(target, 20)).toBe(false);
    const waiting = w.blocks.waitForRevision(target, 5000);
    await flushAll(w, headWith({ trace: 1, span: 1, ms: BASE_MS }));
    expect(await waiting).toBe(true);
  });
});

describe('heads and blocks', () => {
  it('a heads answer naming a newer flushed revision waits for the view before reading blocks', async () => {
    const w = await world();
    const head = headWith({ trace: 4, span: 4, ms: BASE_MS });
    const pending = w.blocks.revision() + 2; // begin-upload, then the flush commit
    const stale: QueryBackend = {
      ...createHeadQueryBackend(() => [], () => true),
      findTrace: () => Promise.resolve({ groups: [], flushedRevision: pending } satisfies TraceResult),
    };
    const both = createHeadsAndBlocksBackend(stale, w.blocks);
    const answer = both.findTrace('acme', traceId(4));
    await new Promise((r) => setTimeout(r, 30));
    await flushAll(w, head);
    const found = await answer;
    expect(spanIds(found?.groups)).toEqual(spanIds(head.findTrace('acme', traceId(4))));
  });

  it('without the catch-up in time, a missing trace is UNAVAILABLE (partial), never "not found"', async () => {
    const w = await world();
    const stale: QueryBackend = { ...createHeadQueryBackend(() => [], () => true), findTrace: () => Promise.resolve({ groups: [], flushedRevision: 10_000 }) };
    const both = createHeadsAndBlocksBackend(stale, w.blocks, { catchUpTimeoutMs: 20 });
    await expect(both.findTrace('acme', traceId(4))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});

describe('a head cut into a block while trace-by-ID runs', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('returns the same spans before, during and after the cut', async () => {
    const w = await world();
    dir = await mkdtemp(path.join(tmpdir(), 'skein-cut-visibility-'));
    const set: ShardSet = await openShardSet({ dataDir: dir, fsync: 'none', fsyncDelayMs: 0, walSegmentBytes: 1 << 20, headBytesPerShard: () => 64 << 20, registry: createRegistry() });
    cleanups.push(() => set.close());
    await set.open(0);
    const traces = 40;
    for (let t = 0; t < traces; t++) for (let s = 0; s < 3; s++) await set.append(0, batch('acme', group('api', [span({ trace: traceId(t), id: spanId(t * 10 + s), start: ns(BASE_MS + t), end: ns(BASE_MS + t + 5) })])));
    let flushed: number | undefined;
    const heads = createHeadQueryBackend(
      () => set.heads(),
      () => true,
      () => flushed,
    );
    const both = createHeadsAndBlocksBackend(heads, w.blocks);
    const expected = new Map<number, string[]>();
    for (let t = 0; t < traces; t++) expected.set(t, spanIds((await both.findTrace('acme', traceId(t)))?.groups));
    for (const ids of expected.values()) expect(ids).toHaveLength(3);

    // Readers hammer trace-by-ID while the cut freezes, flushes and drops the head.
    let stop = false;
    let reads = 0;
    const mismatches: string[] = [];
    const readers = Array.from({ length: 4 }, async (_, k) => {
      while (!stop) {
        const t = (reads++ * 7 + k) % traces;
        const got = spanIds((await both.findTrace('acme', traceId(t)))?.groups);
        if (got.join() !== expected.get(t)!.join()) mismatches.push(`trace ${t}: ${got.length} spans`);
        await new Promise((r) => setImmediate(r));
      }
    });
    const policy: CutPolicy = { maxHeadBytes: 1, maxHeadAgeMs: 1, traceIdleMs: 0, maxTraceAgeMs: 1, maxCarryFraction: 0 };
    const out = await set.cut(0, { policy, headBudgetBytes: 64 << 20, nowMs: Date.now() }, async (cut) => {
      await new Promise((r) => setTimeout(r, 10)); // readers run against the frozen head meanwhile
      const r = await w.flusher.flush(cut, w.token);
      if (r.kind !== 'committed') return r;
      flushed = r.revision;
      return { kind: 'committed', revision: r.revision };
    });
    expect(out).toMatchObject({ kind: 'committed', traces });
    await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await Promise.all(readers);
    expect(mismatches).toEqual([]);
    expect(reads).toBeGreaterThan(20);
    // After the cut the heads hold nothing: every answer came from the block.
    expect(set.heads().reduce((n, h) => n + h.spanCount(), 0)).toBe(0);
    for (let t = 0; t < traces; t++) expect(spanIds((await both.findTrace('acme', traceId(t)))?.groups)).toEqual(expected.get(t));
  });
});
