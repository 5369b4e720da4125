// Constants and framing of block format version 1 (FORMAT.md): object names, headers, the page
// frame with its CRC32C, and the codec. Pure: byte arrays in, byte arrays out (zlib's zstd is
// computation, not I/O).
import { crc32c } from '@node-rs/crc32';
import zlib from 'node:zlib';
import { MalformedError } from './bytes.js';

export const FORMAT_VERSION = 1;

export const DATA_OBJECT = 'data';
export const INDEX_OBJECT = 'index';
export const BLOOM_OBJECT = 'bloom';
export const META_OBJECT = 'meta.json';

/** ASCII magics at the start of each binary object. */
export const DATA_MAGIC = 0x44424b53; // "SKBD" little-endian
export const INDEX_MAGIC = 0x49424b53; // "SKBI"
export const BLOOM_MAGIC = 0x42424b53; // "SKBB"

export const DATA_HEADER_BYTES = 8;
export const INDEX_HEADER_BYTES = 20;
export const BLOOM_HEADER_BYTES = 16;
export const PAGE_HEADER_BYTES = 16;

export const Codec = { NONE: 0, ZSTD: 1 } as const;
export type Codec = (typeof Codec)[keyof typeof Codec];

/** Page types (the third header byte); a reader checks the type it expects. */
export const PageType = { SPAN: 1, GROUP: 2, NAME: 3, KIND: 4, STATUS: 5, DURATION: 6, ATTRIBUTE: 7, GROUPS: 8 } as const;
export type PageType = (typeof PageType)[keyof typeof PageType];

export const PAGE_TYPE_NAMES: Record<number, string> = { 1: 'span', 2: 'group', 3: 'name', 4: 'kind', 5: 'status', 6: 'duration', 7: 'attribute', 8: 'groups' };

export interface CodecOptions {
  readonly codec: Codec;
  /** zstd level (ignored for NONE). */
  readonly level: number;
}

/** A page whose compressed payload keeps more than this share of the raw size is stored uncompressed. */
export const INCOMPRESSIBLE = 0.9;

export function compress(raw: Uint8Array, options: CodecOptions): Uint8Array {
  if (options.codec === Codec.NONE) return raw;
  return zlib.zstdCompressSync(raw, { params: { [zlib.constants.ZSTD_c_compressionLevel]: options.level } });
}

/** Decompresses `stored` (already checksum-verified) into exactly `rawLength` bytes, 8-byte aligned. */
export function decompress(codec: number, stored: Uint8Array, rawLength: number): Uint8Array {
  let out: Uint8Array;
  if (codec === Codec.NONE) {
    out = stored;
  } else if (codec === Codec.ZSTD) {
    try {
      // One output chunk of the known size: no growing and concatenating of 16 KiB chunks.
      out = rawLength === 0 ? new Uint8Array(0) : zlib.zstdDecompressSync(stored, { maxOutputLength: Math.max(rawLength, 1), chunkSize: Math.max(rawLength, 64) });
    } catch (e) {
      throw new MalformedError(`zstd payload does not decompress (${e instanceof Error ? e.message : String(e)})`);
    }
  } else {
    throw new MalformedError(`unknown codec ${codec}`);
  }
  if (out.length !== rawLength) throw new MalformedError(`payload is ${out.length} bytes once decompressed, header says ${rawLength}`);
  // Typed-array views over the payload need aligned offsets; pooled Buffers may not be.
  if (out.byteOffset % 8 !== 0) out = new Uint8Array(out);
  return out;
}

/** CRC32C of `header[0, headerCrcAt)` followed by `payload`: the checksum every frame carries. */
export function frameChecksum(header: Uint8Array, headerCrcAt: number, payload: Uint8Array): number {
  return crc32c(payload, crc32c(header.subarray(0, headerCrcAt))) >>> 0;
}

/**
 * A page: 16-byte header (version, codec, type, 0, raw length, stored length, CRC32C of header
 * bytes 0–11 and the stored payload) followed by the stored payload.
 */
export function encodePage(type: PageType, raw: Uint8Array, options: CodecOptions): Uint8Array {
  let stored = compress(raw, options);
  let codec: number = options.codec;
  // Random IDs and durations barely compress: kept raw, readers skip the decompression.
  if (codec !== Codec.NONE && stored.length > raw.length * INCOMPRESSIBLE) {
    stored = raw;
    codec = Codec.NONE;
  }
  const page = new Uint8Array(PAGE_HEADER_BYTES + stored.length);
  const view = new DataView(page.buffer);
  page[0] = FORMAT_VERSION;
  page[1] = codec;
  page[2] = type;
  page[3] = 0;
  view.setUint32(4, raw.length, true);
  view.setUint32(8, stored.length, true);
  page.set(stored, PAGE_HEADER_BYTES);
  view.setUint32(12, frameChecksum(page, 12, page.subarray(PAGE_HEADER_BYTES)), true);
  return page;
}

export type PageCheck =
  | { readonly ok: true; readonly raw: Uint8Array }
  | { readonly ok: false; readonly kind: 'truncated' | 'checksum' | 'version' | 'malformed'; readonly reason: string };

/** Verifies and decodes one page read from `data` (exactly the directory's byte range). */
export function decodePage(bytes: Uint8Array, expectedLength: number, expectedType: PageType): PageCheck {
  if (bytes.length < expectedLength) return { ok: false, kind: 'truncated', reason: `page is ${bytes.length} bytes, the index says ${expectedLength}` };
  if (bytes.length < PAGE_HEADER_BYTES) return { ok: false, kind: 'truncated', reason: `page shorter than its ${PAGE_HEADER_BYTES}-byte header` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rawLength = view.getUint32(4, true);
  const storedLength = view.getUint32(8, true);
  if (PAGE_HEADER_BYTES + storedLength !== expectedLength) {
    return { ok: false, kind: 'malformed', reason: `page header says ${storedLength} stored bytes, the index says ${expectedLength - PAGE_HEADER_BYTES}` };
  }
  const payload = bytes.subarray(PAGE_HEADER_BYTES, PAGE_HEADER_BYTES + storedLength);
  const crc = view.getUint32(12, true);
  if (frameChecksum(bytes, 12, payload) !== crc) return { ok: false, kind: 'checksum', reason: 'CRC32C mismatch' };
  // Checked after the CRC: a damaged version byte is a checksum failure, an intact unknown one is a version problem.
  if (bytes[0] !== FORMAT_VERSION) return { ok: false, kind: 'version', reason: `page format version ${bytes[0]} (this reader knows ${FORMAT_VERSION})` };
  if (bytes[2] !== expectedType) return { ok: false, kind: 'malformed', reason: `page type ${bytes[2]}, expected ${expectedType} (${PAGE_TYPE_NAMES[expectedType]})` };
  try {
    return { ok: true, raw: decompress(bytes[1]!, payload, rawLength) };
  } catch (e) {
    return { ok: false, kind: 'malformed', reason: e instanceof Error ? e.message : String(e) };
  }
}

// ---- object keys --------------------------------------------------------------------------------

const KEEP = /^[A-Za-z0-9.-]$/;

/**
 * The tenant as one object-key segment: characters outside [A-Za-z0-9.-] (tenant IDs may also hold
 * ! _ * ' ( )) become `_` and two uppercase hex digits, so the mapping is reversible and two
 * tenants never share a prefix. `single-tenant` and other plain IDs are unchanged.
 */
export function tenantKeySegment(tenant: string): string {
  let out = '';
  for (const ch of tenant) {
    if (KEEP.test(ch)) {
      out += ch;
    } else {
      for (const b of Buffer.from(ch, 'utf8')) out += '_' + b.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  // '.' and '..' are not valid tenants, but never produce such a segment.
  if (out === '.' || out === '..') out = out.replaceAll('.', '_2E');
  return out;
}

const BLOCK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isValidBlockId(blockId: string): boolean {
  return BLOCK_ID.test(blockId);
}

/** `<tenant>/<shard>/<blockId>/`: every object of the block lives under this prefix. */
export function blockPrefix(tenant: string, shard: number, blockId: string): string {
  return `${tenantKeySegment(tenant)}/${shard}/${blockId}/`;
}

export function blockObjectKey(tenant: string, shard: number, blockId: string, object: string): string {
  return blockPrefix(tenant, shard, blockId) + object;
}
