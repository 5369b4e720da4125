// The real OpenTelemetry JS SDK (gRPC and HTTP/protobuf exporters) sends one trace spanning two
// services to a running `skein all-in-one`; both query APIs must return it whole, with the right
// parent/child links, attributes and durations, immediately after the export is acknowledged.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { context, trace, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { SimpleSpanProcessor, InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { decodeExportRequest } from '../common/otlp/index.js';
import { toHex } from '../common/model/index.js';
import { startSkein, makeDataDir, type RunningSkein } from './harness/index.js';

const hrToNs = (t: [number, number]): bigint => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);

describe('OpenTelemetry SDK → skein all-in-one → Tempo and Jaeger APIs', () => {
  let skein: RunningSkein;
  let data: ReturnType<typeof makeDataDir>;
  const recorded = new InMemorySpanExporter();
  let traceId = '';
  let finished: ReadableSpan[] = [];

  beforeAll(async () => {
    data = makeDataDir();
    skein = await startSkein({ dataDir: data.dir });

    const frontend = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'frontend', 'deployment.environment': 'e2e' }),
      spanProcessors: [new SimpleSpanProcessor(new GrpcExporter({ url: `http://${skein.otlpGrpc}` })), new SimpleSpanProcessor(recorded)],
    });
    const backend = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'backend' }),
      spanProcessors: [new SimpleSpanProcessor(new ProtoExporter({ url: `http://${skein.otlpHttp}/v1/traces` })), new SimpleSpanProcessor(recorded)],
    });
    const fe: Tracer = frontend.getTracer('e2e-frontend', '1.0.0');
    const be: Tracer = backend.getTracer('e2e-backend');

    const root = fe.startSpan('GET /checkout', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': '/checkout' } });
    const rootCtx = trace.setSpan(context.active(), root);
    const call = fe.startSpan('POST charge', { kind: SpanKind.CLIENT, attributes: { 'peer.service': 'backend' } }, rootCtx);
    const server = be.startSpan(
      'POST /charge',
      { kind: SpanKind.SERVER, attributes: { 'http.response.status_code': 500, 'payment.retry': true, 'payment.amount': 12.5 } },
      trace.setSpan(context.active(), call),
    );
    server.addEvent('card declined', { 'decline.code': 'insufficient_funds' });
    server.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
    await new Promise((r) => setTimeout(r, 5));
    server.end();
    call.end();
    root.end();
    traceId = root.spanContext().traceId;
    await Promise.all([frontend.forceFlush(), backend.forceFlush()]);
    // Shutting down clears the in-memory exporter: keep what the SDK recorded first.
    finished = [...recorded.getFinishedSpans()];
    expect(finished).toHaveLength(3);
    await Promise.all([frontend.shutdown(), backend.shutdown()]);
  });

  afterAll(async () => {
    if (skein) expect(await skein.stop()).toBe(0);
    data?.remove();
  });

  const expected = (): ReadableSpan[] => finished;

  it('Tempo /api/traces/{id} returns every span with links, attributes and exact times (JSON)', async () => {
    const res = await fetch(`http://${skein.tempo}/api/traces/${traceId}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { resourceSpans?: unknown[]; batches?: unknown[] };
    const resourceSpans = (body.resourceSpans ?? body.batches) as {
      resource: { attributes: { key: string; value: { stringValue?: string } }[] };
      scopeSpans: { scope: { name: string }; spans: Record<string, any>[] }[];
    }[];
    const spans = resourceSpans.flatMap((rs) =>
      rs.scopeSpans.flatMap((ss) => ss.spans.map((s): Record<string, any> => ({ ...s, service: rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue, scope: ss.scope.name }))),
    );
    expect(spans).toHaveLength(3);
    for (const want of expected()) {
      const got = spans.find((s) => s['spanId'] === want.spanContext().spanId);
      expect(got, `span ${want.name}`).toBeDefined();
      expect(got!['traceId']).toBe(traceId);
      expect(got!['name']).toBe(want.name);
      expect(got!['parentSpanId'] ?? '').toBe(want.parentSpanContext?.spanId ?? '');
      expect(BigInt(got!['startTimeUnixNano'])).toBe(hrToNs(want.startTime));
      expect(BigInt(got!['endTimeUnixNano'])).toBe(hrToNs(want.endTime));
      expect(got!['service']).toBe(want.resource.attributes['service.name']);
    }
    const charge = spans.find((s) => s['name'] === 'POST /charge')!;
    expect(charge['status']).toMatchObject({ code: 2, message: 'card declined' });
    const attrs = Object.fromEntries((charge['attributes'] as { key: string; value: Record<string, unknown> }[]).map((a) => [a.key, a.value]));
    expect(attrs).toMatchObject({ 'http.response.status_code': { intValue: '500' }, 'payment.retry': { boolValue: true }, 'payment.amount': { doubleValue: 12.5 } });
    expect(charge['events'][0]).toMatchObject({ name: 'card declined' });
  });

  it('Tempo /api/traces/{id} answers protobuf on Accept: application/protobuf', async () => {
    const res = await fetch(`http://${skein.tempo}/api/traces/${traceId}`, { headers: { accept: 'application/protobuf' } });
    expect(res.status).toBe(200);
    const decoded = decodeExportRequest(new Uint8Array(await res.arrayBuffer()));
    const ids = decoded.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => toHex(s.spanId)))).sort();
    expect(ids).toEqual(expected().map((s) => s.spanContext().spanId).sort());
  });

  it('Tempo search finds the trace by service, attribute and duration', async () => {
    // The trace lasted ≥ 5 ms (the backend span waited 5 ms before ending).
    const q = new URLSearchParams({ tags: 'service.name=backend http.response.status_code=500', minDuration: '4ms', maxDuration: '1h', limit: '10' });
    const res = await fetch(`http://${skein.tempo}/api/search?${q.toString()}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { traces: { traceID: string; rootServiceName: string; rootTraceName: string; durationMs?: number }[] };
    const hit = body.traces.find((t) => t.traceID === traceId);
    expect(hit).toMatchObject({ rootServiceName: 'frontend', rootTraceName: 'GET /checkout' });
    const misses: Record<string, string>[] = [{ tags: 'service.name=backend http.response.status_code=404' }, { tags: 'service.name=backend', minDuration: '1h' }, { tags: 'service.name=backend', maxDuration: '1ms' }];
    for (const miss of misses) {
      const none = await fetch(`http://${skein.tempo}/api/search?${new URLSearchParams(miss).toString()}`);
      expect(((await none.json()) as { traces: unknown[] }).traces, JSON.stringify(miss)).toHaveLength(0);
    }
  });

  it('Jaeger /api/traces/{id} returns the trace with references, processes and µs durations', async () => {
    const res = await fetch(`http://${skein.jaeger}/api/traces/${traceId}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { traceID: string; spans: any[]; processes: Record<string, { serviceName: string }> }[] };
    expect(body.data).toHaveLength(1);
    const t = body.data[0]!;
    expect(t.traceID).toBe(traceId);
    expect(t.spans).toHaveLength(3);
    for (const want of expected()) {
      const got = t.spans.find((s) => s.spanID === want.spanContext().spanId);
      expect(got.operationName).toBe(want.name);
      expect(t.processes[got.processID]!.serviceName).toBe(want.resource.attributes['service.name']);
      expect(got.startTime).toBe(Number(hrToNs(want.startTime) / 1000n));
      const parent = want.parentSpanContext?.spanId;
      if (parent) expect(got.references).toContainEqual({ refType: 'CHILD_OF', traceID: traceId, spanID: parent });
      else expect(got.references ?? []).toHaveLength(0);
    }
    const charge = t.spans.find((s) => s.operationName === 'POST /charge');
    expect(charge.tags).toContainEqual(expect.objectContaining({ key: 'error', value: true }));
    expect(charge.tags).toContainEqual(expect.objectContaining({ key: 'http.response.status_code', value: 500 }));
  });

  it('Jaeger services, operations and search', async () => {
    const services = (await (await fetch(`http://${skein.jaeger}/api/services`)).json()) as { data: string[] };
    expect(services.data).toEqual(expect.arrayContaining(['frontend', 'backend']));
    const ops = (await (await fetch(`http://${skein.jaeger}/api/services/frontend/operations`)).json()) as { data: string[] };
    expect(ops.data).toEqual(expect.arrayContaining(['GET /checkout', 'POST charge']));
    const q = new URLSearchParams({ service: 'backend', tags: JSON.stringify({ error: 'true' }), limit: '20' });
    const found = (await (await fetch(`http://${skein.jaeger}/api/traces?${q.toString()}`)).json()) as { data: { traceID: string }[] };
    expect(found.data.map((d) => d.traceID)).toContain(traceId);
  });

  it('a tenant sees only its own data', async () => {
    const res = await fetch(`http://${skein.tempo}/api/traces/${traceId}`, { headers: { 'X-Scope-OrgID': 'someone-else' } });
    expect(res.status).toBe(404);
  });
});
