// The agent's whole configuration as one zod schema, with every default in one place (STYLE.md
// rules 4 and 8): the CLI and the sidecar injector build on it, the core modules take plain numbers.
//
// Sizing defaults assume a sidecar with ~128 MiB: a 32 MiB queue absorbs ~30 s of a busy app while
// the ingesters are away; 512 KiB / 8192-span batches stay far below gRPC's 4 MiB message limit
// (grpc-go's default receive limit, hence an OpenTelemetry collector's, applies after
// decompression); retries follow the OpenTelemetry collector's shape (exponential, jittered) over a
// shorter span, since a sidecar's memory, not patience, is what runs out.
//
// Batch size and CPU: with grpc-js as the exporter, 2 MiB batches saved ~1.5 % of a core per
// 10,000 spans/s over 512 KiB (fewer ~1 ms calls). Since the exporter speaks gRPC on node:http2
// (grpc-unary.ts) a call costs ~0.3 ms plus gzip per byte, and 512 KiB, 1 MiB and 2 MiB measured
// the same within noise (interleaved runs, 2026-12-05), so the default stays at 512 KiB: up to
// batch.maxConcurrency batches are in flight outside the queue's bound (agent.ts), and a larger one
// would only add memory.
import { z } from 'zod';
import { parseBytes } from '../common/config/index.js';
import { SamplingConfigSchema } from './sampling-config.js';
import { ScrubConfigSchema } from './scrub-config.js';

const MiB = 1024 * 1024;

/** A byte size as a number or text such as "512KiB", "32MiB". */
const byteSize = z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : parseBytes(v);
  if (n === undefined || !Number.isFinite(n) || n <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a byte size like 1048576, 512KiB or 32MiB, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return Math.floor(n);
});
const port = z.number().int().min(0).max(65535);
const ms = z.number().int().min(0);

export const AgentConfigSchema = z
  .object({
    receivers: z
      .object({
        /** Receivers listen on the pod's loopback only: the app is the only client. */
        host: z.string().min(1).default('127.0.0.1'),
        otlpGrpcPort: port.default(4317),
        otlpHttpPort: port.default(4318),
        /** Jaeger remote sampling (GET /sampling?service=); 0 turns it off. */
        jaegerSamplingPort: port.default(5778),
        /** Largest export request accepted from the app (also the largest queue entry). */
        maxRequestBytes: byteSize.default(4 * MiB),
      })
      .strict()
      .prefault({}),
    exporter: z
      .object({
        /** Ingest endpoint (host:port of the ingester Service), OTLP/gRPC. */
        endpoint: z.string().min(1).default('skein-ingester:4317'),
        compression: z.enum(['gzip', 'none']).default('gzip'),
        /** Deadline of one export attempt. */
        timeoutMs: ms.min(1).default(10_000),
        /** X-Scope-OrgID sent with every export; none when absent. */
        tenant: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    queue: z
      .object({
        maxBytes: byteSize.default(32 * MiB),
        maxItems: z.number().int().positive().optional(),
      })
      .strict()
      .prefault({}),
    batch: z
      .object({
        maxBytes: byteSize.default(512 * 1024),
        maxSpans: z.number().int().positive().default(8192),
        maxDelayMs: ms.default(1000),
        maxConcurrency: z.number().int().min(1).max(64).default(4),
      })
      .strict()
      .prefault({}),
    retry: z
      .object({
        initialBackoffMs: ms.min(1).default(1000),
        maxBackoffMs: ms.min(1).default(30_000),
        maxElapsedMs: ms.default(120_000),
      })
      .strict()
      .prefault({}),
    headSampler: z
      .object({
        maxTrackedTraces: z.number().int().positive().default(100_000),
        decisionTtlMs: ms.min(1).default(300_000),
      })
      .strict()
      .prefault({}),
    sampling: SamplingConfigSchema.prefault({}),
    scrubbing: ScrubConfigSchema.prefault({}),
    /** How long shutdown may spend flushing before what is left is dropped. */
    shutdownTimeoutMs: ms.default(10_000),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.receivers.maxRequestBytes > c.queue.maxBytes) {
      ctx.addIssue({ code: 'custom', path: ['receivers', 'maxRequestBytes'], message: 'must not exceed queue.maxBytes (such a request could never be queued)' });
    }
    if (c.retry.initialBackoffMs > c.retry.maxBackoffMs) {
      ctx.addIssue({ code: 'custom', path: ['retry', 'initialBackoffMs'], message: 'must not exceed retry.maxBackoffMs' });
    }
  });

export type AgentConfig = z.output<typeof AgentConfigSchema>;
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;
