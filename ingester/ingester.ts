// Ingester composition root: local shards (WAL + head), the router, the export pipeline the
// receivers call, and the local query backend over the heads. No transport code lives here.
import type { SpanLimits } from '../common/otlp/index.js';
import { createShardFunction } from '../common/shard/index.js';
import type { Registry } from '../common/metrics/index.js';
import type { Logger } from '../common/log/index.js';
import type { QueryBackend } from '../common/model/index.js';
import { createRouter } from './router/index.js';
import { createHeadQueryBackend } from './head/index.js';
import type { ExportService } from './receivers/index.js';
import { createExportPipeline } from './export-pipeline.js';
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

export async function createIngester(options: IngesterOptions): Promise<Ingester> {
  const { logger, registry } = options;
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
  let closing = false;
  const heads = shards.shards.map((s) => s.head);
  const backend = createHeadQueryBackend(
    () => heads,
    () => !closing,
  );
  const pipeline = createExportPipeline({
    logger,
    registry,
    router: () => router,
    write: (_tenant, routed) => shards.append(routed.batches),
  });
  const service = pipeline.service;

  return {
    service,
    backend,
    async close() {
      closing = true;
      await pipeline.drainRequests();
      await shards.close();
      log.info({ spans: shards.shards.reduce((n, s) => n + s.head.spanCount(), 0) }, 'ingester closed; WALs flushed');
    },
  };
}
