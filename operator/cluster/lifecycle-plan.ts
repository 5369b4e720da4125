// The lifecycle controller's decisions (DESIGN.md §7), pure: from the manifest as observed (blocks,
// jobs with their claim keys, the policy) and the wall-clock time, the manifest transitions to make
// — abandon jobs whose holder is gone, expire blocks past retention, plan compaction jobs. No I/O:
// the shell (lifecycle-controller.ts) sends them through the manifest store, whose guarded txns
// make any stale decision fail harmlessly (MANIFEST.md); nothing here must be exact, only safe.
//
// Compaction (Tempo's time-window selection, simplified):
//   - Blocks are grouped by (shard, tenant, window), the window being the policy's windowMs-long
//     slice of wall time that holds the block's maxEndMs. maxEndMs, not minStartMs, because it is
//     what retention compares: all inputs of a job end within one window, so an output (whose
//     maxEndMs is the inputs' largest) expires at most one window later than its oldest input would
//     have — compaction never holds data much past retention, and never merges old data with new.
//   - A window is OPEN until settleMs after its end: blocks ending in it may still be flushed (a
//     head is cut up to cut-max-age after its spans end). In an open window only blocks of the same
//     level are merged, and only once at least minInputs of them are live; the output is one level
//     up. So a busy window is merged in rounds (4 level-0 → 1 level-1, 4 level-1 → 1 level-2...)
//     instead of rewriting one growing block every time a new small one arrives.
//   - Once CLOSED, a window is merged down whatever the levels: any 2 or more blocks that fit
//     together, output level = highest input level + 1, until one block per (shard, tenant,
//     window) is left or no two remaining blocks fit within the size bound.
//   - Every job is bounded by MAX_JOB_INPUTS (one etcd txn commits it) and by the policy's
//     maxBlockBytes over the sum of its inputs' meta.bytes. Each job turns ≥ 2 blocks into one, so
//     compaction of a window always ends.
//   - Open windows merge the oldest blocks first (by the time they became live); closed windows the
//     smallest first (two blocks that fit together exist iff the two smallest do).
//   - At most maxOpenJobs jobs exist at once: planned-but-unclaimed jobs hold their inputs in
//     `compacting`, so planning far ahead of the ingesters that run them gains nothing.
import { computeRetentionHorizon, MAX_JOB_INPUTS, type ObservedBlock, type ObservedJob, type ObservedPolicy } from '../../ingester/lifecycle/index.js';

export interface LifecyclePlanOptions {
  /** Live blocks of one level an open window needs before they are merged. */
  readonly minInputs: number;
  /** How long after a window's end blocks may still arrive for it; then it is merged down regardless of levels. */
  readonly settleMs: number;
  /** A job never claimed is abandoned this long after it was planned (its inputs are planned again). */
  readonly jobClaimTimeoutMs: number;
  /** Most inputs of one job; never more than MAX_JOB_INPUTS. */
  readonly maxJobInputs: number;
  /** Most jobs (planned, claimed or not) at once; no new job is planned beyond it. */
  readonly maxOpenJobs: number;
}

/** Defaults live in one place (STYLE.md rule 8). */
export const DEFAULT_LIFECYCLE_PLAN_OPTIONS: LifecyclePlanOptions = {
  minInputs: 4,
  // cut-max-age (5 min by default) plus flush and clock skew, with room to spare.
  settleMs: 15 * 60_000,
  jobClaimTimeoutMs: 10 * 60_000,
  maxJobInputs: MAX_JOB_INPUTS,
  maxOpenJobs: 64,
};

export type AbandonWhy =
  /** The job was claimed and its claim key is gone: the holder released it or its lease ended. */
  | 'claim-lost'
  /** Nobody claimed the job within jobClaimTimeoutMs. */
  | 'never-claimed';

export type CompactionWhy = 'open-window' | 'closed-window';

export interface AbandonAction {
  readonly kind: 'abandon';
  readonly job: ObservedJob;
  /** Every input of the job, each observed as compacting(job). */
  readonly inputs: readonly ObservedBlock[];
  readonly why: AbandonWhy;
}

export interface ExpireAction {
  readonly kind: 'expire';
  readonly block: ObservedBlock;
  readonly policy: ObservedPolicy;
  /** Blocks ending before this (wall-clock ms) expire. */
  readonly horizonMs: number;
}

export interface PlanAction {
  readonly kind: 'plan';
  readonly shard: number;
  readonly tenant: string;
  /** Of the output. */
  readonly level: number;
  readonly windowStartMs: number;
  /** Exclusive: the window is [windowStartMs, windowEndMs) of the inputs' maxEndMs. */
  readonly windowEndMs: number;
  readonly inputs: readonly ObservedBlock[];
  /** Sum of the inputs' meta.bytes. */
  readonly bytes: number;
  readonly why: CompactionWhy;
}

export type LifecycleAction = AbandonAction | ExpireAction | PlanAction;

export interface LifecyclePlan {
  /** Abandons first, then expiries, then new jobs (the order the shell sends them in). */
  readonly actions: readonly LifecycleAction[];
  /**
   * Age (ms since it became live) of the oldest live block that belongs in a job by the rules above
   * — planned now, or held back by maxOpenJobs — or of the oldest job not yet committed; 0 when
   * there is none. It stays high when jobs are
   * planned but never committed, which is what an alert wants to see.
   */
  readonly compactionLagMs: number;
  /** Jobs the rules call for that maxOpenJobs held back to a later pass. */
  readonly deferredJobs: number;
  /** Jobs that should be abandoned but whose inputs are not all observed as compacting(job): left alone, for a person to look at. */
  readonly stuckJobs: readonly { readonly id: string; readonly why: string }[];
}

export interface LifecycleObservation {
  /** Every block key of the manifest, any state. */
  readonly blocks: Iterable<ObservedBlock>;
  readonly jobs: Iterable<ObservedJob>;
  /** Undefined while no policy was written: then nothing expires and nothing is compacted. */
  readonly policy: ObservedPolicy | undefined;
}

export function computeLifecyclePlan(observed: LifecycleObservation, nowMs: number, options: Partial<LifecyclePlanOptions> = {}): LifecyclePlan {
  const o = resolveLifecyclePlanOptions(options);
  const blocks = [...observed.blocks];
  const jobs = [...observed.jobs].sort((a, b) => compareStrings(a.id, b.id));
  const policy = observed.policy;

  // ---- abandon
  const inputsOf = new Map<string, ObservedBlock[]>();
  for (const b of blocks) {
    if (b.value.state !== 'compacting' || b.value.job === undefined) continue;
    const list = inputsOf.get(b.value.job) ?? [];
    list.push(b);
    inputsOf.set(b.value.job, list);
  }
  const abandons: AbandonAction[] = [];
  const stuckJobs: { id: string; why: string }[] = [];
  for (const job of jobs) {
    if (job.claim !== undefined) continue;
    const why: AbandonWhy | undefined = job.value.claim !== undefined ? 'claim-lost' : nowMs >= job.value.createdAtMs + o.jobClaimTimeoutMs ? 'never-claimed' : undefined;
    if (why === undefined) continue;
    // Every input must be seen as compacting(job): an input left out of the abandon txn would stay
    // compacting after its job is gone, with nothing left to ever return it to live.
    const inputs = (inputsOf.get(job.id) ?? []).filter((b) => b.shard === job.value.shard);
    const seen = new Set(inputs.map((b) => b.blockId));
    const missing = job.value.inputs.filter((id) => !seen.has(id));
    if (missing.length > 0 || inputs.length !== job.value.inputs.length) {
      stuckJobs.push({ id: job.id, why: `inputs ${missing.join(',') || '(extra blocks)'} are not observed as compacting(${job.id})` });
      continue;
    }
    inputs.sort((a, b) => compareStrings(a.blockId, b.blockId));
    abandons.push({ kind: 'abandon', job, inputs, why });
  }

  // ---- retention
  const expires: ExpireAction[] = [];
  const expiring = new Set<string>();
  if (policy !== undefined) {
    const horizonMs = computeRetentionHorizon(policy.value, nowMs);
    for (const b of blocks) {
      if (b.value.state === 'live' && b.value.meta.maxEndMs < horizonMs) {
        expires.push({ kind: 'expire', block: b, policy, horizonMs });
        expiring.add(b.key);
      }
    }
    expires.sort((a, b) => compareStrings(a.block.key, b.block.key));
  }

  // ---- compaction
  const candidates: PlanAction[] = [];
  if (policy !== undefined && policy.value.compaction.enabled) {
    const { windowMs, maxBlockBytes } = policy.value.compaction;
    const groups = new Map<string, { shard: number; tenant: string; windowStartMs: number; blocks: ObservedBlock[] }>();
    for (const b of blocks) {
      if (b.value.state !== 'live' || expiring.has(b.key)) continue;
      const windowStartMs = Math.floor(b.value.meta.maxEndMs / windowMs) * windowMs;
      const gk = JSON.stringify([b.shard, b.value.meta.tenant, windowStartMs]);
      let g = groups.get(gk);
      if (g === undefined) groups.set(gk, (g = { shard: b.shard, tenant: b.value.meta.tenant, windowStartMs, blocks: [] }));
      g.blocks.push(b);
    }
    for (const g of groups.values()) {
      const windowEndMs = g.windowStartMs + windowMs;
      const closed = nowMs >= windowEndMs + o.settleMs;
      const emit = (inputs: ObservedBlock[], bytes: number): void => {
        candidates.push({
          kind: 'plan',
          shard: g.shard,
          tenant: g.tenant,
          level: Math.max(...inputs.map((b) => b.value.meta.level)) + 1,
          windowStartMs: g.windowStartMs,
          windowEndMs,
          inputs,
          bytes,
          why: closed ? 'closed-window' : 'open-window',
        });
      };
      if (closed) {
        const sorted = [...g.blocks].sort((a, b) => a.value.meta.bytes - b.value.meta.bytes || compareStrings(a.blockId, b.blockId));
        pack(sorted, 2, o.maxJobInputs, maxBlockBytes, emit);
      } else {
        const byLevel = new Map<number, ObservedBlock[]>();
        for (const b of g.blocks) {
          const list = byLevel.get(b.value.meta.level);
          if (list === undefined) byLevel.set(b.value.meta.level, [b]);
          else list.push(b);
        }
        for (const level of [...byLevel.keys()].sort((a, b) => a - b)) {
          const sorted = byLevel.get(level)!.sort((a, b) => a.value.stateChangedAtMs - b.value.stateChangedAtMs || compareStrings(a.blockId, b.blockId));
          pack(sorted, o.minInputs, o.maxJobInputs, maxBlockBytes, emit);
        }
      }
    }
  }
  // Oldest windows first; then a stable order so that equal observations give equal plans.
  candidates.sort((a, b) => a.windowStartMs - b.windowStartMs || a.shard - b.shard || compareStrings(a.tenant, b.tenant) || a.level - b.level || compareStrings(a.inputs[0]!.blockId, b.inputs[0]!.blockId));
  const openJobs = jobs.length - abandons.length;
  const room = Math.max(0, o.maxOpenJobs - openJobs);
  const plans = candidates.slice(0, room);

  let oldest = Number.POSITIVE_INFINITY;
  for (const c of candidates) for (const b of c.inputs) oldest = Math.min(oldest, b.value.stateChangedAtMs);
  // A job planned but not committed keeps its inputs waiting too (they are compacting, no longer
  // live candidates): its age bounds the lag from below, so jobs no worker runs show up here.
  for (const job of jobs) oldest = Math.min(oldest, job.value.createdAtMs);
  const compactionLagMs = Number.isFinite(oldest) ? Math.max(0, nowMs - oldest) : 0;

  return { actions: [...abandons, ...expires, ...plans], compactionLagMs, deferredJobs: candidates.length - plans.length, stuckJobs };
}

/**
 * First-fit packing of `sorted` into jobs of at least `need` inputs, at most `maxInputs`, at most
 * `maxBytes` together; stops when the next job would be too small. A block larger than maxBytes on
 * its own is never an input.
 */
function pack(sorted: readonly ObservedBlock[], need: number, maxInputs: number, maxBytes: number, emit: (inputs: ObservedBlock[], bytes: number) => void): void {
  let remaining = sorted;
  while (remaining.length >= need) {
    const job: ObservedBlock[] = [];
    const rest: ObservedBlock[] = [];
    let bytes = 0;
    for (const b of remaining) {
      if (job.length < maxInputs && bytes + b.value.meta.bytes <= maxBytes) {
        job.push(b);
        bytes += b.value.meta.bytes;
      } else {
        rest.push(b);
      }
    }
    if (job.length < need) return;
    emit(job, bytes);
    remaining = rest;
  }
}

/** The defaults completed by `options`, checked (RangeError); maxJobInputs is capped at MAX_JOB_INPUTS. */
export function resolveLifecyclePlanOptions(options: Partial<LifecyclePlanOptions>): LifecyclePlanOptions {
  const o = { ...DEFAULT_LIFECYCLE_PLAN_OPTIONS, ...options };
  const int = (name: keyof LifecyclePlanOptions, min: number): void => {
    if (!Number.isSafeInteger(o[name]) || o[name] < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${o[name]}`);
  };
  int('minInputs', 2);
  int('settleMs', 0);
  int('jobClaimTimeoutMs', 0);
  int('maxJobInputs', 2);
  int('maxOpenJobs', 0);
  return { ...o, maxJobInputs: Math.min(o.maxJobInputs, MAX_JOB_INPUTS) };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
