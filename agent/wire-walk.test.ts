import { describe, expect, it } from 'vitest';
import { SkeinError } from '../common/errors/index.js';
import { AnyValueType } from '../common/otlp/index.js';
import { forEachField, readAnyValue } from './wire-walk.js';

const fields = (bytes: number[]): [number, number, number, number][] => {
  const out: [number, number, number, number][] = [];
  forEachField(Uint8Array.from(bytes), 0, bytes.length, (field, wire, start, end) => {
    out.push([field, wire, start, end]);
  });
  return out;
};

describe('forEachField', () => {
  const cases: [string, number[], [number, number, number, number][]][] = [
    ['varint', [0x08, 0x96, 0x01], [[1, 0, 1, 3]]],
    ['fixed64', [0x11, 1, 2, 3, 4, 5, 6, 7, 8], [[2, 1, 1, 9]]],
    ['length-delimited (payload bounds)', [0x1a, 0x02, 0x61, 0x62], [[3, 2, 2, 4]]],
    ['fixed32', [0x25, 1, 2, 3, 4], [[4, 5, 1, 5]]],
    ['groups are skipped, nested ones too', [0x2b, 0x08, 0x01, 0x33, 0x34, 0x2c, 0x08, 0x07], [[1, 0, 7, 8]]],
    ['two-byte tag (field 16)', [0x80, 0x01, 0x05], [[16, 0, 2, 3]]],
    ['empty message', [], []],
  ];
  it.each(cases)('%s', (_name, bytes, expected) => {
    expect(fields(bytes)).toEqual(expected);
  });

  const malformed: [string, number[]][] = [
    ['truncated varint', [0x08, 0x96]],
    ['length past the end', [0x1a, 0x05, 0x61]],
    ['truncated fixed64', [0x11, 1, 2]],
    ['field number 0', [0x00, 0x01]],
    ['stray end group', [0x2c]],
    ['mismatched end group', [0x2b, 0x34]],
    ['unterminated group', [0x2b, 0x08, 0x01]],
    ['wire type 7', [0x0f]],
  ];
  it.each(malformed)('throws BAD_PAYLOAD on %s', (_name, bytes) => {
    expect(() => fields(bytes)).toThrow(SkeinError);
  });

  it('stops when the visitor returns false', () => {
    const seen: number[] = [];
    forEachField(Uint8Array.of(0x08, 1, 0x10, 2, 0x18, 3), 0, 6, (field) => {
      seen.push(field);
      return field < 2;
    });
    expect(seen).toEqual([1, 2]);
  });
});

describe('readAnyValue', () => {
  const cases: [string, number[], { type: number; offset: number; length: number }][] = [
    ['string', [0x0a, 0x02, 0x68, 0x69], { type: AnyValueType.STRING, offset: 2, length: 2 }],
    ['int', [0x18, 0x2a], { type: AnyValueType.INT, offset: 1, length: 1 }],
    ['last oneof member wins', [0x0a, 0x01, 0x68, 0x10, 0x01], { type: AnyValueType.BOOL, offset: 4, length: 1 }],
    ['empty', [], { type: AnyValueType.EMPTY, offset: 0, length: 0 }],
    ['unknown fields are ignored', [0x40, 0x01], { type: AnyValueType.EMPTY, offset: 2, length: 0 }],
  ];
  it.each(cases)('%s', (_name, bytes, expected) => {
    expect(readAnyValue(Uint8Array.from(bytes), 0, bytes.length)).toEqual(expected);
  });

  it('rejects a known member with the wrong wire type', () => {
    expect(() => readAnyValue(Uint8Array.of(0x08, 0x01), 0, 2)).toThrow(SkeinError);
  });
});
