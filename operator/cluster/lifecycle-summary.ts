// What the block manifest holds, counted (pure): blocks and bytes per state, jobs claimed or not,
// and when compaction and retention last changed something — for the lifecycle controller's metrics
// and the TracingCluster status (DESIGN.md §9 "block counts/bytes and last compaction/retention").
import type { BlockState } from '../../common/coord/index.js';
import { isVisible, type ObservedBlock, type ObservedJob } from '../../ingester/lifecycle/index.js';

export const BLOCK_STATES: readonly BlockState[] = ['live', 'compacting', 'compacted', 'expired'];

export interface ManifestSummary {
  readonly blocks: { readonly [S in BlockState]: { readonly count: number; readonly bytes: number } };
  /** What queries read (live and compacting): the cluster's stored data. */
  readonly visible: { readonly count: number; readonly bytes: number };
  readonly jobs: { readonly unclaimed: number; readonly claimed: number };
  /**
   * Wall-clock ms of the newest compaction commit the manifest still shows: the creation of a
   * compaction output (a block no flush wrote) or an input turning compacted. Undefined when none
   * is left (collected), which callers read as "no news", not "never".
   */
  readonly lastCompactionMs: number | undefined;
  /** Wall-clock ms of the newest expiry the manifest still shows (until the block is collected). */
  readonly lastRetentionMs: number | undefined;
}

export function summarizeManifest(blocks: Iterable<ObservedBlock>, jobs: Iterable<ObservedJob>): ManifestSummary {
  const by = { live: { count: 0, bytes: 0 }, compacting: { count: 0, bytes: 0 }, compacted: { count: 0, bytes: 0 }, expired: { count: 0, bytes: 0 } };
  const visible = { count: 0, bytes: 0 };
  let lastCompactionMs: number | undefined;
  let lastRetentionMs: number | undefined;
  const later = (a: number | undefined, b: number): number => (a === undefined ? b : Math.max(a, b));
  for (const b of blocks) {
    const { state, meta, flushedBy, createdAtMs, stateChangedAtMs } = b.value;
    by[state].count++;
    by[state].bytes += meta.bytes;
    if (isVisible(state)) {
      visible.count++;
      visible.bytes += meta.bytes;
    }
    // Only a compaction commit creates a block without flushedBy; it also turns inputs compacted.
    if (flushedBy === undefined) lastCompactionMs = later(lastCompactionMs, createdAtMs);
    if (state === 'compacted') lastCompactionMs = later(lastCompactionMs, stateChangedAtMs);
    if (state === 'expired') lastRetentionMs = later(lastRetentionMs, stateChangedAtMs);
  }
  let claimed = 0;
  let unclaimed = 0;
  for (const j of jobs) {
    if (j.claim === undefined) unclaimed++;
    else claimed++;
  }
  return { blocks: by, visible, jobs: { unclaimed, claimed }, lastCompactionMs, lastRetentionMs };
}
