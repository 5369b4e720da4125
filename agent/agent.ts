// Composition root of the agent (`skein agent`): wires the pure core (head sampler, scrubber,
// batcher over a byte queue) to the I/O shell — the OTLP receivers of ingester/receivers (serving
// the agent's ExportService), the OTLP/gRPC exporter, the admin app and the Jaeger sampling app.
//
// Lifecycle (STYLE.md rule 8): start() listens on everything and resolves with the addresses;
// stop(signal) turns readiness off, closes the receivers (in-flight requests finish), flushes the
// queue until `signal` aborts (the rest is dropped and counted as 'shutdown'), then closes the
// exporter and, last, the admin and Jaeger apps (so /metrics answers while the queue flushes). The batcher owns every export loop; nothing here runs unowned.
//
// Memory bound: the queue holds at most queue.maxBytes of re-encoded spans; on top of it up to
// batch.maxConcurrency batches (each ≤ batch.maxBytes, or one request of ≤ receivers.maxRequestBytes)
// are being exported or waiting to be retried, plus requests being received.
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../common/coord/index.js';
import { isSkeinError, toSkeinError } from '../common/errors/index.js';
import type { Logger } from '../common/log/index.js';
import { counter, Gauge, histogram, type Registry } from '../common/metrics/index.js';
import { DEFAULT_SPAN_LIMITS, type SpanLimits } from '../common/otlp/index.js';
import { buildOtlpHttpApp, startGrpcReceiver, type GrpcReceiver } from '../ingester/receivers/index.js';
import type { AgentConfig } from './agent-config.js';
import { BATCH_DROP_REASONS, classifyExportError, createBatcher, type Batcher, type BatcherStats } from './batcher.js';
import { createAgentExportService, type AgentExportService, type QueuedExport } from './export-service.js';
import { createOtlpExporter, type OtlpExporter } from './exporter.js';
import { createHeadSampler } from './head-sampler.js';
import { buildAgentAdminApp, buildJaegerSamplingApp } from './http-admin.js';
import type { SamplingConfig } from './sampling-config.js';
import type { ScrubConfig } from './scrub-config.js';
import { createScrubber, type Scrubber } from './scrubber.js';

export interface AgentOptions {
  readonly config: AgentConfig;
  /** Where /healthz, /readyz and /metrics listen (port 0: any free port). */
  readonly admin: { readonly host: string; readonly port: number };
  readonly logger: Logger;
  readonly registry: Registry;
  /** Edge validation limits; default DEFAULT_SPAN_LIMITS with the receivers' request size. */
  readonly limits?: SpanLimits;
  readonly clock?: Clock;
  /** Jitter source (default Math.random). */
  readonly random?: () => number;
}

export interface AgentAddresses {
  readonly otlpGrpc: string;
  readonly otlpHttp: string;
  /** Absent when the Jaeger sampling endpoint is off (port 0). */
  readonly jaegerSampling?: string;
  readonly admin: string;
}

/** The parts of the configuration that can change while the agent runs. */
export interface AgentPolicy {
  readonly sampling: SamplingConfig;
  readonly scrubbing: ScrubConfig;
}

export interface Agent {
  start(): Promise<AgentAddresses>;
  /** Graceful stop; gives up flushing when `signal` aborts. Idempotent. */
  stop(signal?: AbortSignal): Promise<void>;
  /** Replaces the sampling and scrubbing policy (config reload). Throws SkeinError on a bad policy. */
  updatePolicy(policy: AgentPolicy): void;
  readonly policy: AgentPolicy;
  ready(): boolean;
  stats(): BatcherStats;
}

/**
 * The monotonic system clock (as common/coord's systemClock). Defined here because importing
 * common/coord's face at run time loads etcd3 and its protobuf definitions — about 45 MB of RSS in
 * every pod for a process that never talks to etcd; only the Clock type is imported from there.
 */
const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(t);
  },
};

/** How often at most a drop or export-failure summary is logged. */
const LOG_INTERVAL_MS = 10_000;

export function createAgent(options: AgentOptions): Agent {
  const { config, logger, registry } = options;
  const clock = options.clock ?? systemClock;
  const log = logger.child({ module: 'agent' });
  const limits = options.limits ?? { ...DEFAULT_SPAN_LIMITS, maxBatchBytes: config.receivers.maxRequestBytes };

  let policy: AgentPolicy = { sampling: config.sampling, scrubbing: config.scrubbing };
  let scrubber: Scrubber = createScrubber(config.scrubbing);
  const sampler = createHeadSampler({
    config: config.sampling,
    clock,
    maxTrackedTraces: config.headSampler.maxTrackedTraces,
    decisionTtlMs: config.headSampler.decisionTtlMs,
  });

  // --- metrics -------------------------------------------------------------------------------
  const dropped = counter(registry, 'skein_agent_spans_dropped_total', 'Spans the agent did not send, by reason (sampling, malformed, queue, export, shutdown).', ['reason']);
  for (const reason of BATCH_DROP_REASONS) dropped.inc({ reason }, 0);
  const sent = counter(registry, 'skein_agent_spans_sent_total', 'Spans the ingest endpoint acknowledged (partial_success rejections excluded).');
  const exportCalls = counter(registry, 'skein_agent_export_requests_total', 'Export calls to the ingest endpoint, by outcome (ok or an error code).', ['outcome']);
  const retries = counter(registry, 'skein_agent_export_retries_total', 'Export retries scheduled after a retryable failure.');
  const exportLatency = histogram(
    registry,
    'skein_agent_export_duration_seconds',
    'Duration of one export call to the ingest endpoint, by outcome (ok or an error code).',
    ['outcome'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  const reloads = counter(registry, 'skein_agent_policy_reloads_total', 'Sampling/scrubbing policy updates, by outcome (ok, invalid).', ['outcome']);

  // --- exporter and batcher ------------------------------------------------------------------
  const exporter: OtlpExporter = createOtlpExporter({
    endpoint: config.exporter.endpoint,
    compression: config.exporter.compression,
    timeoutMs: config.exporter.timeoutMs,
  });

  // Log episodes, not events: the first failure, then a summary at most every LOG_INTERVAL_MS, and
  // the recovery. A down ingest endpoint must not turn into a log flood.
  let failingSince: number | undefined;
  let failedCalls = 0;
  let lastFailureLog = -Infinity;
  let lastDropLog = -Infinity;
  const dropsSinceLog = new Map<string, number>();

  // Batch bodies are assembled in reused buffers: a fresh 512 KiB Buffer per batch was a third of the
  // ArrayBuffer bytes the agent allocated, and those bytes (not JS objects) are what drives V8 into
  // a full mark-compact every second or so at 10,000 spans/s. A buffer goes back to the pool only
  // after a successful export: the endpoint has answered, so the exporter has finished reading it
  // (gzip reads it before the call; uncompressed, the answer comes after the last byte was written).
  // After a failure — a cancel may leave a write of it still queued on the socket — the buffer is
  // left to the GC. At most
  // batch.maxConcurrency are in use at once, so the pool stays within the in-flight bound above.
  const batchBuffers: Buffer[] = [];
  const assemble = (requests: readonly Uint8Array[]): { body: Uint8Array; pooled: Buffer | undefined } => {
    if (requests.length === 1) return { body: requests[0]!, pooled: undefined };
    let total = 0;
    for (const r of requests) total += r.length;
    // take() only exceeds maxBytes for a batch of one entry, which needs no assembly.
    if (total > config.batch.maxBytes) return { body: Buffer.concat(requests, total), pooled: undefined };
    const pooled = batchBuffers.pop() ?? Buffer.allocUnsafeSlow(config.batch.maxBytes);
    let offset = 0;
    for (const r of requests) {
      pooled.set(r, offset);
      offset += r.length;
    }
    return { body: pooled.subarray(0, total), pooled };
  };

  const send = async (items: readonly QueuedExport[], signal: AbortSignal): Promise<void> => {
    // Requests are ExportTraceServiceRequest messages (one repeated field): concatenated, they are one.
    const byTenant = new Map<string | undefined, { requests: Uint8Array[]; spans: number }>();
    for (const item of items) {
      let part = byTenant.get(item.tenant);
      if (part === undefined) byTenant.set(item.tenant, (part = { requests: [], spans: 0 }));
      part.requests.push(item.request);
      part.spans += item.spans;
    }
    for (const [tenant, { requests, spans }] of byTenant) {
      const { body, pooled } = assemble(requests);
      const end = exportLatency.startTimer();
      try {
        const result = await exporter.export(body, { tenant, signal });
        if (pooled !== undefined) batchBuffers.push(pooled);
        end({ outcome: 'ok' });
        exportCalls.inc({ outcome: 'ok' });
        sent.inc(Math.max(0, spans - result.rejectedSpans));
        if (result.rejectedSpans > 0) {
          dropped.inc({ reason: 'export-rejected' }, result.rejectedSpans);
          noteDrop('export-rejected', result.rejectedSpans, result.errorMessage);
        }
        if (failingSince !== undefined) {
          log.info({ endpoint: exporter.endpoint, failedCalls, failingForMs: Math.round(clock.now() - failingSince) }, 'exports to the ingest endpoint succeed again');
          failingSince = undefined;
          failedCalls = 0;
        }
      } catch (e) {
        const err = toSkeinError(e);
        end({ outcome: err.code });
        exportCalls.inc({ outcome: err.code });
        if (!signal.aborted) noteFailure(err.retryable ? 'retrying with back-off' : 'dropping the batch (not retryable)', e);
        throw isSkeinError(e) ? e : err;
      }
    }
  };

  const noteFailure = (what: string, e: unknown): void => {
    const now = clock.now();
    failedCalls++;
    failingSince ??= now;
    if (now - lastFailureLog < LOG_INTERVAL_MS) return;
    lastFailureLog = now;
    const err = toSkeinError(e);
    log.warn({ endpoint: exporter.endpoint, code: err.code, detail: err.message, failedCalls, queue: batcher.stats() }, `export to the ingest endpoint failed; ${what}`);
  };

  const noteDrop = (reason: string, spans: number, detail?: string): void => {
    dropsSinceLog.set(reason, (dropsSinceLog.get(reason) ?? 0) + spans);
    const now = clock.now();
    if (now - lastDropLog < LOG_INTERVAL_MS) return;
    lastDropLog = now;
    log.warn({ dropped: Object.fromEntries(dropsSinceLog), ...(detail ? { detail } : {}) }, 'dropping spans (counted in skein_agent_spans_dropped_total)');
    dropsSinceLog.clear();
  };

  const batcher: Batcher<QueuedExport> = createBatcher<QueuedExport>({
    clock,
    random: options.random ?? Math.random,
    send,
    maxQueueBytes: config.queue.maxBytes,
    ...(config.queue.maxItems === undefined ? {} : { maxQueueItems: config.queue.maxItems }),
    maxItemBytes: config.receivers.maxRequestBytes,
    maxBatchBytes: config.batch.maxBytes,
    maxBatchWeight: config.batch.maxSpans,
    maxDelayMs: config.batch.maxDelayMs,
    maxConcurrency: config.batch.maxConcurrency,
    retry: config.retry,
    classify: classifyExportError,
    onDrop: (reason, weight) => {
      dropped.inc({ reason }, weight);
      noteDrop(reason, weight);
    },
    onRetry: () => retries.inc(),
  });

  const collected = (name: string, help: string, read: () => number): void => {
    if (registry.getSingleMetric(name) !== undefined) return;
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  collected('skein_agent_queue_bytes', 'Bytes of spans waiting in the export queue.', () => batcher.stats().queuedBytes);
  collected('skein_agent_queue_spans', 'Spans waiting in the export queue.', () => batcher.stats().queuedWeight);
  collected('skein_agent_queue_max_bytes', 'Capacity of the export queue (--queue-max-bytes).', () => config.queue.maxBytes);
  collected('skein_agent_export_in_flight_batches', 'Batches being exported or waiting to be retried.', () => batcher.stats().inFlightBatches);
  collected('skein_agent_sampler_tracked_traces', 'Head-sampling decisions remembered.', () => sampler.trackedTraces);

  // --- receivers and HTTP apps ---------------------------------------------------------------
  const service: AgentExportService = createAgentExportService({
    limits,
    sampler,
    scrubber: () => scrubber,
    offer: (item, bytes, spans) => batcher.offer(item, bytes, spans),
    tenant: config.exporter.tenant,
    maxQueueBytes: config.queue.maxBytes,
    registry,
    logger,
  });

  let started = false;
  let stopping: Promise<void> | undefined;
  let grpcReceiver: GrpcReceiver | undefined;
  /** The OTLP/HTTP receiver; the admin and Jaeger apps (closed last, so /metrics stays up while flushing). */
  const receiverApps: FastifyInstance[] = [];
  const otherApps: FastifyInstance[] = [];

  const listen = async (app: FastifyInstance, host: string, port: number, into: FastifyInstance[]): Promise<string> => {
    into.push(app);
    await app.listen({ host, port });
    const address = app.server.address();
    return typeof address === 'object' && address !== null ? `${host}:${address.port}` : String(address);
  };

  const closeReceivers = async (): Promise<void> => {
    await Promise.allSettled([grpcReceiver?.close(AbortSignal.timeout(1000)), ...receiverApps.map((a) => a.close())]);
  };
  const closeOthers = async (): Promise<void> => {
    await Promise.allSettled(otherApps.map((a) => a.close()));
  };

  const ready = (): boolean => started && stopping === undefined;

  return {
    async start() {
      const { host, otlpGrpcPort, otlpHttpPort, jaegerSamplingPort, maxRequestBytes } = config.receivers;
      try {
        const admin = await listen(buildAgentAdminApp({ registry, ready }), options.admin.host, options.admin.port, otherApps);
        const jaegerSampling =
          jaegerSamplingPort === 0 ? undefined : await listen(buildJaegerSamplingApp({ sampling: () => policy.sampling }), host, jaegerSamplingPort, otherApps);
        grpcReceiver = await startGrpcReceiver({ host, port: otlpGrpcPort, maxRequestBytes, tenancyRequired: false, service });
        const otlpHttp = await listen(buildOtlpHttpApp({ maxRequestBytes, tenancyRequired: false, service, logger }), host, otlpHttpPort, receiverApps);
        started = true;
        return { otlpGrpc: `${host}:${grpcReceiver.port}`, otlpHttp, ...(jaegerSampling === undefined ? {} : { jaegerSampling }), admin };
      } catch (e) {
        await Promise.all([closeReceivers(), closeOthers()]);
        exporter.close();
        throw e;
      }
    },

    stop(signal) {
      stopping ??= (async () => {
        service.close();
        await closeReceivers();
        await batcher.stop(signal);
        exporter.close();
        await closeOthers();
      })();
      return stopping;
    },

    updatePolicy(next) {
      let nextScrubber: Scrubber;
      try {
        nextScrubber = createScrubber(next.scrubbing);
      } catch (e) {
        reloads.inc({ outcome: 'invalid' });
        throw e;
      }
      scrubber = nextScrubber;
      sampler.setConfig(next.sampling);
      policy = next;
      reloads.inc({ outcome: 'ok' });
    },

    get policy() {
      return policy;
    },

    ready,

    stats: () => batcher.stats(),
  };
}
