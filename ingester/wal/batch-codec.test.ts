import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { SpanBatch } from '../../common/model/index.js';
import { SkeinError } from '../../common/errors/index.js';
import { encodeBatchRecord, decodeBatchRecord, tryDecodeBatchRecord, encodeBatchFrame, WAL_FORMAT_VERSION, RecordType } from './batch-codec.js';
import { encodeFrame } from './frame.js';

// Plain arrays, so that equality does not depend on Buffer-vs-Uint8Array or on views.
function plain(batch: SpanBatch): unknown {
  return {
    tenant: batch.tenant,
    groups: batch.groups.map((g) => ({
      resource: Array.from(g.resource),
      resourceSchemaUrl: g.resourceSchemaUrl,
      scope: Array.from(g.scope),
      scopeSchemaUrl: g.scopeSchemaUrl,
      spans: g.spans.map((s) => Array.from(s)),
    })),
  };
}

// 'binary' covers all of Unicode except lone surrogates, which UTF-8 cannot carry.
const text = fc.string({ unit: 'binary', maxLength: 40 });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength });
const batchArb: fc.Arbitrary<SpanBatch> = fc.record({
  tenant: text,
  groups: fc.array(
    fc.record({
      resource: bytes(300),
      resourceSchemaUrl: text,
      scope: bytes(60),
      scopeSchemaUrl: text,
      spans: fc.array(bytes(400), { maxLength: 12 }),
    }),
    { maxLength: 4 },
  ),
});

describe('span batch record codec', () => {
  it('round-trips any batch', () => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        const payload = encodeBatchRecord(batch);
        expect(plain(decodeBatchRecord(payload))).toEqual(plain(batch));
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips lengths that need multi-byte varints (a 200 KiB span, 300 spans)', () => {
    const big = new Uint8Array(200 * 1024).map((_, i) => i * 7);
    const many = Array.from({ length: 300 }, (_, i) => new Uint8Array([i & 0xff, i >> 8]));
    const batch: SpanBatch = {
      tenant: 'é'.repeat(100),
      groups: [{ resource: big, resourceSchemaUrl: 'https://opentelemetry.io/schemas/1.26.0', scope: new Uint8Array(0), scopeSchemaUrl: '', spans: [big, ...many] }],
    };
    expect(plain(decodeBatchRecord(encodeBatchRecord(batch)))).toEqual(plain(batch));
  });

  it('keeps a leading U+FEFF in strings (not treated as a byte order mark)', () => {
    const batch: SpanBatch = { tenant: '\uFEFFacme', groups: [] };
    expect(decodeBatchRecord(encodeBatchRecord(batch)).tenant).toBe('\uFEFFacme');
  });

  it('decoded bytes are views of the payload, not copies', () => {
    const payload = encodeBatchRecord({ tenant: 't', groups: [{ resource: new Uint8Array([1]), resourceSchemaUrl: '', scope: new Uint8Array(0), scopeSchemaUrl: '', spans: [new Uint8Array([9, 9])] }] });
    const span = decodeBatchRecord(payload).groups[0].spans[0];
    expect(span.buffer).toBe(payload.buffer);
  });

  it('encodes the layout FORMAT.md documents', () => {
    const batch: SpanBatch = {
      tenant: 'ab',
      groups: [{ resource: new Uint8Array([0xaa]), resourceSchemaUrl: 'u', scope: new Uint8Array(0), scopeSchemaUrl: '', spans: [new Uint8Array([1, 2]), new Uint8Array(0)] }],
    };
    // version, type, tenant "ab", 1 group: resource [aa], url "u", scope [], url "", 2 spans: [01 02], []
    expect(Array.from(encodeBatchRecord(batch))).toEqual([1, 1, 2, 0x61, 0x62, 1, 1, 0xaa, 1, 0x75, 0, 0, 2, 2, 1, 2, 0]);
  });

  it('encodes a frame in one buffer identical to framing the payload', () => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        expect(Array.from(encodeBatchFrame(batch))).toEqual(Array.from(encodeFrame(encodeBatchRecord(batch))));
      }),
      { numRuns: 100 },
    );
  });

  const valid = encodeBatchRecord({ tenant: 'x', groups: [{ resource: new Uint8Array([5]), resourceSchemaUrl: '', scope: new Uint8Array(0), scopeSchemaUrl: '', spans: [new Uint8Array([7])] }] });
  it.each([
    ['empty payload', [], /no version and type/],
    ['unknown version', [WAL_FORMAT_VERSION + 1, RecordType.SPAN_BATCH, 0, 0], /unknown format version 2/],
    ['unknown record type', [WAL_FORMAT_VERSION, 99, 0, 0], /unknown record type 99/],
    ['truncated', Array.from(valid.subarray(0, valid.length - 1)), /undecodable span batch/],
    ['trailing bytes', [...Array.from(valid), 0], /unexpected bytes after the batch/],
    ['invalid UTF-8 tenant', [1, 1, 2, 0xc3, 0x28, 0], /invalid UTF-8/],
    ['huge group count', [1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f], /cannot fit/],
    ['over-long varint', [1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], /longer than 5 bytes/],
  ])('rejects %s', (_name, payload, reason) => {
    const result = tryDecodeBatchRecord(new Uint8Array(payload));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
    let thrown: unknown;
    try {
      decodeBatchRecord(new Uint8Array(payload));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(SkeinError);
    expect((thrown as SkeinError).code).toBe('INTERNAL');
  });

  it('rejects every strict prefix of a valid payload (records are self-delimiting)', () => {
    fc.assert(
      fc.property(batchArb, fc.nat(), (batch, cut) => {
        const payload = encodeBatchRecord(batch);
        const prefix = payload.subarray(0, cut % payload.length);
        expect(tryDecodeBatchRecord(prefix).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (junk) => {
        const withHeader = new Uint8Array([WAL_FORMAT_VERSION, RecordType.SPAN_BATCH, ...junk]);
        expect(() => tryDecodeBatchRecord(withHeader)).not.toThrow();
        expect(() => tryDecodeBatchRecord(junk)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});
