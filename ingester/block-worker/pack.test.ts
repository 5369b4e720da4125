// The transfer codec: packing keeps every span's bytes, order and group through any chunking, the
// buffers it names are whole and distinct (transferable), damaged tables are refused, and a built
// block's bodies are transferred when they own their buffer and copied when they do not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SpanBatch, SpanGroup } from '../../common/model/index.js';
import type { BuiltBlock } from '../block/index.js';
import { builtTransfer, createBatchPacker, packBatches, packedTransferList, unpackBatches, validatePacked, type PackedBatches } from './pack.js';

/** Every span as `resource|rUrl|scope|sUrl|span` in input order: what buildBlock can observe of the batches. */
function flat(batches: Iterable<SpanBatch>): string[] {
  const out: string[] = [];
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  for (const b of batches) for (const g of b.groups) for (const s of g.spans) out.push(`${hex(g.resource)}|${g.resourceSchemaUrl}|${hex(g.scope)}|${g.scopeSchemaUrl}|${hex(s)}`);
  return out;
}

const bytes = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: 0, maxLength: max });

const groupArb: fc.Arbitrary<Omit<SpanGroup, 'spans'>> = fc.record({ resource: bytes(12), resourceSchemaUrl: fc.constantFrom('', 'https://s/1'), scope: bytes(6), scopeSchemaUrl: fc.constantFrom('', 'x') });

/** Batches over a few groups; some groups are the same objects, some equal content in other objects. */
const batchesArb: fc.Arbitrary<SpanBatch[]> = fc
  .tuple(fc.array(groupArb, { minLength: 1, maxLength: 4 }), fc.array(fc.array(fc.tuple(fc.nat(9), fc.boolean(), fc.array(bytes(40), { maxLength: 6 })), { maxLength: 5 }), { maxLength: 5 }))
  .map(([groups, batches]) =>
    batches.map((gs) => ({
      tenant: 't',
      groups: gs.map(([g, copy, spans]) => {
        const base = groups[g % groups.length]!;
        const shared = copy ? { ...base, resource: new Uint8Array(base.resource), scope: new Uint8Array(base.scope) } : base;
        return { ...shared, spans };
      }),
    })),
  );

describe('pack', () => {
  it('unpack(pack(batches)) holds the same spans in the same order under the same groups, for any chunk size', () => {
    fc.assert(
      fc.property(batchesArb, fc.integer({ min: 1, max: 64 }), (batches, chunkBytes) => {
        const packed = packBatches('t', batches, chunkBytes);
        validatePacked(packed);
        expect(flat(unpackBatches(packed))).toEqual(flat(batches));
        expect(packed.spanCount).toBe(flat(batches).length);
        // Transferable: whole buffers, each listed once.
        const list = packedTransferList(packed);
        expect(new Set(list).size).toBe(list.length);
        for (const c of packed.chunks) expect(c.byteOffset === 0 && c.byteLength === c.buffer.byteLength).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('interns groups: one entry per distinct (resource, scope, schema URLs), however many objects carry it', () => {
    const g = { resource: Uint8Array.of(1, 2), resourceSchemaUrl: '', scope: Uint8Array.of(3), scopeSchemaUrl: '' };
    const p = createBatchPacker('t');
    for (let i = 0; i < 100; i++) p.add({ tenant: 't', groups: [{ ...g, resource: Uint8Array.of(1, 2), spans: [Uint8Array.of(i)] }, { ...g, spans: [Uint8Array.of(i, i)] }] });
    const packed = p.finish();
    expect(packed.schemaUrls.length / 2).toBe(1);
    expect(packed.spanCount).toBe(200);
  });

  it('after a transfer the packed buffers are gone on the sending side (moved, not copied)', () => {
    const packed = packBatches('t', [{ tenant: 't', groups: [{ resource: Uint8Array.of(1), resourceSchemaUrl: '', scope: new Uint8Array(0), scopeSchemaUrl: '', spans: [Uint8Array.of(1, 2, 3)] }] }]);
    const moved = structuredClone(packed, { transfer: packedTransferList(packed) });
    expect(packed.chunks[0]!.byteLength).toBe(0);
    expect(packed.spanEnds.byteLength).toBe(0);
    expect(flat(unpackBatches(moved))).toHaveLength(1);
  });

  it('refuses a batch of another tenant', () => {
    expect(() => packBatches('t', [{ tenant: 'u', groups: [] }])).toThrow(/one tenant/);
  });

  const damaged: [string, (p: PackedBatches) => PackedBatches][] = [
    ['out of its chunk', (p) => ({ ...p, spanEnds: Uint32Array.from(p.spanEnds, (e, i) => (i === 0 ? 1e6 : e)) })],
    ['span group out of range', (p) => ({ ...p, spanGroups: Uint32Array.from(p.spanGroups, () => 7) })],
    ['span count disagrees', (p) => ({ ...p, spanCount: p.spanCount + 1 })],
    ['chunk table size', (p) => ({ ...p, chunkFirstSpan: Uint32Array.of(0) })],
    ['group table sizes disagree', (p) => ({ ...p, schemaUrls: [...p.schemaUrls, ''] })],
    ['group offsets out of order or range', (p) => ({ ...p, groupEnds: Uint32Array.from(p.groupEnds, () => 1e6) })],
  ];
  it.each(damaged)('validatePacked refuses tables that do not add up: %s', (why, damage) => {
    const p = packBatches('t', [{ tenant: 't', groups: [{ resource: Uint8Array.of(1), resourceSchemaUrl: '', scope: Uint8Array.of(2), scopeSchemaUrl: '', spans: [Uint8Array.of(1, 2), Uint8Array.of(3)] }] }]);
    expect(() => validatePacked(p)).not.toThrow();
    expect(() => validatePacked(damage(p))).toThrow(why);
  });

  it('builtTransfer moves bodies that own their buffer and copies views into shared ones', () => {
    const own = new Uint8Array(8).fill(1);
    const pool = new Uint8Array(64).fill(2);
    const view = pool.subarray(8, 16);
    const built = { objects: [{ key: 'a', body: own }, { key: 'b', body: view }, { key: 'c', body: own }], meta: {}, skippedSpans: 0, duplicateSpans: 0 } as unknown as BuiltBlock;
    const t = builtTransfer(built);
    expect(t.built.objects[0]!.body).toBe(own);
    expect(t.built.objects[1]!.body).not.toBe(view);
    expect([...t.built.objects[1]!.body]).toEqual([...view]);
    // The same buffer twice cannot be transferred twice: the second is copied.
    expect(t.built.objects[2]!.body).not.toBe(own);
    expect(new Set(t.transfer).size).toBe(3);
    expect(t.transfer).not.toContain(pool.buffer);
  });
});
