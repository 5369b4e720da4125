import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { classifyTag, filterTagNames, toScopedTags, toTempoSearchResponse, traceqlTagLookup, wrapTraceByIdResponse } from './tempo-model.js';

describe('wrapTraceByIdResponse', () => {
  it('is field 1 (length-delimited) holding the bytes, per a reference protobuf reader', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40_000 }), (inner) => {
        const r = protobuf.Reader.create(wrapTraceByIdResponse(inner));
        expect(r.uint32()).toBe((1 << 3) | 2);
        expect(Uint8Array.from(r.bytes())).toEqual(inner);
        expect(r.pos).toBe(r.len);
      }),
      { numRuns: 50 },
    );
  });
  it.each([0, 127, 128, 16_383, 16_384])('length %d', (n) => {
    const r = protobuf.Reader.create(wrapTraceByIdResponse(new Uint8Array(n).fill(7)));
    r.uint32();
    expect(r.bytes().length).toBe(n);
  });
});

describe('wrapTraceByIdResponse with a partial message', () => {
  it('adds status PARTIAL (field 3) and the message (field 4) after the trace', () => {
    const inner = new Uint8Array(300).fill(9);
    const r = protobuf.Reader.create(wrapTraceByIdResponse(inner, 'member x: timeout — ü'));
    expect(r.uint32()).toBe((1 << 3) | 2);
    expect(Uint8Array.from(r.bytes())).toEqual(inner);
    expect(r.uint32()).toBe(3 << 3);
    expect(r.int32()).toBe(1);
    expect(r.uint32()).toBe((4 << 3) | 2);
    expect(r.string()).toBe('member x: timeout — ü');
    expect(r.pos).toBe(r.len);
  });
});

describe('toTempoSearchResponse', () => {
  it('maps summaries with whole-ms durations and a metrics block', () => {
    const out = toTempoSearchResponse({
      traces: [
        { traceId: 'ab'.repeat(16), rootServiceName: 'api', rootTraceName: 'GET /', startTimeUnixNano: '1700000000000000000', durationNanos: 1_999_999, spanCount: 3 },
        { traceId: 'cd'.repeat(16), rootServiceName: 'db', rootTraceName: 'q', startTimeUnixNano: '1', durationNanos: 999_999, spanCount: 1 },
      ],
      inspectedTraces: 42,
    });
    expect(out).toEqual({
      traces: [
        { traceID: 'ab'.repeat(16), rootServiceName: 'api', rootTraceName: 'GET /', startTimeUnixNano: '1700000000000000000', durationMs: 1 },
        { traceID: 'cd'.repeat(16), rootServiceName: 'db', rootTraceName: 'q', startTimeUnixNano: '1', durationMs: 0 },
      ],
      metrics: { inspectedTraces: 42 },
    });
  });

  it('a partial result sets metrics.partial', () => {
    expect(toTempoSearchResponse({ traces: [], inspectedTraces: 1, partial: { reasons: ['x'] } }).metrics).toEqual({ inspectedTraces: 1, partial: true });
  });
});

describe('tag scopes', () => {
  it.each([
    ['service.name', 'resource'],
    ['host.name', 'resource'],
    ['k8s.pod.name', 'resource'],
    ['http.method', 'span'],
    ['db.statement', 'span'],
    ['name', 'intrinsic'],
    ['status', 'intrinsic'],
    ['root.service.name', 'intrinsic'],
  ])('%s → %s', (key, scope) => {
    expect(classifyTag(key)).toBe(scope);
  });

  const names = ['host.name', 'http.method', 'kind', 'name', 'service.name', 'status', 'zeta'];
  it('v2 scoped shape', () => {
    expect(toScopedTags(names, 'all')).toEqual({
      scopes: [
        { name: 'resource', tags: ['host.name', 'service.name'] },
        { name: 'span', tags: ['http.method', 'zeta'] },
        { name: 'intrinsic', tags: ['duration', 'kind', 'name', 'rootName', 'rootServiceName', 'status'] },
      ],
    });
    expect(toScopedTags(names, 'span')).toEqual({ scopes: [{ name: 'span', tags: ['http.method', 'zeta'] }] });
  });
  it('v1 filter by scope', () => {
    expect(filterTagNames(names, 'all')).toEqual(names);
    expect(filterTagNames(names, 'resource')).toEqual(['host.name', 'service.name']);
    expect(filterTagNames(names, 'intrinsic')).toEqual(['kind', 'name', 'status']);
  });
});

describe('traceqlTagLookup', () => {
  it.each([
    ['resource.service.name', 'service.name', 'string'],
    ['span.http.method', 'http.method', 'string'],
    ['.http.method', 'http.method', 'string'],
    ['http.method', 'http.method', 'string'],
    ['name', 'name', 'string'],
    ['span:name', 'name', 'string'],
    ['status', 'status', 'keyword'],
    ['span:status', 'status', 'keyword'],
    ['kind', 'kind', 'keyword'],
    ['rootServiceName', 'root.service.name', 'string'],
    ['trace:rootService', 'root.service.name', 'string'],
    ['rootName', 'root.name', 'string'],
    ['duration', null, 'string'],
  ])('%s → %j (%s)', (identifier, tag, type) => {
    expect(traceqlTagLookup(identifier)).toEqual({ tag, type });
  });
});
