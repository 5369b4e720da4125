// openBlock: the query side of a block (FORMAT.md §Reading). meta.json is read at open; the bloom
// and the index are read whole on first need and kept for the life of the reader (each is one
// object, checksummed as a whole); pages are fetched by range, neighbours coalesced into one read,
// and verified page by page. A failed check raises BlockCorruptError for the query that touched
// that page only: other queries keep being answered, never from unverified bytes.
import { isSkeinError, SkeinError } from '../../common/errors/index.js';
import type { OperationInfo, SearchRequest, SpanGroup, TraceSummary } from '../../common/model/index.js';
import type { ObjectCallOptions, ObjectStore } from '../../common/storage/index.js';
import { BloomFilter, traceIdHash } from './bloom.js';
import { MalformedError } from './bytes.js';
import { BlockCorruptError, type BlockCorruptKind } from './errors.js';
import { blockObjectKey, BLOOM_HEADER_BYTES, BLOOM_MAGIC, BLOOM_OBJECT, DATA_OBJECT, decodePage, FORMAT_VERSION, frameChecksum, INDEX_OBJECT, META_OBJECT, PageType } from './format.js';
import { decodeIndex, unframeIndex, type BlockIndex, type Column, type ColumnPage } from './index-codec.js';
import { parseMeta, type BlockMeta } from './meta.js';
import { decodeSpanPage, decodeUintPage, spanBytes, type SpanPage } from './pages.js';
import { createLoadedIndex, type LoadedIndex } from './loaded-index.js';
import type { PageCache } from './page-cache.js';
import { ScratchPool, searchIndex } from './search.js';
import { listOperations, listServices, listTagNames, listTagValues } from './tags.js';

export interface OpenBlockOptions {
  /** Distinct values tagValues returns per tag (the head's default is the same). Default 1000. */
  readonly maxTagValuesPerKey?: number;
  /** Reads closer than this are merged into one range read. Default 64 KiB. */
  readonly coalesceGapBytes?: number;
  /** Upper bound of one merged range read. Default 8 MiB. */
  readonly maxReadBytes?: number;
  /** Decoded pages shared across readers (createPageCache); none by default. */
  readonly pageCache?: PageCache;
  readonly signal?: AbortSignal;
}

export const READER_DEFAULTS = { maxTagValuesPerKey: 1000, coalesceGapBytes: 64 * 1024, maxReadBytes: 8 * 1024 * 1024 } as const;

export interface BlockSearchResult {
  /** Newest first (start time, then trace ID, descending), at most request.limit. */
  readonly traces: TraceSummary[];
  /** Traces that had a span matching every span-level filter (or, without any, every trace examined). */
  readonly inspectedTraces: number;
}

/** One trace of a block, as `scan` yields it. */
export interface BlockTrace {
  readonly traceId: Uint8Array;
  /** Spans grouped by (resource, scope), in span ID order within the block order. */
  readonly groups: SpanGroup[];
}

export interface ScanOptions extends ObjectCallOptions {
  /**
   * Called for every span page that fails its checks; the scan then goes on without that page's
   * spans (for salvage). Without it, the scan throws the BlockCorruptError.
   */
  readonly onCorruptPage?: (error: BlockCorruptError) => void;
}

export interface BlockReader {
  readonly meta: BlockMeta;
  /** The spans of the trace grouped by (resource, scope), or null when the block does not hold it. */
  findTrace(traceId: Uint8Array, options?: ObjectCallOptions): Promise<SpanGroup[] | null>;
  /** The head's search (ingester/head) over this block: same filters, same semantics, same order. */
  search(request: SearchRequest, options?: ObjectCallOptions): Promise<BlockSearchResult>;
  tagNames(options?: ObjectCallOptions): Promise<string[]>;
  tagValues(tag: string, options?: ObjectCallOptions): Promise<string[]>;
  services(options?: ObjectCallOptions): Promise<string[]>;
  operations(service: string, options?: ObjectCallOptions): Promise<OperationInfo[]>;
  /** Every trace in trace-ID order, its spans in span-ID order: the input of a k-way merge. */
  scan(options?: ScanOptions): AsyncGenerator<BlockTrace, void, undefined>;
}

export async function openBlock(store: ObjectStore, tenant: string, shard: number, blockId: string, options: OpenBlockOptions = {}): Promise<BlockReader> {
  const key = blockObjectKey(tenant, shard, blockId, META_OBJECT);
  let body: Uint8Array;
  try {
    body = await store.get(key, { signal: options.signal });
  } catch (e) {
    if (isSkeinError(e) && e.code === 'NOT_FOUND') throw new SkeinError('NOT_FOUND', `block ${blockId} (tenant ${tenant}, shard ${shard}) not found in ${store.description}`, { cause: e });
    throw e;
  }
  const parsed = parseMeta(body);
  if (!parsed.ok) throw new BlockCorruptError({ blockId, object: META_OBJECT, kind: parsed.version ? 'version' : 'malformed', reason: parsed.reason });
  const meta = parsed.meta;
  if (meta.blockId !== blockId || meta.tenant !== tenant || meta.shard !== shard) {
    throw new BlockCorruptError({ blockId, object: META_OBJECT, kind: 'malformed', reason: `meta.json describes block ${meta.blockId} of tenant ${meta.tenant}, shard ${meta.shard}` });
  }
  return new Reader(store, meta, { ...READER_DEFAULTS, ...options });
}

interface FetchedPage {
  readonly page: ColumnPage;
  readonly raw: Uint8Array;
}

export class Reader implements BlockReader {
  private indexPromise: Promise<LoadedIndex> | undefined;
  private bloomPromise: Promise<BloomFilter> | undefined;
  private readonly hash = [0, 0];
  private readonly scratch = new ScratchPool();

  constructor(
    private readonly store: ObjectStore,
    readonly meta: BlockMeta,
    private readonly opts: Required<Omit<OpenBlockOptions, 'signal' | 'pageCache'>> & { readonly pageCache?: PageCache },
  ) {}

  private key(object: string): string {
    return blockObjectKey(this.meta.tenant, this.meta.shard, this.meta.blockId, object);
  }

  private corrupt(object: string, kind: BlockCorruptKind, reason: string, page?: number, cause?: unknown): BlockCorruptError {
    return new BlockCorruptError({ blockId: this.meta.blockId, object, kind, reason, ...(page === undefined ? {} : { page }), ...(cause === undefined ? {} : { cause }) });
  }

  /** A page whose payload does not decode although its checksum holds. */
  corruptPage(page: ColumnPage, cause: Error): BlockCorruptError {
    return this.corrupt(DATA_OBJECT, 'malformed', cause.message, page.number, cause);
  }

  /** Store errors: a missing object of a committed block is damage; anything else passes through. */
  private async read<T>(object: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isSkeinError(e) && e.code === 'NOT_FOUND') throw this.corrupt(object, 'missing', 'object not found', undefined, e);
      throw e;
    }
  }

  /** The decoded index, read once; a failed load is not cached (the next call tries again). */
  index(options?: ObjectCallOptions): Promise<LoadedIndex> {
    if (this.indexPromise === undefined) {
      const p = this.loadIndex(options);
      this.indexPromise = p;
      p.catch(() => {
        if (this.indexPromise === p) this.indexPromise = undefined;
      });
    }
    return this.indexPromise;
  }

  private async loadIndex(options?: ObjectCallOptions): Promise<LoadedIndex> {
    const bytes = await this.read(INDEX_OBJECT, () => this.store.get(this.key(INDEX_OBJECT), options));
    const ix = decodeIndexObject(this.meta.blockId, bytes);
    const m = this.meta;
    if (ix.blockId !== m.blockId || ix.tenant !== m.tenant || ix.shard !== m.shard || ix.spanCount !== m.spanCount || ix.traces.count !== m.traceCount) {
      throw this.corrupt(INDEX_OBJECT, 'malformed', 'index does not match meta.json (block, tenant, shard or counts differ)');
    }
    return createLoadedIndex(ix);
  }

  private bloom(options?: ObjectCallOptions): Promise<BloomFilter> {
    if (this.bloomPromise === undefined) {
      const p = this.loadBloom(options);
      this.bloomPromise = p;
      p.catch(() => {
        if (this.bloomPromise === p) this.bloomPromise = undefined;
      });
    }
    return this.bloomPromise;
  }

  private async loadBloom(options?: ObjectCallOptions): Promise<BloomFilter> {
    const bytes = await this.read(BLOOM_OBJECT, () => this.store.get(this.key(BLOOM_OBJECT), options));
    if (bytes.length < BLOOM_HEADER_BYTES) throw this.corrupt(BLOOM_OBJECT, 'truncated', `${bytes.length} bytes, shorter than the header`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(0, true) !== BLOOM_MAGIC) throw this.corrupt(BLOOM_OBJECT, 'malformed', 'bad magic (not a block bloom filter)');
    const blocks = view.getUint32(8, true);
    const want = BLOOM_HEADER_BYTES + blocks * 32;
    if (bytes.length < want) throw this.corrupt(BLOOM_OBJECT, 'truncated', `${bytes.length} bytes, the header says ${want}`);
    if (bytes.length > want) throw this.corrupt(BLOOM_OBJECT, 'malformed', `${bytes.length - want} bytes after the filter`);
    const bits = bytes.subarray(BLOOM_HEADER_BYTES);
    if (frameChecksum(bytes, 12, bits) !== view.getUint32(12, true)) throw this.corrupt(BLOOM_OBJECT, 'checksum', 'CRC32C mismatch');
    if (bytes[4] !== FORMAT_VERSION) throw this.corrupt(BLOOM_OBJECT, 'version', `format version ${bytes[4]} (this reader knows ${FORMAT_VERSION})`);
    return BloomFilter.fromBytes(bits);
  }

  /**
   * Reads the bytes of `pages` (any columns): neighbours closer than coalesceGapBytes come in one
   * range read. Keyed by page offset; a page cut short by the end of the object gets what exists.
   */
  async readPages(pages: readonly ColumnPage[], options?: ObjectCallOptions): Promise<Map<number, Uint8Array>> {
    const byOffset = new Map<number, Uint8Array>();
    if (pages.length === 0) return byOffset;
    const sorted = [...pages].sort((a, b) => a.offset - b.offset);
    const runs: ColumnPage[][] = [];
    let run: ColumnPage[] = [sorted[0]!];
    for (let i = 1; i < sorted.length; i++) {
      const prev = run[run.length - 1]!;
      const p = sorted[i]!;
      const gap = p.offset - (prev.offset + prev.length);
      if (gap <= this.opts.coalesceGapBytes && p.offset + p.length - run[0]!.offset <= this.opts.maxReadBytes) {
        run.push(p);
      } else {
        runs.push(run);
        run = [p];
      }
    }
    runs.push(run);
    const dataKey = this.key(DATA_OBJECT);
    await Promise.all(
      runs.map(async (r) => {
        const start = r[0]!.offset;
        const last = r[r.length - 1]!;
        let bytes: Uint8Array;
        try {
          bytes = await this.read(DATA_OBJECT, () => this.store.getRange(dataKey, start, last.offset + last.length - start, options));
        } catch (e) {
          // A range starting past the end: the object is shorter than the index says.
          if (isSkeinError(e) && e.code === 'INVALID_ARGUMENT') throw this.corrupt(DATA_OBJECT, 'truncated', `object ends before byte ${start}`, r[0]!.number, e);
          throw e;
        }
        for (const p of r) {
          const from = Math.min(bytes.length, p.offset - start);
          byOffset.set(p.offset, bytes.subarray(from, Math.min(bytes.length, from + p.length)));
        }
      }),
    );
    return byOffset;
  }

  /** Checks one page read by readPages; throws BlockCorruptError naming it. */
  verifyPage(column: Column, page: ColumnPage, bytes: Map<number, Uint8Array>): FetchedPage {
    const check = decodePage(bytes.get(page.offset) ?? new Uint8Array(0), page.length, column.type);
    if (!check.ok) throw this.corrupt(DATA_OBJECT, check.kind, check.reason, page.number);
    return { page, raw: check.raw };
  }

  async fetchPages(column: Column, pages: readonly ColumnPage[], options?: ObjectCallOptions): Promise<FetchedPage[]> {
    // Column pages only: span pages are read at random by trace-by-ID and would churn the cache.
    const cache = column.type === PageType.SPAN ? undefined : this.opts.pageCache;
    if (cache === undefined) {
      const bytes = await this.readPages(pages, options);
      return pages.map((p) => this.verifyPage(column, p, bytes));
    }
    const prefix = `${this.key('')}#`;
    const cached = pages.map((p) => cache.get(prefix + p.number));
    const bytes = await this.readPages(
      pages.filter((_, i) => cached[i] === undefined),
      options,
    );
    return pages.map((p, i) => {
      const hit = cached[i];
      if (hit !== undefined) return { page: p, raw: hit };
      const f = this.verifyPage(column, p, bytes);
      cache.set(prefix + p.number, f.raw);
      return f;
    });
  }

  // ---- trace by ID ----

  async findTrace(traceId: Uint8Array, options?: ObjectCallOptions): Promise<SpanGroup[] | null> {
    if (traceId.length !== 16) return null;
    const hex = Buffer.from(traceId.buffer, traceId.byteOffset, 16).toString('hex');
    if (hex < this.meta.minTraceId || hex > this.meta.maxTraceId) return null;
    const bloom = await this.bloom(options);
    traceIdHash(traceId, 0, this.hash);
    if (!bloom.has(this.hash[0]!, this.hash[1]!)) return null;
    const li = await this.index(options);
    const t = li.findTrace(traceId);
    if (t < 0) return null;
    const tr = li.ix.traces;
    const first = tr.firstRow[t]!;
    const end = tr.firstRow[t + 1]!;
    const spanCol = li.ix.columns[0]!;
    const spans = await this.fetchPages(spanCol, pagesCovering(spanCol.pages, first, end), options);
    const byGroup = new Map<number, Uint8Array[]>();
    for (const f of spans) {
      const page = this.spanPage(li, f);
      const from = Math.max(first, f.page.firstRow) - f.page.firstRow;
      const to = Math.min(end, f.page.firstRow + page.count) - f.page.firstRow;
      for (let i = from; i < to; i++) {
        const g = page.groups[i]!;
        let list = byGroup.get(g);
        if (list === undefined) {
          list = [];
          byGroup.set(g, list);
        }
        list.push(spanBytes(page, i));
      }
    }
    return [...byGroup].map(([g, list]) => li.spanGroup(g, list));
  }

  spanPage(li: LoadedIndex, f: FetchedPage): SpanPage {
    try {
      const page = decodeSpanPage(f.raw);
      // The span column comes first, so a span page's number is its index in that column.
      const col = li.ix.columns[0]!;
      const idx = f.page.number;
      const next = idx + 1 < col.pages.length ? col.pages[idx + 1]!.firstRow : li.ix.spanCount;
      if (f.page.firstRow + page.count !== next) throw new MalformedError(`span page holds ${page.count} spans, the directory says ${next - f.page.firstRow}`);
      for (let i = 0; i < page.count; i++) if (page.groups[i]! >= li.ix.groups.length) throw new MalformedError(`span ${i} refers to group ${page.groups[i]} of ${li.ix.groups.length}`);
      return page;
    } catch (e) {
      if (e instanceof MalformedError) throw this.corrupt(DATA_OBJECT, 'malformed', e.message, f.page.number, e);
      throw e;
    }
  }

  uintPage(li: LoadedIndex, f: FetchedPage): Uint8Array | Uint16Array | Uint32Array {
    try {
      return decodeUintPage(f.raw, Math.min(li.ix.rowsPerColumnPage, li.ix.spanCount - f.page.firstRow));
    } catch (e) {
      if (e instanceof MalformedError) throw this.corrupt(DATA_OBJECT, 'malformed', e.message, f.page.number, e);
      throw e;
    }
  }

  // ---- search and tags ----

  async search(request: SearchRequest, options?: ObjectCallOptions): Promise<BlockSearchResult> {
    // Time-range pruning on the meta alone (1 ms margin for its rounding and the float compare).
    if (request.startNs !== undefined && (this.meta.maxEndMs + 1) * 1e6 < request.startNs) return { traces: [], inspectedTraces: 0 };
    if (request.endNs !== undefined && (this.meta.minStartMs - 1) * 1e6 > request.endNs) return { traces: [], inspectedTraces: 0 };
    const li = await this.index(options);
    return searchIndex(this, li, request, this.scratch, options);
  }

  async tagNames(options?: ObjectCallOptions): Promise<string[]> {
    return listTagNames(await this.index(options));
  }

  async tagValues(tag: string, options?: ObjectCallOptions): Promise<string[]> {
    return listTagValues(await this.index(options), tag, this.opts.maxTagValuesPerKey);
  }

  async services(options?: ObjectCallOptions): Promise<string[]> {
    return listServices(await this.index(options));
  }

  async operations(service: string, options?: ObjectCallOptions): Promise<OperationInfo[]> {
    return listOperations(await this.index(options), service);
  }

  // ---- scan ----

  async *scan(options: ScanOptions = {}): AsyncGenerator<BlockTrace, void, undefined> {
    const li = await this.index(options);
    const tr = li.ix.traces;
    const spanCol = li.ix.columns[0]!;
    const callOptions: ObjectCallOptions = options.signal === undefined ? {} : { signal: options.signal };
    let t = 0;
    let current = new Map<number, Uint8Array[]>();
    const out: BlockTrace[] = [];
    /** Closes every trace that ends at or before `row`. */
    const advanceTo = (row: number): void => {
      while (t < tr.count && tr.firstRow[t + 1]! <= row) {
        if (current.size > 0) out.push({ traceId: tr.ids.slice(t * 16, t * 16 + 16), groups: [...current].map(([g, list]) => li.spanGroup(g, list)) });
        current = new Map();
        t++;
      }
    };
    let p = 0;
    while (p < spanCol.pages.length) {
      // A batch of span pages, read with one coalesced read.
      const batch: ColumnPage[] = [];
      let size = 0;
      while (p < spanCol.pages.length && (batch.length === 0 || size + spanCol.pages[p]!.length <= this.opts.maxReadBytes)) {
        size += spanCol.pages[p]!.length;
        batch.push(spanCol.pages[p++]!);
      }
      const end = p < spanCol.pages.length ? spanCol.pages[p]!.firstRow : li.ix.spanCount;
      const bytes = await this.readPages(batch, callOptions);
      for (const sp of batch) {
        let page: SpanPage;
        try {
          page = this.spanPage(li, this.verifyPage(spanCol, sp, bytes));
        } catch (e) {
          if (e instanceof BlockCorruptError && options.onCorruptPage !== undefined) {
            options.onCorruptPage(e);
            continue;
          }
          throw e;
        }
        for (let i = 0; i < page.count; i++) {
          advanceTo(sp.firstRow + i);
          const g = page.groups[i]!;
          let list = current.get(g);
          if (list === undefined) {
            list = [];
            current.set(g, list);
          }
          list.push(spanBytes(page, i));
        }
      }
      advanceTo(end);
      yield* out.splice(0);
    }
  }
}

/** The `index` object of block `blockId`, verified and decoded; a BlockCorruptError naming it otherwise. */
export function decodeIndexObject(blockId: string, bytes: Uint8Array): BlockIndex {
  const framed = unframeIndex(bytes);
  if (!framed.ok) throw new BlockCorruptError({ blockId, object: INDEX_OBJECT, kind: framed.kind, reason: framed.reason });
  try {
    return decodeIndex(framed.raw);
  } catch (e) {
    if (e instanceof MalformedError) throw new BlockCorruptError({ blockId, object: INDEX_OBJECT, kind: 'malformed', reason: e.message, cause: e });
    throw e;
  }
}

/** Position of the last page starting at or before `row` (0 when none does); pages are sorted by firstRow. */
export function pageIndexAt(pages: readonly ColumnPage[], row: number): number {
  let lo = 0;
  let hi = pages.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (pages[mid]!.firstRow <= row) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Pages whose rows intersect [first, end); pages are sorted by firstRow, each runs to the next's. */
export function pagesCovering(pages: readonly ColumnPage[], first: number, end: number): ColumnPage[] {
  const lo = pageIndexAt(pages, first);
  const out: ColumnPage[] = [];
  for (let i = lo; i < pages.length && pages[i]!.firstRow < end; i++) out.push(pages[i]!);
  return out;
}
