import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { crc32c } from '@node-rs/crc32';
import { encodeFrame, readFrames, crc32cSlow, FRAME_HEADER_BYTES, MAX_PAYLOAD_BYTES } from './frame.js';

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Offsets at which each frame starts, plus the total length. */
function boundaries(frames: readonly Uint8Array[]): number[] {
  const out = [0];
  for (const f of frames) out.push(out.at(-1)! + f.length);
  return out;
}

const payloads = fc.array(fc.uint8Array({ minLength: 2, maxLength: 300 }), { minLength: 1, maxLength: 8 });

describe('frame encoding', () => {
  it('writes little-endian length and CRC32C of the payload', () => {
    const payload = new TextEncoder().encode('123456789');
    const frame = encodeFrame(payload);
    const view = new DataView(frame.buffer, frame.byteOffset);
    expect(view.getUint32(0, true)).toBe(9);
    expect(view.getUint32(4, true)).toBe(0xe3069283); // the published CRC-32C check value
    expect(Array.from(frame.subarray(FRAME_HEADER_BYTES))).toEqual(Array.from(payload));
  });

  it.each([0, 1, MAX_PAYLOAD_BYTES + 1])('refuses a payload of %d bytes', (n) => {
    // Only the length is consulted before refusing, so a stand-in avoids allocating 128 MiB.
    const payload = n > 1000 ? ({ length: n } as Uint8Array) : new Uint8Array(n);
    expect(() => encodeFrame(payload)).toThrow(RangeError);
  });

  it('the byte-at-a-time CRC used for torn-tail analysis equals the native one', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        expect(crc32cSlow(bytes)).toBe(crc32c(bytes) >>> 0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('readFrames', () => {
  it('returns every frame of a clean buffer, from any frame boundary', () => {
    fc.assert(
      fc.property(payloads, fc.nat(), (ps, pick) => {
        const frames = ps.map(encodeFrame);
        const buf = concat(frames);
        const starts = boundaries(frames);
        const from = pick % ps.length;
        const scan = readFrames(buf, starts[from]);
        expect(scan.end).toEqual({ kind: 'clean' });
        expect(scan.frames.map((f) => f.offset)).toEqual(starts.slice(from, -1));
        expect(scan.frames.map((f) => Array.from(f.payload))).toEqual(ps.slice(from).map((p) => Array.from(p)));
      }),
      { numRuns: 300 },
    );
  });

  it('a cut at any offset keeps exactly the complete frames and reports the rest as torn', () => {
    fc.assert(
      fc.property(payloads, fc.nat(), (ps, at) => {
        const frames = ps.map(encodeFrame);
        const buf = concat(frames);
        const cut = at % (buf.length + 1);
        const starts = boundaries(frames);
        const complete = starts.filter((s) => s > 0 && s <= cut).length;
        const scan = readFrames(buf.subarray(0, cut));
        expect(scan.frames.length).toBe(complete);
        if (starts.includes(cut)) expect(scan.end).toEqual({ kind: 'clean' });
        else expect(scan.end).toEqual({ kind: 'torn', offset: starts[complete] });
      }),
      { numRuns: 1000 },
    );
  });

  it('a flipped byte anywhere in frame k keeps frames before k and reports corruption at k', () => {
    fc.assert(
      fc.property(payloads, fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (ps, pickFrame, pickByte, mask) => {
        const frames = ps.map(encodeFrame);
        const buf = concat(frames);
        const starts = boundaries(frames);
        const k = pickFrame % frames.length;
        const at = starts[k] + (pickByte % frames[k].length);
        buf[at] ^= mask;
        const scan = readFrames(buf);
        expect(scan.frames.length).toBe(k);
        expect(scan.end.kind).toBe('corrupt');
        expect(scan.end.kind === 'corrupt' && scan.end.offset).toBe(starts[k]);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['a zero-filled tail (file extended, data never written)', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 'torn'],
    ['an incomplete header', [5, 0, 0], 'torn'],
    ['length 1 (no room for version and type)', [1, 0, 0, 0, 0, 0, 0, 0, 7], 'corrupt'],
    ['length over the maximum', [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 7], 'corrupt'],
    ['zero length with non-zero bytes after it', [0, 0, 0, 0, 0, 0, 0, 0, 7], 'corrupt'],
  ])('classifies %s after a good frame', (_name, tail, kind) => {
    const good = encodeFrame(new Uint8Array([1, 1, 0, 0]));
    const scan = readFrames(concat([good, new Uint8Array(tail)]));
    expect(scan.frames.length).toBe(1);
    expect(scan.end.kind).toBe(kind);
    expect(scan.end.kind !== 'clean' && scan.end.offset).toBe(good.length);
  });

  it('reports a length that overruns a checksummed payload as corruption, not a torn tail', () => {
    const frame = encodeFrame(new Uint8Array([1, 1, 0, 0, 9, 9]));
    new DataView(frame.buffer).setUint32(0, 600, true);
    const scan = readFrames(frame);
    expect(scan.end).toMatchObject({ kind: 'corrupt', offset: 0, reason: expect.stringMatching(/disagrees/) as unknown });
  });
});
