import { describe, it, expect, afterEach } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { SkeinError } from '../../common/errors/index.js';
import { DEFAULT_TENANT, type QueryBackend } from '../../common/model/index.js';
import { buildJaegerApp, buildTempoApp } from './index.js';
import { FakeBackend, T1, T2, BASE_NS, sampleBatches, makeResource, makeScope, makeSpan, traceIdHex } from './fake-backend.js';
import { toBackendTags, type JaegerEnvelope } from './jaeger-app.js';
import type { JaegerTrace } from './jaeger-model.js';

type Traces = JaegerEnvelope<JaegerTrace[]>;

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function setup(options: { required?: boolean; backend?: QueryBackend } = {}) {
  const backend = new FakeBackend(sampleBatches());
  const registry = createRegistry({ defaultMetrics: false });
  app = buildJaegerApp({ backend: options.backend ?? backend, logger: createSilentLogger(), registry, tenancy: { required: options.required ?? false } });
  return { app, backend, registry };
}

const ENVELOPE_KEYS = ['data', 'errors', 'limit', 'offset', 'total'];

describe('GET /api/services', () => {
  it('answers the envelope with service names', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/services' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ data: ['api', 'frontend'], total: 2, limit: 0, offset: 0, errors: null });
  });
});

describe('operations', () => {
  it('GET /api/services/{service}/operations → names', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/services/frontend/operations' });
    expect(res.json()).toEqual({ data: ['GET /users', 'call api'], total: 2, limit: 0, offset: 0, errors: null });
  });

  it('GET /api/operations?service= → [{name, spanKind}], filterable by spanKind', async () => {
    const { app } = setup();
    const all = await app.inject({ url: '/api/operations?service=frontend' });
    expect(all.json().data).toEqual([
      { name: 'GET /users', spanKind: 'server' },
      { name: 'call api', spanKind: 'client' },
    ]);
    const clients = await app.inject({ url: '/api/operations?service=frontend&spanKind=client' });
    expect(clients.json().data).toEqual([{ name: 'call api', spanKind: 'client' }]);
    const internal = await app.inject({ url: '/api/operations?service=billing', headers: { 'x-scope-orgid': 'team-a' } });
    expect(internal.json().data).toEqual([{ name: 'charge', spanKind: 'internal' }]);
  });

  it('GET /api/operations without service → 400 in the Jaeger error envelope', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/operations' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ data: null, total: 0, limit: 0, offset: 0, errors: [{ code: 400, msg: expect.stringMatching(/parameter 'service' is required/) }] });
  });

  it('bad spanKind → 400', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/operations?service=api&spanKind=SERVER' });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].msg).toMatch(/parameter 'spanKind'.*send server, client/);
  });
});

describe('GET /api/traces/{id}', () => {
  it('answers data: [trace] in the Jaeger model', async () => {
    const { app } = setup();
    const res = await app.inject({ url: `/api/traces/${T1}` });
    expect(res.statusCode).toBe(200);
    const body = res.json<Traces>();
    expect(Object.keys(body).sort()).toEqual(ENVELOPE_KEYS);
    expect(body.data).toHaveLength(1);
    const trace = body.data[0];
    expect(Object.keys(trace).sort()).toEqual(['processes', 'spans', 'traceID', 'warnings']);
    expect(trace.traceID).toBe(T1);
    expect(trace.processes).toEqual({
      p1: { serviceName: 'frontend', tags: [{ key: 'host.name', type: 'string', value: 'web-1' }] },
      p2: { serviceName: 'api', tags: [{ key: 'host.name', type: 'string', value: 'api-1' }] },
    });
    expect(trace.spans.map((s) => [s.spanID, s.processID, s.operationName])).toEqual([
      ['1000000000000001', 'p1', 'GET /users'],
      ['1000000000000002', 'p1', 'call api'],
      ['1000000000000003', 'p2', 'list users'],
    ]);
    const root = trace.spans[0];
    expect(root).toEqual({
      traceID: T1,
      spanID: '1000000000000001',
      flags: 1,
      operationName: 'GET /users',
      references: [],
      startTime: Number(BASE_NS / 1000n),
      duration: 250_999,
      tags: [
        { key: 'http.method', type: 'string', value: 'GET' },
        { key: 'http.status_code', type: 'int64', value: 500 },
        { key: 'otel.scope.name', type: 'string', value: 'http-lib' },
        { key: 'otel.library.name', type: 'string', value: 'http-lib' },
        { key: 'otel.scope.version', type: 'string', value: '1.0.0' },
        { key: 'otel.library.version', type: 'string', value: '1.0.0' },
        { key: 'span.kind', type: 'string', value: 'server' },
      ],
      logs: [],
      processID: 'p1',
      warnings: null,
    });
    const failed = trace.spans[2];
    expect(failed.references).toEqual([{ refType: 'CHILD_OF', traceID: T1, spanID: '1000000000000002' }]);
    expect(failed.tags).toEqual(expect.arrayContaining([{ key: 'error', type: 'bool', value: true }]));
    expect(failed.logs).toEqual([
      {
        timestamp: Number(BASE_NS / 1000n) + 30_000,
        fields: [
          { key: 'event', type: 'string', value: 'exception' },
          { key: 'exception.message', type: 'string', value: 'timeout' },
        ],
      },
    ]);
  });

  it('404 in the error envelope when absent', async () => {
    const { app } = setup();
    const res = await app.inject({ url: `/api/traces/${'e'.repeat(32)}` });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ data: null, total: 0, limit: 0, offset: 0, errors: [{ code: 404, msg: 'trace not found' }] });
  });

  it('400 for a bad ID', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/traces/not-hex' });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0]).toEqual({ code: 400, msg: expect.stringMatching(/send 1–32 hex characters/) });
  });

  it('a 64-bit ID is printed as 16 hex digits, as Jaeger does', async () => {
    const backend = new FakeBackend([
      { tenant: DEFAULT_TENANT, resource: makeResource('legacy'), scope: makeScope(), spans: [makeSpan({ traceId: traceIdHex(0x1234), spanId: '0000000000000001' })] },
    ]);
    const { app } = setup({ backend });
    const res = await app.inject({ url: '/api/traces/1234' });
    expect(res.json().data[0].traceID).toBe('0000000000001234');
  });
});

describe('GET /api/traces (search)', () => {
  it('maps service, operation, tags, span durations, µs times and limit onto the backend request', async () => {
    const { app, backend } = setup();
    const start = Number(BASE_NS / 1000n) - 1_000_000;
    const end = start + 3_600_000_000;
    const res = await app.inject({
      url: '/api/traces',
      query: {
        service: 'api',
        operation: 'list users',
        tags: '{"error":"true","host.name":"api-1"}',
        minDuration: '100ms',
        maxDuration: '1s',
        start: String(start),
        end: String(end),
        limit: '10',
        lookback: '1h',
      },
    });
    expect(res.statusCode).toBe(200);
    expect(backend.searches).toEqual([
      {
        tags: [
          { key: 'service.name', value: 'api' },
          { key: 'name', value: 'list users' },
          { key: 'status', value: 'error' },
          { key: 'host.name', value: 'api-1' },
        ],
        minSpanDurationNs: 100_000_000,
        maxSpanDurationNs: 1_000_000_000,
        startNs: start * 1000,
        endNs: end * 1000,
        limit: 10,
      },
    ]);
    const body = res.json<Traces>();
    expect(body.total).toBe(1);
    expect(body.errors).toBeNull();
    expect(body.data.map((t) => t.traceID)).toEqual([T1]);
    expect(body.data[0].spans).toHaveLength(3);
  });

  it('answers whole traces, newest first', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/traces?service=api' });
    expect(res.json<Traces>().data.map((t) => [t.traceID, t.spans.length])).toEqual([
      [T2, 1],
      [T1, 3],
    ]);
  });

  it('traceID= fetches those traces; missing ones are reported per ID', async () => {
    const { app, backend } = setup();
    const missing = 'd'.repeat(32);
    const res = await app.inject({ url: `/api/traces?traceID=${T2}&traceID=${missing}&traceID=${T1}` });
    expect(res.statusCode).toBe(200);
    const body = res.json<Traces>();
    expect(body.data.map((t) => t.traceID)).toEqual([T2, T1]);
    expect(body.errors).toEqual([{ code: 404, msg: 'trace not found', traceID: missing }]);
    expect(backend.searches).toEqual([]);
  });

  const bad: [string, RegExp][] = [
    ['', /parameter 'service' is required/],
    ['service=api&minDuration=5', /parameter 'minDuration'.*Go duration/],
    ['service=api&minDuration=2s&maxDuration=1s', /'minDuration' is greater than 'maxDuration'/],
    ['service=api&tags=error%3Dtrue', /parameter 'tags'.*JSON/],
    ['service=api&start=now', /parameter 'start'.*microseconds/],
    ['service=api&limit=-1', /parameter 'limit'/],
    ['traceID=zz', /parameter 'traceID'.*not a trace ID/],
  ];
  it.each(bad)('400 for ?%s', async (qs, re) => {
    const { app } = setup();
    const res = await app.inject({ url: `/api/traces?${qs}` });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].msg).toMatch(re);
  });
});

describe('partial answers', () => {
  const REASONS = ['ingester b at b:9095: no answer within 10000 ms', '1 of 4 shards have no owner (2)'];
  const ERRORS = [
    { code: 503, msg: 'partial answer: 1 of 4 shards have no owner (2)' },
    { code: 503, msg: 'partial answer: ingester b at b:9095: no answer within 10000 ms' },
  ];

  it('a complete answer has errors: null and no X-Skein-Partial header', async () => {
    const { app } = setup();
    const res = await app.inject({ url: `/api/traces/${T1}` });
    expect(res.json().errors).toBeNull();
    expect(res.headers['x-skein-partial']).toBeUndefined();
  });

  it('trace by ID: the trace, plus one 503 error per reason and the header', async () => {
    const { app, backend } = setup();
    backend.partialReasons = REASONS;
    const res = await app.inject({ url: `/api/traces/${T1}` });
    expect(res.statusCode).toBe(200);
    const body = res.json<Traces>();
    expect(body.data.map((t) => [t.traceID, t.spans.length])).toEqual([[T1, 3]]);
    expect(body.errors).toEqual(ERRORS);
    expect(res.headers['x-skein-partial']).toBe([...REASONS].sort().join('; '));
  });

  it('search: reasons of the search and of every fetched trace, each once', async () => {
    const { app, backend } = setup();
    backend.partialReasons = REASONS;
    const res = await app.inject({ url: '/api/traces?service=api' });
    const body = res.json<Traces>();
    expect(body.data).toHaveLength(2);
    expect(body.errors).toEqual(ERRORS);
    expect(res.headers['x-skein-partial']).toBeDefined();
  });

  it('traceID= lookups: per-trace 404s first, then the partial reasons', async () => {
    const { app, backend } = setup();
    backend.partialReasons = REASONS;
    const missing = 'd'.repeat(32);
    const body = (await app.inject({ url: `/api/traces?traceID=${T1}&traceID=${missing}` })).json<Traces>();
    expect(body.data.map((t) => t.traceID)).toEqual([T1]);
    expect(body.errors).toEqual([{ code: 404, msg: 'trace not found', traceID: missing }, ...ERRORS]);
  });

  it('dependencies computed from a partial sample say so', async () => {
    const { app, backend } = setup();
    backend.partialReasons = REASONS;
    const endTs = Number(BASE_NS / 1_000_000n) + 10_000;
    const body = (await app.inject({ url: `/api/dependencies?endTs=${endTs}&lookback=60000` })).json();
    expect(body.data).toEqual([{ parent: 'frontend', child: 'api', callCount: 1 }]);
    expect(body.errors).toEqual(ERRORS);
  });
});

describe('toBackendTags', () => {
  it.each([
    [{ key: 'error', value: 'true' }, { key: 'status', value: 'error' }],
    [{ key: 'error', value: 'TRUE' }, { key: 'status', value: 'error' }],
    [{ key: 'otel.status_code', value: 'ERROR' }, { key: 'status', value: 'error' }],
    [{ key: 'otel.status_code', value: 'OK' }, { key: 'status', value: 'ok' }],
    [{ key: 'error', value: 'false' }, { key: 'error', value: 'false' }],
    [{ key: 'http.status_code', value: '500' }, { key: 'http.status_code', value: '500' }],
  ])('%j → %j', (input, output) => {
    expect(toBackendTags([input])).toEqual([output]);
  });
});

describe('GET /api/dependencies', () => {
  it('computes service edges from traces in the window', async () => {
    const { app, backend } = setup();
    const endTs = Number(BASE_NS / 1_000_000n) + 10_000;
    const res = await app.inject({ url: `/api/dependencies?endTs=${endTs}&lookback=60000` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ data: [{ parent: 'frontend', child: 'api', callCount: 1 }], total: 1, limit: 0, offset: 0, errors: null });
    expect(backend.searches[0]).toMatchObject({ tags: [], startNs: (endTs - 60_000) * 1e6, endNs: endTs * 1e6 });
  });

  it('an empty window → no edges', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/dependencies?endTs=1000&lookback=1000' });
    expect(res.json().data).toEqual([]);
  });

  it('bad endTs → 400', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/dependencies?endTs=today' });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].msg).toMatch(/parameter 'endTs'.*milliseconds/);
  });
});

describe('tenants', () => {
  it('passes the header tenant to the backend', async () => {
    const { app, backend } = setup();
    const res = await app.inject({ url: '/api/services', headers: { 'x-scope-orgid': 'team-a' } });
    expect(res.json().data).toEqual(['billing']);
    expect(backend.calls).toEqual([{ method: 'services', tenant: 'team-a' }]);
  });

  it('required and absent → 401 envelope', async () => {
    const { app, backend } = setup({ required: true });
    const res = await app.inject({ url: '/api/services' });
    expect(res.statusCode).toBe(401);
    expect(res.json().errors[0]).toEqual({ code: 401, msg: expect.stringMatching(/X-Scope-OrgID/) });
    expect(backend.calls).toEqual([]);
  });

  it('invalid → 400 envelope', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/services', headers: { 'x-scope-orgid': '.' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].msg).toMatch(/invalid X-Scope-OrgID/);
  });

  it('/metrics needs no tenant', async () => {
    const { app } = setup({ required: true });
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200);
  });
});

describe('errors and metrics', () => {
  it('backend errors keep their status, internals stay hidden', async () => {
    const fail = (e: Error) => () => Promise.reject(e);
    const backend: QueryBackend = {
      findTrace: fail(new Error('disk /data/x exploded')),
      search: fail(new SkeinError('HEAD_FULL', 'head is full; retry', { retryAfterSeconds: 2 })),
      tagNames: fail(new Error('x')),
      tagValues: fail(new Error('x')),
      services: fail(new Error('x')),
      operations: fail(new Error('x')),
      ready: () => true,
    };
    const { app } = setup({ backend });
    const full = await app.inject({ url: '/api/traces?service=a' });
    expect(full.statusCode).toBe(429);
    expect(full.headers['retry-after']).toBe('2');
    expect(full.json().errors).toEqual([{ code: 429, msg: 'head is full; retry' }]);
    const broken = await app.inject({ url: `/api/traces/${T1}` });
    expect(broken.statusCode).toBe(500);
    expect(broken.body).not.toMatch(/disk|exploded|\.ts:/);
  });

  it('undecodable URL → 400 envelope', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/services/%E0%A4%A/operations' });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].code).toBe(400);
  });

  it('unknown route → 404 envelope', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/v9/nothing' });
    expect(res.statusCode).toBe(404);
    expect(res.json().errors[0].code).toBe(404);
  });

  it('counts requests with api="jaeger"', async () => {
    const { app } = setup();
    await app.inject({ url: '/api/services' });
    await app.inject({ url: '/api/operations' });
    const body = (await app.inject({ url: '/metrics' })).body;
    expect(body).toContain('skein_querier_requests_total{api="jaeger",route="/api/services",status="200"} 1');
    expect(body).toContain('skein_querier_requests_total{api="jaeger",route="/api/operations",status="400"} 1');
    expect(body).toMatch(/skein_querier_request_duration_seconds_bucket\{le="[\d.]+",api="jaeger",route="\/api\/services"\} 1/);
  });
});

describe('span kinds through the API', () => {
  it('INTERNAL spans carry no span.kind tag', async () => {
    const { app } = setup();
    const res = await app.inject({ url: '/api/traces/abc', headers: { 'x-scope-orgid': 'team-a' } });
    const span = res.json<Traces>().data[0].spans[0];
    expect(span.tags.filter((t) => t.key === 'span.kind')).toEqual([]);
  });
});

describe('both apps on one registry', () => {
  it('share the request metrics, told apart by the api label', async () => {
    const registry = createRegistry({ defaultMetrics: false });
    const backend = new FakeBackend(sampleBatches());
    const deps = { backend, logger: createSilentLogger(), registry, tenancy: { required: false } };
    const tempo = buildTempoApp(deps);
    const jaeger = buildJaegerApp(deps);
    try {
      await tempo.inject({ url: '/api/echo' });
      await jaeger.inject({ url: '/api/services' });
      const body = (await jaeger.inject({ url: '/metrics' })).body;
      expect(body).toContain('skein_querier_requests_total{api="tempo",route="/api/echo",status="200"} 1');
      expect(body).toContain('skein_querier_requests_total{api="jaeger",route="/api/services",status="200"} 1');
    } finally {
      await tempo.close();
      await jaeger.close();
    }
  });
});
