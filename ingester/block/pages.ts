// Raw (decompressed) page payloads, FORMAT.md §Pages. Fixed-width little-endian arrays rather than
// varints: zstd removes the zero high bytes about as well as varints would, and a reader decodes
// a page by taking a typed-array view (a copy only on a big-endian host), not by a byte loop.
import { ByteWriter, MalformedError, type ByteReader } from './bytes.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Smallest of 1, 2, 4 bytes that holds every value below `max + 1`. */
export function widthFor(max: number): 1 | 2 | 4 {
  return max < 0x100 ? 1 : max < 0x10000 ? 2 : 4;
}

function writeUints(w: ByteWriter, values: ArrayLike<number>, start: number, count: number, width: number): void {
  for (let i = 0; i < count; i++) {
    const v = values[start + i]!;
    if (width === 1) w.u8(v);
    else if (width === 2) w.u16(v);
    else w.u32(v);
  }
}

/** A view (or, on a big-endian host or an unaligned offset, a copy) of `count` uints of `width` at raw[off]. */
function readUints(raw: Uint8Array, off: number, count: number, width: number): Uint8Array | Uint16Array | Uint32Array {
  if (off + count * width > raw.length) throw new MalformedError(`array of ${count} × ${width} bytes runs past the page end`);
  if (width === 1) return raw.subarray(off, off + count);
  const abs = raw.byteOffset + off;
  if (LITTLE_ENDIAN && abs % width === 0) return width === 2 ? new Uint16Array(raw.buffer, abs, count) : new Uint32Array(raw.buffer, abs, count);
  const view = new DataView(raw.buffer, abs, count * width);
  if (width === 2) {
    const out = new Uint16Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, true);
    return out;
  }
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

// ---- span pages ----------------------------------------------------------------------------------

/**
 * Span page: u32 count, u8 group width (1, 2 or 4), 3 zero bytes, count × u32 span length,
 * count × group ID (of that width), zero padding to a multiple of 4, then the spans' bytes back
 * to back, exactly as received (encodeSpanPage takes them already back to back in `bytes`, with
 * their lengths and groups). A span page is self-contained (with the groups page, it is all a
 * recovery needs) and trace-by-ID reads nothing else.
 */
export function encodeSpanPage(bytes: Uint8Array, lengths: Uint32Array, groups: Uint32Array, count: number): Uint8Array {
  let maxGroup = 0;
  for (let i = 0; i < count; i++) if (groups[i]! > maxGroup) maxGroup = groups[i]!;
  const width = widthFor(maxGroup);
  const groupsAt = 8 + count * 4;
  const bytesAt = groupsAt + count * width + ((4 - ((count * width) % 4)) % 4);
  let total = 0;
  for (let i = 0; i < count; i++) total += lengths[i]!;
  const out = new Uint8Array(bytesAt + total);
  const view = new DataView(out.buffer);
  view.setUint32(0, count, true);
  out[4] = width;
  for (let i = 0; i < count; i++) {
    view.setUint32(8 + i * 4, lengths[i]!, true);
    if (width === 1) out[groupsAt + i] = groups[i]!;
    else if (width === 2) view.setUint16(groupsAt + i * 2, groups[i]!, true);
    else view.setUint32(groupsAt + i * 4, groups[i]!, true);
  }
  out.set(bytes.subarray(0, total), bytesAt);
  return out;
}

export interface SpanPage {
  readonly count: number;
  /** Byte offset of row i's bytes within `raw`; count + 1 entries. */
  readonly offsets: Uint32Array;
  /** Group ID of row i. */
  readonly groups: Uint8Array | Uint16Array | Uint32Array;
  readonly raw: Uint8Array;
}

export function decodeSpanPage(raw: Uint8Array): SpanPage {
  if (raw.length < 8) throw new MalformedError('span page shorter than its header');
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const count = view.getUint32(0, true);
  const width = raw[4]!;
  if (width !== 1 && width !== 2 && width !== 4) throw new MalformedError(`span page group width ${width}`);
  const groupsAt = 8 + count * 4;
  const bytesAt = groupsAt + count * width + ((4 - ((count * width) % 4)) % 4);
  if (bytesAt > raw.length) throw new MalformedError(`span page of ${count} spans has no room for their lengths and groups`);
  const groups = readUints(raw, groupsAt, count, width);
  const offsets = new Uint32Array(count + 1);
  let at = bytesAt;
  for (let i = 0; i < count; i++) {
    offsets[i] = at;
    at += view.getUint32(8 + i * 4, true);
  }
  if (at !== raw.length) throw new MalformedError(`span page lengths add up to ${at} bytes, the page has ${raw.length}`);
  offsets[count] = at;
  return { count, offsets, groups, raw };
}

/** A copy of row i's span bytes (copies, so a caller keeping one span does not keep the page). */
export function spanBytes(page: SpanPage, i: number): Uint8Array {
  return page.raw.slice(page.offsets[i]!, page.offsets[i + 1]!);
}

// ---- groups ----------------------------------------------------------------------------------------

export interface GroupRecord {
  readonly resource: Uint8Array;
  readonly resourceSchemaUrl: string;
  readonly scope: Uint8Array;
  readonly scopeSchemaUrl: string;
}

/** Groups page (and the index's group section): uvarint count, then per group resource, resource schema URL, scope, scope schema URL. */
export function encodeGroups(w: ByteWriter, groups: readonly GroupRecord[]): void {
  w.uvarint(groups.length);
  for (const g of groups) {
    w.bytes(g.resource);
    w.string(g.resourceSchemaUrl);
    w.bytes(g.scope);
    w.string(g.scopeSchemaUrl);
  }
}

export function decodeGroups(r: ByteReader): GroupRecord[] {
  const groups: GroupRecord[] = [];
  for (let n = r.uvarint('group count'), i = 0; i < n; i++) {
    groups.push({ resource: r.bytes('resource'), resourceSchemaUrl: r.string('resource schema'), scope: r.bytes('scope'), scopeSchemaUrl: r.string('scope schema') });
  }
  return groups;
}

// ---- uint columns (group, name, kind, status) ------------------------------------------------------

/** u8 width (1, 2 or 4), 3 zero bytes, then count values of that width. */
export function encodeUintPage(values: Uint32Array, count: number): Uint8Array {
  let max = 0;
  for (let i = 0; i < count; i++) if (values[i]! > max) max = values[i]!;
  const width = widthFor(max);
  const w = new ByteWriter(4 + count * width);
  w.u8(width);
  w.u8(0);
  w.u16(0);
  writeUints(w, values, 0, count, width);
  return w.finish();
}

export function decodeUintPage(raw: Uint8Array, count: number): Uint8Array | Uint16Array | Uint32Array {
  if (raw.length < 4) throw new MalformedError('column page shorter than its header');
  const width = raw[0]!;
  if (width !== 1 && width !== 2 && width !== 4) throw new MalformedError(`column width ${width}`);
  if (raw.length !== 4 + count * width) throw new MalformedError(`column page of ${count} × ${width} bytes is ${raw.length - 4} bytes`);
  return readUints(raw, 4, count, width);
}

// ---- durations -------------------------------------------------------------------------------------

/**
 * u8 width, 7 zero bytes, then count values: width 4 = uint32 (every duration a whole number in
 * [0, 2^32)), width 8 = float64 (anything else, e.g. a span that ends before it starts).
 */
export function encodeDurationPage(values: Float64Array, count: number): Uint8Array {
  let fits = true;
  for (let i = 0; i < count; i++) {
    const v = values[i]!;
    if (!(v >= 0 && v < 4294967296 && Number.isInteger(v))) {
      fits = false;
      break;
    }
  }
  const w = new ByteWriter(8 + count * 8);
  w.u8(fits ? 4 : 8);
  for (let i = 0; i < 7; i++) w.u8(0);
  for (let i = 0; i < count; i++) {
    if (fits) w.u32(values[i]!);
    else w.f64(values[i]!);
  }
  return w.finish();
}

export function decodeDurationPage(raw: Uint8Array, count: number): Uint32Array | Float64Array {
  if (raw.length < 8) throw new MalformedError('duration page shorter than its header');
  const width = raw[0]!;
  if (width !== 4 && width !== 8) throw new MalformedError(`duration width ${width}`);
  if (raw.length !== 8 + count * width) throw new MalformedError(`duration page of ${count} × ${width} bytes is ${raw.length - 8} bytes`);
  if (width === 4) return readUints(raw, 8, count, 4) as Uint32Array;
  const abs = raw.byteOffset + 8;
  if (LITTLE_ENDIAN && abs % 8 === 0) return new Float64Array(raw.buffer, abs, count);
  const view = new DataView(raw.buffer, abs, count * 8);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}

// ---- attribute columns -----------------------------------------------------------------------------

/**
 * u8 row width (0, 2 or 4), u8 value width (1, 2 or 4), 2 zero bytes, u32 entry count, the entries'
 * rows as deltas (the first relative to the page's first row, each next one to the previous entry's
 * row: ascending, 0 when a span carries the key twice), zero padding to a multiple of 4, then the
 * entries' dictionary IDs. Row width 0 means "dense": entry k is row k (every span of the page has
 * the key exactly once, the common case), and no deltas are stored. Deltas, not absolute rows:
 * absolute rows cost ~2 bytes per span even after zstd.
 */
export function encodeAttributePage(rows: Uint32Array, values: Uint32Array, count: number, pageRows: number): Uint8Array {
  let maxDelta = 0;
  let maxValue = 0;
  let dense = count === pageRows;
  const deltas = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const d = i === 0 ? rows[0]! : rows[i]! - rows[i - 1]!;
    deltas[i] = d;
    if (d > maxDelta) maxDelta = d;
    if (values[i]! > maxValue) maxValue = values[i]!;
    if (rows[i] !== i) dense = false;
  }
  const rowWidth = dense ? 0 : maxDelta < 0x10000 ? 2 : 4;
  const valueWidth = widthFor(maxValue);
  const w = new ByteWriter(8 + count * (rowWidth + valueWidth) + 4);
  w.u8(rowWidth);
  w.u8(valueWidth);
  w.u16(0);
  w.u32(count);
  if (!dense) writeUints(w, deltas, 0, count, rowWidth);
  w.align(4);
  writeUints(w, values, 0, count, valueWidth);
  return w.finish();
}

export interface AttributePage {
  readonly count: number;
  /** Row deltas (see encodeAttributePage); undefined when dense (entry k is row k). */
  readonly deltas: Uint8Array | Uint16Array | Uint32Array | undefined;
  readonly values: Uint8Array | Uint16Array | Uint32Array;
}

export function decodeAttributePage(raw: Uint8Array): AttributePage {
  if (raw.length < 8) throw new MalformedError('attribute page shorter than its header');
  const rowWidth = raw[0]!;
  const valueWidth = raw[1]!;
  if (rowWidth !== 0 && rowWidth !== 2 && rowWidth !== 4) throw new MalformedError(`attribute row width ${rowWidth}`);
  if (valueWidth !== 1 && valueWidth !== 2 && valueWidth !== 4) throw new MalformedError(`attribute value width ${valueWidth}`);
  const count = new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(4, true);
  const rowsEnd = 8 + count * rowWidth;
  const valuesAt = rowsEnd + ((4 - (rowsEnd % 4)) % 4);
  if (raw.length !== valuesAt + count * valueWidth) throw new MalformedError(`attribute page of ${count} entries is ${raw.length} bytes`);
  const deltas = rowWidth === 0 ? undefined : readUints(raw, 8, count, rowWidth);
  const values = readUints(raw, valuesAt, count, valueWidth);
  return { count, deltas, values };
}

/** Absolute rows (relative to the page's first row) of the entries. */
export function attributeRows(page: AttributePage): Uint32Array {
  const rows = new Uint32Array(page.count);
  const d = page.deltas;
  if (d === undefined) {
    for (let i = 0; i < page.count; i++) rows[i] = i;
    return rows;
  }
  let row = 0;
  for (let i = 0; i < page.count; i++) {
    row += d[i]!;
    rows[i] = row;
  }
  return rows;
}
