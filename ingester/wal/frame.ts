// Record framing for WAL segments (FORMAT.md §Framing): `[u32 length][u32 CRC32C(payload)][payload]`,
// little-endian. Pure: works on byte arrays only, so recovery logic is testable without a disk.
import { crc32c } from '@node-rs/crc32';

export const FRAME_HEADER_BYTES = 8;
/** Every payload starts with a format version byte and a record type byte. */
export const MIN_PAYLOAD_BYTES = 2;
/**
 * Upper bound on one payload. Lengths above it cannot have been written by us, so they are treated
 * as corruption rather than as a frame still being written.
 */
export const MAX_PAYLOAD_BYTES = 128 * 1024 * 1024;

export type FrameEnd =
  | { readonly kind: 'clean' }
  /** The bytes from `offset` to the end are an unfinished frame: what a crash mid-write leaves. */
  | { readonly kind: 'torn'; readonly offset: number }
  /** The frame at `offset` is damaged; nothing from there on can be trusted. */
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string };

export interface Frame {
  /** Offset of the frame header within the scanned buffer. */
  readonly offset: number;
  /** A view into the scanned buffer (not a copy). */
  readonly payload: Uint8Array;
}

export interface FrameScan {
  /** Every frame before `end`, each checksum-verified. */
  readonly frames: Frame[];
  readonly end: FrameEnd;
}

/** Frames `payload` in a new buffer. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  checkPayloadLength(payload.length);
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  frame.set(payload, FRAME_HEADER_BYTES);
  sealFrame(frame);
  return frame;
}

/**
 * Writes the header of a frame whose payload was encoded in place after FRAME_HEADER_BYTES of
 * headroom. This is how the append path gets one allocation per record.
 */
export function sealFrame(frame: Uint8Array): void {
  const length = frame.length - FRAME_HEADER_BYTES;
  checkPayloadLength(length);
  const view = new DataView(frame.buffer, frame.byteOffset, FRAME_HEADER_BYTES);
  view.setUint32(0, length, true);
  view.setUint32(4, crc32c(frame.subarray(FRAME_HEADER_BYTES)) >>> 0, true);
}

function checkPayloadLength(length: number): void {
  if (length < MIN_PAYLOAD_BYTES || length > MAX_PAYLOAD_BYTES) {
    throw new RangeError(`WAL frame payload must be ${MIN_PAYLOAD_BYTES}..${MAX_PAYLOAD_BYTES} bytes, got ${length}`);
  }
}

/**
 * Reads consecutive frames of `buf` from `start` and says how the buffer ends. Torn versus corrupt
 * (FORMAT.md §Replay): a torn end is one that a write cut short could have left — an incomplete
 * header, a length reaching past the end of the buffer, or an all-zero tail (file extended, data not
 * yet written). Everything else that fails a check is corruption.
 */
export function readFrames(buf: Uint8Array, start = 0): FrameScan {
  const frames: Frame[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let offset = start;
  for (;;) {
    const remaining = buf.length - offset;
    if (remaining === 0) return { frames, end: { kind: 'clean' } };
    if (remaining < FRAME_HEADER_BYTES) return { frames, end: { kind: 'torn', offset } };
    const length = view.getUint32(offset, true);
    const checksum = view.getUint32(offset + 4, true);
    if (length < MIN_PAYLOAD_BYTES || length > MAX_PAYLOAD_BYTES) {
      if (isZeroFrom(buf, offset)) return { frames, end: { kind: 'torn', offset } };
      return { frames, end: { kind: 'corrupt', offset, reason: `impossible payload length ${length}` } };
    }
    const payloadStart = offset + FRAME_HEADER_BYTES;
    if (length > buf.length - payloadStart) {
      // A length reaching past the end is what a cut-short write leaves, but a damaged length field
      // looks the same. Tell them apart: if some complete prefix of what follows carries the stored
      // checksum, the payload was whole and the length is what broke.
      if (hasChecksummedPrefix(buf, payloadStart, checksum, view)) {
        return { frames, end: { kind: 'corrupt', offset, reason: `length field ${length} disagrees with the checksummed payload` } };
      }
      return { frames, end: { kind: 'torn', offset } };
    }
    const payload = buf.subarray(payloadStart, payloadStart + length);
    if (crc32c(payload) >>> 0 !== checksum) {
      return { frames, end: { kind: 'corrupt', offset, reason: 'checksum mismatch' } };
    }
    frames.push({ offset, payload });
    offset = payloadStart + length;
  }
}

function isZeroFrom(buf: Uint8Array, offset: number): boolean {
  for (let i = offset; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * True when `buf[from, i)` has CRC32C `checksum` for some `i` at which a frame could plausibly
 * follow (end of buffer, an incomplete header, or a header with a possible length). Needs the CRC of
 * every prefix, so it runs a byte-at-a-time CRC here; it is reached only on a damaged or torn tail.
 */
function hasChecksummedPrefix(buf: Uint8Array, from: number, checksum: number, view: DataView): boolean {
  const target = ~checksum >>> 0; // compare against the un-finalised register
  let crc = 0xffffffff;
  for (let i = from; i < buf.length; ) {
    crc = (CRC32C_TABLE[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8)) >>> 0;
    i++;
    if (crc !== target || i - from < MIN_PAYLOAD_BYTES) continue;
    const rest = buf.length - i;
    if (rest < FRAME_HEADER_BYTES) return true;
    const next = view.getUint32(i, true);
    if (next >= MIN_PAYLOAD_BYTES && next <= MAX_PAYLOAD_BYTES) return true;
  }
  return false;
}

/** Table for the reflected Castagnoli polynomial, the same CRC as @node-rs/crc32's crc32c. */
const CRC32C_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Byte-at-a-time CRC32C; exported for the test that pins it to the native implementation. */
export function crc32cSlow(buf: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < buf.length; i++) crc = (CRC32C_TABLE[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8)) >>> 0;
  return ~crc >>> 0;
}
