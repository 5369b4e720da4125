// The shard set's cut: rotation under concurrent appends, carry-over of active traces, flush
// outcomes, WAL segments removed only after a commit. Real WAL files in a temp dir.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toHex, type SpanBatch } from '../common/model/index.js';
import { createRegistry } from '../common/metrics/index.js';
import { batch, group, span, spanId, traceId } from './head/testing/index.js';
import type { CutPolicy } from './head/index.js';
import { openShardSet, type FlushResult, type FrozenCut, type ShardSet } from './shard-set.js';

const policy: CutPolicy = { maxHeadBytes: 1 << 30, maxHeadAgeMs: 60_000, traceIdleMs: 10_000, maxTraceAgeMs: 3_600_000, maxCarryFraction: 0.25 };
const BUDGET = 64 << 20;

let dir: string;
let set: ShardSet;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'skein-shard-set-'));
});
afterEach(async () => {
  await set?.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const open = async (now?: () => number): Promise<ShardSet> =>
  (set = await openShardSet({ dataDir: dir, fsync: 'none', fsyncDelayMs: 0, walSegmentBytes: 1 << 20, headBytesPerShard: () => BUDGET, registry: createRegistry(), ...(now === undefined ? {} : { now }) }));

const one = (t: number, s: number, startMs = Date.now()): SpanBatch =>
  batch('acme', group('svc', [span({ trace: traceId(t), id: spanId(s), start: BigInt(startMs) * 1_000_000n, end: BigInt(startMs + 5) * 1_000_000n })]));

/** A flush that records what it was given and answers `result`. */
function recorder(result: () => FlushResult) {
  const cuts: { tenants: { tenant: string; traces: string[]; spans: number }[] }[] = [];
  const flush = (cut: FrozenCut): Promise<FlushResult> => {
    cuts.push({
      tenants: cut.tenants.map((t) => ({
        tenant: t.tenant,
        traces: t.traces.map((x) => toHex(x.traceId)).sort(),
        spans: t.traces.reduce((n, x) => n + (cut.head.findTrace(t.tenant, x.traceId)?.reduce((m, g) => m + g.spans.length, 0) ?? 0), 0),
      })),
    });
    return Promise.resolve(result());
  };
  return { cuts, flush };
}

/** Distinct spans of trace `t` over every head the set answers queries from. */
const spansOf = (s: ShardSet, t: number): number => {
  const seen = new Set<string>();
  for (const h of s.heads()) {
    for (const g of h.findTrace('acme', traceId(t)) ?? []) for (const sp of g.spans) seen.add(Buffer.from(sp).toString('hex'));
  }
  return seen.size;
};

describe('shard set cut', () => {
  it('does nothing when not due, and refuses shards not open here', async () => {
    const s = await open();
    const { flush, cuts } = recorder(() => ({ kind: 'committed', revision: 1 }));
    expect(await s.cut(0, { policy, headBudgetBytes: BUDGET, nowMs: Date.now() }, flush)).toEqual({ kind: 'not-open' });
    await s.open(0);
    expect(await s.cut(0, { policy, headBudgetBytes: BUDGET, nowMs: Date.now() }, flush)).toEqual({ kind: 'not-due' });
    await s.append(0, one(1, 1));
    expect(await s.cut(0, { policy, headBudgetBytes: BUDGET, nowMs: Date.now() }, flush)).toEqual({ kind: 'not-due' });
    expect(cuts).toHaveLength(0);
  });

  it('a forced cut flushes every trace, then the WAL no longer replays them', async () => {
    const s = await open();
    await s.open(0);
    for (let i = 1; i <= 5; i++) await s.append(0, one(i, i));
    const { flush, cuts } = recorder(() => ({ kind: 'committed', revision: 42 }));
    const out = await s.cut(0, { policy, headBudgetBytes: BUDGET, nowMs: Date.now(), forced: 'shutdown' }, flush);
    expect(out).toMatchObject({ kind: 'committed', reason: 'shutdown', revision: 42, traces: 5, spans: 5, carried: 0 });
    expect(cuts[0]!.tenants).toEqual([{ tenant: 'acme', traces: [1, 2, 3, 4, 5].map((i) => toHex(traceId(i))).sort(), spans: 5 }]);
    // The frozen head is gone from queries (its block answers from now on); the new head is empty.
    expect(spansOf(s, 1)).toBe(0);
    await s.append(0, one(6, 6));
    await s.close();
    const again = await open();
    await again.open(0);
    expect(spansOf(again, 1)).toBe(0);
    expect(spansOf(again, 6)).toBe(1);
  });

  it('an age cut carries active traces into the new head and flushes the idle ones', async () => {
    let clock = 1_700_000_000_000;
    const s = await open(() => clock);
    await s.open(0);
    await s.append(0, one(1, 1, clock));
    await s.append(0, one(2, 2, clock));
    clock += 30_000;
    await s.append(0, one(2, 3, clock)); // trace 2 is still receiving spans
    const { flush, cuts } = recorder(() => ({ kind: 'committed', revision: 7 }));
    const agePolicy = { ...policy, traceIdleMs: 20_000, maxHeadAgeMs: 25_000 };
    const out = await s.cut(0, { policy: agePolicy, headBudgetBytes: BUDGET, nowMs: clock }, flush);
    expect(out).toMatchObject({ kind: 'committed', reason: 'age', carried: 1, traces: 1, spans: 1 });
    expect(cuts[0]!.tenants).toEqual([{ tenant: 'acme', traces: [toHex(traceId(1))], spans: 1 }]);
    expect(spansOf(s, 1)).toBe(0); // now in the block
    expect(spansOf(s, 2)).toBe(2); // both spans answered by the new head
    // The carried trace went through the WAL: a restart replays it, and only it.
    await s.close();
    const again = await open(() => clock);
    expect(spansOf(again, 1)).toBe(0);
    expect(spansOf(again, 2)).toBe(2);
  });

  it('while a frozen head waits for its flush, a carried trace is answered once (by the new head)', async () => {
    let clock = 1_700_000_000_000;
    const s = await open(() => clock);
    await s.open(0);
    await s.append(0, one(1, 1, clock));
    await s.append(0, one(2, 2, clock));
    clock += 30_000;
    await s.append(0, one(2, 3, clock));
    const { flush } = recorder(() => ({ kind: 'failed', error: new Error('object store down') }));
    const out = await s.cut(0, { policy: { ...policy, traceIdleMs: 20_000, maxHeadAgeMs: 25_000 }, headBudgetBytes: BUDGET, nowMs: clock }, flush);
    expect(out).toMatchObject({ kind: 'failed' });
    const answering = s.heads().filter((h) => h.findTrace('acme', traceId(2)) !== null);
    expect(answering).toHaveLength(1);
    expect(answering[0]!.findTrace('acme', traceId(2))!.flatMap((g) => g.spans)).toHaveLength(2);
    const found = s.heads().flatMap((h) => h.search('acme', { tags: [], limit: 10 }));
    expect(found.map((t) => t.traceId).sort()).toEqual([toHex(traceId(1)), toHex(traceId(2))].sort());
  });

  it('a failed flush keeps the frozen head queryable and its WAL; the retry flushes the same traces', async () => {
    const s = await open();
    await s.open(0);
    for (let i = 1; i <= 3; i++) await s.append(0, one(i, i));
    let fail = true;
    const { flush, cuts } = recorder(() => (fail ? { kind: 'failed', error: new Error('object store down') } : { kind: 'committed', revision: 9 }));
    const out = await s.cut(0, { policy, headBudgetBytes: BUDGET, nowMs: Date.now(), forced: 'handoff' }, flush);
    expect(out).toMatchObject({ kind: 'failed' });
    expect(spansOf(s, 2)).toBe(1);
    await s.append(0, one(4, 4)); // writes go on into the new head meanwhile
    fail = false;
    const retry = await s.cut(0, { policy, headBudgetBytes: BUDGET, nowMs: Date.now() }, flush);
    expect(retry).toMatchObject({ kind: 'committed', traces: 3 });
    expect(cuts.map((c) => c.tenants[0]!.traces.length)).toEqual([3, 3]);
    expect(spansOf(s, 2)).toBe(0);
    expect(spansOf(s, 4)).toBe(1);
  });

  it('a partly failed flush is retried without the tenants that already committed', async () => {
    const s = await open();
    await s.open(0);
    await s.append(0, one(1, 1));
    await s.append(0, batch('zeta', group('svc', [span({ trace: traceId(2), id: spanId(2) })])));
    let attempt = 0;
    const seen: string[][] = [];
    const flush = (cut: FrozenCut): Promise<FlushResult> => {
      seen.push(cut.tenants.map((t) => t.tenant));
      return Promise.resolve(attempt++ === 0 ? { kind: 'failed', error: new Error('store down'), committedTenants: ['acme'] } : { kind: 'committed', revision: 5 });
    };
    expect(await s.cut(0, { policy, headBudgetBytes: BUDGET, nowMs: Date.now(), forced: 'handoff' }, flush)).toMatchObject({ kind: 'failed' });
    expect(await s.cut(0, { policy, headBudgetBytes: BUDGET, nowMs: Date.now() }, flush)).toMatchObject({ kind: 'committed' });
    expect(seen).toEqual([['acme', 'zeta'], ['zeta']]);
  });

  it('fenced: nothing is removed, the spans stay queryable and in the WAL', async () => {
    const s = await open();
    await s.open(0);
    await s.append(0, one(1, 1));
    const { flush } = recorder(() => ({ kind: 'fenced', message: 'stale token' }));
    expect(await s.cut(0, { policy, headBudgetBytes: BUDGET, nowMs: Date.now(), forced: 'handoff' }, flush)).toEqual({ kind: 'fenced', message: 'stale token' });
    expect(spansOf(s, 1)).toBe(1);
    await s.close();
    const again = await open();
    expect(spansOf(again, 1)).toBe(1);
  });

  it('appends racing a cut are all acknowledged and land in exactly one of block and new head', async () => {
    const s = await open();
    await s.open(0);
    for (let i = 0; i < 50; i++) await s.append(0, one(i, i));
    const { flush, cuts } = recorder(() => ({ kind: 'committed', revision: 3 }));
    const racing = Array.from({ length: 50 }, (_, i) => s.append(0, one(1000 + i, 1000 + i)));
    const cut = s.cut(0, { policy, headBudgetBytes: BUDGET, nowMs: Date.now(), forced: 'shutdown' }, flush);
    const results = await Promise.all(racing);
    expect(results.every((r) => r.stored === 1)).toBe(true);
    expect(await cut).toMatchObject({ kind: 'committed' });
    const flushed = new Set(cuts[0]!.tenants.flatMap((t) => t.traces));
    for (let i = 0; i < 50; i++) expect(flushed.has(toHex(traceId(i)))).toBe(true);
    for (let i = 0; i < 50; i++) {
      const inBlock = flushed.has(toHex(traceId(1000 + i)));
      const inHead = spansOf(s, 1000 + i) === 1;
      expect(inBlock !== inHead).toBe(true);
    }
    const segments = (await readdir(path.join(dir, 'wal', '0'))).filter((n) => !n.startsWith('.'));
    expect(segments.length).toBeGreaterThan(0);
  });
});
