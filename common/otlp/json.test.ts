import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SkeinError } from '../errors/index.js';
import type { AnyValue, KeyValue, ResourceSpans, Span } from '../model/index.js';
import { anyValueToString, fromOtlpJson, toOtlpJson } from './index.js';
import { requestArb } from './testing/arbitraries.js';

/** JSON numbers cannot carry -0 (JSON.stringify writes 0): the one loss OTLP/JSON round trips have. */
function withoutNegativeZero(rs: ResourceSpans[]): ResourceSpans[] {
  const fixValue = (v: AnyValue): AnyValue => {
    if (v.kind === 'double' && Object.is(v.value, -0)) return { kind: 'double', value: 0 };
    if (v.kind === 'array') return { kind: 'array', value: v.value.map(fixValue) };
    if (v.kind === 'kvlist') return { kind: 'kvlist', value: v.value.map(fixKv) };
    return v;
  };
  const fixKv = (kv: KeyValue): KeyValue => ({ key: kv.key, value: fixValue(kv.value) });
  const fixSpan = (s: Span): Span => ({
    ...s,
    attributes: s.attributes.map(fixKv),
    events: s.events.map((e) => ({ ...e, attributes: e.attributes.map(fixKv) })),
    links: s.links.map((l) => ({ ...l, attributes: l.attributes.map(fixKv) })),
  });
  return rs.map((r) => ({
    ...r,
    resource: { ...r.resource, attributes: r.resource.attributes.map(fixKv) },
    scopeSpans: r.scopeSpans.map((ss) => ({ ...ss, scope: { ...ss.scope, attributes: ss.scope.attributes.map(fixKv) }, spans: ss.spans.map(fixSpan) })),
  }));
}

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Rewrites every object key to snake_case (attribute keys are values of `key`, so they are untouched). */
function toSnakeKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toSnakeKeys);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [snake(k), toSnakeKeys(x)]));
  return v;
}

function badPayloadMessage(value: unknown): string {
  try {
    fromOtlpJson(value);
  } catch (e) {
    expect(e).toBeInstanceOf(SkeinError);
    expect((e as SkeinError).code).toBe('BAD_PAYLOAD');
    return (e as SkeinError).message;
  }
  return 'no error';
}

describe('OTLP/JSON round trip (property)', () => {
  it('(d) fromOtlpJson(JSON text of toOtlpJson(x)) equals x', () => {
    fc.assert(
      fc.property(requestArb, (rs) => {
        const text = JSON.stringify(toOtlpJson(rs));
        expect(fromOtlpJson(JSON.parse(text))).toEqual(withoutNegativeZero(rs));
      }),
      { numRuns: 150 },
    );
  });

  it('accepts snake_case keys', () => {
    fc.assert(
      fc.property(requestArb, (rs) => {
        const json = toSnakeKeys(JSON.parse(JSON.stringify(toOtlpJson(rs))));
        expect(fromOtlpJson(json)).toEqual(withoutNegativeZero(rs));
      }),
      { numRuns: 50 },
    );
  });
});

const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';

describe('OTLP/JSON mapping details', () => {
  it('writes hex IDs, int64 as decimal strings, enums as integers, lowerCamelCase keys', () => {
    const json = toOtlpJson(
      fromOtlpJson({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
            scopeSpans: [
              {
                scope: { name: 'lib', version: '1.0' },
                spans: [
                  {
                    traceId: TRACE,
                    spanId: SPAN,
                    parentSpanId: 'eee19b7ec3c1b173',
                    name: 'GET /',
                    kind: 'SPAN_KIND_SERVER',
                    startTimeUnixNano: 1544712660000000000,
                    endTimeUnixNano: '1544712661000000000',
                    attributes: [
                      { key: 'n', value: { intValue: 42 } },
                      { key: 'big', value: { intValue: '-9223372036854775808' } },
                      { key: 'd', value: { doubleValue: 'NaN' } },
                      { key: 'b', value: { bytesValue: 'AQID' } },
                    ],
                    status: { code: 'STATUS_CODE_ERROR', message: 'boom' },
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(json).toEqual({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
          scopeSpans: [
            {
              scope: { name: 'lib', version: '1.0' },
              spans: [
                {
                  traceId: TRACE,
                  spanId: SPAN,
                  parentSpanId: 'eee19b7ec3c1b173',
                  name: 'GET /',
                  kind: 2,
                  startTimeUnixNano: '1544712660000000000',
                  endTimeUnixNano: '1544712661000000000',
                  attributes: [
                    { key: 'n', value: { intValue: '42' } },
                    { key: 'big', value: { intValue: '-9223372036854775808' } },
                    { key: 'd', value: { doubleValue: 'NaN' } },
                    { key: 'b', value: { bytesValue: 'AQID' } },
                  ],
                  status: { code: 2, message: 'boom' },
                },
              ],
            },
          ],
        },
      ],
    });
  });

  it('keeps well-formed IDs of the wrong length for validation to reject per span', () => {
    const [rs] = fromOtlpJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'abcd', spanId: '', parentSpanId: SPAN + SPAN }] }] }] });
    const span = rs!.scopeSpans[0]!.spans[0]!;
    expect(span.traceId).toEqual(Uint8Array.from([0xab, 0xcd]));
    expect(span.spanId).toEqual(new Uint8Array(0));
    expect(span.parentSpanId).toHaveLength(16);
  });

  it('treats JSON null and missing fields as defaults, ignores unknown keys, accepts Tempo `batches`', () => {
    const rs = fromOtlpJson({
      batches: [{ resource: null, futureField: { x: 1 }, scopeSpans: [{ scope: null, spans: [{ traceId: TRACE, spanId: SPAN, name: null, status: null, kind: null }] }] }],
    });
    expect(rs[0]!.resource).toEqual({ attributes: [], droppedAttributesCount: 0 });
    expect(rs[0]!.scopeSpans[0]!.spans[0]).toMatchObject({ name: '', kind: 0, status: { code: 0, message: '' }, startTimeUnixNano: 0n });
    expect(fromOtlpJson({})).toEqual([]);
  });

  const at = (span: Record<string, unknown>): unknown => ({ resourceSpans: [{}, { scopeSpans: [{}, { spans: [{}, {}, {}, span] }] }] });
  it.each<[string, unknown, string]>([
    ['not an object', [], '(request): expected an object'],
    ['resourceSpans not an array', { resourceSpans: {} }, 'resourceSpans: expected an array'],
    ['non-hex trace ID', at({ traceId: 'zz' }), 'resourceSpans[1].scopeSpans[1].spans[3].traceId: expected a hex string'],
    ['base64 trace ID', at({ traceId: 'W47/95gDgQPSabYzgT/GDA==' }), 'resourceSpans[1].scopeSpans[1].spans[3].traceId: expected a hex string'],
    ['numeric span ID', at({ spanId: 12 }), 'resourceSpans[1].scopeSpans[1].spans[3].spanId: expected a hex string'],
    ['odd-length parent ID', at({ parentSpanId: 'abc' }), 'resourceSpans[1].scopeSpans[1].spans[3].parentSpanId: expected an even number of hex characters'],
    ['fractional time', at({ startTimeUnixNano: 1.5 }), 'resourceSpans[1].scopeSpans[1].spans[3].startTimeUnixNano: expected an integer'],
    ['negative time', at({ endTimeUnixNano: '-1' }), 'resourceSpans[1].scopeSpans[1].spans[3].endTimeUnixNano: integer out of range'],
    ['time too large', at({ endTimeUnixNano: '18446744073709551616' }), 'endTimeUnixNano: integer out of range'],
    ['unknown kind name', at({ kind: 'SPAN_KIND_WEIRD' }), 'spans[3].kind: unknown enum value "SPAN_KIND_WEIRD"'],
    ['status code not int', at({ status: { code: true } }), 'spans[3].status.code: expected an integer'],
    ['name not a string', at({ name: 5 }), 'spans[3].name: expected a string'],
    ['attributes not an array', at({ attributes: {} }), 'spans[3].attributes: expected an array'],
    ['attribute not an object', at({ attributes: [1] }), 'spans[3].attributes[0]: expected an object'],
    ['bad int attribute', at({ attributes: [{ key: 'k', value: { intValue: 'x' } }] }), 'spans[3].attributes[0].value.intValue: expected an integer'],
    ['int64 overflow', at({ attributes: [{ key: 'k', value: { intValue: '9223372036854775808' } }] }), 'attributes[0].value.intValue: integer out of range'],
    ['bad bool', at({ attributes: [{ key: 'k', value: { boolValue: 'yes' } }] }), 'attributes[0].value.boolValue: expected true or false'],
    ['bad double', at({ attributes: [{ key: 'k', value: { doubleValue: 'fast' } }] }), 'attributes[0].value.doubleValue: expected a number'],
    ['bad base64', at({ attributes: [{ key: 'k', value: { bytesValue: 'a$b' } }] }), 'attributes[0].value.bytesValue: expected a base64 string'],
    ['nested bad value', at({ attributes: [{ key: 'k', value: { arrayValue: { values: [{}, { kvlistValue: { values: [{ key: 1 }] } }] } } }] }), 'attributes[0].value.arrayValue.values[1].kvlistValue.values[0].key: expected a string'],
    ['bad dropped count', at({ droppedAttributesCount: -1 }), 'spans[3].droppedAttributesCount: integer out of range'],
    ['bad event time', at({ events: [{ timeUnixNano: 'soon' }] }), 'spans[3].events[0].timeUnixNano: expected an integer'],
    ['bad link ID', at({ links: [{ traceId: 'xyz1' }] }), 'spans[3].links[0].traceId: expected a hex string'],
    ['resource not an object', { resourceSpans: [{ resource: 'svc' }] }, 'resourceSpans[0].resource: expected an object'],
  ])('%s → BAD_PAYLOAD naming the path', (_name, value, message) => {
    expect(badPayloadMessage(value)).toContain(message);
  });

  it('rejects values nested past the limit with BAD_PAYLOAD', () => {
    let v: unknown = { stringValue: 'leaf' };
    for (let i = 0; i < 200; i++) v = { arrayValue: { values: [v] } };
    expect(badPayloadMessage(at({ attributes: [{ key: 'k', value: v }] }))).toMatch(/nested deeper than 100/);
  });
});

describe('anyValueToString', () => {
  it.each<[string, AnyValue, string]>([
    ['string', { kind: 'string', value: 'héllo' }, 'héllo'],
    ['int', { kind: 'int', value: -9223372036854775808n }, '-9223372036854775808'],
    ['bool', { kind: 'bool', value: false }, 'false'],
    ['double', { kind: 'double', value: 0.1 }, '0.1'],
    ['double NaN', { kind: 'double', value: NaN }, 'NaN'],
    ['bytes', { kind: 'bytes', value: Uint8Array.from([1, 2, 3, 250]) }, 'AQID+g=='],
    ['empty', { kind: 'empty' }, ''],
    [
      'array',
      { kind: 'array', value: [{ kind: 'int', value: 2n ** 60n }, { kind: 'string', value: 'a"b' }, { kind: 'bool', value: true }, { kind: 'empty' }, { kind: 'double', value: Infinity }] },
      '[1152921504606846976,"a\\"b",true,null,"Infinity"]',
    ],
    ['kvlist', { kind: 'kvlist', value: [{ key: 'k', value: { kind: 'array', value: [{ kind: 'double', value: 1.5 }] } }] }, '{"k":[1.5]}'],
  ])('%s', (_name, v, expected) => {
    expect(anyValueToString(v)).toBe(expected);
  });
});
