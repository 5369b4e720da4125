import { describe, expect, it } from 'vitest';
import type { Span } from '../model/index.js';
import {
  DEFAULT_SPAN_LIMITS,
  createSpanFields,
  describeRejectReason,
  encodeSpan,
  readSpanFields,
  validateSpan,
  type RejectReason,
  type SpanLimits,
} from './index.js';

const good: Span = {
  traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
  spanId: Uint8Array.from({ length: 8 }, (_, i) => i + 1),
  traceState: '',
  parentSpanId: new Uint8Array(0),
  flags: 0,
  name: 'op',
  kind: 1,
  startTimeUnixNano: 1_700_000_000_000_000_000n,
  endTimeUnixNano: 1_700_000_000_000_000_001n,
  attributes: [{ key: 'a', value: { kind: 'int', value: 1n } }],
  droppedAttributesCount: 0,
  events: [],
  droppedEventsCount: 0,
  links: [],
  droppedLinksCount: 0,
  status: { code: 0, message: '' },
};

const attrs = (n: number): Span['attributes'] => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: { kind: 'bool', value: true } }));

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function validate(bytes: Uint8Array, limits: SpanLimits = DEFAULT_SPAN_LIMITS): RejectReason | null {
  const fields = createSpanFields();
  if (!readSpanFields(bytes, fields)) return 'malformed_span';
  return validateSpan(bytes, fields, limits);
}

describe('validateSpan', () => {
  const zero16 = new Uint8Array(16);
  const zero8 = new Uint8Array(8);
  it.each<[string, Uint8Array, RejectReason | null]>([
    ['a good span', encodeSpan(good), null],
    ['a good child span', encodeSpan({ ...good, parentSpanId: Uint8Array.from([9, 9, 9, 9, 9, 9, 9, 9]) }), null],
    ['an all-zero 8-byte parent (accepted, some SDKs send it for roots)', encodeSpan({ ...good, parentSpanId: zero8 }), null],
    ['end == start', encodeSpan({ ...good, endTimeUnixNano: good.startTimeUnixNano }), null],
    ['missing trace ID', encodeSpan({ ...good, traceId: new Uint8Array(0) }), 'trace_id_length'],
    ['8-byte trace ID', encodeSpan({ ...good, traceId: zero8.map(() => 1) }), 'trace_id_length'],
    ['17-byte trace ID', encodeSpan({ ...good, traceId: new Uint8Array(17).fill(1) }), 'trace_id_length'],
    ['all-zero trace ID', encodeSpan({ ...good, traceId: zero16 }), 'trace_id_zero'],
    ['missing span ID', encodeSpan({ ...good, spanId: new Uint8Array(0) }), 'span_id_length'],
    ['16-byte span ID', encodeSpan({ ...good, spanId: new Uint8Array(16).fill(1) }), 'span_id_length'],
    ['all-zero span ID', encodeSpan({ ...good, spanId: zero8 }), 'span_id_zero'],
    ['4-byte parent', encodeSpan({ ...good, parentSpanId: Uint8Array.from([1, 2, 3, 4]) }), 'parent_span_id_length'],
    ['end before start by 1 ns', encodeSpan({ ...good, endTimeUnixNano: good.startTimeUnixNano - 1n }), 'end_before_start'],
    // Differs only in the low half: float64 times could not tell these apart.
    ['end before start, low half only', encodeSpan({ ...good, startTimeUnixNano: (5n << 32n) | 0xffffffffn, endTimeUnixNano: (5n << 32n) | 0xfffffffen }), 'end_before_start'],
    ['end before start, high half', encodeSpan({ ...good, startTimeUnixNano: 6n << 32n, endTimeUnixNano: (5n << 32n) | 0xffffffffn }), 'end_before_start'],
    ['start but no end', encodeSpan({ ...good, endTimeUnixNano: 0n }), 'end_before_start'],
    ['1024 attributes', encodeSpan({ ...good, attributes: attrs(1024) }), null],
    ['1025 attributes', encodeSpan({ ...good, attributes: attrs(1025) }), 'too_many_attributes'],
    ['over 256 KiB', encodeSpan({ ...good, name: 'x'.repeat(256 * 1024) }), 'span_too_large'],
    ['truncated bytes', encodeSpan(good).subarray(0, 10), 'malformed_span'],
    // Top-level framing fine, attribute payload garbage: readSpanFields passes, the deep check does not.
    ['garbage inside an attribute', concat(encodeSpan(good), Uint8Array.from([0x4a, 0x03, 0x0a, 0x05, 0x61])), 'malformed_span'],
    ['garbage inside an event', concat(encodeSpan(good), Uint8Array.from([0x5a, 0x02, 0x09, 0x00])), 'malformed_span'],
    ['link field with wrong wire type', concat(encodeSpan(good), Uint8Array.from([0x6a, 0x02, 0x08, 0x01])), 'malformed_span'],
    ['unknown fields only', concat(encodeSpan(good), Uint8Array.from([0xa0, 0x06, 0x01])), null],
  ])('%s → %s', (_name, bytes, expected) => {
    expect(validate(bytes)).toBe(expected);
  });

  it('honours custom limits', () => {
    const bytes = encodeSpan({ ...good, attributes: attrs(3) });
    expect(validate(bytes, { ...DEFAULT_SPAN_LIMITS, maxAttributesPerSpan: 2 })).toBe('too_many_attributes');
    expect(validate(bytes, { ...DEFAULT_SPAN_LIMITS, maxSpanBytes: bytes.length - 1 })).toBe('span_too_large');
    expect(validate(bytes, { ...DEFAULT_SPAN_LIMITS, maxSpanBytes: bytes.length })).toBeNull();
  });

  it('has sensible defaults', () => {
    expect(DEFAULT_SPAN_LIMITS).toEqual({ maxSpanBytes: 262144, maxAttributesPerSpan: 1024, maxBatchBytes: 16777216 });
  });
});

describe('describeRejectReason', () => {
  const reasons: RejectReason[] = [
    'malformed_span',
    'trace_id_length',
    'trace_id_zero',
    'span_id_length',
    'span_id_zero',
    'parent_span_id_length',
    'end_before_start',
    'span_too_large',
    'too_many_attributes',
  ];
  it('gives every reason a distinct human sentence', () => {
    const texts = reasons.map(describeRejectReason);
    expect(new Set(texts).size).toBe(reasons.length);
    for (const t of texts) expect(t.length).toBeGreaterThan(15);
    expect(describeRejectReason('trace_id_length')).toMatch(/16 bytes/);
  });
});
