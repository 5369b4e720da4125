// Baseline for the ingest benchmark: an OTLP sink on the same transports and libraries as Skein
// (grpc-js with raw bytes, fastify with a buffer body) that acknowledges without doing anything.
// Skein's CPU per span is reported as a ratio to this, measured in the same run.
import * as grpc from '@grpc/grpc-js';
import Fastify from 'fastify';
import { RAW_TRACE_SERVICE } from '../ingester/receivers/index.js';

const EMPTY = Buffer.alloc(0);

async function main(): Promise<void> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  server.addService(RAW_TRACE_SERVICE, { Export: ((_call: unknown, cb: (e: null, r: Buffer) => void) => cb(null, EMPTY)) as grpc.UntypedHandleCall });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
  app.post('/v1/traces', async (_req, reply) => reply.type('application/x-protobuf').send(EMPTY));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(JSON.stringify({ msg: 'skein ready', otlpGrpc: `127.0.0.1:${grpcPort}`, otlpHttp: `127.0.0.1:${httpPort}` }) + '\n');
  process.once('SIGTERM', () => {
    server.forceShutdown();
    void app.close().then(() => process.exit(0));
  });
}

void main();
