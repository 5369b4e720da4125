// The part of handling an export request that does not depend on where spans are stored: JSON →
// protobuf, scanning, edge validation and routing by shard, counters, rate-limited bad-input logs,
// and in-flight tracking for graceful shutdown. Storage is the caller's `write` (local shards in
// all-in-one; local shards or forwarding to owners in a cluster member).
import { scanExportRequest } from '../common/otlp/index.js';
import { SkeinError, toSkeinError } from '../common/errors/index.js';
import { counter, histogram, type Registry } from '../common/metrics/index.js';
import { createRateLimitedWarn, type Logger } from '../common/log/index.js';
import { exportRequestBytes, type ExportService, type ExportFormat, type Transport, type ExportOutcome } from './receivers/index.js';
import type { Router, RouteResult } from './router/index.js';

export interface WriteOutcome {
  readonly stored: number;
  readonly duplicates: number;
}

export interface ExportPipelineOptions {
  readonly logger: Logger;
  readonly registry: Registry;
  /** The router for the partition map in force now (the shard count can change at run time). */
  router(): Router;
  /** Makes the routed spans durable (and acknowledged by their owners); throws SkeinError. */
  write(tenant: string, routed: RouteResult): Promise<WriteOutcome>;
}

export interface ExportPipeline {
  readonly service: ExportService;
  /** Refuses new exports from now on and resolves when the running ones have finished. */
  drainRequests(): Promise<void>;
}


export function createExportPipeline(options: ExportPipelineOptions): ExportPipeline {
  const { logger, registry } = options;
  const spansReceived = counter(registry, 'skein_ingester_spans_received_total', 'Spans received, by transport.', ['transport']);
  const spansAccepted = counter(registry, 'skein_ingester_spans_accepted_total', 'Spans durably stored (new, not duplicates).', ['transport']);
  const spansDuplicate = counter(registry, 'skein_ingester_spans_duplicate_total', 'Spans dropped as duplicates of a stored (traceId, spanId).', ['transport']);
  const spansRejected = counter(registry, 'skein_ingester_spans_rejected_total', 'Spans rejected by validation, by reason.', ['transport', 'reason']);
  const requests = counter(registry, 'skein_ingester_requests_total', 'Export requests by transport and outcome (ok, partial, or an error code).', ['transport', 'outcome']);
  const duration = histogram(registry, 'skein_ingester_request_duration_seconds', 'Export request handling time, receive to acknowledge.', ['transport']);
  const log = logger.child({ module: 'export' });

  // Bad input is logged, but at most a few lines a second so a misbehaving client cannot flood logs.
  const logBadInput = createRateLimitedWarn(log);

  let closing = false;
  let inflight = 0;
  let drained: (() => void) | undefined;

  async function exportSpans(tenant: string, body: Uint8Array, format: ExportFormat, transport: Transport): Promise<ExportOutcome> {
    if (closing) throw new SkeinError('UNAVAILABLE', 'ingester is shutting down; retry against another instance', { retryAfterSeconds: 1 });
    const end = duration.startTimer({ transport });
    inflight++;
    try {
      const bytes = exportRequestBytes(body, format);
      const scanned = scanExportRequest(bytes);
      const routed = options.router().route(tenant, scanned);
      spansReceived.inc({ transport }, routed.accepted + routed.rejected);
      for (const [reason, n] of routed.rejectedByReason) spansRejected.inc({ transport, reason }, n);
      if (routed.rejected > 0) logBadInput({ tenant, transport, rejected: routed.rejected, accepted: routed.accepted, detail: routed.message }, 'rejected invalid spans');
      if (routed.accepted > 0) {
        const outcome = await options.write(tenant, routed);
        spansAccepted.inc({ transport }, outcome.stored);
        if (outcome.duplicates > 0) spansDuplicate.inc({ transport }, outcome.duplicates);
      }
      requests.inc({ transport, outcome: routed.rejected > 0 ? 'partial' : 'ok' });
      return { rejectedSpans: routed.rejected, errorMessage: routed.message };
    } catch (e) {
      const err = toSkeinError(e);
      requests.inc({ transport, outcome: err.code });
      if (err.code === 'INTERNAL' || err.code === 'WAL_WRITE_FAILED') log.error({ err: e, tenant, transport }, 'export failed');
      else logBadInput({ tenant, transport, code: err.code, detail: err.message }, 'export refused');
      throw err;
    } finally {
      end();
      if (--inflight === 0 && drained) drained();
    }
  }

  return {
    service: {
      export: exportSpans,
      refused(transport, code) {
        requests.inc({ transport, outcome: code });
        logBadInput({ transport, code }, 'export refused before decoding');
      },
    },
    async drainRequests() {
      closing = true;
      if (inflight > 0) await new Promise<void>((resolve) => (drained = resolve));
    },
  };
}
