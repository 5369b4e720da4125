// OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export, served by our
// native-HTTP/2 unary gRPC server (grpc-native.ts) so the handler gets the raw request bytes and our
// lazy reader does the decoding (DESIGN.md §6.2). Errors follow the OTLP spec: INVALID_ARGUMENT for
// undecodable data, RESOURCE_EXHAUSTED / UNAVAILABLE with a google.rpc.RetryInfo for retryable ones.
import { encodeExportResponse } from '../../common/otlp/index.js';
import { resolveTenant, TENANT_HEADER } from '../../common/model/index.js';
import { toSkeinError } from '../../common/errors/index.js';
import type { ExportService } from './export-service.js';
import { encodeRpcStatus } from './rpc-status.js';
import { startNativeGrpcServer, GrpcCallError, GrpcStatus, type UnaryHandler } from '../../common/grpc/index.js';

export const TRACE_SERVICE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

export interface GrpcReceiverOptions {
  readonly host: string;
  readonly port: number;
  readonly maxRequestBytes: number;
  readonly tenancyRequired: boolean;
  readonly service: ExportService;
  /** More unary methods on the same port (e.g. AgentPolicy/Get for the agents that export here). */
  readonly extraHandlers?: ReadonlyMap<string, UnaryHandler>;
}

export interface GrpcReceiver {
  readonly port: number;
  /** Stops accepting, lets in-flight calls finish (bounded by the signal), then closes. */
  close(signal?: AbortSignal): Promise<void>;
}

export async function startGrpcReceiver(options: GrpcReceiverOptions): Promise<GrpcReceiver> {
  const exportHandler: UnaryHandler = async (request, metadata) => {
    const header = metadata[TENANT_HEADER];
    const tenant = resolveTenant(typeof header === 'string' ? header : undefined, options.tenancyRequired);
    if (!tenant.ok) {
      options.service.refused('grpc', tenant.reason === 'missing' ? 'TENANT_REQUIRED' : 'INVALID_ARGUMENT');
      throw new GrpcCallError(tenant.reason === 'missing' ? GrpcStatus.UNAUTHENTICATED : GrpcStatus.INVALID_ARGUMENT, tenant.message);
    }
    try {
      const outcome = await options.service.export(tenant.tenant, request, 'protobuf', 'grpc');
      return encodeExportResponse({ rejectedSpans: outcome.rejectedSpans, errorMessage: outcome.errorMessage });
    } catch (e) {
      const err = toSkeinError(e);
      const details = err.retryAfterSeconds !== undefined ? encodeRpcStatus(err.grpcStatus, err.message, err.retryAfterSeconds) : undefined;
      throw new GrpcCallError(err.grpcStatus, `${err.code}: ${err.message}`, details);
    }
  };
  const server = await startNativeGrpcServer({
    host: options.host,
    port: options.port,
    maxRequestBytes: options.maxRequestBytes,
    handlers: new Map([...(options.extraHandlers ?? []), [TRACE_SERVICE_EXPORT_PATH, exportHandler]]),
    onRefused: (code) => options.service.refused('grpc', code),
  });
  return server;
}
