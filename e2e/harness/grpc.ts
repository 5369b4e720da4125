// A raw OTLP/gRPC Export call (grpc-js client, bytes in/out) for suites that need status codes and
// metadata the SDK exporter hides.
import * as grpc from '@grpc/grpc-js';

export const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

export function grpcExport(address: string, body: Uint8Array, metadata = new grpc.Metadata()): Promise<{ err: grpc.ServiceError | null; res?: Buffer }> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      EXPORT_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(body),
      metadata,
      (err, res) => {
        client.close();
        resolve({ err, res });
      },
    );
  });
}
