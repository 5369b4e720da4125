// The per-shard head: every span of the shard not yet in a block, queryable at once (DESIGN.md §6.4).
//
// Memory layout (the design goal is "no JS object per span"):
// - span bytes are copied into an append-only Arena of large Buffers;
// - per span, seven uint32 columns: arena chunk, offset, length, interned (resource, scope) group,
//   next span of the same trace (a linked list, so a trace needs no array of its own), span ID words;
// - per trace, uint32 columns (ID words, first/last span, count, min start, max end, root, earliest,
//   flags, a 512-bit bloom) and, per tenant, an open-addressing table from trace ID to ordinal
//   (trace-index.ts);
// - resources and scopes are interned once per distinct content and tenant;
// - the search index maps a 32-bit hash of (key, typed value) to a posting list of trace ordinals
//   (postings.ts). Span attributes, names, kinds and statuses post per trace; a resource posts
//   once per trace under its own ID, and its attributes map to the resources carrying them — a
//   service's dozen resource attributes cost one posting per trace, not a dozen per span. Values
//   of high-cardinality keys go to the trace's bloom filter instead of posting lists.
//   The index only nominates candidates; search re-reads the spans to verify them, so a hash
//   collision never produces a wrong answer.
import type { Registry } from '../../common/metrics/index.js';
import type { KeyValue, OperationInfo, SearchRequest, SpanBatch, SpanGroup, TraceSummary } from '../../common/model/index.js';
import {
  AnyValueType,
  anyValueToString,
  createSpanFields,
  decodeResource,
  decodeSpan,
  forEachAttribute,
  readDoubleAt,
  readServiceName,
  readSpanFields,
  readVarintAt,
  utf8At,
  varint64At,
  type AttributeVisitor,
  type SpanFields,
} from '../../common/otlp/index.js';
import { Arena, MemoryMeter, U32Column } from './columns.js';
import { EntryType, KeyDictionary, RecentHashes, sameBytes, ValueSet, type KeyEntry } from './dictionary.js';
import { combineHash, doubleWords, hashBool, hashBytes, hashDouble, hashEmpty, hashInt, TypeSeed } from './hash.js';
import { ROOT_SPAN_NOT_YET_RECEIVED } from './merge.js';
import { createMetrics, type HeadMetrics } from './metrics.js';
import { NODE_BLOCK_BITS, NodePool, PostingTable } from './postings.js';
import { createSpanHeader, readSpanHeader, walkAttributes, type SpanHeader } from './span-reader.js';
import { heapPush, heapReplaceTop } from '../../common/heap/index.js';
import { traceIdHash, TraceIds, TraceTable, wordAt } from './trace-index.js';
import { MAX_INDEXED_VALUE_BYTES, parseQueryValue, renderDouble, renderInt, valueMatches, type QueryValue } from './values.js';

// Scratch for an INT attribute's [lo, hi] halves; always written before it is read.
const intHalves = [0, 0];

export interface HeadOptions {
  /** Memory budget: admit answers `full` rather than let stored + reserved bytes exceed it. */
  readonly maxBytes: number;
  /** Distinct values remembered per tag key (and operations per service) for tagValues. Default 1000. */
  readonly maxTagValuesPerKey?: number;
  readonly registry?: Registry;
  /** Shard number, for metric labels. */
  readonly shard?: number;
  /** Wall clock in ms since the epoch (when traces were last written, for the cut). Default Date.now. */
  readonly now?: () => number;
}

/** Test seams; not part of the module's public face. */
export interface HeadInternals {
  /** ANDed into every index hash: a small mask forces collisions so verification is exercised. */
  readonly hashMask?: number;
}

/** A reservation made by `admit`, settled by exactly one `commit` or `release`. */
export interface AdmitTicket {
  /** Spans admitted (new, not duplicates). */
  readonly spans: number;
  /** Bytes reserved against the budget. */
  readonly bytes: number;
}

export type AdmitResult =
  | { readonly kind: 'ok'; readonly batch: SpanBatch; readonly duplicates: number; readonly ticket: AdmitTicket }
  | { readonly kind: 'full'; readonly retryAfterSeconds: number };

export interface SearchOutcome {
  readonly traces: TraceSummary[];
  /** Distinct candidate traces examined. */
  readonly inspectedTraces: number;
}

export interface ShardHead {
  /**
   * Synchronous admission before the WAL append: drops spans already stored or pending (including
   * repeats within `batch`), then reserves budget for the rest — or reserves nothing and answers
   * `full`. The returned batch holds only the new spans.
   */
  admit(batch: SpanBatch): AdmitResult;
  /** The WAL append is durable: make the admitted spans visible. Settling twice is a no-op. */
  commit(ticket: AdmitTicket): void;
  /** The WAL append failed: drop the reservation and the pending marks. */
  release(ticket: AdmitTicket): void;
  /** Replay path: dedup and insert regardless of the budget (acknowledged data must be served). */
  insert(batch: SpanBatch): { inserted: number; duplicates: number };
  /** Bytes held by stored spans and their indexes (reservations not included). */
  usedBytes(): number;
  spanCount(): number;
  traceCount(): number;
  /**
   * The trace's spans grouped by (resource, scope), or null. Span, resource and scope bytes are
   * views into the head's append-only storage: never written again, so safe to keep; not to modify.
   */
  findTrace(tenant: string, traceId: Uint8Array): SpanGroup[] | null;
  /** Top `request.limit` matching traces, newest first (ties: trace ID descending). */
  search(tenant: string, request: SearchRequest): TraceSummary[];
  /** `search` plus the number of candidates inspected (for SearchResult.inspectedTraces). */
  searchWithStats(tenant: string, request: SearchRequest): SearchOutcome;
  tagNames(tenant: string): string[];
  tagValues(tenant: string, tag: string): string[];
  services(tenant: string): string[];
  operations(tenant: string, service: string): OperationInfo[];
  /** Wall-clock ms when the head was created (the age limit of the cut counts from here). */
  createdAtMs(): number;
  /** Tenants with at least one trace. */
  tenantNames(): string[];
  /**
   * Visits every non-empty trace of `tenant` in arrival order of its first span (for the block cut:
   * idle traces go to the block, tail sampling reads the summary). `findTrace` reads the spans.
   */
  forEachTrace(tenant: string, visit: (trace: HeadTraceInfo) => void): void;
}

/** What the cut needs to know of a trace without reading its spans. */
export interface HeadTraceInfo {
  /** A fresh copy of the 16-byte ID. */
  readonly traceId: Uint8Array;
  readonly spanCount: number;
  /** Earliest start and latest end of its spans, ns since the epoch (float: ms precision is what callers need). */
  readonly startNs: number;
  readonly endNs: number;
  /** Some span has status ERROR. */
  readonly hasError: boolean;
  /** Wall-clock ms of the last write that added a span to it (100 ms resolution). */
  readonly lastWriteMs: number;
}

const DEFAULT_MAX_TAG_VALUES_PER_KEY = 1000;
/** Back-off suggested when the head is full; it frees memory only when blocks are cut. */
export const FULL_RETRY_AFTER_SECONDS = 5;

const NIL = 0xffffffff;
const TWO_32 = 4294967296;
/** Above this many spans a trace gets a Set of span IDs; below, dedup scans its span list. */
const BIG_TRACE_SPANS = 32;
/** Per-entry cost of a big trace's span-ID set (string key + set slot). */
const BIG_SET_ENTRY_BYTES = 64;
/** Reservation estimate beyond the span bytes: seven span columns plus postings per attribute. */
const SPAN_RESERVE_BYTES = 48;
const ATTRIBUTE_RESERVE_BYTES = 12;
const FLAG_ERROR = 1;
/** Resolution of a trace's last-write time (HeadTraceInfo.lastWriteMs). */
const SEEN_TICK_MS = 100;
const STATUS_ERROR = 2;

const INTRINSIC_TAG_NAMES = ['kind', 'name', 'root.name', 'root.service.name', 'service.name', 'span.kind', 'status', 'status.code'];
const STATUS_NAMES = ['unset', 'ok', 'error'];
const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

function keyHash(text: string): number {
  const b = Buffer.from(text, 'utf8');
  return hashBytes(b, 0, b.length);
}

// Index keys of the intrinsics. The NUL prefix keeps them apart from any attribute key's bytes;
// a hash collision with one would only add candidates, which verification removes.
const K_NAME = keyHash('\0name');
const K_KIND = keyHash('\0kind');
const K_STATUS = keyHash('\0status');
const K_ROOT_SERVICE = keyHash('\0root.service.name');
const K_ROOT_NAME = keyHash('\0root.name');
const K_RESOURCE = keyHash('\0resource');
/** Trace ordinals per block of the search early-stop bound (see blockMaxStart). */
const START_BLOCK_BITS = 10;
/** Bits per trace in the high-cardinality bloom filter (one 64-byte cache line), and probes. */
const BLOOM_WORDS = 16;
const BLOOM_BITS_MASK = BLOOM_WORDS * 32 - 1;
/** Attribute positions remembered per span shape (see keyCache). */
const KEY_CACHE_SIZE = 64;

interface ServiceEntry {
  readonly name: string;
  readonly operations: ValueSet;
  /** Operation hashes recently confirmed present. */
  readonly recentOperations: RecentHashes;
  readonly resources: ResourceEntry[];
}

interface ResourceEntry {
  /** Index hash under which the traces this resource appears in are posted. */
  readonly postingKey: number;
  readonly bytes: Uint8Array;
  readonly serviceName: string;
  readonly serviceBytes: Buffer;
  /** Value hash of the service name (string interpretation). */
  readonly serviceHash: number;
  readonly service: ServiceEntry;
  /** Per-search memo of which attribute filters the resource satisfies. */
  memoSearch: number;
  memo: Uint8Array | undefined;
}

interface GroupEntry {
  readonly resource: ResourceEntry;
  readonly resourceSchemaUrl: string;
  readonly scope: Uint8Array;
  readonly scopeSchemaUrl: string;
}

interface TenantState {
  readonly traces: TraceTable;
  /** Trace ordinals of this tenant in creation order (for searches the index cannot narrow). */
  readonly traceList: U32Column;
  traceListSize: number;
  readonly postings: PostingTable;
  readonly keys: KeyDictionary;
  readonly resources: Map<string, ResourceEntry>;
  /** Index hash of a resource attribute (key, value) → the resources carrying it. */
  readonly resourceIndex: Map<number, ResourceEntry[]>;
  readonly groupIds: Map<string, number>;
  readonly services: Map<string, ServiceEntry>;
  readonly rootServices: ValueSet;
  readonly rootNames: ValueSet;
  statusSeen: number;
  kindSeen: number;
}

class Ticket implements AdmitTicket {
  settled = false;
  constructor(
    readonly owner: object,
    readonly id: number,
    readonly tenant: TenantState,
    readonly batch: SpanBatch,
    /** Trace ordinal of each span of `batch`, in order (resolved once, at admit). */
    readonly traceOf: readonly number[],
    /** Traces holding this ticket's pending marks. */
    readonly pendingTraces: readonly number[],
    /** `insert` calls made before this admit; if none follow, commit needs no dedup pass. */
    readonly replayEpoch: number,
    readonly spans: number,
    readonly bytes: number,
  ) {}
}

const FilterKind = { SERVICE: 0, NAME: 1, STATUS: 2, KIND: 3, ATTRIBUTE: 4, ROOT_SERVICE: 5, ROOT_NAME: 6 } as const;

interface Filter {
  readonly kind: number;
  readonly value: QueryValue;
  /** STATUS / KIND: the code to equal. */
  readonly code: number;
  /** ATTRIBUTE: the key's UTF-8 bytes. */
  readonly key: Buffer | undefined;
  /** Index hashes whose lists together hold every trace that can match; undefined: not indexed. */
  readonly postingHashes: number[] | undefined;
  /**
   * High-cardinality keys: the index hashes to test in trace bloom filters. `postingHashes` then
   * covers only what was indexed before the key crossed over, so the filter cannot nominate
   * candidates; it prunes them (in its postings or passing the bloom) before verification.
   */
  readonly bloomHashes?: number[];
}

interface Plan {
  /** Prefilters of high-cardinality filters: a trace must be in `posted` or pass the bloom. */
  readonly blooms: { readonly posted: Set<number>; readonly hashes: number[] }[];
  readonly spanFilters: Filter[];
  readonly rootFilters: Filter[];
  /** Indices into spanFilters of the attribute filters. */
  readonly attributeFilters: number[];
  readonly candidates: Filter | undefined;
}

function parseCode(text: string, names: readonly string[], prefix: string): number | undefined {
  let t = text.trim().toLowerCase();
  if (t.startsWith(prefix)) t = t.slice(prefix.length);
  const i = names.indexOf(t);
  if (i >= 0) return i;
  if (/^[0-9]$/.test(t) && Number(t) < names.length) return Number(t);
  return undefined;
}

function bigSetKey(hi: number, lo: number): string {
  return String.fromCharCode(hi >>> 16, hi & 0xffff, lo >>> 16, lo & 0xffff);
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function exactDecimal(hi: number, lo: number): string {
  if (hi <= 0x1fffff) return String(hi * TWO_32 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

export function createHead(options: HeadOptions, internals: HeadInternals = {}): ShardHead {
  return new Head(options, internals);
}

class Head implements ShardHead {
  private readonly maxBytes: number;
  private readonly valueLimit: number;
  private readonly mask: number;
  private readonly metrics: HeadMetrics | undefined;
  private readonly shardLabel: { shard: string };

  private readonly meter = new MemoryMeter();
  private readonly arena = new Arena(this.meter);
  private readonly pool = new NodePool(this.meter);

  // Span columns.
  private readonly spanChunk = new U32Column(this.meter);
  private readonly spanOffset = new U32Column(this.meter);
  private readonly spanLength = new U32Column(this.meter);
  private readonly spanGroup = new U32Column(this.meter);
  private readonly spanNext = new U32Column(this.meter);
  private readonly spanIdHi = new U32Column(this.meter);
  private readonly spanIdLo = new U32Column(this.meter);
  private spans = 0;

  // Trace columns.
  private readonly traceFirst = new U32Column(this.meter);
  private readonly traceLast = new U32Column(this.meter);
  private readonly traceSpans = new U32Column(this.meter);
  private readonly traceStartHi = new U32Column(this.meter);
  private readonly traceStartLo = new U32Column(this.meter);
  private readonly traceEndHi = new U32Column(this.meter);
  private readonly traceEndLo = new U32Column(this.meter);
  private readonly traceRoot = new U32Column(this.meter);
  private readonly traceEarliest = new U32Column(this.meter);
  private readonly traceFlags = new U32Column(this.meter);
  /**
   * Per trace, BLOOM_WORDS words of a bloom filter over the (key, value) hashes of high-cardinality
   * keys (see indexAttributeVisitor).
   */
  private readonly traceBloom = new U32Column(this.meter);
  /** Search epoch that last visited the trace (dedups candidates without a per-search Set). */
  private readonly traceStamp = new U32Column(this.meter);
  /** Per trace, when a span was last added: SEEN_TICK_MS ticks since `createdAt`. */
  private readonly traceSeen = new U32Column(this.meter);
  private readonly traceIds = new TraceIds(this.meter);
  private traces = 0;
  private readonly bigTraces = new Map<number, Set<string>>();

  private readonly groups: GroupEntry[] = [];
  private readonly tenants = new Map<string, TenantState>();
  private reservedBytes = 0;
  private resourceCount = 0;
  private nonEmptyTraces = 0;
  private replayEpoch = 0;
  /** Per block of 2^START_BLOCK_BITS trace ordinals, the latest first-span start (ns, float). */
  private readonly blockMaxStart: number[] = [];
  /** Span IDs admitted but not yet committed or released: trace ordinal → [ticket, hi, lo, ...]. */
  private readonly pending = new Map<number, number[]>();
  private nextTicket = 1;
  private searchEpoch = 0;

  /** Scratch for the ingest path (JS runs one call at a time; never held across calls). */
  private readonly header: SpanHeader = createSpanHeader();
  private readonly queryHeader: SpanHeader = createSpanHeader();
  private readonly fallbackFields: SpanFields = createSpanFields();
  /**
   * Key entry last seen at each attribute position: spans from one instrumentation repeat their
   * keys in the same order, so one byte comparison usually replaces hashing and a table lookup.
   */
  private readonly keyCache: (KeyEntry | undefined)[] = new Array<KeyEntry | undefined>(KEY_CACHE_SIZE).fill(undefined);
  private keyCacheTenant: TenantState | undefined;

  // State read by the attribute visitor during `indexSpan` / `internResource`.
  private curTenant: TenantState | undefined;
  private curTrace = 0;
  private curAttribute = 0;
  private curResource: ResourceEntry | undefined;

  private readonly now: () => number;
  private readonly createdAt: number;
  /** The tick stamped on traces by the insert in progress. */
  private seenTick = 0;

  constructor(options: HeadOptions, internals: HeadInternals) {
    this.now = options.now ?? Date.now;
    this.createdAt = this.now();
    this.maxBytes = options.maxBytes;
    this.valueLimit = options.maxTagValuesPerKey ?? DEFAULT_MAX_TAG_VALUES_PER_KEY;
    this.mask = internals.hashMask ?? 0xffffffff;
    this.metrics = options.registry === undefined ? undefined : createMetrics(options.registry);
    this.shardLabel = { shard: String(options.shard ?? 0) };
  }

  // ---- write path ----------------------------------------------------------------------------

  /** Reads a span's header with the lean reader, falling back to common/otlp for odd encodings. */
  private readHeader(span: Uint8Array, h: SpanHeader): boolean {
    if (readSpanHeader(span, h)) return true;
    const f = this.fallbackFields;
    if (!readSpanFields(span, f)) return false;
    h.traceIdOffset = f.traceIdOffset;
    h.traceIdLength = f.traceIdLength;
    h.spanIdOffset = f.spanIdOffset;
    h.spanIdLength = f.spanIdLength;
    h.parentSpanIdLength = f.parentSpanIdLength;
    h.nameOffset = f.nameOffset;
    h.nameLength = f.nameLength;
    h.kind = f.kind;
    h.startHi = f.startHi;
    h.startLo = f.startLo;
    h.endHi = f.endHi;
    h.endLo = f.endLo;
    h.statusCode = f.statusCode;
    h.attributeCount = f.attributeCount;
    h.attributesStart = 0;
    h.attributesEnd = span.length;
    return true;
  }

  admit(batch: SpanBatch): AdmitResult {
    const tenant = this.tenant(batch.tenant);
    const ticketId = this.nextTicket++;
    const f = this.header;
    const outGroups: SpanGroup[] = [];
    const pendingTraces: number[] = [];
    const traceOf: number[] = [];
    let duplicates = 0;
    let invalid = 0;
    let bytes = 0;
    let w0 = 0;
    let w1 = 0;
    let w2 = 0;
    let w3 = 0;
    let t = -1;
    let pendingList: number[] | undefined;
    for (const group of batch.groups) {
      let kept: Uint8Array[] | undefined;
      for (let i = 0; i < group.spans.length; i++) {
        const span = group.spans[i]!;
        if (!this.readHeader(span, f) || f.traceIdLength !== 16 || f.spanIdLength !== 8) {
          invalid++;
          continue;
        }
        const o = f.traceIdOffset;
        if (t < 0 || wordAt(span, o) !== w0 || wordAt(span, o + 4) !== w1 || wordAt(span, o + 8) !== w2 || wordAt(span, o + 12) !== w3) {
          w0 = wordAt(span, o);
          w1 = wordAt(span, o + 4);
          w2 = wordAt(span, o + 8);
          w3 = wordAt(span, o + 12);
          // A new trace gets its ordinal now, empty; it stays empty (and invisible) if released.
          t = this.traceOrdinal(tenant, w0, w1, w2, w3);
          pendingList = undefined;
        }
        const hi = wordAt(span, f.spanIdOffset);
        const lo = wordAt(span, f.spanIdOffset + 4);
        if (this.traceSpans.get(t) > 0 && this.traceHasSpan(t, hi, lo)) {
          duplicates++;
          continue;
        }
        if (pendingList === undefined) {
          pendingList = this.pending.get(t);
          if (pendingList === undefined) {
            pendingList = [];
            this.pending.set(t, pendingList);
          }
          pendingTraces.push(t);
        }
        if (pendingHas(pendingList, hi, lo)) {
          duplicates++;
          continue;
        }
        pendingList.push(ticketId, hi, lo);
        (kept ??= []).push(span);
        traceOf.push(t);
        bytes += span.length + SPAN_RESERVE_BYTES + ATTRIBUTE_RESERVE_BYTES * f.attributeCount;
      }
      if (kept !== undefined) outGroups.push({ ...group, spans: kept });
    }
    if (invalid > 0) this.metrics?.invalid.inc(this.shardLabel, invalid);
    if (duplicates > 0) this.metrics?.duplicates.inc(this.shardLabel, duplicates);
    if (bytes > 0 && this.usedBytes() + this.reservedBytes + bytes > this.maxBytes) {
      this.dropPending(pendingTraces, ticketId);
      this.metrics?.full.inc(this.shardLabel);
      return { kind: 'full', retryAfterSeconds: FULL_RETRY_AFTER_SECONDS };
    }
    this.reservedBytes += bytes;
    this.metrics?.reserved.set(this.shardLabel, this.reservedBytes);
    const out: SpanBatch = { tenant: batch.tenant, groups: outGroups };
    const ticket = new Ticket(this, ticketId, tenant, out, traceOf, pendingTraces, this.replayEpoch, traceOf.length, bytes);
    return { kind: 'ok', batch: out, duplicates, ticket };
  }

  commit(ticket: AdmitTicket): void {
    const t = this.settle(ticket);
    if (t === undefined) return;
    // Pending marks kept every other admit away from these spans; only `insert` (replay) could
    // have stored one of them since.
    this.insertInto(t.tenant, t.batch, t.traceOf, t.replayEpoch !== this.replayEpoch);
  }

  release(ticket: AdmitTicket): void {
    this.settle(ticket);
  }

  insert(batch: SpanBatch): { inserted: number; duplicates: number } {
    this.replayEpoch++;
    return this.insertInto(this.tenant(batch.tenant), batch, undefined, true);
  }

  usedBytes(): number {
    return this.meter.bytes;
  }

  spanCount(): number {
    return this.spans;
  }

  traceCount(): number {
    return this.nonEmptyTraces;
  }

  private settle(ticket: AdmitTicket): Ticket | undefined {
    if (!(ticket instanceof Ticket) || ticket.owner !== this) throw new Error('ticket was not issued by this head');
    if (ticket.settled) return undefined;
    ticket.settled = true;
    this.reservedBytes -= ticket.bytes;
    this.metrics?.reserved.set(this.shardLabel, this.reservedBytes);
    this.dropPending(ticket.pendingTraces, ticket.id);
    return ticket;
  }

  private dropPending(traces: readonly number[], ticketId: number): void {
    for (const key of traces) {
      const list = this.pending.get(key);
      if (list === undefined) continue;
      let w = 0;
      for (let r = 0; r < list.length; r += 3) {
        if (list[r] === ticketId) continue;
        list[w++] = list[r]!;
        list[w++] = list[r + 1]!;
        list[w++] = list[r + 2]!;
      }
      if (w === 0) this.pending.delete(key);
      else list.length = w;
    }
  }

  private tenant(name: string): TenantState {
    let t = this.tenants.get(name);
    if (t === undefined) {
      const meter = this.meter;
      t = {
        traces: new TraceTable(this.traceIds, meter),
        traceList: new U32Column(meter),
        traceListSize: 0,
        postings: new PostingTable(this.pool, meter),
        keys: new KeyDictionary(meter, this.valueLimit),
        resources: new Map(),
        resourceIndex: new Map(),
        groupIds: new Map(),
        services: new Map(),
        rootServices: new ValueSet(meter, this.valueLimit),
        rootNames: new ValueSet(meter, this.valueLimit),
        statusSeen: 0,
        kindSeen: 0,
      };
      this.tenants.set(name, t);
      meter.bytes += 512;
    }
    return t;
  }

  /**
   * Stores the spans of `batch`. `traceOf` (commit) gives each span's trace ordinal as admit
   * resolved it; without it (replay) traces are looked up. `dedup` false skips the stored-span
   * check when admit's checks still hold.
   */
  private insertInto(tenant: TenantState, batch: SpanBatch, traceOf: readonly number[] | undefined, dedup: boolean): { inserted: number; duplicates: number } {
    const f = this.header;
    this.seenTick = Math.max(0, Math.min(0xffffffff, Math.floor((this.now() - this.createdAt) / SEEN_TICK_MS)));
    let inserted = 0;
    let duplicates = 0;
    let invalid = 0;
    let w0 = 0;
    let w1 = 0;
    let w2 = 0;
    let w3 = 0;
    let t = -1;
    let k = 0;
    for (const group of batch.groups) {
      if (group.spans.length === 0) continue;
      const groupId = this.internGroup(tenant, group);
      for (let i = 0; i < group.spans.length; i++) {
        const span = group.spans[i]!;
        if (!this.readHeader(span, f) || f.traceIdLength !== 16 || f.spanIdLength !== 8) {
          invalid++;
          continue;
        }
        if (traceOf !== undefined) {
          t = traceOf[k++]!;
        } else {
          const o = f.traceIdOffset;
          if (t < 0 || wordAt(span, o) !== w0 || wordAt(span, o + 4) !== w1 || wordAt(span, o + 8) !== w2 || wordAt(span, o + 12) !== w3) {
            w0 = wordAt(span, o);
            w1 = wordAt(span, o + 4);
            w2 = wordAt(span, o + 8);
            w3 = wordAt(span, o + 12);
            t = this.traceOrdinal(tenant, w0, w1, w2, w3);
          }
        }
        if (this.insertSpan(tenant, t, groupId, span, f, dedup)) inserted++;
        else duplicates++;
      }
    }
    const m = this.metrics;
    if (m !== undefined) {
      if (inserted > 0) m.inserted.inc(this.shardLabel, inserted);
      if (duplicates > 0) m.duplicates.inc(this.shardLabel, duplicates);
      if (invalid > 0) m.invalid.inc(this.shardLabel, invalid);
      m.bytes.set(this.shardLabel, this.usedBytes());
      m.spans.set(this.shardLabel, this.spans);
      m.traces.set(this.shardLabel, this.nonEmptyTraces);
    }
    return { inserted, duplicates };
  }

  /** The ordinal of the tenant's trace with these ID words, created (empty) when new. */
  private traceOrdinal(tenant: TenantState, w0: number, w1: number, w2: number, w3: number): number {
    const hash = traceIdHash(w0, w1, w2, w3);
    const found = tenant.traces.find(hash, w0, w1, w2, w3);
    if (found >= 0) return found;
    const t = this.traces++;
    this.traceIds.set(t, w0, w1, w2, w3);
    tenant.traces.insert(t, hash);
    tenant.traceList.set(tenant.traceListSize++, t);
    this.traceFirst.set(t, NIL);
    this.traceLast.set(t, NIL);
    this.traceSpans.set(t, 0);
    this.traceStartHi.set(t, 0);
    this.traceStartLo.set(t, 0);
    this.traceEndHi.set(t, 0);
    this.traceEndLo.set(t, 0);
    this.traceRoot.set(t, NIL);
    this.traceEarliest.set(t, NIL);
    this.traceFlags.set(t, 0);
    this.traceStamp.set(t, 0);
    this.traceBloom.set(t * BLOOM_WORDS + BLOOM_WORDS - 1, 0); // pages start zeroed; this sizes them
    return t;
  }

  private bloomAdd(t: number, h: number): void {
    const base = t * BLOOM_WORDS;
    const bloom = this.traceBloom;
    for (let i = 0, x = h; i < 3; i++, x = x >>> 9) {
      const bit = x & BLOOM_BITS_MASK;
      const w = base + (bit >>> 5);
      bloom.set(w, (bloom.get(w) | (1 << (bit & 31))) >>> 0);
    }
  }

  private bloomHas(t: number, h: number): boolean {
    const base = t * BLOOM_WORDS;
    const bloom = this.traceBloom;
    for (let i = 0, x = h; i < 3; i++, x = x >>> 9) {
      const bit = x & BLOOM_BITS_MASK;
      if ((bloom.get(base + (bit >>> 5)) & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  private traceHasSpan(t: number, hi: number, lo: number): boolean {
    const big = this.bigTraces.get(t);
    if (big !== undefined) return big.has(bigSetKey(hi, lo));
    for (let s = this.traceFirst.get(t); s !== NIL; s = this.spanNext.get(s)) {
      if (this.spanIdLo.get(s) === lo && this.spanIdHi.get(s) === hi) return true;
    }
    return false;
  }

  /** Stores one span (fields already read into `f`); false when (trace, span ID) is already held. */
  private insertSpan(tenant: TenantState, t: number, groupId: number, span: Uint8Array, f: SpanHeader, dedup: boolean): boolean {
    const hi = wordAt(span, f.spanIdOffset);
    const lo = wordAt(span, f.spanIdOffset + 4);
    if (dedup && this.traceSpans.get(t) > 0 && this.traceHasSpan(t, hi, lo)) return false;

    const s = this.spans++;
    const chunk = this.arena.append(span);
    this.spanChunk.set(s, chunk);
    this.spanOffset.set(s, this.arena.lastOffset);
    this.spanLength.set(s, span.length);
    this.spanGroup.set(s, groupId);
    this.spanNext.set(s, NIL);
    this.spanIdHi.set(s, hi);
    this.spanIdLo.set(s, lo);

    const count = this.traceSpans.get(t) + 1;
    this.traceSpans.set(t, count);
    if (count === 1) {
      this.nonEmptyTraces++;
      // A trace's start only moves earlier after its first span, so the first start bounds it.
      const block = t >>> START_BLOCK_BITS;
      const first = f.startHi * TWO_32 + f.startLo;
      const bounds = this.blockMaxStart;
      while (bounds.length <= block) bounds.push(-Infinity);
      if (first > bounds[block]!) bounds[block] = first;
    }
    const last = this.traceLast.get(t);
    if (last === NIL) this.traceFirst.set(t, s);
    else this.spanNext.set(last, s);
    this.traceLast.set(t, s);
    const big = this.bigTraces.get(t);
    if (big !== undefined) {
      big.add(bigSetKey(hi, lo));
      this.meter.bytes += BIG_SET_ENTRY_BYTES;
    } else if (count > BIG_TRACE_SPANS) {
      const set = new Set<string>();
      for (let x = this.traceFirst.get(t); x !== NIL; x = this.spanNext.get(x)) set.add(bigSetKey(this.spanIdHi.get(x), this.spanIdLo.get(x)));
      this.bigTraces.set(t, set);
      this.meter.bytes += count * BIG_SET_ENTRY_BYTES + 128;
    }

    // Trace bounds; times compare exactly by their halves. The earliest span (the summary's
    // stand-in while the root is missing) is the minimum by (start, span ID), so the summary does
    // not depend on arrival order; it always starts at the trace's minimum start.
    const sh = f.startHi;
    const sl = f.startLo;
    const minHi = this.traceStartHi.get(t);
    const minLo = this.traceStartLo.get(t);
    if (count === 1 || sh < minHi || (sh === minHi && sl < minLo)) {
      this.traceStartHi.set(t, sh);
      this.traceStartLo.set(t, sl);
      this.traceEarliest.set(t, s);
    } else if (sh === minHi && sl === minLo) {
      const e = this.traceEarliest.get(t);
      const eh = this.spanIdHi.get(e);
      if (hi < eh || (hi === eh && lo < this.spanIdLo.get(e))) this.traceEarliest.set(t, s);
    }
    const eh = f.endHi;
    const el = f.endLo;
    if (count === 1 || eh > this.traceEndHi.get(t) || (eh === this.traceEndHi.get(t) && el > this.traceEndLo.get(t))) {
      this.traceEndHi.set(t, eh);
      this.traceEndLo.set(t, el);
    }
    // Several parentless spans (broken instrumentation): the root is again the minimum by
    // (start, span ID).
    const isRoot = f.parentSpanIdLength === 0;
    if (isRoot) {
      const root = this.traceRoot.get(t);
      if (root === NIL || this.spanBefore(sh, sl, hi, lo, root)) this.traceRoot.set(t, s);
    }
    if (f.statusCode === STATUS_ERROR) this.traceFlags.set(t, this.traceFlags.get(t) | FLAG_ERROR);
    this.traceSeen.set(t, this.seenTick);

    this.indexSpan(tenant, t, groupId, span, f, isRoot);
    return true;
  }

  /** Whether a span starting at (sh, sl) with ID (hi, lo) sorts before stored span `s`. */
  private spanBefore(sh: number, sl: number, hi: number, lo: number, s: number): boolean {
    const view = this.spanView(s);
    const g = this.queryHeader;
    this.readHeader(view, g);
    if (sh !== g.startHi) return sh < g.startHi;
    if (sl !== g.startLo) return sl < g.startLo;
    const oh = this.spanIdHi.get(s);
    if (hi !== oh) return hi < oh;
    return lo < this.spanIdLo.get(s);
  }

  private spanView(s: number): Uint8Array {
    return this.arena.view(this.spanChunk.get(s), this.spanOffset.get(s), this.spanLength.get(s));
  }

  private indexSpan(tenant: TenantState, t: number, groupId: number, span: Uint8Array, f: SpanHeader, isRoot: boolean): void {
    const postings = tenant.postings;
    const mask = this.mask;
    const resource = this.groups[groupId]!.resource;
    postings.add(resource.postingKey, t);

    const nameHash = hashBytes(span, f.nameOffset, f.nameLength, TypeSeed.STRING);
    postings.add((combineHash(K_NAME, nameHash) & mask) >>> 0, t);
    postings.add((combineHash(K_KIND, f.kind) & mask) >>> 0, t);
    postings.add((combineHash(K_STATUS, f.statusCode) & mask) >>> 0, t);
    tenant.statusSeen |= 1 << (f.statusCode & 31);
    tenant.kindSeen |= 1 << (f.kind & 31);
    const service = resource.service;
    const ops = service.operations;
    const opHash = combineHash(nameHash, f.kind);
    if (!ops.full && !service.recentOperations.has(opHash)) {
      service.recentOperations.remember(opHash);
      const h = (opHash & mask) >>> 0;
      if (!ops.has(h, EntryType.OPERATION, f.kind, 0, span, f.nameOffset, f.nameLength)) {
        ops.insert(h, EntryType.OPERATION, f.kind, 0, span, f.nameOffset, f.nameLength, utf8At(span, f.nameOffset, f.nameLength));
      }
    }
    if (isRoot) {
      postings.add((combineHash(K_ROOT_NAME, nameHash) & mask) >>> 0, t);
      postings.add((combineHash(K_ROOT_SERVICE, resource.serviceHash) & mask) >>> 0, t);
      const roots = tenant.rootNames;
      const h = (nameHash & mask) >>> 0;
      if (!roots.full && !roots.has(h, EntryType.STRING, 0, 0, span, f.nameOffset, f.nameLength)) {
        roots.insert(h, EntryType.STRING, 0, 0, span, f.nameOffset, f.nameLength, utf8At(span, f.nameOffset, f.nameLength));
      }
      const rootServices = tenant.rootServices;
      const sb = resource.serviceBytes;
      const hs = (resource.serviceHash & mask) >>> 0;
      if (!rootServices.full && sb.length > 0 && !rootServices.has(hs, EntryType.STRING, 0, 0, sb, 0, sb.length)) {
        rootServices.insert(hs, EntryType.STRING, 0, 0, sb, 0, sb.length, resource.serviceName);
      }
    }
    if (f.attributeCount > 0) {
      this.curTenant = tenant;
      this.curTrace = t;
      this.curAttribute = 0;
      this.curResource = undefined;
      if (this.keyCacheTenant !== tenant) {
        this.keyCache.fill(undefined);
        this.keyCacheTenant = tenant;
      }
      this.walk(span, f.attributesStart, f.attributesEnd, 9, this.indexAttributeVisitor);
    }
  }

  /**
   * Attributes through the lean walker, or common/otlp's when the walker declines. A declined
   * walk may have visited some attributes already; indexing them twice is harmless (postings and
   * dictionaries ignore repeats).
   */
  private walk(buf: Uint8Array, start: number, end: number, field: number, visit: AttributeVisitor): void {
    if (walkAttributes(buf, start, end, field, visit)) return;
    try {
      forEachAttribute(buf, 0, buf.length, field, visit);
    } catch {
      // Spans and resources are validated at the edge, so this is unreachable for admitted data;
      // should it happen, the span stays stored and findable by ID, only its attributes unindexed.
    }
  }

  private readonly indexAttributeVisitor = (buf: Uint8Array, keyOffset: number, keyLength: number, type: number, valueOffset: number, valueLength: number): void => {
    const tenant = this.curTenant!;
    const position = this.curAttribute++;
    let key = position < KEY_CACHE_SIZE ? this.keyCache[position] : undefined;
    if (key === undefined || !sameBytes(key.bytes, buf, keyOffset, keyLength)) {
      const hk = hashBytes(buf, keyOffset, keyLength);
      const keyId = (hk & this.mask) >>> 0;
      key = tenant.keys.find(keyId, buf, keyOffset, keyLength) ?? tenant.keys.create(keyId, hk, buf, keyOffset, keyLength, utf8At(buf, keyOffset, keyLength));
      if (position < KEY_CACHE_SIZE) this.keyCache[position] = key;
    }
    const h = this.indexValue(key, buf, type, valueOffset, valueLength);
    if (h === NIL) return;
    const resource = this.curResource;
    if (resource === undefined) {
      // A key with more distinct values than the dictionary keeps (URLs, user or request IDs) would
      // mostly create one-trace posting lists: a random cache miss each, ~20 bytes each. Its values
      // go to the trace's bloom filter instead, which search scans; the key's posting lists stay
      // as they were when it crossed the line and still serve the traces indexed until then.
      if (key.values.full) this.bloomAdd(this.curTrace, h);
      else tenant.postings.add(h, this.curTrace);
    } else {
      let list = tenant.resourceIndex.get(h);
      if (list === undefined) {
        list = [];
        tenant.resourceIndex.set(h, list);
        this.meter.bytes += 96;
      }
      if (!list.includes(resource)) list.push(resource);
    }
  };

  /**
   * Records the value in the key's dictionary and returns its index hash, or NIL when the value
   * is not indexed (arrays, key-value lists, bytes, long strings).
   */
  private indexValue(key: KeyEntry, buf: Uint8Array, type: number, off: number, len: number): number {
    const mask = this.mask;
    const values = key.values;
    let hv: number;
    switch (type) {
      case AnyValueType.STRING:
        if (len > MAX_INDEXED_VALUE_BYTES) return NIL;
        hv = hashBytes(buf, off, len, TypeSeed.STRING);
        if (!values.full && !key.recent.has(hv)) {
          key.recent.remember(hv);
          const h = (hv & mask) >>> 0;
          if (!values.has(h, EntryType.STRING, 0, 0, buf, off, len)) values.insert(h, EntryType.STRING, 0, 0, buf, off, len, utf8At(buf, off, len));
        }
        break;
      case AnyValueType.INT: {
        varint64At(buf, off, intHalves);
        const lo = intHalves[0]!;
        const hi = intHalves[1]!;
        hv = hashInt(lo, hi);
        if (!values.full && !key.recent.has(hv)) {
          key.recent.remember(hv);
          const h = (hv & mask) >>> 0;
          if (!values.has(h, EntryType.INT, lo, hi, undefined, 0, 0)) values.insert(h, EntryType.INT, lo, hi, undefined, 0, 0, renderInt(lo, hi));
        }
        break;
      }
      case AnyValueType.DOUBLE: {
        const d = readDoubleAt(buf, off);
        hv = hashDouble(d);
        if (!values.full && !key.recent.has(hv)) {
          key.recent.remember(hv);
          const h = (hv & mask) >>> 0;
          const a = doubleWords[0]!;
          const b = doubleWords[1]!;
          if (!values.has(h, EntryType.DOUBLE, a, b, undefined, 0, 0)) values.insert(h, EntryType.DOUBLE, a, b, undefined, 0, 0, renderDouble(d));
        }
        break;
      }
      case AnyValueType.BOOL: {
        const v = readVarintAt(buf, off) !== 0 ? 1 : 0;
        hv = hashBool(v === 1);
        if (!values.full && !key.recent.has(hv)) {
          key.recent.remember(hv);
          const h = (hv & mask) >>> 0;
          if (!values.has(h, EntryType.BOOL, v, 0, undefined, 0, 0)) values.insert(h, EntryType.BOOL, v, 0, undefined, 0, 0, v === 1 ? 'true' : 'false');
        }
        break;
      }
      case AnyValueType.EMPTY:
        hv = hashEmpty();
        if (!values.full && !key.recent.has(hv)) {
          key.recent.remember(hv);
          const h = (hv & mask) >>> 0;
          if (!values.has(h, EntryType.EMPTY, 0, 0, undefined, 0, 0)) values.insert(h, EntryType.EMPTY, 0, 0, undefined, 0, 0, '');
        }
        break;
      default:
        key.unindexed = true;
        return NIL;
    }
    return (combineHash(key.hash, hv) & mask) >>> 0;
  }

  private internGroup(tenant: TenantState, group: SpanGroup): number {
    const resourceKey = latin1(group.resource);
    const scopeKey = latin1(group.scope);
    const key = `${resourceKey.length}:${group.resourceSchemaUrl.length}:${scopeKey.length}:${resourceKey}${group.resourceSchemaUrl}${scopeKey}${group.scopeSchemaUrl}`;
    let id = tenant.groupIds.get(key);
    if (id !== undefined) return id;
    const resource = this.internResource(tenant, resourceKey, group.resource);
    id = this.groups.length;
    this.groups.push({
      resource,
      resourceSchemaUrl: group.resourceSchemaUrl,
      scope: new Uint8Array(group.scope),
      scopeSchemaUrl: group.scopeSchemaUrl,
    });
    tenant.groupIds.set(key, id);
    this.meter.bytes += 160 + key.length + group.scope.length;
    return id;
  }

  private internResource(tenant: TenantState, key: string, bytes: Uint8Array): ResourceEntry {
    const existing = tenant.resources.get(key);
    if (existing !== undefined) return existing;
    const copy = new Uint8Array(bytes);
    let serviceName = '';
    try {
      serviceName = readServiceName(copy);
    } catch {
      // Resources are checked structurally by the receiver; a malformed one has no service name.
    }
    const serviceBytes = Buffer.from(serviceName, 'utf8');
    const serviceHash = hashBytes(serviceBytes, 0, serviceBytes.length, TypeSeed.STRING);
    let service = tenant.services.get(serviceName);
    if (service === undefined) {
      service = { name: serviceName, operations: new ValueSet(this.meter, this.valueLimit), recentOperations: new RecentHashes(), resources: [] };
      tenant.services.set(serviceName, service);
      this.meter.bytes += 160 + serviceName.length * 2;
    }
    const id = this.resourceCount++;
    const entry: ResourceEntry = {
      postingKey: (combineHash(K_RESOURCE, id) & this.mask) >>> 0,
      bytes: copy,
      serviceName,
      serviceBytes,
      serviceHash,
      service,
      memoSearch: 0,
      memo: undefined,
    };
    service.resources.push(entry);
    tenant.resources.set(key, entry);
    this.meter.bytes += 256 + copy.length * 2 + key.length;
    // Resource attributes map to resources (few), not to traces.
    this.curTenant = tenant;
    this.curResource = entry;
    this.curAttribute = KEY_CACHE_SIZE; // leave the span key cache alone
    this.walk(copy, 0, copy.length, 1, this.indexAttributeVisitor);
    this.curResource = undefined;
    return entry;
  }

  // ---- queries -------------------------------------------------------------------------------

  findTrace(tenantName: string, traceId: Uint8Array): SpanGroup[] | null {
    if (traceId.length !== 16) return null;
    const tenant = this.tenants.get(tenantName);
    if (tenant === undefined) return null;
    const w0 = wordAt(traceId, 0);
    const w1 = wordAt(traceId, 4);
    const w2 = wordAt(traceId, 8);
    const w3 = wordAt(traceId, 12);
    const t = tenant.traces.find(traceIdHash(w0, w1, w2, w3), w0, w1, w2, w3);
    if (t < 0 || this.traceSpans.get(t) === 0) return null;
    const byGroup = new Map<number, Uint8Array[]>();
    for (let s = this.traceFirst.get(t); s !== NIL; s = this.spanNext.get(s)) {
      const g = this.spanGroup.get(s);
      let list = byGroup.get(g);
      if (list === undefined) {
        list = [];
        byGroup.set(g, list);
      }
      list.push(this.spanView(s));
    }
    const out: SpanGroup[] = [];
    for (const [g, spans] of byGroup) {
      const group = this.groups[g]!;
      out.push({
        resource: group.resource.bytes,
        resourceSchemaUrl: group.resourceSchemaUrl,
        scope: group.scope,
        scopeSchemaUrl: group.scopeSchemaUrl,
        spans,
      });
    }
    return out;
  }

  search(tenant: string, request: SearchRequest): TraceSummary[] {
    return this.searchWithStats(tenant, request).traces;
  }

  createdAtMs(): number {
    return this.createdAt;
  }

  tenantNames(): string[] {
    const out: string[] = [];
    for (const [name, t] of this.tenants) {
      for (let i = 0; i < t.traceListSize; i++) {
        if (this.traceSpans.get(t.traceList.get(i)) > 0) {
          out.push(name);
          break;
        }
      }
    }
    return out.sort();
  }

  forEachTrace(tenantName: string, visit: (trace: HeadTraceInfo) => void): void {
    const tenant = this.tenants.get(tenantName);
    if (tenant === undefined) return;
    for (let i = 0; i < tenant.traceListSize; i++) {
      const t = tenant.traceList.get(i);
      const count = this.traceSpans.get(t);
      if (count === 0) continue;
      visit({
        traceId: this.traceIds.bytes(t),
        spanCount: count,
        startNs: this.traceStartHi.get(t) * TWO_32 + this.traceStartLo.get(t),
        endNs: this.traceEndHi.get(t) * TWO_32 + this.traceEndLo.get(t),
        hasError: (this.traceFlags.get(t) & FLAG_ERROR) !== 0,
        lastWriteMs: this.createdAt + this.traceSeen.get(t) * SEEN_TICK_MS,
      });
    }
  }

  searchWithStats(tenantName: string, request: SearchRequest): SearchOutcome {
    const tenant = this.tenants.get(tenantName);
    if (tenant === undefined) return { traces: [], inspectedTraces: 0 };
    const plan = this.plan(tenant, request);
    if (plan === undefined) return { traces: [], inspectedTraces: 0 };

    let epoch = ++this.searchEpoch;
    if (epoch > 0xfffffff0) {
      // Stamps and memos of 2^32 searches ago must not look current.
      for (let t = 0; t < this.traces; t++) this.traceStamp.set(t, 0);
      for (const tn of this.tenants.values()) for (const r of tn.resources.values()) r.memoSearch = 0;
      epoch = this.searchEpoch = 1;
    }
    const limit = Number.isFinite(request.limit) ? Math.max(1, Math.floor(request.limit)) : Number.MAX_SAFE_INTEGER;
    const heap: number[] = [];
    let inspected = 0;
    const startNs = request.startNs;
    const endNs = request.endNs;
    const minDuration = request.minDurationNs;
    const maxDuration = request.maxDurationNs;
    const needSpans = plan.spanFilters.length > 0 || request.minSpanDurationNs !== undefined || request.maxSpanDurationNs !== undefined;

    const consider = (t: number): void => {
      if (this.traceStamp.get(t) === epoch) return;
      this.traceStamp.set(t, epoch);
      if (this.traceSpans.get(t) === 0) return; // admitted, then released: never stored
      inspected++;
      const startHi = this.traceStartHi.get(t);
      const startLo = this.traceStartLo.get(t);
      const endHi = this.traceEndHi.get(t);
      const endLo = this.traceEndLo.get(t);
      if (startNs !== undefined && endHi * TWO_32 + endLo < startNs) return;
      if (endNs !== undefined && startHi * TWO_32 + startLo > endNs) return;
      const duration = (endHi - startHi) * TWO_32 + (endLo - startLo);
      if (minDuration !== undefined && duration < minDuration) return;
      if (maxDuration !== undefined && duration > maxDuration) return;
      if (heap.length >= limit && !this.traceBefore(t, heap[0]!)) return;
      for (const bloom of plan.blooms) {
        if (bloom.posted.has(t)) continue;
        let pass = false;
        for (const h of bloom.hashes) if (this.bloomHas(t, h)) pass = true;
        if (!pass) return;
      }
      if (plan.rootFilters.length > 0 && !this.rootMatches(t, plan.rootFilters)) return;
      if (needSpans && !this.traceHasMatchingSpan(t, plan, request)) return;
      if (heap.length < limit) heapPush(heap, t, this.worseThan);
      else heapReplaceTop(heap, t, this.worseThan);
    };

    // Early stop: candidates come newest first (by ordinal, or by posting time); once the heap is
    // full and no remaining candidate can start later than its worst entry, the rest is skipped.
    // startBound[b] bounds the start of every trace with ordinal < (b + 1) << START_BLOCK_BITS.
    const startBound = this.blockMaxStart.slice();
    for (let b = 1; b < startBound.length; b++) if (startBound[b - 1]! > startBound[b]!) startBound[b] = startBound[b - 1]!;
    const cannotBeat = (maxOrdinal: number): boolean => {
      if (heap.length < limit) return false;
      const worst = heap[0]!;
      // Float starts round by up to 256 ns at today's epoch; the margin keeps the bound safe.
      const bound = startBound[maxOrdinal >>> START_BLOCK_BITS] ?? -Infinity;
      return this.traceStartHi.get(worst) * TWO_32 + this.traceStartLo.get(worst) > bound + 4096;
    };
    const c = plan.candidates;
    if (c !== undefined) {
      // Along a list node indexes decrease; nodeBound[b] is the highest ordinal any node with
      // index < (b + 1) << NODE_BLOCK_BITS refers to.
      const nodeBound = this.pool.blockMaxTrace.slice();
      for (let b = 1; b < nodeBound.length; b++) if (nodeBound[b - 1]! > nodeBound[b]!) nodeBound[b] = nodeBound[b - 1]!;
      let checkedBlock = -1;
      const visit = (t: number, node: number): boolean => {
        if (node !== NIL && node >>> NODE_BLOCK_BITS !== checkedBlock) {
          checkedBlock = node >>> NODE_BLOCK_BITS;
          if (cannotBeat(nodeBound[checkedBlock]!)) return false;
        }
        consider(t);
        return true;
      };
      for (const h of c.postingHashes!) {
        checkedBlock = -1;
        tenant.postings.walk(h, visit);
      }
    } else {
      let block = -1;
      for (let i = tenant.traceListSize - 1; i >= 0; i--) {
        const t = tenant.traceList.get(i);
        if (t >>> START_BLOCK_BITS !== block) {
          block = t >>> START_BLOCK_BITS;
          if (cannotBeat(t)) break;
        }
        consider(t);
      }
    }
    heap.sort((a, b) => (this.traceBefore(a, b) ? -1 : this.traceBefore(b, a) ? 1 : 0));
    return { traces: heap.map((t) => this.summary(t)), inspectedTraces: inspected };
  }

  /** Newest first; equal starts order by trace ID descending. */
  private traceBefore(a: number, b: number): boolean {
    const ah = this.traceStartHi.get(a);
    const bh = this.traceStartHi.get(b);
    if (ah !== bh) return ah > bh;
    const al = this.traceStartLo.get(a);
    const bl = this.traceStartLo.get(b);
    if (al !== bl) return al > bl;
    return this.traceIds.compare(a, b) > 0;
  }

  /** Heap order: the root is the result that would be dropped first. */
  private readonly worseThan = (a: number, b: number): boolean => this.traceBefore(b, a);

  private plan(tenant: TenantState, request: SearchRequest): Plan | undefined {
    const spanFilters: Filter[] = [];
    const rootFilters: Filter[] = [];
    const attributeFilters: number[] = [];
    const mask = this.mask;
    const post = (k: number, v: number): number => (combineHash(k, v) & mask) >>> 0;
    for (const tag of request.tags) {
      const value = parseQueryValue(tag.value);
      const strHash = value.valueHashes[0]!;
      switch (tag.key) {
        case 'service.name': {
          const service = tenant.services.get(tag.value);
          if (service === undefined) return undefined;
          spanFilters.push({ kind: FilterKind.SERVICE, value, code: 0, key: undefined, postingHashes: service.resources.map((r) => r.postingKey) });
          break;
        }
        case 'name':
          spanFilters.push({ kind: FilterKind.NAME, value, code: 0, key: undefined, postingHashes: value.indexable ? [post(K_NAME, strHash)] : undefined });
          break;
        case 'status':
        case 'status.code': {
          const code = parseCode(tag.value, STATUS_NAMES, 'status_code_');
          if (code === undefined) return undefined;
          spanFilters.push({ kind: FilterKind.STATUS, value, code, key: undefined, postingHashes: [post(K_STATUS, code)] });
          break;
        }
        case 'kind':
        case 'span.kind': {
          const code = parseCode(tag.value, KIND_NAMES, 'span_kind_');
          if (code === undefined) return undefined;
          spanFilters.push({ kind: FilterKind.KIND, value, code, key: undefined, postingHashes: [post(K_KIND, code)] });
          break;
        }
        case 'root.service.name':
          rootFilters.push({ kind: FilterKind.ROOT_SERVICE, value, code: 0, key: undefined, postingHashes: [post(K_ROOT_SERVICE, strHash)] });
          break;
        case 'root.name':
          rootFilters.push({ kind: FilterKind.ROOT_NAME, value, code: 0, key: undefined, postingHashes: value.indexable ? [post(K_ROOT_NAME, strHash)] : undefined });
          break;
        default: {
          const key = Buffer.from(tag.key, 'utf8');
          const hk = hashBytes(key, 0, key.length);
          const entry = tenant.keys.byName(tag.key);
          // A key never seen cannot match; one that carried arrays/kvlists/bytes is not fully indexed.
          if (entry === undefined) return undefined;
          let postingHashes: number[] | undefined;
          let bloomHashes: number[] | undefined;
          if (value.indexable && !entry.unindexed) {
            // Span attributes post traces directly; resource attributes lead to resources, whose
            // traces are posted under the resource's own key.
            postingHashes = [];
            const resources = new Set<ResourceEntry>();
            for (const hv of value.valueHashes) {
              const h = post(hk, hv);
              postingHashes.push(h);
              for (const r of tenant.resourceIndex.get(h) ?? []) resources.add(r);
            }
            for (const r of resources) postingHashes.push(r.postingKey);
            if (entry.values.full) bloomHashes = value.valueHashes.map((hv) => post(hk, hv));
          }
          attributeFilters.push(spanFilters.length);
          spanFilters.push({ kind: FilterKind.ATTRIBUTE, value, code: 0, key, postingHashes, bloomHashes });
        }
      }
    }
    // Candidates come from the filter with the shortest posting lists.
    let candidates: Filter | undefined;
    let best = Infinity;
    const blooms: Plan['blooms'] = [];
    for (const filter of [...spanFilters, ...rootFilters]) {
      if (filter.postingHashes === undefined) continue;
      if (filter.bloomHashes !== undefined) {
        const posted = new Set<number>();
        for (const h of filter.postingHashes) tenant.postings.forEach(h, (t) => posted.add(t));
        blooms.push({ posted, hashes: filter.bloomHashes });
        continue;
      }
      let n = 0;
      for (const h of filter.postingHashes) n += tenant.postings.count(h);
      if (n < best) {
        best = n;
        candidates = filter;
      }
    }
    if (candidates === undefined && tenant.traceListSize === 0) return undefined;
    return { blooms, spanFilters, rootFilters, attributeFilters, candidates };
  }

  private rootMatches(t: number, filters: readonly Filter[]): boolean {
    const root = this.traceRoot.get(t);
    if (root === NIL) return false;
    const view = this.spanView(root);
    const f = this.queryHeader;
    this.readHeader(view, f);
    for (const filter of filters) {
      if (filter.kind === FilterKind.ROOT_NAME) {
        if (!sameBytes(filter.value.utf8, view, f.nameOffset, f.nameLength)) return false;
      } else if (this.groups[this.spanGroup.get(root)]!.resource.serviceName !== filter.value.text) {
        return false;
      }
    }
    return true;
  }

  private traceHasMatchingSpan(t: number, plan: Plan, request: SearchRequest): boolean {
    for (let s = this.traceFirst.get(t); s !== NIL; s = this.spanNext.get(s)) {
      if (this.spanMatches(s, plan, request)) return true;
    }
    return false;
  }

  private spanMatches(s: number, plan: Plan, request: SearchRequest): boolean {
    const view = this.spanView(s);
    const f = this.queryHeader;
    this.readHeader(view, f);
    if (request.minSpanDurationNs !== undefined || request.maxSpanDurationNs !== undefined) {
      const d = (f.endHi - f.startHi) * TWO_32 + (f.endLo - f.startLo);
      if (request.minSpanDurationNs !== undefined && d < request.minSpanDurationNs) return false;
      if (request.maxSpanDurationNs !== undefined && d > request.maxSpanDurationNs) return false;
    }
    const resource = this.groups[this.spanGroup.get(s)]!.resource;
    const filters = plan.spanFilters;
    for (const filter of filters) {
      switch (filter.kind) {
        case FilterKind.SERVICE:
          if (resource.serviceName !== filter.value.text) return false;
          break;
        case FilterKind.NAME:
          if (!sameBytes(filter.value.utf8, view, f.nameOffset, f.nameLength)) return false;
          break;
        case FilterKind.STATUS:
          if (f.statusCode !== filter.code) return false;
          break;
        case FilterKind.KIND:
          if (f.kind !== filter.code) return false;
          break;
        default:
          break;
      }
    }
    const attrs = plan.attributeFilters;
    if (attrs.length === 0) return true;
    const resourceMatched = this.resourceMatches(resource, plan);
    let open = 0;
    const matched = new Uint8Array(attrs.length);
    for (let i = 0; i < attrs.length; i++) {
      if (resourceMatched[i] === 1) matched[i] = 1;
      else open++;
    }
    if (open === 0) return true;
    this.walk(view, f.attributesStart, f.attributesEnd, 9, (buf, keyOffset, keyLength, type, valueOffset, valueLength) => {
      for (let i = 0; i < attrs.length; i++) {
        if (matched[i] === 1) continue;
        const filter = filters[attrs[i]!]!;
        if (!sameBytes(filter.key!, buf, keyOffset, keyLength)) continue;
        const m = valueMatches(filter.value, buf, type, valueOffset, valueLength) ?? renderedEquals(decodeSpan(view).attributes, filter);
        if (m) {
          matched[i] = 1;
          if (--open === 0) return false;
        }
      }
      return true;
    });
    return open === 0;
  }

  /** Which attribute filters the resource satisfies, memoised per search. */
  private resourceMatches(resource: ResourceEntry, plan: Plan): Uint8Array {
    if (resource.memoSearch === this.searchEpoch && resource.memo !== undefined) return resource.memo;
    const attrs = plan.attributeFilters;
    const filters = plan.spanFilters;
    const matched = new Uint8Array(attrs.length);
    const bytes = resource.bytes;
    this.walk(bytes, 0, bytes.length, 1, (buf, keyOffset, keyLength, type, valueOffset, valueLength) => {
      for (let i = 0; i < attrs.length; i++) {
        const filter = filters[attrs[i]!]!;
        if (matched[i] === 1 || !sameBytes(filter.key!, buf, keyOffset, keyLength)) continue;
        if (valueMatches(filter.value, buf, type, valueOffset, valueLength) ?? renderedEquals(decodeResource(bytes).attributes, filter)) matched[i] = 1;
      }
    });
    resource.memoSearch = this.searchEpoch;
    resource.memo = matched;
    return matched;
  }

  private summary(t: number): TraceSummary {
    const root = this.traceRoot.get(t);
    const ref = root !== NIL ? root : this.traceEarliest.get(t);
    const view = this.spanView(ref);
    const f = this.queryHeader;
    this.readHeader(view, f);
    const startHi = this.traceStartHi.get(t);
    const startLo = this.traceStartLo.get(t);
    return {
      traceId: this.traceIds.hex(t),
      rootServiceName: this.groups[this.spanGroup.get(ref)]!.resource.serviceName,
      rootTraceName: root !== NIL ? utf8At(view, f.nameOffset, f.nameLength) : ROOT_SPAN_NOT_YET_RECEIVED,
      startTimeUnixNano: exactDecimal(startHi, startLo),
      durationNanos: (this.traceEndHi.get(t) - startHi) * TWO_32 + (this.traceEndLo.get(t) - startLo),
      spanCount: this.traceSpans.get(t),
    };
  }

  tagNames(tenantName: string): string[] {
    const tenant = this.tenants.get(tenantName);
    const names = new Set<string>(INTRINSIC_TAG_NAMES);
    if (tenant !== undefined) for (const n of tenant.keys.names()) names.add(n);
    return [...names].sort();
  }

  tagValues(tenantName: string, tag: string): string[] {
    const tenant = this.tenants.get(tenantName);
    if (tenant === undefined) return [];
    const out = new Set<string>();
    switch (tag) {
      case 'service.name':
        for (const s of this.services(tenantName)) out.add(s);
        break;
      case 'name':
        for (const service of tenant.services.values()) {
          for (const op of service.operations.pairs()) {
            if (out.size >= this.valueLimit) break;
            out.add(op.text);
          }
        }
        break;
      case 'status':
      case 'status.code':
        STATUS_NAMES.forEach((n, i) => (tenant.statusSeen & (1 << i)) !== 0 && out.add(n));
        break;
      case 'kind':
      case 'span.kind':
        KIND_NAMES.forEach((n, i) => (tenant.kindSeen & (1 << i)) !== 0 && out.add(n));
        break;
      case 'root.service.name':
        for (const v of tenant.rootServices.texts()) out.add(v);
        break;
      case 'root.name':
        for (const v of tenant.rootNames.texts()) out.add(v);
        break;
      default:
        for (const v of tenant.keys.byName(tag)?.values.texts() ?? []) out.add(v);
    }
    return [...out].sort();
  }

  services(tenantName: string): string[] {
    const tenant = this.tenants.get(tenantName);
    if (tenant === undefined) return [];
    return [...tenant.services.keys()].filter((s) => s !== '').sort();
  }

  operations(tenantName: string, service: string): OperationInfo[] {
    const entry = this.tenants.get(tenantName)?.services.get(service);
    if (entry === undefined) return [];
    return entry.operations
      .pairs()
      .map((p) => ({ name: p.text, spanKind: p.a }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.spanKind - b.spanKind));
  }
}

function pendingHas(list: readonly number[], hi: number, lo: number): boolean {
  for (let i = 0; i < list.length; i += 3) if (list[i + 2] === lo && list[i + 1] === hi) return true;
  return false;
}

/** Slow path for arrays, key-value lists and bytes: decode and compare the rendered text. */
function renderedEquals(attributes: readonly KeyValue[], filter: Filter): boolean {
  const key = filter.key!.toString('utf8');
  for (const a of attributes) if (a.key === key && anyValueToString(a.value) === filter.value.text) return true;
  return false;
}
