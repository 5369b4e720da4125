// Merges answers of several sources. Order independence matters because members answer in any
// order: a merge that kept "whichever came first" would show a user different bytes for the same
// data on every refresh. So every choice below is a total order over the candidates, never
// arrival order.
import type { OperationInfo, PartialAnswer, SearchResult, SpanGroup, TraceResult, TraceSummary } from '../../common/model/index.js';
import { createSpanFields, readSpanFields } from '../../common/otlp/index.js';

/**
 * rootTraceName of a trace whose root span has not arrived; the same text heads use (and Tempo
 * shows), kept equal to ingester/head's constant.
 */
export const ROOT_SPAN_NOT_YET_RECEIVED = '<root span not yet received>';

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Candidate {
  /** Resource, scope and schema URLs: groups with equal identity are one group. */
  readonly identity: string;
  readonly group: SpanGroup;
  readonly span: Uint8Array;
  /** Exact start (fixed64 halves) and span ID, for reading order; zeros when unreadable. */
  readonly startHi: number;
  readonly startLo: number;
  readonly spanId: string;
}

function groupIdentity(group: SpanGroup): string {
  const resource = latin1(group.resource);
  const scope = latin1(group.scope);
  // Length prefixes keep concatenations of different fields from colliding.
  return `${resource.length}:${group.resourceSchemaUrl.length}:${scope.length}:${group.scopeSchemaUrl.length}:${resource}${group.resourceSchemaUrl}${scope}${group.scopeSchemaUrl}`;
}

/** Which of two stored copies of one span identity is kept: the smaller encoding, then the smaller group identity. */
function preferred(a: Candidate, b: Candidate): Candidate {
  const bySpan = compareBytes(a.span, b.span);
  if (bySpan !== 0) return bySpan < 0 ? a : b;
  return compareStrings(a.identity, b.identity) <= 0 ? a : b;
}

/** Reading order inside a group: start time, then span ID, then bytes (for spans without readable fields). */
function compareCandidates(a: Candidate, b: Candidate): number {
  return a.startHi - b.startHi || a.startLo - b.startLo || compareStrings(a.spanId, b.spanId) || compareBytes(a.span, b.span);
}

/**
 * Union of span groups with (trace ID, span ID) deduplication. When two copies of one identity
 * differ (DESIGN.md §3 makes the first *stored* copy authoritative, but across members which one
 * was first is unknowable), the smaller encoding wins, so the answer does not depend on which
 * member answered first. Groups with equal resource, scope and schema URLs are merged; groups come
 * out ordered by that identity and spans by start time, then span ID. Spans whose IDs cannot be
 * read are kept as they are (nothing to dedup them by).
 */
export function mergeTraceGroups(parts: readonly (readonly SpanGroup[])[]): SpanGroup[] {
  const fields = createSpanFields();
  const byId = new Map<string, Candidate>();
  const unkeyed: Candidate[] = [];
  for (const groups of parts) {
    for (const group of groups) {
      const identity = groupIdentity(group);
      for (const span of group.spans) {
        if (readSpanFields(span, fields) && fields.traceIdLength > 0 && fields.spanIdLength > 0) {
          const spanId = latin1(span.subarray(fields.spanIdOffset, fields.spanIdOffset + fields.spanIdLength));
          const candidate: Candidate = { identity, group, span, startHi: fields.startHi, startLo: fields.startLo, spanId };
          const id = latin1(span.subarray(fields.traceIdOffset, fields.traceIdOffset + fields.traceIdLength)) + ':' + spanId;
          const existing = byId.get(id);
          byId.set(id, existing === undefined ? candidate : preferred(existing, candidate));
        } else {
          unkeyed.push({ identity, group, span, startHi: 0, startLo: 0, spanId: '' });
        }
      }
    }
  }
  const byGroup = new Map<string, { group: SpanGroup; spans: Candidate[] }>();
  for (const candidate of [...byId.values(), ...unkeyed]) {
    let target = byGroup.get(candidate.identity);
    if (target === undefined) {
      target = { group: candidate.group, spans: [] };
      byGroup.set(candidate.identity, target);
    }
    target.spans.push(candidate);
  }
  return [...byGroup.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([, { group, spans }]) => ({ ...group, spans: spans.sort(compareCandidates).map((c) => c.span) }));
}

/** Compares non-negative decimal integer strings without leading zeros. */
function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return compareStrings(a, b);
}

/** Newest first; equal starts by trace ID descending (the order every search answer uses). */
function compareSummaries(a: TraceSummary, b: TraceSummary): number {
  return compareDecimal(b.startTimeUnixNano, a.startTimeUnixNano) || compareStrings(b.traceId, a.traceId);
}

/** Which part names the trace's root: one that has seen the root span, then the earliest start, then the smaller names. */
function rootOrder(a: TraceSummary, b: TraceSummary): number {
  const aStandIn = a.rootTraceName === ROOT_SPAN_NOT_YET_RECEIVED ? 1 : 0;
  const bStandIn = b.rootTraceName === ROOT_SPAN_NOT_YET_RECEIVED ? 1 : 0;
  return (
    aStandIn - bStandIn ||
    compareDecimal(a.startTimeUnixNano, b.startTimeUnixNano) ||
    compareStrings(a.rootServiceName, b.rootServiceName) ||
    compareStrings(a.rootTraceName, b.rootTraceName)
  );
}

/**
 * Summaries of one trace from several sources (a trace can sit in two shards across a shard-map
 * change, or on a member still draining): earliest start, latest end, spans added up (a span held
 * twice is counted twice — a summary is an estimate), the root chosen by `rootOrder` over the
 * parts themselves (not pairwise, which would make the choice depend on grouping).
 */
export function combineSummaries(parts: readonly TraceSummary[]): TraceSummary {
  if (parts.length === 0) throw new RangeError('combineSummaries needs at least one summary');
  if (parts.length === 1) return parts[0]!;
  let start: bigint | undefined;
  let end: bigint | undefined;
  let root = parts[0]!;
  let spanCount = 0;
  for (const p of parts) {
    const s = BigInt(p.startTimeUnixNano);
    const e = s + BigInt(p.durationNanos);
    if (start === undefined || s < start) start = s;
    if (end === undefined || e > end) end = e;
    if (rootOrder(p, root) < 0) root = p;
    spanCount += p.spanCount;
  }
  return {
    traceId: root.traceId,
    rootServiceName: root.rootServiceName,
    rootTraceName: root.rootTraceName,
    startTimeUnixNano: start!.toString(),
    durationNanos: Number(end! - start!),
    spanCount,
  };
}

/** Merges top-k lists into the overall top `limit` (≥ 1; all when not finite), newest first, deterministic. */
export function mergeSearchSummaries(parts: readonly (readonly TraceSummary[])[], limit: number): TraceSummary[] {
  const byId = new Map<string, TraceSummary[]>();
  for (const list of parts) {
    for (const s of list) {
      const same = byId.get(s.traceId);
      if (same === undefined) byId.set(s.traceId, [s]);
      else same.push(s);
    }
  }
  const all = [...byId.values()].map(combineSummaries).sort(compareSummaries);
  return Number.isFinite(limit) ? all.slice(0, Math.max(1, Math.floor(limit))) : all;
}

/** Sorted union of string lists. */
export function mergeSortedUnique(lists: readonly (readonly string[])[]): string[] {
  const set = new Set<string>();
  for (const list of lists) for (const s of list) set.add(s);
  return [...set].sort();
}

/** Union of operation lists, sorted by name then span kind. */
export function mergeOperations(lists: readonly (readonly OperationInfo[])[]): OperationInfo[] {
  const byKey = new Map<string, OperationInfo>();
  for (const list of lists) for (const op of list) byKey.set(`${op.spanKind}:${op.name}`, { name: op.name, spanKind: op.spanKind });
  return [...byKey.values()].sort((a, b) => compareStrings(a.name, b.name) || a.spanKind - b.spanKind);
}

/** Union of partial-answer reasons (sorted, distinct); undefined when there are none (a complete answer). */
export function mergePartial(...sources: readonly (PartialAnswer | readonly string[] | undefined)[]): PartialAnswer | undefined {
  const reasons = new Set<string>();
  for (const source of sources) {
    if (source === undefined) continue;
    const list = 'reasons' in source ? source.reasons : source;
    for (const r of list) reasons.add(r);
  }
  return reasons.size === 0 ? undefined : { reasons: [...reasons].sort() };
}

/**
 * One trace from several sources' answers (null = that source does not hold it). Null when no
 * source holds it; otherwise the merged groups, partial when a source said so or `reasons` is
 * non-empty (causes the caller knows of, such as members that did not answer).
 */
export function combineTraceResults(parts: readonly (TraceResult | null)[], reasons: readonly string[] = []): TraceResult | null {
  const found = parts.filter((p): p is TraceResult => p !== null);
  if (found.length === 0) return null;
  const partial = mergePartial(reasons, ...found.map((p) => p.partial));
  const flushedRevision = maxFlushed(found);
  const groups = mergeTraceGroups(found.map((p) => p.groups));
  // No spans anywhere: still an answer when it carries a flushed revision (the reader of blocks needs it).
  if (groups.length === 0 && flushedRevision === undefined) return null;
  return { groups, ...(partial === undefined ? {} : { partial }), ...(flushedRevision === undefined ? {} : { flushedRevision }) };
}

/** The highest flushedRevision of the parts, if any has one. */
export function maxFlushed(parts: readonly { readonly flushedRevision?: number }[]): number | undefined {
  let max: number | undefined;
  for (const p of parts) if (p.flushedRevision !== undefined && (max === undefined || p.flushedRevision > max)) max = p.flushedRevision;
  return max;
}

/** Several sources' search answers as one: merged top `limit`, inspected counts added, partial as for combineTraceResults. */
export function combineSearchResults(parts: readonly SearchResult[], limit: number, reasons: readonly string[] = []): SearchResult {
  const partial = mergePartial(reasons, ...parts.map((p) => p.partial));
  const traces = mergeSearchSummaries(
    parts.map((p) => p.traces),
    limit,
  );
  const inspectedTraces = parts.reduce((n, p) => n + p.inspectedTraces, 0);
  const flushedRevision = maxFlushed(parts);
  return { traces, inspectedTraces, ...(partial === undefined ? {} : { partial }), ...(flushedRevision === undefined ? {} : { flushedRevision }) };
}
