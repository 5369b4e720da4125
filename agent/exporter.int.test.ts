// The agent's OTLP/gRPC exporter against real sockets on 127.0.0.1: common/grpc's native server
// standing in for an ingester (the same server the ingester's receiver runs on), a closed port, and
// a "black hole" that accepts TCP connections and never answers. Pins what the batcher relies on:
// gzip and the tenant reach the server, partial_success comes back, RetryInfo hints survive the
// trailers, every failure settles as a SkeinError with the right retryable flag — including a
// black-holed endpoint (deadline) — and an abort cancels a hanging call at once.
import http2 from 'node:http2';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { SkeinError } from '../common/errors/index.js';
import { GrpcCallError, GrpcStatus, startNativeGrpcServer, type NativeGrpcServer } from '../common/grpc/index.js';
import { encodeExportResponse } from '../common/otlp/index.js';
import { freePort, startBlackHole } from '../common/proc/index.js';
import { encodeRpcStatus } from '../ingester/receivers/index.js';
import { createOtlpExporter, TRACE_EXPORT_PATH, type OtlpExporter } from './exporter.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Received {
  body: Buffer;
  headers: http2.IncomingHttpHeaders;
}

async function fakeIngester(answer: (call: Received, n: number) => Promise<Uint8Array>): Promise<{ address: string; calls: Received[] }> {
  const calls: Received[] = [];
  const server: NativeGrpcServer = await startNativeGrpcServer({
    host: '127.0.0.1',
    port: 0,
    maxRequestBytes: 16 * 1024 * 1024,
    handlers: new Map([
      [
        TRACE_EXPORT_PATH,
        (body, headers) => {
          const call = { body, headers };
          calls.push(call);
          return answer(call, calls.length);
        },
      ],
    ]),
  });
  cleanups.push(() => server.close(AbortSignal.timeout(1000)));
  return { address: `127.0.0.1:${server.port}`, calls };
}

function exporter(endpoint: string, options: { compression?: 'gzip' | 'none'; timeoutMs?: number } = {}): OtlpExporter {
  const e = createOtlpExporter({ endpoint, compression: options.compression ?? 'gzip', timeoutMs: options.timeoutMs ?? 30_000 });
  cleanups.push(() => e.close());
  return e;
}

async function failure(p: Promise<unknown>): Promise<SkeinError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SkeinError);
  return e as SkeinError;
}

const BODY = Buffer.from('0a0b'.repeat(4096), 'hex'); // compressible, opaque to the fake server

/** A bare HTTP/2 server whose every stream gets `answer` (what servers other than ours may send). */
async function rawServer(answer: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<string> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    stream.resume();
    stream.once('end', () => answer(stream, headers));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  return `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
}

/** A gRPC message frame: compressed flag, big-endian length, message. */
function frame(message: Uint8Array, compressed: boolean): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

describe('agent OTLP/gRPC exporter', () => {
  it('sends gzip-compressed requests with the tenant and returns partial_success', async () => {
    const ingest = await fakeIngester(() => Promise.resolve(encodeExportResponse({ rejectedSpans: 2, errorMessage: 'rejected 2 of 9 spans' })));
    const result = await exporter(ingest.address).export(BODY, { tenant: 'team-a' });
    expect(result).toEqual({ rejectedSpans: 2, errorMessage: 'rejected 2 of 9 spans' });
    expect(ingest.calls).toHaveLength(1);
    expect(ingest.calls[0]!.headers['grpc-encoding']).toBe('gzip');
    expect(ingest.calls[0]!.headers['x-scope-orgid']).toBe('team-a');
    expect(Buffer.compare(ingest.calls[0]!.body, BODY)).toBe(0);
  });

  it('compression none sends identity; no tenant sends no X-Scope-OrgID', async () => {
    const ingest = await fakeIngester(() => Promise.resolve(new Uint8Array(0)));
    expect(await exporter(ingest.address, { compression: 'none' }).export(BODY)).toEqual({ rejectedSpans: 0, errorMessage: '' });
    expect(ingest.calls[0]!.headers['grpc-encoding'] ?? 'identity').toBe('identity');
    expect(ingest.calls[0]!.headers['x-scope-orgid']).toBeUndefined();
  });

  it.each([
    ['an ingester whose head is full (catalogue code + RetryInfo)', new GrpcCallError(GrpcStatus.RESOURCE_EXHAUSTED, 'HEAD_FULL: head memory budget exhausted', encodeRpcStatus(8, 'x', 3)), 'HEAD_FULL', true, 3],
    ['another server throttling with RetryInfo', new GrpcCallError(GrpcStatus.RESOURCE_EXHAUSTED, 'slow down', encodeRpcStatus(8, 'slow down', 2)), 'HEAD_FULL', true, 2],
    ['a shutting-down ingester', new GrpcCallError(GrpcStatus.UNAVAILABLE, 'UNAVAILABLE: ingester is shutting down', encodeRpcStatus(14, 'x', 1)), 'UNAVAILABLE', true, 1],
    ['bad input', new GrpcCallError(GrpcStatus.INVALID_ARGUMENT, 'BAD_PAYLOAD: malformed protobuf at byte 3'), 'BAD_PAYLOAD', false, undefined],
    ['a tenant-required ingester', new GrpcCallError(GrpcStatus.UNAUTHENTICATED, 'tenancy is required'), 'TENANT_REQUIRED', false, undefined],
  ] as const)('%s → %s', async (_name, error, code, retryable, retryAfterSeconds) => {
    const ingest = await fakeIngester(() => Promise.reject(error));
    const err = await failure(exporter(ingest.address).export(BODY));
    expect({ code: err.code, retryable: err.retryable, retryAfterSeconds: err.retryAfterSeconds }).toEqual({ code, retryable, retryAfterSeconds });
    expect(err.message).toContain(ingest.address);
  });

  it('reads a gzip-compressed answer (grpc-go servers compress replies like the request)', async () => {
    const address = await rawServer((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-encoding': 'gzip' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(zlib.gzipSync(encodeExportResponse({ rejectedSpans: 1, errorMessage: 'one bad span' })), true));
    });
    expect(await exporter(address).export(BODY)).toEqual({ rejectedSpans: 1, errorMessage: 'one bad span' });
  });

  it.each([
    // [answer, code, retryable]: gRPC's HTTP → gRPC status mapping for answers without grpc-status.
    [503, 'UNAVAILABLE', true],
    [429, 'UNAVAILABLE', true],
    [404, 'INTERNAL', false],
  ] as const)('an HTTP %i without grpc-status → %s', async (httpStatus, code, retryable) => {
    const address = await rawServer((stream) => {
      stream.respond({ ':status': httpStatus, 'content-type': 'text/plain' });
      stream.end('no');
    });
    const err = await failure(exporter(address).export(BODY));
    expect({ code: err.code, retryable: err.retryable }).toEqual({ code, retryable });
  });

  it('percent-encoded grpc-message and unpadded status details come through', async () => {
    const details = Buffer.from(encodeRpcStatus(8, 'x', 2)).toString('base64').replace(/=+$/, '');
    const address = await rawServer((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '8', 'grpc-message': 'HEAD_FULL: 100%25 full %E2%80%94 wait', 'grpc-status-details-bin': details }, { endStream: true });
    });
    const err = await failure(exporter(address).export(BODY));
    expect({ code: err.code, retryAfterSeconds: err.retryAfterSeconds }).toEqual({ code: 'HEAD_FULL', retryAfterSeconds: 2 });
    expect(err.message).toContain('100% full — wait');
  });

  it('after the server closes the connection (GOAWAY, restart), the next call connects again', async () => {
    let sessions: http2.ServerHttp2Session[] = [];
    const answer = (stream: http2.ServerHttp2Stream): void => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(new Uint8Array(0), false));
    };
    const server = http2.createServer();
    server.on('session', (s) => sessions.push(s));
    server.on('stream', (stream) => {
      stream.resume();
      stream.once('end', () => answer(stream));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const e = exporter(`127.0.0.1:${(server.address() as { port: number }).port}`);
    await e.export(BODY);
    expect(sessions).toHaveLength(1);
    for (const s of sessions) s.close(); // GOAWAY, then the connection closes
    await new Promise((r) => setTimeout(r, 100));
    await e.export(BODY);
    expect(sessions).toHaveLength(2);
    for (const s of sessions) s.destroy();
    sessions = [];
  });

  it('a call past its deadline retires the connection: the next call does not wait on it', async () => {
    // The first connection is half-dead: it takes requests and never answers any.
    let first: http2.Http2Session | undefined;
    const address = await rawServer((stream) => {
      first ??= stream.session;
      if (stream.session === first) return;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
    });
    const e = exporter(address, { timeoutMs: 300 });
    expect((await failure(e.export(BODY))).code).toBe('UNAVAILABLE');
    expect(await e.export(BODY)).toEqual({ rejectedSpans: 0, errorMessage: '' });
  });

  it('an unknown method (not an OTLP endpoint) is final', async () => {
    const server = await startNativeGrpcServer({ host: '127.0.0.1', port: 0, maxRequestBytes: 1024, handlers: new Map() });
    cleanups.push(() => server.close(AbortSignal.timeout(1000)));
    const err = await failure(exporter(`127.0.0.1:${server.port}`).export(BODY));
    expect(err.retryable).toBe(false);
  });

  it('a closed port fails fast and retryably', async () => {
    const endpoint = `127.0.0.1:${await freePort()}`;
    const t0 = performance.now();
    const err = await failure(exporter(endpoint, { timeoutMs: 20_000 }).export(BODY));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(performance.now() - t0).toBeLessThan(10_000); // not the deadline
  });

  it('a black-holed endpoint fails retryably at the deadline', async () => {
    const hole = await startBlackHole();
    cleanups.push(() => hole.close());
    const endpoint = hole.address;
    const t0 = performance.now();
    const err = await failure(exporter(endpoint, { timeoutMs: 500 }).export(BODY));
    const took = performance.now() - t0;
    expect(err).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(10_000);
  });

  it('an abort cancels a hanging call long before its deadline', async () => {
    const hole = await startBlackHole();
    cleanups.push(() => hole.close());
    const endpoint = hole.address;
    const abort = new AbortController();
    const t0 = performance.now();
    const pending = failure(exporter(endpoint, { timeoutMs: 60_000 }).export(BODY, { signal: abort.signal }));
    setTimeout(() => abort.abort(), 200);
    const err = await pending;
    expect(err.code).toBe('UNAVAILABLE');
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it('after close(), calls fail at once', async () => {
    const ingest = await fakeIngester(() => Promise.resolve(new Uint8Array(0)));
    const e = exporter(ingest.address);
    e.close();
    expect((await failure(e.export(BODY))).code).toBe('UNAVAILABLE');
    expect(ingest.calls).toHaveLength(0);
  });
});
