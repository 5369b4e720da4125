// Test-only fast-check generators for the OTLP model: every AnyValue kind (nested), events, links,
// unicode and long strings, full-range int64/fixed64/uint32 values.
import fc from 'fast-check';
import type {
  AnyValue,
  InstrumentationScope,
  KeyValue,
  Resource,
  ResourceSpans,
  ScopeSpans,
  Span,
  SpanEvent,
  SpanLink,
} from '../../model/index.js';

/** Short unicode (any code point, incl. astral), plain ASCII, and long strings (multi-byte lengths, >64 chars). */
export const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 60, maxLength: 200 }) },
);

const uint32 = fc.oneof(fc.constant(0), fc.nat({ max: 0xffffffff }));
const int32 = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: -0x80000000, max: 0x7fffffff }));
const int64 = fc.oneof(fc.bigInt({ min: -100n, max: 100n }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
const fixed64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 1_600_000_000_000_000_000n, max: 1_900_000_000_000_000_000n }),
  fc.constant(0n),
);
const bytes = fc.uint8Array({ maxLength: 20 });
const traceId = fc.oneof({ weight: 5, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }) }, { weight: 1, arbitrary: bytes });
const spanId = fc.oneof({ weight: 5, arbitrary: fc.uint8Array({ minLength: 8, maxLength: 8 }) }, { weight: 1, arbitrary: bytes });

const scalarValue: fc.Arbitrary<AnyValue> = fc.oneof(
  text.map((value): AnyValue => ({ kind: 'string', value })),
  fc.boolean().map((value): AnyValue => ({ kind: 'bool', value })),
  int64.map((value): AnyValue => ({ kind: 'int', value })),
  fc.double().map((value): AnyValue => ({ kind: 'double', value })),
  bytes.map((value): AnyValue => ({ kind: 'bytes', value })),
  fc.constant<AnyValue>({ kind: 'empty' }),
);

const attrKey = fc.oneof(fc.constantFrom('service.name', 'http.method', 'http.status_code', 'k'), text);

const { anyValue } = fc.letrec<{ anyValue: AnyValue; keyValue: KeyValue }>((tie) => ({
  anyValue: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'any' },
    { weight: 6, arbitrary: scalarValue },
    { weight: 1, arbitrary: fc.array(tie('anyValue'), { maxLength: 4 }).map((value): AnyValue => ({ kind: 'array', value })) },
    { weight: 1, arbitrary: fc.array(tie('keyValue'), { maxLength: 4 }).map((value): AnyValue => ({ kind: 'kvlist', value })) },
  ),
  keyValue: fc.record({ key: attrKey, value: tie('anyValue') }),
}));

export const keyValueArb: fc.Arbitrary<KeyValue> = fc.record({ key: attrKey, value: anyValue });
const attributes = fc.array(keyValueArb, { maxLength: 6 });

export const resourceArb: fc.Arbitrary<Resource> = fc.record({
  attributes: fc.oneof(
    attributes,
    fc.tuple(text, attributes).map(([name, rest]) => [{ key: 'service.name', value: { kind: 'string', value: name } as AnyValue }, ...rest]),
  ),
  droppedAttributesCount: uint32,
});

export const scopeArb: fc.Arbitrary<InstrumentationScope> = fc.record({
  name: text,
  version: text,
  attributes: fc.array(keyValueArb, { maxLength: 2 }),
  droppedAttributesCount: uint32,
});

const eventArb: fc.Arbitrary<SpanEvent> = fc.record({
  timeUnixNano: fixed64,
  name: text,
  attributes: fc.array(keyValueArb, { maxLength: 3 }),
  droppedAttributesCount: uint32,
});

const linkArb: fc.Arbitrary<SpanLink> = fc.record({
  traceId,
  spanId,
  traceState: text,
  attributes: fc.array(keyValueArb, { maxLength: 3 }),
  droppedAttributesCount: uint32,
  flags: uint32,
});

export const spanArb: fc.Arbitrary<Span> = fc.record({
  traceId,
  spanId,
  traceState: text,
  parentSpanId: fc.oneof(fc.constant(new Uint8Array(0)), spanId),
  flags: uint32,
  name: text,
  kind: int32,
  startTimeUnixNano: fixed64,
  endTimeUnixNano: fixed64,
  attributes,
  droppedAttributesCount: uint32,
  events: fc.array(eventArb, { maxLength: 3 }),
  droppedEventsCount: uint32,
  links: fc.array(linkArb, { maxLength: 2 }),
  droppedLinksCount: uint32,
  status: fc.record({ code: int32, message: text }),
});

const scopeSpansArb: fc.Arbitrary<ScopeSpans> = fc.record({
  scope: scopeArb,
  schemaUrl: text,
  spans: fc.array(spanArb, { maxLength: 4 }),
});

export const resourceSpansArb: fc.Arbitrary<ResourceSpans> = fc.record({
  resource: resourceArb,
  schemaUrl: text,
  scopeSpans: fc.array(scopeSpansArb, { maxLength: 3 }),
});

export const requestArb = fc.array(resourceSpansArb, { maxLength: 3 });
