// ingester/block-worker — buildBlock off the event loop (DESIGN.md §7: "ingesters do the heavy
// work", without stalling ingest while they do). A pool of worker threads (default 1) builds blocks
// for flushes and compactions; span batches cross packed into a few large transferred ArrayBuffers
// (pack.ts), the built objects come back transferred too. A crashed worker fails only its task and
// is replaced. Size 0 builds on the calling thread behind the same interface.
export { createBlockWorkerPool, BLOCK_WORKER_DEFAULTS, type BlockWorkerPool, type BlockWorkerPoolOptions, type BlockWorkerPoolStats, type BuildCallOptions } from './pool.js';
export { createBatchPacker, packBatches, unpackBatches, validatePacked, packedTransferList, CHUNK_BYTES, type BatchPacker, type PackedBatches } from './pack.js';
export type { PackedBuildParams } from './protocol.js';
