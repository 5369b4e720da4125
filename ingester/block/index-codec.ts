// The block index (FORMAT.md §The index object): what a reader loads once per open block and keeps
// — dictionaries, (resource, scope) groups, the trace table and the column directory with per-page
// statistics. encodeIndex/decodeIndex are exact inverses; the object frame (magic, version, codec,
// CRC32C) is added by frameIndex/unframeIndex.
import { add64, ByteReader, ByteWriter, MalformedError, sub64, unzigzag64, zigzag64 } from './bytes.js';
import { BloomFilter, BLOOM_BLOCK_BYTES, MAX_BLOOM_BLOCKS, murmur3, SEED_HI, SEED_LO } from './bloom.js';
import { decodeGroups, encodeGroups, type GroupRecord } from './pages.js';
import { compress, decompress, FORMAT_VERSION, frameChecksum, INDEX_HEADER_BYTES, INDEX_MAGIC, PageType, type CodecOptions } from './format.js';

export interface ColumnPage {
  /** First row (span ordinal in block order) the page covers. */
  readonly firstRow: number;
  /** Byte offset of the page header in `data`. */
  readonly offset: number;
  /** Page length in bytes, header included. */
  readonly length: number;
  /** Page number: its position in the directory, counting every column's pages in order. */
  readonly number: number;
  /** GROUP/NAME/KIND/STATUS/ATTRIBUTE: bit (v & 255) set for every value v in the page (8 words). */
  readonly presence: Uint32Array | undefined;
  /** DURATION: smallest and largest value in the page. */
  readonly minDuration: number;
  readonly maxDuration: number;
  /** SPAN: bloom filter over the attribute hashes of unindexed keys in the page's spans. */
  readonly bloom: BloomFilter | undefined;
}

export interface Column {
  readonly type: PageType;
  /** ATTRIBUTE columns: the key's ID; −1 otherwise. */
  readonly keyId: number;
  readonly pages: ColumnPage[];
}

export interface KeyInfo {
  readonly bytes: Uint8Array;
  /** Dictionary-coded (has a column, `forms` is its whole dictionary) or not (found through span-page blooms; `forms` is a sample for tagValues). */
  readonly indexed: boolean;
  readonly forms: Uint8Array[];
  /** Per form: 1 when tagValues lists it. */
  readonly shown: Uint8Array;
  /**
   * A decoded index also has the forms as ranges of the index's bytes: form f is
   * formBuf[formStart[f], formStart[f] + formLength[f]). `forms` is then made on first use, so a
   * caller that only needs the bytes (the compaction merge) makes no object per form.
   */
  readonly formBuf?: Uint8Array;
  readonly formStart?: Uint32Array;
  readonly formLength?: Uint32Array;
}

export type GroupInfo = GroupRecord;

export interface OperationEntry {
  /** A group of the operation's service (any: they share the service name). */
  readonly group: number;
  readonly name: number;
  readonly kind: number;
}

export interface TraceTable {
  readonly count: number;
  /** 16 bytes per trace, ascending. */
  readonly ids: Uint8Array;
  /** count + 1 entries: trace t owns rows [firstRow[t], firstRow[t + 1]). */
  readonly firstRow: Uint32Array;
  readonly startHi: Uint32Array;
  readonly startLo: Uint32Array;
  readonly endHi: Uint32Array;
  readonly endLo: Uint32Array;
  /** Group of the root span (or, without one, of the earliest span). */
  readonly rootGroup: Uint32Array;
  /** Name ID + 1 of the root span; 0 when the trace has no parentless span. */
  readonly rootName: Uint32Array;
  /** Bit 0: some span has status ERROR. */
  readonly flags: Uint8Array;
}

export const TRACE_FLAG_ERROR = 1;

export interface BlockIndex {
  readonly blockId: string;
  readonly tenant: string;
  readonly shard: number;
  readonly level: number;
  readonly spanCount: number;
  readonly rowsPerColumnPage: number;
  /** Size of the `data` object. */
  readonly dataBytes: number;
  /** Bit (code & 31) of every status code / span kind in the block, as the head keeps them. */
  readonly statusMask: number;
  readonly kindMask: number;
  readonly names: Uint8Array[];
  readonly groups: GroupInfo[];
  readonly keys: KeyInfo[];
  readonly operations: OperationEntry[];
  /** Name IDs and groups of parentless spans (for tagValues of root.name / root.service.name). */
  readonly rootNames: number[];
  readonly rootGroups: number[];
  readonly traces: TraceTable;
  /** SPAN, GROUP, NAME, KIND, STATUS, DURATION, then ATTRIBUTE columns by key ID. */
  readonly columns: Column[];
}

const KEY_FLAG_INDEXED = 1;
const FORM_FLAG_SHOWN = 1;
const PRESENCE_WORDS = 8;

const halves = [0, 0];

export function encodeIndex(ix: BlockIndex): Uint8Array {
  const w = new ByteWriter(1 << 16);
  w.string(ix.blockId);
  w.string(ix.tenant);
  w.uvarint(ix.shard);
  w.uvarint(ix.level);
  w.uvarint(ix.spanCount);
  w.uvarint(ix.traces.count);
  w.uvarint(ix.rowsPerColumnPage);
  w.uvarint(ix.dataBytes);
  w.u32(ix.statusMask);
  w.u32(ix.kindMask);

  w.uvarint(ix.names.length);
  for (const n of ix.names) w.bytes(n);

  encodeGroups(w, ix.groups);

  w.uvarint(ix.keys.length);
  for (const k of ix.keys) {
    w.bytes(k.bytes);
    w.u8(k.indexed ? KEY_FLAG_INDEXED : 0);
    w.uvarint(k.forms.length);
    for (let i = 0; i < k.forms.length; i++) {
      w.bytes(k.forms[i]!);
      w.u8(k.shown[i] === 1 ? FORM_FLAG_SHOWN : 0);
    }
  }

  w.uvarint(ix.operations.length);
  for (const o of ix.operations) {
    w.uvarint(o.group);
    w.uvarint(o.name);
    w.svarint(o.kind);
  }

  w.uvarint(ix.rootNames.length);
  for (const n of ix.rootNames) w.uvarint(n);
  w.uvarint(ix.rootGroups.length);
  for (const g of ix.rootGroups) w.uvarint(g);

  encodeTraces(w, ix.traces);

  w.uvarint(ix.columns.length);
  for (const c of ix.columns) {
    w.u8(c.type);
    if (c.type === PageType.ATTRIBUTE) w.uvarint(c.keyId);
    w.uvarint(c.pages.length);
    w.uvarint(c.pages.length > 0 ? c.pages[0]!.offset : 0);
    let prevRow = 0;
    for (const p of c.pages) {
      w.uvarint(p.firstRow - prevRow);
      prevRow = p.firstRow;
      w.uvarint(p.length);
      switch (c.type) {
        case PageType.SPAN: {
          const bloom = p.bloom;
          w.uvarint(bloom === undefined ? 0 : bloom.blocks);
          if (bloom !== undefined) w.raw(bloom.toBytes());
          break;
        }
        case PageType.DURATION:
          w.f64(p.minDuration);
          w.f64(p.maxDuration);
          break;
        default:
          for (let i = 0; i < PRESENCE_WORDS; i++) w.u32(p.presence![i]!);
      }
    }
  }
  return w.finish();
}

function encodeTraces(w: ByteWriter, t: TraceTable): void {
  w.uvarint(t.count);
  // Starts are stored relative to the block's earliest start, ends relative to their trace's start.
  let baseHi = 0xffffffff;
  let baseLo = 0xffffffff;
  for (let i = 0; i < t.count; i++) {
    const hi = t.startHi[i]!;
    const lo = t.startLo[i]!;
    if (hi < baseHi || (hi === baseHi && lo < baseLo)) {
      baseHi = hi;
      baseLo = lo;
    }
  }
  if (t.count === 0) baseHi = baseLo = 0;
  w.u32(baseHi);
  w.u32(baseLo);
  w.raw(t.ids.subarray(0, t.count * 16));
  for (let i = 0; i < t.count; i++) w.uvarint(t.firstRow[i + 1]! - t.firstRow[i]!);
  for (let i = 0; i < t.count; i++) {
    sub64(t.startHi[i]!, t.startLo[i]!, baseHi, baseLo, halves);
    w.uvarint64(halves[0]!, halves[1]!);
  }
  for (let i = 0; i < t.count; i++) {
    sub64(t.endHi[i]!, t.endLo[i]!, t.startHi[i]!, t.startLo[i]!, halves);
    zigzag64(halves[0]!, halves[1]!, halves);
    w.uvarint64(halves[0]!, halves[1]!);
  }
  for (let i = 0; i < t.count; i++) w.uvarint(t.rootGroup[i]!);
  for (let i = 0; i < t.count; i++) w.uvarint(t.rootName[i]!);
  w.raw(t.flags.subarray(0, t.count));
}

/** Decodes an index payload; throws MalformedError on anything inconsistent. */
function lazyFormsKey(bytes: Uint8Array, indexed: boolean, shown: Uint8Array, formBuf: Uint8Array, formStart: Uint32Array, formLength: Uint32Array): KeyInfo {
  let forms: Uint8Array[] | undefined;
  return {
    bytes,
    indexed,
    shown,
    formBuf,
    formStart,
    formLength,
    get forms(): Uint8Array[] {
      forms ??= Array.from(formStart, (at, f) => formBuf.subarray(at, at + formLength[f]!));
      return forms;
    },
  };
}

export function decodeIndex(raw: Uint8Array): BlockIndex {
  const r = new ByteReader(raw);
  const blockId = r.string('block id');
  const tenant = r.string('tenant');
  const shard = r.uvarint('shard');
  const level = r.uvarint('level');
  const spanCount = r.uvarint('span count');
  const traceCount = r.uvarint('trace count');
  const rowsPerColumnPage = r.uvarint('rows per column page');
  const dataBytes = r.uvarint('data bytes');
  const statusMask = r.u32('status mask');
  const kindMask = r.u32('kind mask');
  if (rowsPerColumnPage === 0 || rowsPerColumnPage > 1 << 20) throw new MalformedError(`rows per column page is ${rowsPerColumnPage}`);

  const names: Uint8Array[] = [];
  for (let n = r.uvarint('name count'), i = 0; i < n; i++) names.push(r.bytes('name'));

  const groups: GroupInfo[] = decodeGroups(r);

  const keys: KeyInfo[] = [];
  for (let n = r.uvarint('key count'), i = 0; i < n; i++) {
    const bytes = r.bytes('key');
    const indexed = (r.u8('key flags') & KEY_FLAG_INDEXED) !== 0;
    const count = r.uvarint('form count');
    const formStart = new Uint32Array(count);
    const formLength = new Uint32Array(count);
    const shown = new Uint8Array(count);
    for (let j = 0; j < count; j++) {
      const at = r.skipBytes('form');
      formStart[j] = at;
      formLength[j] = r.pos - at;
      shown[j] = r.u8('form flags') & FORM_FLAG_SHOWN;
    }
    keys.push(lazyFormsKey(bytes, indexed, shown, raw, formStart, formLength));
  }

  const operations: OperationEntry[] = [];
  for (let n = r.uvarint('operation count'), i = 0; i < n; i++) {
    const group = r.uvarint('operation group');
    const name = r.uvarint('operation name');
    const kind = r.svarint('operation kind');
    if (group >= groups.length || name >= names.length) throw new MalformedError('operation refers to a missing group or name');
    operations.push({ group, name, kind });
  }

  const rootNames: number[] = [];
  for (let n = r.uvarint('root name count'), i = 0; i < n; i++) rootNames.push(checkId(r.uvarint('root name'), names.length, 'root name'));
  const rootGroups: number[] = [];
  for (let n = r.uvarint('root group count'), i = 0; i < n; i++) rootGroups.push(checkId(r.uvarint('root group'), groups.length, 'root group'));

  const traces = decodeTraces(r, traceCount, spanCount, groups.length, names.length);

  const columns: Column[] = [];
  let pageNumber = 0;
  let expectedOffset = -1;
  const columnCount = r.uvarint('column count');
  for (let c = 0; c < columnCount; c++) {
    const type = r.u8('column type') as PageType;
    if (type < PageType.SPAN || type > PageType.ATTRIBUTE) throw new MalformedError(`unknown column type ${type}`);
    const keyId = type === PageType.ATTRIBUTE ? checkId(r.uvarint('column key'), keys.length, 'column key') : -1;
    const pageCount = r.uvarint('page count');
    let offset = r.uvarint('column offset');
    if (pageCount > 0) {
      if (expectedOffset >= 0 && offset !== expectedOffset) throw new MalformedError(`column ${c} starts at ${offset}, previous column ends at ${expectedOffset}`);
    }
    const pages: ColumnPage[] = [];
    let row = 0;
    for (let p = 0; p < pageCount; p++) {
      row += r.uvarint('page first row');
      const length = r.uvarint('page length');
      let presence: Uint32Array | undefined;
      let bloom: BloomFilter | undefined;
      let minDuration = 0;
      let maxDuration = 0;
      if (type === PageType.SPAN) {
        const blocks = r.uvarint('bloom blocks');
        if (blocks > MAX_BLOOM_BLOCKS) throw new MalformedError(`bloom of ${blocks} blocks`);
        bloom = BloomFilter.fromBytes(r.raw(blocks * BLOOM_BLOCK_BYTES, 'page bloom'));
      } else if (type === PageType.DURATION) {
        minDuration = r.f64('page min duration');
        maxDuration = r.f64('page max duration');
      } else {
        presence = new Uint32Array(PRESENCE_WORDS);
        for (let i = 0; i < PRESENCE_WORDS; i++) presence[i] = r.u32('page presence');
      }
      if (row >= Math.max(spanCount, 1) || (p > 0 && row <= pages[p - 1]!.firstRow) || (p === 0 && type === PageType.SPAN && row !== 0)) {
        throw new MalformedError(`column ${c} page ${p} starts at row ${row}`);
      }
      pages.push({ firstRow: row, offset, length, number: pageNumber++, presence, minDuration, maxDuration, bloom });
      offset += length;
    }
    if (pageCount > 0) expectedOffset = offset;
    if (offset > dataBytes) throw new MalformedError(`column ${c} ends at byte ${offset}, past the data object (${dataBytes} bytes)`);
    columns.push({ type, keyId, pages });
  }
  if (r.remaining !== 0) throw new MalformedError(`${r.remaining} bytes after the last column`);
  const fixed = [PageType.SPAN, PageType.GROUP, PageType.NAME, PageType.KIND, PageType.STATUS, PageType.DURATION];
  for (let i = 0; i < fixed.length; i++) if (columns[i]?.type !== fixed[i]) throw new MalformedError(`column ${i} has type ${columns[i]?.type}, expected ${fixed[i]}`);
  for (let i = fixed.length; i < columns.length; i++) if (columns[i]!.type !== PageType.ATTRIBUTE) throw new MalformedError(`column ${i} is not an attribute column`);
  return { blockId, tenant, shard, level, spanCount, rowsPerColumnPage, dataBytes, statusMask, kindMask, names, groups, keys, operations, rootNames, rootGroups, traces, columns };
}

function checkId(id: number, count: number, what: string): number {
  if (id >= count) throw new MalformedError(`${what} ${id} out of range (${count})`);
  return id;
}

function decodeTraces(r: ByteReader, count: number, spanCount: number, groupCount: number, nameCount: number): TraceTable {
  if (r.uvarint('trace table count') !== count) throw new MalformedError('trace table count differs from the block header');
  const baseHi = r.u32('trace base hi');
  const baseLo = r.u32('trace base lo');
  const ids = r.raw(count * 16, 'trace ids');
  const firstRow = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) {
    const n = r.uvarint('trace span count');
    if (n === 0) throw new MalformedError(`trace ${i} has no spans`);
    firstRow[i + 1] = firstRow[i]! + n;
  }
  if (firstRow[count] !== spanCount) throw new MalformedError(`traces hold ${firstRow[count]} spans, the block ${spanCount}`);
  for (let i = 1; i < count; i++) if (compareIds(ids, (i - 1) * 16, ids, i * 16) >= 0) throw new MalformedError(`trace IDs not ascending at trace ${i}`);
  const startHi = new Uint32Array(count);
  const startLo = new Uint32Array(count);
  const endHi = new Uint32Array(count);
  const endLo = new Uint32Array(count);
  const v = [0, 0];
  for (let i = 0; i < count; i++) {
    r.uvarint64(v, 'trace start');
    add64(baseHi, baseLo, v[0]!, v[1]!, halves);
    startHi[i] = halves[0]!;
    startLo[i] = halves[1]!;
  }
  for (let i = 0; i < count; i++) {
    r.uvarint64(v, 'trace end');
    unzigzag64(v[0]!, v[1]!, halves);
    add64(startHi[i]!, startLo[i]!, halves[0]!, halves[1]!, halves);
    endHi[i] = halves[0]!;
    endLo[i] = halves[1]!;
  }
  const rootGroup = new Uint32Array(count);
  for (let i = 0; i < count; i++) rootGroup[i] = checkId(r.uvarint('trace root group'), groupCount, 'trace root group');
  const rootName = new Uint32Array(count);
  for (let i = 0; i < count; i++) rootName[i] = checkId(r.uvarint('trace root name'), nameCount + 1, 'trace root name');
  const flags = new Uint8Array(r.raw(count, 'trace flags'));
  return { count, ids: new Uint8Array(ids), firstRow, startHi, startLo, endHi, endLo, rootGroup, rootName, flags };
}

export function compareIds(a: Uint8Array, ao: number, b: Uint8Array, bo: number): number {
  for (let i = 0; i < 16; i++) {
    const d = a[ao + i]! - b[bo + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** The index object: 20-byte header (magic, version, codec, 0, raw length, stored length, CRC32C) + payload. */
export function frameIndex(raw: Uint8Array, codec: CodecOptions): Uint8Array {
  const stored = compress(raw, codec);
  const out = new Uint8Array(INDEX_HEADER_BYTES + stored.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, INDEX_MAGIC, true);
  out[4] = FORMAT_VERSION;
  out[5] = codec.codec;
  view.setUint16(6, 0, true);
  view.setUint32(8, raw.length, true);
  view.setUint32(12, stored.length, true);
  out.set(stored, INDEX_HEADER_BYTES);
  view.setUint32(16, frameChecksum(out, 16, out.subarray(INDEX_HEADER_BYTES)), true);
  return out;
}

export type FrameCheck = { readonly ok: true; readonly raw: Uint8Array } | { readonly ok: false; readonly kind: 'truncated' | 'checksum' | 'version' | 'malformed'; readonly reason: string };

export function unframeIndex(bytes: Uint8Array): FrameCheck {
  if (bytes.length < INDEX_HEADER_BYTES) return { ok: false, kind: 'truncated', reason: `${bytes.length} bytes, shorter than the ${INDEX_HEADER_BYTES}-byte header` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== INDEX_MAGIC) return { ok: false, kind: 'malformed', reason: 'bad magic (not a block index)' };
  const rawLength = view.getUint32(8, true);
  const storedLength = view.getUint32(12, true);
  if (INDEX_HEADER_BYTES + storedLength > bytes.length) return { ok: false, kind: 'truncated', reason: `header says ${INDEX_HEADER_BYTES + storedLength} bytes, object has ${bytes.length}` };
  if (INDEX_HEADER_BYTES + storedLength < bytes.length) return { ok: false, kind: 'malformed', reason: `${bytes.length - INDEX_HEADER_BYTES - storedLength} bytes after the payload` };
  const payload = bytes.subarray(INDEX_HEADER_BYTES);
  if (frameChecksum(bytes, 16, payload) !== view.getUint32(16, true)) return { ok: false, kind: 'checksum', reason: 'CRC32C mismatch' };
  if (bytes[4] !== FORMAT_VERSION) return { ok: false, kind: 'version', reason: `format version ${bytes[4]} (this reader knows ${FORMAT_VERSION})` };
  try {
    return { ok: true, raw: decompress(bytes[5]!, payload, rawLength) };
  } catch (e) {
    return { ok: false, kind: 'malformed', reason: e instanceof Error ? e.message : String(e) };
  }
}

/** The two seeds' hashes of a key, the first half of every attribute hash of that key. */
export function keyHashes(key: Uint8Array): [number, number] {
  return [murmur3(key, 0, key.length, SEED_HI), murmur3(key, 0, key.length, SEED_LO)];
}
