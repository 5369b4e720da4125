// ingester/block — immutable blocks (DESIGN.md §7; byte layout, checksums and repair policy in
// FORMAT.md): the spans of one tenant and shard sorted by trace ID, deduplicated, in compressed
// checksummed pages, with a trace table, a trace-ID bloom filter and dictionary-coded search columns.
// buildBlock is pure (batches in, objects out); writeBlock puts them; openBlock reads a block back
// and answers trace-by-ID, search, tags, services and operations with the head's semantics, and
// scans it in trace-ID order for compaction. A damaged page makes the queries that touch it fail
// with BlockCorruptError (code CORRUPT_BLOCK) naming block, object and page; the rest still answer.
export { buildBlock, BLOCK_DEFAULTS, type BuildBlockOptions, type BuildBlockParams, type BuiltBlock, type BlockObject } from './build.js';
export { mergeBlocks, type MergeBlocksParams, type MergedBlock, type MergeInput } from './merge-blocks.js';
export { writeBlock } from './write.js';
export { openBlock, READER_DEFAULTS, type BlockReader, type BlockSearchResult, type BlockTrace, type OpenBlockOptions, type ScanOptions } from './reader.js';
export { BlockCorruptError, isBlockCorruptError, type BlockCorruptKind } from './errors.js';
export type { BlockMeta } from './meta.js';
export { FORMAT_VERSION, blockPrefix, blockObjectKey, tenantKeySegment, DATA_OBJECT, INDEX_OBJECT, BLOOM_OBJECT, META_OBJECT } from './format.js';
export { ROOT_SPAN_NOT_YET_RECEIVED } from './search.js';
export { recoverBlockData, type DamagedRange, type RecoveredData } from './recover.js';
export { createPageCache, type PageCache, type PageCacheStats } from './page-cache.js';
