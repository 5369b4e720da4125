import { describe, expect, it } from 'vitest';
import type { SpanBatch } from '../../common/model/index.js';
import { encodeSpan } from '../../common/otlp/index.js';
import { createMemoryObjectStore, isValidKey, type ObjectStore } from '../../common/storage/index.js';
import { batch, group, span, spanId, traceId } from '../head/testing/index.js';
import { decodeIndex, unframeIndex } from './index-codec.js';
import { blockObjectKey, buildBlock, createPageCache, openBlock, tenantKeySegment, writeBlock, type BlockReader } from './index.js';
import { buildAndOpen, canonicalSpans } from './testing/index.js';

const BASE = 1_700_000_000_000_000_000n;

function simpleBatch(tenant = 't'): SpanBatch {
  return batch(
    tenant,
    group('cart', [
      span({ trace: traceId(2), id: spanId(1), name: 'GET /cart', start: BASE + 1_500_000n, end: BASE + 9_000_001n, attributes: { 'http.method': 'GET' } }),
      span({ trace: traceId(2), id: spanId(2), parent: spanId(1), name: 'db', start: BASE + 2_000_000n, end: BASE + 3_000_000n }),
    ]),
    group('pay', [span({ trace: traceId(1), id: spanId(3), name: 'charge', start: BASE + 4_000_000n, end: BASE + 5_000_000n, status: 2 })]),
  );
}

/** A store that counts range reads and bytes, to show what a query did not read. */
function countingStore(inner: ObjectStore): ObjectStore & { ranges: number; bytes: number; gets: string[] } {
  const s = {
    ranges: 0,
    bytes: 0,
    gets: [] as string[],
    description: inner.description,
    put: inner.put.bind(inner),
    stat: inner.stat.bind(inner),
    list: inner.list.bind(inner),
    delete: inner.delete.bind(inner),
    close: inner.close.bind(inner),
    async get(key: string) {
      s.gets.push(key.split('/').pop()!);
      return inner.get(key);
    },
    async getRange(key: string, offset: number, length: number) {
      s.ranges++;
      const b = await inner.getRange(key, offset, length);
      s.bytes += b.length;
      return b;
    },
  };
  return s;
}

describe('buildBlock', () => {
  it('describes the block in meta and writes data, index, bloom, then meta.json', () => {
    const built = buildBlock({ blockId: 'b-1', tenant: 't', shard: 7, level: 2, batches: [simpleBatch()] });
    expect(built.objects.map((o) => o.key)).toEqual(['t/7/b-1/data', 't/7/b-1/index', 't/7/b-1/bloom', 't/7/b-1/meta.json']);
    expect(built.meta).toEqual({
      blockId: 'b-1',
      tenant: 't',
      shard: 7,
      formatVersion: 1,
      level: 2,
      minTraceId: 'ab000000000000000000000000000001',
      maxTraceId: 'ab000000000000000000000000000002',
      minStartMs: 1_700_000_000_001, // 1.5 ms rounds down
      maxEndMs: 1_700_000_000_010, // 9.000001 ms rounds up
      spanCount: 3,
      traceCount: 2,
      bytes: built.objects.reduce((n, o) => n + o.body.length, 0),
    });
    expect(JSON.parse(Buffer.from(built.objects[3]!.body).toString('utf8'))).toEqual(built.meta);
    expect(built.skippedSpans).toBe(0);
    expect(built.duplicateSpans).toBe(0);
  });

  it.each([
    ['no spans', { batches: [] as SpanBatch[] }, /no spans/],
    ['another tenant', { batches: [simpleBatch('other')] }, /one tenant/],
    ['a bad block id', { blockId: '../x', batches: [simpleBatch()] }, /invalid block id/],
    ['a negative shard', { shard: -1, batches: [simpleBatch()] }, /invalid shard/],
  ])('refuses %s', (_name, params, message) => {
    expect(() => buildBlock({ blockId: 'b-1', tenant: 't', shard: 0, level: 0, ...params })).toThrow(message);
  });

  it('keeps the first copy of an identity and counts the rest', async () => {
    const first = span({ trace: traceId(5), id: spanId(1), name: 'first' });
    const second = span({ trace: traceId(5), id: spanId(1), name: 'second' });
    const { reader, built } = await buildAndOpen([batch('t', group('a', [first])), batch('t', group('a', [second, first]))]);
    expect(built.duplicateSpans).toBe(2);
    expect(canonicalSpans(await reader.findTrace(traceId(5)))).toEqual(canonicalSpans([group('a', [first])]));
  });

  it('skips spans whose IDs it cannot read', async () => {
    const bad = encodeSpan(span({ trace: new Uint8Array(15), id: spanId(1) }));
    const good = group('a', [span({ trace: traceId(1), id: spanId(1) })]);
    const { built } = await buildAndOpen([{ tenant: 't', groups: [{ ...good, spans: [bad, ...good.spans] }] }]);
    expect(built.skippedSpans).toBe(1);
    expect(built.meta.spanCount).toBe(1);
  });

  it('gives back spans byte-identical whatever their field order', async () => {
    const [plain, a, b] = [1, 2, 3].map((i) => encodeSpan(span({ trace: traceId(9), id: spanId(i), attributes: { k: 'v' } })));
    // Trace-ID field (18 bytes: tag, length, ID) moved to the end.
    const moved = new Uint8Array(a!.length);
    moved.set(a!.subarray(18), 0);
    moved.set(a!.subarray(0, 18), a!.length - 18);
    // Two trace-ID fields; protobuf keeps the last, so the first (another trace's ID) must stay as sent.
    const twice = new Uint8Array(b!.length + 18);
    twice.set([0x0a, 0x10, ...traceId(8)], 0);
    twice.set(b!.subarray(18), 18);
    twice.set(b!.subarray(0, 18), b!.length);
    const g = group('a', []);
    const { reader } = await buildAndOpen([{ tenant: 't', groups: [{ ...g, spans: [plain!, moved, twice] }] }]);
    const hex = (x: Uint8Array): string => Buffer.from(x).toString('hex');
    const got = (await reader.findTrace(traceId(9)))!.flatMap((x) => x.spans.map(hex)).sort();
    expect(got).toEqual([plain!, moved, twice].map(hex).sort());
    expect(await reader.findTrace(traceId(8))).toBeNull();
  });

  it('spreads a big trace over several span pages and reads them all back', async () => {
    const spans = Array.from({ length: 60 }, (_, i) => span({ trace: traceId(3), id: spanId(i + 1), attributes: { i: BigInt(i), pad: 'x'.repeat(50) } }));
    const small = group('a', [span({ trace: traceId(1), id: spanId(1) }), span({ trace: traceId(4), id: spanId(1) })]);
    const { reader, built } = await buildAndOpen([batch('t', group('a', spans), small)], { spanPageBytes: 400, rowsPerColumnPage: 7 });
    const framed = unframeIndex(built.objects[1]!.body);
    if (!framed.ok) throw new Error(framed.reason);
    expect(decodeIndex(framed.raw).columns[0]!.pages.length).toBeGreaterThan(5);
    expect(canonicalSpans(await reader.findTrace(traceId(3)))).toEqual(canonicalSpans([group('a', spans)]));
    expect((await reader.search({ tags: [{ key: 'i', value: '42' }], limit: 5 })).traces.map((t) => t.spanCount)).toEqual([60]);
  });
});

describe('page cache', () => {
  it('evicts the least recently used pages beyond its budget', () => {
    const cache = createPageCache({ maxBytes: 100 });
    cache.set('a', new Uint8Array(20));
    cache.set('b', new Uint8Array(20));
    cache.set('huge', new Uint8Array(30)); // more than a quarter of the budget: not kept
    expect(cache.get('a')).toHaveLength(20); // a is now the most recent
    cache.set('c', new Uint8Array(20));
    cache.set('d', new Uint8Array(20));
    cache.set('e', new Uint8Array(20)); // 100 bytes: within the budget
    cache.set('f', new Uint8Array(20)); // 120 bytes: b (least recently used) goes
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.stats()).toMatchObject({ bytes: 100, pages: 5 });
  });

  it('serves repeated searches without reading pages again', async () => {
    const inner = createMemoryObjectStore();
    await writeBlock(inner, buildBlock({ blockId: 'b-1', tenant: 't', shard: 0, level: 0, batches: [simpleBatch()] }));
    const store = countingStore(inner);
    const cache = createPageCache({ maxBytes: 1 << 20 });
    const reader = await openBlock(store, 't', 0, 'b-1', { pageCache: cache });
    const request = { tags: [{ key: 'service.name', value: 'cart' }, { key: 'http.method', value: 'GET' }], limit: 5 };
    const first = await reader.search(request);
    const reads = store.ranges;
    expect(reads).toBeGreaterThan(0);
    expect(await reader.search(request)).toEqual(first);
    expect(store.ranges).toBe(reads);
    expect(cache.stats().hits).toBeGreaterThan(0);
  });
});

describe('object keys', () => {
  it.each([
    ['single-tenant', 'single-tenant'],
    ['team.a-1', 'team.a-1'],
    ['a_b', 'a_5Fb'],
    ["x!*'()", 'x_21_2A_27_28_29'],
  ])('tenant %s is the segment %s', (tenant, segment) => {
    expect(tenantKeySegment(tenant)).toBe(segment);
    expect(isValidKey(blockObjectKey(tenant, 0, 'b', 'data'))).toBe(true);
  });

  it('keeps tenants apart', () => {
    const tenants = ['a_21', 'a!', 'a_5F21', 'a_!', '_', '__'];
    expect(new Set(tenants.map(tenantKeySegment)).size).toBe(tenants.length);
  });
});

describe('openBlock', () => {
  async function opened(): Promise<{ reader: BlockReader; store: ReturnType<typeof countingStore> }> {
    const inner = createMemoryObjectStore();
    const batches = [
      simpleBatch(),
      batch(
        't',
        group(
          'shop',
          Array.from({ length: 40 }, (_, i) => span({ trace: traceId(100 + i), id: spanId(1), name: `op${i % 3}`, start: BASE + BigInt(i) * 1_000_000n, attributes: { rare: i === 17 ? 'needle' : 'hay', n: BigInt(i) } })),
        ),
      ),
    ];
    await writeBlock(inner, buildBlock({ blockId: 'b-1', tenant: 't', shard: 0, level: 0, batches, options: { rowsPerColumnPage: 4, spanPageBytes: 300 } }));
    const store = countingStore(inner);
    return { reader: await openBlock(store, 't', 0, 'b-1'), store };
  }

  it('reads only meta.json at open', async () => {
    const { store } = await opened();
    expect(store.gets).toEqual(['meta.json']);
    expect(store.ranges).toBe(0);
  });

  it('says NOT_FOUND for a block that does not exist', async () => {
    await expect(openBlock(createMemoryObjectStore(), 't', 0, 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('answers trace IDs outside [min, max] and of the wrong length without reading anything', async () => {
    const { reader, store } = await opened();
    expect(await reader.findTrace(traceId(1, 0x01))).toBeNull();
    expect(await reader.findTrace(traceId(1, 0xff))).toBeNull();
    expect(await reader.findTrace(new Uint8Array(8))).toBeNull();
    expect(store.gets).toEqual(['meta.json']);
  });

  it('reads the bloom, the index and only the pages of the trace', async () => {
    const { reader, store } = await opened();
    expect(canonicalSpans(await reader.findTrace(traceId(117)))).toHaveLength(1);
    expect(store.gets).toEqual(['meta.json', 'bloom', 'index']);
    expect(store.ranges).toBe(1); // one span page
  });

  it('skips the block on a value its dictionary lacks, and on a time range outside it, without reading pages', async () => {
    const { reader, store } = await opened();
    for (const tags of [[{ key: 'rare', value: 'absent' }], [{ key: 'nokey', value: 'x' }], [{ key: 'service.name', value: 'nope' }], [{ key: 'name', value: 'nope' }]]) {
      expect((await reader.search({ tags, limit: 10 })).traces).toEqual([]);
    }
    expect((await reader.search({ tags: [], limit: 10, startNs: Number(BASE) + 3_600e9 })).traces).toEqual([]);
    expect(store.ranges).toBe(0);
  });

  it('reads only the pages that can hold a rare value', async () => {
    const { reader, store } = await opened();
    const all = await reader.search({ tags: [{ key: 'service.name', value: 'shop' }, { key: 'rare', value: 'hay' }], limit: 100 });
    const readAll = store.bytes;
    store.bytes = 0;
    const one = await reader.search({ tags: [{ key: 'service.name', value: 'shop' }, { key: 'rare', value: 'needle' }], limit: 100 });
    expect(all.traces).toHaveLength(39);
    expect(one.traces.map((t) => t.traceId)).toEqual([Buffer.from(traceId(117)).toString('hex')]);
    expect(store.bytes).toBeLessThan(readAll / 3);
  });

  it('answers concurrent searches as it answers them one by one', async () => {
    const { reader } = await opened();
    const requests = [
      { tags: [{ key: 'rare', value: 'hay' }], limit: 7 },
      { tags: [{ key: 'service.name', value: 'shop' }, { key: 'name', value: 'op1' }], limit: 50 },
      { tags: [], limit: 3 },
      { tags: [{ key: 'n', value: '17' }], limit: 5 },
    ];
    const one = [];
    for (const r of requests) one.push(await reader.search(r));
    expect(await Promise.all([...requests, ...requests].map((r) => reader.search(r)))).toEqual([...one, ...one]);
  });

  it('answers newest first with the head summary fields', async () => {
    const { reader } = await opened();
    const { traces } = await reader.search({ tags: [{ key: 'http.method', value: 'GET' }], limit: 5 });
    expect(traces).toEqual([
      { traceId: 'ab000000000000000000000000000002', rootServiceName: 'cart', rootTraceName: 'GET /cart', startTimeUnixNano: String(BASE + 1_500_000n), durationNanos: 7_500_001, spanCount: 2 },
    ]);
  });
});
