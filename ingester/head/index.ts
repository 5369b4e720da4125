// ingester/head — the per-shard in-memory head: every acknowledged span of a shard not yet cut into
// a block, held compactly (span bytes in arenas, numeric columns, hashed posting lists, per-trace
// blooms for high-cardinality keys) and queryable at once by trace ID, search, tags, services and
// operations (DESIGN.md §6.4). `admit` dedups and reserves budget before the WAL append, `commit`
// makes the spans visible after it, `insert` serves WAL replay. createHeadQueryBackend answers
// QueryBackend over all of an ingester's shard heads.
import { createHead, type HeadOptions, type ShardHead } from './head.js';

export type { AdmitResult, AdmitTicket, HeadOptions, SearchOutcome, ShardHead } from './head.js';
export { DEFAULT_MAX_TAG_VALUES_PER_KEY, FULL_RETRY_AFTER_SECONDS } from './head.js';
export { createHeadQueryBackend } from './query-backend.js';
export { ROOT_SPAN_NOT_YET_RECEIVED, combineSummaries, compareSummaries, mergeOperations, mergeSearchResults, mergeSortedUnique, mergeTraceGroups } from './merge.js';

export function createShardHead(options: HeadOptions): ShardHead {
  return createHead(options);
}
