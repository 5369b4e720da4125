import { describe, it, expect, afterEach } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { SkeinError } from '../../common/errors/index.js';
import { DEFAULT_TENANT, fromHex, toHex, type QueryBackend } from '../../common/model/index.js';
import protobuf from 'protobufjs';
import { decodeExportRequest, readVarintAt } from '../../common/otlp/index.js';
import { buildTempoApp } from './index.js';
import { FakeBackend, T1, T2, T3, BASE_NS, sampleBatches } from './fake-backend.js';
import { wantsProtobuf } from './tempo-app.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function setup(options: { required?: boolean; backend?: QueryBackend; search?: { defaultLimit: number; maxLimit: number } } = {}) {
  const backend = new FakeBackend(sampleBatches());
  const registry = createRegistry({ defaultMetrics: false });
  app = buildTempoApp({
    backend: options.backend ?? backend,
    logger: createSilentLogger(),
    registry,
    tenancy: { required: options.required ?? false },
    ...(options.search === undefined ? {} : { search: options.search }),
  });
  return { app, backend, registry };
}

/** Span IDs (hex) of a decoded OTLP protobuf body, sorted. */
function spanIdsOfProto(bytes: Uint8Array): string[] {
  return decodeExportRequest(bytes)
    .flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => toHex(s.spanId))))
    .sort();
}

/** The parts of OTLP JSON these tests read. */
interface JsonSpan {
  spanId: string;
  traceId: string;
  name: string;
  startTimeUnixNano: string;
}
interface JsonResourceSpans {
  resource: { attributes: { key: string; value: { stringValue?: string } }[] };
  scopeSpans: { spans: JsonSpan[] }[];
}

function jsonSpans(resourceSpans: JsonResourceSpans[]): JsonSpan[] {
  return resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
}

/** Span IDs of an OTLP JSON resourceSpans list, sorted. */
function spanIdsOfJson(resourceSpans: JsonResourceSpans[]): string[] {
  return jsonSpans(resourceSpans)
    .map((s) => s.spanId)
    .sort();
}

const T1_SPANS = ['1000000000000001', '1000000000000002', '1000000000000003'];

describe('GET /api/traces/{id}', () => {
  it('answers OTLP JSON with both `batches` (Tempo) and `resourceSpans` (OTLP)', async () => {
    const { app } = setup();
    const res = await app.inject({ url: `/api/traces/${T1}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json<{ batches: JsonResourceSpans[]; resourceSpans: JsonResourceSpans[] }>();
    expect(Object.keys(body).sort()).toEqual(['batches', 'resourceSpans']);
    expect(body.batches).toEqual(body.resourceSpans);
    expect(spanIdsOfJson(body.resourceSpans)).toEqual(T1_SPANS);
    const services = body.resourceSpans.map((rs) => rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue);
    expect(services.sort()).toEqual(['api', 'frontend']);
    const span = jsonSpans(body.resourceSpans).find((s) => s.spanId === '1000000000000001')!;
    expect(span.traceId).toBe(T1);
    expect(span.name).toBe('GET /users');
    expect(span.startTimeUnixNano).toBe(BASE_NS.toString());
  });

  it('answers protobuf (TracesData / tempopb.Trace) for Accept: application/protobuf', async () => {
    const { app, backend } = setup();
    const res = await app.inject({ url: `/api/traces/${T1}`, headers: { accept: 'application/protobuf' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/protobuf');
    const decoded = decodeExportRequest(res.rawPayload);
    expect(spanIdsOfProto(res.rawPayload)).toEqual(T1_SPANS);
    // Compare whole decoded spans with what the backend stored.
    const stored = await backend.findTrace(DEFAULT_TENANT, fromHex(T1, 16)!);
    const storedSpans = stored!.groups.flatMap((g) => g.spans.map((b) => toHex(b))).sort();
    const { encodeSpan } = await import('../../common/otlp/index.js');
    const answered = decoded.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => toHex(encodeSpan(s))))).sort();
    expect(answered).toEqual(storedSpans);
  });

  it('accepts short IDs (left-padded) and upper case', async () => {
    const { app } = setup();
    const res = await app.inject({ url: `/api/traces/ABC`, headers: { 'x-scope-orgid': 'team-a' } });
    expect(res.statusCode).toBe(200);
    expect(spanIdsOfJson(res.json().resourceSpans)).toEqual(['3000000000000001']);
    expect(T3.endsWith('abc')).toBe(true);
  });

  it('404 (plain text) when absent', async () => {
    const { app } = setup();
    const res = await app.inject({ url: `/api/traces/${'f'.repeat(32)}` });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toBe('trace not found');
  });

  it.each(['xyz', '0'.repeat(32), 'a'.repeat(33), '12-34'])('400 for bad ID %j, saying what to send', async (id) => {
    const { app } = setup();
    const res = await app.inject({ url: `/api/traces/${id}` });
    expect(res.statusCode).toBe(400);
    expect(res.body).toMatch(/trace ID .* is not valid; send 1–32 hex characters/);
  });

  it('accepts and ignores start/end, but rejects malformed ones', async () => {
    const { app } = setup();
    expect((await app.inject({ url: `/api/traces/${T1}?start=1&end=2000000000` })).statusCode).toBe(200);
    const bad = await app.inject({ url: `/api/traces/${T1}?start=yesterday` });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/parameter 'start'/);
  });
});

describe('GET /api/v2/traces/{id}', () => {
  it('JSON: {"trace": {"resourceSpans": [...]}}', async () => {
    const { app } = setup();
    const res = await app.inject({ url: `/api/v2/traces/${T1}` });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['trace']);
    expect(Object.keys(body.trace)).toEqual(['resourceSpans']);
    expect(spanIdsOfJson(body.trace.resourceSpans)).toEqual(T1_SPANS);
  });

  it('protobuf: tempopb.TraceByIDResponse with the trace in field 1', async () => {
    const { app } = setup();
    const res = await app.inject({ url: `/api/v2/traces/${T1}`, headers: { accept: 'application/protobuf' } });
    expect(res.headers['content-type']).toBe('application/protobuf');
    const buf = new Uint8Array(res.rawPayload);
    expect(buf[0]).toBe(0x0a);
    const len = readVarintAt(buf, 1);
    const lenBytes = len < 128 ? 1 : len < 16_384 ? 2 : 3;
    expect(1 + lenBytes + len).toBe(buf.length);
    expect(spanIdsOfProto(buf.subarray(1 + lenBytes))).toEqual(T1_SPANS);
  });

  it('404 when absent (Grafana then falls back to v1)', async () => {
    const { app } = setup();
    expect((await app.inject({ url: `/api/v2/traces/${T3}` })).statusCode).toBe(404);
  });
});

describe('partial answers', () => {
  const REASONS = ['ingester b at b:9095: no answer within 10000 ms', '1 of 4 shards have no owner (2)'];
  const HEADER = REASONS.join('; ');

  it('complete answers carry no X-Skein-Partial header', async () => {
    const { app } = setup();
    for (const url of [`/api/traces/${T1}`, `/api/v2/traces/${T1}`, '/api/search']) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-skein-partial']).toBeUndefined();
    }
    expect((await app.inject({ url: '/api/search' })).json().metrics).toEqual({ inspectedTraces: 2 });
  });

  it('trace by ID (v1, JSON and protobuf): the trace plus the reasons in X-Skein-Partial', async () => {
    const { app, backend } = setup();
    backend.partialReasons = REASONS;
    const json = await app.inject({ url: `/api/traces/${T1}` });
    expect(json.statusCode).toBe(200);
    expect(json.headers['x-skein-partial']).toBe(HEADER);
    expect(spanIdsOfJson(json.json().resourceSpans)).toEqual(T1_SPANS);
    const proto = await app.inject({ url: `/api/traces/${T1}`, headers: { accept: 'application/protobuf' } });
    expect(proto.headers['x-skein-partial']).toBe(HEADER);
    expect(spanIdsOfProto(new Uint8Array(proto.rawPayload))).toEqual(T1_SPANS);
  });

  it('trace by ID v2 JSON: status PARTIAL and a message, as Tempo sends', async () => {
    const { app, backend } = setup();
    backend.partialReasons = REASONS;
    const res = await app.inject({ url: `/api/v2/traces/${T1}` });
    expect(res.headers['x-skein-partial']).toBe(HEADER);
    const body = res.json();
    expect(body.status).toBe('PARTIAL');
    expect(body.message).toBe(HEADER);
    expect(spanIdsOfJson(body.trace.resourceSpans)).toEqual(T1_SPANS);
  });

  it('trace by ID v2 protobuf: TraceByIDResponse with status = PARTIAL (field 3) and message (field 4)', async () => {
    const { app, backend } = setup();
    backend.partialReasons = REASONS;
    const res = await app.inject({ url: `/api/v2/traces/${T1}`, headers: { accept: 'application/protobuf' } });
    const r = protobuf.Reader.create(new Uint8Array(res.rawPayload));
    expect(r.uint32()).toBe((1 << 3) | 2);
    expect(spanIdsOfProto(r.bytes())).toEqual(T1_SPANS);
    expect(r.uint32()).toBe(3 << 3);
    expect(r.uint32()).toBe(1);
    expect(r.uint32()).toBe((4 << 3) | 2);
    expect(r.string()).toBe(HEADER);
    expect(r.pos).toBe(r.len);
  });

  it('search: X-Skein-Partial and metrics.partial', async () => {
    const { app, backend } = setup();
    backend.partialReasons = REASONS;
    const res = await app.inject({ url: '/api/search' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-skein-partial']).toBe(HEADER);
    expect(res.json().metrics).toEqual({ inspectedTraces: 2, partial: true });
  });

  it('the header stays printable ASCII and bounded whatever the reasons say', async () => {
    const { app, backend } = setup();
    backend.partialReasons = ['ingester ü at x:1: line one\nline two', 'x'.repeat(5000)];
    const res = await app.inject({ url: `/api/traces/${T1}` });
    expect(res.statusCode).toBe(200);
    const header = String(res.headers['x-skein-partial']);
    expect(header).toMatch(/^[\x20-\x7e]+$/);
    expect(header.startsWith('ingester ? at x:1: line one?line two; xxx')).toBe(true);
    expect(header.length).toBeLessThanOrEqual(1024);
    expect(header.endsWith('...')).toBe(true);
  });
});

describe('wantsProtobuf', () => {
  it.each([
    [undefined, false],
    ['application/json', false],
    ['application/protobuf', true],
    ['application/x-protobuf', true],
    ['application/protobuf;q=0, application/json', false],
    ['application/json, application/protobuf', false],
    ['*/*', false],
  ])('%j → %s', (accept, expected) => {
    expect(wantsProtobuf(accept)).toBe(expected);
  });
});

describe('GET /api/search', () => {
  it('passes parsed parameters to the backend and answers Tempo search metadata', async () => {
    const { app, backend } = setup();
    const res = await app.inject({
      url: '/api/search',
      query: { tags: 'service.name=api name="list users"', minDuration: '100ms', maxDuration: '1.5s', start: '1699999999', end: '1700000100', limit: '5' },
    });
    expect(res.statusCode).toBe(200);
    expect(backend.searches).toEqual([
      {
        tags: [
          { key: 'service.name', value: 'api' },
          { key: 'name', value: 'list users' },
        ],
        minDurationNs: 100_000_000,
        maxDurationNs: 1_500_000_000,
        startNs: 1_699_999_999_000_000_000,
        endNs: 1_700_000_100_000_000_000,
        limit: 5,
      },
    ]);
    expect(res.json()).toEqual({
      traces: [{ traceID: T1, rootServiceName: 'frontend', rootTraceName: 'GET /users', startTimeUnixNano: BASE_NS.toString(), durationMs: 250 }],
      metrics: { inspectedTraces: 2 },
    });
  });

  it('newest first, default limit 20, limit capped at the configured maximum', async () => {
    const { app, backend } = setup({ search: { defaultLimit: 20, maxLimit: 50 } });
    const res = await app.inject({ url: '/api/search' });
    expect(res.json<{ traces: { traceID: string }[] }>().traces.map((t) => t.traceID)).toEqual([T2, T1]);
    await app.inject({ url: '/api/search?limit=500' });
    expect(backend.searches.map((s) => s.limit)).toEqual([20, 50]);
  });

  it('accepts a match-all TraceQL query ({}), refuses other TraceQL with a pointer to tags=', async () => {
    const { app } = setup();
    expect((await app.inject({ url: '/api/search', query: { q: '{}' } })).statusCode).toBe(200);
    const res = await app.inject({ url: '/api/search', query: { q: '{ resource.service.name = "api" }' } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/^parameter 'q': TraceQL is not supported yet; use tags=/);
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ tags: 'service.name' }, /parameter 'tags': tag 'service.name' has no value/],
    [{ tags: 'name="open' }, /parameter 'tags'.*no closing/],
    [{ minDuration: '10' }, /parameter 'minDuration'.*Go duration/],
    [{ maxDuration: 'soon' }, /parameter 'maxDuration'.*Go duration/],
    [{ minDuration: '2s', maxDuration: '1s' }, /'minDuration' is greater than 'maxDuration'/],
    [{ start: '2000', end: '1000' }, /'start' is greater than 'end'/],
    [{ start: '-1' }, /parameter 'start'.*unix epoch seconds/],
    [{ limit: 'all' }, /parameter 'limit'/],
  ];
  it.each(bad)('400 for %j', async (query, re) => {
    const { app, backend } = setup();
    const res = await app.inject({ url: '/api/search', query });
    expect(res.statusCode).toBe(400);
    expect(res.body).toMatch(re);
    expect(backend.searches).toEqual([]);
  });
});

describe('tag routes', () => {
  it('GET /api/search/tags → {tagNames}', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/search/tags' });
    const names = res.json().tagNames as string[];
    expect(Object.keys(res.json())).toEqual(['tagNames']);
    expect(names).toEqual(expect.arrayContaining(['host.name', 'http.method', 'http.status_code', 'service.name', 'name']));
    const resource = await app.inject({ url: '/api/search/tags?scope=resource' });
    expect(resource.json()).toEqual({ tagNames: ['host.name', 'service.name'] });
  });

  it('GET /api/v2/search/tags → {scopes:[{name,tags}]}', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/v2/search/tags' });
    expect(res.json()).toEqual({
      scopes: [
        { name: 'resource', tags: ['host.name', 'service.name'] },
        { name: 'span', tags: ['http.method', 'http.status_code'] },
        { name: 'intrinsic', tags: ['duration', 'kind', 'name', 'rootName', 'rootServiceName', 'status'] },
      ],
    });
    expect((await app.inject({ url: '/api/v2/search/tags?scope=event' })).json()).toEqual({ scopes: [] });
    const bad = await app.inject({ url: '/api/v2/search/tags?scope=spans' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/parameter 'scope'.*send resource, span, intrinsic or all/);
  });

  it('GET /api/search/tag/{tag}/values → {tagValues}', async () => {
    const { app } = setup();
    expect((await app.inject({ url: '/api/search/tag/service.name/values' })).json()).toEqual({ tagValues: ['api', 'frontend'] });
    expect((await app.inject({ url: '/api/search/tag/nope/values' })).json()).toEqual({ tagValues: [] });
  });

  it('GET /api/v2/search/tag/{tag}/values → typed values, TraceQL identifiers mapped', async () => {
    const { app } = setup();
    expect((await app.inject({ url: '/api/v2/search/tag/resource.service.name/values' })).json()).toEqual({
      tagValues: [
        { type: 'string', value: 'api' },
        { type: 'string', value: 'frontend' },
      ],
    });
    expect((await app.inject({ url: '/api/v2/search/tag/.http.method/values' })).json()).toEqual({ tagValues: [{ type: 'string', value: 'GET' }] });
    expect((await app.inject({ url: '/api/v2/search/tag/status/values' })).json()).toEqual({
      tagValues: [
        { type: 'keyword', value: 'error' },
        { type: 'keyword', value: 'unset' },
      ],
    });
    expect((await app.inject({ url: '/api/v2/search/tag/duration/values' })).json()).toEqual({ tagValues: [] });
  });
});

describe('echo, ready, unknown routes', () => {
  it('GET /api/echo → echo', async () => {
    const { app } = setup({ required: true });
    const res = await app.inject({ url: '/api/echo' });
    expect([res.statusCode, res.body]).toEqual([200, 'echo']);
  });

  it('GET /ready follows backend.ready()', async () => {
    const { app, backend } = setup({ required: true });
    expect((await app.inject({ url: '/ready' })).body).toBe('ready');
    backend.isReady = false;
    const res = await app.inject({ url: '/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toMatch(/^not ready/);
  });

  it('undecodable URL → 400 text', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/search/tag/a%ZZ/values' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/not a valid url component/);
  });

  it('unknown route → 404 text', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.body).toMatch(/404 page not found/);
  });
});

describe('tenants', () => {
  it('passes the header tenant to the backend; absent → single-tenant', async () => {
    const { app, backend } = setup();
    await app.inject({ url: '/api/search/tags', headers: { 'X-Scope-OrgID': 'team-a' } });
    await app.inject({ url: '/api/search/tags' });
    expect(backend.calls).toEqual([
      { method: 'tagNames', tenant: 'team-a' },
      { method: 'tagNames', tenant: DEFAULT_TENANT },
    ]);
  });

  it('isolates tenants: T1 is not visible to team-a', async () => {
    const { app } = setup();
    expect((await app.inject({ url: `/api/traces/${T1}`, headers: { 'x-scope-orgid': 'team-a' } })).statusCode).toBe(404);
  });

  it('required and absent → 401 naming the header; backend not called', async () => {
    const { app, backend } = setup({ required: true });
    const res = await app.inject({ url: '/api/search' });
    expect(res.statusCode).toBe(401);
    expect(res.body).toMatch(/X-Scope-OrgID/);
    expect(backend.calls).toEqual([]);
  });

  it.each(['..', 'a b', 'x'.repeat(151)])('invalid %j → 400', async (tenant) => {
    const { app, backend } = setup();
    const res = await app.inject({ url: '/api/search', headers: { 'x-scope-orgid': tenant } });
    expect(res.statusCode).toBe(400);
    expect(res.body).toMatch(/invalid X-Scope-OrgID/);
    expect(backend.calls).toEqual([]);
  });
});

describe('errors', () => {
  function failing(error: Error): QueryBackend {
    const fail = () => Promise.reject(error);
    return { findTrace: fail, search: fail, tagNames: fail, tagValues: fail, services: fail, operations: fail, ready: () => true };
  }

  it('SkeinError → its HTTP status, message and Retry-After', async () => {
    const { app } = setup({ backend: failing(new SkeinError('UNAVAILABLE', 'ingesters are starting', { retryAfterSeconds: 5 })) });
    const res = await app.inject({ url: '/api/search' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body).toBe('ingesters are starting');
  });

  it('anything else → 500 without internals or a stack trace', async () => {
    const { app } = setup({ backend: failing(new Error('ENOENT /var/lib/skein/secret')) });
    const res = await app.inject({ url: `/api/traces/${T1}` });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toMatch(/secret|ENOENT|at .*\.ts/);
    expect(res.body).toMatch(/internal error/);
  });
});

describe('/metrics', () => {
  it('exposes request counts and durations by api, route and status', async () => {
    const { app } = setup();
    await app.inject({ url: '/api/search' });
    await app.inject({ url: '/api/search?limit=x' });
    await app.inject({ url: `/api/traces/${T1}` });
    await app.inject({ url: '/nowhere' });
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('skein_querier_requests_total{api="tempo",route="/api/search",status="200"} 1');
    expect(res.body).toContain('skein_querier_requests_total{api="tempo",route="/api/search",status="400"} 1');
    expect(res.body).toContain('skein_querier_requests_total{api="tempo",route="/api/traces/:traceId",status="200"} 1');
    expect(res.body).toContain('skein_querier_requests_total{api="tempo",route="unmatched",status="404"} 1');
    expect(res.body).toMatch(/skein_querier_request_duration_seconds_count\{api="tempo",route="\/api\/search"\} 2/);
  });
});
