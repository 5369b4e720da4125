// Span builders for tests and benchmarks (head, shard set, blocks): model values in, encoded SpanGroups out.
import type { AnyValue, KeyValue, Span, SpanBatch, SpanGroup } from '../../../common/model/index.js';
import { encodeResource, encodeScope, encodeSpan } from '../../../common/otlp/index.js';

/** bigint → int, number → double, string, boolean, Uint8Array → bytes, arrays → array values. */
export type AttrInput = string | number | bigint | boolean | Uint8Array | null | readonly AttrInput[];

export function toAnyValue(v: AttrInput): AnyValue {
  if (v === null) return { kind: 'empty' };
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (typeof v === 'bigint') return { kind: 'int', value: v };
  if (typeof v === 'number') return { kind: 'double', value: v };
  if (typeof v === 'boolean') return { kind: 'bool', value: v };
  if (v instanceof Uint8Array) return { kind: 'bytes', value: v };
  return { kind: 'array', value: (v as readonly AttrInput[]).map(toAnyValue) };
}

export function attrs(record: Record<string, AttrInput>): KeyValue[] {
  return Object.entries(record).map(([key, value]) => ({ key, value: toAnyValue(value) }));
}

/** A 16-byte trace ID whose last bytes hold `n` (big-endian), first byte `prefix`. */
export function traceId(n: number, prefix = 0xab): Uint8Array {
  const id = new Uint8Array(16);
  id[0] = prefix;
  new DataView(id.buffer).setUint32(12, n >>> 0);
  new DataView(id.buffer).setUint32(8, Math.floor(n / 4294967296));
  return id;
}

export function spanId(n: number): Uint8Array {
  const id = new Uint8Array(8);
  id[0] = 0x5a;
  new DataView(id.buffer).setUint32(4, n >>> 0);
  return id;
}

export interface SpanInput {
  trace: Uint8Array;
  id: Uint8Array;
  parent?: Uint8Array;
  name?: string;
  kind?: number;
  start?: bigint;
  end?: bigint;
  status?: number;
  attributes?: Record<string, AttrInput>;
}

export function span(s: SpanInput): Span {
  return {
    traceId: s.trace,
    spanId: s.id,
    traceState: '',
    parentSpanId: s.parent ?? new Uint8Array(0),
    flags: 0,
    name: s.name ?? 'op',
    kind: s.kind ?? 2,
    startTimeUnixNano: s.start ?? 1_700_000_000_000_000_000n,
    endTimeUnixNano: s.end ?? (s.start ?? 1_700_000_000_000_000_000n) + 1_000_000n,
    attributes: attrs(s.attributes ?? {}),
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: s.status ?? 0, message: '' },
  };
}

export function group(service: string | undefined, spans: readonly Span[], resourceAttrs: Record<string, AttrInput> = {}): SpanGroup {
  const all = service === undefined ? attrs(resourceAttrs) : [...attrs({ 'service.name': service }), ...attrs(resourceAttrs)];
  return {
    resource: encodeResource({ attributes: all, droppedAttributesCount: 0 }),
    resourceSchemaUrl: '',
    scope: encodeScope({ name: 'test-scope', version: '1.0', attributes: [], droppedAttributesCount: 0 }),
    scopeSchemaUrl: '',
    spans: spans.map(encodeSpan),
  };
}

export function batch(tenant: string, ...groups: SpanGroup[]): SpanBatch {
  return { tenant, groups };
}
