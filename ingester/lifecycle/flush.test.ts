// Flush on the coordinator and object-store twins: blocks are published in the prescribed order,
// tail sampling decides what goes in, stale owners are fenced before writing anything, and a
// partial failure reports which tenants committed.
import { describe, expect, it } from 'vitest';
import { BlockValue, MemoryStore, createKeyspace, decodeValue, valueText } from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { toHex } from '../../common/model/index.js';
import { createMemoryObjectStore, type ObjectStore } from '../../common/storage/index.js';
import { openBlock } from '../block/index.js';
import { createShardHead, type HeadTraceInfo, type ShardHead } from '../head/index.js';
import { batch, group, span, spanId, traceId } from '../head/testing/index.js';
import { createFlusher, newBlockId, type FlushInput } from './flush.js';
import { createManifestStore } from './manifest-store.js';
import { seedOwner } from './testing.js';

const ks = createKeyspace('ns', 'c1');
const BASE = 1_700_000_000_000_000_000n;
const MS = 1_000_000n;

function loadHead(): ShardHead {
  const head = createShardHead({ maxBytes: 16 << 20 });
  head.insert(
    batch(
      'acme',
      group('api', [
        span({ trace: traceId(1), id: spanId(1), start: BASE, end: BASE + 5n * MS }),
        span({ trace: traceId(1), id: spanId(2), parent: spanId(1), start: BASE + MS, end: BASE + 2n * MS }),
        span({ trace: traceId(2), id: spanId(3), start: BASE, end: BASE + 900n * MS }), // slow
        span({ trace: traceId(3), id: spanId(4), start: BASE, end: BASE + MS, status: 2 }), // error
      ]),
    ),
  );
  head.insert(batch('zeta', group('web', [span({ trace: traceId(9), id: spanId(9), start: BASE, end: BASE + MS })])));
  return head;
}

function cutOf(head: ShardHead, shard = 0): FlushInput {
  const tenants = head.tenantNames().map((tenant) => {
    const traces: HeadTraceInfo[] = [];
    head.forEachTrace(tenant, (t) => traces.push(t));
    return { tenant, traces };
  });
  return { shard, head, tenants };
}

async function setup(store: ObjectStore = createMemoryObjectStore()) {
  const coordStore = new MemoryStore();
  const coord = coordStore.connect();
  const token = await seedOwner(coord, ks, 0, 'm1');
  const registry = createRegistry();
  let policy: { keepPercent: number; keepErrors: boolean; keepSlowerThanMs?: number } | undefined;
  const flusher = createFlusher({ store, manifest: createManifestStore({ coord, keyspace: ks }), member: 'm1', tailPolicy: () => policy, logger: createSilentLogger(), registry });
  return { coord, token, store, flusher, registry, setPolicy: (p: typeof policy) => (policy = p) };
}

describe('flush', () => {
  it('publishes one live block per tenant whose spans read back exactly', async () => {
    const { coord, token, store, flusher } = await setup();
    const head = loadHead();
    const out = await flusher.flush(cutOf(head), token);
    expect(out).toMatchObject({ kind: 'committed', blocks: 2, spans: 5 });
    const blocks = (await coord.range(ks.blocksPrefix(0))).entries.map((kv) => decodeValue(BlockValue, kv.value));
    expect(blocks.map((b) => (b.ok ? [b.value.state, b.value.meta.tenant, b.value.meta.spanCount, b.value.flushedBy?.token] : b.error))).toEqual([
      ['live', 'acme', 4, token],
      ['live', 'zeta', 1, token],
    ]);
    // No upload intent is left behind once the flush committed.
    expect((await coord.range(ks.uploadsPrefix(0))).entries).toHaveLength(0);
    const acme = blocks.find((b) => b.ok && b.value.meta.tenant === 'acme')!;
    if (!acme.ok) throw new Error(acme.error);
    const reader = await openBlock(store, 'acme', 0, acme.value.meta.blockId);
    const found = await reader.findTrace(traceId(1));
    const spansBack = found!.flatMap((g) => g.spans.map((s) => toHex(s))).sort();
    const spansHead = head.findTrace('acme', traceId(1))!.flatMap((g) => g.spans.map((s) => toHex(s))).sort();
    expect(spansBack).toEqual(spansHead);
  });

  it('tail sampling keeps errors and slow traces, drops the rest, and counts both', async () => {
    const { coord, token, flusher, registry, setPolicy } = await setup();
    setPolicy({ keepPercent: 0, keepErrors: true, keepSlowerThanMs: 500 });
    const out = await flusher.flush(cutOf(loadHead()), token);
    expect(out).toMatchObject({ kind: 'committed', blocks: 1, spans: 2 });
    const [only] = (await coord.range(ks.blocksPrefix(0))).entries;
    const v = decodeValue(BlockValue, only!.value);
    expect(v.ok && [v.value.meta.tenant, v.value.meta.traceCount]).toEqual(['acme', 2]);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/skein_ingester_tail_sampling_traces_total\{decision="error"\} 1/);
    expect(metrics).toMatch(/skein_ingester_tail_sampling_traces_total\{decision="slow"\} 1/);
    expect(metrics).toMatch(/skein_ingester_tail_sampling_traces_total\{decision="dropped"\} 2/);
    expect(metrics).toMatch(/skein_ingester_tail_sampling_spans_total\{decision="dropped"\} 3/);
  });

  it('a stale owner is fenced before it writes any object', async () => {
    const { token, store, flusher, coord } = await setup();
    const out = await flusher.flush(cutOf(loadHead()), token - 1);
    expect(out.kind).toBe('fenced');
    expect(await store.list('')).toEqual([]);
    expect((await coord.range(ks.blocksPrefix(0))).entries).toHaveLength(0);
  });

  it('an object store failure fails the flush and names the tenants that already committed', async () => {
    const inner = createMemoryObjectStore();
    let puts = 0;
    // Fail the first put of the second tenant's block (acme's block is 4 objects).
    const flaky: ObjectStore = { ...inner, description: inner.description, put: (k, b, o) => (++puts === 5 ? Promise.reject(new Error('disk full')) : inner.put(k, b, o)) };
    const { token, flusher, coord } = await setup(flaky);
    const out = await flusher.flush(cutOf(loadHead()), token);
    expect(out).toMatchObject({ kind: 'failed', committedTenants: ['acme'] });
    // The failed tenant's upload intent stays (GC turns it into an orphan); nothing of it is live.
    const uploads = (await coord.range(ks.uploadsPrefix(0))).entries;
    expect(uploads.map((kv) => JSON.parse(valueText(kv)).tenant)).toEqual(['zeta']);
    expect((await coord.range(ks.blocksPrefix(0))).entries).toHaveLength(1);
  });

  it('block ids sort by time and never repeat', () => {
    const a = newBlockId(1_700_000_000_000);
    const b = newBlockId(1_700_000_000_001);
    expect(a < b).toBe(true);
    expect(new Set(Array.from({ length: 1000 }, () => newBlockId(5))).size).toBe(1000);
    expect(a).toMatch(/^[0-9a-z]{9}-[0-9a-f]{16}$/);
  });
});
