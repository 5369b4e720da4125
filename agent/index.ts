// agent — the sidecar injected next to applications (DESIGN.md §2): OTLP in on localhost, head
// sampling, attribute scrubbing, bounded memory, and export to the ingester Service. This folder's
// top level is the pure core (no fs/net/grpc; time and randomness injected); the receivers, the
// exporter, the Jaeger sampling endpoint and `skein agent` wrap it.
//
// Per export request the I/O shell runs, synchronously and before answering the app:
//   scanExportRequest + validateSpan → SpanGroup[] → headSampler.sample → scrubber.scrub
//   → batcher.offer(groups, bytes, spans)   (never waits; drops and counts when full)
// and the batcher later calls send(items, signal): encodeTracesData(items.flat()) → gzip →
// OTLP/gRPC Export, with failures thrown as SkeinError so retries follow its retryable flag and
// retry hint. `GET /sampling?service=` answers computeJaegerStrategy(config.sampling, service).
export { AgentConfigSchema, type AgentConfig, type AgentConfigInput } from './agent-config.js';
export {
  SamplingConfigSchema,
  ServiceSamplingSchema,
  computeProbability,
  computeKeepsEverything,
  computeJaegerStrategy,
  type SamplingConfig,
  type SamplingConfigInput,
  type ServiceSampling,
  type JaegerSamplingStrategy,
} from './sampling-config.js';
export { computeRejectionThreshold, keepsTrace, thresholdProbability, type RejectionThreshold } from './trace-ratio.js';
export { createHeadSampler, type HeadSampler, type HeadSamplerOptions, type SampleResult, type SampleDropReason } from './head-sampler.js';
export {
  ScrubConfigSchema,
  ScrubRuleSchema,
  BUILTIN_SCRUB_RULES,
  buildScrubRules,
  isCardNumber,
  luhnValid,
  type ScrubConfig,
  type ScrubConfigInput,
  type ScrubRule,
  type ScrubAction,
} from './scrub-config.js';
export { createScrubber, REDACTED, type Scrubber, type ScrubResult, type ScrubCount } from './scrubber.js';
export { createByteQueue, type ByteQueue, type ByteQueueOptions, type OfferResult, type QueueDropReason, type Taken } from './byte-queue.js';
export {
  createBatcher,
  classifyExportError,
  BATCH_DROP_REASONS,
  type Batcher,
  type BatcherOptions,
  type BatcherStats,
  type BatchDropReason,
  type RetryDecision,
  type RetryPolicy,
} from './batcher.js';
