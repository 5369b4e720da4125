// Test-only builders: spans and SpanGroups as the receivers will hand them to the agent's core
// (encoded bytes), from short descriptions.
import { encodeResource, encodeScope, encodeSpan } from '../../common/otlp/index.js';
import { SpanKind, type AnyValue, type KeyValue, type Span, type SpanGroup } from '../../common/model/index.js';

export function str(value: string): AnyValue {
  return { kind: 'string', value };
}

export function kv(key: string, value: AnyValue | string): KeyValue {
  return { key, value: typeof value === 'string' ? str(value) : value };
}

export { traceIdWithRandomness } from '../../common/sampling/testing/index.js';

export function traceIdFromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.padStart(32, '0'), 'hex'));
}

let spanCounter = 0;

export function makeSpan(overrides: Partial<Span> = {}): Span {
  spanCounter++;
  const spanId = new Uint8Array(8);
  new DataView(spanId.buffer).setUint32(4, spanCounter);
  spanId[0] = 1;
  return {
    traceId: traceIdFromHex('0af7651916cd43dd8448eb211c80319c'),
    spanId,
    traceState: '',
    parentSpanId: new Uint8Array(0),
    flags: 1,
    name: 'GET /',
    kind: SpanKind.SERVER,
    startTimeUnixNano: 1_700_000_000_000_000_000n,
    endTimeUnixNano: 1_700_000_000_100_000_000n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: 0, message: '' },
    ...overrides,
  };
}

/** A child span (has a parent, kind INTERNAL) of the given trace. */
export function childSpan(traceId: Uint8Array, overrides: Partial<Span> = {}): Span {
  return makeSpan({ traceId, parentSpanId: Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9), kind: SpanKind.INTERNAL, name: 'child', ...overrides });
}

export function groupOf(service: string | undefined, spans: readonly Span[], resourceAttributes: readonly KeyValue[] = []): SpanGroup {
  const attributes = service === undefined ? [...resourceAttributes] : [kv('service.name', service), ...resourceAttributes];
  return {
    resource: encodeResource({ attributes, droppedAttributesCount: 0 }),
    resourceSchemaUrl: '',
    scope: encodeScope({ name: 'test', version: '1', attributes: [], droppedAttributesCount: 0 }),
    scopeSchemaUrl: '',
    spans: spans.map(encodeSpan),
  };
}

export function spanCount(groups: readonly SpanGroup[]): number {
  let n = 0;
  for (const g of groups) n += g.spans.length;
  return n;
}
