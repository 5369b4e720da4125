// FORMAT.md §Repair: `data` alone rebuilds a block whose index, bloom or meta.json is lost, and a
// damaged page costs exactly its own spans.
import { describe, expect, it } from 'vitest';
import { batch, group, span, spanId, traceId } from '../head/testing/index.js';
import { decodeIndex, unframeIndex } from './index-codec.js';
import { recoverBlockData } from './index.js';
import { buildAndOpen, canonicalSpans } from './testing/index.js';

const TRACES = 25;

function input() {
  return [
    batch(
      't',
      ...Array.from({ length: TRACES }, (_, t) =>
        group(['a', 'b', 'c'][t % 3], [1, 2, 3].map((i) => span({ trace: traceId(t + 1), id: spanId(i), name: `op${i}`, attributes: { v: `x${t}-${i}`, pad: 'p'.repeat(40) } })), { zone: `z${t % 2}` }),
      ),
    ),
  ];
}

async function setup() {
  const original = await buildAndOpen(input(), { spanPageBytes: 600, rowsPerColumnPage: 16 });
  const framed = unframeIndex(original.built.objects[1]!.body);
  if (!framed.ok) throw new Error(framed.reason);
  const ix = decodeIndex(framed.raw);
  const ids = Array.from({ length: TRACES }, (_, t) => traceId(t + 1));
  const want = await Promise.all(ids.map(async (id) => canonicalSpans(await original.reader.findTrace(id))));
  return { original, ix, ids, want, data: original.built.objects[0]!.body };
}

describe('recoverBlockData', () => {
  it('rebuilds the same block content from the data object alone', async () => {
    const { ids, want, data } = await setup();
    const recovered = recoverBlockData(data, 't');
    expect(recovered.damaged).toEqual([]);
    expect(recovered.spans).toBe(TRACES * 3);
    const rebuilt = await buildAndOpen(recovered.batches, {}, { blockId: 'rebuilt' });
    for (let t = 0; t < TRACES; t++) expect(canonicalSpans(await rebuilt.reader.findTrace(ids[t]!))).toEqual(want[t]);
    expect(await rebuilt.reader.search({ tags: [{ key: 'zone', value: 'z1' }, { key: 'name', value: 'op2' }], limit: 50 })).toEqual(
      await (await setup()).original.reader.search({ tags: [{ key: 'zone', value: 'z1' }, { key: 'name', value: 'op2' }], limit: 50 }),
    );
  });

  it('loses exactly the spans of a damaged span page, and finds every page after it', async () => {
    const { ix, ids, want, data } = await setup();
    const pages = ix.columns[0]!.pages;
    expect(pages.length).toBeGreaterThan(4);
    const victim = pages[2]!;
    const damaged = Uint8Array.from(data);
    damaged[victim.offset + 40] = damaged[victim.offset + 40]! ^ 0x55;
    damaged[victim.offset + 9] = damaged[victim.offset + 9]! ^ 0x01; // its stored length too: recovery must resynchronise
    const recovered = recoverBlockData(damaged, 't');
    expect(recovered.damaged).toHaveLength(1);
    expect(recovered.damaged[0]!.offset).toBe(victim.offset);
    expect(recovered.damaged[0]!.length).toBe(victim.length);
    const lost = pages[3]!.firstRow - victim.firstRow;
    expect(recovered.spans).toBe(TRACES * 3 - lost);
    const rebuilt = await buildAndOpen(recovered.batches, {}, { blockId: 'salvaged' });
    let intact = 0;
    for (let t = 0; t < TRACES; t++) {
      const got = canonicalSpans(await rebuilt.reader.findTrace(ids[t]!));
      const first = ix.traces.firstRow[ix.traces.ids.findIndex((_, i) => i % 16 === 0 && Buffer.compare(ix.traces.ids.subarray(i, i + 16), ids[t]!) === 0) / 16]!;
      const inVictim = first >= victim.firstRow && first < pages[3]!.firstRow;
      if (!inVictim && got.length === want[t]!.length) {
        expect(got).toEqual(want[t]);
        intact++;
      }
      for (const s of got) expect(want[t]).toContain(s);
    }
    expect(intact).toBeGreaterThan(TRACES / 2);
  });

  it('uses the index groups when the groups page is lost, and says so when none are known', async () => {
    const { original, ix, data } = await setup();
    const damaged = Uint8Array.from(data);
    damaged[8 + 20] = damaged[8 + 20]! ^ 0xff; // inside the groups page, right after the data header
    const without = recoverBlockData(damaged, 't');
    expect(without.spans).toBe(0);
    expect(without.damaged.map((d) => d.reason).join('; ')).toMatch(/no readable groups page/);
    const withIndex = recoverBlockData(damaged, 't', ix.groups);
    expect(withIndex.spans).toBe(original.built.meta.spanCount);
  });

  it('reports a damaged data header and still reads the pages', async () => {
    const { data, original } = await setup();
    const damaged = Uint8Array.from(data);
    damaged[0] = 0;
    const r = recoverBlockData(damaged, 't');
    expect(r.damaged[0]).toMatchObject({ offset: 0, reason: expect.stringMatching(/data header/) });
    expect(r.spans).toBe(original.built.meta.spanCount);
  });
});
