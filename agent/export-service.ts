// The agent's ExportService (ingester/receivers' contract): what the OTLP/gRPC and OTLP/HTTP
// receivers call for each export request from the app. Everything runs synchronously and the app
// is answered at once — the service never waits for the ingest endpoint:
//
//   JSON → protobuf (OTLP/JSON only) → scanExportRequest → edge validation (the ingester's router
//   with one shard: the same checks, reasons and partial_success message as at the ingester)
//   → headSampler.sample → scrubber.scrub → encodeTracesData → offer to the batcher
//
// Each accepted request is re-encoded into its own compact ExportTraceServiceRequest before it is
// queued. Scanned spans are views into the request buffer, so queuing them would keep whole
// requests alive (all of their sampled-out and rejected spans too) while the queue counted only the
// kept bytes; the copy makes the queue's byte bound the memory it really holds. When nothing was
// rejected, sampled out or scrubbed (the common case under a keep-all policy and clean data), the
// received protobuf bytes are queued as they are instead, saving the copy. Since requests are
// protobuf messages with one repeated field, the exporter sends a batch as their concatenation.
//
// Answers: invalid spans are rejected one by one (partial_success, as at the ingester); spans the
// queue cannot take (full, too large, shutting down) are dropped and reported in partial_success
// too, so SDKs do not retry them; sampled-out and scrub-malformed spans are dropped silently (they
// are policy, not errors). Every drop is counted in skein_agent_spans_dropped_total{reason}; the
// batcher counts its own (queue and export) drops there through its onDrop hook.
import { DEFAULT_TENANT, type SpanGroup } from '../common/model/index.js';
import { encodeTracesData, scanExportRequest, type SpanLimits } from '../common/otlp/index.js';
import { SkeinError, toSkeinError } from '../common/errors/index.js';
import { createShardFunction } from '../common/shard/index.js';
import { counter, histogram, type Registry } from '../common/metrics/index.js';
import { createRateLimitedWarn, type Logger } from '../common/log/index.js';
import { exportRequestBytes, type ExportFormat, type ExportOutcome, type ExportService, type Transport } from '../ingester/receivers/index.js';
import { createRouter } from '../ingester/router/index.js';
import type { OfferResult, QueueDropReason } from './byte-queue.js';
import type { HeadSampler } from './head-sampler.js';
import type { Scrubber } from './scrubber.js';

/** One app request as queued: its kept spans, re-encoded, and the tenant to export them for. */
export interface QueuedExport {
  /** X-Scope-OrgID to send; undefined sends none (the ingest endpoint's default tenant). */
  readonly tenant: string | undefined;
  /** ExportTraceServiceRequest bytes (a compact copy). */
  readonly request: Uint8Array;
  readonly spans: number;
}

export interface AgentExportServiceOptions {
  /** Edge validation limits (as the ingester's flags: span size, attributes, request size). */
  readonly limits: SpanLimits;
  readonly sampler: HeadSampler;
  /** The scrubber in force (replaced when the policy is reloaded). */
  readonly scrubber: () => Scrubber;
  /** The batcher's offer: never waits. */
  readonly offer: (item: QueuedExport, bytes: number, spans: number) => OfferResult;
  /** Tenant every export is sent for (the pod's); undefined passes on the app's X-Scope-OrgID. */
  readonly tenant?: string | undefined;
  /** Shown in the queue-full answer. */
  readonly maxQueueBytes: number;
  readonly registry: Registry;
  readonly logger: Logger;
}

export interface AgentExportService extends ExportService {
  /** Refuses later requests with UNAVAILABLE (the agent is shutting down). */
  close(): void;
}

/** Labels of skein_agent_spans_dropped_total that this service counts (the batcher counts the rest). */
export const SERVICE_DROP_REASONS = ['sampling-probabilistic', 'sampling-rate-limited', 'malformed'] as const;


function queueDropMessage(reason: QueueDropReason, spans: number, bytes: number, maxQueueBytes: number): string {
  switch (reason) {
    case 'queue-full':
      return `agent queue full (${maxQueueBytes} bytes): dropped ${spans} spans; the ingest endpoint is slow or unreachable (see the agent's /metrics)`;
    case 'too-large':
      return `dropped ${spans} spans: the request's kept spans (${bytes} bytes) exceed what the agent queues at once; send smaller batches`;
    case 'closed':
      return `dropped ${spans} spans: the agent is shutting down`;
  }
}

function sameGroups(a: readonly SpanGroup[], b: readonly SpanGroup[]): boolean {
  return a.length === b.length && a.every((g, i) => g === b[i]);
}

/**
 * `bytes` itself when it (nearly) owns its ArrayBuffer, else a copy: a view into a larger buffer
 * (a pooled slab, a read buffer) would keep more memory alive than the queue counts.
 */
function compact(bytes: Uint8Array): Uint8Array {
  return bytes.buffer.byteLength - bytes.byteLength <= 64 ? bytes : bytes.slice();
}

export function createAgentExportService(options: AgentExportServiceOptions): AgentExportService {
  const { registry, sampler } = options;
  // One shard: the router only validates and groups (no sharding happens in the agent).
  const router = createRouter({ shards: createShardFunction(), shardCount: 1, limits: options.limits });
  const requests = counter(registry, 'skein_agent_requests_total', 'Export requests from the app, by transport and outcome (ok, partial, or an error code).', ['transport', 'outcome']);
  const received = counter(registry, 'skein_agent_spans_received_total', 'Spans received from the app, by transport.', ['transport']);
  const rejected = counter(registry, 'skein_agent_spans_rejected_total', 'Spans rejected by edge validation (answered to the app in partial_success), by reason.', ['transport', 'reason']);
  const dropped = counter(registry, 'skein_agent_spans_dropped_total', 'Spans the agent did not send, by reason (sampling, malformed, queue, export, shutdown).', ['reason']);
  const queued = counter(registry, 'skein_agent_spans_queued_total', 'Spans accepted into the export queue.');
  const scrubbed = counter(registry, 'skein_agent_scrubbed_values_total', 'Attribute values redacted or hashed, and attributes dropped, by scrub rule.', ['rule', 'action']);
  const duration = histogram(registry, 'skein_agent_request_duration_seconds', 'Time from receiving an export request to answering the app.', ['transport'], [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]);
  const log = options.logger.child({ module: 'agent-export' });
  for (const reason of SERVICE_DROP_REASONS) dropped.inc({ reason }, 0);

  // Bad input is logged, but at most a few lines a second so a misbehaving app cannot flood logs.
  const logBadInput = createRateLimitedWarn(log);

  let closing = false;

  function handle(tenant: string, body: Uint8Array, format: ExportFormat, transport: Transport): ExportOutcome {
    if (closing) throw new SkeinError('UNAVAILABLE', 'the agent is shutting down', { retryAfterSeconds: 1 });
    const bytes = exportRequestBytes(body, format);
    const routed = router.route(tenant, scanExportRequest(bytes));
    received.inc({ transport }, routed.accepted + routed.rejected);
    for (const [reason, n] of routed.rejectedByReason) rejected.inc({ transport, reason }, n);
    if (routed.rejected > 0) logBadInput({ tenant, transport, rejected: routed.rejected, accepted: routed.accepted, detail: routed.message }, 'rejected invalid spans');
    let rejectedSpans = routed.rejected;
    const messages = routed.message === '' ? [] : [routed.message];

    const groups = routed.batches[0]?.groups ?? [];
    if (groups.length > 0) {
      const sampled = sampler.sample(groups);
      if (sampled.dropped.probabilistic > 0) dropped.inc({ reason: 'sampling-probabilistic' }, sampled.dropped.probabilistic);
      if (sampled.dropped['rate-limited'] > 0) dropped.inc({ reason: 'sampling-rate-limited' }, sampled.dropped['rate-limited']);
      if (sampled.dropped.malformed > 0) dropped.inc({ reason: 'malformed' }, sampled.dropped.malformed);
      if (sampled.keptSpans > 0) {
        const clean = options.scrubber().scrub(sampled.groups);
        if (clean.malformedSpans > 0) dropped.inc({ reason: 'malformed' }, clean.malformedSpans);
        for (const c of clean.counts) scrubbed.inc({ rule: c.rule, action: c.action }, c.values);
        let spans = 0;
        for (const g of clean.groups) spans += g.spans.length;
        if (spans > 0) {
          // Nothing rejected, sampled out or rewritten: the request as received is what leaves.
          const untouched = routed.rejected === 0 && sameGroups(sampled.groups, groups) && sameGroups(clean.groups, groups);
          const request = untouched ? compact(bytes) : encodeTracesData(clean.groups);
          const exportTenant = options.tenant ?? (tenant === DEFAULT_TENANT ? undefined : tenant);
          const offered = options.offer({ tenant: exportTenant, request, spans }, request.length, spans);
          if (offered.kind === 'accepted') queued.inc(spans);
          else {
            rejectedSpans += spans;
            messages.push(queueDropMessage(offered.reason, spans, request.length, options.maxQueueBytes));
          }
        }
      }
    }
    return { rejectedSpans, errorMessage: messages.join('; ') };
  }

  return {
    export(tenant, body, format, transport) {
      const end = duration.startTimer({ transport });
      try {
        const outcome = handle(tenant, body, format, transport);
        requests.inc({ transport, outcome: outcome.rejectedSpans > 0 ? 'partial' : 'ok' });
        return Promise.resolve(outcome);
      } catch (e) {
        const err = toSkeinError(e);
        requests.inc({ transport, outcome: err.code });
        if (err.code === 'INTERNAL') log.error({ err: e, tenant, transport }, 'export request failed');
        else logBadInput({ tenant, transport, code: err.code, detail: err.message }, 'export refused');
        return Promise.reject(err);
      } finally {
        end();
      }
    },

    refused(transport, code) {
      requests.inc({ transport, outcome: code });
      logBadInput({ transport, code }, 'export refused before decoding');
    },

    close() {
      closing = true;
    },
  };
}
