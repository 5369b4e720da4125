// The compaction merge over scripted sources: trace-ID order across inputs, first copy of a span ID
// wins in input order, traces never split across output chunks, out-of-order input refused as a
// corrupt block, and every source closed however the merge ends. (merge.property.test.ts checks
// the union-minus-duplicates law on real blocks.)
import { describe, expect, it } from 'vitest';
import type { SpanBatch, SpanGroup } from '../../common/model/index.js';
import { encodeSpan } from '../../common/otlp/index.js';
import { isBlockCorruptError, type BlockTrace } from '../block/index.js';
import { group, span, spanId, traceId } from '../head/testing/index.js';
import { mergeBlockScans, type MergeSource } from './merge.js';

const G = group('api', []);
const H = group('db', []);

/** A trace of spans (span number, name) under group `g`. */
function trace(t: number, spans: [number, string][], g: Omit<SpanGroup, 'spans'> = G): BlockTrace {
  return { traceId: traceId(t), groups: [{ ...g, spans: spans.map(([s, name]) => encodeSpan(span({ trace: traceId(t), id: spanId(s), name }))) }] };
}

interface Scripted extends MergeSource {
  readonly closed: () => boolean;
}

function source(blockId: string, traces: BlockTrace[]): Scripted {
  let closed = false;
  async function* gen(): AsyncGenerator<BlockTrace> {
    try {
      for (const t of traces) {
        await Promise.resolve();
        yield t;
      }
    } finally {
      closed = true;
    }
  }
  return { blockId, traces: gen(), closed: () => closed };
}

async function collect(batches: AsyncIterable<SpanBatch>): Promise<SpanBatch[]> {
  const out: SpanBatch[] = [];
  for await (const b of batches) out.push(b);
  return out;
}

/** `trace:span:name` per output span, in output order. */
function names(batches: SpanBatch[]): string[] {
  const out: string[] = [];
  for (const b of batches)
    for (const g of b.groups)
      for (const s of g.spans) {
        const text = Buffer.from(s).toString('latin1');
        const name = /(first|second|third|only|x\d*)/.exec(text)?.[0] ?? '?';
        out.push(`${traceNo(s)}:${name}`);
      }
  return out;
}
const traceNo = (s: Uint8Array): number => {
  // trace ID is the first field (tag 0x0a, length 16): the last 4 bytes hold the number.
  return new DataView(s.buffer, s.byteOffset + 2 + 12, 4).getUint32(0);
};

describe('mergeBlockScans', () => {
  it('merges in trace-ID order and keeps the first copy of a span in input order', async () => {
    const a = source('a', [trace(1, [[1, 'first']]), trace(3, [[1, 'first'], [2, 'first']])]);
    const b = source('b', [trace(2, [[1, 'second']]), trace(3, [[2, 'second'], [3, 'second']])]);
    const c = source('c', [trace(3, [[3, 'third'], [4, 'third']]), trace(9, [[1, 'third']])]);
    const m = mergeBlockScans([a, b, c], { tenant: 't' });
    const out = await collect(m.batches);
    expect(names(out)).toEqual(['1:first', '2:second', '3:first', '3:first', '3:second', '3:third', '9:third']);
    expect(m.stats).toEqual({ traces: 4, inputSpans: 9, outputSpans: 7, duplicateSpans: 2 });
    expect(out.every((x) => x.tenant === 't')).toBe(true);
    expect([a, b, c].every((s) => s.closed())).toBe(true);
  });

  it('passes a trace of one input through untouched (same group objects and span arrays)', async () => {
    const t = trace(5, [[1, 'only']], H);
    const out = await collect(mergeBlockScans([source('a', [t])], { tenant: 't' }).batches);
    expect(out[0]!.groups[0]).toBe(t.groups[0]);
  });

  it('cuts output chunks at batchSpans, never inside a trace', async () => {
    const traces = Array.from({ length: 10 }, (_, i) => trace(i + 1, [[1, 'x1'], [2, 'x2'], [3, 'x3']]));
    const out = await collect(mergeBlockScans([source('a', traces)], { tenant: 't', batchSpans: 4 }).batches);
    // 3 spans per trace: a chunk closes once it holds ≥ 4, i.e. after 2 traces.
    expect(out.map((b) => b.groups.reduce((n, g) => n + g.spans.length, 0))).toEqual([6, 6, 6, 6, 6]);
  });

  it('refuses an input whose scan goes backwards as a corrupt block, and closes every source', async () => {
    const a = source('good', [trace(1, [[1, 'first']]), trace(4, [[1, 'first']])]);
    const b = source('bad', [trace(2, [[1, 'second']]), trace(2, [[2, 'second']])]);
    const error = await collect(mergeBlockScans([a, b], { tenant: 't' }).batches).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBlockCorruptError(error) && [error.blockId, error.kind]).toEqual(['bad', 'malformed']);
    expect(a.closed() && b.closed()).toBe(true);
  });

  it('closes the sources when the consumer stops early', async () => {
    const a = source('a', [trace(1, [[1, 'x']]), trace(2, [[1, 'x']]), trace(3, [[1, 'x']])]);
    const b = source('b', [trace(1, [[2, 'x']]), trace(5, [[1, 'x']])]);
    for await (const _ of mergeBlockScans([a, b], { tenant: 't', batchSpans: 1 }).batches) break;
    expect(a.closed() && b.closed()).toBe(true);
  });

  it('an empty input list or empty inputs yield nothing', async () => {
    expect(await collect(mergeBlockScans([], { tenant: 't' }).batches)).toEqual([]);
    expect(await collect(mergeBlockScans([source('a', []), source('b', [])], { tenant: 't' }).batches)).toEqual([]);
  });
});
