// The ingester's local QueryBackend: answers from all of its shard heads and merges the parts.
import { SkeinError } from '../../common/errors/index.js';
import type { QueryBackend, SearchRequest } from '../../common/model/index.js';
import type { ShardHead } from './head.js';
import { mergeOperations, mergeSearchResults, mergeSortedUnique, mergeTraceGroups } from './merge.js';

/**
 * `flushedRevision` (DESIGN.md §8, no "trace not found" while a head becomes a block) is the highest
 * manifest revision at which this member committed a block whose frozen head it has since dropped;
 * every findTrace/search answer carries it so the reader of blocks can catch up first.
 *
 * Queries every head held now (the set changes as shards move between members): a trace can sit in two shards across shard-map changes, so trace-by-ID asks
 * all of them and merges with (trace ID, span ID) dedup. Until `isReady()` (WAL replay done) every
 * call rejects with UNAVAILABLE rather than answer "not found" for acknowledged spans.
 */
export function createHeadQueryBackend(currentHeads: () => readonly ShardHead[], isReady: () => boolean, flushedRevision: () => number | undefined = () => undefined): QueryBackend {
  function answer<T>(fn: (heads: readonly ShardHead[]) => T): Promise<T> {
    if (!isReady()) return Promise.reject(new SkeinError('UNAVAILABLE', 'ingester is replaying its write-ahead log; retry shortly'));
    try {
      return Promise.resolve(fn(currentHeads()));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }
  return {
    findTrace: (tenant: string, traceId: Uint8Array) =>
      answer((heads) => {
        const parts = [];
        for (const head of heads) {
          const groups = head.findTrace(tenant, traceId);
          if (groups !== null) parts.push(groups);
        }
        // flushedRevision is read after the heads: a head dropped before this read had its block committed at or below it.
        const flushed = flushedRevision();
        if (parts.length === 0) return flushed === undefined ? null : { groups: [], flushedRevision: flushed };
        const groups = mergeTraceGroups(parts);
        return flushed === undefined ? { groups } : { groups, flushedRevision: flushed };
      }),
    search: (tenant: string, request: SearchRequest) =>
      answer((heads) => {
        let inspectedTraces = 0;
        const parts = heads.map((head) => {
          const r = head.searchWithStats(tenant, request);
          inspectedTraces += r.inspectedTraces;
          return r.traces;
        });
        const flushed = flushedRevision();
        const traces = mergeSearchResults(parts, request.limit);
        return flushed === undefined ? { traces, inspectedTraces } : { traces, inspectedTraces, flushedRevision: flushed };
      }),
    tagNames: (tenant: string) => answer((heads) => mergeSortedUnique(heads.map((h) => h.tagNames(tenant)))),
    tagValues: (tenant: string, tag: string) => answer((heads) => mergeSortedUnique(heads.map((h) => h.tagValues(tenant, tag)))),
    services: (tenant: string) => answer((heads) => mergeSortedUnique(heads.map((h) => h.services(tenant)))),
    operations: (tenant: string, service: string) => answer((heads) => mergeOperations(heads.map((h) => h.operations(tenant, service)))),
    ready: isReady,
  };
}
