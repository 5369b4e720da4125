// Search over one block with the head's semantics (ingester/head/head.ts, common/model
// SearchRequest): a trace matches when ONE of its spans satisfies every tag filter (its own
// attributes, its resource's attributes and the intrinsics) and the span-duration bounds, and the
// trace itself satisfies the time range, trace-duration bounds and root filters; newest first
// (start, then trace ID, descending), at most `limit`.
//
// Plan (pure, on the index alone): every filter is resolved against the dictionaries first — a
// service, name, key or value the block does not hold answers "nothing" without reading a page.
// Evaluation is columnar over the rows (spans in block order): a byte per row says whether it is
// still a candidate; each filter reads only its own column's pages, and only pages that still
// hold candidates and whose statistics (value presence bitmap, duration range, span-page bloom)
// do not already decide them. Trace-level filters run first, on the trace table.
import { heapPush, heapReplaceTop } from '../../common/heap/index.js';
import type { SearchRequest, TraceSummary } from '../../common/model/index.js';
import type { ObjectCallOptions } from '../../common/storage/index.js';
import { decodeSpan, forEachAttribute } from '../../common/otlp/index.js';
import { attributeHash } from './bloom.js';
import { decimal64 } from './bytes.js';
import { PageType } from './format.js';
import { createForm, formEquals, formOf, type Form } from './forms.js';
import type { Column, ColumnPage } from './index-codec.js';
import type { LoadedIndex } from './loaded-index.js';
import { decodeAttributePage, decodeDurationPage, type SpanPage } from './pages.js';
import type { BlockSearchResult, Reader } from './reader.js';
import { pagesCovering } from './reader.js';
import { KIND_NAMES, STATUS_NAMES } from './tags.js';
import { MalformedError } from './bytes.js';

/** rootTraceName of a trace whose root span is not in the block (the head and Tempo show the same text). */
export const ROOT_SPAN_NOT_YET_RECEIVED = '<root span not yet received>';

const TWO_32 = 4294967296;
/** Below this share of live rows, evaluation jumps between live rows (see Evaluator.density). */
const SPARSE = 0.03;

type RowFilter =
  /** Intrinsic uint column (group, name, kind, status): row passes when accept[value] (group) or value === code. */
  | { readonly kind: 'uint'; readonly column: number; readonly code: number; readonly accept: Uint8Array | undefined }
  | { readonly kind: 'duration'; readonly min: number | undefined; readonly max: number | undefined }
  /** Dictionary-coded key: the span has the value, or its resource does. */
  | { readonly kind: 'indexed'; readonly keyId: number; readonly valueId: number; readonly groupOk: Uint8Array | undefined }
  /** Key found through span-page blooms: the span has (key, form), or its resource does. */
  | { readonly kind: 'scan'; readonly key: Uint8Array; readonly form: Uint8Array; readonly hash: [number, number]; readonly groupOk: Uint8Array | undefined };

interface Plan {
  readonly rows: RowFilter[];
  readonly rootService: string | undefined;
  /** Name ID + 1 the root span must have; undefined: no root.name filter. */
  readonly rootName: number | undefined;
}

function parseCode(text: string, names: readonly string[], prefix: string): number | undefined {
  let t = text.trim().toLowerCase();
  if (t.startsWith(prefix)) t = t.slice(prefix.length);
  const i = names.indexOf(t);
  if (i >= 0) return i;
  if (/^[0-9]$/.test(t) && Number(t) < names.length) return Number(t);
  return undefined;
}

const utf8Latin1 = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

/** Resolves the request against the dictionaries; undefined when no span of the block can match. */
export function planSearch(li: LoadedIndex, request: SearchRequest): Plan | undefined {
  const ix = li.ix;
  const rows: RowFilter[] = [];
  const indexed: RowFilter[] = [];
  const scans: RowFilter[] = [];
  let rootService: string | undefined;
  let rootName: number | undefined;
  for (const tag of request.tags) {
    switch (tag.key) {
      case 'service.name': {
        const accept = new Uint8Array(ix.groups.length);
        let any = false;
        li.serviceNames.forEach((s, g) => {
          if (s === tag.value) {
            accept[g] = 1;
            any = true;
          }
        });
        if (!any) return undefined;
        rows.push({ kind: 'uint', column: 1, code: -1, accept });
        break;
      }
      case 'name': {
        const id = li.nameIds.get(utf8Latin1(tag.value));
        if (id === undefined) return undefined;
        rows.push({ kind: 'uint', column: 2, code: id, accept: undefined });
        break;
      }
      case 'status':
      case 'status.code': {
        const code = parseCode(tag.value, STATUS_NAMES, 'status_code_');
        if (code === undefined || (ix.statusMask & (1 << code)) === 0) return undefined;
        rows.push({ kind: 'uint', column: 4, code, accept: undefined });
        break;
      }
      case 'kind':
      case 'span.kind': {
        const code = parseCode(tag.value, KIND_NAMES, 'span_kind_');
        if (code === undefined || (ix.kindMask & (1 << code)) === 0) return undefined;
        rows.push({ kind: 'uint', column: 3, code, accept: undefined });
        break;
      }
      case 'root.service.name':
        if (rootService !== undefined && rootService !== tag.value) return undefined;
        if (!li.serviceNames.includes(tag.value)) return undefined;
        rootService = tag.value;
        break;
      case 'root.name': {
        const id = li.nameIds.get(utf8Latin1(tag.value));
        if (id === undefined || (rootName !== undefined && rootName !== id + 1)) return undefined;
        rootName = id + 1;
        break;
      }
      default: {
        const keyBytes = Buffer.from(tag.key, 'utf8');
        const keyId = li.keyIds.get(keyBytes.toString('latin1'));
        if (keyId === undefined) return undefined;
        const form = Buffer.from(tag.value, 'utf8');
        const formText = form.toString('latin1');
        // Resources carrying (key, value): their spans match without looking at span attributes.
        let groupOk: Uint8Array | undefined;
        li.groupAttributes().forEach((attrs, g) => {
          if (attrs.get(keyBytes.toString('latin1'))?.has(formText) === true) (groupOk ??= new Uint8Array(ix.groups.length))[g] = 1;
        });
        const key = ix.keys[keyId]!;
        if (key.indexed) {
          const valueId = li.formId(keyId, formText);
          if (valueId < 0 && groupOk === undefined) return undefined;
          indexed.push({ kind: 'indexed', keyId, valueId, groupOk });
        } else {
          const [hi, lo] = li.keyHash[keyId]!;
          const hash: [number, number] = [0, 0];
          const h = [0, 0];
          attributeHash(hi, lo, form, 0, form.length, h);
          hash[0] = h[0]!;
          hash[1] = h[1]!;
          scans.push({ kind: 'scan', key: keyBytes, form, hash, groupOk });
        }
      }
    }
  }
  if (request.minSpanDurationNs !== undefined || request.maxSpanDurationNs !== undefined) rows.push({ kind: 'duration', min: request.minSpanDurationNs, max: request.maxSpanDurationNs });
  // Cheapest first; span-page scans last, so they only open pages that still hold candidates.
  return { rows: [...rows, ...indexed, ...scans], rootService, rootName };
}

/**
 * Row- and trace-sized byte arrays for one search, reused across searches of a block (a search of
 * a 1M-span block would otherwise allocate megabytes and keep the GC busy). Concurrent searches
 * each take their own.
 */
export class ScratchPool {
  private readonly free: Uint8Array[] = [];

  take(size: number): Uint8Array {
    const i = this.free.findIndex((a) => a.length === size);
    if (i < 0) return new Uint8Array(size);
    const a = this.free.splice(i, 1)[0]!;
    a.fill(0);
    return a;
  }

  give(...arrays: (Uint8Array | undefined)[]): void {
    for (const a of arrays) if (a !== undefined && this.free.length < 8) this.free.push(a);
  }
}

export async function searchIndex(reader: Reader, li: LoadedIndex, request: SearchRequest, pool: ScratchPool, options?: ObjectCallOptions): Promise<BlockSearchResult> {
  const plan = planSearch(li, request);
  if (plan === undefined) return { traces: [], inspectedTraces: 0 };
  const held: Uint8Array[] = [];
  const take = (size: number): Uint8Array => {
    const a = pool.take(size);
    held.push(a);
    return a;
  };
  try {
    return await evaluate(reader, li, request, plan, take, options);
  } finally {
    pool.give(...held);
  }
}

async function evaluate(reader: Reader, li: LoadedIndex, request: SearchRequest, plan: Plan, take: (size: number) => Uint8Array, options: ObjectCallOptions | undefined): Promise<BlockSearchResult> {
  const ix = li.ix;
  const tr = ix.traces;
  const T = tr.count;
  const N = ix.spanCount;
  const limit = Number.isFinite(request.limit) ? Math.max(1, Math.floor(request.limit)) : Number.MAX_SAFE_INTEGER;

  // Trace-level filters, with the head's float arithmetic (the same answers at the edges).
  const { startNs, endNs, minDurationNs: minDuration, maxDurationNs: maxDuration } = request;
  const traceLevel = startNs !== undefined || endNs !== undefined || minDuration !== undefined || maxDuration !== undefined || plan.rootService !== undefined || plan.rootName !== undefined;
  const traceOk = take(T);
  let okCount = 0;
  if (!traceLevel) {
    traceOk.fill(1);
    okCount = T;
  } else {
    for (let t = 0; t < T; t++) {
      const sHi = tr.startHi[t]!;
      const sLo = tr.startLo[t]!;
      const eHi = tr.endHi[t]!;
      const eLo = tr.endLo[t]!;
      if (startNs !== undefined && eHi * TWO_32 + eLo < startNs) continue;
      if (endNs !== undefined && sHi * TWO_32 + sLo > endNs) continue;
      const d = (eHi - sHi) * TWO_32 + (eLo - sLo);
      if (minDuration !== undefined && d < minDuration) continue;
      if (maxDuration !== undefined && d > maxDuration) continue;
      if (plan.rootService !== undefined || plan.rootName !== undefined) {
        const rn = tr.rootName[t]!;
        if (rn === 0) continue;
        if (plan.rootName !== undefined && rn !== plan.rootName) continue;
        if (plan.rootService !== undefined && li.serviceNames[tr.rootGroup[t]!] !== plan.rootService) continue;
      }
      traceOk[t] = 1;
      okCount++;
    }
  }
  if (okCount === 0) return { traces: [], inspectedTraces: 0 };

  let candidates: Uint8Array;
  if (plan.rows.length === 0) {
    candidates = traceOk;
  } else {
    const alive = take(N);
    if (okCount === T) alive.fill(1);
    else for (let t = 0; t < T; t++) if (traceOk[t] === 1) alive.fill(1, tr.firstRow[t]!, tr.firstRow[t + 1]!);
    const ev = new Evaluator(reader, li, alive, take(li.ix.rowsPerColumnPage), options);
    ev.setDensity(okCount === T ? N : tr.firstRow.length > 0 ? countLive(tr, traceOk) : 0);
    // Most selective first (fewest pages its statistics leave possible): later filters then only
    // read pages that still hold candidates. Span-page scans cost most per page, so they go last.
    const ranked = plan.rows.map((f, i) => ({ f, i, pages: ev.possiblePages(f) }));
    ranked.sort((a, b) => Number(a.f.kind === 'scan') - Number(b.f.kind === 'scan') || a.pages - b.pages || a.i - b.i);
    for (const { f } of ranked) {
      await ev.apply(f);
      if (!ev.anyAlive()) return { traces: [], inspectedTraces: 0 };
    }
    // Traces with a live row: jump from live row to live row (indexOf is a native scan).
    candidates = take(T);
    const firstRow = tr.firstRow;
    let t = 0;
    for (let r = alive.indexOf(1); r >= 0; ) {
      while (firstRow[t + 1]! <= r) t++;
      candidates[t] = 1;
      const next = firstRow[t + 1]!;
      r = next < N ? alive.indexOf(1, next) : -1;
    }
  }

  // Top `limit`, newest first. The heap's root is the entry that would be dropped first.
  const heap: number[] = [];
  let inspected = 0;
  for (let t = 0; t < T; t++) {
    if (candidates[t] !== 1) continue;
    inspected++;
    if (heap.length < limit) heapPush(heap, t, (a, b) => newer(tr, b, a));
    else if (newer(tr, t, heap[0]!)) heapReplaceTop(heap, t, (a, b) => newer(tr, b, a));
  }
  heap.sort((a, b) => (newer(tr, a, b) ? -1 : newer(tr, b, a) ? 1 : 0));
  const traces: TraceSummary[] = heap.map((t) => {
    const rn = tr.rootName[t]!;
    const sHi = tr.startHi[t]!;
    const sLo = tr.startLo[t]!;
    return {
      traceId: Buffer.from(tr.ids.buffer, tr.ids.byteOffset + t * 16, 16).toString('hex'),
      rootServiceName: li.serviceNames[tr.rootGroup[t]!]!,
      rootTraceName: rn === 0 ? ROOT_SPAN_NOT_YET_RECEIVED : Buffer.from(ix.names[rn - 1]!).toString('utf8'),
      startTimeUnixNano: decimal64(sHi, sLo),
      durationNanos: (tr.endHi[t]! - sHi) * TWO_32 + (tr.endLo[t]! - sLo),
      spanCount: tr.firstRow[t + 1]! - tr.firstRow[t]!,
    };
  });
  return { traces, inspectedTraces: inspected };
}

/** Rows of the traces marked in `ok`. */
function countLive(tr: LoadedIndex['ix']['traces'], ok: Uint8Array): number {
  let n = 0;
  for (let t = 0; t < tr.count; t++) if (ok[t] === 1) n += tr.firstRow[t + 1]! - tr.firstRow[t]!;
  return n;
}

/** Whether trace a sorts before trace b: later start first, then larger trace ID. */
function newer(tr: LoadedIndex['ix']['traces'], a: number, b: number): boolean {
  const ah = tr.startHi[a]!;
  const bh = tr.startHi[b]!;
  if (ah !== bh) return ah > bh;
  const al = tr.startLo[a]!;
  const bl = tr.startLo[b]!;
  if (al !== bl) return al > bl;
  for (let i = 0; i < 16; i++) {
    const d = tr.ids[a * 16 + i]! - tr.ids[b * 16 + i]!;
    if (d !== 0) return d > 0;
  }
  return false;
}

function presenceHas(p: Uint32Array | undefined, v: number): boolean {
  if (p === undefined) return true;
  const b = v & 255;
  return (p[b >>> 5]! & (1 << (b & 31))) !== 0;
}

/** Applies row filters to the `alive` bytes, reading pages as needed. */
class Evaluator {
  private readonly N: number;
  private readonly R: number;
  /** Decoded group-column pages by first row (several filters may need them). */
  private readonly groups = new Map<number, ArrayLike<number>>();
  /**
   * Share of rows still alive, as the last filter left it. Below SPARSE, loops jump from live row
   * to live row (indexOf is a native scan) instead of visiting every row.
   */
  private density: number;

  constructor(
    private readonly reader: Reader,
    private readonly li: LoadedIndex,
    private readonly alive: Uint8Array,
    /** rowsPerColumnPage bytes of scratch. */
    private readonly scratch: Uint8Array,
    private readonly options: ObjectCallOptions | undefined,
  ) {
    this.N = li.ix.spanCount;
    this.R = li.ix.rowsPerColumnPage;
    this.density = 1;
  }

  /** Call after setting up `alive`: its share of live rows. */
  setDensity(live: number): void {
    this.density = live / Math.max(1, this.N);
  }

  anyAlive(): boolean {
    return this.alive.indexOf(1) >= 0;
  }

  /** Pages of the filter's column that its page statistics cannot rule out (a cost estimate). */
  possiblePages(f: RowFilter): number {
    const cols = this.li.ix.columns;
    switch (f.kind) {
      case 'uint':
        return cols[f.column]!.pages.filter((p) => (f.accept === undefined ? presenceHas(p.presence, f.code) : f.accept.some((ok, g) => ok === 1 && presenceHas(p.presence, g)))).length;
      case 'duration':
        return cols[5]!.pages.filter((p) => !((f.min !== undefined && p.maxDuration < f.min) || (f.max !== undefined && p.minDuration > f.max))).length;
      case 'indexed': {
        const ranges = Math.ceil(this.N / this.R);
        if (f.groupOk !== undefined) return ranges;
        const col = cols.find((c) => c.type === PageType.ATTRIBUTE && c.keyId === f.keyId);
        return (col?.pages ?? []).filter((p) => f.valueId >= 0 && presenceHas(p.presence, f.valueId)).length;
      }
      case 'scan':
        return f.groupOk !== undefined ? cols[0]!.pages.length : cols[0]!.pages.filter((p) => p.bloom !== undefined && p.bloom.has(f.hash[0], f.hash[1])).length;
    }
  }

  private aliveIn(a: number, e: number): boolean {
    return this.alive.subarray(a, e).includes(1);
  }

  /** Rows kept by the filter being applied (feeds `density`). */
  private kept = 0;

  async apply(f: RowFilter): Promise<void> {
    this.kept = 0;
    switch (f.kind) {
      case 'uint':
        await this.uint(f.column, f.code, f.accept);
        break;
      case 'duration':
        await this.duration(f.min, f.max);
        this.kept = this.N * this.density; // not counted; durations rarely come first
        break;
      case 'indexed':
        await this.indexed(f.keyId, f.valueId, f.groupOk);
        break;
      case 'scan':
        await this.scan(f.key, f.form, f.hash, f.groupOk);
        this.kept = 0; // scans come last
        break;
    }
    this.density = this.kept / Math.max(1, this.N);
  }

  private pageEnd(col: Column, i: number): number {
    return col.type === PageType.SPAN ? (i + 1 < col.pages.length ? col.pages[i + 1]!.firstRow : this.N) : Math.min(col.pages[i]!.firstRow + this.R, this.N);
  }

  private async uint(columnIndex: number, code: number, accept: Uint8Array | undefined): Promise<void> {
    const col = this.li.ix.columns[columnIndex]!;
    const alive = this.alive;
    const need: ColumnPage[] = [];
    col.pages.forEach((p, i) => {
      const e = this.pageEnd(col, i);
      if (!this.aliveIn(p.firstRow, e)) return;
      let possible: boolean;
      if (accept !== undefined) {
        possible = false;
        for (let g = 0; g < accept.length && !possible; g++) if (accept[g] === 1 && presenceHas(p.presence, g)) possible = true;
      } else {
        possible = presenceHas(p.presence, code);
      }
      if (possible) need.push(p);
      else alive.fill(0, p.firstRow, e);
    });
    const isGroup = columnIndex === 1;
    const missing = isGroup ? need.filter((p) => !this.groups.has(p.firstRow)) : need;
    for (const f of await this.reader.fetchPages(col, missing, this.options)) {
      const values = this.reader.uintPage(this.li, f);
      if (isGroup) this.groups.set(f.page.firstRow, values);
      else this.filterRows(f.page.firstRow, values, code, undefined);
    }
    if (isGroup) for (const p of need) this.filterRows(p.firstRow, this.groups.get(p.firstRow)!, code, accept);
  }

  private filterRows(first: number, values: ArrayLike<number>, code: number, accept: Uint8Array | undefined): void {
    const n = Math.min(this.R, this.N - first);
    const alive = this.alive.subarray(first, first + n);
    let kept = 0;
    if (this.density < SPARSE) {
      for (let i = alive.indexOf(1); i >= 0; i = alive.indexOf(1, i + 1)) {
        const v = values[i]!;
        if (accept !== undefined ? accept[v] === 1 : v === code) kept++;
        else alive[i] = 0;
      }
    } else if (accept !== undefined) {
      for (let i = 0; i < n; i++) kept += alive[i] = alive[i]! & accept[values[i]!]!;
    } else {
      for (let i = 0; i < n; i++) kept += alive[i] = alive[i]! & (values[i] === code ? 1 : 0);
    }
    this.kept += kept;
  }

  private async duration(min: number | undefined, max: number | undefined): Promise<void> {
    const col = this.li.ix.columns[5]!;
    const need: ColumnPage[] = [];
    col.pages.forEach((p, i) => {
      const e = this.pageEnd(col, i);
      if (!this.aliveIn(p.firstRow, e)) return;
      if ((min === undefined || p.minDuration >= min) && (max === undefined || p.maxDuration <= max)) return;
      if ((min !== undefined && p.maxDuration < min) || (max !== undefined && p.minDuration > max)) {
        this.alive.fill(0, p.firstRow, e);
        return;
      }
      need.push(p);
    });
    for (const f of await this.reader.fetchPages(col, need, this.options)) {
      const n = Math.min(this.R, this.N - f.page.firstRow);
      let values: ArrayLike<number>;
      try {
        values = decodeDurationPage(f.raw, n);
      } catch (e) {
        throw this.malformed(e, f.page);
      }
      const alive = this.alive;
      const first = f.page.firstRow;
      for (let i = 0; i < n; i++) {
        if (alive[first + i] !== 1) continue;
        const d = values[i]!;
        if ((min !== undefined && d < min) || (max !== undefined && d > max)) alive[first + i] = 0;
      }
    }
  }

  private malformed(e: unknown, page: ColumnPage): unknown {
    if (e instanceof MalformedError) return this.reader.corruptPage(page, e);
    return e;
  }

  /** Group pages for the given ranges, fetched once per search. */
  private async ensureGroups(firstRows: number[]): Promise<void> {
    const col = this.li.ix.columns[1]!;
    const want = new Set<number>();
    for (const a of firstRows) want.add(a - (a % this.R));
    const missing = col.pages.filter((p) => want.has(p.firstRow) && !this.groups.has(p.firstRow));
    for (const f of await this.reader.fetchPages(col, missing, this.options)) this.groups.set(f.page.firstRow, this.reader.uintPage(this.li, f));
  }

  private groupOf(row: number): number {
    const first = row - (row % this.R);
    return this.groups.get(first)![row - first]!;
  }

  private async indexed(keyId: number, valueId: number, groupOk: Uint8Array | undefined): Promise<void> {
    const col = this.li.ix.columns.find((c) => c.type === PageType.ATTRIBUTE && c.keyId === keyId);
    const byFirst = new Map<number, ColumnPage>();
    for (const p of col?.pages ?? []) byFirst.set(p.firstRow, p);
    const alive = this.alive;
    const ranges: number[] = [];
    const need: ColumnPage[] = [];
    for (let a = 0; a < this.N; a += this.R) {
      const e = Math.min(a + this.R, this.N);
      if (!this.aliveIn(a, e)) continue;
      const p = byFirst.get(a);
      const usePage = p !== undefined && valueId >= 0 && presenceHas(p.presence, valueId);
      if (!usePage && groupOk === undefined) {
        alive.fill(0, a, e);
        continue;
      }
      ranges.push(a);
      if (usePage) need.push(p);
    }
    if (ranges.length === 0) return;
    const [pages] = await Promise.all([col === undefined ? Promise.resolve([]) : this.reader.fetchPages(col, need, this.options), groupOk === undefined ? Promise.resolve() : this.ensureGroups(ranges)]);
    const entriesByFirst = new Map<number, ReturnType<typeof decodeAttributePage>>();
    for (const f of pages) {
      try {
        entriesByFirst.set(f.page.firstRow, decodeAttributePage(f.raw));
      } catch (e) {
        throw this.malformed(e, f.page);
      }
    }
    // Dense pages (entry k is row k): one masking pass, or, when few rows are alive, a test of the
    // live rows only. Sparse pages: `next` collects the rows that stay alive and replaces the range
    // in one native copy.
    const next = this.scratch;
    let kept = 0;
    for (const a of ranges) {
      const n = Math.min(this.R, this.N - a);
      const entries = entriesByFirst.get(a);
      const groups = groupOk === undefined ? undefined : this.groups.get(a)!;
      const live = alive.subarray(a, a + n);
      if (entries === undefined || entries.deltas === undefined) {
        const values = entries?.values;
        const count = entries?.count ?? 0;
        if (this.density < SPARSE) {
          for (let i = live.indexOf(1); i >= 0; i = live.indexOf(1, i + 1)) {
            if ((i < count && values![i] === valueId) || (groups !== undefined && groupOk![groups[i]!] === 1)) kept++;
            else live[i] = 0;
          }
        } else if (groups === undefined) {
          for (let i = 0; i < count; i++) kept += live[i] = live[i]! & (values![i] === valueId ? 1 : 0);
          live.fill(0, count);
        } else {
          for (let i = 0; i < n; i++) kept += live[i] = live[i]! & ((i < count && values![i] === valueId ? 1 : 0) | groupOk![groups[i]!]!);
        }
        continue;
      }
      next.fill(0, 0, n);
      if (groups !== undefined) for (let i = 0; i < n; i++) next[i] = live[i]! & groupOk![groups[i]!]!;
      const { deltas, values, count } = entries;
      let row = 0;
      for (let k = 0; k < count; k++) {
        row += deltas[k]!;
        if (values[k] === valueId && row < n) next[row] = live[row]!;
      }
      live.set(next.subarray(0, n));
      kept += n * this.density; // an estimate: counting would cost another pass
    }
    this.kept += kept;
  }

  private async scan(key: Uint8Array, form: Uint8Array, hash: [number, number], groupOk: Uint8Array | undefined): Promise<void> {
    const col = this.li.ix.columns[0]!;
    const alive = this.alive;
    const bloomPages: ColumnPage[] = [];
    const groupRanges: number[] = [];
    const touched: { page: ColumnPage; end: number; bloom: boolean }[] = [];
    col.pages.forEach((p, i) => {
      const e = this.pageEnd(col, i);
      if (!this.aliveIn(p.firstRow, e)) return;
      const bloom = p.bloom !== undefined && p.bloom.has(hash[0], hash[1]);
      if (!bloom && groupOk === undefined) {
        alive.fill(0, p.firstRow, e);
        return;
      }
      if (bloom) bloomPages.push(p);
      if (groupOk !== undefined) for (const g of pagesCovering(this.li.ix.columns[1]!.pages, p.firstRow, e)) groupRanges.push(g.firstRow);
      touched.push({ page: p, end: e, bloom });
    });
    if (touched.length === 0) return;
    const [spanPages] = await Promise.all([this.reader.fetchPages(col, bloomPages, this.options), groupOk === undefined ? Promise.resolve() : this.ensureGroups(groupRanges)]);
    const decoded = new Map<number, SpanPage>();
    for (const f of spanPages) decoded.set(f.page.firstRow, this.reader.spanPage(this.li, f));
    const formOut = createForm();
    for (const { page, end, bloom } of touched) {
      const sp = bloom ? decoded.get(page.firstRow) : undefined;
      for (let row = page.firstRow; row < end; row++) {
        if (alive[row] !== 1) continue;
        if (groupOk !== undefined && groupOk[this.groupOf(row)] === 1) continue;
        if (sp === undefined) {
          alive[row] = 0;
          continue;
        }
        const i = row - page.firstRow;
        const stored = sp.raw.subarray(sp.offsets[i]!, sp.offsets[i + 1]!);
        if (!spanHas(stored, key, form, formOut)) alive[row] = 0;
      }
    }
  }
}

/** Whether the span (stored bytes: its fields, maybe without the leading trace ID) has an attribute (key, form). */
function spanHas(span: Uint8Array, key: Uint8Array, form: Uint8Array, out: Form): boolean {
  let found = false;
  let position = 0;
  let decoded: ReturnType<typeof decodeSpan>['attributes'] | undefined | null = null;
  try {
    forEachAttribute(span, 0, span.length, 9, (buf, keyOffset, keyLength, type, valueOffset, valueLength) => {
      const index = position++;
      if (keyLength !== key.length) return;
      for (let i = 0; i < keyLength; i++) if (buf[keyOffset + i] !== key[i]) return;
      const ok = formOf(
        buf,
        type,
        valueOffset,
        valueLength,
        (i) => {
          if (decoded === null) {
            try {
              decoded = decodeSpan(span).attributes;
            } catch {
              decoded = undefined;
            }
          }
          return decoded?.[i]?.value;
        },
        index,
        out,
      );
      if (ok && formEquals(out, form)) {
        found = true;
        return false;
      }
      return undefined;
    });
  } catch {
    // Malformed attributes: what was visited before the damage counts (as at build time).
  }
  return found;
}
