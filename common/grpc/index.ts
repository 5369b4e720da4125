// common/grpc — a minimal unary gRPC server on Node's native HTTP/2 (ADR 0004): the OTLP/gRPC
// receiver and the internal ingester service (common/rpc) both run on it.
export { startNativeGrpcServer, encodeGrpcMessage, GrpcCallError, GrpcStatus, type NativeGrpcServer, type NativeGrpcServerOptions, type UnaryHandler, type UnaryResponse } from './native-server.js';
