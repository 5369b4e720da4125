// Garbage in: truncated, mutated and random bytes must only ever produce SkeinError('BAD_PAYLOAD')
// (or a false/'malformed_span' answer), never a RangeError, TypeError or a hang; and the lazy path
// must accept exactly what the full decoder can decode, so every span ingest accepts can be
// decoded at query time.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SkeinError } from '../errors/index.js';
import {
  DEFAULT_SPAN_LIMITS,
  createSpanFields,
  decodeExportRequest,
  decodeResource,
  decodeScope,
  decodeSpan,
  encodeExportRequest,
  forEachAttribute,
  readServiceName,
  readSpanFields,
  scanExportRequest,
  validateSpan,
} from './index.js';
import { SPAN, isWellFormed } from './check.js';
import { requestArb } from './testing/arbitraries.js';
import { injectUnknownFields, rngFrom } from './testing/inject.js';
import { ref, referenceEncode } from './testing/reference.js';

type Mutation =
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 6 }) }),
);

function mutate(buf: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = buf;
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === 'set') {
      b = b.slice();
      b[at] = m.value;
    } else if (m.op === 'truncate') {
      b = b.slice(0, at);
    } else if (m.op === 'insert') {
      const out = new Uint8Array(b.length + m.bytes.length);
      out.set(b.subarray(0, at));
      out.set(m.bytes, at);
      out.set(b.subarray(at), at + m.bytes.length);
      b = out;
    } else {
      const removed = Math.min(m.len, b.length - at);
      const out = new Uint8Array(b.length - removed);
      out.set(b.subarray(0, at));
      out.set(b.subarray(at + removed), at);
      b = out;
    }
  }
  return b;
}

/** Runs fn; returns true if it succeeded, false if it threw BAD_PAYLOAD; fails on anything else. */
function succeeds(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (!(e instanceof SkeinError) || e.code !== 'BAD_PAYLOAD') throw e;
    return false;
  }
}

function checkEverything(buf: Uint8Array): void {
  const decodedOk = succeeds(() => decodeExportRequest(buf));
  let scanned: ReturnType<typeof scanExportRequest> | undefined;
  const scannedOk = succeeds(() => (scanned = scanExportRequest(buf)));
  if (!scannedOk) {
    expect(decodedOk).toBe(false);
    return;
  }
  const fields = createSpanFields();
  let allSpansDecodable = true;
  for (const rs of scanned!.resourceSpans) {
    // The scanner checked resource and scope: reading them must not throw.
    decodeResource(rs.resource);
    readServiceName(rs.resource);
    for (const ss of rs.scopeSpans) {
      decodeScope(ss.scope);
      for (const span of ss.spans) {
        const framed = readSpanFields(span, fields);
        const wellFormed = isWellFormed(span, 0, span.length, SPAN);
        const decodable = succeeds(() => decodeSpan(span));
        // The structural check and the full decoder accept exactly the same spans.
        expect(wellFormed).toBe(decodable);
        if (wellFormed) expect(framed).toBe(true);
        if (!decodable) allSpansDecodable = false;
        if (framed) {
          const reason = validateSpan(span, fields, { ...DEFAULT_SPAN_LIMITS, maxSpanBytes: Infinity, maxAttributesPerSpan: Infinity });
          if (reason === null) {
            expect(decodable).toBe(true);
            forEachAttribute(span, 0, span.length, 9, () => undefined);
          }
          if (!wellFormed) expect(reason).not.toBeNull();
        }
      }
    }
  }
  // Whole-request decode succeeds exactly when the scan and every span do.
  expect(decodedOk).toBe(allSpansDecodable);
}

describe('malformed input never throws anything but BAD_PAYLOAD (property)', () => {
  it('mutated reference encodings (with unknown fields)', () => {
    fc.assert(
      fc.property(requestArb, fc.integer(), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (rs, seed, mutations) => {
        const buf = injectUnknownFields(referenceEncode(rs), ref.ExportRequest, rngFrom(seed));
        checkEverything(mutate(buf, mutations));
      }),
      { numRuns: 400 },
    );
  });

  it('mutated encodings of our own encoder', () => {
    fc.assert(
      fc.property(requestArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (rs, mutations) => {
        checkEverything(mutate(encodeExportRequest(rs), mutations));
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (buf) => {
        checkEverything(buf);
        const fields = createSpanFields();
        if (readSpanFields(buf, fields)) validateSpan(buf, fields, DEFAULT_SPAN_LIMITS);
        succeeds(() => decodeSpan(buf));
        succeeds(() => forEachAttribute(buf, 0, buf.length, 9, () => undefined));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('nesting bombs', () => {
  /** A span with one attribute whose value nests `depth` arrays, built bottom-up by hand. */
  function nestedSpan(depth: number): Uint8Array {
    let any: number[] = [];
    const lenPrefix = (n: number): number[] => {
      const out: number[] = [];
      while (n >= 0x80) {
        out.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      out.push(n);
      return out;
    };
    for (let i = 0; i < depth; i++) {
      const arrayValue = [0x0a, ...lenPrefix(any.length), ...any]; // ArrayValue.values = 1
      any = [0x2a, ...lenPrefix(arrayValue.length), ...arrayValue]; // AnyValue.array_value = 5
    }
    const kv = [0x0a, 0x01, 0x6b, 0x12, ...lenPrefix(any.length), ...any];
    return Uint8Array.from([0x4a, ...lenPrefix(kv.length), ...kv]);
  }

  it('accepts moderate nesting', () => {
    const span = nestedSpan(40);
    expect(isWellFormed(span, 0, span.length, SPAN)).toBe(true);
    expect(decodeSpan(span).attributes).toHaveLength(1);
  });

  it.each([60, 2000])('rejects %i nested arrays with BAD_PAYLOAD, not a stack overflow', (depth) => {
    const span = nestedSpan(depth);
    expect(isWellFormed(span, 0, span.length, SPAN)).toBe(false);
    expect(() => decodeSpan(span)).toThrow(/nested deeper than 100/);
  });

  it('rejects deeply nested groups', () => {
    const bytes = Uint8Array.from([...new Array<number>(5000).fill(0x1b), ...new Array<number>(5000).fill(0x1c)]);
    expect(() => scanExportRequest(bytes)).toThrow(/groups nested deeper than 100/);
    expect(readSpanFields(bytes, createSpanFields())).toBe(false);
  });
});
