// The agent's ExportService in process: real sampler, scrubber and batcher (manual clock), and a
// send that records what would leave the pod. Asserts on the answers to the app, on what is queued
// and sent, and on the drop counters.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/coord/index.js';
import { SkeinError } from '../common/errors/index.js';
import { createSilentLogger } from '../common/log/index.js';
import { createRegistry, type Registry } from '../common/metrics/index.js';
import { DEFAULT_TENANT, toHex, type ResourceSpans, type Span } from '../common/model/index.js';
import { DEFAULT_SPAN_LIMITS, decodeExportRequest, encodeExportRequest, toOtlpJson } from '../common/otlp/index.js';
import { AgentConfigSchema, type AgentConfigInput } from './agent-config.js';
import { createBatcher } from './batcher.js';
import { createAgentExportService, type QueuedExport } from './export-service.js';
import { createHeadSampler } from './head-sampler.js';
import { createScrubber, REDACTED } from './scrubber.js';
import { childSpan, kv, makeSpan, traceIdWithRandomness } from './testing/spans.js';

function request(service: string, spans: Span[]): ResourceSpans[] {
  return [
    {
      resource: { attributes: [kv('service.name', service)], droppedAttributesCount: 0 },
      schemaUrl: '',
      scopeSpans: [{ scope: { name: 'app', version: '1', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }],
    },
  ];
}

function setup(input: AgentConfigInput = {}, options: { tenant?: string } = {}) {
  const config = AgentConfigSchema.parse(input);
  const clock = new ManualClock(0);
  const registry = createRegistry({ defaultMetrics: false });
  const sent: QueuedExport[][] = [];
  const batcher = createBatcher<QueuedExport>({
    clock,
    random: () => 0.5,
    send: (items) => {
      sent.push([...items]);
      return Promise.resolve();
    },
    maxQueueBytes: config.queue.maxBytes,
    maxItemBytes: config.receivers.maxRequestBytes,
    maxBatchBytes: config.batch.maxBytes,
    maxBatchWeight: config.batch.maxSpans,
    maxDelayMs: config.batch.maxDelayMs,
    maxConcurrency: config.batch.maxConcurrency,
    retry: config.retry,
    onDrop: (reason, weight) => dropped.push([reason, weight]),
  });
  const dropped: [string, number][] = [];
  const sampler = createHeadSampler({ config: config.sampling, clock, maxTrackedTraces: 1000, decisionTtlMs: 60_000 });
  const scrubber = createScrubber(config.scrubbing);
  const service = createAgentExportService({
    limits: DEFAULT_SPAN_LIMITS,
    sampler,
    scrubber: () => scrubber,
    offer: (item, bytes, spans) => batcher.offer(item, bytes, spans),
    tenant: options.tenant,
    maxQueueBytes: config.queue.maxBytes,
    registry,
    logger: createSilentLogger(),
  });
  /** Every span that left (or would leave) the pod, decoded, with the tenant it was sent for. */
  const leftPod = async (): Promise<{ tenant: string | undefined; service: string; span: Span }[]> => {
    await batcher.flush();
    return sent.flat().flatMap((q) =>
      decodeExportRequest(q.request).flatMap((rs) => {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value;
        return rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ tenant: q.tenant, service: service?.kind === 'string' ? service.value : '', span })));
      }),
    );
  };
  return { service, batcher, registry, sent, dropped, leftPod, clock };
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const { values } = await m.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want));
  return hit?.value ?? 0;
}

const protobuf = (rs: ResourceSpans[]): Uint8Array => encodeExportRequest(rs);
const json = (rs: ResourceSpans[]): Uint8Array => Buffer.from(JSON.stringify(toOtlpJson(rs)));

describe('agent export service', () => {
  it.each([
    ['protobuf', protobuf, 'protobuf'],
    ['OTLP/JSON', json, 'json'],
  ] as const)('%s: rejects invalid spans one by one (as the ingester), scrubs and queues the valid ones', async (_name, encode, format) => {
    const { service, registry, leftPod } = setup();
    const traceId = traceIdWithRandomness(7n);
    const good = makeSpan({ traceId, name: 'GET /cart', attributes: [kv('db.password', 'hunter2'), kv('http.route', '/cart')] });
    const zero = makeSpan({ traceId: new Uint8Array(16), name: 'zero trace id' });
    const backwards = makeSpan({ traceId, name: 'backwards', startTimeUnixNano: 10n, endTimeUnixNano: 5n });
    const outcome = await service.export(DEFAULT_TENANT, encode(request('cart', [good, zero, backwards])), format, 'http');
    expect(outcome.rejectedSpans).toBe(2);
    expect(outcome.errorMessage).toMatch(/rejected 2 of 3 spans .*trace_id_zero.*end_before_start/);
    const out = await leftPod();
    expect(out.map((o) => o.span.name)).toEqual(['GET /cart']);
    expect(out[0]!.service).toBe('cart');
    expect(out[0]!.tenant).toBeUndefined();
    expect(Object.fromEntries(out[0]!.span.attributes.map((a) => [a.key, a.value]))).toEqual({
      'db.password': { kind: 'string', value: REDACTED },
      'http.route': { kind: 'string', value: '/cart' },
    });
    expect(await metric(registry, 'skein_agent_spans_received_total', { transport: 'http' })).toBe(3);
    expect(await metric(registry, 'skein_agent_spans_rejected_total', { reason: 'trace_id_zero' })).toBe(1);
    expect(await metric(registry, 'skein_agent_spans_queued_total')).toBe(1);
    expect(await metric(registry, 'skein_agent_scrubbed_values_total', { rule: 'secret-key', action: 'redact' })).toBe(1);
    expect(await metric(registry, 'skein_agent_requests_total', { transport: 'http', outcome: 'partial' })).toBe(1);
  });

  it('queues a compact copy, not a view into the request buffer', async () => {
    const { service, sent, batcher } = setup({ sampling: { services: { cart: { probability: 0.5 } } } });
    // Two traces: one kept at p = 0.5 (randomness ≥ 2^55), one not.
    const kept = makeSpan({ traceId: traceIdWithRandomness(2n ** 55n + 1n), name: 'kept' });
    const gone = makeSpan({ traceId: traceIdWithRandomness(1n), name: 'gone', attributes: [kv('payload', 'x'.repeat(10_000))] });
    const body = protobuf(request('cart', [kept, gone]));
    await service.export(DEFAULT_TENANT, body, 'protobuf', 'grpc');
    await batcher.flush();
    const queued = sent.flat();
    expect(queued).toHaveLength(1);
    expect(queued[0]!.request.buffer).not.toBe(body.buffer);
    expect(queued[0]!.request.length).toBeLessThan(1000);
    expect(queued[0]!.spans).toBe(1);
  });

  it('queues an untouched request as received, and re-encodes one the scrubber changed', async () => {
    const { service, sent, batcher } = setup();
    const clean = protobuf(request('cart', [makeSpan({ attributes: [kv('http.route', '/cart')] }), childSpan(traceIdWithRandomness(9n))]));
    const dirty = protobuf(request('cart', [makeSpan({ attributes: [kv('api_key', 'k-123')] })]));
    await service.export(DEFAULT_TENANT, clean, 'protobuf', 'grpc');
    await service.export(DEFAULT_TENANT, dirty, 'protobuf', 'grpc');
    await batcher.flush();
    const [a, b] = sent.flat();
    expect(Buffer.compare(a!.request, clean)).toBe(0);
    expect(a!.spans).toBe(2);
    expect(Buffer.compare(b!.request, dirty)).not.toBe(0);
    expect(decodeExportRequest(b!.request)[0]!.scopeSpans[0]!.spans[0]!.attributes).toEqual([kv('api_key', REDACTED)]);
  });

  it('samples as configured: dropped traces are counted, never reported to the app as errors', async () => {
    const { service, registry, leftPod } = setup({ sampling: { defaultProbability: 1, services: { noisy: { probability: 0 } } } });
    const traceA = traceIdWithRandomness(123n);
    const traceB = traceIdWithRandomness(456n);
    const outcome = await service.export(DEFAULT_TENANT, protobuf(request('noisy', [makeSpan({ traceId: traceA }), childSpan(traceA), makeSpan({ traceId: traceB })])), 'protobuf', 'grpc');
    expect(outcome).toEqual({ rejectedSpans: 0, errorMessage: '' });
    const quiet = await service.export(DEFAULT_TENANT, protobuf(request('quiet', [makeSpan({ traceId: traceA, name: 'kept' })])), 'protobuf', 'grpc');
    expect(quiet).toEqual({ rejectedSpans: 0, errorMessage: '' });
    expect((await leftPod()).map((o) => [o.service, o.span.name])).toEqual([['quiet', 'kept']]);
    expect(await metric(registry, 'skein_agent_spans_dropped_total', { reason: 'sampling-probabilistic' })).toBe(3);
  });

  it('a debug-marked trace is kept even where the policy samples everything out', async () => {
    const { service, leftPod } = setup({ sampling: { defaultProbability: 0 } });
    const traceId = traceIdWithRandomness(5n);
    await service.export(DEFAULT_TENANT, protobuf(request('svc', [makeSpan({ traceId, attributes: [kv('sampling.priority', { kind: 'int', value: 1n })] })])), 'protobuf', 'grpc');
    expect((await leftPod()).map((o) => toHex(o.span.traceId))).toEqual([toHex(traceId)]);
  });

  it('when the queue is full: answers at once, reports the dropped spans in partial_success, counts them', async () => {
    const { service, dropped, sent } = setup({ queue: { maxBytes: 4096 }, receivers: { maxRequestBytes: 4096 }, batch: { maxBytes: 1_000_000, maxDelayMs: 60_000 } });
    const big = (i: number) => protobuf(request('svc', [makeSpan({ traceId: traceIdWithRandomness(BigInt(i + 1)), attributes: [kv('blob', 'x'.repeat(1500))] })]));
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push(await service.export(DEFAULT_TENANT, big(i), 'protobuf', 'grpc'));
    expect(outcomes.slice(0, 2)).toEqual([
      { rejectedSpans: 0, errorMessage: '' },
      { rejectedSpans: 0, errorMessage: '' },
    ]);
    for (const o of outcomes.slice(2)) {
      expect(o.rejectedSpans).toBe(1);
      expect(o.errorMessage).toMatch(/agent queue full \(4096 bytes\): dropped 1 spans/);
    }
    expect(dropped).toEqual([
      ['queue-full', 1],
      ['queue-full', 1],
    ]);
    expect(sent).toHaveLength(0); // nothing was due yet: the app never waited for an export
  });

  it('a request whose kept spans exceed the largest queue entry is dropped as too large', async () => {
    const { service, dropped } = setup({ queue: { maxBytes: 2048 }, receivers: { maxRequestBytes: 2048 } });
    const o = await service.export(DEFAULT_TENANT, protobuf(request('svc', [makeSpan({ attributes: [kv('blob', 'x'.repeat(3000))] })])), 'protobuf', 'grpc');
    expect(o.rejectedSpans).toBe(1);
    expect(o.errorMessage).toMatch(/exceed what the agent queues at once/);
    expect(dropped).toEqual([['too-large', 1]]);
  });

  it.each([
    ['garbage protobuf', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 'protobuf', /malformed|varint/i],
    ['truncated protobuf', protobuf(request('svc', [makeSpan()])).subarray(0, 30), 'protobuf', /BAD_PAYLOAD|malformed|past the end|truncated/i],
    ['invalid JSON', Buffer.from('{"resourceSpans": ['), 'json', /not valid JSON/],
    ['JSON of the wrong shape', Buffer.from('{"resourceSpans": 7}'), 'json', /resourceSpans/],
  ] as const)('%s → BAD_PAYLOAD with a clear message', async (_name, body, format, re) => {
    const { service, registry } = setup();
    const err = await service.export(DEFAULT_TENANT, body, format, 'http').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SkeinError);
    expect((err as SkeinError).code).toBe('BAD_PAYLOAD');
    expect((err as SkeinError).message).toMatch(re);
    expect(await metric(registry, 'skein_agent_requests_total', { outcome: 'BAD_PAYLOAD' })).toBe(1);
  });

  it('tenants: the app tenant is passed on, the default one is not sent, a configured one wins', async () => {
    const passOn = setup();
    await passOn.service.export('team-a', protobuf(request('svc', [makeSpan()])), 'protobuf', 'grpc');
    await passOn.service.export(DEFAULT_TENANT, protobuf(request('svc', [makeSpan()])), 'protobuf', 'grpc');
    expect((await passOn.leftPod()).map((o) => o.tenant)).toEqual(['team-a', undefined]);
    const forced = setup({}, { tenant: 'pod-tenant' });
    await forced.service.export('team-a', protobuf(request('svc', [makeSpan()])), 'protobuf', 'grpc');
    expect((await forced.leftPod()).map((o) => o.tenant)).toEqual(['pod-tenant']);
  });

  it('after close(): UNAVAILABLE with a retry hint', async () => {
    const { service } = setup();
    service.close();
    await expect(service.export(DEFAULT_TENANT, protobuf(request('svc', [makeSpan()])), 'protobuf', 'grpc')).rejects.toMatchObject({ code: 'UNAVAILABLE', retryAfterSeconds: 1 });
  });
});
