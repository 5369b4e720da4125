import { describe, it, expect } from 'vitest';
import type { ResourceSpans, Span } from '../../common/model/index.js';
import { SpanKind, StatusCode, fromHex } from '../../common/model/index.js';
import { attr, makeResource, makeScope, makeSpan } from './fake-backend.js';
import { computeDependencies, jaegerTraceId, toJaegerKeyValue, toJaegerSpan, toJaegerTrace, type JaegerKeyValue } from './jaeger-model.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SCOPE = { name: '', version: '' };

function tagsOf(span: Span, scope = SCOPE): JaegerKeyValue[] {
  return toJaegerSpan(span, scope, 'p1').tags;
}

function tag(tags: readonly JaegerKeyValue[], key: string): JaegerKeyValue[] {
  return tags.filter((t) => t.key === key);
}

function rs(service: string, spans: Span[], ...extra: ReturnType<typeof attr>[]): ResourceSpans {
  return { resource: makeResource(service, ...extra), schemaUrl: '', scopeSpans: [{ scope: makeScope(), schemaUrl: '', spans }] };
}

describe('span kind → span.kind tag', () => {
  const cases: [number, string | undefined][] = [
    [SpanKind.SERVER, 'server'],
    [SpanKind.CLIENT, 'client'],
    [SpanKind.PRODUCER, 'producer'],
    [SpanKind.CONSUMER, 'consumer'],
    [SpanKind.INTERNAL, undefined], // spec: SHOULD NOT be translated
    [SpanKind.UNSPECIFIED, undefined],
  ];
  it.each(cases)('kind %d → %j', (kind, expected) => {
    const t = tag(tagsOf(makeSpan({ traceId: TRACE, spanId: '00f067aa0ba902b7', kind })), 'span.kind');
    expect(t).toEqual(expected === undefined ? [] : [{ key: 'span.kind', type: 'string', value: expected }]);
  });
});

describe('status → otel.status_code / otel.status_description / error', () => {
  const cases: [number, string, JaegerKeyValue[]][] = [
    [StatusCode.UNSET, '', []],
    [StatusCode.UNSET, 'ignored when unset', []],
    [StatusCode.OK, '', [{ key: 'otel.status_code', type: 'string', value: 'OK' }]],
    [
      StatusCode.ERROR,
      'boom',
      [
        { key: 'otel.status_code', type: 'string', value: 'ERROR' },
        { key: 'otel.status_description', type: 'string', value: 'boom' },
        { key: 'error', type: 'bool', value: true },
      ],
    ],
    [
      StatusCode.ERROR,
      '',
      [
        { key: 'otel.status_code', type: 'string', value: 'ERROR' },
        { key: 'error', type: 'bool', value: true },
      ],
    ],
  ];
  it.each(cases)('code %d message %j', (code, msg, expected) => {
    const tags = tagsOf(makeSpan({ traceId: TRACE, spanId: '00f067aa0ba902b7', kind: SpanKind.INTERNAL, status: { code, message: msg } }));
    expect(tags.filter((t) => t.key.startsWith('otel.status') || t.key === 'error')).toEqual(expected);
  });

  it('an error status replaces a user `error` attribute with one error=true tag', () => {
    const span = makeSpan({ traceId: TRACE, spanId: '00f067aa0ba902b7', attributes: [attr('error', 'nope')], status: { code: StatusCode.ERROR, message: '' } });
    expect(tag(tagsOf(span), 'error')).toEqual([{ key: 'error', type: 'bool', value: true }]);
  });
});

describe('scope tags', () => {
  it('adds otel.scope.* and otel.library.* when set', () => {
    const tags = tagsOf(makeSpan({ traceId: TRACE, spanId: '00f067aa0ba902b7' }), { name: 'io.opentelemetry.http', version: '1.2.3' });
    expect(tags.filter((t) => t.key.startsWith('otel.scope') || t.key.startsWith('otel.library'))).toEqual([
      { key: 'otel.scope.name', type: 'string', value: 'io.opentelemetry.http' },
      { key: 'otel.library.name', type: 'string', value: 'io.opentelemetry.http' },
      { key: 'otel.scope.version', type: 'string', value: '1.2.3' },
      { key: 'otel.library.version', type: 'string', value: '1.2.3' },
    ]);
  });
  it('adds nothing for an empty scope', () => {
    expect(tagsOf(makeSpan({ traceId: TRACE, spanId: '00f067aa0ba902b7', kind: SpanKind.INTERNAL }))).toEqual([]);
  });
});

describe('references', () => {
  it('parent → CHILD_OF first, links → FOLLOWS_FROM after it', () => {
    const linked = '4bf92f3577b34da6a3ce929d0e0e4736';
    const span = makeSpan({
      traceId: TRACE,
      spanId: '00f067aa0ba902b7',
      parentSpanId: '1111111111111111',
      links: [
        { traceId: fromHex(linked, 16)!, spanId: fromHex('2222222222222222', 8)!, traceState: '', attributes: [], droppedAttributesCount: 0, flags: 0 },
        // A 64-bit Jaeger-style ID prints as 16 hex digits, as Jaeger does.
        { traceId: fromHex('0000000000000000abcdefabcdefabcd', 16)!, spanId: fromHex('3333333333333333', 8)!, traceState: '', attributes: [], droppedAttributesCount: 0, flags: 0 },
      ],
    });
    expect(toJaegerSpan(span, SCOPE, 'p1').references).toEqual([
      { refType: 'CHILD_OF', traceID: TRACE, spanID: '1111111111111111' },
      { refType: 'FOLLOWS_FROM', traceID: linked, spanID: '2222222222222222' },
      { refType: 'FOLLOWS_FROM', traceID: 'abcdefabcdefabcd', spanID: '3333333333333333' },
    ]);
  });
  it('root span and all-zero parent → no references', () => {
    expect(toJaegerSpan(makeSpan({ traceId: TRACE, spanId: '00f067aa0ba902b7' }), SCOPE, 'p1').references).toEqual([]);
    expect(toJaegerSpan(makeSpan({ traceId: TRACE, spanId: '00f067aa0ba902b7', parentSpanId: '0000000000000000' }), SCOPE, 'p1').references).toEqual([]);
  });
});

describe('events → logs', () => {
  it('maps time to µs, name to an `event` field first, attributes after', () => {
    const span = makeSpan({
      traceId: TRACE,
      spanId: '00f067aa0ba902b7',
      events: [
        { timeUnixNano: 1_700_000_000_123_456_789n, name: 'exception', attributes: [attr('exception.type', 'IOError')], droppedAttributesCount: 2 },
        { timeUnixNano: 1_700_000_000_200_000_000n, name: 'ignored', attributes: [attr('event', 'custom')], droppedAttributesCount: 0 },
      ],
    });
    expect(toJaegerSpan(span, SCOPE, 'p1').logs).toEqual([
      {
        timestamp: 1_700_000_000_123_456,
        fields: [
          { key: 'event', type: 'string', value: 'exception' },
          { key: 'exception.type', type: 'string', value: 'IOError' },
          { key: 'otel.event.dropped_attributes_count', type: 'int64', value: 2 },
        ],
      },
      // Spec: an `event` attribute takes precedence over the name.
      { timestamp: 1_700_000_000_200_000, fields: [{ key: 'event', type: 'string', value: 'custom' }] },
    ]);
  });
});

describe('span fields', () => {
  it('maps ids, name, times (µs, truncated), flags and processID', () => {
    const span = makeSpan({
      traceId: TRACE,
      spanId: '00f067aa0ba902b7',
      name: 'GET /users',
      flags: 0x301, // remote-parent bits above the W3C byte are dropped
      startTimeUnixNano: 1_700_000_000_000_001_999n,
      endTimeUnixNano: 1_700_000_000_250_003_500n,
    });
    const js = toJaegerSpan(span, SCOPE, 'p7');
    expect(js).toMatchObject({
      traceID: TRACE,
      spanID: '00f067aa0ba902b7',
      operationName: 'GET /users',
      flags: 1,
      startTime: 1_700_000_000_000_001,
      duration: 250_001,
      processID: 'p7',
      warnings: null,
    });
    expect(Object.keys(js).sort()).toEqual(
      ['traceID', 'spanID', 'flags', 'operationName', 'references', 'startTime', 'duration', 'tags', 'logs', 'processID', 'warnings'].sort(),
    );
  });
  it('an end before the start gives duration 0', () => {
    const span = makeSpan({ traceId: TRACE, spanId: '00f067aa0ba902b7', startTimeUnixNano: 2_000n, endTimeUnixNano: 1_000n });
    expect(toJaegerSpan(span, SCOPE, 'p1').duration).toBe(0);
  });
  it('adds tracestate and dropped counts', () => {
    const span = makeSpan({ traceId: TRACE, spanId: '00f067aa0ba902b7', kind: SpanKind.INTERNAL, traceState: 'k=v', droppedAttributesCount: 1, droppedEventsCount: 2, droppedLinksCount: 3 });
    expect(tagsOf(span)).toEqual([
      { key: 'w3c.tracestate', type: 'string', value: 'k=v' },
      { key: 'otel.dropped_attributes_count', type: 'int64', value: 1 },
      { key: 'otel.dropped_events_count', type: 'int64', value: 2 },
      { key: 'otel.dropped_links_count', type: 'int64', value: 3 },
    ]);
  });
});

describe('attribute values → typed tags', () => {
  const cases: [string, ReturnType<typeof attr>['value'], Omit<JaegerKeyValue, 'key'>][] = [
    ['string', { kind: 'string', value: 'x' }, { type: 'string', value: 'x' }],
    ['bool', { kind: 'bool', value: false }, { type: 'bool', value: false }],
    ['int', { kind: 'int', value: 500n }, { type: 'int64', value: 500 }],
    ['negative int', { kind: 'int', value: -7n }, { type: 'int64', value: -7 }],
    ['huge int keeps its digits', { kind: 'int', value: 9007199254740993n }, { type: 'string', value: '9007199254740993' }],
    ['double', { kind: 'double', value: 1.5 }, { type: 'float64', value: 1.5 }],
    ['NaN', { kind: 'double', value: NaN }, { type: 'string', value: 'NaN' }],
    ['bytes', { kind: 'bytes', value: Uint8Array.from([1, 2, 255]) }, { type: 'binary', value: 'AQL/' }],
    [
      'array',
      { kind: 'array', value: [{ kind: 'string', value: 'a' }, { kind: 'int', value: 2n }, { kind: 'bool', value: true }] },
      { type: 'string', value: '["a",2,true]' },
    ],
    ['array keeps huge ints exact', { kind: 'array', value: [{ kind: 'int', value: 9007199254740993n }] }, { type: 'string', value: '[9007199254740993]' }],
    ['kvlist', { kind: 'kvlist', value: [attr('a', 'b'), attr('n', 1n)] }, { type: 'string', value: '{"a":"b","n":1}' }],
    ['empty', { kind: 'empty' }, { type: 'string', value: '' }],
  ];
  it.each(cases)('%s', (_name, v, expected) => {
    expect(toJaegerKeyValue('k', v)).toEqual({ key: 'k', ...expected });
  });
});

describe('jaegerTraceId', () => {
  it.each([
    ['0af7651916cd43dd8448eb211c80319c', '0af7651916cd43dd8448eb211c80319c'],
    ['00000000000000008448eb211c80319c', '8448eb211c80319c'],
    ['0000000000000000000000000000002a', '000000000000002a'],
  ])('%s → %s', (hex, out) => {
    expect(jaegerTraceId(fromHex(hex, 16)!)).toBe(out);
  });
});

describe('toJaegerTrace', () => {
  it('dedups processes across resources that convert identically, keeps distinct ones apart', () => {
    const a1 = makeSpan({ traceId: TRACE, spanId: '0000000000000001', startTimeUnixNano: 10n });
    const a2 = makeSpan({ traceId: TRACE, spanId: '0000000000000002', parentSpanId: '0000000000000001', startTimeUnixNano: 20n });
    const b = makeSpan({ traceId: TRACE, spanId: '0000000000000003', parentSpanId: '0000000000000002', startTimeUnixNano: 30n });
    const a3 = makeSpan({ traceId: TRACE, spanId: '0000000000000004', parentSpanId: '0000000000000003', startTimeUnixNano: 40n });
    const trace = toJaegerTrace([
      rs('api', [a1], attr('host.name', 'h1')),
      rs('db', [b], attr('host.name', 'h1')),
      // Same content as the first resource but a separate ResourceSpans (e.g. another batch).
      { ...rs('api', [a2, a3], attr('host.name', 'h1')), schemaUrl: 'https://opentelemetry.io/schemas/1.21.0' },
    ])!;
    expect(trace.traceID).toBe(TRACE);
    expect(trace.warnings).toBeNull();
    expect(trace.processes).toEqual({
      p1: { serviceName: 'api', tags: [{ key: 'host.name', type: 'string', value: 'h1' }] },
      p2: { serviceName: 'db', tags: [{ key: 'host.name', type: 'string', value: 'h1' }] },
    });
    expect(trace.spans.map((s) => [s.spanID, s.processID])).toEqual([
      ['0000000000000001', 'p1'],
      ['0000000000000002', 'p1'],
      ['0000000000000003', 'p2'],
      ['0000000000000004', 'p1'],
    ]);
  });

  it('uses unknown_service when the resource has no service.name', () => {
    const trace = toJaegerTrace([{ resource: { attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: makeScope(), schemaUrl: '', spans: [makeSpan({ traceId: TRACE, spanId: '0000000000000001' })] }] }])!;
    expect(trace.processes).toEqual({ p1: { serviceName: 'unknown_service', tags: [] } });
  });

  it('returns null without spans', () => {
    expect(toJaegerTrace([])).toBeNull();
    expect(toJaegerTrace([rs('api', [])])).toBeNull();
  });
});

describe('computeDependencies', () => {
  it('counts cross-service parent→child calls only', () => {
    const t1 = [
      rs('frontend', [makeSpan({ traceId: TRACE, spanId: '0000000000000001' }), makeSpan({ traceId: TRACE, spanId: '0000000000000002', parentSpanId: '0000000000000001' })]),
      rs('api', [
        makeSpan({ traceId: TRACE, spanId: '0000000000000003', parentSpanId: '0000000000000002' }),
        makeSpan({ traceId: TRACE, spanId: '0000000000000004', parentSpanId: '0000000000000002' }),
      ]),
      rs('db', [makeSpan({ traceId: TRACE, spanId: '0000000000000005', parentSpanId: '0000000000000003' })]),
    ];
    const other = '4bf92f3577b34da6a3ce929d0e0e4736';
    const t2 = [
      rs('frontend', [makeSpan({ traceId: other, spanId: '0000000000000001' })]),
      rs('api', [makeSpan({ traceId: other, spanId: '0000000000000002', parentSpanId: '0000000000000001' }), makeSpan({ traceId: other, spanId: '0000000000000009', parentSpanId: 'ffffffffffffffff' })]),
    ];
    expect(computeDependencies([t1, t2])).toEqual([
      { parent: 'api', child: 'db', callCount: 1 },
      { parent: 'frontend', child: 'api', callCount: 3 },
    ]);
  });
});
