// common/sampling — sampling decisions shared by the agent (head sampling) and the ingesters (tail
// sampling at block cut): the consistent trace-ID ratio (trace-ratio.ts) and the tail-sampling
// decision (tail.ts). Pure.
export { computeRejectionThreshold, keepsTrace, thresholdProbability, type RejectionThreshold } from './trace-ratio.js';
export { createTailSampler, TAIL_DECISIONS, type TailDecision, type TailSampler, type TailSamplingPolicy, type TailTrace } from './tail.js';
