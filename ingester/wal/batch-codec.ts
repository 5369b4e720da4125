// The span-batch record (FORMAT.md §Record type 1). Pure: bytes in, bytes out. Span, resource and
// scope bytes are already-encoded OTLP protobuf, so they are copied as opaque length-prefixed
// blobs; nothing is re-encoded on the way in and nothing is copied on the way out.
import { Buffer } from 'node:buffer';
import type { SpanBatch, SpanGroup } from '../../common/model/index.js';
import { SkeinError } from '../../common/errors/index.js';
import { FRAME_HEADER_BYTES, MAX_PAYLOAD_BYTES, sealFrame } from './frame.js';

/** The first payload byte. Bump it for any change a reader of the previous version would misread. */
export const WAL_FORMAT_VERSION = 1;

/** The second payload byte. */
export const RecordType = {
  SPAN_BATCH: 1,
} as const;

export type BatchDecodeResult = { readonly ok: true; readonly batch: SpanBatch } | { readonly ok: false; readonly reason: string };

/** Encodes `batch` as a record payload (no frame header). */
export function encodeBatchRecord(batch: SpanBatch): Uint8Array {
  return encodeWithHeadroom(batch, 0);
}

/**
 * Encodes `batch` straight into a complete frame: at most one allocation per record on the append
 * path. `alloc`, when given, supplies the buffer (at least the size asked for; the frame is a view
 * of its start), so the caller can reuse buffers whose frames have been written.
 * Throws SkeinError PAYLOAD_TOO_LARGE when the payload exceeds what a frame may hold.
 */
export function encodeBatchFrame(batch: SpanBatch, alloc?: (size: number) => Buffer): Uint8Array {
  const frame = encodeWithHeadroom(batch, FRAME_HEADER_BYTES, alloc);
  sealFrame(frame);
  return frame;
}

/** Decodes a record payload; throws SkeinError INTERNAL naming what is wrong with it. */
export function decodeBatchRecord(payload: Uint8Array): SpanBatch {
  const result = tryDecodeBatchRecord(payload);
  if (!result.ok) throw new SkeinError('INTERNAL', `WAL record: ${result.reason}`);
  return result.batch;
}

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function blobSize(length: number): number {
  return varintSize(length) + length;
}

function encodeWithHeadroom(batch: SpanBatch, headroom: number, alloc?: (size: number) => Buffer): Buffer {
  let size = 2 + blobSize(Buffer.byteLength(batch.tenant, 'utf8')) + varintSize(batch.groups.length);
  for (const g of batch.groups) {
    size += blobSize(g.resource.length) + blobSize(Buffer.byteLength(g.resourceSchemaUrl, 'utf8'));
    size += blobSize(g.scope.length) + blobSize(Buffer.byteLength(g.scopeSchemaUrl, 'utf8'));
    size += varintSize(g.spans.length);
    for (const span of g.spans) size += blobSize(span.length);
  }
  if (size > MAX_PAYLOAD_BYTES) {
    throw new SkeinError('PAYLOAD_TOO_LARGE', `WAL record of ${size} bytes exceeds the ${MAX_PAYLOAD_BYTES}-byte limit`);
  }
  // Unsafe allocation is fine: every byte is written below, and the final check proves it.
  const total = headroom + size;
  const out = alloc === undefined ? Buffer.allocUnsafe(total) : alloc(total).subarray(0, total);
  let o = headroom;
  out[o++] = WAL_FORMAT_VERSION;
  out[o++] = RecordType.SPAN_BATCH;
  o = putString(out, o, batch.tenant);
  o = putVarint(out, o, batch.groups.length);
  for (const g of batch.groups) {
    o = putBytes(out, o, g.resource);
    o = putString(out, o, g.resourceSchemaUrl);
    o = putBytes(out, o, g.scope);
    o = putString(out, o, g.scopeSchemaUrl);
    o = putVarint(out, o, g.spans.length);
    for (const span of g.spans) o = putBytes(out, o, span);
  }
  if (o !== out.length) throw new SkeinError('INTERNAL', `WAL record encoder wrote ${o - headroom} of ${size} bytes`);
  return out;
}

function putVarint(out: Buffer, o: number, n: number): number {
  while (n >= 0x80) {
    out[o++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128); // not >>>: lengths may pass 2^31 in principle
  }
  out[o++] = n;
  return o;
}

function putBytes(out: Buffer, o: number, bytes: Uint8Array): number {
  o = putVarint(out, o, bytes.length);
  out.set(bytes, o);
  return o + bytes.length;
}

function putString(out: Buffer, o: number, s: string): number {
  o = putVarint(out, o, Buffer.byteLength(s, 'utf8'));
  return o + out.write(s, o, 'utf8');
}

// fatal: a record whose checksum matched but whose text is not UTF-8 was not written by us.
// ignoreBOM: a leading U+FEFF is data, not a marker to strip.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Truncated extends Error {}

/** Decodes a record payload, or says why it cannot be decoded. Never throws. */
export function tryDecodeBatchRecord(payload: Uint8Array): BatchDecodeResult {
  if (payload.length < 2) return { ok: false, reason: `payload of ${payload.length} bytes has no version and type` };
  if (payload[0] !== WAL_FORMAT_VERSION) {
    return { ok: false, reason: `unknown format version ${payload[0]} (this build reads version ${WAL_FORMAT_VERSION})` };
  }
  if (payload[1] !== RecordType.SPAN_BATCH) return { ok: false, reason: `unknown record type ${payload[1]}` };
  let o = 2;
  const end = payload.length;

  function varint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      if (o >= end) throw new Truncated('varint runs past the end');
      const b = payload[o++];
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 128;
    }
    throw new Truncated('varint longer than 5 bytes');
  }
  function blob(): Uint8Array {
    const length = varint();
    if (length > end - o) throw new Truncated(`length ${length} runs past the end`);
    const bytes = payload.subarray(o, o + length);
    o += length;
    return bytes;
  }
  function text(): string {
    const bytes = blob();
    return bytes.length === 0 ? '' : utf8.decode(bytes);
  }
  // Counts are checked against the bytes left (each item takes at least one) so a damaged count
  // cannot make the decoder allocate a huge array.
  function count(minItemBytes: number): number {
    const n = varint();
    if (n * minItemBytes > end - o) throw new Truncated(`count ${n} cannot fit in the ${end - o} bytes left`);
    return n;
  }

  try {
    const tenant = text();
    const groupCount = count(5);
    const groups: SpanGroup[] = new Array<SpanGroup>(groupCount);
    for (let g = 0; g < groupCount; g++) {
      const resource = blob();
      const resourceSchemaUrl = text();
      const scope = blob();
      const scopeSchemaUrl = text();
      const spanCount = count(1);
      const spans = new Array<Uint8Array>(spanCount);
      for (let s = 0; s < spanCount; s++) spans[s] = blob();
      groups[g] = { resource, resourceSchemaUrl, scope, scopeSchemaUrl, spans };
    }
    if (o !== end) return { ok: false, reason: `${end - o} unexpected bytes after the batch` };
    return { ok: true, batch: { tenant, groups } };
  } catch (e) {
    if (e instanceof Truncated) return { ok: false, reason: `undecodable span batch: ${e.message}` };
    if (e instanceof TypeError) return { ok: false, reason: 'undecodable span batch: invalid UTF-8 text' };
    throw e;
  }
}
