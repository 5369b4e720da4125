// OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export. The service is
// registered with identity (de)serialisers so the handler gets the raw request bytes and our lazy
// reader does the decoding (DESIGN.md §6.2). grpc-js handles gzip (grpc-encoding) itself.
import * as grpc from '@grpc/grpc-js';
import { encodeExportResponse } from '../../common/otlp/index.js';
import { resolveTenant, TENANT_HEADER } from '../../common/model/index.js';
import { toSkeinError } from '../../common/errors/index.js';
import type { ExportService } from './export-service.js';
import { encodeRpcStatus } from './rpc-status.js';

export const TRACE_SERVICE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

export interface GrpcReceiverOptions {
  readonly host: string;
  readonly port: number;
  readonly maxRequestBytes: number;
  readonly tenancyRequired: boolean;
  readonly service: ExportService;
}

export interface GrpcReceiver {
  readonly port: number;
  /** Stops accepting, lets in-flight calls finish (bounded by the signal), then closes. */
  close(signal?: AbortSignal): Promise<void>;
}

const identity = (b: Buffer): Buffer => b;

/** TraceService with raw-bytes (identity) serialisers: handlers receive the encoded request. */
export const RAW_TRACE_SERVICE: grpc.ServiceDefinition = {
  Export: {
    path: TRACE_SERVICE_EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

export async function startGrpcReceiver(options: GrpcReceiverOptions): Promise<GrpcReceiver> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxRequestBytes,
    'grpc.max_send_message_length': 4 * 1024 * 1024,
  });
  const handler: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    const tenantHeader = call.metadata.get(TENANT_HEADER)[0];
    const tenant = resolveTenant(typeof tenantHeader === 'string' ? tenantHeader : undefined, options.tenancyRequired);
    if (!tenant.ok) {
      options.service.refused('grpc', tenant.reason === 'missing' ? 'TENANT_REQUIRED' : 'INVALID_ARGUMENT');
      callback({ code: tenant.reason === 'missing' ? grpc.status.UNAUTHENTICATED : grpc.status.INVALID_ARGUMENT, details: tenant.message });
      return;
    }
    options.service.export(tenant.tenant, call.request, 'protobuf', 'grpc').then(
      (outcome) => {
        callback(null, Buffer.from(encodeExportResponse({ rejectedSpans: outcome.rejectedSpans, errorMessage: outcome.errorMessage })));
      },
      (e: unknown) => {
        const err = toSkeinError(e);
        const metadata = new grpc.Metadata();
        if (err.retryAfterSeconds !== undefined) {
          metadata.set('grpc-status-details-bin', Buffer.from(encodeRpcStatus(err.grpcStatus, err.message, err.retryAfterSeconds)));
        }
        callback({ code: err.grpcStatus, details: `${err.code}: ${err.message}`, metadata });
      },
    );
  };
  server.addService(RAW_TRACE_SERVICE, { Export: handler as grpc.UntypedHandleCall });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    port,
    async close(signal) {
      await new Promise<void>((resolve) => {
        const force = (): void => {
          server.forceShutdown();
          resolve();
        };
        if (signal?.aborted) return force();
        signal?.addEventListener('abort', force, { once: true });
        server.tryShutdown(() => {
          signal?.removeEventListener('abort', force);
          resolve();
        });
      });
    },
  };
}
