// Consistent probability sampling by trace ID, as the OpenTelemetry TraceIdRatioBased sampler is now
// specified (opentelemetry-specification trace/sdk.md "TraceIdRatioBased sampler algorithm" and
// trace/tracestate-probability-sampling.md, built on W3C Trace Context Level 2 randomness):
//
//   R = the rightmost 7 bytes (56 bits) of the 16-byte trace ID, read big-endian
//   T = 2^56 − round(p · 2^56)   the rejection threshold for keep-probability p
//   keep  ⇔  R ≥ T
//
// This is a protocol constant of the agent: every agent (and every spec-conforming SDK or collector)
// reaches the same decision for the same trace at the same p, and a trace kept at p is kept at every
// p' ≥ p, so services sampled at different rates still yield complete traces for the smaller rate.
// We use the trace ID's own bits rather than a hash (common/shard's xxh64) for exactly that
// compatibility; W3C Level 2 requires those 56 bits to be random, and so do 64-bit Jaeger and
// X-Ray IDs. T is computed at full 56-bit precision: SDKs that round T to the recommended 4 hex
// digits differ from us only for IDs within 2^-16 (relative) of the threshold. Explicit randomness
// (`ot=rv:` in tracestate) is not consulted: a span from an SDK that does not propagate tracestate
// would then be judged differently from its siblings.
//
// Not compatible: the OpenTelemetry JS SDK's TraceIdRatioBasedSampler (2.x still XORs the four
// 32-bit words of the ID). An app sampling with it at p behind an agent sampling at p keeps ≈ p²,
// so configure such services at 1 in the agent when the SDK samples.

const TWO_32 = 4294967296;
const TWO_24 = 2 ** 24;
const TWO_56 = 2 ** 56;

/** A 56-bit rejection threshold as two exact halves: hi (24 bits) · 2^32 + lo (32 bits). */
export interface RejectionThreshold {
  readonly hi: number;
  readonly lo: number;
}

/**
 * The rejection threshold for keep-probability `p` (clamped to [0, 1]; NaN counts as 0), rounded as
 * the OpenTelemetry collector's pkg/sampling does: T = 2^56 − round(p · 2^56). p · 2^56 is an exact
 * power-of-two scaling and its rounding an exact integer (≤ 2^56, representable); the subtraction is
 * done in 32-bit halves because 1 − p would round for p < 2^-53 and T itself may exceed 2^53.
 */
export function computeRejectionThreshold(p: number): RejectionThreshold {
  const clamped = p >= 1 ? 1 : p > 0 ? p : 0;
  const kept = Math.round(clamped * TWO_56);
  const keptHi = Math.floor(kept / TWO_32);
  const keptLo = kept - keptHi * TWO_32;
  return keptLo === 0 ? { hi: TWO_24 - keptHi, lo: 0 } : { hi: TWO_24 - keptHi - 1, lo: TWO_32 - keptLo };
}

/** Keep probability a threshold stands for: (2^56 − T) / 2^56. */
export function thresholdProbability(t: RejectionThreshold): number {
  return ((TWO_24 - t.hi) * TWO_32 - t.lo) / TWO_56;
}

/**
 * True when the 16-byte trace ID at `bytes[offset..offset+16)` is kept under threshold `t`
 * (R ≥ T). Compares the exact 24/32-bit halves, since R does not fit a float64 exactly.
 */
export function keepsTrace(bytes: Uint8Array, offset: number, t: RejectionThreshold): boolean {
  const rHi = (bytes[offset + 9]! << 16) | (bytes[offset + 10]! << 8) | bytes[offset + 11]!;
  if (rHi !== t.hi) return rHi > t.hi;
  const rLo = ((bytes[offset + 12]! << 24) | (bytes[offset + 13]! << 16) | (bytes[offset + 14]! << 8) | bytes[offset + 15]!) >>> 0;
  return rLo >= t.lo;
}
