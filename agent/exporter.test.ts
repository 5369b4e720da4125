import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { encodeRpcStatus } from '../ingester/receivers/index.js';
import { classifyExportError } from './batcher.js';
import { DEFAULT_THROTTLE_SECONDS, decodeRetryDelaySeconds, parseEndpoint, toExportError } from './exporter.js';

/** Protobuf bytes by hand: tag + payload. */
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
};
const len = (field: number, bytes: number[]): number[] => [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
const num = (field: number, n: number): number[] => [...varint(field << 3), ...varint(n)];
const text = (s: string): number[] => [...Buffer.from(s, 'utf8')];

function statusWith(details: number[][]): Uint8Array {
  return Uint8Array.from([...num(1, 8), ...len(2, text('slow down')), ...details.flatMap((d) => len(3, d))]);
}
const any = (typeUrl: string, value: number[]): number[] => [...len(1, text(typeUrl)), ...len(2, value)];
const retryInfo = (seconds: number, nanos = 0): number[] => len(1, [...(seconds > 0 ? num(1, seconds) : []), ...(nanos > 0 ? num(2, nanos) : [])]);

describe('decodeRetryDelaySeconds', () => {
  it.each([
    ['our own encoder (ingester HEAD_FULL)', encodeRpcStatus(8, 'HEAD_FULL: head is full', 3), 3],
    ['seconds and nanos', statusWith([any('type.googleapis.com/google.rpc.RetryInfo', retryInfo(1, 500_000_000))]), 1.5],
    ['nanos only', statusWith([any('type.googleapis.com/google.rpc.RetryInfo', retryInfo(0, 250_000_000))]), 0.25],
    ['after another detail', statusWith([any('type.googleapis.com/google.rpc.ErrorInfo', len(1, text('x'))), any('type.googleapis.com/google.rpc.RetryInfo', retryInfo(7))]), 7],
    ['no details', encodeRpcStatus(14, 'down'), undefined],
    ['another detail only', statusWith([any('type.googleapis.com/google.rpc.DebugInfo', len(2, text('stack')))]), undefined],
    ['empty bytes', new Uint8Array(0), undefined],
    ['garbage', Uint8Array.from([0xff, 0xff, 0xff]), undefined],
    ['truncated', encodeRpcStatus(8, 'HEAD_FULL: x', 3).subarray(0, 20), undefined],
  ])('%s → %s', (_name, bytes, want) => {
    expect(decodeRetryDelaySeconds(bytes)).toBe(want);
  });
});

describe('toExportError', () => {
  const ep = 'ingester:4317';
  it.each([
    // [failure, code, retryable, retryAfterSeconds]
    [{ code: status.UNAVAILABLE, details: 'No connection established' }, 'UNAVAILABLE', true, undefined],
    [{ code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' }, 'UNAVAILABLE', true, undefined],
    [{ code: status.ABORTED, details: 'aborted' }, 'UNAVAILABLE', true, undefined],
    [{ code: status.DATA_LOSS, details: 'lost' }, 'UNAVAILABLE', true, undefined],
    [{ code: status.UNAVAILABLE, details: 'shutting down', statusDetails: encodeRpcStatus(14, 'x', 2) }, 'UNAVAILABLE', true, 2],
    [{ code: status.RESOURCE_EXHAUSTED, details: 'busy' }, 'HEAD_FULL', true, DEFAULT_THROTTLE_SECONDS],
    [{ code: status.RESOURCE_EXHAUSTED, details: 'busy', statusDetails: encodeRpcStatus(8, 'busy', 5) }, 'HEAD_FULL', true, 5],
    // A Skein ingester leads with the catalogue code: its retryable flag wins over the status.
    [{ code: status.RESOURCE_EXHAUSTED, details: 'HEAD_FULL: head memory budget exhausted', statusDetails: encodeRpcStatus(8, 'x', 4) }, 'HEAD_FULL', true, 4],
    [{ code: status.RESOURCE_EXHAUSTED, details: 'HEAD_FULL: head memory budget exhausted' }, 'HEAD_FULL', true, DEFAULT_THROTTLE_SECONDS],
    [{ code: status.RESOURCE_EXHAUSTED, details: 'PAYLOAD_TOO_LARGE: request exceeds 16777216 bytes' }, 'PAYLOAD_TOO_LARGE', false, undefined],
    [{ code: status.UNAVAILABLE, details: 'NOT_OWNER: shard 3 moved' }, 'NOT_OWNER', true, undefined],
    [{ code: status.INVALID_ARGUMENT, details: 'BAD_PAYLOAD: malformed protobuf' }, 'BAD_PAYLOAD', false, undefined],
    [{ code: status.INVALID_ARGUMENT, details: 'bad request' }, 'INVALID_ARGUMENT', false, undefined],
    [{ code: status.UNAUTHENTICATED, details: 'tenant required' }, 'TENANT_REQUIRED', false, undefined],
    [{ code: status.UNIMPLEMENTED, details: 'unknown service' }, 'INTERNAL', false, undefined],
    [{ code: status.PERMISSION_DENIED, details: 'no' }, 'INTERNAL', false, undefined],
    // Not a catalogue code: mapped by status.
    [{ code: status.UNAVAILABLE, details: 'FOO_BAR: something' }, 'UNAVAILABLE', true, undefined],
  ] as const)('%j → %s', (failure, code, retryable, retryAfterSeconds) => {
    const err = toExportError(ep, failure);
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
    expect(err.retryAfterSeconds).toBe(retryAfterSeconds);
    expect(err.message).toContain(ep);
    // What the batcher will do with it.
    expect(classifyExportError(err)).toEqual(retryAfterSeconds === undefined ? { retryable } : { retryable, retryAfterMs: retryAfterSeconds * 1000 });
  });
});

describe('parseEndpoint', () => {
  it.each([
    ['skein-ingester:4317', 'skein-ingester:4317', false],
    ['skein-ingester', 'skein-ingester:4317', false],
    ['10.0.0.7:14317', '10.0.0.7:14317', false],
    ['http://skein-ingester.tracing.svc:4317', 'skein-ingester.tracing.svc:4317', false],
    ['http://skein-ingester', 'skein-ingester:4317', false],
    ['https://ingest.example.com', 'ingest.example.com:443', true],
    ['https://ingest.example.com:8443/', 'ingest.example.com:8443', true],
    ['dns:///skein-ingester:4317', 'dns:///skein-ingester:4317', false],
    ['[::1]:4317', '[::1]:4317', false],
  ])('%s', (endpoint, target, tls) => {
    expect(parseEndpoint(endpoint)).toEqual({ target, tls });
  });
  it.each([['ftp://x:1'], ['http://x:4317/v1/traces'], [''], ['host name:1'], ['http://']])('rejects %j with the accepted forms', (endpoint) => {
    expect(() => parseEndpoint(endpoint)).toThrow(/host:port, http:\/\/host:port or https:\/\/host:port/);
  });
});
