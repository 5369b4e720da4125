// ingester/head — the per-shard in-memory head: every acknowledged span of a shard not yet cut into
// a block, held compactly (span bytes in arenas, numeric columns, hashed posting lists, per-trace
// blooms for high-cardinality keys) and queryable at once by trace ID, search, tags, services and
// operations (DESIGN.md §6.4). `admit` dedups and reserves budget before the WAL append, `commit`
// makes the spans visible after it, `insert` serves WAL replay. createHeadQueryBackend answers
// QueryBackend over all of an ingester's shard heads; cut-policy.ts decides when a head is cut into a
// block and which of its traces go.
export { createHead as createShardHead } from './head.js';
export type { AdmitResult, AdmitTicket, HeadOptions, HeadTraceInfo, SearchOutcome, ShardHead } from './head.js';
export { createHeadQueryBackend } from './query-backend.js';
export { computeCutDue, computeCutSplit, CUT_DEFAULTS, type CutDue, type CutPolicy, type HeadFacts, type TraceFacts } from './cut-policy.js';
