// Ingester composition root: local shards (WAL + head), the router, the export pipeline the
// receivers call, and the local query backend over the heads. No transport code lives here.
import { scanExportRequest, fromOtlpJson, encodeExportRequest, type SpanLimits } from '../common/otlp/index.js';
import { createShardFunction } from '../common/shard/index.js';
import { SkeinError, toSkeinError } from '../common/errors/index.js';
import { counter, histogram, type Registry } from '../common/metrics/index.js';
import type { Logger } from '../common/log/index.js';
import type { QueryBackend } from '../common/model/index.js';
import { createRouter } from './router/index.js';
import { createHeadQueryBackend } from './head/index.js';
import type { ExportService, ExportFormat, Transport, ExportOutcome } from './receivers/index.js';
import { openLocalShards, drainRetiredShards, type LocalShards } from './local-shards.js';
import type { FsyncPolicy } from './wal/index.js';

export interface IngesterOptions {
  readonly dataDir: string;
  readonly shardCount: number;
  readonly fsync: FsyncPolicy;
  readonly fsyncDelayMs: number;
  readonly walSegmentBytes: number;
  readonly headMaxBytes: number;
  readonly limits: SpanLimits;
  readonly logger: Logger;
  readonly registry: Registry;
}

export interface Ingester {
  readonly service: ExportService;
  readonly backend: QueryBackend;
  /** Refuses new exports, waits for in-flight ones, then flushes and closes the WALs. */
  close(): Promise<void>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function createIngester(options: IngesterOptions): Promise<Ingester> {
  const { logger, registry } = options;
  const spansReceived = counter(registry, 'skein_ingester_spans_received_total', 'Spans received, by transport.', ['transport']);
  const spansAccepted = counter(registry, 'skein_ingester_spans_accepted_total', 'Spans durably stored (new, not duplicates).', ['transport']);
  const spansDuplicate = counter(registry, 'skein_ingester_spans_duplicate_total', 'Spans dropped as duplicates of a stored (traceId, spanId).', ['transport']);
  const spansRejected = counter(registry, 'skein_ingester_spans_rejected_total', 'Spans rejected by validation, by reason.', ['transport', 'reason']);
  const requests = counter(registry, 'skein_ingester_requests_total', 'Export requests by transport and outcome (ok, partial, or an error code).', ['transport', 'outcome']);
  const duration = histogram(registry, 'skein_ingester_request_duration_seconds', 'Export request handling time, receive to acknowledge.', ['transport']);

  const log = logger.child({ module: 'ingester' });
  log.info({ shards: options.shardCount, dataDir: options.dataDir, fsync: options.fsync }, 'opening shards (replaying WALs)');
  const started = performance.now();
  let replayed = 0;
  const shards: LocalShards = await openLocalShards({
    ...options,
    onReplayed(shard, report, millis) {
      replayed += report.records;
      const fields = { shard, records: report.records, bytes: report.bytes, segments: report.segments, millis: Math.round(millis) };
      if (report.corruption) log.error({ ...fields, corruption: report.corruption }, 'WAL corruption: replay stopped at a corrupt record; the dropped data was quarantined');
      if (report.tornTail) log.warn({ ...fields, tornTail: report.tornTail }, 'WAL had a torn tail (normal after a crash); truncated');
      log.info(fields, 'shard replayed');
    },
  });
  const spanTotal = shards.shards.reduce((n, s) => n + s.head.spanCount(), 0);
  log.info({ records: replayed, spans: spanTotal, millis: Math.round(performance.now() - started) }, 'all shards open');

  const router = createRouter({ shards: createShardFunction(), shardCount: options.shardCount, limits: options.limits });

  // A previous run with more shards left WALs this run does not open: move their spans home first.
  await drainRetiredShards(
    options,
    async (batch) => {
      const routed = router.route(batch.tenant, {
        resourceSpans: batch.groups.map((g) => ({
          resource: g.resource,
          schemaUrl: g.resourceSchemaUrl,
          scopeSpans: [{ scope: g.scope, schemaUrl: g.scopeSchemaUrl, spans: [...g.spans] }],
        })),
      });
      if (routed.accepted > 0) await shards.append(routed.batches);
    },
    (shard, records, report) => log.warn({ shard, records, corruption: report.corruption }, 'moved the spans of a retired shard WAL (shard count decreased) to their current shards'),
  );
  const backend = createHeadQueryBackend(
    shards.shards.map((s) => s.head),
    () => !closing,
  );
  // Bad input is logged, but at most a few lines a second so a misbehaving client cannot flood logs.
  let logWindow = 0;
  let logged = 0;
  let suppressed = 0;
  const logBadInput = (fields: Record<string, unknown>, msg: string): void => {
    const now = Date.now();
    if (now - logWindow > 1000) {
      if (suppressed > 0) log.warn({ suppressed }, 'suppressed bad-input log lines');
      logWindow = now;
      logged = 0;
      suppressed = 0;
    }
    if (logged++ < 5) log.warn(fields, msg);
    else suppressed++;
  };

  let closing = false;
  let inflight = 0;
  let drained: (() => void) | undefined;

  async function exportSpans(tenant: string, body: Uint8Array, format: ExportFormat, transport: Transport): Promise<ExportOutcome> {
    if (closing) throw new SkeinError('UNAVAILABLE', 'ingester is shutting down; retry against another instance', { retryAfterSeconds: 1 });
    const end = duration.startTimer({ transport });
    inflight++;
    try {
      let bytes = body;
      if (format === 'json') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(utf8.decode(body));
        } catch (e) {
          throw new SkeinError('BAD_PAYLOAD', `body is not valid JSON: ${(e as Error).message}`);
        }
        bytes = encodeExportRequest(fromOtlpJson(parsed));
      }
      const scanned = scanExportRequest(bytes);
      const routed = router.route(tenant, scanned);
      spansReceived.inc({ transport }, routed.accepted + routed.rejected);
      for (const [reason, n] of routed.rejectedByReason) spansRejected.inc({ transport, reason }, n);
      if (routed.rejected > 0) logBadInput({ tenant, transport, rejected: routed.rejected, accepted: routed.accepted, detail: routed.message }, 'rejected invalid spans');
      if (routed.accepted > 0) {
        const outcome = await shards.append(routed.batches);
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

  const service: ExportService = {
    export: exportSpans,
    refused(transport, code) {
      requests.inc({ transport, outcome: code });
      logBadInput({ transport, code }, 'export refused before decoding');
    },
  };

  return {
    service,
    backend,
    async close() {
      closing = true;
      if (inflight > 0) await new Promise<void>((resolve) => (drained = resolve));
      await shards.close();
      log.info({ spans: shards.shards.reduce((n, s) => n + s.head.spanCount(), 0) }, 'ingester closed; WALs flushed');
    },
  };
}
