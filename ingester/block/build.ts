// buildBlock: span batches in, the objects of one immutable block out (FORMAT.md). Pure — no I/O;
// writeBlock (write.ts) puts the objects. Steps:
//   1. collect every span (IDs read with common/otlp's lazy reader, bytes kept as given) and intern
//      its (resource, scope) group;
//   2. sort by (trace ID, span ID) and keep the first of every identity (input order decides);
//   3. one pass in block order: span pages (trace-aligned, ~spanPageBytes each), fixed-row column
//      pages (group, name, kind, status, duration, one column per attribute key), the trace table,
//      dictionaries, and per-span-page bloom filters for keys with too many distinct values to be
//      dictionary-coded;
//   4. index, bloom and meta objects.
import { SkeinError } from '../../common/errors/index.js';
import type { AnyValue, KeyValue, SpanBatch, SpanGroup } from '../../common/model/index.js';
import { createSpanFields, decodeResource, decodeSpan, forEachAttribute, readServiceName, readSpanFields, type SpanFields } from '../../common/otlp/index.js';
import { attributeHash, BloomFilter, bloomBlocksFor, traceIdHash } from './bloom.js';
import { blockObjectKey, BLOOM_HEADER_BYTES, BLOOM_MAGIC, BLOOM_OBJECT, Codec, DATA_HEADER_BYTES, DATA_MAGIC, DATA_OBJECT, decodePage, encodePage, FORMAT_VERSION, frameChecksum, INDEX_OBJECT, isValidBlockId, META_OBJECT, PageType, type CodecOptions } from './format.js';
import { ByteWriter } from './bytes.js';
import { ByteDictionary } from './dictionary.js';
import { createForm, formBytes, formOf, latin1, type Form } from './forms.js';
import { encodeIndex, frameIndex, keyHashes, TRACE_FLAG_ERROR, type BlockIndex, type Column, type ColumnPage, type GroupInfo, type KeyInfo, type OperationEntry } from './index-codec.js';
import { attributeRows, decodeAttributePage, encodeAttributePage, encodeDurationPage, encodeGroups, encodeSpanPage, encodeUintPage, type AttributePage } from './pages.js';
import type { BlockMeta } from './meta.js';

export interface BuildBlockOptions {
  /** Page codec. Default zstd. */
  readonly codec?: 'zstd' | 'none';
  /** zstd level for pages and the index. */
  readonly zstdLevel?: number;
  /** Target uncompressed size of a span page; pages end at trace boundaries (a trace spills over only past 2×). */
  readonly spanPageBytes?: number;
  /** Rows per page of every other column. */
  readonly rowsPerColumnPage?: number;
  /** A key with more distinct values than this is not dictionary-coded (see FORMAT.md §Attribute keys). */
  readonly maxDictionaryValues?: number;
  /** …or whose dictionary would exceed this many bytes. */
  readonly maxDictionaryBytes?: number;
  /** Values kept for tagValues of a key that is not dictionary-coded. */
  readonly tagValueSample?: number;
  readonly traceBloomBitsPerTrace?: number;
  readonly pageBloomBitsPerValue?: number;
}

/** Defaults in one place (STYLE.md rule 8); chosen by bench/block.ts measurements (docs/adr/0010). */
export const BLOCK_DEFAULTS = {
  codec: 'zstd',
  zstdLevel: 3,
  spanPageBytes: 256 * 1024,
  rowsPerColumnPage: 262144,
  maxDictionaryValues: 65536,
  maxDictionaryBytes: 4 * 1024 * 1024,
  tagValueSample: 1000,
  traceBloomBitsPerTrace: 16,
  pageBloomBitsPerValue: 10,
} as const;

export interface BuildBlockParams {
  readonly blockId: string;
  readonly tenant: string;
  readonly shard: number;
  /** 0 for a block cut from a head; compaction outputs one above their inputs. */
  readonly level: number;
  /** Every span of the block; all of `tenant`. Any order, duplicates allowed (the first one is kept). */
  readonly batches: Iterable<SpanBatch>;
  readonly options?: BuildBlockOptions;
}

export interface BlockObject {
  /** Full object key: `<tenant>/<shard>/<blockId>/<name>`. */
  readonly key: string;
  readonly body: Uint8Array;
}

export interface BuiltBlock {
  /** In write order: data, index, bloom, meta.json (the last one makes the block complete). */
  readonly objects: BlockObject[];
  readonly meta: BlockMeta;
  /** Spans left out because their IDs could not be read (16-byte trace ID, 8-byte span ID). */
  readonly skippedSpans: number;
  /** Spans left out as repeats of an identity already in the block. */
  readonly duplicateSpans: number;
}

// ---- growable typed arrays ---------------------------------------------------------------------------

class U32List {
  data: Uint32Array;
  length = 0;
  constructor(initial = 1024) {
    this.data = new Uint32Array(initial);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Uint32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

// ---- attribute keys ------------------------------------------------------------------------------------

export interface KeyState {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly hashHi: number;
  readonly hashLo: number;
  indexed: boolean;
  /** Indexed: the dictionary of forms (IDs are column values). */
  dictionary: ByteDictionary;
  shown: number[];
  /** Entries of the column page being filled. */
  rows: U32List;
  values: U32List;
  /** Finished column pages (compressed, with their presence bitmaps and first rows). */
  pages: { firstRow: number; page: Uint8Array; presence: Uint32Array }[];
  /** Not indexed: sample of listed values for tagValues. */
  sample: Map<string, Uint8Array>;
}

export interface Group {
  readonly info: GroupInfo;
  readonly serviceName: string;
}

const NONE = 0xffffffff;
/** Upper bound of rowsPerColumnPage (a reader refuses more). */
export const MAX_ROWS_PER_COLUMN_PAGE = 1 << 20;
const TWO_32 = 4294967296;
const STATUS_ERROR = 2;

export function resolveBuildOptions(o: BuildBlockOptions | undefined): Required<BuildBlockOptions> {
  const opts = { ...BLOCK_DEFAULTS, ...o } as Required<BuildBlockOptions>;
  for (const k of ['zstdLevel', 'spanPageBytes', 'rowsPerColumnPage', 'maxDictionaryValues', 'maxDictionaryBytes', 'tagValueSample', 'traceBloomBitsPerTrace', 'pageBloomBitsPerValue'] as const) {
    const v = opts[k];
    const min = k === 'zstdLevel' ? -7 : k === 'tagValueSample' ? 0 : 1;
    if (!Number.isSafeInteger(v) || v < min) throw new SkeinError('INVALID_ARGUMENT', `block option ${k} must be an integer of at least ${min}, got ${v}`);
  }
  if (opts.rowsPerColumnPage > MAX_ROWS_PER_COLUMN_PAGE) throw new SkeinError('INVALID_ARGUMENT', `block option rowsPerColumnPage must be at most ${MAX_ROWS_PER_COLUMN_PAGE}`);
  return opts;
}

/** Refuses a block id, tenant, shard or level a block cannot have (INVALID_ARGUMENT). */
export function checkBlockIdentity(blockId: string, tenant: string, shard: number, level: number): void {
  if (!isValidBlockId(blockId)) throw new SkeinError('INVALID_ARGUMENT', `invalid block id ${JSON.stringify(blockId)}: 1-128 characters of [A-Za-z0-9._-], starting alphanumeric`);
  if (tenant === '') throw new SkeinError('INVALID_ARGUMENT', 'a block needs a tenant');
  if (!Number.isSafeInteger(shard) || shard < 0) throw new SkeinError('INVALID_ARGUMENT', `invalid shard ${shard}`);
  if (!Number.isSafeInteger(level) || level < 0) throw new SkeinError('INVALID_ARGUMENT', `invalid level ${level}`);
}

/** Identity of a (resource, scope) group: equal keys, equal groups. */
export function groupKey(resource: Uint8Array, resourceSchemaUrl: string, scope: Uint8Array, scopeSchemaUrl: string): string {
  const r = latin1(resource);
  const s = latin1(scope);
  return `${r.length}:${resourceSchemaUrl.length}:${s.length}:${r}${resourceSchemaUrl}${s}${scopeSchemaUrl}`;
}

export function buildBlock(params: BuildBlockParams): BuiltBlock {
  const { blockId, tenant, shard, level } = params;
  checkBlockIdentity(blockId, tenant, shard, level);
  const opts = resolveBuildOptions(params.options);
  const codec: CodecOptions = { codec: opts.codec === 'none' ? Codec.NONE : Codec.ZSTD, level: opts.zstdLevel };

  // ---- 1. collect ----
  const spans: Uint8Array[] = [];
  const rowGroup = new U32List(1 << 16);
  const ids = new U32List(1 << 18); // 6 words per span: trace ID (4), span ID (2), big-endian
  const groupIds = new Map<string, number>();
  const groupList: SpanGroup[] = [];
  // Batches cut from a head share their resource/scope arrays, so most lookups hit by identity.
  let lastResource: Uint8Array | undefined;
  let lastScope: Uint8Array | undefined;
  let lastResourceSchema = '';
  let lastScopeSchema = '';
  let lastGroup = -1;
  const fields = createSpanFields();
  let skippedSpans = 0;
  for (const batch of params.batches) {
    if (batch.tenant !== tenant) throw new SkeinError('INVALID_ARGUMENT', `a block holds one tenant (${JSON.stringify(tenant)}); got a batch of ${JSON.stringify(batch.tenant)}`);
    for (const group of batch.groups) {
      if (group.spans.length === 0) continue;
      let gid: number;
      if (group.resource === lastResource && group.scope === lastScope && group.resourceSchemaUrl === lastResourceSchema && group.scopeSchemaUrl === lastScopeSchema) {
        gid = lastGroup;
      } else {
        const key = groupKey(group.resource, group.resourceSchemaUrl, group.scope, group.scopeSchemaUrl);
        let found = groupIds.get(key);
        if (found === undefined) {
          found = groupList.length;
          groupIds.set(key, found);
          groupList.push(group);
        }
        gid = found;
        lastResource = group.resource;
        lastScope = group.scope;
        lastResourceSchema = group.resourceSchemaUrl;
        lastScopeSchema = group.scopeSchemaUrl;
        lastGroup = gid;
      }
      for (const span of group.spans) {
        if (!readSpanFields(span, fields) || fields.traceIdLength !== 16 || fields.spanIdLength !== 8) {
          skippedSpans++;
          continue;
        }
        spans.push(span);
        rowGroup.push(gid);
        const t = fields.traceIdOffset;
        const s = fields.spanIdOffset;
        ids.push(be32(span, t));
        ids.push(be32(span, t + 4));
        ids.push(be32(span, t + 8));
        ids.push(be32(span, t + 12));
        ids.push(be32(span, s));
        ids.push(be32(span, s + 4));
      }
    }
  }
  if (spans.length === 0) throw new SkeinError('INVALID_ARGUMENT', `block ${blockId}: no spans to write`);

  // ---- 2. sort and dedup ----
  const order = sortRows(ids.data, spans.length);
  const w = ids.data;
  const kept = new U32List(spans.length);
  let duplicateSpans = 0;
  for (let i = 0; i < order.length; i++) {
    const r = order[i]!;
    if (kept.length > 0) {
      const p = kept.data[kept.length - 1]! * 6;
      const q = r * 6;
      if (w[p] === w[q] && w[p + 1] === w[q + 1] && w[p + 2] === w[q + 2] && w[p + 3] === w[q + 3] && w[p + 4] === w[q + 4] && w[p + 5] === w[q + 5]) {
        duplicateSpans++;
        continue;
      }
    }
    kept.push(r);
  }
  const rows = kept.data.subarray(0, kept.length);
  const spanCount = rows.length;

  // Groups actually used, renumbered in order of first use in block order.
  const groupRemap = new Uint32Array(groupList.length).fill(NONE);
  const groups: Group[] = [];
  for (let i = 0; i < spanCount; i++) {
    const g = rowGroup.data[rows[i]!]!;
    if (groupRemap[g] === NONE) {
      groupRemap[g] = groups.length;
      const src = groupList[g]!;
      let serviceName = '';
      try {
        serviceName = readServiceName(src.resource);
      } catch {
        // A malformed resource has no service name (the receiver rejects those; be lenient here).
      }
      groups.push({
        info: { resource: new Uint8Array(src.resource), resourceSchemaUrl: src.resourceSchemaUrl, scope: new Uint8Array(src.scope), scopeSchemaUrl: src.scopeSchemaUrl },
        serviceName,
      });
    }
  }

  // ---- 3. one pass in block order ----
  const b = new BlockWriter(opts, codec, groups, spanCount);
  for (const g of groups) b.addResource(g.info.resource);
  const traceId = new Uint8Array(16);
  let i = 0;
  while (i < spanCount) {
    // Rows of one trace are contiguous.
    const first = rows[i]! * 6;
    let j = i + 1;
    while (j < spanCount) {
      const q = rows[j]! * 6;
      if (w[q] !== w[first] || w[q + 1] !== w[first + 1] || w[q + 2] !== w[first + 2] || w[q + 3] !== w[first + 3]) break;
      j++;
    }
    putBe32(traceId, 0, w[first]!);
    putBe32(traceId, 4, w[first + 1]!);
    putBe32(traceId, 8, w[first + 2]!);
    putBe32(traceId, 12, w[first + 3]!);
    b.beginTrace(traceId);
    for (let k = i; k < j; k++) {
      const r = rows[k]!;
      b.addSpan(spans[r]!, groupRemap[rowGroup.data[r]!]!, w[r * 6 + 4]!, w[r * 6 + 5]!);
    }
    b.endTrace();
    i = j;
  }
  return b.finish({ blockId, tenant, shard, level, skippedSpans, duplicateSpans });
}

/** The big-endian u32 at b[o]. */
export function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function putBe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/**
 * Row order by (trace ID, span ID, input position): an LSD radix pass on the first trace-ID word's
 * top 16 bits, then comparison sorts within buckets (random IDs make buckets tiny).
 */
function sortRows(w: Uint32Array, n: number): Uint32Array {
  const counts = new Uint32Array(65537);
  for (let r = 0; r < n; r++) counts[(w[r * 6]! >>> 16) + 1]!++;
  for (let k = 1; k < 65537; k++) counts[k]! += counts[k - 1]!;
  const starts = counts.slice();
  const order = new Uint32Array(n);
  for (let r = 0; r < n; r++) order[counts[w[r * 6]! >>> 16]!++] = r;
  const cmp = (a: number, c: number): number => {
    const pa = a * 6;
    const pc = c * 6;
    for (let k = 0; k < 6; k++) {
      const d = w[pa + k]! - w[pc + k]!;
      if (d !== 0) return d;
    }
    return a - c;
  };
  for (let k = 0; k < 65536; k++) {
    const s = starts[k]!;
    const e = starts[k + 1]!;
    if (e - s > 1) order.subarray(s, e).sort(cmp);
  }
  return order;
}

// ---- the block-order pass ----------------------------------------------------------------------------------

/** The block-order pass (exported for merge-blocks.ts, not from index.ts). */
export class BlockWriter {
  private readonly keys: KeyState[] = [];
  private readonly keyIds = new Map<string, number>();
  /** Key entry last seen at each attribute position (spans of one instrumentation repeat key order). */
  private readonly keyCache: (KeyState | undefined)[] = [];
  private readonly names = new ByteDictionary();
  private statusMask = 0;
  private kindMask = 0;
  private readonly serviceOf: number[];
  /** Per service (index into serviceNames): name ID → span kinds seen. */
  private readonly operations: Map<number, number[]>[] = [];
  private readonly serviceGroup: number[] = [];
  private readonly rootNames = new Set<number>();
  private readonly rootGroups = new Set<number>();

  // Trace table.
  private traceCount = 0;
  private readonly traceFirstRow = new U32List(1 << 14);
  private readonly traceStartHi = new U32List(1 << 14);
  private readonly traceStartLo = new U32List(1 << 14);
  private readonly traceEndHi = new U32List(1 << 14);
  private readonly traceEndLo = new U32List(1 << 14);
  private readonly traceRootGroup = new U32List(1 << 14);
  private readonly traceRootName = new U32List(1 << 14);
  private readonly traceFlags = new U32List(1 << 14);
  private readonly traceId = new Uint8Array(16);
  /** 16 bytes per trace, grown as traces end. */
  private traceIdBytes = new Uint8Array(16 * 1024);
  private tStartHi = 0;
  private tStartLo = 0;
  private tEndHi = 0;
  private tEndLo = 0;
  private tCount = 0;
  private tFlags = 0;
  // Root: parentless span with the smallest (start, span ID); earliest: any span with the smallest.
  private rootRow = -1;
  private rootKey = [0, 0, 0, 0];
  private earliestKey = [0, 0, 0, 0];
  private rootGroupId = 0;
  private rootNameId = 0;
  private earliestGroupId = 0;

  // Span pages.
  private readonly spanPages: { firstRow: number; page: Uint8Array; hashes: U32List }[] = [];
  /** Spans of the page being filled, back to back; their lengths and groups. */
  private pageBuf = new Uint8Array(1 << 16);
  private readonly pageLengths = new U32List(1024);
  private readonly pageGroups = new U32List(1024);
  private pageBytes = 0;
  private pageFirstRow = 0;
  private pageHashes = new U32List(256);

  // Intrinsic column pages.
  private readonly colGroup: Uint32Array;
  private readonly colName: Uint32Array;
  private readonly colKind: Uint32Array;
  private readonly colStatus: Uint32Array;
  private readonly colDuration: Float64Array;
  private readonly intrinsicPages: { type: PageType; firstRow: number; page: Uint8Array; presence: Uint32Array | undefined; min: number; max: number }[][] = [[], [], [], [], []];
  /** Keys with entries in the current column page. */
  private readonly touchedKeys = new Set<KeyState>();

  private row = 0;
  private readonly fields = createSpanFields();
  private readonly form = createForm();
  private readonly hash = [0, 0];
  // Walk state.
  private curSpan: Uint8Array = new Uint8Array(0);
  private curStart = 0;
  private curEnd = 0;
  private curAttribute = 0;
  private curDecoded: readonly KeyValue[] | undefined | null = null;
  private curResource = false;
  private walkOnly: ReadonlySet<KeyState> | undefined = undefined;

  constructor(
    private readonly opts: Required<BuildBlockOptions>,
    private readonly codec: CodecOptions,
    private readonly groups: Group[],
    spanCount: number,
  ) {
    const n = opts.rowsPerColumnPage;
    this.colGroup = new Uint32Array(n);
    this.colName = new Uint32Array(n);
    this.colKind = new Uint32Array(n);
    this.colStatus = new Uint32Array(n);
    this.colDuration = new Float64Array(n);
    this.traceIdBytes = new Uint8Array(16 * Math.max(16, Math.ceil(spanCount / 4)));
    const services = new Map<string, number>();
    this.serviceOf = groups.map((g, gi) => {
      let s = services.get(g.serviceName);
      if (s === undefined) {
        s = services.size;
        services.set(g.serviceName, s);
        this.operations.push(new Map());
        this.serviceGroup.push(gi);
      }
      return s;
    });
  }

  // ---- keys and forms ----

  private key(buf: Uint8Array, off: number, len: number, position: number): KeyState {
    const cached = position < 64 ? this.keyCache[position] : undefined;
    if (cached !== undefined && sameBytes(cached.bytes, buf, off, len)) return cached;
    const bytes = buf.subarray(off, off + len);
    const name = latin1(bytes);
    let id = this.keyIds.get(name);
    if (id === undefined) {
      id = this.keys.length;
      this.keyIds.set(name, id);
      const copy = new Uint8Array(bytes);
      const [hashHi, hashLo] = keyHashes(copy);
      this.keys.push({
        id,
        bytes: copy,
        hashHi,
        hashLo,
        indexed: true,
        dictionary: new ByteDictionary(),
        shown: [],
        rows: new U32List(64),
        values: new U32List(64),
        pages: [],
        sample: new Map(),
      });
    }
    const k = this.keys[id]!;
    if (position < 64) this.keyCache[position] = k;
    return k;
  }

  /** Dictionary ID of the form in an indexed key; −1 when adding it would exceed the limits (the key is then converted). */
  private intern(k: KeyState, form: Form): number {
    const d = k.dictionary;
    const id = d.find(form.buf, form.off, form.len);
    if (id >= 0) {
      if (form.shown && k.shown[id] === 0) k.shown[id] = 1;
      return id;
    }
    if (d.size >= this.opts.maxDictionaryValues || d.bytes + form.len > this.opts.maxDictionaryBytes) {
      this.unindex(k);
      return -1;
    }
    k.shown.push(form.shown ? 1 : 0);
    return d.add(form.buf, form.off, form.len);
  }

  /**
   * A key outgrew its dictionary: from now on its values go to span-page bloom filters. Its
   * entries so far (finished column pages and the page being filled) are moved there too, and
   * the start of its dictionary is kept as the tagValues sample.
   */
  private unindex(k: KeyState): void {
    k.indexed = false;
    const forms = k.dictionary.values;
    for (let id = 0; id < forms.length && k.sample.size < this.opts.tagValueSample; id++) {
      if (k.shown[id] === 1) k.sample.set(latin1(forms[id]!), forms[id]!);
    }
    const addEntry = (row: number, valueId: number): void => {
      const f = forms[valueId]!;
      attributeHash(k.hashHi, k.hashLo, f, 0, f.length, this.hash);
      this.hashesForRow(row).push(this.hash[0]!, this.hash[1]!);
    };
    for (const p of k.pages) {
      const entries = decodeOwnAttributePage(p.page);
      const rows = attributeRows(entries);
      for (let e = 0; e < entries.count; e++) addEntry(p.firstRow + rows[e]!, entries.values[e]!);
    }
    const base = this.row - (this.row % this.opts.rowsPerColumnPage);
    for (let e = 0; e < k.rows.length; e++) addEntry(base + k.rows.data[e]!, k.values.data[e]!);
    k.pages = [];
    k.rows.length = 0;
    k.values.length = 0;
    k.dictionary = new ByteDictionary();
    k.shown = [];
    this.touchedKeys.delete(k);
  }

  /** The bloom hash list of the span page holding `row` (the current one or a finished one). */
  private hashesForRow(row: number): { push(hi: number, lo: number): void } {
    let list: U32List;
    if (row >= this.pageFirstRow) {
      list = this.pageHashes;
    } else {
      let lo = 0;
      let hi = this.spanPages.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (this.spanPages[mid]!.firstRow <= row) lo = mid;
        else hi = mid - 1;
      }
      list = this.spanPages[lo]!.hashes;
    }
    return {
      push: (a: number, c: number) => {
        list.push(a);
        list.push(c);
      },
    };
  }

  addResource(resource: Uint8Array): void {
    this.curSpan = resource;
    this.curStart = 0;
    this.curEnd = resource.length;
    this.curAttribute = 64; // resource attributes leave the span key cache alone
    this.curDecoded = null;
    this.curResource = true;
    try {
      forEachAttribute(resource, 0, resource.length, 1, this.visit);
    } catch {
      // Malformed resource attributes: the ones read so far are indexed (as the head does).
    }
    this.curResource = false;
  }

  private readonly decoded = (index: number): AnyValue | undefined => {
    if (this.curDecoded === null) {
      try {
        this.curDecoded = this.curResource ? decodeResource(this.curSpan.subarray(this.curStart, this.curEnd)).attributes : decodeSpan(this.curSpan.subarray(this.curStart, this.curEnd)).attributes;
      } catch {
        this.curDecoded = undefined;
      }
    }
    return this.curDecoded?.[index]?.value;
  };

  private readonly visit = (buf: Uint8Array, keyOffset: number, keyLength: number, type: number, valueOffset: number, valueLength: number): void => {
    const position = this.curAttribute++;
    const k = this.key(buf, keyOffset, keyLength, position);
    if (this.walkOnly !== undefined && !this.walkOnly.has(k)) return;
    const index = this.curResource ? position - 64 : position;
    const f = this.form;
    if (!formOf(buf, type, valueOffset, valueLength, this.decoded, index, f)) return;
    this.attribute(k, f, this.curResource);
  };

  /** One attribute value: its dictionary ID while `k` is dictionary-coded, else −1 (bloom hash and sample). */
  private attribute(k: KeyState, f: Form, resource: boolean): number {
    if (k.indexed) {
      const id = this.intern(k, f);
      if (id >= 0) {
        if (!resource) this.spanAttributeId(k, id);
        return id;
      }
    }
    // Not dictionary-coded: span values go to the span page's bloom; listed values to the sample.
    if (f.shown && k.sample.size < this.opts.tagValueSample) {
      const bytes = formBytes(f);
      const text = latin1(bytes);
      if (!k.sample.has(text)) k.sample.set(text, bytes);
    }
    if (!resource) {
      attributeHash(k.hashHi, k.hashLo, f.buf, f.off, f.len, this.hash);
      this.pageHashes.push(this.hash[0]!);
      this.pageHashes.push(this.hash[1]!);
    }
    return -1;
  }

  // ---- traces and spans ----

  beginTrace(id: Uint8Array): void {
    this.traceId.set(id);
    this.tCount = 0;
    this.tFlags = 0;
    this.rootRow = -1;
    // A trace's first span may not fit the current span page's budget: start a new page.
    if (this.pageBytes >= this.opts.spanPageBytes) this.flushSpanPage();
  }

  addSpan(span: Uint8Array, group: number, spanHi: number, spanLo: number): void {
    const f = this.fields;
    readSpanFields(span, f); // cannot fail: collect() read it already
    const nameId = this.nameId(span, f.nameOffset, f.nameLength);
    this.spanColumns(span, 0, span.length, group, nameId, f.kind, f.statusCode, (f.endHi - f.startHi) * TWO_32 + (f.endLo - f.startLo));
    this.traceSpan(f, group, nameId, spanHi, spanLo);
    // Attributes.
    if (f.attributeCount > 0) this.walkAttributes(span, 0, span.length, undefined);
    this.endRow();
  }

  /** The span `span[spanStart, spanEnd)`: its page entry and intrinsic columns (both paths: buildBlock and the columnar merge). */
  spanColumns(span: Uint8Array, spanStart: number, spanEnd: number, group: number, nameId: number, kind: number, status: number, duration: number): void {
    const slot = this.row % this.opts.rowsPerColumnPage;
    // Span bytes as received: pages hold whole spans, so `data` alone can rebuild the block (recover.ts).
    if (this.pageLengths.length > 0 && this.pageBytes >= 2 * this.opts.spanPageBytes) this.flushSpanPage();
    const len = spanEnd - spanStart;
    const at = this.pageBytes - 4 * this.pageLengths.length;
    if (at + len > this.pageBuf.length) {
      const next = new Uint8Array(Math.max(this.pageBuf.length * 2, at + len));
      next.set(this.pageBuf.subarray(0, at));
      this.pageBuf = next;
    }
    this.pageBuf.set(span.subarray(spanStart, spanEnd), at);
    this.pageLengths.push(len);
    this.pageGroups.push(group);
    this.pageBytes += len + 4;

    this.colGroup[slot] = group;
    this.colName[slot] = nameId;
    this.colKind[slot] = kind >>> 0;
    this.colStatus[slot] = status >>> 0;
    this.colDuration[slot] = duration;
    this.statusMask |= 1 << (status & 31);
    this.kindMask |= 1 << (kind & 31);
    const service = this.serviceOf[group]!;
    const ops = this.operations[service]!;
    const kinds = ops.get(nameId);
    if (kinds === undefined) ops.set(nameId, [kind | 0]);
    else if (!kinds.includes(kind | 0)) kinds.push(kind | 0);
  }

  /** Trace bounds, root and earliest span, error flag of the trace being written, from one span's fields. */
  traceSpan(f: SpanFields, group: number, nameId: number, spanHi: number, spanLo: number): void {
    const row = this.row;
    // The head's rules: minimum by (start, span ID).
    const sh = f.startHi;
    const sl = f.startLo;
    if (this.tCount === 0 || before(sh, sl, spanHi, spanLo, this.earliestKey)) {
      this.earliestKey[0] = sh;
      this.earliestKey[1] = sl;
      this.earliestKey[2] = spanHi;
      this.earliestKey[3] = spanLo;
      this.earliestGroupId = group;
    }
    if (this.tCount === 0 || sh < this.tStartHi || (sh === this.tStartHi && sl < this.tStartLo)) {
      this.tStartHi = sh;
      this.tStartLo = sl;
    }
    if (this.tCount === 0 || f.endHi > this.tEndHi || (f.endHi === this.tEndHi && f.endLo > this.tEndLo)) {
      this.tEndHi = f.endHi;
      this.tEndLo = f.endLo;
    }
    if (f.parentSpanIdLength === 0) {
      this.rootNames.add(nameId);
      this.rootGroups.add(group);
      if (this.rootRow < 0 || before(sh, sl, spanHi, spanLo, this.rootKey)) {
        this.rootRow = row;
        this.rootKey[0] = sh;
        this.rootKey[1] = sl;
        this.rootKey[2] = spanHi;
        this.rootKey[3] = spanLo;
        this.rootGroupId = group;
        this.rootNameId = nameId;
      }
    }
    if (f.statusCode === STATUS_ERROR) this.tFlags |= TRACE_FLAG_ERROR;
    this.tCount++;
  }

  /**
   * Visits the span's attributes into the key columns / page blooms. With `only`, attributes of
   * other keys are skipped (the columnar merge takes those from the input's columns).
   */
  walkAttributes(span: Uint8Array, start: number, end: number, only: ReadonlySet<KeyState> | undefined): void {
    this.curSpan = span;
    this.curStart = start;
    this.curEnd = end;
    this.curAttribute = 0;
    this.curDecoded = null;
    this.walkOnly = only;
    try {
      forEachAttribute(span, start, end, 9, this.visit);
    } catch {
      // Malformed attributes (unreachable for validated spans): the ones read so far count.
    }
    this.walkOnly = undefined;
  }

  endRow(): void {
    this.row++;
    if (this.row % this.opts.rowsPerColumnPage === 0) this.flushColumnPages();
  }

  /** The output key for an attribute key's bytes (created on first use). */
  keyFor(bytes: Uint8Array): KeyState {
    return this.key(bytes, 0, bytes.length, 64);
  }

  /**
   * One span attribute of key `k` with match form `f` (the columnar merge's way into visit's
   * logic): its dictionary ID while `k` is dictionary-coded, else −1.
   */
  spanAttribute(k: KeyState, f: Form): number {
    return this.attribute(k, f, false);
  }

  /** Stops dictionary-coding `k` (its values go to span-page blooms from now on). */
  unindexKey(k: KeyState): void {
    if (k.indexed) this.unindex(k);
  }

  /** Offers a value for the tagValues sample of a key that is not dictionary-coded. */
  sampleForm(k: KeyState, f: Form): void {
    if (k.indexed || !f.shown || k.sample.size >= this.opts.tagValueSample) return;
    const bytes = formBytes(f);
    const text = latin1(bytes);
    if (!k.sample.has(text)) k.sample.set(text, bytes);
  }

  /** The span-page bloom hash of value `f` of key `k`, into out[0], out[1]. */
  formHash(k: KeyState, f: Form, out: number[]): void {
    attributeHash(k.hashHi, k.hashLo, f.buf, f.off, f.len, out);
  }

  /** A span attribute of a key that is not dictionary-coded, by its formHash. */
  spanAttributeHash(hi: number, lo: number): void {
    this.pageHashes.push(hi);
    this.pageHashes.push(lo);
  }

  /** A span attribute by a dictionary ID that spanAttribute returned for `k` (valid while k.indexed). */
  spanAttributeId(k: KeyState, id: number): void {
    k.rows.push(this.row % this.opts.rowsPerColumnPage);
    k.values.push(id);
    this.touchedKeys.add(k);
  }

  /** The output name ID of a span name. */
  nameOf(bytes: Uint8Array): number {
    return this.nameId(bytes, 0, bytes.length);
  }

  /** Marks a name / group as a root span's (the columnar merge carries its inputs' root sets over). */
  addRoot(nameId: number | undefined, group: number | undefined): void {
    if (nameId !== undefined) this.rootNames.add(nameId);
    if (group !== undefined) this.rootGroups.add(group);
  }

  /** Ends a trace whose entry is carried over whole from one input (its rows were added with spanColumns). */
  endCopiedTrace(count: number, startHi: number, startLo: number, endHi: number, endLo: number, rootGroup: number, rootName: number | undefined, flags: number): void {
    this.tCount = count;
    this.tStartHi = startHi;
    this.tStartLo = startLo;
    this.tEndHi = endHi;
    this.tEndLo = endLo;
    this.tFlags = flags;
    if (rootName === undefined) {
      this.rootRow = -1;
      this.earliestGroupId = rootGroup;
    } else {
      this.rootRow = this.row - count;
      this.rootGroupId = rootGroup;
      this.rootNameId = rootName;
    }
    this.endTrace();
  }

  private nameId(span: Uint8Array, off: number, len: number): number {
    const id = this.names.find(span, off, len);
    return id >= 0 ? id : this.names.add(span, off, len);
  }

  endTrace(): void {
    if ((this.traceCount + 1) * 16 > this.traceIdBytes.length) {
      const next = new Uint8Array(this.traceIdBytes.length * 2);
      next.set(this.traceIdBytes);
      this.traceIdBytes = next;
    }
    this.traceIdBytes.set(this.traceId, this.traceCount * 16);
    this.traceFirstRow.push(this.row - this.tCount);
    this.traceStartHi.push(this.tStartHi);
    this.traceStartLo.push(this.tStartLo);
    this.traceEndHi.push(this.tEndHi);
    this.traceEndLo.push(this.tEndLo);
    this.traceRootGroup.push(this.rootRow >= 0 ? this.rootGroupId : this.earliestGroupId);
    this.traceRootName.push(this.rootRow >= 0 ? this.rootNameId + 1 : 0);
    this.traceFlags.push(this.tFlags);
    this.traceCount++;
  }

  private flushSpanPage(): void {
    const count = this.pageLengths.length;
    if (count === 0) return;
    const raw = encodeSpanPage(this.pageBuf, this.pageLengths.data, this.pageGroups.data, count);
    this.spanPages.push({ firstRow: this.pageFirstRow, page: encodePage(PageType.SPAN, raw, this.codec), hashes: this.pageHashes });
    this.pageLengths.length = 0;
    this.pageGroups.length = 0;
    this.pageBytes = 0;
    this.pageFirstRow = this.row;
    this.pageHashes = new U32List(256);
  }

  private flushColumnPages(): void {
    const count = this.row % this.opts.rowsPerColumnPage || this.opts.rowsPerColumnPage;
    const firstRow = this.row - count;
    if (count <= 0 || firstRow < 0) return;
    const cols: [PageType, Uint32Array][] = [
      [PageType.GROUP, this.colGroup],
      [PageType.NAME, this.colName],
      [PageType.KIND, this.colKind],
      [PageType.STATUS, this.colStatus],
    ];
    cols.forEach(([type, values], c) => {
      this.intrinsicPages[c]!.push({ type, firstRow, page: encodePage(type, encodeUintPage(values, count), this.codec), presence: presenceOf(values, count), min: 0, max: 0 });
    });
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < count; i++) {
      const d = this.colDuration[i]!;
      if (d < min) min = d;
      if (d > max) max = d;
    }
    this.intrinsicPages[4]!.push({ type: PageType.DURATION, firstRow, page: encodePage(PageType.DURATION, encodeDurationPage(this.colDuration, count), this.codec), presence: undefined, min, max });
    for (const k of this.touchedKeys) {
      if (k.rows.length === 0) continue;
      const raw = encodeAttributePage(k.rows.data, k.values.data, k.rows.length, count);
      k.pages.push({ firstRow, page: encodePage(PageType.ATTRIBUTE, raw, this.codec), presence: presenceOf(k.values.data, k.values.length) });
      k.rows.length = 0;
      k.values.length = 0;
    }
    this.touchedKeys.clear();
  }

  finish(p: { blockId: string; tenant: string; shard: number; level: number; skippedSpans: number; duplicateSpans: number }): BuiltBlock {
    this.flushSpanPage();
    if (this.row % this.opts.rowsPerColumnPage !== 0) this.flushColumnPages();
    const spanCount = this.row;

    // Data object: header, the groups page, then every column's pages, column after column.
    const columns: Column[] = [];
    const groupsWriter = new ByteWriter(1024);
    encodeGroups(groupsWriter, this.groups.map((g) => g.info));
    const groupsPage = encodePage(PageType.GROUPS, groupsWriter.finish(), this.codec);
    const chunks: Uint8Array[] = [groupsPage];
    let offset = DATA_HEADER_BYTES + groupsPage.length;
    let pageNumber = 0;
    const addColumn = (type: PageType, keyId: number, pages: { firstRow: number; page: Uint8Array; stats: (p: Omit<ColumnPage, 'presence' | 'minDuration' | 'maxDuration' | 'bloom'>) => ColumnPage }[]): void => {
      const out: ColumnPage[] = [];
      for (const pg of pages) {
        out.push(pg.stats({ firstRow: pg.firstRow, offset, length: pg.page.length, number: pageNumber++ }));
        chunks.push(pg.page);
        offset += pg.page.length;
      }
      columns.push({ type, keyId, pages: out });
    };
    const bitsPerValue = this.opts.pageBloomBitsPerValue;
    addColumn(
      PageType.SPAN,
      -1,
      this.spanPages.map((sp) => ({
        firstRow: sp.firstRow,
        page: sp.page,
        stats: (base) => {
          const n = sp.hashes.length / 2;
          const bloom = new BloomFilter(bloomBlocksFor(n, bitsPerValue));
          for (let h = 0; h < sp.hashes.length; h += 2) bloom.add(sp.hashes.data[h]!, sp.hashes.data[h + 1]!);
          return { ...base, presence: undefined, minDuration: 0, maxDuration: 0, bloom };
        },
      })),
    );
    const intrinsicTypes = [PageType.GROUP, PageType.NAME, PageType.KIND, PageType.STATUS, PageType.DURATION];
    intrinsicTypes.forEach((type, c) => {
      addColumn(
        type,
        -1,
        this.intrinsicPages[c]!.map((ip) => ({ firstRow: ip.firstRow, page: ip.page, stats: (base) => ({ ...base, presence: ip.presence, minDuration: ip.min, maxDuration: ip.max, bloom: undefined }) })),
      );
    });
    for (const k of this.keys) {
      if (!k.indexed) continue;
      addColumn(
        PageType.ATTRIBUTE,
        k.id,
        k.pages.map((kp) => ({ firstRow: kp.firstRow, page: kp.page, stats: (base) => ({ ...base, presence: kp.presence, minDuration: 0, maxDuration: 0, bloom: undefined }) })),
      );
    }
    const data = new Uint8Array(offset);
    const dv = new DataView(data.buffer);
    dv.setUint32(0, DATA_MAGIC, true);
    data[4] = FORMAT_VERSION;
    let at = DATA_HEADER_BYTES;
    for (const c of chunks) {
      data.set(c, at);
      at += c.length;
    }

    // Operations: per service, its (name, kind) pairs.
    const operations: OperationEntry[] = [];
    this.operations.forEach((ops, s) => {
      for (const [name, kinds] of ops) for (const kind of kinds) operations.push({ group: this.serviceGroup[s]!, name, kind });
    });

    const keys: KeyInfo[] = this.keys.map((k) => {
      if (k.indexed) return { bytes: k.bytes, indexed: true, forms: k.dictionary.values, shown: Uint8Array.from(k.shown) };
      const sample = [...k.sample.values()];
      return { bytes: k.bytes, indexed: false, forms: sample, shown: new Uint8Array(sample.length).fill(1) };
    });

    const T = this.traceCount;
    const firstRow = new Uint32Array(T + 1);
    firstRow.set(this.traceFirstRow.data.subarray(0, T));
    firstRow[T] = spanCount;
    const traceIds = this.traceIdBytes.slice(0, T * 16);
    const index: BlockIndex = {
      blockId: p.blockId,
      tenant: p.tenant,
      shard: p.shard,
      level: p.level,
      spanCount,
      rowsPerColumnPage: this.opts.rowsPerColumnPage,
      dataBytes: data.length,
      statusMask: this.statusMask >>> 0,
      kindMask: this.kindMask >>> 0,
      names: this.names.values,
      groups: this.groups.map((g) => g.info),
      keys,
      operations,
      rootNames: [...this.rootNames],
      rootGroups: [...this.rootGroups],
      traces: {
        count: T,
        ids: traceIds,
        firstRow,
        startHi: this.traceStartHi.data.subarray(0, T),
        startLo: this.traceStartLo.data.subarray(0, T),
        endHi: this.traceEndHi.data.subarray(0, T),
        endLo: this.traceEndLo.data.subarray(0, T),
        rootGroup: this.traceRootGroup.data.subarray(0, T),
        rootName: this.traceRootName.data.subarray(0, T),
        flags: Uint8Array.from(this.traceFlags.data.subarray(0, T)),
      },
      columns,
    };
    const indexObject = frameIndex(encodeIndex(index), this.codec);

    // Bloom over trace IDs.
    const bloom = new BloomFilter(bloomBlocksFor(T, this.opts.traceBloomBitsPerTrace));
    for (let t = 0; t < T; t++) {
      traceIdHash(traceIds, t * 16, this.hash);
      bloom.add(this.hash[0]!, this.hash[1]!);
    }
    const bloomObject = frameBloom(bloom);

    // Meta, with `bytes` the size of every object including itself.
    let minStart = 0n;
    let maxEnd = 0n;
    for (let t = 0; t < T; t++) {
      const s = (BigInt(index.traces.startHi[t]!) << 32n) | BigInt(index.traces.startLo[t]!);
      const e = (BigInt(index.traces.endHi[t]!) << 32n) | BigInt(index.traces.endLo[t]!);
      if (t === 0 || s < minStart) minStart = s;
      if (t === 0 || e > maxEnd) maxEnd = e;
    }
    const minStartMs = Number(minStart / 1_000_000n);
    const maxEndMs = Math.max(minStartMs, Number((maxEnd + 999_999n) / 1_000_000n));
    const hex = (t: number): string => Buffer.from(traceIds.subarray(t * 16, t * 16 + 16)).toString('hex');
    const fixedBytes = data.length + indexObject.length + bloomObject.length;
    let meta: BlockMeta = {
      blockId: p.blockId,
      tenant: p.tenant,
      shard: p.shard,
      formatVersion: FORMAT_VERSION,
      level: p.level,
      minTraceId: hex(0),
      maxTraceId: hex(T - 1),
      minStartMs,
      maxEndMs,
      spanCount,
      traceCount: T,
      bytes: fixedBytes,
    };
    let metaBody = new Uint8Array(0);
    for (let k = 0; k < 4; k++) {
      metaBody = Buffer.from(JSON.stringify(meta) + '\n', 'utf8');
      if (meta.bytes === fixedBytes + metaBody.length) break;
      meta = { ...meta, bytes: fixedBytes + metaBody.length };
    }
    const key = (name: string): string => blockObjectKey(p.tenant, p.shard, p.blockId, name);
    return {
      objects: [
        { key: key(DATA_OBJECT), body: data },
        { key: key(INDEX_OBJECT), body: indexObject },
        { key: key(BLOOM_OBJECT), body: bloomObject },
        { key: key(META_OBJECT), body: metaBody },
      ],
      meta,
      skippedSpans: p.skippedSpans,
      duplicateSpans: p.duplicateSpans,
    };
  }
}

function before(sh: number, sl: number, hi: number, lo: number, key: number[]): boolean {
  if (sh !== key[0]) return sh < key[0]!;
  if (sl !== key[1]) return sl < key[1]!;
  if (hi !== key[2]) return hi < key[2]!;
  return lo < key[3]!;
}

function sameBytes(a: Uint8Array, buf: Uint8Array, off: number, len: number): boolean {
  if (a.length !== len) return false;
  for (let i = 0; i < len; i++) if (a[i] !== buf[off + i]) return false;
  return true;
}

function presenceOf(values: Uint32Array, count: number): Uint32Array {
  const p = new Uint32Array(8);
  for (let i = 0; i < count; i++) {
    const v = values[i]! & 255;
    p[v >>> 5] = p[v >>> 5]! | (1 << (v & 31));
  }
  return p;
}

/** Bloom object: magic, version, 0, 0, u32 block count, CRC32C of bytes 0–11 and the bits, the bits. */
function frameBloom(bloom: BloomFilter): Uint8Array {
  const bits = bloom.toBytes();
  const out = new Uint8Array(BLOOM_HEADER_BYTES + bits.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, BLOOM_MAGIC, true);
  out[4] = FORMAT_VERSION;
  view.setUint32(8, bloom.blocks, true);
  out.set(bits, BLOOM_HEADER_BYTES);
  view.setUint32(12, frameChecksum(out, 12, bits), true);
  return out;
}

/** Re-reads one of this build's own attribute pages (when its key is converted to blooms). */
function decodeOwnAttributePage(page: Uint8Array): AttributePage {
  const r = decodePage(page, page.length, PageType.ATTRIBUTE);
  if (!r.ok) throw new Error(`internal: an attribute page just built does not decode (${r.reason})`);
  return decodeAttributePage(r.raw);
}
