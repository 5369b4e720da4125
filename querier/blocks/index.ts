// querier/blocks — queries over the blocks in object storage: a watched manifest view, a bounded
// cache of block readers, pruning by tenant, trace-ID range and time range, unreadable blocks
// skipped and reported (block-backend.ts); and one backend over heads and blocks that reads blocks
// only from a manifest view at least as new as the heads' flushed revision, so a trace never goes
// missing while its head is cut into a block (heads-and-blocks.ts).
export { createBlockBackend, BLOCK_BACKEND_DEFAULTS, type BlockBackend, type BlockBackendOptions } from './block-backend.js';
export { createHeadsAndBlocksBackend, HEADS_AND_BLOCKS_DEFAULTS, type HeadsAndBlocksOptions } from './heads-and-blocks.js';
