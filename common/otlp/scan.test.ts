import { describe, expect, it } from 'vitest';
import { SkeinError } from '../errors/index.js';
import {
  AnyValueType,
  createSpanFields,
  encodeSpan,
  forEachAttribute,
  readDoubleAt,
  readServiceName,
  readSpanFields,
  spanDurationNanos,
  readVarintAt,
  scanExportRequest,
  utf8At,
} from './index.js';
import type { Span } from '../model/index.js';

function varint(v: bigint): number[] {
  let u = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return out;
}

function scanError(bytes: number[]): string {
  try {
    scanExportRequest(Uint8Array.from(bytes));
  } catch (e) {
    expect(e).toBeInstanceOf(SkeinError);
    expect((e as SkeinError).code).toBe('BAD_PAYLOAD');
    return (e as SkeinError).message;
  }
  return 'no error';
}

const baseSpan: Span = {
  traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
  spanId: Uint8Array.from({ length: 8 }, (_, i) => 0xa0 + i),
  traceState: '',
  parentSpanId: new Uint8Array(0),
  flags: 1,
  name: 'GET /users',
  kind: 2,
  startTimeUnixNano: 1_700_000_000_000_000_000n,
  endTimeUnixNano: 1_700_000_000_250_000_000n,
  attributes: [
    { key: 'http.method', value: { kind: 'string', value: 'GET' } },
    { key: 'http.status_code', value: { kind: 'int', value: 200n } },
  ],
  droppedAttributesCount: 0,
  events: [],
  droppedEventsCount: 0,
  links: [],
  droppedLinksCount: 0,
  status: { code: 2, message: 'boom' },
};

describe('scanExportRequest rejects malformed protobuf with a message naming the problem', () => {
  const cases: [string, number[], RegExp][] = [
    ['truncated tag', [0x80], /truncated or oversized tag varint at byte 0 in ExportTraceServiceRequest/],
    ['truncated length', [0x0a], /truncated or oversized length varint at byte 1 in ExportTraceServiceRequest/],
    ['length past end', [0x0a, 0x05, 0x00], /length 5 at byte 1 runs past the end of ExportTraceServiceRequest/],
    ['wire type 7 at top level', [0x0f], /wire type 7 in ExportTraceServiceRequest at byte 0/],
    ['wire type 7 in ResourceSpans', [0x0a, 0x01, 0x0f], /wire type 7 in ResourceSpans at byte 2/],
    ['wire type 6 in ScopeSpans', [0x0a, 0x03, 0x12, 0x01, 0x0e], /wire type 6 in ScopeSpans at byte 4/],
    ['truncated unknown varint', [0x18, 0x80], /truncated varint at byte 1 in ExportTraceServiceRequest/],
    ['field number 0', [0x00], /field number 0 at byte 0/],
    ['known field, wrong wire type', [0x08, 0x01], /field 1 in ExportTraceServiceRequest has wire type 0, expected 2/],
    ['end group without start', [0x14], /unexpected end of group \(field 2\)/],
    ['unterminated group', [0x13, 0x08, 0x01], /unterminated group \(field 2\)/],
    ['mismatched group end', [0x13, 0x1c], /mismatched end of group \(field 3\)/],
    ['truncated fixed64', [0x11, 1, 2, 3], /truncated fixed64 at byte 1/],
    ['truncated fixed32', [0x15, 1, 2], /truncated fixed32 at byte 1/],
    ['malformed resource', [0x0a, 0x03, 0x0a, 0x01, 0xff], /malformed Resource at bytes 4\.\.5 in ResourceSpans/],
    ['malformed scope', [0x0a, 0x05, 0x12, 0x03, 0x0a, 0x01, 0x07], /malformed InstrumentationScope at bytes 6\.\.7 in ScopeSpans/],
    ['span length past ScopeSpans end', [0x0a, 0x04, 0x12, 0x02, 0x12, 0x05], /length 5 at byte 5 runs past the end of ScopeSpans \(byte 6\)/],
  ];
  it.each(cases)('%s', (_name, bytes, message) => {
    expect(scanError(bytes)).toMatch(message);
  });

  it('skips unknown fields of every wire type, including nested groups', () => {
    const bytes = [
      0x18, ...varint(-1n), // field 3 varint (10 bytes)
      0x21, 1, 2, 3, 4, 5, 6, 7, 8, // field 4 fixed64
      0x2d, 1, 2, 3, 4, // field 5 fixed32
      0x32, 0x02, 0xff, 0xff, // field 6 bytes
      0x3b, 0x08, 0x01, 0x43, 0x44, 0x3c, // field 7 group holding a varint and an empty group (field 8)
      0x0a, 0x00, // one empty ResourceSpans
    ];
    const scanned = scanExportRequest(Uint8Array.from(bytes));
    expect(scanned.resourceSpans).toEqual([{ resource: new Uint8Array(0), schemaUrl: '', scopeSpans: [] }]);
  });

  it('returns an empty request for empty input', () => {
    expect(scanExportRequest(new Uint8Array(0))).toEqual({ resourceSpans: [] });
  });
});

describe('readSpanFields', () => {
  it('extracts every field of a span (field order and repeated scalar rule)', () => {
    const bytes = encodeSpan({ ...baseSpan, parentSpanId: Uint8Array.from([9, 9, 9, 9, 9, 9, 9, 9]) });
    const f = createSpanFields();
    expect(readSpanFields(bytes, f)).toBe(true);
    expect(bytes.subarray(f.traceIdOffset, f.traceIdOffset + f.traceIdLength)).toEqual(baseSpan.traceId);
    expect(bytes.subarray(f.spanIdOffset, f.spanIdOffset + f.spanIdLength)).toEqual(baseSpan.spanId);
    expect(f.parentSpanIdLength).toBe(8);
    expect(utf8At(bytes, f.nameOffset, f.nameLength)).toBe('GET /users');
    expect(f).toMatchObject({ kind: 2, statusCode: 2, flags: 1, attributeCount: 2, eventCount: 0, linkCount: 0 });
    expect(spanDurationNanos(f)).toBe(250_000_000);
    expect(Math.abs(f.endTimeUnixNano - f.startTimeUnixNano - 250_000_000)).toBeLessThanOrEqual(512);
    expect((BigInt(f.startHi) << 32n) | BigInt(f.startLo)).toBe(baseSpan.startTimeUnixNano);

    // A later occurrence of a scalar field wins; a later Status without a code keeps the earlier code.
    const extra = Uint8Array.from([0x30, 0x03, 0x7a, 0x02, 0x12, 0x00]);
    const twice = new Uint8Array(bytes.length + extra.length);
    twice.set(bytes);
    twice.set(extra, bytes.length);
    expect(readSpanFields(twice, f)).toBe(true);
    expect(f.kind).toBe(3);
    expect(f.statusCode).toBe(2);
  });

  it('resets fields from a previous span', () => {
    const f = createSpanFields();
    readSpanFields(encodeSpan(baseSpan), f);
    expect(readSpanFields(new Uint8Array(0), f)).toBe(true);
    expect(f).toEqual(createSpanFields());
  });

  const malformed: [string, number[]][] = [
    ['length past end', [0x0a, 0x10, 1]],
    ['truncated fixed64 start time', [0x39, 0, 0]],
    ['start time as varint', [0x38, 0x01]],
    ['trace id as varint', [0x08, 0x01]],
    ['kind as bytes', [0x32, 0x00]],
    ['malformed status', [0x7a, 0x02, 0x18, 0x80]],
    ['status code as bytes', [0x7a, 0x02, 0x1a, 0x00]],
    ['wire type 7', [0x0f]],
    ['end group at top level', [0x0c]],
    ['field number 0', [0x02, 0x00]],
    ['truncated tag', [0x80, 0x80]],
    ['oversized tag', [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]],
  ];
  it.each(malformed)('returns false for %s', (_name, bytes) => {
    expect(readSpanFields(Uint8Array.from(bytes), createSpanFields())).toBe(false);
  });
});

describe('forEachAttribute and readServiceName', () => {
  it('reports each value kind with offsets into the buffer', () => {
    const bytes = encodeSpan({
      ...baseSpan,
      attributes: [
        { key: 's', value: { kind: 'string', value: 'héllo' } },
        { key: 'b', value: { kind: 'bool', value: true } },
        { key: 'i', value: { kind: 'int', value: -5n } },
        { key: 'd', value: { kind: 'double', value: 2.5 } },
        { key: 'y', value: { kind: 'bytes', value: Uint8Array.from([1, 2]) } },
        { key: 'a', value: { kind: 'array', value: [{ kind: 'int', value: 1n }] } },
        { key: 'k', value: { kind: 'kvlist', value: [{ key: 'x', value: { kind: 'bool', value: false } }] } },
        { key: 'e', value: { kind: 'empty' } },
      ],
    });
    const seen: [string, number, unknown][] = [];
    forEachAttribute(bytes, 0, bytes.length, 9, (buf, ko, kl, type, vo, vl) => {
      const key = utf8At(buf, ko, kl);
      const value =
        type === AnyValueType.STRING ? utf8At(buf, vo, vl)
        : type === AnyValueType.BOOL || type === AnyValueType.INT ? readVarintAt(buf, vo)
        : type === AnyValueType.DOUBLE ? readDoubleAt(buf, vo)
        : Array.from(buf.subarray(vo, vo + vl));
      seen.push([key, type, value]);
    });
    expect(seen).toEqual([
      ['s', AnyValueType.STRING, 'héllo'],
      ['b', AnyValueType.BOOL, 1],
      ['i', AnyValueType.INT, -5],
      ['d', AnyValueType.DOUBLE, 2.5],
      ['y', AnyValueType.BYTES, [1, 2]],
      ['a', AnyValueType.ARRAY, [0x0a, 0x02, 0x18, 0x01]],
      ['k', AnyValueType.KVLIST, [0x0a, 0x07, 0x0a, 0x01, 0x78, 0x12, 0x02, 0x10, 0x00]],
      ['e', AnyValueType.EMPTY, []],
    ]);
  });

  // visitKeyValue takes the common shape inline; the same KeyValue spelled with two-byte lengths
  // (valid protobuf) goes through the generic walk. Both must report the same thing.
  it('reports the same for the inline shape and the generic walk', () => {
    const report = (kv: number[]): unknown[] => {
      const bytes = Uint8Array.from([0x4a, kv.length, ...kv]);
      const out: unknown[] = [];
      forEachAttribute(bytes, 0, bytes.length, 9, (buf, ko, kl, type, vo, vl) => {
        out.push(utf8At(buf, ko, kl), type, Array.from(buf.subarray(vo, vo + vl)), vo + vl === bytes.length);
      });
      return out;
    };
    // [AnyValue payload, the same with a two-byte inner length where it has one]
    const values: [number[], number[]][] = [
      [[0x0a, 0x02, 0x68, 0x69], [0x0a, 0x82, 0x00, 0x68, 0x69]], // string
      [[0x3a, 0x01, 0x07], [0x3a, 0x81, 0x00, 0x07]], // bytes
      [[0x18, 0x96, 0x01], [0x18, 0x96, 0x01]], // int
      [[0x10, 0x01], [0x10, 0x01]], // bool
      [[0x21, 1, 2, 3, 4, 5, 6, 7, 8], [0x21, 1, 2, 3, 4, 5, 6, 7, 8]], // double
      [[], []], // empty
      [[0x0a, 0x01, 0x61, 0x18, 0x05], [0x0a, 0x01, 0x61, 0x18, 0x05]], // two members: the last wins
    ];
    for (const [inline, generic] of values) {
      const a = [0x0a, 0x01, 0x6b, 0x12, inline.length, ...inline];
      const b = [0x0a, 0x01, 0x6b, 0x12, 0x80 | generic.length, 0x00, ...generic];
      expect(report(b), JSON.stringify(inline)).toEqual(report(a));
      expect(report(a)[0]).toBe('k');
    }
    // A value whose varint runs past the attribute is malformed either way.
    expect(() => report([0x0a, 0x01, 0x6b, 0x12, 0x02, 0x18, 0x80])).toThrow(SkeinError);
  });

  it('stops when the visitor returns false', () => {
    const bytes = encodeSpan(baseSpan);
    let n = 0;
    forEachAttribute(bytes, 0, bytes.length, 9, () => {
      n++;
      return false;
    });
    expect(n).toBe(1);
  });

  it('throws BAD_PAYLOAD on a malformed KeyValue', () => {
    // Span with attribute field 9 holding a KeyValue whose key length overruns it.
    const bytes = Uint8Array.from([0x4a, 0x02, 0x0a, 0x05]);
    expect(() => forEachAttribute(bytes, 0, bytes.length, 9, () => undefined)).toThrow(SkeinError);
  });

  const resource = (attrs: number[][]): Uint8Array => Uint8Array.from(attrs.flatMap((kv) => [0x0a, kv.length, ...kv]));
  const kv = (key: string, anyValue: number[]): number[] => [0x0a, key.length, ...Buffer.from(key), 0x12, anyValue.length, ...anyValue];
  const str = (s: string): number[] => [0x0a, Buffer.byteLength(s), ...Buffer.from(s)];
  it.each([
    ['present', resource([kv('host.name', str('h1')), kv('service.name', str('checkout'))]), 'checkout'],
    ['absent', resource([kv('host.name', str('h1'))]), ''],
    ['not a string', resource([kv('service.name', [0x18, 0x07])]), ''],
    ['empty resource', new Uint8Array(0), ''],
    ['similar key', resource([kv('service.names', str('x')), kv('service.nam', str('y'))]), ''],
    ['unicode value', resource([kv('service.name', str('zahlung-☃'))]), 'zahlung-☃'],
  ])('readServiceName: %s', (_name, bytes, expected) => {
    expect(readServiceName(bytes)).toBe(expected);
  });
});

describe('wire helpers', () => {
  it.each([
    [0n, 0],
    [150n, 150],
    [-1n, -1],
    [2n ** 53n - 1n, Number.MAX_SAFE_INTEGER],
    [2n ** 53n, Infinity],
    [2n ** 63n - 1n, Infinity],
    [-(2n ** 53n) + 1n, -Number.MAX_SAFE_INTEGER],
    [-(2n ** 53n), -Infinity],
    [-(2n ** 63n), -Infinity],
    [2n ** 32n + 7n, 2 ** 32 + 7],
    [-(2n ** 40n), -(2 ** 40)],
  ])('readVarintAt(%s) = %s', (v, expected) => {
    const bytes = Uint8Array.from([0xff, ...varint(v)]);
    expect(readVarintAt(bytes, 1)).toBe(expected);
  });

  it('readVarintAt returns NaN for a truncated varint', () => {
    expect(readVarintAt(Uint8Array.from([0x80, 0x80]), 0)).toBeNaN();
  });

  it('readDoubleAt reads little-endian IEEE-754', () => {
    const b = new Uint8Array(9);
    new DataView(b.buffer).setFloat64(1, -1234.5e300, true);
    expect(readDoubleAt(b, 1)).toBe(-1234.5e300);
  });

  it.each([
    ['ascii', 'GET /api/v1/users'],
    ['empty', ''],
    ['two-byte', 'héllo wörld'],
    ['astral', '🦀 and 𝄞'],
    ['long ascii (decoder path)', 'x'.repeat(300)],
    ['long mixed', 'é'.repeat(100)],
  ])('utf8At decodes %s', (_name, s) => {
    const b = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(s, 'utf8')]);
    expect(utf8At(Uint8Array.from(b), 3, b.length - 3)).toBe(s);
  });

  it('utf8At replaces invalid UTF-8 instead of throwing', () => {
    expect(utf8At(Uint8Array.from([0x61, 0xff, 0x62]), 0, 3)).toBe('a\ufffdb');
  });
});
