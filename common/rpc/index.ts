// common/rpc — the internal gRPC service `skein.internal.v1.Ingester` (ADR 0006): forwarding a
// shard's spans to its owner, and queries from queriers to every member's heads. The server side
// is a handler map for common/grpc's native server; the client side is a pool of @grpc/grpc-js
// channels, one per member address. Expected outcomes of a forward are a union, not exceptions.
export { INGESTER_SERVICE, RPC_PATHS, FORWARD_METADATA, type ForwardRequest } from './protocol.js';
export { NotOwnerError, buildIngesterRpcHandlers, type IngesterRpcHandlers } from './server.js';
export { createIngesterClientPool, type IngesterClient, type IngesterClientPool, type ForwardOutcome, type CallOptions } from './client.js';
