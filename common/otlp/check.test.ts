// isWellFormedSpan must give exactly the verdict of the generic isWellFormed(…, SPAN) on every input:
// its fast paths may only shortcut, never change the answer. Damage is aimed at the bytes the fast
// paths read (tags, one-byte lengths, varint ends) as well as spread at random.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { KeyValue, Span } from '../model/index.js';
import { SPAN, isWellFormed, isWellFormedSpan } from './check.js';
import { encodeSpan } from './encode.js';
import { spanArb } from './testing/arbitraries.js';

const kv = (key: string, value: KeyValue['value']): KeyValue => ({ key, value });

const typical: Span = {
  traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
  spanId: Uint8Array.from({ length: 8 }, (_, i) => i + 1),
  traceState: '',
  parentSpanId: Uint8Array.from({ length: 8 }, (_, i) => 9 - i),
  flags: 1,
  name: 'GET /api/cart',
  kind: 2,
  startTimeUnixNano: 1_700_000_000_000_000_000n,
  endTimeUnixNano: 1_700_000_000_000_250_000n,
  attributes: [
    kv('http.request.method', { kind: 'string', value: 'GET' }),
    kv('http.response.status_code', { kind: 'int', value: 200n }),
    kv('big', { kind: 'int', value: -(2n ** 63n) }),
    kv('ok', { kind: 'bool', value: true }),
    kv('ratio', { kind: 'double', value: 0.5 }),
    kv('raw', { kind: 'bytes', value: Uint8Array.of(1, 2, 3) }),
    kv('empty', { kind: 'empty' }),
    kv('db.statement', { kind: 'string', value: 'SELECT * FROM cart_items WHERE cart_id = $1 '.repeat(4) }),
    kv('list', { kind: 'array', value: [{ kind: 'int', value: 1n }] }),
    kv('', { kind: 'string', value: '' }),
  ],
  droppedAttributesCount: 0,
  events: [{ timeUnixNano: 1n, name: 'e', attributes: [kv('k', { kind: 'string', value: 'v' })], droppedAttributesCount: 0 }],
  droppedEventsCount: 0,
  links: [],
  droppedLinksCount: 0,
  status: { code: 2, message: 'boom' },
};

function agree(buf: Uint8Array): void {
  expect(isWellFormedSpan(buf, 0, buf.length)).toBe(isWellFormed(buf, 0, buf.length, SPAN));
}

/** Byte values that mean something to the fast paths: tags they match, length/varint edges. */
const INTERESTING = [0x00, 0x01, 0x02, 0x08, 0x09, 0x0a, 0x10, 0x12, 0x18, 0x21, 0x30, 0x39, 0x3a, 0x41, 0x4a, 0x7f, 0x80, 0x81, 0xff];

describe('isWellFormedSpan agrees with isWellFormed(SPAN)', () => {
  const bytes = encodeSpan(typical);

  it('accepts the typical span', () => {
    expect(isWellFormedSpan(bytes, 0, bytes.length)).toBe(true);
  });

  it('on every truncation', () => {
    for (let n = 0; n < bytes.length; n++) agree(bytes.subarray(0, n));
  });

  it('on every single-byte change to an interesting value or a neighbour', () => {
    for (let at = 0; at < bytes.length; at++) {
      const original = bytes[at]!;
      for (const v of [...INTERESTING, (original + 1) & 0xff, (original + 255) & 0xff]) {
        const b = bytes.slice();
        b[at] = v;
        agree(b);
      }
    }
  });

  it('on a sub-range of a larger buffer', () => {
    const padded = new Uint8Array(bytes.length + 20).fill(0xff);
    padded.set(bytes, 10);
    expect(isWellFormedSpan(padded, 10, 10 + bytes.length)).toBe(true);
    for (const end of [10 + bytes.length - 1, 10 + bytes.length + 1]) {
      expect(isWellFormedSpan(padded, 10, end)).toBe(isWellFormed(padded, 10, end, SPAN));
    }
  });

  it('on generated spans with random damage (property)', () => {
    fc.assert(
      fc.property(spanArb, fc.array(fc.tuple(fc.nat(), fc.constantFrom(...INTERESTING, 0x55, 0xaa)), { maxLength: 3 }), fc.nat(), (span, edits, cut) => {
        let b = encodeSpan(span).slice();
        agree(b);
        for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
        agree(b);
        if (b.length > 0) b = b.subarray(0, cut % b.length);
        agree(b);
      }),
      { numRuns: 2000 },
    );
  });

  it('on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => agree(b)),
      { numRuns: 3000 },
    );
  });
});
