// agent — the sidecar injected next to applications (DESIGN.md §2): OTLP in on localhost, head
// sampling, attribute scrubbing, bounded memory, and export to the ingester Service. The core
// (config schemas, sampling, scrubbing, byte queue, batcher) is pure (no fs/net/grpc; time and
// randomness injected); the receivers, the exporter, the Jaeger sampling endpoint and `skein agent`
// wrap it.
//
// Per export request the I/O shell runs, synchronously and before answering the app:
//   scanExportRequest + validateSpan → SpanGroup[] → headSampler.sample → scrubber.scrub
//   → encodeTracesData(kept groups), or the received bytes when nothing was dropped or changed
//   → batcher.offer(request, bytes, spans)   (never waits; drops and counts when full)
// and the batcher later calls send(items, signal): the queued requests concatenated (one
// ExportTraceServiceRequest) → gzip → OTLP/gRPC Export, with failures thrown as SkeinError so
// retries follow its retryable flag and retry hint. Re-encoding at offer time, not at send time,
// makes the queue's byte count the memory it holds (scanned spans are views into whole requests).
// `GET /sampling?service=` answers computeJaegerStrategy(config.sampling, service).
//
// The shell: agent.ts (createAgent, the composition root behind `skein agent`), export-service.ts
// (the receivers' ExportService: the pipeline above, answering at once), exporter.ts (OTLP/gRPC
// Export with gzip, gRPC status → SkeinError with retry hints), cluster-policy.ts (AgentPolicy/Get
// polling), grpc-unary.ts (the unary gRPC client both use, on node:http2 — the agent does not load
// grpc-js) and http-admin.ts (/healthz, /readyz, /metrics; Jaeger /sampling).
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
export { createAgent, type Agent, type AgentOptions, type AgentAddresses, type AgentPolicy } from './agent.js';
export { createAgentExportService, SERVICE_DROP_REASONS, type AgentExportService, type AgentExportServiceOptions, type QueuedExport } from './export-service.js';
export {
  createOtlpExporter,
  parseEndpoint,
  decodeRetryDelaySeconds,
  toExportError,
  TRACE_EXPORT_PATH,
  DEFAULT_THROTTLE_SECONDS,
  type OtlpExporter,
  type OtlpExporterOptions,
  type EndpointTarget,
  type GrpcFailure,
} from './exporter.js';
export { buildAgentAdminApp, buildJaegerSamplingApp, type AgentAdminAppOptions, type JaegerSamplingAppOptions } from './http-admin.js';
export { createClusterPolicyPoller, type ClusterPolicyPoller, type ClusterPolicyPollerOptions } from './cluster-policy.js';
export { computeEffectivePolicy } from './effective-policy.js';
