// Tail sampling at block cut (DESIGN.md §6.5): the shard owner sees every span of a trace, so it can
// keep what matters — traces with an error, traces slower than a threshold — and a fraction of the
// rest. The fraction is decided by the trace ID exactly as the agents' head sampling decides it
// (trace-ratio.ts): every ingester reaches the same answer for the same trace, and a trace an agent
// kept at p is kept here at any rate ≥ p, so head and tail sampling compose to the smaller rate
// instead of multiplying.
//
// Rules apply in order and the first that keeps a trace names the reason: error → slow → sampled.
// A trace that none keeps is dropped. "Slow" is the trace's duration (earliest start to latest end
// of the spans the owner holds), as Tempo's and the collector's latency policies measure it.
import { computeRejectionThreshold, keepsTrace, type RejectionThreshold } from './trace-ratio.js';

export interface TailSamplingPolicy {
  /** Percentage of the traces no other rule keeps, 0–100. */
  readonly keepPercent: number;
  readonly keepErrors: boolean;
  /** Keep traces at least this long; absent = no latency rule. */
  readonly keepSlowerThanMs?: number | undefined;
}

export interface TailTrace {
  /** 16 bytes. */
  readonly traceId: Uint8Array;
  /** Some span of the trace has status ERROR. */
  readonly hasError: boolean;
  /** Latest end − earliest start, nanoseconds. */
  readonly durationNs: number;
}

export const TAIL_DECISIONS = ['error', 'slow', 'sampled', 'dropped'] as const;
/** Why a trace was kept (`error`, `slow`, `sampled`) or that it was `dropped`. */
export type TailDecision = (typeof TAIL_DECISIONS)[number];

export interface TailSampler {
  readonly policy: TailSamplingPolicy;
  /** True when the policy keeps everything (the cut can skip deciding). */
  readonly keepsAll: boolean;
  decide(trace: TailTrace): TailDecision;
}

export function createTailSampler(policy: TailSamplingPolicy): TailSampler {
  if (!(policy.keepPercent >= 0 && policy.keepPercent <= 100)) throw new RangeError(`keepPercent must be within 0..100, got ${policy.keepPercent}`);
  if (policy.keepSlowerThanMs !== undefined && !(policy.keepSlowerThanMs >= 0)) throw new RangeError(`keepSlowerThanMs must be ≥ 0, got ${policy.keepSlowerThanMs}`);
  const threshold: RejectionThreshold = computeRejectionThreshold(policy.keepPercent / 100);
  const slowNs = policy.keepSlowerThanMs === undefined ? undefined : policy.keepSlowerThanMs * 1e6;
  return {
    policy,
    keepsAll: policy.keepPercent >= 100,
    decide(trace) {
      if (policy.keepErrors && trace.hasError) return 'error';
      if (slowNs !== undefined && trace.durationNs >= slowNs) return 'slow';
      if (trace.traceId.length === 16 && keepsTrace(trace.traceId, 0, threshold)) return 'sampled';
      return 'dropped';
    },
  };
}
