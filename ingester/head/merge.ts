// Pure merging of partial query answers: the same trace from several shard heads (a trace can sit
// in two shards across a shard-map change), per-shard top-k search lists, tag and service lists.
// Kept free of head internals so it can move to querier/combine, which merges heads and blocks.
import type { OperationInfo, SpanGroup, TraceSummary } from '../../common/model/index.js';
import { createSpanFields, readSpanFields } from '../../common/otlp/index.js';

/** rootTraceName of a trace whose root span has not arrived (Tempo shows the same text). */
export const ROOT_SPAN_NOT_YET_RECEIVED = '<root span not yet received>';

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/**
 * Union of span groups with (trace ID, span ID) deduplication, first occurrence winning. Groups with
 * the same resource, scope and schema URLs are merged; order is first appearance. Spans whose IDs
 * cannot be read are kept as they are (nothing to dedup them by).
 */
export function mergeTraceGroups(parts: readonly (readonly SpanGroup[])[]): SpanGroup[] {
  if (parts.length === 1) return [...parts[0]!];
  const fields = createSpanFields();
  const seen = new Set<string>();
  const byIdentity = new Map<string, { group: SpanGroup; spans: Uint8Array[] }>();
  for (const groups of parts) {
    for (const group of groups) {
      const resource = latin1(group.resource);
      const scope = latin1(group.scope);
      const identity = `${resource.length}:${group.resourceSchemaUrl.length}:${scope.length}:${resource}${group.resourceSchemaUrl}${scope}${group.scopeSchemaUrl}`;
      let target = byIdentity.get(identity);
      if (target === undefined) {
        target = { group, spans: [] };
        byIdentity.set(identity, target);
      }
      for (const span of group.spans) {
        if (readSpanFields(span, fields) && fields.traceIdLength > 0 && fields.spanIdLength > 0) {
          const id = latin1(span.subarray(fields.traceIdOffset, fields.traceIdOffset + fields.traceIdLength)) + ':' + latin1(span.subarray(fields.spanIdOffset, fields.spanIdOffset + fields.spanIdLength));
          if (seen.has(id)) continue;
          seen.add(id);
        }
        target.spans.push(span);
      }
    }
  }
  const out: SpanGroup[] = [];
  for (const { group, spans } of byIdentity.values()) {
    if (spans.length > 0) out.push({ ...group, spans });
  }
  return out;
}

/** Compares non-negative decimal integer strings without leading zeros. */
function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Newest first; equal starts by trace ID descending (the order every search answer uses). */
function compareSummaries(a: TraceSummary, b: TraceSummary): number {
  const byStart = compareDecimal(b.startTimeUnixNano, a.startTimeUnixNano);
  if (byStart !== 0) return byStart;
  return a.traceId < b.traceId ? 1 : a.traceId > b.traceId ? -1 : 0;
}

/**
 * Two summaries of one trace (parts held by different shards): earliest start, latest end, spans
 * added up (a span stored in both shards is counted twice — a summary is an estimate), the root
 * from whichever part has it.
 */
export function combineSummaries(a: TraceSummary, b: TraceSummary): TraceSummary {
  const aStart = BigInt(a.startTimeUnixNano);
  const bStart = BigInt(b.startTimeUnixNano);
  const start = aStart < bStart ? aStart : bStart;
  const aEnd = aStart + BigInt(a.durationNanos);
  const bEnd = bStart + BigInt(b.durationNanos);
  const end = aEnd > bEnd ? aEnd : bEnd;
  const aHasRoot = a.rootTraceName !== ROOT_SPAN_NOT_YET_RECEIVED;
  const bHasRoot = b.rootTraceName !== ROOT_SPAN_NOT_YET_RECEIVED;
  // Prefer a real root; between two stand-ins (or two roots), the part that starts first.
  const root = aHasRoot !== bHasRoot ? (aHasRoot ? a : b) : aStart <= bStart ? a : b;
  return {
    traceId: a.traceId,
    rootServiceName: root.rootServiceName,
    rootTraceName: root.rootTraceName,
    startTimeUnixNano: start.toString(),
    durationNanos: Number(end - start),
    spanCount: a.spanCount + b.spanCount,
  };
}

/** Merges per-shard top-k lists into the overall top `limit`, newest first, deterministic. */
export function mergeSearchResults(parts: readonly (readonly TraceSummary[])[], limit: number): TraceSummary[] {
  const byId = new Map<string, TraceSummary>();
  for (const list of parts) {
    for (const s of list) {
      const prev = byId.get(s.traceId);
      byId.set(s.traceId, prev === undefined ? s : combineSummaries(prev, s));
    }
  }
  const all = [...byId.values()].sort(compareSummaries);
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
  for (const list of lists) for (const op of list) byKey.set(`${op.spanKind}:${op.name}`, op);
  return [...byKey.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.spanKind - b.spanKind));
}
