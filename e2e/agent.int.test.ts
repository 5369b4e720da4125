// The agent (`skein agent`, built CLI) between apps instrumented with the real OpenTelemetry JS SDK
// and a real `skein all-in-one`:
//
// 1. Spans arrive sampled exactly as configured (the agent's decision is a pure function of the
//    trace ID and rate, so the test knows which traces must arrive and which must not) and
//    scrubbed; OTLP/gRPC, OTLP/HTTP protobuf and OTLP/JSON all work; a debug-marked trace survives
//    a zero rate. The Jaeger remote-sampling endpoint answers from the same config, and SIGHUP
//    reloads it.
// 2. Bad input gets the same answers from the agent as from the ingester (same request to both).
// 3. Do no harm: with the ingest endpoint down (closed port) or black-holed (accepts TCP, never
//    answers), an app exporting through the agent keeps its latency, its exporter calls return
//    promptly and successfully, the agent's queue and memory stay under their bounds, and the
//    spans it cannot keep are counted as dropped. Bounds are generous: no tight timings here.
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, trace, SpanKind, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { computeRejectionThreshold, keepsTrace } from '../agent/index.js';
import { decodeExportResponse, encodeExportRequest, toOtlpJson } from '../common/otlp/index.js';
import { freePort, startBlackHole, startChild, type StartedChild } from '../common/proc/index.js';
import { SKEIN_BIN, grpcExport, makeBatch, makeDataDir, makeRequest, makeSpan, startSkein, type RunningSkein } from './harness/index.js';

// ---- helpers ---------------------------------------------------------------------------------

interface RunningAgent {
  readonly child: StartedChild;
  readonly otlpGrpc: string;
  readonly otlpHttp: string;
  readonly jaegerSampling: string;
  readonly admin: string;
}

async function startAgent(ingestEndpoint: string, args: readonly string[] = []): Promise<RunningAgent> {
  const jaegerPort = await freePort();
  const child = await startChild({
    args: [
      SKEIN_BIN,
      'agent',
      '--host',
      '127.0.0.1',
      '--otlp-grpc-port',
      '0',
      '--otlp-http-port',
      '0',
      '--admin-port',
      '0',
      '--jaeger-sampling-port',
      String(jaegerPort),
      '--ingest-endpoint',
      ingestEndpoint,
      '--batch-max-delay-ms',
      '50',
      ...args,
    ],
    readyMessage: 'skein ready',
    timeoutMs: 60_000,
  });
  const r = child.ready;
  return { child, otlpGrpc: r['otlpGrpc']!, otlpHttp: r['otlpHttp']!, jaegerSampling: r['jaegerSampling']!, admin: r['admin']! };
}

/** Prometheus text → value of the sample `name` whose labels include `labels` (0 when absent). */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

const metricsOf = async (agent: RunningAgent): Promise<string> => (await fetch(`http://${agent.admin}/metrics`)).text();

/** Resident set size of a live process, bytes (Linux). */
function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) * 1024;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Wraps an SDK exporter and times each export() call until its result callback. */
class TimedExporter implements SpanExporter {
  readonly durationsMs: number[] = [];
  readonly results: ExportResult[] = [];
  constructor(private readonly inner: SpanExporter) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const t0 = performance.now();
    this.inner.export(spans, (result) => {
      this.durationsMs.push(performance.now() - t0);
      this.results.push(result);
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

function provider(service: string, exporter: SpanExporter): NodeTracerProvider {
  return new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 20, maxExportBatchSize: 256, maxQueueSize: 8192 })],
  });
}

/** One two-span trace (a SERVER root and a CLIENT child); returns its trace ID. */
function emitTrace(tracer: Tracer, name: string, attributes: Record<string, string | number | string[]> = {}): string {
  const root = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes });
  const child = tracer.startSpan('SELECT items', { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql' } }, trace.setSpan(context.active(), root));
  child.end();
  root.end();
  return root.spanContext().traceId;
}

const HASH_KEY = 'e2e-hash-key-0123456789';
const CHECKOUT_RATE = 0.25;

function agentConfig(checkoutRate: number): string {
  return JSON.stringify({
    sampling: { defaultProbability: 1, services: { checkout: { probability: checkoutRate }, noisy: { probability: 0 } } },
    scrubbing: {
      rules: [
        { name: 'user-email', key: '^user\\.email$', action: 'redact' },
        { name: 'session-id', key: '^session\\.id$', action: 'hash' },
      ],
      hashKey: HASH_KEY,
    },
  });
}

type TempoSpan = { name: string; attributes?: { key: string; value: Record<string, any> }[] };

async function fetchTrace(skein: RunningSkein, traceId: string): Promise<TempoSpan[] | undefined> {
  const res = await fetch(`http://${skein.tempo}/api/traces/${traceId}`);
  if (res.status === 404) return undefined;
  expect(res.status).toBe(200);
  const body = (await res.json()) as { resourceSpans?: any[]; batches?: any[] };
  return (body.resourceSpans ?? body.batches ?? []).flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans as TempoSpan[]));
}

// ---- 1 + 2: through the agent to all-in-one ---------------------------------------------------

describe('OpenTelemetry SDK → skein agent → skein all-in-one', () => {
  let skein: RunningSkein;
  let agent: RunningAgent;
  let data: ReturnType<typeof makeDataDir>;
  let configFile = '';

  beforeAll(async () => {
    data = makeDataDir();
    skein = await startSkein({ dataDir: data.dir });
    configFile = path.join(data.dir, 'agent.json');
    writeFileSync(configFile, agentConfig(CHECKOUT_RATE));
    agent = await startAgent(skein.otlpGrpc, ['--agent-config', configFile]);
  });

  afterAll(async () => {
    if (agent) expect(await agent.child.stop('SIGTERM')).toBe(0);
    if (skein) expect(await skein.stop()).toBe(0);
    data?.remove();
  });

  it('health and readiness', async () => {
    expect((await fetch(`http://${agent.admin}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${agent.admin}/readyz`)).status).toBe(200);
  });

  it('spans arrive sampled as configured, over gRPC, HTTP/protobuf and HTTP/JSON', async () => {
    const checkout = provider('checkout', new GrpcExporter({ url: `http://${agent.otlpGrpc}` }));
    const frontend = provider('frontend', new ProtoExporter({ url: `http://${agent.otlpHttp}/v1/traces` }));
    const noisy = provider('noisy', new JsonExporter({ url: `http://${agent.otlpHttp}/v1/traces` }));
    const checkoutIds = Array.from({ length: 200 }, (_, i) => emitTrace(checkout.getTracer('e2e'), `GET /checkout/${i % 5}`));
    const frontendIds = Array.from({ length: 20 }, () => emitTrace(frontend.getTracer('e2e'), 'GET /'));
    const noisyIds = Array.from({ length: 20 }, () => emitTrace(noisy.getTracer('e2e'), 'poll'));
    const debugId = emitTrace(noisy.getTracer('e2e'), 'poll (debug)', { 'sampling.priority': 1 });
    await Promise.all([checkout.forceFlush(), frontend.forceFlush(), noisy.forceFlush()]);
    await Promise.all([checkout.shutdown(), frontend.shutdown(), noisy.shutdown()]);

    const threshold = computeRejectionThreshold(CHECKOUT_RATE);
    const kept = checkoutIds.filter((id) => keepsTrace(Buffer.from(id, 'hex'), 0, threshold));
    const dropped = checkoutIds.filter((id) => !kept.includes(id));
    // 200 random trace IDs at p = 0.25: the kept count is far from 0 and from 200.
    expect(kept.length).toBeGreaterThan(20);
    expect(kept.length).toBeLessThan(90);

    // Everything that must arrive arrives whole (both spans)…
    for (const id of [...kept, ...frontendIds, debugId]) {
      const spans = await waitFor(`trace ${id}`, async () => {
        const s = await fetchTrace(skein, id);
        return s !== undefined && s.length === 2 ? s : undefined;
      });
      expect(spans).toHaveLength(2);
    }
    // …and, since it was exported in the same batches, nothing else did.
    for (const id of [...dropped, ...noisyIds]) expect(await fetchTrace(skein, id), `trace ${id} should be sampled out`).toBeUndefined();

    // The agent counts a batch as sent when the ingester's answer is back, which may be just after
    // the spans became queryable.
    const sent = 2 * (kept.length + frontendIds.length + 1);
    const m = await waitFor('the sent counter', async () => {
      const text = await metricsOf(agent);
      return metric(text, 'skein_agent_spans_sent_total') >= sent ? text : undefined;
    });
    expect(metric(m, 'skein_agent_spans_sent_total')).toBe(sent);
    expect(metric(m, 'skein_agent_spans_dropped_total', { reason: 'sampling-probabilistic' })).toBe(2 * (dropped.length + noisyIds.length));
    expect(metric(m, 'skein_agent_spans_received_total', { transport: 'grpc' })).toBe(400);
    expect(metric(m, 'skein_agent_spans_received_total', { transport: 'http' })).toBe(82);
    expect(metric(m, 'skein_agent_export_duration_seconds_count', { outcome: 'ok' })).toBeGreaterThan(0);
  });

  it('spans arrive scrubbed: configured rules (redact, hash) and built-in ones', async () => {
    const app = provider('frontend', new GrpcExporter({ url: `http://${agent.otlpGrpc}` }));
    const card = '4111 1111 1111 1111';
    const id = emitTrace(app.getTracer('e2e'), 'POST /login', {
      'user.email': 'ada@example.com',
      'session.id': 's-12345',
      'db.password': 'hunter2',
      'http.request.header.authorization': ['Bearer abcdefghijklmnopqrstuvwxyz012345'],
      'payment.note': `paid with ${card} today`,
      'http.route': '/login',
    });
    await app.forceFlush();
    await app.shutdown();
    const spans = await waitFor('the scrubbed trace', async () => {
      const s = await fetchTrace(skein, id);
      return s !== undefined && s.length === 2 ? s : undefined;
    });
    const root = spans.find((s) => s.name === 'POST /login')!;
    const attrs = Object.fromEntries((root.attributes ?? []).map((a) => [a.key, a.value]));
    const hash = 'hash:' + createHmac('sha256', HASH_KEY).update('s-12345').digest('hex').slice(0, 32);
    expect(attrs).toMatchObject({
      'user.email': { stringValue: '[REDACTED]' },
      'session.id': { stringValue: hash },
      'db.password': { stringValue: '[REDACTED]' },
      'http.request.header.authorization': { arrayValue: { values: [{ stringValue: '[REDACTED]' }] } },
      'payment.note': { stringValue: 'paid with [REDACTED] today' },
      'http.route': { stringValue: '/login' },
    });
    expect(JSON.stringify(spans)).not.toMatch(/ada@example|hunter2|abcdefghijklmnop|4111/);
    const m = await metricsOf(agent);
    expect(metric(m, 'skein_agent_scrubbed_values_total', { rule: 'session-id', action: 'hash' })).toBeGreaterThanOrEqual(1);
    expect(metric(m, 'skein_agent_scrubbed_values_total', { rule: 'credit-card', action: 'redact' })).toBeGreaterThanOrEqual(1);
  });

  it('Jaeger remote sampling answers from the same config', async () => {
    const get = async (q: string) => fetch(`http://${agent.jaegerSampling}${q}`);
    const checkout = await get('/sampling?service=checkout');
    expect(checkout.status).toBe(200);
    expect(await checkout.json()).toEqual({ strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: CHECKOUT_RATE } });
    expect(await (await get('/sampling?service=someone-else')).json()).toEqual({ strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 1 } });
    expect(await (await get('/?service=noisy')).json()).toEqual({ strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0 } });
    const missing = await get('/sampling');
    expect(missing.status).toBe(400);
    expect(await missing.text()).toMatch(/service/);
  });

  it.each([
    ['garbage bytes', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 'application/x-protobuf', undefined],
    ['truncated protobuf', encodeExportRequest(makeBatch(2, 3).request).subarray(0, 100), 'application/x-protobuf', undefined],
    ['wrong content type', 'hello', 'text/plain', undefined],
    ['invalid JSON', '{"resourceSpans": [', 'application/json', undefined],
    ['JSON of the wrong shape', '{"resourceSpans": 7}', 'application/json', undefined],
    ['gzip header on plain bytes', 'not gzip', 'application/x-protobuf', 'gzip'],
    ['unknown encoding', 'x', 'application/x-protobuf', 'br'],
    [
      'invalid spans next to a valid one',
      encodeExportRequest(
        makeRequest('mixed', [
          makeSpan({ traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1), name: 'good' }),
          makeSpan({ traceId: new Uint8Array(16), name: 'zero trace id' }),
          makeSpan({ traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1), spanId: Uint8Array.from([1, 2, 3]), name: 'short span id' }),
          makeSpan({ traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1), name: 'backwards', durationNs: -5n }),
        ]),
      ),
      'application/x-protobuf',
      undefined,
    ],
    [
      'invalid spans as OTLP/JSON',
      JSON.stringify(toOtlpJson(makeRequest('mixed-json', [makeSpan({ traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 7) }), makeSpan({ traceId: new Uint8Array(16) })]))),
      'application/json',
      undefined,
    ],
  ] as const)('bad input over HTTP (%s): the same answer as the ingester', async (_name, body, type, encoding) => {
    const headers: Record<string, string> = { 'content-type': type };
    if (encoding) headers['content-encoding'] = encoding;
    const post = async (address: string) => {
      const res = await fetch(`http://${address}/v1/traces`, { method: 'POST', headers, body: typeof body === 'string' ? body : Buffer.from(body) });
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
    };
    const [fromAgent, fromIngester] = await Promise.all([post(agent.otlpHttp), post(skein.otlpHttp)]);
    expect(fromAgent.status).toBe(fromIngester.status);
    expect(fromAgent.body.toString('latin1')).toBe(fromIngester.body.toString('latin1'));
    if (fromAgent.status === 200 && type === 'application/x-protobuf') expect(decodeExportResponse(fromAgent.body).rejectedSpans).toBe(3);
    else if (fromAgent.status === 200) expect(JSON.parse(fromAgent.body.toString())).toMatchObject({ partialSuccess: { rejectedSpans: '1' } });
    else expect(fromAgent.body.toString('latin1')).toMatch(/BAD_PAYLOAD|UNSUPPORTED_MEDIA_TYPE/);
  });

  it('bad input over gRPC: the same status and message as the ingester', async () => {
    const garbage = Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    const [a, i] = await Promise.all([grpcExport(agent.otlpGrpc, garbage), grpcExport(skein.otlpGrpc, garbage)]);
    expect(a.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(a.err?.code).toBe(i.err?.code);
    expect(a.err?.details).toBe(i.err?.details);
    expect(a.err?.details).toMatch(/BAD_PAYLOAD/);
    const bad = new grpc.Metadata();
    bad.set('x-scope-orgid', 'no/slashes');
    const [ta, ti] = await Promise.all([grpcExport(agent.otlpGrpc, encodeExportRequest(makeBatch(1, 1).request), bad), grpcExport(skein.otlpGrpc, encodeExportRequest(makeBatch(1, 1).request), bad)]);
    expect(ta.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(ta.err?.details).toBe(ti.err?.details);
    // The agent counted it all and keeps serving.
    const m = await metricsOf(agent);
    expect(metric(m, 'skein_agent_requests_total', { transport: 'grpc', outcome: 'BAD_PAYLOAD' })).toBeGreaterThanOrEqual(1);
    expect(metric(m, 'skein_agent_spans_rejected_total', { reason: 'trace_id_zero' })).toBeGreaterThanOrEqual(2);
    expect((await fetch(`http://${agent.admin}/readyz`)).status).toBe(200);
  });

  it('SIGHUP reloads the sampling config (the Jaeger endpoint and the agent agree at once)', async () => {
    writeFileSync(configFile, agentConfig(0.5));
    process.kill(agent.child.pid, 'SIGHUP');
    await waitFor('the reloaded rate', async () => {
      const body = (await (await fetch(`http://${agent.jaegerSampling}/sampling?service=checkout`)).json()) as { probabilisticSampling: { samplingRate: number } };
      return body.probabilisticSampling.samplingRate === 0.5 ? true : undefined;
    });
    // A broken file is refused and the running policy stays.
    writeFileSync(configFile, '{"sampling": {"defaultProbability": 7}}');
    process.kill(agent.child.pid, 'SIGHUP');
    await waitFor('the refusal in the log', () => Promise.resolve(agent.child.logs.some((l) => l.includes('policy reload failed')) ? true : undefined));
    const body = (await (await fetch(`http://${agent.jaegerSampling}/sampling?service=checkout`)).json()) as { probabilisticSampling: { samplingRate: number } };
    expect(body.probabilisticSampling.samplingRate).toBe(0.5);
    expect(metric(await metricsOf(agent), 'skein_agent_policy_reloads_total', { outcome: 'ok' })).toBe(1);
  });
});

// ---- 3: do no harm -----------------------------------------------------------------------------

const QUEUE_BYTES = 2 * 1024 * 1024;
/** The agent's resident memory bound in these tests: Node's own ~60–120 MiB plus the queue, generously. */
const RSS_BOUND = 300 * 1024 * 1024;

describe.each([
  ['down (closed port)', async () => ({ address: `127.0.0.1:${await freePort()}`, close: () => Promise.resolve() })],
  ['black-holed (accepts, never answers)', startBlackHole],
] as const)('do no harm: ingest endpoint %s', (_name, makeEndpoint) => {
  let agent: RunningAgent;
  let endpoint: { address: string; close: () => Promise<void> };
  let data: ReturnType<typeof makeDataDir>;

  beforeAll(async () => {
    data = makeDataDir();
    endpoint = await makeEndpoint();
    const config = path.join(data.dir, 'agent.json');
    writeFileSync(config, JSON.stringify({ retry: { initialBackoffMs: 200, maxBackoffMs: 1000, maxElapsedMs: 4000 } }));
    agent = await startAgent(endpoint.address, ['--agent-config', config, '--queue-max-bytes', String(QUEUE_BYTES), '--ingest-timeout-ms', '1000', '--shutdown-timeout-ms', '2000']);
  });

  afterAll(async () => {
    if (agent) expect(await agent.child.stop('SIGTERM')).toBe(0);
    await endpoint?.close();
    data?.remove();
  });

  it('the app keeps its latency, its exports return promptly, the agent drops and counts within its bounds', async () => {
    const exporter = new TimedExporter(new GrpcExporter({ url: `http://${agent.otlpGrpc}` }));
    const app = provider('shop', exporter);
    const tracer = app.getTracer('e2e');
    const payload = 'x'.repeat(2048);
    // The app's "requests": a span around 1 ms of (simulated) I/O, ~2 KiB of attributes each.
    // 3000 of them make ~6 MiB of spans: three times the agent's queue.
    const latencies: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const t0 = performance.now();
      const span = tracer.startSpan('GET /item', { kind: SpanKind.SERVER, attributes: { 'item.payload': payload, 'item.n': i } });
      await new Promise((r) => setTimeout(r, i % 10 === 0 ? 1 : 0));
      span.end();
      latencies.push(performance.now() - t0);
    }
    const flushStart = performance.now();
    await app.forceFlush();
    const flushMs = performance.now() - flushStart;
    await app.shutdown();

    // The app: request latency unaffected (generous bounds), exports answered, and answered as success.
    expect(percentile(latencies, 99)).toBeLessThan(100);
    expect(flushMs).toBeLessThan(5_000);
    expect(exporter.durationsMs.length).toBeGreaterThan(0);
    expect(percentile(exporter.durationsMs, 99)).toBeLessThan(2_000);
    expect(exporter.results.every((r) => r.code === ExportResultCode.SUCCESS)).toBe(true);

    // The agent: nothing sent, queue within its bound, memory bounded, the overflow dropped and counted.
    const m = await metricsOf(agent);
    const received = metric(m, 'skein_agent_spans_received_total', { transport: 'grpc' });
    const queued = metric(m, 'skein_agent_spans_queued_total');
    const queueFull = metric(m, 'skein_agent_spans_dropped_total', { reason: 'queue-full' });
    expect(received).toBe(3000);
    expect(metric(m, 'skein_agent_spans_sent_total')).toBe(0);
    expect(queueFull).toBeGreaterThan(0);
    expect(queued + queueFull).toBe(received);
    expect(metric(m, 'skein_agent_queue_bytes')).toBeLessThanOrEqual(QUEUE_BYTES);
    expect(metric(m, 'skein_agent_queue_max_bytes')).toBe(QUEUE_BYTES);
    expect(metric(m, 'skein_agent_export_retries_total')).toBeGreaterThan(0);
    expect(rssBytes(agent.child.pid)).toBeLessThan(RSS_BOUND);
    expect(agent.child.logs.join('\n')).toMatch(/export to the ingest endpoint failed/);
    expect((await fetch(`http://${agent.admin}/readyz`)).status).toBe(200);
  });

  it('retries give up within their budget: batches are dropped as export-failed, the queue drains', async () => {
    // maxElapsedMs is 4 s: every batch that was in the queue has been tried and given up on by then.
    const m = await waitFor(
      'the queue to drain by giving up',
      async () => {
        const text = await metricsOf(agent);
        return metric(text, 'skein_agent_queue_spans') === 0 && metric(text, 'skein_agent_export_in_flight_batches') === 0 ? text : undefined;
      },
      60_000,
    );
    const received = metric(m, 'skein_agent_spans_received_total', { transport: 'grpc' });
    const dropped = ['queue-full', 'export-failed', 'export-rejected', 'too-large'].reduce((n, reason) => n + metric(m, 'skein_agent_spans_dropped_total', { reason }), 0);
    expect(metric(m, 'skein_agent_spans_dropped_total', { reason: 'export-failed' })).toBeGreaterThan(0);
    expect(dropped).toBe(received); // every span accounted for
    expect(rssBytes(agent.child.pid)).toBeLessThan(RSS_BOUND);
  });
});
