// Tempo response shapes and the small mappings between Tempo's vocabulary and the backend's.
// Shapes follow Tempo's HTTP API (tempopb JSON as Tempo serves it); pure.
import type { SearchResult } from '../../common/model/index.js';
import { INTRINSIC_TAGS } from '../../common/model/index.js';

export interface TempoTraceSearchMetadata {
  readonly traceID: string;
  readonly rootServiceName: string;
  readonly rootTraceName: string;
  /** Unix ns as a decimal string (uint64 in tempopb, a string in its JSON). */
  readonly startTimeUnixNano: string;
  /** Whole milliseconds, truncated as Tempo does. */
  readonly durationMs: number;
}

export interface TempoSearchResponse {
  readonly traces: TempoTraceSearchMetadata[];
  /**
   * tempopb.SearchMetrics. Tempo's JSON omits zero fields, so clients (Grafana among them) treat
   * every field as optional; we send only what the backend measures. Bytes, blocks and jobs are
   * not known at this layer, and sending made-up values would mislead whoever reads them.
   * `partial: true` (ours, not Tempo's) marks an answer some member or shard did not contribute
   * to; the reasons are in the X-Skein-Partial header. Absent on complete answers.
   */
  readonly metrics: { readonly inspectedTraces: number; readonly partial?: true };
}

export function toTempoSearchResponse(result: SearchResult): TempoSearchResponse {
  return {
    traces: result.traces.map((t) => ({
      traceID: t.traceId,
      rootServiceName: t.rootServiceName,
      rootTraceName: t.rootTraceName,
      startTimeUnixNano: t.startTimeUnixNano,
      durationMs: Math.floor(t.durationNanos / 1_000_000),
    })),
    metrics: result.partial === undefined ? { inspectedTraces: result.inspectedTraces } : { inspectedTraces: result.inspectedTraces, partial: true },
  };
}

export type TagScope = 'resource' | 'span' | 'intrinsic';

const INTRINSIC_SET: ReadonlySet<string> = new Set(INTRINSIC_TAGS);

/**
 * Attribute-key namespaces that OpenTelemetry semantic conventions define as resource attributes.
 * The backend reports keys without saying where it saw them, so the scope shown to Grafana is a
 * guess from the key's namespace; search matches a key in either place (see SearchRequest), so a
 * wrong guess only changes where the key is listed, not what a query finds.
 */
const RESOURCE_PREFIXES = [
  'service.',
  'telemetry.',
  'host.',
  'os.',
  'process.',
  'container.',
  'k8s.',
  'cloud.',
  'deployment.',
  'device.',
  'browser.',
  'webengine.',
  'faas.instance',
  'faas.max_memory',
  'faas.version',
  'aws.ecs.',
  'aws.eks.',
  'aws.log.',
  'gcp.cloud_run.',
  'gcp.gce.',
  'heroku.',
  'oci.',
  'otel.scope.',
];

/** Scope of a key from the backend's tagNames(): intrinsic keys (usable in tags=) or a guessed attribute scope. */
export function classifyTag(key: string): TagScope {
  if (key === 'service.name') return 'resource';
  if (INTRINSIC_SET.has(key)) return 'intrinsic';
  return RESOURCE_PREFIXES.some((p) => key.startsWith(p)) ? 'resource' : 'span';
}

/**
 * TraceQL intrinsics listed by /api/v2/search/tags, with the backend tag that answers their
 * values. Only intrinsics the backend can answer values for (or that take no values) are listed.
 */
const TRACEQL_INTRINSICS: Readonly<Record<string, string | null>> = {
  duration: null,
  kind: 'kind',
  name: 'name',
  rootName: 'root.name',
  rootServiceName: 'root.service.name',
  status: 'status',
};

/** Intrinsics whose values Tempo types as `keyword` (enums) rather than `string`. */
const KEYWORD_INTRINSICS: ReadonlySet<string> = new Set(['kind', 'status']);

export interface ScopedTags {
  readonly scopes: { readonly name: TagScope; readonly tags: string[] }[];
}

/** Builds /api/v2/search/tags from the backend's tag names, optionally for one scope. */
export function toScopedTags(names: readonly string[], scope: TagScope | 'all'): ScopedTags {
  const resource: string[] = [];
  const span: string[] = [];
  for (const key of names) {
    const s = classifyTag(key);
    if (s === 'resource') resource.push(key);
    else if (s === 'span') span.push(key);
  }
  const all: { name: TagScope; tags: string[] }[] = [
    { name: 'resource', tags: [...new Set(resource)].sort() },
    { name: 'span', tags: [...new Set(span)].sort() },
    { name: 'intrinsic', tags: Object.keys(TRACEQL_INTRINSICS).sort() },
  ];
  return { scopes: scope === 'all' ? all : all.filter((s) => s.name === scope) };
}

/** Filters the backend's tag names for /api/search/tags?scope=…; no scope → attribute and intrinsic keys alike. */
export function filterTagNames(names: readonly string[], scope: TagScope | 'all'): string[] {
  return scope === 'all' ? [...names] : names.filter((k) => classifyTag(k) === scope);
}

export interface TagLookup {
  /** Backend tag to ask for values, or null when the identifier has no enumerable values. */
  readonly tag: string | null;
  readonly type: 'string' | 'keyword';
}

/**
 * Maps a TraceQL attribute identifier as Grafana sends it to /api/v2/search/tag/{tag}/values
 * (`resource.service.name`, `span.http.method`, `.foo`, `name`, `status`, `span:status`,
 * `trace:rootService`) to the backend tag whose values answer it.
 */
export function traceqlTagLookup(identifier: string): TagLookup {
  const intrinsicAliases: Record<string, string> = {
    'span:name': 'name',
    'span:kind': 'kind',
    'span:status': 'status',
    'span:duration': 'duration',
    'trace:rootName': 'rootName',
    'trace:rootService': 'rootServiceName',
    'trace:duration': 'duration',
  };
  const intrinsic = intrinsicAliases[identifier] ?? identifier;
  if (intrinsic in TRACEQL_INTRINSICS) {
    return { tag: TRACEQL_INTRINSICS[intrinsic] ?? null, type: KEYWORD_INTRINSICS.has(intrinsic) ? 'keyword' : 'string' };
  }
  for (const prefix of ['resource.', 'span.', '.']) {
    if (identifier.startsWith(prefix) && identifier.length > prefix.length) {
      return { tag: identifier.slice(prefix.length), type: 'string' };
    }
  }
  return { tag: identifier, type: 'string' };
}

export function parseTagScope(raw: string | undefined): TagScope | 'all' | undefined {
  if (raw === undefined || raw === 'all') return 'all';
  if (raw === 'resource' || raw === 'span' || raw === 'intrinsic') return raw;
  return undefined;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** tempopb.PartialStatus.PARTIAL. */
const PARTIAL_STATUS = 1;

/**
 * Wraps encoded TracesData in tempopb.TraceByIDResponse (`Trace trace = 1; TraceByIDMetrics
 * metrics = 2; PartialStatus status = 3; string message = 4`): the /api/v2/traces protobuf body
 * Grafana decodes. tempopb.Trace and OTLP TracesData are the same on the wire (field 1, repeated
 * ResourceSpans), so only the outer tag and length are added. With `partialMessage`, status is
 * PARTIAL and the message says why; without, both are left out (COMPLETE is proto3's default).
 */
export function wrapTraceByIdResponse(tracesData: Uint8Array, partialMessage?: string): Uint8Array {
  const len = varint(tracesData.length);
  const message = partialMessage === undefined ? undefined : Buffer.from(partialMessage, 'utf8');
  const tail = message === undefined ? [] : [(3 << 3) | 0, PARTIAL_STATUS, (4 << 3) | 2, ...varint(message.length)];
  const out = new Uint8Array(1 + len.length + tracesData.length + tail.length + (message?.length ?? 0));
  out[0] = 0x0a; // field 1, wire type 2 (length-delimited)
  out.set(len, 1);
  out.set(tracesData, 1 + len.length);
  if (message !== undefined) {
    out.set(tail, 1 + len.length + tracesData.length);
    out.set(message, 1 + len.length + tracesData.length + tail.length);
  }
  return out;
}
