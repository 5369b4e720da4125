// mergeBlocks, case by case: a damaged input is refused with a BlockCorruptError naming that
// input, the object and (for a data page) the page; invalid parameters are INVALID_ARGUMENT; keys
// the output does not dictionary-code still find their traces; a trace shared between inputs and
// spread over several span pages of one of them comes out whole. Every check compares the merged
// block, through the reader, with buildBlock over the same spans (first copy in input order kept).
// The random counterpart is merge-blocks.property.test.ts.
import { crc32c } from '@node-rs/crc32';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSkeinError } from '../../common/errors/index.js';
import type { SearchRequest, SpanBatch } from '../../common/model/index.js';
import { createMemoryObjectStore } from '../../common/storage/index.js';
import { batch, group, span, spanId, traceId, type AttrInput } from '../head/testing/index.js';
import { PageType } from './format.js';
import { decodeIndex, unframeIndex, type BlockIndex } from './index-codec.js';
import { BlockCorruptError, buildBlock, mergeBlocks, openBlock, writeBlock, type BlockReader, type BuildBlockOptions, type BuiltBlock, type MergeBlocksParams, type MergeInput } from './index.js';
import { canonicalSpans } from './testing/index.js';

const BASE = 1_700_000_000_000_000_000n;
const TENANT = 't';
const SHARD = 1;
/** Several span pages, column pages of 4 rows, a dictionary-coded `small` and a bloom-coded `big`. */
const SMALL_PAGES: BuildBlockOptions = { spanPageBytes: 400, rowsPerColumnPage: 4, maxDictionaryValues: 6 };

interface SpanDef {
  readonly trace: number;
  readonly id: number;
  readonly parent?: number;
  readonly service?: string;
  readonly name?: string;
  readonly start?: number;
  readonly attributes?: Record<string, AttrInput>;
}

/** One group per span, in the order given (buildBlock keeps the first copy of an identity). */
function batches(defs: readonly SpanDef[]): SpanBatch[] {
  return defs.map((d) =>
    batch(
      TENANT,
      group(d.service ?? 'svc', [
        span({
          trace: traceId(d.trace),
          id: spanId(d.id),
          ...(d.parent === undefined ? {} : { parent: spanId(d.parent) }),
          name: d.name ?? `op-${d.id}`,
          start: BASE + BigInt(d.start ?? d.trace * 1000 + d.id) * 1000n,
          attributes: d.attributes ?? {},
        }),
      ]),
    ),
  );
}

function build(blockId: string, defs: readonly SpanDef[], options: BuildBlockOptions = SMALL_PAGES): BuiltBlock {
  return buildBlock({ blockId, tenant: TENANT, shard: SHARD, level: 0, batches: batches(defs), options });
}

function body(b: BuiltBlock, name: string): Uint8Array {
  const o = b.objects.find((x) => x.key.endsWith(`/${name}`));
  if (o === undefined) throw new Error(`no ${name}`);
  return o.body;
}

const asInput = (b: BuiltBlock): MergeInput => ({ blockId: b.meta.blockId, index: body(b, 'index'), data: body(b, 'data') });

function indexOf(b: BuiltBlock | MergeInput): BlockIndex {
  const framed = unframeIndex('objects' in b ? body(b, 'index') : b.index);
  if (!framed.ok) throw new Error(framed.reason);
  return decodeIndex(framed.raw);
}

async function open(b: BuiltBlock): Promise<BlockReader> {
  const store = createMemoryObjectStore();
  await writeBlock(store, b);
  return openBlock(store, b.meta.tenant, b.meta.shard, b.meta.blockId);
}

function merge(inputs: readonly MergeInput[], options: BuildBlockOptions = SMALL_PAGES, params: Partial<MergeBlocksParams> = {}): BuiltBlock {
  return mergeBlocks({ blockId: 'out', tenant: TENANT, shard: SHARD, level: 1, inputs, options, ...params });
}

/** What mergeBlocks throws (the test fails if it does not). */
function mergeError(inputs: readonly MergeInput[], params: Partial<MergeBlocksParams> = {}): unknown {
  try {
    merge(inputs, SMALL_PAGES, params);
  } catch (e) {
    return e;
  }
  throw new Error('mergeBlocks accepted the inputs');
}

/** Every trace of the block, in scan order, canonically. */
async function contents(r: BlockReader): Promise<[string, string[]][]> {
  const out: [string, string[]][] = [];
  for await (const t of r.scan()) out.push([Buffer.from(t.traceId).toString('hex'), canonicalSpans(t.groups)]);
  return out;
}

/** Re-seals a frame whose bytes were edited: CRC32C over header[0, crcAt) + payload, stored at crcAt. */
function reseal(bytes: Uint8Array, crcAt: number, payloadAt: number): void {
  const crc = crc32c(bytes.subarray(payloadAt), crc32c(bytes.subarray(0, crcAt))) >>> 0;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(crcAt, crc, true);
}

// ---- damaged inputs --------------------------------------------------------------------------------

/** Two inputs sharing traces 3..6; `in-b` is the one damaged, so an error naming `in-a` is wrong. */
const A_DEFS: SpanDef[] = Array.from({ length: 24 }, (_, i) => ({ trace: 1 + (i % 6), id: 1 + Math.floor(i / 6), attributes: { small: `s${i % 3}`, big: `a-${i}` } }));
const B_DEFS: SpanDef[] = Array.from({ length: 24 }, (_, i) => ({ trace: 3 + (i % 6), id: 2 + Math.floor(i / 6), service: 'other', attributes: { small: `s${i % 4}`, big: `b-${i}` } }));

function damageable(): { a: BuiltBlock; b: BuiltBlock; bix: BlockIndex } {
  const a = build('in-a', A_DEFS);
  const b = build('in-b', B_DEFS);
  return { a, b, bix: indexOf(b) };
}

/** B's data with `edit` applied to a copy. */
function editData(b: BuiltBlock, edit: (data: Uint8Array) => Uint8Array | void): MergeInput {
  const data = Uint8Array.from(body(b, 'data'));
  return { ...asInput(b), data: edit(data) ?? data };
}

function editIndex(b: BuiltBlock, edit: (index: Uint8Array) => void): MergeInput {
  const index = Uint8Array.from(body(b, 'index'));
  edit(index);
  return { ...asInput(b), index };
}

const flipIn = (page: { offset: number; length: number }) => (data: Uint8Array) => {
  const at = page.offset + page.length - 2; // in the payload, past the header
  data[at] = data[at]! ^ 0x5a;
};

describe('mergeBlocks: damaged inputs', () => {
  it('merges the undamaged inputs (the baseline the damage cases change one thing of)', async () => {
    const { a, b } = damageable();
    const out = await open(merge([asInput(a), asInput(b)]));
    const oracle = await open(buildBlock({ blockId: 'oracle', tenant: TENANT, shard: SHARD, level: 1, batches: batches([...A_DEFS, ...B_DEFS]) }));
    expect(await contents(out)).toEqual(await contents(oracle));
  });

  // Each case: the damaged input B (after an intact A), and what the error must say.
  type Case = [string, (x: ReturnType<typeof damageable>) => MergeInput, { object: string; kind: string; page: (bix: BlockIndex) => number | undefined }];
  const spanPage = (bix: BlockIndex) => bix.columns[0]!.pages[1]!;
  const columnPage = (type: number) => (bix: BlockIndex) => bix.columns.find((c) => c.type === type)!.pages[2]!;
  const attributePage = (bix: BlockIndex) => {
    const small = bix.keys.findIndex((k) => Buffer.from(k.bytes).toString() === 'small');
    expect(bix.keys[small]!.indexed).toBe(true);
    return bix.columns.find((c) => c.type === PageType.ATTRIBUTE && c.keyId === small)!.pages[3]!;
  };
  const cases: Case[] = [
    ['a byte of a span page', ({ b, bix }) => editData(b, flipIn(spanPage(bix))), { object: 'data', kind: 'checksum', page: (bix) => spanPage(bix).number }],
    ['a byte of a name column page', ({ b, bix }) => editData(b, flipIn(columnPage(PageType.NAME)(bix))), { object: 'data', kind: 'checksum', page: (bix) => columnPage(PageType.NAME)(bix).number }],
    ['a byte of a duration column page', ({ b, bix }) => editData(b, flipIn(columnPage(PageType.DURATION)(bix))), { object: 'data', kind: 'checksum', page: (bix) => columnPage(PageType.DURATION)(bix).number }],
    ['a byte of an attribute page', ({ b, bix }) => editData(b, flipIn(attributePage(bix))), { object: 'data', kind: 'checksum', page: (bix) => attributePage(bix).number }],
    [
      'a span page of an unknown version (intact frame)',
      ({ b, bix }) =>
        editData(b, (data) => {
          const p = spanPage(bix);
          const bytes = data.subarray(p.offset, p.offset + p.length);
          bytes[0] = 9;
          reseal(bytes, 12, 16);
        }),
      { object: 'data', kind: 'version', page: (bix) => spanPage(bix).number },
    ],
    ['the data object cut short', ({ b }) => editData(b, (data) => data.subarray(0, data.length - 7)), { object: 'data', kind: 'truncated', page: () => undefined }],
    ['the data object cut inside its header', ({ b }) => editData(b, (data) => data.subarray(0, 5)), { object: 'data', kind: 'truncated', page: () => undefined }],
    ['a data object of an unknown version', ({ b }) => editData(b, (data) => void (data[4] = 2)), { object: 'data', kind: 'version', page: () => undefined }],
    ['a byte of the index payload', ({ b }) => editIndex(b, (ix) => void (ix[ix.length - 3] = ix[ix.length - 3]! ^ 1)), { object: 'index', kind: 'checksum', page: () => undefined }],
    [
      'an index of an unknown format version (intact frame)',
      ({ b }) =>
        editIndex(b, (ix) => {
          ix[4] = 2;
          reseal(ix, 16, 20);
        }),
      { object: 'index', kind: 'version', page: () => undefined },
    ],
    ['an index version byte damaged (frame broken)', ({ b }) => editIndex(b, (ix) => void (ix[4] = 2)), { object: 'index', kind: 'checksum', page: () => undefined }],
    ['the index of another block', ({ a, b }) => ({ ...asInput(b), index: body(a, 'index') }), { object: 'index', kind: 'malformed', page: () => undefined }],
    ['the index cut short', ({ b }) => ({ ...asInput(b), index: body(b, 'index').subarray(0, 30) }), { object: 'index', kind: 'truncated', page: () => undefined }],
  ];

  it.each(cases)('refuses %s, naming that input, object and page', (_, damage, want) => {
    const x = damageable();
    const err = mergeError([asInput(x.a), damage(x)]);
    expect(err).toBeInstanceOf(BlockCorruptError);
    const page = want.page(x.bix);
    expect(err).toMatchObject({ code: 'CORRUPT_BLOCK', retryable: false, blockId: 'in-b', object: want.object, kind: want.kind, page });
    const where = page === undefined ? `object ${want.object}` : `object ${want.object}, page ${page}`;
    expect((err as Error).message).toContain(`block in-b unreadable (${where})`);
  });

  it('names the damaged input whatever its position', () => {
    const { a, b, bix } = damageable();
    const damaged = editData(b, flipIn(spanPage(bix)));
    expect(mergeError([damaged, asInput(a)])).toMatchObject({ blockId: 'in-b', object: 'data', page: spanPage(bix).number });
  });

  it.each([
    ['tenant', { tenant: 'other' }],
    ['shard', { shard: 2 }],
  ])('refuses inputs of another %s, naming the first input', (_, params) => {
    const { a, b } = damageable();
    const err = mergeError([asInput(a), asInput(b)], params);
    expect(err).toBeInstanceOf(BlockCorruptError);
    expect(err).toMatchObject({ blockId: 'in-a', object: 'index', kind: 'malformed' });
  });

  it('never merges wrongly, whatever byte of an input is damaged (property)', async () => {
    const { a, b } = damageable();
    const want = await contents(await open(buildBlock({ blockId: 'oracle', tenant: TENANT, shard: SHARD, level: 1, batches: batches([...A_DEFS, ...B_DEFS]) })));
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (inData, at, mask) => {
        const edit = (x: Uint8Array): void => void (x[at % x.length] = x[at % x.length]! ^ mask);
        const damaged = inData ? editData(b, edit) : editIndex(b, edit);
        let merged: BuiltBlock;
        try {
          merged = merge([asInput(a), damaged]);
        } catch (e) {
          expect(e).toBeInstanceOf(BlockCorruptError);
          expect(e).toMatchObject({ blockId: 'in-b', object: inData ? 'data' : 'index' });
          refused++;
          return;
        }
        // A byte the merge does not need (the groups page, a group column page: derived data)
        // may go unnoticed, but then the output is exactly right.
        expect(await contents(await open(merged))).toEqual(want);
      }),
      { numRuns: 80 },
    );
    expect(refused).toBeGreaterThan(40);
  });
});

// ---- invalid parameters ----------------------------------------------------------------------------

describe('mergeBlocks: invalid parameters', () => {
  const a = build('in-a', A_DEFS.slice(0, 4));
  it.each<[string, Partial<MergeBlocksParams>]>([
    ['an empty block id', { blockId: '' }],
    ['a block id starting with a dash', { blockId: '-out' }],
    ['a block id with a slash', { blockId: 'a/b' }],
    ['a block id of 129 characters', { blockId: 'x'.repeat(129) }],
    ['no inputs', { inputs: [] }],
    ['an empty tenant', { tenant: '' }],
    ['a negative shard', { shard: -1 }],
    ['a fractional shard', { shard: 1.5 }],
    ['a negative level', { level: -1 }],
    ['an invalid option', { options: { rowsPerColumnPage: 0 } }],
  ])('refuses %s with INVALID_ARGUMENT', (_, params) => {
    let err: unknown;
    try {
      mergeBlocks({ blockId: 'out', tenant: TENANT, shard: SHARD, level: 1, inputs: [asInput(a)], ...params });
    } catch (e) {
      err = e;
    }
    expect(isSkeinError(err)).toBe(true);
    expect(err).not.toBeInstanceOf(BlockCorruptError);
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('accepts a block id of 128 characters', () => {
    expect(mergeBlocks({ blockId: 'x'.repeat(128), tenant: TENANT, shard: SHARD, level: 1, inputs: [asInput(a)] }).meta.blockId).toBe('x'.repeat(128));
  });
});

// ---- keys the output does not dictionary-code ---------------------------------------------------------

/** Search, tag values and every trace of the merge against buildBlock over the same spans. */
async function expectSameAnswers(out: BlockReader, oracle: BlockReader, requests: SearchRequest[]): Promise<void> {
  expect(await contents(out)).toEqual(await contents(oracle));
  for (const r of requests) expect(await out.search(r), JSON.stringify(r)).toEqual(await oracle.search(r));
}

describe('mergeBlocks: dictionary limits', () => {
  // Six `user` values: three per input, each input under the limit of 4, the union over it.
  const A: SpanDef[] = [1, 2, 3].flatMap((t) => [0, 1].map((i) => ({ trace: t, id: i + 1, ...(i === 0 ? {} : { parent: 1 }), attributes: { user: `u${t - 1}`, env: 'prod', pad: 'x'.repeat(60) } })));
  const B: SpanDef[] = [4, 5, 6, 2].flatMap((t) => [0, 1].map((i) => ({ trace: t, id: i + 3, service: 'b', attributes: { user: `u${t === 2 ? 5 : t - 1}`, env: 'dev', pad: 'y'.repeat(60) } })));
  const LIMIT: BuildBlockOptions = { spanPageBytes: 300, rowsPerColumnPage: 3, maxDictionaryValues: 4, tagValueSample: 2 };
  const requests: SearchRequest[] = [
    ...['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u9'].map((value) => ({ tags: [{ key: 'user', value }], limit: 50 })),
    { tags: [{ key: 'user', value: 'u5' }, { key: 'service.name', value: 'b' }], limit: 50 },
    { tags: [{ key: 'user', value: 'u1' }, { key: 'service.name', value: 'b' }], limit: 50 },
    { tags: [{ key: 'user', value: 'u1' }, { key: 'env', value: 'prod' }], limit: 50 },
    { tags: [{ key: 'env', value: 'dev' }], limit: 50 },
  ];

  it('a key coded by every input but over the limit in their union: search by its values still finds the traces', async () => {
    const a = build('in-a', A, LIMIT);
    const b = build('in-b', B, LIMIT);
    const userOf = (ix: BlockIndex) => ix.keys.find((k) => Buffer.from(k.bytes).toString() === 'user')!;
    expect(userOf(indexOf(a)).indexed).toBe(true);
    expect(userOf(indexOf(b)).indexed).toBe(true);
    const merged = merge([asInput(a), asInput(b)], LIMIT);
    expect(userOf(indexOf(merged)).indexed).toBe(false);
    const out = await open(merged);
    const oracle = await open(buildBlock({ blockId: 'oracle', tenant: TENANT, shard: SHARD, level: 1, batches: batches([...A, ...B]), options: LIMIT }));
    await expectSameAnswers(out, oracle, requests);
    // Each value finds exactly its traces (trace 2 holds u1 and, from B, u5).
    const found = async (value: string) => (await out.search({ tags: [{ key: 'user', value }], limit: 50 })).traces.map((t) => t.traceId).sort();
    const hex = (t: number) => Buffer.from(traceId(t)).toString('hex');
    expect(await found('u0')).toEqual([hex(1)]);
    expect(await found('u1')).toEqual([hex(2)]);
    expect(await found('u5')).toEqual([hex(2), hex(6)].sort());
    expect(await found('u4')).toEqual([hex(5)]);
    expect(await found('u9')).toEqual([]);
    // Not coded: tagValues is a sample of at most tagValueSample of the values.
    const values = await out.tagValues('user');
    expect(values.length).toBeLessThanOrEqual(2);
    for (const v of values) expect(['u0', 'u1', 'u2', 'u3', 'u4', 'u5']).toContain(v);
  });

  it('a key an input did not code (its values read from the spans) still finds the traces', async () => {
    const a = build('in-a', A, { ...LIMIT, maxDictionaryValues: 1 });
    const b = build('in-b', B, LIMIT);
    const out = await open(merge([asInput(a), asInput(b)], { spanPageBytes: 300, rowsPerColumnPage: 3 }));
    const oracle = await open(buildBlock({ blockId: 'oracle', tenant: TENANT, shard: SHARD, level: 1, batches: batches([...A, ...B]), options: { spanPageBytes: 300, rowsPerColumnPage: 3 } }));
    await expectSameAnswers(out, oracle, requests);
  });

  it('keys coded in the union of inputs that each coded them: tagValues lists every value', async () => {
    const a = build('in-a', A, LIMIT);
    const b = build('in-b', B, LIMIT);
    const out = await open(merge([asInput(a), asInput(b)], { spanPageBytes: 300, rowsPerColumnPage: 3 }));
    expect(await out.tagValues('user')).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u5']);
    expect(await out.tagValues('env')).toEqual(['dev', 'prod']);
  });
});

// ---- a shared trace over span-page boundaries -----------------------------------------------------------

describe('mergeBlocks: shared traces', () => {
  // Trace 2 has 12 spans of ~150 bytes in A: with 300-byte span pages it spills over several
  // pages. B holds spans of trace 2 too (some the same identities with other bytes, some new), so
  // the merge reads A's trace 2 to its last page, then emits it from its first: the cursor must
  // step back to the first page, then forward again for trace 3.
  const A: SpanDef[] = [
    { trace: 1, id: 1, attributes: { small: 's0' } },
    ...Array.from({ length: 12 }, (_, i) => ({ trace: 2, id: 2 * i + 1, ...(i === 0 ? {} : { parent: 1 }), start: 2000 + i, attributes: { small: `s${i % 3}`, big: `a-${i}-${'p'.repeat(80)}` } })),
    { trace: 3, id: 1, attributes: { small: 's1' } },
    { trace: 3, id: 2, parent: 1, attributes: { small: 's2' } },
  ];
  const B: SpanDef[] = [
    ...Array.from({ length: 8 }, (_, i) => ({ trace: 2, id: i + 1, parent: 1, service: 'b', name: `b-${i}`, start: 1990 + i, attributes: { small: `s${3 + (i % 2)}`, big: `b-${i}` } })),
    { trace: 3, id: 7, parent: 1, service: 'b' },
  ];
  const OPTIONS: BuildBlockOptions = { spanPageBytes: 300, rowsPerColumnPage: 3, maxDictionaryValues: 4 };

  it('the fixture spreads trace 2 over several span pages of A', () => {
    const ix = indexOf(build('in-a', A, OPTIONS));
    const t = 1; // trace 2 is the second in trace-ID order
    const first = ix.traces.firstRow[t]!;
    const end = ix.traces.firstRow[t + 1]!;
    const crossing = ix.columns[0]!.pages.filter((p) => p.firstRow > first && p.firstRow < end);
    expect(crossing.length).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['A first', ['A', 'B']],
    ['B first', ['B', 'A']],
  ])('merges a trace held by both inputs and crossing span pages in one (%s)', async (_, order) => {
    const defs = { A, B };
    const blocks = order.map((n) => build(`in-${n.toLowerCase()}`, defs[n as 'A' | 'B'], OPTIONS));
    const merged = mergeBlocks({ blockId: 'out', tenant: TENANT, shard: SHARD, level: 1, inputs: blocks.map(asInput), options: OPTIONS });
    const expected = buildBlock({ blockId: 'oracle', tenant: TENANT, shard: SHARD, level: 1, batches: batches(order.flatMap((n) => defs[n as 'A' | 'B'])), options: OPTIONS });
    const out = await open(merged);
    const oracle = await open(expected);
    expect(merged.meta.spanCount).toBe(expected.meta.spanCount);
    expect(merged.duplicateSpans).toBe(4); // span IDs 1, 3, 5, 7 of trace 2 are in both
    expect(merged.sharedTraces).toBe(2);
    for (const t of [1, 2, 3]) expect(canonicalSpans(await out.findTrace(traceId(t))), `trace ${t}`).toEqual(canonicalSpans(await oracle.findTrace(traceId(t))));
    await expectSameAnswers(out, oracle, [
      { tags: [{ key: 'service.name', value: 'b' }], limit: 10 },
      { tags: [{ key: 'small', value: 's2' }], limit: 10 },
      { tags: [{ key: 'small', value: 's4' }], limit: 10 },
      { tags: [{ key: 'big', value: 'b-6' }], limit: 10 },
      { tags: [{ key: 'big', value: `a-11-${'p'.repeat(80)}` }], limit: 10 },
      { tags: [{ key: 'name', value: 'b-2' }], limit: 10 },
      { tags: [{ key: 'root.name', value: 'op-1' }], limit: 10 },
      { tags: [], limit: 10, minDurationNs: 1 },
    ]);
  });
});
