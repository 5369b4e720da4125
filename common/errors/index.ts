// common/errors — the error catalogue: stable codes, retryable flags, HTTP/gRPC status mapping.
export * from './errors.js';
