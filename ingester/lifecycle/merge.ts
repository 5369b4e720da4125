// The compaction merge (DESIGN.md §7: "compacted content equals the union of its inputs minus
// duplicates"): a k-way merge of the inputs' scans — each yields its traces in trace-ID order —
// into SpanBatch chunks in trace-ID order, keeping the FIRST copy of every (trace ID, span ID) in
// input order (the job's input order, which the caller passes). No I/O of its own: the sources are
// async iterables (BlockReader.scan()).
//
// Memory: the merge itself holds one trace per input plus one output chunk (`batchSpans` spans);
// what a source buffers is the source's business (a block scan holds one coalesced read of pages,
// at most maxReadBytes of stored bytes, decompressed). buildBlock sorts all spans of a block at once,
// so whoever builds the output still holds every output span once (see compactor.ts); the merge
// lets that be packed bytes (ingester/block-worker) rather than a pile of batch objects.
//
// A trace present in one input only (the common case: inputs are cut at different times) passes
// through untouched; only traces in several inputs have their span IDs read to drop duplicates.
// A source that yields out of order would break the merge's promise, so it is refused as a corrupt
// block (BlockCorruptError, kind malformed) rather than merged.
import type { SpanBatch, SpanGroup } from '../../common/model/index.js';
import { createSpanFields, readSpanFields } from '../../common/otlp/index.js';
import { BlockCorruptError, INDEX_OBJECT, type BlockTrace } from '../block/index.js';

export interface MergeSource {
  /** The input block's id (named in errors). */
  readonly blockId: string;
  /** Traces in strictly increasing trace-ID order (BlockReader.scan()). */
  readonly traces: AsyncIterable<BlockTrace>;
}

export interface MergeOptions {
  /** Tenant of the output batches. */
  readonly tenant: string;
  /** Spans per output chunk (a trace is never split). Default 8192. */
  readonly batchSpans?: number;
}

export interface MergeStats {
  /** Distinct traces merged so far. */
  readonly traces: number;
  /** Spans read from all inputs. */
  readonly inputSpans: number;
  /** Spans passed on. */
  readonly outputSpans: number;
  /** Spans dropped as a repeat of a (trace ID, span ID) already passed on. */
  readonly duplicateSpans: number;
}

export interface Merge {
  /** Output chunks in trace-ID order. Iterate once; breaking out closes every source. */
  readonly batches: AsyncIterable<SpanBatch>;
  /** Live counters (final once `batches` is done). */
  readonly stats: MergeStats;
}

export const MERGE_DEFAULTS = { batchSpans: 8192 } as const;

function compareIds(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

const hex = (id: Uint8Array): string => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');

export function mergeBlockScans(sources: readonly MergeSource[], options: MergeOptions): Merge {
  const batchSpans = options.batchSpans ?? MERGE_DEFAULTS.batchSpans;
  const stats = { traces: 0, inputSpans: 0, outputSpans: 0, duplicateSpans: 0 };
  let started = false;

  async function* run(): AsyncGenerator<SpanBatch, void, undefined> {
    if (started) throw new Error('a merge is iterated once');
    started = true;
    const iterators = sources.map((s) => s.traces[Symbol.asyncIterator]());
    const heads: (BlockTrace | undefined)[] = new Array<BlockTrace | undefined>(sources.length).fill(undefined);
    const last: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(sources.length).fill(undefined);
    const done: boolean[] = new Array<boolean>(sources.length).fill(false);

    const advance = async (i: number): Promise<void> => {
      const r = await iterators[i]!.next();
      if (r.done === true) {
        heads[i] = undefined;
        done[i] = true;
        return;
      }
      const t = r.value;
      const prev = last[i];
      if (prev !== undefined && compareIds(prev, t.traceId) >= 0) {
        throw new BlockCorruptError({ blockId: sources[i]!.blockId, object: INDEX_OBJECT, kind: 'malformed', reason: `scan yielded trace ${hex(t.traceId)} after ${hex(prev)}: not in trace-ID order` });
      }
      last[i] = t.traceId;
      heads[i] = t;
    };

    // Min-heap of source indices by (current trace ID, input position).
    const heap: number[] = [];
    const less = (a: number, b: number): boolean => {
      const c = compareIds(heads[a]!.traceId, heads[b]!.traceId);
      return c < 0 || (c === 0 && a < b);
    };
    const push = (i: number): void => {
      heap.push(i);
      let k = heap.length - 1;
      while (k > 0) {
        const p = (k - 1) >> 1;
        if (!less(heap[k]!, heap[p]!)) break;
        [heap[k], heap[p]] = [heap[p]!, heap[k]!];
        k = p;
      }
    };
    const pop = (): number => {
      const top = heap[0]!;
      const end = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = end;
        let k = 0;
        for (;;) {
          const l = 2 * k + 1;
          const r = l + 1;
          let m = k;
          if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
          if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
          if (m === k) break;
          [heap[k], heap[m]] = [heap[m]!, heap[k]!];
          k = m;
        }
      }
      return top;
    };

    const fields = createSpanFields();
    const seen = new Set<string>();
    let groups: SpanGroup[] = [];
    let pending = 0;

    try {
      // One input at a time: each first read loads that block's index (decoded synchronously), and
      // eight of them landing in one tick would hold the event loop for all eight decodes.
      for (let i = 0; i < sources.length; i++) await advance(i);
      for (let i = 0; i < sources.length; i++) if (heads[i] !== undefined) push(i);
      const same: number[] = [];
      while (heap.length > 0) {
        same.length = 0;
        same.push(pop());
        const id = heads[same[0]!]!.traceId;
        while (heap.length > 0 && compareIds(heads[heap[0]!]!.traceId, id) === 0) same.push(pop());
        stats.traces++;
        if (same.length === 1) {
          for (const g of heads[same[0]!]!.groups) {
            if (g.spans.length === 0) continue;
            groups.push(g);
            pending += g.spans.length;
            stats.inputSpans += g.spans.length;
            stats.outputSpans += g.spans.length;
          }
        } else {
          // In input order (the heap breaks ties by position): the first copy of a span ID wins.
          same.sort((a, b) => a - b);
          seen.clear();
          for (const i of same) {
            for (const g of heads[i]!.groups) {
              const kept: Uint8Array[] = [];
              for (const s of g.spans) {
                stats.inputSpans++;
                // A span whose IDs do not read is passed on (buildBlock counts it as skipped).
                if (readSpanFields(s, fields) && fields.spanIdLength === 8) {
                  const o = fields.spanIdOffset;
                  const key = String.fromCharCode(s[o]!, s[o + 1]!, s[o + 2]!, s[o + 3]!, s[o + 4]!, s[o + 5]!, s[o + 6]!, s[o + 7]!);
                  if (seen.has(key)) {
                    stats.duplicateSpans++;
                    continue;
                  }
                  seen.add(key);
                }
                kept.push(s);
              }
              if (kept.length === 0) continue;
              groups.push(kept.length === g.spans.length ? g : { ...g, spans: kept });
              pending += kept.length;
              stats.outputSpans += kept.length;
            }
          }
        }
        if (pending >= batchSpans) {
          const out: SpanBatch = { tenant: options.tenant, groups };
          groups = [];
          pending = 0;
          yield out;
        }
        await Promise.all(same.map((i) => advance(i)));
        for (const i of same) if (heads[i] !== undefined) push(i);
      }
      if (pending > 0) {
        const out: SpanBatch = { tenant: options.tenant, groups };
        groups = [];
        pending = 0;
        yield out;
      }
    } finally {
      // Early exit or error: close the sources still open (a block scan releases its reads).
      const closing: Promise<unknown>[] = [];
      iterators.forEach((it, i) => {
        if (!done[i] && it.return !== undefined) closing.push(it.return());
      });
      await Promise.allSettled(closing);
    }
  }

  return { batches: { [Symbol.asyncIterator]: run }, stats };
}
