import { describe, expect, it } from 'vitest';
import { checkRevision, prefixEnd } from './coordinator.js';

describe('prefixEnd', () => {
  it.each([
    ['/a/', [0x2f, 0x61, 0x30]],
    ['a', [0x62]],
    ['', [0]],
  ])('%j', (prefix, end) => {
    expect([...prefixEnd(new TextEncoder().encode(prefix))]).toEqual(end);
  });
  it('carries over 0xff bytes', () => {
    expect([...prefixEnd(Uint8Array.from([0x61, 0xff, 0xff]))]).toEqual([0x62]);
    expect([...prefixEnd(Uint8Array.from([0xff]))]).toEqual([0]);
  });
});

describe('checkRevision', () => {
  it.each([
    ['0', 0],
    ['12345', 12345],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ])('accepts %s', (text, value) => expect(checkRevision(text)).toBe(value));
  it('rejects revisions a JS number cannot hold exactly', () => {
    expect(() => checkRevision('9007199254740993')).toThrow(RangeError);
  });
});
