// Property tests against the independent protobufjs reference (proto/otlp-trace.proto): generated
// requests are encoded by the reference, unknown fields of every wire type are injected at every
// level, and then (a) the lazy scanner, (b) the full decoder and (c) our encoder must all agree with
// what was generated.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AnyValue, KeyValue, ResourceSpans } from '../model/index.js';
import {
  AnyValueType,
  createSpanFields,
  decodeExportRequest,
  decodeResource,
  decodeScope,
  decodeSpan,
  encodeExportRequest,
  encodeResource,
  encodeScope,
  encodeSpan,
  forEachAttribute,
  readDoubleAt,
  readServiceName,
  readSpanFields,
  readVarintAt,
  scanExportRequest,
  utf8At,
} from './index.js';
import { requestArb } from './testing/arbitraries.js';
import { injectUnknownFields, rngFrom } from './testing/inject.js';
import {
  anyFromRef,
  ref,
  referenceDecode,
  referenceDecodeAs,
  referenceEncode,
  resourceFromRef,
  scopeFromRef,
  spanFromRef,
} from './testing/reference.js';

const RUNS = 150;

/** Reference bytes with unknown fields injected everywhere. */
function referenceBytes(rs: readonly ResourceSpans[], seed: number): Uint8Array {
  return injectUnknownFields(referenceEncode(rs), ref.ExportRequest, rngFrom(seed));
}

/** Exact int64 from varint bytes, computed independently of the code under test. */
function varintToBigInt(buf: Uint8Array, off: number): bigint {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[off++]!;
    v |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) break;
    shift += 7n;
  }
  return BigInt.asIntN(64, v);
}

function clampToNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Infinity;
  if (v < -BigInt(Number.MAX_SAFE_INTEGER)) return -Infinity;
  return Number(v);
}

/** Attributes as seen through forEachAttribute (nested kvlists recursively, arrays via the reference). */
function lazyAttributes(buf: Uint8Array, start: number, end: number, field: number): KeyValue[] {
  const out: KeyValue[] = [];
  forEachAttribute(buf, start, end, field, (b, keyOffset, keyLength, type, off, len) => {
    out.push({ key: utf8At(b, keyOffset, keyLength), value: lazyValue(b, type, off, len) });
  });
  return out;
}

function lazyValue(b: Uint8Array, type: number, off: number, len: number): AnyValue {
  switch (type) {
    case AnyValueType.STRING:
      return { kind: 'string', value: utf8At(b, off, len) };
    case AnyValueType.BOOL:
      return { kind: 'bool', value: readVarintAt(b, off) !== 0 };
    case AnyValueType.INT: {
      const exact = varintToBigInt(b, off);
      expect(readVarintAt(b, off)).toBe(clampToNumber(exact));
      return { kind: 'int', value: exact };
    }
    case AnyValueType.DOUBLE:
      expect(len).toBe(8);
      return { kind: 'double', value: readDoubleAt(b, off) };
    case AnyValueType.BYTES:
      return { kind: 'bytes', value: b.slice(off, off + len) };
    case AnyValueType.ARRAY:
      return referenceDecodeAs(ref.ArrayValue, b.subarray(off, off + len), (o: { values: unknown[] }) => ({
        kind: 'array',
        value: o.values.map(anyFromRef),
      }));
    case AnyValueType.KVLIST:
      return { kind: 'kvlist', value: lazyAttributes(b, off, off + len, 1) };
    default:
      expect(type).toBe(AnyValueType.EMPTY);
      expect(len).toBe(0);
      return { kind: 'empty' };
  }
}

function expectedServiceName(rs: ResourceSpans): string {
  const attr = rs.resource.attributes.find((a) => a.key === 'service.name');
  return attr?.value.kind === 'string' ? attr.value.value : '';
}

describe('OTLP codec vs the protobufjs reference (property)', () => {
  it('(a) scanner, readSpanFields and forEachAttribute agree with generated values', () => {
    const fields = createSpanFields();
    fc.assert(
      fc.property(requestArb, fc.integer(), (rs, seed) => {
        const buf = referenceBytes(rs, seed);
        const scanned = scanExportRequest(buf);
        expect(scanned.resourceSpans).toHaveLength(rs.length);
        rs.forEach((r, ri) => {
          const sr = scanned.resourceSpans[ri]!;
          expect(sr.schemaUrl).toBe(r.schemaUrl);
          expect(referenceDecodeAs(ref.Resource, sr.resource, resourceFromRef)).toEqual(r.resource);
          expect(readServiceName(sr.resource)).toBe(expectedServiceName(r));
          expect(lazyAttributes(sr.resource, 0, sr.resource.length, 1)).toEqual(r.resource.attributes);
          expect(sr.scopeSpans).toHaveLength(r.scopeSpans.length);
          r.scopeSpans.forEach((ss, si) => {
            const sss = sr.scopeSpans[si]!;
            expect(sss.schemaUrl).toBe(ss.schemaUrl);
            expect(referenceDecodeAs(ref.Scope, sss.scope, scopeFromRef)).toEqual(ss.scope);
            expect(sss.spans).toHaveLength(ss.spans.length);
            ss.spans.forEach((span, i) => {
              const bytes = sss.spans[i]!;
              // Views, not copies.
              expect(bytes.buffer).toBe(buf.buffer);
              expect(readSpanFields(bytes, fields)).toBe(true);
              expect(bytes.subarray(fields.traceIdOffset, fields.traceIdOffset + fields.traceIdLength)).toEqual(span.traceId);
              expect(bytes.subarray(fields.spanIdOffset, fields.spanIdOffset + fields.spanIdLength)).toEqual(span.spanId);
              expect(
                bytes.subarray(fields.parentSpanIdOffset, fields.parentSpanIdOffset + fields.parentSpanIdLength),
              ).toEqual(span.parentSpanId);
              expect(utf8At(bytes, fields.nameOffset, fields.nameLength)).toBe(span.name);
              expect(fields.kind).toBe(span.kind);
              expect((BigInt(fields.startHi) << 32n) | BigInt(fields.startLo)).toBe(span.startTimeUnixNano);
              expect((BigInt(fields.endHi) << 32n) | BigInt(fields.endLo)).toBe(span.endTimeUnixNano);
              expect(fields.startTimeUnixNano).toBe(Number(span.startTimeUnixNano));
              expect(fields.endTimeUnixNano).toBe(Number(span.endTimeUnixNano));
              expect(fields.statusCode).toBe(span.status.code);
              expect(fields.flags).toBe(span.flags);
              expect(fields.attributeCount).toBe(span.attributes.length);
              expect(fields.eventCount).toBe(span.events.length);
              expect(fields.linkCount).toBe(span.links.length);
              expect(lazyAttributes(bytes, 0, bytes.length, 9)).toEqual(span.attributes);
              expect(referenceDecodeAs(ref.Span, bytes, spanFromRef)).toEqual(span);
            });
          });
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('(b) decodeExportRequest equals the generated model', () => {
    fc.assert(
      fc.property(requestArb, fc.integer(), (rs, seed) => {
        expect(decodeExportRequest(referenceBytes(rs, seed))).toEqual(rs);
      }),
      { numRuns: RUNS },
    );
  });

  it('(c) our encoder’s bytes decode with the reference to the generated model, and with ours', () => {
    fc.assert(
      fc.property(requestArb, (rs) => {
        const bytes = encodeExportRequest(rs);
        expect(referenceDecode(bytes)).toEqual(rs);
        expect(decodeExportRequest(bytes)).toEqual(rs);
      }),
      { numRuns: RUNS },
    );
  });

  it('single-message codecs round-trip spans, resources and scopes', () => {
    fc.assert(
      fc.property(requestArb, (rs) => {
        for (const r of rs) {
          expect(decodeResource(encodeResource(r.resource))).toEqual(r.resource);
          for (const ss of r.scopeSpans) {
            expect(decodeScope(encodeScope(ss.scope))).toEqual(ss.scope);
            for (const span of ss.spans) {
              const bytes = encodeSpan(span);
              expect(decodeSpan(bytes)).toEqual(span);
              expect(referenceDecodeAs(ref.Span, bytes, spanFromRef)).toEqual(span);
            }
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});
