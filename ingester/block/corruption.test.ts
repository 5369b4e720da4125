// FORMAT.md §Damage: a damaged page makes exactly the queries that touch it fail with a
// BlockCorruptError naming block, object and page; everything else is still answered, and no
// query ever answers from bytes that failed their check.
import { crc32c } from '@node-rs/crc32';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SpanBatch } from '../../common/model/index.js';
import { batch, group, span, spanId, traceId } from '../head/testing/index.js';
import { decodeIndex, unframeIndex, type BlockIndex } from './index-codec.js';
import { BlockCorruptError, openBlock, type BlockReader, type BuildBlockOptions } from './index.js';
import { buildAndOpen, canonicalSpans, flipByte, type OpenedBlock } from './testing/index.js';

const BASE = 1_700_000_000_000_000_000n;
const TRACES = 30;
const OPTIONS: BuildBlockOptions = { spanPageBytes: 500, rowsPerColumnPage: 8, maxDictionaryValues: 4 };

function batches(): SpanBatch[] {
  return [
    batch(
      't',
      ...Array.from({ length: TRACES }, (_, t) =>
        group(
          t % 2 === 0 ? 'even' : 'odd',
          [0, 1, 2].map((i) =>
            span({
              trace: traceId(t + 1),
              id: spanId(i + 1),
              ...(i === 0 ? {} : { parent: spanId(1) }),
              name: `op${i}`,
              start: BASE + BigInt(t * 1000 + i) * 1000n,
              attributes: { small: `s${t % 3}`, big: `value-${t}-${i}` },
            }),
          ),
        ),
      ),
    ),
  ];
}

async function block(): Promise<OpenedBlock & { ix: BlockIndex; key: (o: string) => string }> {
  const opened = await buildAndOpen(batches(), OPTIONS, { tenant: 't', shard: 1, blockId: 'blk-9' });
  const framed = unframeIndex(opened.built.objects[1]!.body);
  if (!framed.ok) throw new Error(framed.reason);
  return { ...opened, ix: decodeIndex(framed.raw), key: (o) => `t/1/blk-9/${o}` };
}

/** Re-seals a frame whose bytes were edited: CRC32C over header[0, crcAt) + payload, stored at crcAt. */
function reseal(bytes: Uint8Array, crcAt: number, payloadAt: number): void {
  const crc = crc32c(bytes.subarray(payloadAt), crc32c(bytes.subarray(0, crcAt))) >>> 0;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(crcAt, crc, true);
}

async function fresh(b: OpenedBlock): Promise<BlockReader> {
  return openBlock(b.store, 't', 1, 'blk-9');
}

describe('damaged blocks', () => {
  it('fails the trace on a corrupt span page, names the page, and serves the other traces', async () => {
    const b = await block();
    const spanPages = b.ix.columns[0]!.pages;
    expect(spanPages.length).toBeGreaterThan(3);
    const victim = spanPages[1]!;
    await flipByte(b.store, b.key('data'), victim.offset + victim.length - 3, 0x10);
    const reader = await fresh(b);
    let failed = 0;
    for (let t = 0; t < TRACES; t++) {
      const first = b.ix.traces.firstRow[t]!;
      const last = b.ix.traces.firstRow[t + 1]! - 1;
      const touches = first < (spanPages[2]?.firstRow ?? Infinity) && last >= victim.firstRow;
      const id = b.ix.traces.ids.slice(t * 16, t * 16 + 16);
      if (touches) {
        const err = await reader.findTrace(id).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BlockCorruptError);
        expect(err).toMatchObject({ code: 'CORRUPT_BLOCK', blockId: 'blk-9', object: 'data', page: victim.number, kind: 'checksum', retryable: false });
        expect((err as Error).message).toContain(`block blk-9 unreadable (object data, page ${victim.number})`);
        failed++;
      } else {
        expect(canonicalSpans(await reader.findTrace(id))).toEqual(canonicalSpans(await b.reader.findTrace(id)));
      }
    }
    expect(failed).toBeGreaterThan(0);
    // Searches that need only the trace table and intact columns still answer.
    expect(await reader.search({ tags: [{ key: 'small', value: 's1' }], limit: 50 })).toEqual(await b.reader.search({ tags: [{ key: 'small', value: 's1' }], limit: 50 }));
    // A search that must open span pages (a key with too many values for a dictionary) hits the damage.
    const hit = spanPagesHolding(b, 'big');
    if (hit.includes(victim.number)) await expect(reader.search({ tags: [{ key: 'big', value: bigValueIn(b, victim) }], limit: 5 })).rejects.toBeInstanceOf(BlockCorruptError);
  });

  it('fails searches over a corrupt column page and serves those that skip it', async () => {
    const b = await block();
    const groupPage = b.ix.columns[1]!.pages[2]!;
    await flipByte(b.store, b.key('data'), groupPage.offset + 16);
    const reader = await fresh(b);
    await expect(reader.search({ tags: [{ key: 'service.name', value: 'odd' }], limit: 5 })).rejects.toMatchObject({ page: groupPage.number, object: 'data' });
    expect(await reader.search({ tags: [{ key: 'name', value: 'op1' }], limit: 5 })).toEqual(await b.reader.search({ tags: [{ key: 'name', value: 'op1' }], limit: 5 }));
    expect(await reader.tagValues('small')).toEqual(['s0', 's1', 's2']);
  });

  it('reports a data object cut short as truncated, for the pages past the cut only', async () => {
    const b = await block();
    const data = await b.store.get(b.key('data'));
    // The last column in the object is an attribute column: cut into its last page.
    const lastColumn = b.ix.columns[b.ix.columns.length - 1]!;
    expect(Buffer.from(b.ix.keys[lastColumn.keyId]!.bytes).toString()).toBe('small');
    const cut = lastColumn.pages[lastColumn.pages.length - 1]!;
    await b.store.put(b.key('data'), data.subarray(0, cut.offset + 10));
    const reader = await fresh(b);
    // Only the values the page's presence bitmap admits make the search read it.
    const outcomes = await Promise.all(['s0', 's1', 's2'].map((value) => reader.search({ tags: [{ key: 'small', value }], limit: 50 }).catch((e: unknown) => e)));
    const failures = outcomes.filter((o) => o instanceof BlockCorruptError);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) expect(f).toMatchObject({ kind: 'truncated', page: cut.number });
    for (let t = 0; t < TRACES; t++) expect(canonicalSpans(await reader.findTrace(b.ix.traces.ids.slice(t * 16, t * 16 + 16)))).toHaveLength(3);
    // Cut right where the page starts: nothing of it is there, reported the same way.
    await b.store.put(b.key('data'), data.subarray(0, cut.offset));
    const again = await fresh(b);
    const values = ['s0', 's1', 's2'].filter((_, i) => outcomes[i] instanceof BlockCorruptError);
    for (const value of values) await expect(again.search({ tags: [{ key: 'small', value }], limit: 50 })).rejects.toMatchObject({ kind: 'truncated', page: cut.number });
  });

  it.each([
    ['index', 'checksum', (x: Uint8Array) => (x[x.length - 1] = x[x.length - 1]! ^ 1)],
    ['bloom', 'checksum', (x: Uint8Array) => (x[20] = x[20]! ^ 1)],
  ])('fails every query needing a corrupt %s', async (object, kind, damage) => {
    const b = await block();
    const body = new Uint8Array(await b.store.get(b.key(object)));
    damage(body);
    await b.store.put(b.key(object), body);
    const reader = await fresh(b);
    const id = b.ix.traces.ids.slice(0, 16);
    await expect(reader.findTrace(id)).rejects.toMatchObject({ object, kind, page: undefined });
    if (object === 'index') await expect(reader.search({ tags: [], limit: 1 })).rejects.toMatchObject({ object, kind });
  });

  it.each([
    ['index', 20],
    ['bloom', 16],
  ])('reports a truncated %s', async (object, header) => {
    const b = await block();
    const body = await b.store.get(b.key(object));
    await b.store.put(b.key(object), body.subarray(0, header + 3));
    await expect((await fresh(b)).findTrace(b.ix.traces.ids.slice(0, 16))).rejects.toMatchObject({ object, kind: 'truncated' });
  });

  it('reports a missing object as missing', async () => {
    const b = await block();
    await b.store.delete(b.key('data'));
    await expect((await fresh(b)).findTrace(b.ix.traces.ids.slice(0, 16))).rejects.toMatchObject({ object: 'data', kind: 'missing' });
  });

  it.each([
    ['index', 4, 16, 20],
    ['bloom', 4, 12, 16],
  ])('refuses an intact %s of an unknown version', async (object, versionAt, crcAt, payloadAt) => {
    const b = await block();
    const body = new Uint8Array(await b.store.get(b.key(object)));
    body[versionAt] = 2;
    reseal(body, crcAt, payloadAt);
    await b.store.put(b.key(object), body);
    const err = await (await fresh(b)).findTrace(b.ix.traces.ids.slice(0, 16)).catch((e: unknown) => e);
    expect(err).toMatchObject({ object, kind: 'version' });
    expect((err as Error).message).toMatch(/format version 2 \(this reader knows 1\)/);
  });

  it('refuses a page of an unknown version, naming it', async () => {
    const b = await block();
    const data = new Uint8Array(await b.store.get(b.key('data')));
    const page = b.ix.columns[0]!.pages[0]!;
    const bytes = data.subarray(page.offset, page.offset + page.length);
    bytes[0] = 9;
    reseal(bytes, 12, 16);
    await b.store.put(b.key('data'), data);
    await expect((await fresh(b)).findTrace(b.ix.traces.ids.slice(0, 16))).rejects.toMatchObject({ object: 'data', kind: 'version', page: page.number });
  });

  it('refuses meta.json of an unknown version at open', async () => {
    const b = await block();
    const meta = JSON.parse(Buffer.from(await b.store.get(b.key('meta.json'))).toString('utf8')) as Record<string, unknown>;
    await b.store.put(b.key('meta.json'), Buffer.from(JSON.stringify({ ...meta, formatVersion: 2 })));
    await expect(openBlock(b.store, 't', 1, 'blk-9')).rejects.toMatchObject({ object: 'meta.json', kind: 'version' });
  });

  it('scan skips a corrupt span page when told to, and throws otherwise', async () => {
    const b = await block();
    const victim = b.ix.columns[0]!.pages[2]!;
    await flipByte(b.store, b.key('data'), victim.offset + 20);
    const reader = await fresh(b);
    const reported: BlockCorruptError[] = [];
    let spans = 0;
    for await (const t of reader.scan({ onCorruptPage: (e) => reported.push(e) })) spans += t.groups.reduce((n, g) => n + g.spans.length, 0);
    const next = b.ix.columns[0]!.pages[3]?.firstRow ?? b.ix.spanCount;
    expect(reported.map((e) => e.page)).toEqual([victim.number]);
    expect(spans).toBe(b.ix.spanCount - (next - victim.firstRow));
    await expect(async () => {
      for await (const t of reader.scan()) void t;
    }).rejects.toBeInstanceOf(BlockCorruptError);
  });

  it('never answers wrongly, whatever byte is damaged (property)', async () => {
    const b = await block();
    const objects = await Promise.all(['data', 'index', 'bloom'].map(async (o) => ({ o, body: await b.store.get(b.key(o)) })));
    const ids = Array.from({ length: TRACES }, (_, t) => b.ix.traces.ids.slice(t * 16, t * 16 + 16));
    const want = await Promise.all(ids.map(async (id) => canonicalSpans(await b.reader.findTrace(id))));
    const wantSearch = await b.reader.search({ tags: [{ key: 'service.name', value: 'even' }, { key: 'big', value: 'value-4-1' }], limit: 10 });
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (which, at, mask) => {
        const { o, body } = objects[which]!;
        const damaged = Uint8Array.from(body);
        damaged[at % damaged.length] = damaged[at % damaged.length]! ^ mask;
        await b.store.put(b.key(o), damaged);
        const reader = await fresh(b);
        for (let t = 0; t < TRACES; t += 3) {
          const got = await reader.findTrace(ids[t]!).then(canonicalSpans, (e: unknown) => e);
          if (got instanceof Error) expect(got).toBeInstanceOf(BlockCorruptError);
          else expect(got).toEqual(want[t]);
        }
        const s = await reader.search({ tags: [{ key: 'service.name', value: 'even' }, { key: 'big', value: 'value-4-1' }], limit: 10 }).catch((e: unknown) => e);
        if (s instanceof Error) expect(s).toBeInstanceOf(BlockCorruptError);
        else expect(s).toEqual(wantSearch);
        await b.store.put(b.key(o), body);
      }),
      { numRuns: 60 },
    );
  });
});

/** Span pages whose bloom may hold a value of `key` (test helper: the key must be bloom-coded). */
function spanPagesHolding(b: { ix: BlockIndex }, key: string): number[] {
  const k = b.ix.keys.find((x) => Buffer.from(x.bytes).toString() === key);
  if (k === undefined || k.indexed) return [];
  return b.ix.columns[0]!.pages.map((p) => p.number);
}

/** A `big` value of a span in the page (traces are in trace-ID order: trace t+1 holds value-t-*). */
function bigValueIn(b: { ix: BlockIndex }, page: { firstRow: number }): string {
  const t = b.ix.traces.firstRow.findIndex((r, i) => r <= page.firstRow && b.ix.traces.firstRow[i + 1]! > page.firstRow);
  const id = b.ix.traces.ids.slice(t * 16, t * 16 + 16);
  const n = new DataView(id.buffer).getUint32(12) - 1;
  return `value-${n}-${page.firstRow - b.ix.traces.firstRow[t]!}`;
}
