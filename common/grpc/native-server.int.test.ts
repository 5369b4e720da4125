// The native HTTP/2 gRPC server against a real gRPC client (grpc-js): framing, gzip, status codes,
// percent-encoded messages, details, size limits and graceful close.
import { describe, it, expect, afterEach } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { startNativeGrpcServer, encodeGrpcMessage, GrpcCallError, GrpcStatus, type NativeGrpcServer, type UnaryHandler } from './native-server.js';

const PATH = '/test.Echo/Call';
const servers: NativeGrpcServer[] = [];
const clients: grpc.Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close(AbortSignal.timeout(1000));
});

async function serve(handler: UnaryHandler, maxRequestBytes = 1024 * 1024): Promise<{ port: number; refused: string[] }> {
  const refused: string[] = [];
  const server = await startNativeGrpcServer({ host: '127.0.0.1', port: 0, maxRequestBytes, handlers: new Map([[PATH, handler]]), onRefused: (s) => refused.push(s) });
  servers.push(server);
  return { port: server.port, refused };
}

function call(port: number, body: Uint8Array, options: { path?: string; gzip?: boolean; metadata?: grpc.Metadata } = {}) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    ...(options.gzip ? { 'grpc.default_compression_algorithm': 2 } : {}),
  });
  clients.push(client);
  return new Promise<{ err: grpc.ServiceError | null; res?: Buffer }>((resolve) => {
    client.makeUnaryRequest(
      options.path ?? PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(body),
      options.metadata ?? new grpc.Metadata(),
      (err, res) => resolve({ err, res }),
    );
  });
}

describe('native gRPC server', () => {
  it('echoes a unary call, plain and gzip-compressed, and passes metadata', async () => {
    let seenTenant: unknown;
    const { port } = await serve((req, md) => {
      seenTenant = md['x-scope-orgid'];
      return Promise.resolve(Buffer.concat([Buffer.from('echo:'), req]));
    });
    const md = new grpc.Metadata();
    md.set('x-scope-orgid', 'team-a');
    const plain = await call(port, Buffer.from('hello'), { metadata: md });
    expect(plain.err).toBeNull();
    expect(plain.res!.toString()).toBe('echo:hello');
    expect(seenTenant).toBe('team-a');
    const big = Buffer.alloc(300_000, 7);
    const zipped = await call(port, big, { gzip: true });
    expect(zipped.err).toBeNull();
    expect(zipped.res!.length).toBe(5 + big.length);
  });

  it('maps handler errors to status, percent-encoded message and details', async () => {
    const details = Uint8Array.from([8, 8, 18, 1, 120]);
    const { port } = await serve(() => Promise.reject(new GrpcCallError(GrpcStatus.RESOURCE_EXHAUSTED, 'full — retry 100% later', details)));
    const { err } = await call(port, Buffer.from('x'));
    expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err?.details).toBe('full — retry 100% later');
    expect(new Uint8Array(err!.metadata.get('grpc-status-details-bin')[0] as Buffer)).toEqual(details);
  });

  it('hides unexpected handler failures as INTERNAL', async () => {
    const { port } = await serve(() => Promise.reject(new Error('secret stack')));
    const { err } = await call(port, Buffer.from('x'));
    expect(err?.code).toBe(grpc.status.INTERNAL);
    expect(err?.details).not.toMatch(/secret/);
  });

  it('answers UNIMPLEMENTED for unknown methods and RESOURCE_EXHAUSTED for oversized requests', async () => {
    const { port, refused } = await serve(() => Promise.resolve(Buffer.alloc(0)), 64 * 1024);
    expect((await call(port, Buffer.from('x'), { path: '/nope.Svc/Method' })).err?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect((await call(port, Buffer.alloc(2 * 1024 * 1024))).err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // Still serving on the same port afterwards.
    expect((await call(port, Buffer.from('ok'))).err).toBeNull();
    expect(refused).toEqual(['NOT_FOUND', 'PAYLOAD_TOO_LARGE']);
  });

  it('rejects non-gRPC requests with 415 and a hint', async () => {
    const { port } = await serve(() => Promise.resolve(Buffer.alloc(0)));
    const http2 = await import('node:http2');
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/json' });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.resume();
        req.on('error', reject);
        req.end('{}');
      });
      expect(status).toBe(415);
    } finally {
      session.close();
    }
  });

  it('lets an in-flight call finish on close', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const server = await startNativeGrpcServer({
      host: '127.0.0.1',
      port: 0,
      maxRequestBytes: 1024,
      handlers: new Map([[PATH, async () => (await gate, Buffer.from('done'))]]),
    });
    const pending = call(server.port, Buffer.from('x'));
    await new Promise((r) => setTimeout(r, 100));
    const closed = server.close(AbortSignal.timeout(5000));
    release();
    const { err, res } = await pending;
    expect(err).toBeNull();
    expect(res!.toString()).toBe('done');
    await closed;
  });

  it('percent-encodes grpc-message as the gRPC spec requires', () => {
    expect(encodeGrpcMessage('plain text')).toBe('plain text');
    expect(encodeGrpcMessage('100%')).toBe('100%25');
    expect(encodeGrpcMessage('é\n')).toBe('%C3%A9%0A');
  });
});
