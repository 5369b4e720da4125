// Test helper (not exported from index.ts): an in-memory QueryBackend holding real encoded spans
// (SpanGroups built with common/otlp's encoders), so the HTTP layer is tested against the same
// bytes a real head returns. Its search is a straightforward scan with the SearchRequest
// semantics of common/model; it also records the tenant of every call. Setting `partialReasons`
// makes findTrace and search answers partial, as a cluster querier's are when a member is missing.
import type {
  AnyValue,
  InstrumentationScope,
  KeyValue,
  OperationInfo,
  QueryBackend,
  Resource,
  SearchRequest,
  SearchResult,
  Span,
  SpanGroup,
  TraceResult,
  TraceSummary,
} from '../../common/model/index.js';
import { INTRINSIC_TAGS, SpanKind, StatusCode, bytesEqual, fromHex, toHex } from '../../common/model/index.js';
import { encodeResource, encodeScope, encodeSpan } from '../../common/otlp/index.js';

/** Builds a KeyValue from a JS value: bigint → int, number → double, boolean → bool. */
export function attr(key: string, value: string | boolean | bigint | number | AnyValue): KeyValue {
  if (typeof value === 'string') return { key, value: { kind: 'string', value } };
  if (typeof value === 'boolean') return { key, value: { kind: 'bool', value } };
  if (typeof value === 'bigint') return { key, value: { kind: 'int', value } };
  if (typeof value === 'number') return { key, value: { kind: 'double', value } };
  return { key, value };
}

export function traceIdHex(n: number): string {
  return n.toString(16).padStart(32, '0');
}

/** A span with sensible defaults; IDs given as hex. */
export function makeSpan(fields: Partial<Omit<Span, 'traceId' | 'spanId' | 'parentSpanId'>> & { traceId: string; spanId: string; parentSpanId?: string }): Span {
  const { traceId, spanId, parentSpanId, ...rest } = fields;
  return {
    traceState: '',
    flags: 1,
    name: 'op',
    kind: SpanKind.SERVER,
    startTimeUnixNano: 1_700_000_000_000_000_000n,
    endTimeUnixNano: 1_700_000_000_100_000_000n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: StatusCode.UNSET, message: '' },
    ...rest,
    traceId: fromHex(traceId, 16)!,
    spanId: fromHex(spanId, 8)!,
    parentSpanId: parentSpanId === undefined ? new Uint8Array(0) : fromHex(parentSpanId, 8)!,
  };
}

export function makeResource(service: string, ...extra: KeyValue[]): Resource {
  return { attributes: [attr('service.name', service), ...extra], droppedAttributesCount: 0 };
}

export function makeScope(name = 'test-lib', version = '1.0.0'): InstrumentationScope {
  return { name, version, attributes: [], droppedAttributesCount: 0 };
}

export interface StoredBatch {
  readonly tenant: string;
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  readonly spans: readonly Span[];
}

interface Stored {
  readonly tenant: string;
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  readonly span: Span;
  readonly group: { resource: Uint8Array; scope: Uint8Array; span: Uint8Array };
}

function render(v: AnyValue): string {
  switch (v.kind) {
    case 'string':
      return v.value;
    case 'bool':
    case 'int':
    case 'double':
      return String(v.value);
    default:
      return '';
  }
}

const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_NAMES = ['unset', 'ok', 'error'];

export class FakeBackend implements QueryBackend {
  readonly calls: { method: string; tenant: string }[] = [];
  readonly searches: SearchRequest[] = [];
  isReady = true;
  /** When set, findTrace (when found) and search answers carry `partial: { reasons }`. */
  partialReasons: string[] | undefined;
  private readonly stored: Stored[] = [];

  constructor(batches: readonly StoredBatch[] = []) {
    for (const b of batches) this.add(b);
  }

  add(batch: StoredBatch): void {
    const resource = encodeResource(batch.resource);
    const scope = encodeScope(batch.scope);
    for (const span of batch.spans) {
      this.stored.push({ ...batch, span, group: { resource, scope, span: encodeSpan(span) } });
    }
  }

  private of(tenant: string, method: string): Stored[] {
    this.calls.push({ method, tenant });
    return this.stored.filter((s) => s.tenant === tenant);
  }

  findTrace(tenant: string, traceId: Uint8Array): Promise<TraceResult | null> {
    const spans = this.of(tenant, 'findTrace').filter((s) => bytesEqual(s.span.traceId, traceId));
    if (spans.length === 0) return Promise.resolve(null);
    const groups: SpanGroup[] = spans.map((s) => ({
      resource: s.group.resource,
      resourceSchemaUrl: '',
      scope: s.group.scope,
      scopeSchemaUrl: '',
      spans: [s.group.span],
    }));
    return Promise.resolve(this.partialReasons === undefined ? { groups } : { groups, partial: { reasons: this.partialReasons } });
  }

  search(tenant: string, request: SearchRequest): Promise<SearchResult> {
    this.searches.push(request);
    const byTrace = new Map<string, Stored[]>();
    for (const s of this.of(tenant, 'search')) {
      const id = toHex(s.span.traceId);
      byTrace.set(id, [...(byTrace.get(id) ?? []), s]);
    }
    const summaries: TraceSummary[] = [];
    for (const [traceId, spans] of byTrace) {
      const start = spans.reduce((m, s) => (s.span.startTimeUnixNano < m ? s.span.startTimeUnixNano : m), spans[0].span.startTimeUnixNano);
      const end = spans.reduce((m, s) => (s.span.endTimeUnixNano > m ? s.span.endTimeUnixNano : m), spans[0].span.endTimeUnixNano);
      const duration = Number(end - start);
      if (request.minDurationNs !== undefined && duration < request.minDurationNs) continue;
      if (request.maxDurationNs !== undefined && duration > request.maxDurationNs) continue;
      if (request.startNs !== undefined && Number(end) < request.startNs) continue;
      if (request.endNs !== undefined && Number(start) > request.endNs) continue;
      const root = spans.find((s) => s.span.parentSpanId.length === 0) ?? spans[0];
      const rootService = render(root.resource.attributes.find((a) => a.key === 'service.name')?.value ?? { kind: 'empty' });
      const matches = spans.some((s) => {
        const d = Number(s.span.endTimeUnixNano - s.span.startTimeUnixNano);
        if (request.minSpanDurationNs !== undefined && d < request.minSpanDurationNs) return false;
        if (request.maxSpanDurationNs !== undefined && d > request.maxSpanDurationNs) return false;
        return request.tags.every((t) => this.valuesOf(s, t.key, root.span.name, rootService).includes(t.value));
      });
      if (!matches) continue;
      summaries.push({
        traceId,
        rootServiceName: rootService,
        rootTraceName: root.span.name,
        startTimeUnixNano: start.toString(),
        durationNanos: duration,
        spanCount: spans.length,
      });
    }
    summaries.sort((a, b) => (BigInt(b.startTimeUnixNano) > BigInt(a.startTimeUnixNano) ? 1 : BigInt(b.startTimeUnixNano) < BigInt(a.startTimeUnixNano) ? -1 : b.traceId.localeCompare(a.traceId)));
    const result: SearchResult = { traces: summaries.slice(0, request.limit), inspectedTraces: byTrace.size };
    return Promise.resolve(this.partialReasons === undefined ? result : { ...result, partial: { reasons: this.partialReasons } });
  }

  private valuesOf(s: Stored, key: string, rootName: string, rootService: string): string[] {
    switch (key) {
      case 'name':
        return [s.span.name];
      case 'status':
      case 'status.code':
        return [STATUS_NAMES[s.span.status.code] ?? 'unset'];
      case 'kind':
      case 'span.kind':
        return [KIND_NAMES[s.span.kind] ?? 'unspecified'];
      case 'root.name':
        return [rootName];
      case 'root.service.name':
        return [rootService];
      default:
        return [...s.span.attributes, ...s.resource.attributes].filter((a) => a.key === key).map((a) => render(a.value));
    }
  }

  tagNames(tenant: string): Promise<string[]> {
    const keys = new Set<string>(INTRINSIC_TAGS);
    for (const s of this.of(tenant, 'tagNames')) {
      for (const a of [...s.span.attributes, ...s.resource.attributes]) keys.add(a.key);
    }
    return Promise.resolve([...keys].sort());
  }

  tagValues(tenant: string, tag: string): Promise<string[]> {
    const values = new Set<string>();
    for (const s of this.of(tenant, 'tagValues')) for (const v of this.valuesOf(s, tag, '', '')) if (v !== '') values.add(v);
    return Promise.resolve([...values].sort());
  }

  services(tenant: string): Promise<string[]> {
    const names = new Set<string>();
    for (const s of this.of(tenant, 'services')) names.add(this.valuesOf(s, 'service.name', '', '')[0] ?? '');
    return Promise.resolve([...names].sort());
  }

  operations(tenant: string, service: string): Promise<OperationInfo[]> {
    const ops = new Map<string, OperationInfo>();
    for (const s of this.of(tenant, 'operations')) {
      if (this.valuesOf(s, 'service.name', '', '')[0] !== service) continue;
      ops.set(`${s.span.name}/${s.span.kind}`, { name: s.span.name, spanKind: s.span.kind });
    }
    return Promise.resolve([...ops.values()]);
  }

  ready(): boolean {
    return this.isReady;
  }
}

export const T1 = '0af7651916cd43dd8448eb211c80319c';
export const T2 = '4bf92f3577b34da6a3ce929d0e0e4736';
/** Short on purpose: reachable as /api/traces/abc (left-padded). Stored under tenant `team-a`. */
export const T3 = '00000000000000000000000000000abc';
export const BASE_NS = 1_700_000_000_000_000_000n;
const MS = 1_000_000n;

/**
 * A small world: trace T1 crosses frontend → api (with an error and an event), T2 is a later
 * single-span api trace, T3 belongs to another tenant.
 */
export function sampleBatches(): StoredBatch[] {
  const frontend = makeResource('frontend', attr('host.name', 'web-1'));
  const api = makeResource('api', attr('host.name', 'api-1'));
  return [
    {
      tenant: 'single-tenant',
      resource: frontend,
      scope: makeScope('http-lib', '1.0.0'),
      spans: [
        makeSpan({
          traceId: T1,
          spanId: '1000000000000001',
          name: 'GET /users',
          kind: SpanKind.SERVER,
          startTimeUnixNano: BASE_NS,
          endTimeUnixNano: BASE_NS + 250n * MS + 999_999n,
          attributes: [attr('http.method', 'GET'), attr('http.status_code', 500n)],
        }),
        makeSpan({
          traceId: T1,
          spanId: '1000000000000002',
          parentSpanId: '1000000000000001',
          name: 'call api',
          kind: SpanKind.CLIENT,
          startTimeUnixNano: BASE_NS + 10n * MS,
          endTimeUnixNano: BASE_NS + 200n * MS,
        }),
      ],
    },
    {
      tenant: 'single-tenant',
      resource: api,
      scope: makeScope('db-lib', '2.0.0'),
      spans: [
        makeSpan({
          traceId: T1,
          spanId: '1000000000000003',
          parentSpanId: '1000000000000002',
          name: 'list users',
          kind: SpanKind.SERVER,
          startTimeUnixNano: BASE_NS + 20n * MS,
          endTimeUnixNano: BASE_NS + 190n * MS,
          status: { code: StatusCode.ERROR, message: 'db down' },
          events: [{ timeUnixNano: BASE_NS + 30n * MS, name: 'exception', attributes: [attr('exception.message', 'timeout')], droppedAttributesCount: 0 }],
        }),
        makeSpan({
          traceId: T2,
          spanId: '2000000000000001',
          name: 'health',
          kind: SpanKind.SERVER,
          startTimeUnixNano: BASE_NS + 1000n * MS,
          endTimeUnixNano: BASE_NS + 1005n * MS,
        }),
      ],
    },
    {
      tenant: 'team-a',
      resource: makeResource('billing'),
      scope: makeScope(),
      spans: [makeSpan({ traceId: T3, spanId: '3000000000000001', name: 'charge', kind: SpanKind.INTERNAL })],
    },
  ];
}
