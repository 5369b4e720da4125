import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { AnyValue, KeyValue, Span } from '../../common/model/index.js';
import { createSpanFields, encodeSpan, forEachAttribute, readSpanFields } from '../../common/otlp/index.js';
import { createSpanHeader, readSpanHeader, walkAttributes } from './span-reader.js';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const leaf: fc.Arbitrary<AnyValue> = fc.oneof(
  fc.string().map((value) => ({ kind: 'string' as const, value })),
  fc.boolean().map((value) => ({ kind: 'bool' as const, value })),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((value) => ({ kind: 'int' as const, value })),
  fc.double().map((value) => ({ kind: 'double' as const, value })),
  fc.uint8Array({ maxLength: 8 }).map((value) => ({ kind: 'bytes' as const, value })),
  fc.constant({ kind: 'empty' as const }),
);
const value: fc.Arbitrary<AnyValue> = fc.oneof(
  { weight: 4, arbitrary: leaf },
  { weight: 1, arbitrary: fc.array(leaf, { maxLength: 3 }).map((value) => ({ kind: 'array' as const, value })) },
  { weight: 1, arbitrary: fc.array(fc.record({ key: fc.string(), value: leaf }), { maxLength: 3 }).map((value) => ({ kind: 'kvlist' as const, value })) },
);
const keyValues: fc.Arbitrary<KeyValue[]> = fc.array(fc.record({ key: fc.string({ maxLength: 200 }), value }), { maxLength: 12 });
const time = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

const spanArb: fc.Arbitrary<Span> = fc.record({
  traceId: fc.oneof(bytes(16), fc.uint8Array({ maxLength: 20 })),
  spanId: bytes(8),
  traceState: fc.string({ maxLength: 5 }),
  parentSpanId: fc.oneof(bytes(8), fc.constant(new Uint8Array(0))),
  flags: fc.nat(),
  name: fc.string({ maxLength: 150 }),
  kind: fc.integer({ min: -3, max: 8 }),
  startTimeUnixNano: time,
  endTimeUnixNano: time,
  attributes: keyValues,
  droppedAttributesCount: fc.nat(),
  events: fc.array(fc.record({ timeUnixNano: time, name: fc.string({ maxLength: 4 }), attributes: keyValues, droppedAttributesCount: fc.nat() }), { maxLength: 2 }),
  droppedEventsCount: fc.nat(),
  links: fc.constant([]),
  droppedLinksCount: fc.nat(),
  status: fc.record({ code: fc.integer({ min: -1, max: 3 }), message: fc.string({ maxLength: 4 }) }),
});

type Visit = [number, number, number, number, number];
function visits(walk: (visit: (b: Uint8Array, ko: number, kl: number, t: number, vo: number, vl: number) => void) => void): Visit[] {
  const out: Visit[] = [];
  walk((_b, ko, kl, t, vo, vl) => {
    out.push([ko, kl, t, vo, vl]);
  });
  return out;
}

function agree(span: Uint8Array, mustAccept = false): void {
  const f = createSpanFields();
  const h = createSpanHeader();
  const okOtlp = readSpanFields(span, f);
  const okLean = readSpanHeader(span, h);
  if (!okOtlp) {
    expect(okLean).toBe(false);
    return;
  }
  // The lean reader may decline odd input (the caller then falls back), never a plain encoding.
  if (mustAccept) expect(okLean).toBe(true);
  if (!okLean) return;
  expect({
    traceIdOffset: h.traceIdOffset, traceIdLength: h.traceIdLength, spanIdOffset: h.spanIdOffset, spanIdLength: h.spanIdLength,
    parentSpanIdLength: h.parentSpanIdLength, nameOffset: h.nameOffset, nameLength: h.nameLength, kind: h.kind,
    startHi: h.startHi, startLo: h.startLo, endHi: h.endHi, endLo: h.endLo, statusCode: h.statusCode, attributeCount: h.attributeCount,
  }).toEqual({
    traceIdOffset: f.traceIdOffset, traceIdLength: f.traceIdLength, spanIdOffset: f.spanIdOffset, spanIdLength: f.spanIdLength,
    parentSpanIdLength: f.parentSpanIdLength, nameOffset: f.nameOffset, nameLength: f.nameLength, kind: f.kind,
    startHi: f.startHi, startLo: f.startLo, endHi: f.endHi, endLo: f.endLo, statusCode: f.statusCode, attributeCount: f.attributeCount,
  }); // prettier-ignore
  let expected: Visit[] | undefined;
  try {
    expected = visits((v) => forEachAttribute(span, 0, span.length, 9, v));
  } catch {
    expected = undefined; // malformed attributes: the lean walker must not claim success
  }
  let leanOk = true;
  const got = visits((v) => {
    leanOk = walkAttributes(span, h.attributesStart, h.attributesEnd, 9, v);
  });
  if (expected === undefined) expect(leanOk).toBe(false);
  else if (leanOk || mustAccept) expect(got).toEqual(expected);
}

describe('lean span reader agrees with common/otlp', () => {
  it('on encoded spans', () => {
    fc.assert(fc.property(spanArb, (s) => agree(encodeSpan(s), true)), { numRuns: 400 });
  });

  it('on concatenated spans (protobuf merge: last scalar wins, repeated fields append)', () => {
    fc.assert(
      fc.property(spanArb, spanArb, (a, b) => {
        const x = encodeSpan(a);
        const y = encodeSpan(b);
        const both = new Uint8Array(x.length + y.length);
        both.set(x);
        both.set(y, x.length);
        agree(both, true);
      }),
      { numRuns: 300 },
    );
  });

  it('on corrupted spans (never claims success where otlp fails)', () => {
    fc.assert(
      fc.property(spanArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (s, edits, cut) => {
        const bytes = encodeSpan(s).slice();
        for (const [at, v] of edits) if (bytes.length > 0) bytes[at % bytes.length] = v;
        agree(bytes.subarray(0, bytes.length === 0 ? 0 : bytes.length - (cut % Math.min(3, bytes.length))));
      }),
      { numRuns: 600 },
    );
  });

  it('stops when the visitor returns false', () => {
    const s = encodeSpan({
      traceId: new Uint8Array(16).fill(1), spanId: new Uint8Array(8).fill(2), traceState: '', parentSpanId: new Uint8Array(0), flags: 0, name: 'x', kind: 1,
      startTimeUnixNano: 1n, endTimeUnixNano: 2n, droppedAttributesCount: 0, events: [], droppedEventsCount: 0, links: [], droppedLinksCount: 0, status: { code: 0, message: '' },
      attributes: [{ key: 'a', value: { kind: 'string', value: '1' } }, { key: 'b', value: { kind: 'string', value: '2' } }],
    }); // prettier-ignore
    const h = createSpanHeader();
    expect(readSpanHeader(s, h)).toBe(true);
    let n = 0;
    expect(walkAttributes(s, h.attributesStart, h.attributesEnd, 9, () => (n++, false))).toBe(true);
    expect(n).toBe(1);
  });
});
