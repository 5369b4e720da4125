// What a query backend answers. The querier's HTTP layer depends on this interface; heads of
// ingesters (and, later, block readers and the fan-out) implement it. Every call names its tenant:
// an implementation never answers across tenants.
import type { SpanGroup } from './span.js';

export const DEFAULT_TENANT = 'single-tenant';

export interface TagFilter {
  /** Attribute key, or one of the intrinsic keys listed in INTRINSIC_TAGS. */
  readonly key: string;
  /** Compared with the attribute's value rendered as a string (ints as decimal, bools as true/false). */
  readonly value: string;
}

/**
 * Intrinsic search keys accepted in `tags` besides attribute keys:
 * - `service.name` — resource service name of any span in the trace
 * - `name` — span name
 * - `status` / `status.code` — `error`, `ok` or `unset`
 * - `kind` / `span.kind` — `server`, `client`, `producer`, `consumer`, `internal`, `unspecified`
 * - `root.service.name`, `root.name` — of the trace's root span
 */
export const INTRINSIC_TAGS = ['service.name', 'name', 'status', 'status.code', 'kind', 'span.kind', 'root.service.name', 'root.name'] as const;

export interface SearchRequest {
  /**
   * A trace matches when ONE span satisfies every tag filter (the span's own attributes, its
   * resource's attributes and the intrinsics), as in Jaeger's and Tempo's tag search.
   */
  readonly tags: readonly TagFilter[];
  /** Trace duration bounds (earliest start to latest end), nanoseconds, inclusive (Tempo). */
  readonly minDurationNs?: number;
  readonly maxDurationNs?: number;
  /** Duration bounds of the matching span, nanoseconds, inclusive (Jaeger's minDuration/maxDuration). */
  readonly minSpanDurationNs?: number;
  readonly maxSpanDurationNs?: number;
  /** Trace must overlap [startNs, endNs] (unix ns). */
  readonly startNs?: number;
  readonly endNs?: number;
  /** Maximum traces returned, ≥ 1. */
  readonly limit: number;
}

export interface TraceSummary {
  /** 32 lowercase hex characters. */
  readonly traceId: string;
  readonly rootServiceName: string;
  readonly rootTraceName: string;
  /** Unix ns as a decimal string (exceeds 2^53). */
  readonly startTimeUnixNano: string;
  readonly durationNanos: number;
  readonly spanCount: number;
}

/**
 * Marks an answer built from fewer sources than it should have been (a cluster member did not
 * answer in time, a shard had no owner): what it holds is true, but something may be missing.
 * Absent = complete. The HTTP layer shows it to users (Jaeger `errors[]`, Tempo `X-Skein-Partial`).
 */
export interface PartialAnswer {
  /** One human-readable line per cause, e.g. `ingester 10.0.0.7:9095: no answer within 10000 ms`; never empty. */
  readonly reasons: readonly string[];
}

export interface SearchResult {
  /** Newest first (by start time, then trace ID descending for ties): deterministic. */
  readonly traces: readonly TraceSummary[];
  /** Number of candidate traces inspected (for metrics/inspection). */
  readonly inspectedTraces: number;
  /** Present when some source did not contribute (see PartialAnswer). */
  readonly partial?: PartialAnswer;  /**
   * From a source that answers from heads and cuts blocks (an ingester): the highest manifest
   * revision at which it committed a block whose spans it no longer answers from memory. Whoever
   * merges this answer with blocks must read them from a manifest view at least this new, or spans
   * that just moved from a head into a block would be missed.
   */
  readonly flushedRevision?: number;
}

export interface TraceResult {
  /** Spans grouped by resource/scope, deduplicated by (traceId, spanId). */
  readonly groups: readonly SpanGroup[];
  /** Present when some source did not contribute: spans of the trace may be missing. */
  readonly partial?: PartialAnswer;  /**
   * From a source that answers from heads and cuts blocks (an ingester): the highest manifest
   * revision at which it committed a block whose spans it no longer answers from memory. Whoever
   * merges this answer with blocks must read them from a manifest view at least this new, or spans
   * that just moved from a head into a block would be missed.
   */
  readonly flushedRevision?: number;
}

export interface OperationInfo {
  readonly name: string;
  /** OTLP SpanKind number. */
  readonly spanKind: number;
}

export interface QueryBackend {
  /**
   * The trace's spans, or null when it does not exist. A backend that found nothing but could
   * not ask every source (the answer would be partial) rejects with UNAVAILABLE instead: "not
   * found" would claim more than it knows.
   */
  findTrace(tenant: string, traceId: Uint8Array): Promise<TraceResult | null>;
  search(tenant: string, request: SearchRequest): Promise<SearchResult>;
  /** Attribute keys seen (span and resource), plus intrinsic keys. Sorted. */
  tagNames(tenant: string): Promise<string[]>;
  /** Distinct values of a tag (bounded per tag). Sorted. */
  tagValues(tenant: string, tag: string): Promise<string[]>;
  services(tenant: string): Promise<string[]>;
  operations(tenant: string, service: string): Promise<OperationInfo[]>;
  /** True once the backend can answer queries (replay done). */
  ready(): boolean;
}
