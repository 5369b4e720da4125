// DESIGN.md §10 invariant 6 for compaction's merge (mergeBlocks, as the compactor runs it), on real
// blocks: for random inputs — traces spread over several blocks, the same (trace ID, span ID) in
// several blocks with other bytes — the output holds exactly the union of its inputs minus
// duplicates: one span per identity, the copy of the first input (job order) that has it, under
// that copy's resource and scope. (ingester/block/merge-blocks.property.test.ts checks every query
// answer of the output against buildBlock's.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SpanBatch } from '../../common/model/index.js';
import { createMemoryObjectStore } from '../../common/storage/index.js';
import { buildBlock, mergeBlocks, openBlock, writeBlock, type BlockReader } from '../block/index.js';
import { batch, group, span, spanId, traceId } from '../head/testing/index.js';

const SERVICES = ['api', 'db'];
const BASE = 1_700_000_000_000_000_000n;

interface SpanSpec {
  readonly trace: number;
  readonly span: number;
  /** Changes the bytes (name and an attribute) without changing the identity. */
  readonly variant: number;
  readonly service: number;
}

const specArb: fc.Arbitrary<SpanSpec> = fc.record({ trace: fc.integer({ min: 1, max: 6 }), span: fc.integer({ min: 1, max: 6 }), variant: fc.nat(3), service: fc.nat(SERVICES.length - 1) });
const inputsArb = fc.array(fc.array(specArb, { minLength: 1, maxLength: 25 }), { minLength: 1, maxLength: 5 });

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function batchesOf(specs: readonly SpanSpec[]): SpanBatch[] {
  // One group per span keeps input order exactly as listed (buildBlock keeps the first in input order).
  return specs.map((s) =>
    batch('t', group(SERVICES[s.service], [span({ trace: traceId(s.trace), id: spanId(s.span), name: `op-${s.variant}`, start: BASE + BigInt(s.variant), attributes: { v: BigInt(s.variant) } })])),
  );
}

/** (trace, span) → `resource|scope|span bytes`, from reading every trace of a block. */
async function contents(reader: BlockReader): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const t of reader.scan()) {
    for (const g of t.groups) {
      for (const s of g.spans) {
        // Span ID: field 2 follows the 16-byte trace ID (tag 0x0a len 16, then tag 0x12 len 8).
        const key = `${hex(t.traceId)}/${hex(s.subarray(20, 28))}`;
        expect(out.has(key)).toBe(false);
        out.set(key, `${hex(g.resource)}|${hex(g.scope)}|${hex(s)}`);
      }
    }
  }
  return out;
}

describe('compaction merge (property)', () => {
  it('compaction output == union of inputs minus duplicates, first input wins', async () => {
    await fc.assert(
      fc.asyncProperty(inputsArb, async (inputs) => {
        const store = createMemoryObjectStore();
        const readers: BlockReader[] = [];
        for (let i = 0; i < inputs.length; i++) {
          await writeBlock(store, buildBlock({ blockId: `in-${i}`, tenant: 't', shard: 1, level: 0, batches: batchesOf(inputs[i]!) }));
          readers.push(await openBlock(store, 't', 1, `in-${i}`));
        }
        // The expectation from the inputs as stored (each input block deduplicated itself).
        const expected = new Map<string, string>();
        let stored = 0;
        for (const r of readers) {
          const c = await contents(r);
          stored += c.size;
          for (const [k, v] of c) if (!expected.has(k)) expected.set(k, v);
        }

        const objects = await Promise.all(inputs.map(async (_, i) => ({ blockId: `in-${i}`, index: await store.get(`t/1/in-${i}/index`), data: await store.get(`t/1/in-${i}/data`) })));
        const built = mergeBlocks({ blockId: 'out', tenant: 't', shard: 1, level: 1, inputs: objects });
        await writeBlock(store, built);
        const out = await contents(await openBlock(store, 't', 1, 'out'));

        expect(out).toEqual(expected);
        expect(built.inputSpans).toBe(stored);
        expect(built.duplicateSpans).toBe(stored - expected.size);
        expect(built.meta.spanCount).toBe(expected.size);
        // Coverage the commit checks: the output spans the inputs' time and trace-ID ranges.
        expect(built.meta.minStartMs).toBe(Math.min(...readers.map((r) => r.meta.minStartMs)));
        expect(built.meta.maxEndMs).toBe(Math.max(...readers.map((r) => r.meta.maxEndMs)));
        expect(built.meta.minTraceId).toBe(readers.map((r) => r.meta.minTraceId).sort()[0]);
        expect(built.meta.maxTraceId).toBe(readers.map((r) => r.meta.maxTraceId).sort().at(-1));
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
