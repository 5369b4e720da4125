// ingester/receivers — OTLP/gRPC (4317) and OTLP/HTTP (4318) receivers. They resolve the tenant,
// bound request sizes and translate errors to each transport; span handling is the ExportService's.
export { startGrpcReceiver, TRACE_SERVICE_EXPORT_PATH, type GrpcReceiver, type GrpcReceiverOptions } from './grpc.js';
export { startNativeGrpcServer, encodeGrpcMessage, GrpcCallError, GrpcStatus, type NativeGrpcServer, type UnaryHandler } from '../../common/grpc/index.js';
export { buildOtlpHttpApp, type HttpReceiverOptions } from './http.js';
export { encodeRpcStatus } from './rpc-status.js';
export { exportRequestBytes, type ExportService, type ExportOutcome, type ExportFormat, type Transport } from './export-service.js';
