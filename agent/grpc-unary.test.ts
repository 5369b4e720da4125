import { describe, expect, it } from 'vitest';
import { computeConnections, decodeGrpcMessage, grpcStatusName, parseEndpoint, statusOfHttp, GrpcStatus } from './grpc-unary.js';

describe('computeConnections', () => {
  it.each([
    ['skein-ingester:4317', [{ url: 'http://skein-ingester:4317' }]],
    ['https://ingest.example.com', [{ url: 'https://ingest.example.com:443' }]],
    ['[::1]:4317', [{ url: 'http://[::1]:4317' }]],
    ['dns:///skein-ingester:4317', [{ url: 'http://skein-ingester:4317' }]],
    ['dns://8.8.8.8/skein-ingester:14317', [{ url: 'http://skein-ingester:14317' }]],
    ['dns:skein-ingester', [{ url: 'http://skein-ingester:4317' }]],
    ['unix:///run/skein.sock', [{ url: 'http://localhost', socketPath: '/run/skein.sock' }]],
    ['unix:relative.sock', [{ url: 'http://localhost', socketPath: 'relative.sock' }]],
    ['ipv4:10.0.0.1:4317,10.0.0.2:4317', [{ url: 'http://10.0.0.1:4317' }, { url: 'http://10.0.0.2:4317' }]],
    ['ipv6:[::1]:4317', [{ url: 'http://[::1]:4317' }]],
  ])('%s', (endpoint, want) => {
    expect(computeConnections(parseEndpoint(endpoint))).toEqual(want);
  });
});

describe('decodeGrpcMessage', () => {
  it.each([
    ['plain text', 'plain text'],
    ['100%25 sure', '100% sure'],
    ['caf%C3%A9 %E2%80%94 ok', 'café — ok'],
    ['bad %zz escape and trailing %', 'bad %zz escape and trailing %'],
    ['%0Anewline', '\nnewline'],
  ])('%j → %j', (text, want) => {
    expect(decodeGrpcMessage(text)).toBe(want);
  });
});

describe("statusOfHttp (gRPC's HTTP → status mapping)", () => {
  it.each([
    [400, GrpcStatus.INTERNAL],
    [401, GrpcStatus.UNAUTHENTICATED],
    [403, GrpcStatus.PERMISSION_DENIED],
    [404, GrpcStatus.UNIMPLEMENTED],
    [429, GrpcStatus.UNAVAILABLE],
    [502, GrpcStatus.UNAVAILABLE],
    [503, GrpcStatus.UNAVAILABLE],
    [504, GrpcStatus.UNAVAILABLE],
    [500, GrpcStatus.UNKNOWN],
  ])('%i → %i', (http, status) => {
    expect(statusOfHttp(http)).toBe(status);
  });
});

describe('grpcStatusName', () => {
  it.each([
    [0, 'OK'],
    [14, 'UNAVAILABLE'],
    [16, 'UNAUTHENTICATED'],
    [99, '99'],
  ])('%i → %s', (code, name) => {
    expect(grpcStatusName(code)).toBe(name);
  });
});
