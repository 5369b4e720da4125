// Baseline for the ingest benchmark: an OTLP sink on the same transports and code as Skein's
// receivers (the native HTTP/2 gRPC server, fastify with a buffer body) that acknowledges without doing anything.
// Skein's CPU per span is reported as a ratio to this, measured in the same run.
import Fastify from 'fastify';
import { startNativeGrpcServer, TRACE_SERVICE_EXPORT_PATH } from '../ingester/receivers/index.js';

const EMPTY = Buffer.alloc(0);

async function main(): Promise<void> {
  const server = await startNativeGrpcServer({
    host: '127.0.0.1',
    port: 0,
    maxRequestBytes: 64 * 1024 * 1024,
    handlers: new Map([[TRACE_SERVICE_EXPORT_PATH, () => Promise.resolve(EMPTY)]]),
  });
  const grpcPort = server.port;
  const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
  app.post('/v1/traces', async (_req, reply) => reply.type('application/x-protobuf').send(EMPTY));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(JSON.stringify({ msg: 'skein ready', otlpGrpc: `127.0.0.1:${grpcPort}`, otlpHttp: `127.0.0.1:${httpPort}` }) + '\n');
  process.once('SIGTERM', () => {
    void Promise.all([server.close(AbortSignal.timeout(1000)), app.close()]).then(() => process.exit(0));
  });
}

void main();
