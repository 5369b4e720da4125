// When a shard's head is cut into a block, and which of its traces go into that block (DESIGN.md
// §6.5, §7). Pure: the shard set gathers the facts, this decides.
//
// A cut freezes the whole head (the WAL rotates at the same instant, so the segments before the
// rotation hold exactly the frozen head) and starts a new one for new writes. Of the frozen head's
// traces, the idle ones go into the block; the ones still receiving spans are carried over into
// the new head (re-appended through the WAL), so that a trace is decided by tail sampling once it
// is complete — unless it has been carried too long (older than maxTraceAgeMs) or carrying it
// would take more than its share of the new head, then it is cut as it is and its later spans land
// in a later block (queries merge blocks; compaction joins them).

export interface CutPolicy {
  /** Cut when the head holds this many bytes (default: half the shard's head budget). */
  readonly maxHeadBytes: number;
  /** Cut when the head is this old (ms since it was created) and holds anything. */
  readonly maxHeadAgeMs: number;
  /** A trace with no new span for this long is complete enough to cut. */
  readonly traceIdleMs: number;
  /** A trace whose first span started this long ago is cut even while it is still receiving spans. */
  readonly maxTraceAgeMs: number;
  /** Carried-over traces may fill at most this share of the head budget; the oldest beyond it are cut. */
  readonly maxCarryFraction: number;
}

export const CUT_DEFAULTS = {
  /** Tempo's ingester uses 30 min; a shorter default bounds replay time and head memory per shard. */
  maxHeadAgeMs: 5 * 60_000,
  /** Tempo's trace_idle_period default is 10 s (5 s in later releases); traces of a request finish within seconds. */
  traceIdleMs: 10_000,
  maxTraceAgeMs: 30 * 60_000,
  maxCarryFraction: 0.25,
  headFraction: 0.5,
} as const;

export interface HeadFacts {
  readonly usedBytes: number;
  readonly spanCount: number;
  readonly createdAtMs: number;
}

export type CutDue = { readonly due: false } | { readonly due: true; readonly reason: 'size' | 'age' | 'shutdown' | 'handoff' };

/** Whether the head should be cut now. `forced` covers graceful shutdown and handoff. */
export function computeCutDue(policy: CutPolicy, head: HeadFacts, nowMs: number, forced?: 'shutdown' | 'handoff'): CutDue {
  if (head.spanCount === 0) return { due: false };
  if (forced !== undefined) return { due: true, reason: forced };
  if (head.usedBytes >= policy.maxHeadBytes) return { due: true, reason: 'size' };
  if (nowMs - head.createdAtMs >= policy.maxHeadAgeMs) return { due: true, reason: 'age' };
  return { due: false };
}

export interface TraceFacts {
  readonly lastWriteMs: number;
  /** Earliest span start, ns since the epoch. */
  readonly startNs: number;
  /** Estimated bytes the trace takes in a head (spans × average span size is good enough). */
  readonly bytes: number;
}

/**
 * Splits a frozen head's traces: indexes of those to cut now and of those to carry into the new
 * head. On a forced cut (shutdown, handoff) everything is cut: the next owner must not depend on
 * this member's memory. The carry budget goes to the most recently written traces first (they are
 * the likeliest to receive more spans).
 */
export function computeCutSplit(policy: CutPolicy, traces: readonly TraceFacts[], nowMs: number, headBudgetBytes: number, forced: boolean): { cut: number[]; carry: number[] } {
  const cut: number[] = [];
  if (forced) return { cut: traces.map((_, i) => i), carry: [] };
  const candidates: number[] = [];
  for (let i = 0; i < traces.length; i++) {
    const t = traces[i]!;
    const idle = nowMs - t.lastWriteMs >= policy.traceIdleMs;
    const tooOld = nowMs - t.startNs / 1e6 >= policy.maxTraceAgeMs;
    if (idle || tooOld) cut.push(i);
    else candidates.push(i);
  }
  candidates.sort((a, b) => traces[b]!.lastWriteMs - traces[a]!.lastWriteMs || a - b);
  const budget = headBudgetBytes * policy.maxCarryFraction;
  const carry: number[] = [];
  let used = 0;
  for (const i of candidates) {
    const bytes = traces[i]!.bytes;
    if (used + bytes <= budget) {
      carry.push(i);
      used += bytes;
    } else {
      cut.push(i);
    }
  }
  cut.sort((a, b) => a - b);
  carry.sort((a, b) => a - b);
  return { cut, carry };
}
