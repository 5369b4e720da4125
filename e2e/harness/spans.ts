// Builds OTLP requests from the model for tests: random IDs, realistic attribute sets.
import { randomBytes } from 'node:crypto';
import type { AnyValue, KeyValue, ResourceSpans, Span } from '../../common/model/index.js';

export const str = (key: string, value: string): KeyValue => ({ key, value: { kind: 'string', value } });
export const int = (key: string, value: number): KeyValue => ({ key, value: { kind: 'int', value: BigInt(value) } });
export const val = (key: string, value: AnyValue): KeyValue => ({ key, value });

export function makeSpan(p: {
  traceId: Uint8Array;
  spanId?: Uint8Array;
  parentSpanId?: Uint8Array;
  name?: string;
  kind?: number;
  startNs?: bigint;
  durationNs?: bigint;
  attributes?: KeyValue[];
  statusCode?: number;
}): Span {
  const start = p.startNs ?? BigInt(Date.now()) * 1_000_000n;
  return {
    traceId: p.traceId,
    spanId: p.spanId ?? randomBytes(8),
    traceState: '',
    parentSpanId: p.parentSpanId ?? new Uint8Array(0),
    flags: 1,
    name: p.name ?? 'op',
    kind: p.kind ?? 2,
    startTimeUnixNano: start,
    endTimeUnixNano: start + (p.durationNs ?? 1_000_000n),
    attributes: p.attributes ?? [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: p.statusCode ?? 0, message: '' },
  };
}

export function makeRequest(service: string, spans: Span[]): ResourceSpans[] {
  return [
    {
      resource: { attributes: [str('service.name', service), str('host.name', 'e2e-host')], droppedAttributesCount: 0 },
      schemaUrl: '',
      scopeSpans: [{ scope: { name: 'e2e', version: '1', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }],
    },
  ];
}

/** A batch of `traces` traces with `spansPerTrace` spans each and ~10 attributes per span. */
export function makeBatch(traces: number, spansPerTrace: number): { request: ResourceSpans[]; spans: Span[] } {
  const spans: Span[] = [];
  for (let t = 0; t < traces; t++) {
    const traceId = randomBytes(16);
    const root = makeSpan({ traceId, name: 'GET /api/items', attributes: attrs(0) });
    spans.push(root);
    for (let s = 1; s < spansPerTrace; s++) spans.push(makeSpan({ traceId, parentSpanId: root.spanId, name: `db.query ${s % 4}`, kind: 3, attributes: attrs(s) }));
  }
  return { request: makeRequest('loadgen', spans), spans };
}

function attrs(i: number): KeyValue[] {
  return [
    str('http.request.method', 'GET'),
    str('http.route', '/api/items/{id}'),
    int('http.response.status_code', i % 7 === 0 ? 500 : 200),
    str('url.path', `/api/items/${i}`),
    str('server.address', 'items.internal'),
    int('server.port', 8080),
    str('db.system', 'postgresql'),
    str('db.statement', 'SELECT * FROM items WHERE id = $1'),
    val('retry', { kind: 'bool', value: i % 3 === 0 }),
    val('latency.budget', { kind: 'double', value: 0.25 }),
  ];
}
