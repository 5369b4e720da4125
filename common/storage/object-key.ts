// Key and argument rules shared by every ObjectStore implementation, so the three backends reject
// exactly the same inputs (object-store.ts states the rules).
import { SkeinError } from '../errors/index.js';

/** S3's own limit on a key; also keeps filesystem paths well below PATH_MAX. */
export const MAX_KEY_BYTES = 1024;
/** NAME_MAX of common Linux filesystems: one segment is one directory entry on disk. */
export const MAX_SEGMENT_BYTES = 255;

const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** A prefix may end inside a segment (`blocks/01H`), so its last part may be anything a segment starts with. */
const PREFIX_CHARS = /^[A-Za-z0-9._/-]*$/;

function invalid(what: string, value: string, why: string): SkeinError {
  return new SkeinError('INVALID_ARGUMENT', `invalid object ${what} ${JSON.stringify(value)}: ${why} (keys are relative /-separated paths of [A-Za-z0-9._-] segments, no empty, "." or ".." segment)`);
}

function checkSegment(what: string, value: string, segment: string): void {
  if (segment === '') throw invalid(what, value, 'empty segment (leading, trailing or doubled "/")');
  if (segment === '.' || segment === '..') throw invalid(what, value, `"${segment}" segment`);
  if (!SEGMENT.test(segment)) throw invalid(what, value, `segment ${JSON.stringify(segment)} has a character outside [A-Za-z0-9._-]`);
  if (segment.length > MAX_SEGMENT_BYTES) throw invalid(what, value, `segment longer than ${MAX_SEGMENT_BYTES} bytes`);
}

/** Throws INVALID_ARGUMENT unless `key` is a valid object key; returns its segments. */
export function validateKey(key: string): string[] {
  if (typeof key !== 'string' || key === '') throw invalid('key', String(key), 'empty');
  if (key.length > MAX_KEY_BYTES) throw invalid('key', key.slice(0, 64) + '…', `longer than ${MAX_KEY_BYTES} bytes`);
  const segments = key.split('/');
  for (const s of segments) checkSegment('key', key, s);
  return segments;
}

/** True when `key` is a valid object key (used to skip foreign objects and temp files when listing). */
export function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * Throws INVALID_ARGUMENT unless `prefix` could start a valid key: '' (everything), whole segments
 * ending in '/', or whole segments followed by the start of one more (`blocks/01H`).
 */
export function validatePrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw invalid('prefix', String(prefix), 'not a string');
  if (prefix === '') return;
  if (prefix.length > MAX_KEY_BYTES) throw invalid('prefix', prefix.slice(0, 64) + '…', `longer than ${MAX_KEY_BYTES} bytes`);
  if (!PREFIX_CHARS.test(prefix)) throw invalid('prefix', prefix, 'a character outside [A-Za-z0-9._/-]');
  const segments = prefix.split('/');
  // Every part before the last '/' is a whole segment; the last part is a possibly partial one.
  for (const s of segments.slice(0, -1)) checkSegment('prefix', prefix, s);
}

/** Throws INVALID_ARGUMENT unless `offset` and `length` are non-negative safe integers. */
export function validateRange(key: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new SkeinError('INVALID_ARGUMENT', `invalid range offset ${offset} for object ${JSON.stringify(key)}: must be a non-negative integer`);
  if (!Number.isSafeInteger(length) || length < 0) throw new SkeinError('INVALID_ARGUMENT', `invalid range length ${length} for object ${JSON.stringify(key)}: must be a non-negative integer`);
}

/** Keys are ASCII, so UTF-16 code-unit order is byte order. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function objectNotFound(key: string, where: string): SkeinError {
  return new SkeinError('NOT_FOUND', `object ${JSON.stringify(key)} not found in ${where}`);
}

export function rangePastEnd(key: string, offset: number, size: number): SkeinError {
  return new SkeinError('INVALID_ARGUMENT', `range of object ${JSON.stringify(key)} starts at ${offset}, past its end (${size} bytes): read the object's size with stat() first`);
}

/**
 * The bytes as a plain Uint8Array that owns its memory: a view when the Buffer spans its whole
 * ArrayBuffer, else a copy (small Buffers are slices of a shared pool, which `.buffer` would expose).
 */
export function ownBytes(buffer: Uint8Array): Uint8Array {
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) return new Uint8Array(buffer.buffer, 0, buffer.byteLength);
  const copy = new Uint8Array(buffer.byteLength);
  copy.set(buffer);
  return copy;
}
