// Invariant 9: bad input gets a clear error, a metric and a log line, and never corrupts or loses
// stored data; the process keeps serving.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { encodeExportRequest, decodeExportResponse, toOtlpJson } from '../common/otlp/index.js';
import { toHex } from '../common/model/index.js';
import { startSkein, makeDataDir, makeBatch, makeSpan, makeRequest, grpcExport, type RunningSkein } from './harness/index.js';

describe('bad input', () => {
  let skein: RunningSkein;
  let data: ReturnType<typeof makeDataDir>;
  let keptTrace = '';
  let keptSpans = 0;
  let keptBody: Uint8Array = new Uint8Array(0);

  const post = (body: Uint8Array | string, headers: Record<string, string>) =>
    fetch(`http://${skein.otlpHttp}/v1/traces`, { method: 'POST', headers, body: typeof body === 'string' ? body : Buffer.from(body) });

  beforeAll(async () => {
    data = makeDataDir();
    skein = await startSkein({ dataDir: data.dir, args: ['--max-request-bytes', '8MiB'] });
    const { request, spans } = makeBatch(1, 4);
    keptTrace = toHex(spans[0]!.traceId);
    keptSpans = spans.length;
    keptBody = encodeExportRequest(request);
    const res = await post(keptBody, { 'content-type': 'application/x-protobuf' });
    expect(res.status).toBe(200);
  });

  afterAll(async () => {
    if (skein) expect(await skein.stop()).toBe(0);
    data?.remove();
  });

  it.each([
    ['garbage bytes', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 'application/x-protobuf', undefined, 400, /BAD_PAYLOAD/],
    ['truncated protobuf', () => encodeExportRequest(makeBatch(2, 3).request).subarray(0, 100), 'application/x-protobuf', undefined, 400, /BAD_PAYLOAD/],
    ['wrong content type', 'hello', 'text/plain', undefined, 415, /Content-Type/],
    ['invalid JSON', '{"resourceSpans": [', 'application/json', undefined, 400, /JSON/],
    ['JSON of the wrong shape', '{"resourceSpans": 7}', 'application/json', undefined, 400, /resourceSpans/],
    ['gzip header on plain bytes', 'not gzip', 'application/x-protobuf', 'gzip', 400, /decompress/],
    ['unknown encoding', 'x', 'application/x-protobuf', 'br', 415, /Content-Encoding/],
  ] as const)('%s → %i with a message', async (_name, body, type, encoding, status, re) => {
    const payload = typeof body === 'function' ? body() : body;
    const headers: Record<string, string> = { 'content-type': type };
    if (encoding) headers['content-encoding'] = encoding;
    const res = await post(payload, headers);
    expect(res.status).toBe(status);
    const text = type === 'application/json' ? (((await res.json()) as { message: string }).message) : Buffer.from(await res.arrayBuffer()).toString('latin1');
    expect(text).toMatch(re);
  });

  it('a 50 MB body gets 413 (or the connection is refused) and the server keeps serving', async () => {
    const big = new Uint8Array(50 * 1024 * 1024);
    try {
      const res = await post(big, { 'content-type': 'application/x-protobuf' });
      expect(res.status).toBe(413);
      expect(Buffer.from(await res.arrayBuffer()).toString('latin1')).toMatch(/exceeds/);
    } catch (e) {
      // Some clients see the early 413 as a reset while still uploading; both are acceptable.
      expect(String((e as Error).cause ?? e)).toMatch(/ECONNRESET|EPIPE|other side closed|socket/i);
    }
    const gz = gzipSync(new Uint8Array(20 * 1024 * 1024)); // small compressed, 20 MiB inflated
    const res2 = await post(gz, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(res2.status).toBe(413);
  });

  it('invalid spans are rejected one by one with partial_success; valid ones in the same request are kept', async () => {
    const good = makeSpan({ traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1), name: 'good' });
    const zeroTrace = makeSpan({ traceId: new Uint8Array(16), name: 'zero trace id' });
    const shortSpan = makeSpan({ traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1), spanId: Uint8Array.from([1, 2, 3]), name: 'short span id' });
    const backwards = makeSpan({ traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1), name: 'backwards', durationNs: -5n });
    const body = encodeExportRequest(makeRequest('mixed', [good, zeroTrace, shortSpan, backwards]));
    const res = await post(body, { 'content-type': 'application/x-protobuf' });
    expect(res.status).toBe(200);
    const decoded = decodeExportResponse(new Uint8Array(await res.arrayBuffer()));
    expect(decoded.rejectedSpans).toBe(3);
    expect(decoded.errorMessage).toMatch(/trace_id_zero/);
    expect(decoded.errorMessage).toMatch(/span_id_length/);
    expect(decoded.errorMessage).toMatch(/end_before_start/);
    // The same through OTLP/JSON.
    const json = JSON.stringify(toOtlpJson(makeRequest('mixed-json', [makeSpan({ traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 7) }), zeroTrace])));
    const res2 = await post(json, { 'content-type': 'application/json' });
    expect(res2.status).toBe(200);
    expect(await res2.json()).toMatchObject({ partialSuccess: { rejectedSpans: '1' } });
    const found = await fetch(`http://${skein.tempo}/api/traces/${toHex(good.traceId)}`);
    expect(found.status).toBe(200);
  });

  it('garbage over gRPC → INVALID_ARGUMENT; valid gRPC still works', async () => {
    const call = (body: Uint8Array) => grpcExport(skein.otlpGrpc, body);
    const bad = await call(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(bad.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.err?.details).toMatch(/BAD_PAYLOAD/);
    const ok = await call(encodeExportRequest(makeBatch(1, 2).request));
    expect(ok.err).toBeNull();
  });

  it('after all of that, stored data is intact (a re-sent batch is stored once) and every rejection was counted', async () => {
    const again = await post(keptBody, { 'content-type': 'application/x-protobuf' });
    expect(again.status).toBe(200);
    const res = await fetch(`http://${skein.tempo}/api/traces/${keptTrace}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { resourceSpans?: any[]; batches?: any[] };
    const n = (body.resourceSpans ?? body.batches ?? []).flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)).length;
    expect(n).toBe(keptSpans);
    const metrics = await (await fetch(`http://${skein.tempo}/metrics`)).text();
    expect(metrics).toMatch(/skein_ingester_requests_total\{[^}]*outcome="BAD_PAYLOAD"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/skein_ingester_spans_rejected_total\{[^}]*reason="trace_id_zero"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/skein_ingester_requests_total\{[^}]*outcome="PAYLOAD_TOO_LARGE"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/skein_ingester_spans_duplicate_total\{[^}]*\} [1-9]/);
    expect(skein.logs.join('\n')).toMatch(/rejected invalid spans|export refused/);
  });
});
