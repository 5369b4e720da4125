// One QueryBackend over heads (recent spans, from the ingesters or this process's own heads) and
// blocks (everything cut since): answers are merged with (trace ID, span ID) dedup, so a span seen
// in a head and in a block is one span.
//
// No "trace not found" while a head becomes a block: an ingester drops a frozen head only after the
// block holding its spans committed at manifest revision R, and every heads answer names the highest
// such R it has (flushedRevision). The blocks are read only after the heads answered, from a manifest
// view at least R new — waiting for the watch to deliver R if it has not yet (normally
// milliseconds). If it does not arrive within the catch-up bound the answer is marked partial.
import { SkeinError, isSkeinError } from '../../common/errors/index.js';
import type { OperationInfo, QueryBackend, SearchRequest, SearchResult, TraceResult } from '../../common/model/index.js';
import { combineSearchResults, combineTraceResults, mergeOperations, mergePartial, mergeSortedUnique } from '../combine/index.js';
import type { BlockBackend } from './block-backend.js';

export interface HeadsAndBlocksOptions {
  /** Longest wait for the manifest view to reach a heads answer's flushed revision. Default 5000 ms. */
  readonly catchUpTimeoutMs?: number;
}

export const HEADS_AND_BLOCKS_DEFAULTS = { catchUpTimeoutMs: 5000 } as const;

/** The heads' answer, or the UNAVAILABLE that made it fail (kept as a partial reason when blocks answer). */
async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: SkeinError }> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    if (isSkeinError(e) && e.code === 'UNAVAILABLE') return { ok: false, error: e };
    throw e;
  }
}

export function createHeadsAndBlocksBackend(heads: QueryBackend, blocks: BlockBackend, options: HeadsAndBlocksOptions = {}): QueryBackend {
  const catchUpMs = options.catchUpTimeoutMs ?? HEADS_AND_BLOCKS_DEFAULTS.catchUpTimeoutMs;

  /** Waits for the view to cover `flushed`; a reason when it did not in time. */
  async function catchUp(flushed: number | undefined): Promise<string[]> {
    if (flushed === undefined || flushed <= 0) return [];
    if (await blocks.waitForRevision(flushed, catchUpMs)) return [];
    return [`block manifest view at revision ${blocks.revision()} did not reach revision ${flushed} (spans an ingester moved into blocks) within ${catchUpMs} ms`];
  }

  async function lists<T>(fromHeads: () => Promise<T[]>, fromBlocks: () => Promise<{ values: T[] }>, merge: (l: T[][]) => T[]): Promise<T[]> {
    // Lists have no partial marker; a missing source only means a shorter list.
    const [h, b] = await Promise.all([fromHeads(), fromBlocks()]);
    return merge([h, b.values]);
  }

  return {
    async findTrace(tenant, traceId) {
      const h = await settle(heads.findTrace(tenant, traceId));
      const reasons = h.ok ? await catchUp(h.value?.flushedRevision) : [h.error.message];
      const b = await blocks.findTrace(tenant, traceId);
      const headPart: TraceResult | null = h.ok ? h.value : null;
      const combined = combineTraceResults([headPart, b], reasons);
      if (combined === null || combined.groups.length === 0) {
        // Nothing anywhere: "not found" only when every source answered in full.
        const partial = mergePartial(reasons, headPart?.partial, b?.partial);
        if (partial !== undefined) throw new SkeinError('UNAVAILABLE', `trace not found, but the answer is incomplete (${partial.reasons.join('; ')}); retry shortly`);
        return null;
      }
      return combined;
    },

    async search(tenant, request: SearchRequest): Promise<SearchResult> {
      const h = await settle(heads.search(tenant, request));
      const reasons = h.ok ? await catchUp(h.value.flushedRevision) : [h.error.message];
      const b = await blocks.search(tenant, request);
      return combineSearchResults(h.ok ? [h.value, b] : [b], request.limit, reasons);
    },

    tagNames: (tenant) => lists(() => heads.tagNames(tenant), () => blocks.tagNames(tenant), mergeSortedUnique),
    tagValues: (tenant, tag) => lists(() => heads.tagValues(tenant, tag), () => blocks.tagValues(tenant, tag), mergeSortedUnique),
    services: (tenant) => lists(() => heads.services(tenant), () => blocks.services(tenant), mergeSortedUnique),
    operations: (tenant, service) => lists<OperationInfo>(() => heads.operations(tenant, service), () => blocks.operations(tenant, service), mergeOperations),
    ready: () => heads.ready(),
  };
}
