import { describe, expect, it } from 'vitest';
import { AgentConfigSchema } from './agent-config.js';

describe('AgentConfigSchema', () => {
  it('fills every default from an empty document', () => {
    expect(AgentConfigSchema.parse({})).toEqual({
      receivers: { host: '127.0.0.1', otlpGrpcPort: 4317, otlpHttpPort: 4318, jaegerSamplingPort: 5778, maxRequestBytes: 4 * 1024 * 1024 },
      exporter: { endpoint: 'skein-ingester:4317', compression: 'gzip', timeoutMs: 10_000 },
      queue: { maxBytes: 32 * 1024 * 1024 },
      batch: { maxBytes: 512 * 1024, maxSpans: 8192, maxDelayMs: 1000, maxConcurrency: 4 },
      retry: { initialBackoffMs: 1000, maxBackoffMs: 30_000, maxElapsedMs: 120_000 },
      headSampler: { maxTrackedTraces: 100_000, decisionTtlMs: 300_000 },
      sampling: { defaultProbability: 1, debugAttribute: 'sampling.priority', services: {} },
      scrubbing: { disableBuiltins: [], rules: [] },
      shutdownTimeoutMs: 10_000,
    });
  });

  it('reads byte sizes as numbers or text', () => {
    const c = AgentConfigSchema.parse({ queue: { maxBytes: '64MiB' }, batch: { maxBytes: 1000 }, receivers: { maxRequestBytes: '1MiB' } });
    expect([c.queue.maxBytes, c.batch.maxBytes, c.receivers.maxRequestBytes]).toEqual([64 * 1024 * 1024, 1000, 1024 * 1024]);
  });

  it('keeps nested sampling and scrubbing settings', () => {
    const c = AgentConfigSchema.parse({ sampling: { defaultProbability: 0.1 }, scrubbing: { disableBuiltins: ['jwt'] } });
    expect([c.sampling.defaultProbability, c.sampling.debugAttribute, c.scrubbing.disableBuiltins]).toEqual([0.1, 'sampling.priority', ['jwt']]);
  });

  const invalid: [string, unknown, string][] = [
    ['a request larger than the queue', { queue: { maxBytes: '1MiB' } }, 'receivers.maxRequestBytes'],
    ['initial backoff above the cap', { retry: { initialBackoffMs: 5000, maxBackoffMs: 1000 } }, 'retry.initialBackoffMs'],
    ['a bad byte size', { queue: { maxBytes: 'lots' } }, 'queue.maxBytes'],
    ['zero concurrency', { batch: { maxConcurrency: 0 } }, 'batch.maxConcurrency'],
    ['a typo', { bacth: {} }, ''],
    ['a bad port', { receivers: { otlpGrpcPort: 70000 } }, 'receivers.otlpGrpcPort'],
    ['an invalid sampling rate', { sampling: { defaultProbability: 2 } }, 'sampling.defaultProbability'],
  ];
  it.each(invalid)('rejects %s, naming the field', (_name, input, path) => {
    const r = AgentConfigSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });
});
