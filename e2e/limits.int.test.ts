// Tenancy and memory limits at the edge: required tenancy refuses anonymous writes and reads; a full
// head answers 429 / RESOURCE_EXHAUSTED with a retry hint instead of growing, and keeps serving.
import { describe, it, expect } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { encodeExportRequest } from '../common/otlp/index.js';
import { toHex } from '../common/model/index.js';
import { startSkein, makeDataDir, makeBatch, grpcExport } from './harness/index.js';

describe('required tenancy', () => {
  it('refuses writes and reads without X-Scope-OrgID and isolates tenants', async () => {
    const data = makeDataDir();
    const skein = await startSkein({ dataDir: data.dir, args: ['--tenancy-required'] });
    try {
      const { request, spans } = makeBatch(1, 2);
      const body = encodeExportRequest(request);
      const anonymous = await fetch(`http://${skein.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
      expect(anonymous.status).toBe(401);
      expect(Buffer.from(await anonymous.arrayBuffer()).toString('latin1')).toMatch(/X-Scope-OrgID/);
      const { err } = await grpcExport(skein.otlpGrpc, body);
      expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);

      const md = new grpc.Metadata();
      md.set('x-scope-orgid', 'team-a');
      expect((await grpcExport(skein.otlpGrpc, body, md)).err).toBeNull();
      const id = toHex(spans[0]!.traceId);
      expect((await fetch(`http://${skein.tempo}/api/traces/${id}`, { headers: { 'X-Scope-OrgID': 'team-a' } })).status).toBe(200);
      expect((await fetch(`http://${skein.tempo}/api/traces/${id}`, { headers: { 'X-Scope-OrgID': 'team-b' } })).status).toBe(404);
      expect((await fetch(`http://${skein.tempo}/api/traces/${id}`)).status).toBe(401);
      expect((await fetch(`http://${skein.jaeger}/api/services`)).status).toBe(401);
    } finally {
      expect(await skein.stop()).toBe(0);
      data.remove();
    }
  });
});

describe('memory and size limits', () => {
  it('a full head answers 429 with Retry-After (HTTP) and RESOURCE_EXHAUSTED (gRPC), and keeps serving', async () => {
    const data = makeDataDir();
    const skein = await startSkein({ dataDir: data.dir, args: ['--shards', '1', '--head-max-bytes', '256KiB', '--max-request-bytes', '8MiB'] });
    try {
      let status = 200;
      let retryAfter: string | null = null;
      let stored = 0;
      let firstTrace = '';
      for (let i = 0; i < 200 && status === 200; i++) {
        const { request, spans } = makeBatch(10, 5);
        const res = await fetch(`http://${skein.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: encodeExportRequest(request) });
        await res.arrayBuffer();
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        if (status === 200) {
          stored += spans.length;
          firstTrace ||= toHex(spans[0]!.traceId);
        }
      }
      expect(status).toBe(429);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      expect(stored).toBeGreaterThan(0);
      const { err } = await grpcExport(skein.otlpGrpc, encodeExportRequest(makeBatch(10, 5).request));
      expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(err?.details).toMatch(/HEAD_FULL/);
      // Still serving what it has.
      expect((await fetch(`http://${skein.tempo}/api/traces/${firstTrace}`)).status).toBe(200);
      expect((await fetch(`http://${skein.tempo}/ready`)).status).toBe(200);
    } finally {
      expect(await skein.stop()).toBe(0);
      data.remove();
    }
  });

  it('an oversized gRPC message gets RESOURCE_EXHAUSTED', async () => {
    const data = makeDataDir();
    const skein = await startSkein({ dataDir: data.dir, args: ['--max-request-bytes', '1MiB'] });
    try {
      const { err } = await grpcExport(skein.otlpGrpc, new Uint8Array(3 * 1024 * 1024));
      expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect((await grpcExport(skein.otlpGrpc, encodeExportRequest(makeBatch(1, 1).request))).err).toBeNull();
    } finally {
      expect(await skein.stop()).toBe(0);
      data.remove();
    }
  });
});
