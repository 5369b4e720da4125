// mergeBlocks: the columnar compaction merge. Several blocks of one tenant and shard in, one block
// out, with the same content buildBlock would make of the union of their spans minus duplicates
// (DESIGN.md §7), without re-reading every span: the inputs' columns are carried over.
//
//   - Traces are merged by trace ID across the inputs' trace tables. A trace held by one input (the
//     common case: inputs are cut at different times) is copied row by row, and its trace-table
//     entry (bounds, root, error flag) is taken over as it is. A trace held by several inputs has
//     its spans read (IDs, times, parent) to drop repeats of a (trace ID, span ID) — the first copy
//     in input order wins, as in buildBlock — and its entry is recomputed from the kept spans.
//   - Span bytes are copied from the inputs' span pages; group, name, kind, status and duration
//     come from the inputs' column pages, IDs translated to the output's dictionaries (a translation
//     per input dictionary entry, made on first use, instead of a hash lookup per span).
//   - Attributes of dictionary-coded input keys come from their columns (a form ID per entry,
//     translated once per input form); keys an input did not dictionary-code have no column, so
//     only those are read from the input's spans. Whether the OUTPUT codes a key is decided as in
//     buildBlock: by the limits on its merged dictionary.
//   - The output's groups, attribute keys, root names and root groups are the union of the inputs'
//     (in input order): exact, except that a group, a key (listed by tagNames, with no value), a
//     root name, or a form's listing in tagValues that only dropped duplicates carried stays (a
//     superset: queries never miss). A key is dictionary-coded unless an input did not code it or
//     the distinct values of the inputs' dictionaries (dropped duplicates' included) exceed the
//     limits, so the output may leave uncoded (tagValues: a sample) a key buildBlock would code.
//
// Pure, like buildBlock: the caller reads the inputs' `index` and `data` objects and writes the
// output's objects. A damaged input throws BlockCorruptError naming that input, object and page.
import { SkeinError } from '../../common/errors/index.js';
import { heapPop, heapPush } from '../../common/heap/index.js';
import { createSpanFields, readServiceName, readSpanFields } from '../../common/otlp/index.js';
import { be32, BlockWriter, checkBlockIdentity, groupKey, resolveBuildOptions, type BuildBlockOptions, type BuiltBlock, type Group, type KeyState } from './build.js';
import { MalformedError } from './bytes.js';
import { BlockCorruptError } from './errors.js';
import { Codec, DATA_HEADER_BYTES, DATA_MAGIC, DATA_OBJECT, decodePage, FORMAT_VERSION, INDEX_OBJECT, PageType, type CodecOptions } from './format.js';
import { murmur3 } from './bloom.js';
import { compareIds, type BlockIndex, type Column, type ColumnPage, type KeyInfo } from './index-codec.js';
import type { Form } from './forms.js';
import { attributeRows, decodeAttributePage, decodeDurationPage, decodeSpanPage, decodeUintPage, type SpanPage } from './pages.js';
import { decodeIndexObject, pageIndexAt } from './reader.js';

export interface MergeInput {
  readonly blockId: string;
  /** The input's `index` object, whole. */
  readonly index: Uint8Array;
  /** The input's `data` object, whole. */
  readonly data: Uint8Array;
}

export interface MergeBlocksParams {
  readonly blockId: string;
  readonly tenant: string;
  readonly shard: number;
  readonly level: number;
  /** In the job's order: the first copy of a (trace ID, span ID) wins. */
  readonly inputs: readonly MergeInput[];
  readonly options?: BuildBlockOptions;
}

export interface MergedBlock extends BuiltBlock {
  /** Spans in all inputs. */
  readonly inputSpans: number;
  /** Traces held by more than one input (read span by span). */
  readonly sharedTraces: number;
}

const corrupt = (blockId: string, object: string, kind: 'checksum' | 'truncated' | 'missing' | 'version' | 'malformed', reason: string, page?: number): BlockCorruptError =>
  new BlockCorruptError({ blockId, object, kind, reason, ...(page === undefined ? {} : { page }) });

/** One input: its index, translations to the output's IDs, and cursors over its pages (rows are visited in increasing order). */
class InputCursor {
  readonly ix: BlockIndex;
  readonly groupMap: Uint32Array;
  readonly nameMap: Int32Array;
  readonly keyMap: KeyState[];
  readonly formMap: (Int32Array | undefined)[];
  /** Per key, lazily: span-page bloom hashes of its forms (two words each) and which are computed, for output keys that are not dictionary-coded. */
  readonly formHashes: (Uint32Array | undefined)[];
  readonly formHashed: (Uint8Array | undefined)[];
  /** Output keys of the keys this input did not dictionary-code (read from its spans). */
  readonly walkKeys: Set<KeyState>;
  private readonly rowsPerPage: number;
  private readonly spanColumn: Column;
  private readonly intrinsic: Column[];
  private readonly attributeColumns: Column[];
  private readonly attributeNext: Int32Array;
  // Current span page.
  private spanPage: SpanPage | undefined;
  private spanFirst = 0;
  private spanEnd = 0;
  // Current column window [windowFirst, windowFirst + rowsPerPage).
  private window = -1;
  private windowFirst = 0;
  private names: ArrayLike<number> = [];
  private kinds: ArrayLike<number> = [];
  private statuses: ArrayLike<number> = [];
  private durations: ArrayLike<number> = [];
  /** Attribute entries of the window by row (CSR): entries of row r are [rowStart[r], rowStart[r + 1]). */
  private rowStart = new Uint32Array(1);
  private entryKey = new Uint32Array(0);
  private entryForm = new Uint32Array(0);

  constructor(
    readonly blockId: string,
    ix: BlockIndex,
    private readonly data: Uint8Array,
    groupMap: Uint32Array,
    keyMap: KeyState[],
  ) {
    this.ix = ix;
    this.groupMap = groupMap;
    this.nameMap = new Int32Array(ix.names.length).fill(-1);
    this.keyMap = keyMap;
    this.formMap = ix.keys.map((k) => (k.indexed ? new Int32Array(k.shown.length).fill(-1) : undefined));
    this.formHashes = new Array<Uint32Array | undefined>(ix.keys.length).fill(undefined);
    this.formHashed = new Array<Uint8Array | undefined>(ix.keys.length).fill(undefined);
    this.walkKeys = new Set(ix.keys.flatMap((k, i) => (k.indexed ? [] : [keyMap[i]!])));
    this.rowsPerPage = ix.rowsPerColumnPage;
    const types = [PageType.SPAN, PageType.GROUP, PageType.NAME, PageType.KIND, PageType.STATUS, PageType.DURATION];
    types.forEach((t, c) => {
      if (ix.columns[c]?.type !== t) throw this.malformed(INDEX_OBJECT, `column ${c} is not of type ${t}`);
    });
    this.spanColumn = ix.columns[0]!;
    this.intrinsic = ix.columns.slice(2, 6);
    this.attributeColumns = ix.columns.slice(6);
    for (const c of this.attributeColumns) {
      if (c.type !== PageType.ATTRIBUTE || c.keyId < 0 || c.keyId >= ix.keys.length || !ix.keys[c.keyId]!.indexed) throw this.malformed(INDEX_OBJECT, `attribute column of key ${c.keyId} does not match the key table`);
    }
    this.attributeNext = new Int32Array(this.attributeColumns.length);
  }

  malformed(object: string, reason: string, page?: number): BlockCorruptError {
    return corrupt(this.blockId, object, 'malformed', reason, page);
  }

  private page(column: Column, p: ColumnPage): Uint8Array {
    if (p.offset + p.length > this.data.length) throw corrupt(this.blockId, DATA_OBJECT, 'truncated', `object ends at byte ${this.data.length}, page ends at ${p.offset + p.length}`, p.number);
    const check = decodePage(this.data.subarray(p.offset, p.offset + p.length), p.length, column.type);
    if (!check.ok) throw corrupt(this.blockId, DATA_OBJECT, check.kind, check.reason, p.number);
    // A plain view (not a Buffer): the merge takes a subarray of it per span, and Buffer's are slower.
    const raw = check.raw;
    return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  }

  private decoded<T>(p: ColumnPage, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof MalformedError) throw this.malformed(DATA_OBJECT, e.message, p.number);
      throw e;
    }
  }

  /** Position of the row asked for last within the page `span` returned. */
  at = 0;

  /** The span page holding `row`, loaded when it is not the current one (a shared trace may step back a page); sets `at`. */
  span(row: number): SpanPage {
    if (this.spanPage === undefined || row < this.spanFirst || row >= this.spanEnd) {
      const pages = this.spanColumn.pages;
      const p = pageIndexAt(pages, row);
      const cp = pages[p];
      const end = p + 1 < pages.length ? pages[p + 1]!.firstRow : this.ix.spanCount;
      if (cp === undefined || cp.firstRow > row || row >= end) throw this.malformed(INDEX_OBJECT, `no span page holds row ${row}`);
      const raw = this.page(this.spanColumn, cp);
      const page = this.decoded(cp, () => decodeSpanPage(raw));
      if (cp.firstRow + page.count !== end) throw this.malformed(DATA_OBJECT, `span page holds ${page.count} spans, the directory says ${end - cp.firstRow}`, cp.number);
      this.spanPage = page;
      this.spanFirst = cp.firstRow;
      this.spanEnd = end;
    }
    this.at = row - this.spanFirst;
    return this.spanPage;
  }

  /** Loads the column window holding `row` (windows only move forward). */
  private loadWindow(row: number): void {
    const w = Math.floor(row / this.rowsPerPage);
    if (w === this.window) return;
    const first = w * this.rowsPerPage;
    const count = Math.min(this.rowsPerPage, this.ix.spanCount - first);
    /** The window's page of an intrinsic column (one page per window), verified and decoded. */
    const column = <T>(c: Column, decode: (raw: Uint8Array, count: number) => T): T => {
      const p = c.pages[w];
      if (p === undefined || p.firstRow !== first) throw this.malformed(INDEX_OBJECT, `column of type ${c.type} has no page for rows from ${first}`);
      const raw = this.page(c, p);
      return this.decoded(p, () => decode(raw, count));
    };
    const [nameCol, kindCol, statusCol, durationCol] = this.intrinsic as [Column, Column, Column, Column];
    this.names = column(nameCol, decodeUintPage);
    this.kinds = column(kindCol, decodeUintPage);
    this.statuses = column(statusCol, decodeUintPage);
    this.durations = column(durationCol, decodeDurationPage);

    // Attribute entries of the window, by row.
    const perColumn: { key: number; rows: Uint32Array; values: ArrayLike<number> }[] = [];
    let total = 0;
    this.attributeColumns.forEach((c, ci) => {
      let n = this.attributeNext[ci]!;
      while (n < c.pages.length && c.pages[n]!.firstRow < first) n++;
      this.attributeNext[ci] = n;
      const p = c.pages[n];
      if (p === undefined || p.firstRow !== first) return;
      const raw = this.page(c, p);
      const entries = this.decoded(p, () => decodeAttributePage(raw));
      const rows = attributeRows(entries);
      const forms = this.ix.keys[c.keyId]!.shown.length;
      for (let e = 0; e < entries.count; e++) {
        if (rows[e]! >= count) throw this.malformed(DATA_OBJECT, `attribute entry for row ${first + rows[e]!}, the page covers ${count} rows`, p.number);
        if (entries.values[e]! >= forms) throw this.malformed(DATA_OBJECT, `attribute value ${entries.values[e]} of a ${forms}-value dictionary`, p.number);
      }
      perColumn.push({ key: c.keyId, rows, values: entries.values });
      total += entries.count;
    });
    const rowStart = new Uint32Array(count + 1);
    for (const pc of perColumn) for (let e = 0; e < pc.rows.length; e++) rowStart[pc.rows[e]! + 1]!++;
    for (let r = 0; r < count; r++) rowStart[r + 1]! += rowStart[r]!;
    const fill = rowStart.slice(0, count);
    const entryKey = new Uint32Array(total);
    const entryForm = new Uint32Array(total);
    for (const pc of perColumn) {
      for (let e = 0; e < pc.rows.length; e++) {
        const at = fill[pc.rows[e]!]!++;
        entryKey[at] = pc.key;
        entryForm[at] = pc.values[e]!;
      }
    }
    this.rowStart = rowStart;
    this.entryKey = entryKey;
    this.entryForm = entryForm;
    this.window = w;
    this.windowFirst = first;
  }

  /** Writes input row `row` as the output's next row; `trace` also feeds the trace entry from the span (shared traces). */
  emit(w: BlockWriter, row: number, form: Form, trace: ((span: Uint8Array, group: number, nameId: number) => void) | undefined): void {
    const page = this.span(row);
    const at = this.at;
    this.loadWindow(row);
    const slot = row - this.windowFirst;
    const raw = page.raw;
    const start = page.offsets[at]!;
    const end = page.offsets[at + 1]!;
    const gIn = page.groups[at]!;
    if (gIn >= this.groupMap.length) throw this.malformed(DATA_OBJECT, `span of group ${gIn}; the block has ${this.groupMap.length} groups`);
    const group = this.groupMap[gIn]!;
    const nIn = this.names[slot]!;
    let nameId = this.nameMap[nIn];
    if (nameId === undefined) throw this.malformed(DATA_OBJECT, `name ${nIn}; the block has ${this.nameMap.length} names`);
    if (nameId < 0) {
      nameId = w.nameOf(this.ix.names[nIn]!);
      this.nameMap[nIn] = nameId;
    }
    w.spanColumns(raw, start, end, group, nameId, this.kinds[slot]! | 0, this.statuses[slot]! | 0, this.durations[slot]!);
    trace?.(raw.subarray(start, end), group, nameId);
    for (let e = this.rowStart[slot]!, end = this.rowStart[slot + 1]!; e < end; e++) {
      const kIn = this.entryKey[e]!;
      const fIn = this.entryForm[e]!;
      const k = this.keyMap[kIn]!;
      const map = this.formMap[kIn]!;
      if (k.indexed) {
        const id = map[fIn]!;
        if (id >= 0) {
          w.spanAttributeId(k, id);
          continue;
        }
      } else {
        // Not dictionary-coded in the output: the form's bloom hash, computed once per input form.
        let hashes = this.formHashes[kIn];
        let done = this.formHashed[kIn];
        if (hashes === undefined || done === undefined) {
          const n = this.ix.keys[kIn]!.shown.length;
          hashes = new Uint32Array(2 * n);
          done = new Uint8Array(n);
          this.formHashes[kIn] = hashes;
          this.formHashed[kIn] = done;
        }
        if (done[fIn] === 0) {
          formAt(this.ix.keys[kIn]!, fIn, form);
          w.formHash(k, form, hashPair);
          hashes[2 * fIn] = hashPair[0]!;
          hashes[2 * fIn + 1] = hashPair[1]!;
          done[fIn] = 1;
        }
        w.spanAttributeHash(hashes[2 * fIn]!, hashes[2 * fIn + 1]!);
        continue;
      }
      const info = this.ix.keys[kIn]!;
      formAt(info, fIn, form);
      form.shown = info.shown[fIn] === 1;
      const id = w.spanAttribute(k, form);
      if (id >= 0) map[fIn] = id;
    }
    if (this.walkKeys.size > 0) w.walkAttributes(raw, start, end, this.walkKeys);
    w.endRow();
  }
}

const hashPair = [0, 0];

/** Form f of a key as `form`'s bytes (a view of the index when it was decoded, no copy). */
function formAt(info: KeyInfo, f: number, form: Form): void {
  if (info.formBuf !== undefined && info.formStart !== undefined && info.formLength !== undefined) {
    form.buf = info.formBuf;
    form.off = info.formStart[f]!;
    form.len = info.formLength[f]!;
  } else {
    const b = info.forms[f]!;
    form.buf = b;
    form.off = 0;
    form.len = b.length;
  }
}

/**
 * At least how many distinct forms key `k`'s inputs hold together, and their bytes: distinct by a
 * 32-bit hash, so collisions can only make it lower than the truth (over a limit means over it).
 * Stops counting once past `maxValues` or `maxBytes`.
 */
function distinctForms(list: readonly { c: InputCursor; key: number }[], form: Form, maxValues: number, maxBytes: number): { values: number; bytes: number } {
  let total = 0;
  for (const u of list) total += u.c.ix.keys[u.key]!.shown.length;
  let size = 16;
  while (size < total * 2) size *= 2;
  const table = new Int32Array(size); // hash | 1 (never 0): 0 = empty
  const mask = size - 1;
  let values = 0;
  let bytes = 0;
  for (const u of list) {
    const info = u.c.ix.keys[u.key]!;
    for (let f = 0; f < info.shown.length; f++) {
      formAt(info, f, form);
      const h = murmur3(form.buf, form.off, form.len, 0) | 1;
      let slot = h & mask;
      for (;;) {
        const e = table[slot]!;
        if (e === 0) {
          table[slot] = h;
          values++;
          bytes += form.len;
          if (values > maxValues || bytes > maxBytes) return { values, bytes };
          break;
        }
        if (e === h) break;
        slot = (slot + 1) & mask;
      }
    }
  }
  return { values, bytes };
}


/**
 * Whether each output key is dictionary-coded, decided before the first row where that is cheap
 * (buildBlock applies the same limits to the values of the kept spans, as they come): not when an input did not code it, nor
 * when the inputs' dictionaries together hold more distinct values or bytes than the limits allow;
 * otherwise the pass interns values as rows use them. A key that is not coded gets its tagValues
 * sample from the inputs' dictionaries and samples.
 */
function decideKeys(w: BlockWriter, cursors: readonly InputCursor[], maxValues: number, maxBytes: number, maxSample: number): void {
  const uses = new Map<KeyState, { c: InputCursor; key: number }[]>();
  for (const c of cursors) {
    c.keyMap.forEach((k, key) => {
      let list = uses.get(k);
      if (list === undefined) {
        list = [];
        uses.set(k, list);
      }
      list.push({ c, key });
    });
  }
  const form: Form = { buf: new Uint8Array(0), off: 0, len: 0, shown: false };

  for (const [k, list] of uses) {
    if (k.indexed) {
      if (list.some((u) => !u.c.ix.keys[u.key]!.indexed)) {
        w.unindexKey(k);
      } else {
        let values = k.dictionary.size;
        let bytes = k.dictionary.bytes;
        for (const u of list) {
          const info = u.c.ix.keys[u.key]!;
          values += info.shown.length;
          for (const f of info.formLength ?? info.forms.map((b) => b.length)) bytes += f;
        }
        // Could the union overflow? Then count it (a lower bound); over the limits, the key is not
        // coded. Otherwise the pass interns forms as rows use them, and a key that still overflows
        // (only by the resource values counted twice) is converted then, as in buildBlock.
        if (values > maxValues || bytes > maxBytes) {
          const union = distinctForms(list, form, maxValues - k.dictionary.size, maxBytes - k.dictionary.bytes);
          if (k.dictionary.size + union.values > maxValues || k.dictionary.bytes + union.bytes > maxBytes) w.unindexKey(k);
        }
      }
    }
    if (!k.indexed) {
      for (const u of list) {
        const info = u.c.ix.keys[u.key]!;
        for (let f = 0; f < info.shown.length && k.sample.size < maxSample; f++) {
          if (info.shown[f] !== 1) continue;
          formAt(info, f, form);
          form.shown = true;
          w.sampleForm(k, form);
        }
      }
    }
  }
}

function loadIndex(input: MergeInput, tenant: string, shard: number): BlockIndex {
  const ix = decodeIndexObject(input.blockId, input.index);
  if (ix.blockId !== input.blockId || ix.tenant !== tenant || ix.shard !== shard) {
    throw corrupt(input.blockId, INDEX_OBJECT, 'malformed', `index names block ${ix.blockId} of tenant ${JSON.stringify(ix.tenant)}, shard ${ix.shard}; expected ${input.blockId}, ${JSON.stringify(tenant)}, ${shard}`);
  }
  const d = input.data;
  if (d.length < DATA_HEADER_BYTES) throw corrupt(input.blockId, DATA_OBJECT, 'truncated', `${d.length} bytes, shorter than the header`);
  if (new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(0, true) !== DATA_MAGIC) throw corrupt(input.blockId, DATA_OBJECT, 'malformed', 'bad magic (not a block data object)');
  if (d[4] !== FORMAT_VERSION) throw corrupt(input.blockId, DATA_OBJECT, 'version', `format version ${d[4]} (this reader knows ${FORMAT_VERSION})`);
  if (d.length !== ix.dataBytes) throw corrupt(input.blockId, DATA_OBJECT, d.length < ix.dataBytes ? 'truncated' : 'malformed', `${d.length} bytes, the index says ${ix.dataBytes}`);
  const tr = ix.traces;
  if (tr.firstRow.length !== tr.count + 1 || tr.firstRow[tr.count] !== ix.spanCount) throw corrupt(input.blockId, INDEX_OBJECT, 'malformed', 'trace table rows do not add up to the span count');
  for (let t = 0; t < tr.count; t++) {
    if (tr.firstRow[t + 1]! <= tr.firstRow[t]!) throw corrupt(input.blockId, INDEX_OBJECT, 'malformed', `trace ${t} has no rows`);
    if (t > 0 && compareIds(tr.ids, (t - 1) * 16, tr.ids, t * 16) >= 0) throw corrupt(input.blockId, INDEX_OBJECT, 'malformed', `trace table not in ascending ID order at ${t}`);
    if (tr.rootGroup[t]! >= ix.groups.length || tr.rootName[t]! > ix.names.length) throw corrupt(input.blockId, INDEX_OBJECT, 'malformed', `trace ${t} names a root group or name the block does not have`);
  }
  return ix;
}

export function mergeBlocks(params: MergeBlocksParams): MergedBlock {
  const { blockId, tenant, shard, level, inputs } = params;
  checkBlockIdentity(blockId, tenant, shard, level);
  if (inputs.length === 0) throw new SkeinError('INVALID_ARGUMENT', `block ${blockId}: no inputs to merge`);
  const opts = resolveBuildOptions(params.options);
  const codec: CodecOptions = { codec: opts.codec === 'none' ? Codec.NONE : Codec.ZSTD, level: opts.zstdLevel };
  const indexes = inputs.map((input) => loadIndex(input, tenant, shard));
  let inputSpans = 0;
  for (const ix of indexes) inputSpans += ix.spanCount;
  if (inputSpans === 0) throw new SkeinError('INVALID_ARGUMENT', `block ${blockId}: no spans to write`);

  // Groups: the union, in input order.
  const groups: Group[] = [];
  const groupIds = new Map<string, number>();
  const groupMaps = indexes.map((ix) =>
    Uint32Array.from(ix.groups, (g) => {
      const key = groupKey(g.resource, g.resourceSchemaUrl, g.scope, g.scopeSchemaUrl);
      let id = groupIds.get(key);
      if (id === undefined) {
        id = groups.length;
        groupIds.set(key, id);
        let serviceName = '';
        try {
          serviceName = readServiceName(g.resource);
        } catch {
          // A malformed resource has no service name (as in buildBlock).
        }
        groups.push({ info: { resource: new Uint8Array(g.resource), resourceSchemaUrl: g.resourceSchemaUrl, scope: new Uint8Array(g.scope), scopeSchemaUrl: g.scopeSchemaUrl }, serviceName });
      }
      return id;
    }),
  );

  const w = new BlockWriter(opts, codec, groups, inputSpans);
  for (const g of groups) w.addResource(g.info.resource);
  const cursors = indexes.map((ix, i) => new InputCursor(inputs[i]!.blockId, ix, inputs[i]!.data, groupMaps[i]!, ix.keys.map((k) => w.keyFor(k.bytes))));
  decideKeys(w, cursors, opts.maxDictionaryValues, opts.maxDictionaryBytes, opts.tagValueSample);
  for (const c of cursors) {
    for (const n of c.ix.rootNames) {
      if (n >= c.ix.names.length) throw c.malformed(INDEX_OBJECT, `root name ${n}; the block has ${c.ix.names.length} names`);
      w.addRoot(w.nameOf(c.ix.names[n]!), undefined);
    }
    for (const g of c.ix.rootGroups) {
      if (g >= c.groupMap.length) throw c.malformed(INDEX_OBJECT, `root group ${g}; the block has ${c.groupMap.length} groups`);
      w.addRoot(undefined, c.groupMap[g]!);
    }
  }

  // k-way merge of the trace tables: a min-heap of inputs by (current trace ID, position).
  const next = new Int32Array(cursors.length);
  const heap: number[] = [];
  const less = (a: number, b: number): boolean => {
    const c = compareIds(cursors[a]!.ix.traces.ids, next[a]! * 16, cursors[b]!.ix.traces.ids, next[b]! * 16);
    return c < 0 || (c === 0 && a < b);
  };
  cursors.forEach((c, i) => {
    if (c.ix.traces.count > 0) heapPush(heap, i, less);
  });

  const form: Form = { buf: new Uint8Array(0), off: 0, len: 0, shown: false };
  const fields = createSpanFields();
  const traceId = new Uint8Array(16);
  const same: number[] = [];
  let duplicateSpans = 0;
  let sharedTraces = 0;
  interface SharedRow {
    readonly input: number;
    readonly row: number;
    readonly hi: number;
    readonly lo: number;
  }
  const sharedRows: SharedRow[] = [];
  const feedTrace = (span: Uint8Array, group: number, nameId: number): void => {
    readSpanFields(span, fields);
    const o = fields.spanIdOffset;
    w.traceSpan(fields, group, nameId, be32(span, o), be32(span, o + 4));
  };

  while (heap.length > 0) {
    same.length = 0;
    same.push(heapPop(heap, less)!);
    const first = cursors[same[0]!]!;
    const t0 = next[same[0]!]!;
    while (heap.length > 0 && compareIds(cursors[heap[0]!]!.ix.traces.ids, next[heap[0]!]! * 16, first.ix.traces.ids, t0 * 16) === 0) same.push(heapPop(heap, less)!);
    traceId.set(first.ix.traces.ids.subarray(t0 * 16, t0 * 16 + 16));
    w.beginTrace(traceId);
    if (same.length === 1) {
      const tr = first.ix.traces;
      const from = tr.firstRow[t0]!;
      const to = tr.firstRow[t0 + 1]!;
      for (let r = from; r < to; r++) first.emit(w, r, form, undefined);
      const rootName = tr.rootName[t0]!;
      let outName: number | undefined;
      if (rootName > 0) {
        outName = first.nameMap[rootName - 1]!;
        if (outName < 0) {
          outName = w.nameOf(first.ix.names[rootName - 1]!);
          first.nameMap[rootName - 1] = outName;
        }
      }
      w.endCopiedTrace(to - from, tr.startHi[t0]!, tr.startLo[t0]!, tr.endHi[t0]!, tr.endLo[t0]!, first.groupMap[tr.rootGroup[t0]!]!, outName, tr.flags[t0]!);
    } else {
      // Spans of one trace in several inputs: by span ID, first copy (input order) kept.
      sharedTraces++;
      same.sort((a, b) => a - b);
      sharedRows.length = 0;
      for (const i of same) {
        const c = cursors[i]!;
        const t = next[i]!;
        for (let r = c.ix.traces.firstRow[t]!, end = c.ix.traces.firstRow[t + 1]!; r < end; r++) {
          const page = c.span(r);
          const span = page.raw.subarray(page.offsets[c.at]!, page.offsets[c.at + 1]!);
          if (!readSpanFields(span, fields) || fields.spanIdLength !== 8 || fields.traceIdLength !== 16) throw c.malformed(DATA_OBJECT, `span at row ${r} has no readable IDs`);
          const o = fields.spanIdOffset;
          sharedRows.push({ input: i, row: r, hi: be32(span, o), lo: be32(span, o + 4) });
        }
      }
      // Stable: equal span IDs keep input order.
      sharedRows.sort((a, b) => a.hi - b.hi || a.lo - b.lo);
      for (let k = 0; k < sharedRows.length; k++) {
        const s = sharedRows[k]!;
        if (k > 0 && sharedRows[k - 1]!.hi === s.hi && sharedRows[k - 1]!.lo === s.lo) {
          duplicateSpans++;
          continue;
        }
        cursors[s.input]!.emit(w, s.row, form, feedTrace);
      }
      w.endTrace();
    }
    for (const i of same) {
      next[i]!++;
      if (next[i]! < cursors[i]!.ix.traces.count) heapPush(heap, i, less);
    }
  }
  const built = w.finish({ blockId, tenant, shard, level, skippedSpans: 0, duplicateSpans });
  return { ...built, inputSpans, sharedTraces };
}

