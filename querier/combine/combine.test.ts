import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { Span, SpanGroup, TraceResult, TraceSummary } from '../../common/model/index.js';
import { SpanKind, StatusCode, fromHex, toHex } from '../../common/model/index.js';
import { decodeSpan, encodeResource, encodeScope, encodeSpan } from '../../common/otlp/index.js';
import {
  ROOT_SPAN_NOT_YET_RECEIVED,
  combineSearchResults,
  combineSummaries,
  combineTraceResults,
  mergeOperations,
  mergePartial,
  mergeSearchSummaries,
  mergeSortedUnique,
  mergeTraceGroups,
} from './index.js';

const BASE = 1_700_000_000_000_000_000n;

function spanBytes(trace: number, id: number, options: { start?: bigint; name?: string } = {}): Uint8Array {
  const span: Span = {
    traceId: fromHex(trace.toString(16).padStart(32, '0'), 16)!,
    spanId: fromHex(id.toString(16).padStart(16, '0'), 8)!,
    parentSpanId: new Uint8Array(0),
    traceState: '',
    flags: 1,
    name: options.name ?? `op-${id}`,
    kind: SpanKind.SERVER,
    startTimeUnixNano: options.start ?? BASE + BigInt(id) * 1000n,
    endTimeUnixNano: (options.start ?? BASE + BigInt(id) * 1000n) + 500n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: StatusCode.UNSET, message: '' },
  };
  return encodeSpan(span);
}

function group(service: string, spans: Uint8Array[]): SpanGroup {
  return {
    resource: encodeResource({ attributes: [{ key: 'service.name', value: { kind: 'string', value: service } }], droppedAttributesCount: 0 }),
    resourceSchemaUrl: '',
    scope: encodeScope({ name: 'lib', version: '1', attributes: [], droppedAttributesCount: 0 }),
    scopeSchemaUrl: '',
    spans,
  };
}

/** (service, span ID hex) pairs in output order: what a reader of the merged trace sees. */
function shape(groups: readonly SpanGroup[]): string[] {
  return groups.flatMap((g) => g.spans.map((s) => `${latin1Service(g)}/${toHex(decodeSpan(s).spanId)}`));
}

function latin1Service(g: SpanGroup): string {
  // The service name is the only attribute; read it back through the bytes for the assertion.
  return Buffer.from(g.resource).toString('latin1').replace(/[^a-z]/g, '').replace('servicename', '');
}

describe('mergeTraceGroups', () => {
  it('dedups (trace, span) across parts and merges groups with the same resource and scope', () => {
    const a = [group('api', [spanBytes(1, 1), spanBytes(1, 2)])];
    const b = [group('api', [spanBytes(1, 2), spanBytes(1, 3)]), group('db', [spanBytes(1, 4)])];
    const merged = mergeTraceGroups([a, b]);
    expect(merged).toHaveLength(2);
    expect(shape(merged).sort()).toEqual(['api/0000000000000001', 'api/0000000000000002', 'api/0000000000000003', 'db/0000000000000004']);
  });

  it('orders spans in a group by start time, then span ID', () => {
    const late = spanBytes(1, 1, { start: BASE + 9000n });
    const early = spanBytes(1, 2, { start: BASE + 1000n });
    const tieLow = spanBytes(1, 3, { start: BASE + 5000n });
    const tieHigh = spanBytes(1, 4, { start: BASE + 5000n });
    const merged = mergeTraceGroups([[group('api', [late, tieHigh])], [group('api', [tieLow, early])]]);
    expect(shape(merged)).toEqual(['api/0000000000000002', 'api/0000000000000003', 'api/0000000000000004', 'api/0000000000000001']);
  });

  it('two different copies of one identity: the same copy wins whichever part comes first', () => {
    const x = spanBytes(1, 1, { name: 'x' });
    const y = spanBytes(1, 1, { name: 'y' });
    const one = mergeTraceGroups([[group('api', [x])], [group('api', [y])]]);
    const two = mergeTraceGroups([[group('api', [y])], [group('api', [x])]]);
    expect(one).toEqual(two);
    expect(one[0]!.spans).toHaveLength(1);
  });

  it('keeps spans whose IDs cannot be read', () => {
    const junk = new Uint8Array([0xff, 0xff, 0xff]);
    const merged = mergeTraceGroups([[group('api', [junk, spanBytes(1, 1)])]]);
    expect(merged[0]!.spans).toHaveLength(2);
  });

  it('no parts → no groups', () => {
    expect(mergeTraceGroups([])).toEqual([]);
  });
});

describe('mergeTraceGroups (property)', () => {
  // A span's content is a function of its identity, except a `variant` that makes conflicting copies.
  const item = fc.record({ id: fc.integer({ min: 1, max: 30 }), service: fc.constantFrom('a', 'b'), variant: fc.constantFrom('', 'v2') });
  const parts = fc.array(fc.array(item, { maxLength: 20 }), { minLength: 1, maxLength: 5 });

  function build(items: readonly { id: number; service: string; variant: string }[]): SpanGroup[] {
    return items.map((it) => group(it.service, [spanBytes(7, it.id, { name: `op${it.variant}` })]));
  }

  it('is independent of part order and of how spans are split between parts, and keeps one span per identity', () => {
    fc.assert(
      fc.property(parts, fc.integer(), (raw, seed) => {
        const built = raw.map(build);
        const merged = mergeTraceGroups(built);
        // Same input, parts reversed and rotated.
        const rotated = [...built.slice(seed % built.length), ...built.slice(0, seed % built.length)];
        expect(mergeTraceGroups([...built].reverse())).toEqual(merged);
        expect(mergeTraceGroups(rotated)).toEqual(merged);
        // Same spans regrouped as one part: the answer does not depend on which member held what.
        expect(mergeTraceGroups([built.flat()])).toEqual(merged);
        // Merging again changes nothing.
        expect(mergeTraceGroups([merged, merged])).toEqual(merged);
        // One span per distinct span ID.
        const ids = merged.flatMap((g) => g.spans.map((s) => toHex(decodeSpan(s).spanId)));
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids.length).toBe(new Set(raw.flat().map((it) => it.id)).size);
      }),
    );
  });
});

const sum = (id: string, start: string, duration: number, extra: Partial<TraceSummary> = {}): TraceSummary => ({
  traceId: id,
  rootServiceName: 'svc',
  rootTraceName: 'root',
  startTimeUnixNano: start,
  durationNanos: duration,
  spanCount: 1,
  ...extra,
});

describe('mergeSearchSummaries', () => {
  const cases: Array<[string, TraceSummary[][], number, string[]]> = [
    ['interleaves newest first', [[sum('a', '30', 1), sum('b', '10', 1)], [sum('c', '20', 1)]], 10, ['a', 'c', 'b']],
    ['equal starts: trace ID descending', [[sum('aa', '5', 1)], [sum('ff', '5', 1)], [sum('cc', '5', 1)]], 10, ['ff', 'cc', 'aa']],
    ['limit applies after merging', [[sum('a', '1', 1), sum('b', '2', 1)], [sum('c', '3', 1)]], 2, ['c', 'b']],
    ['limit below 1 still returns one', [[sum('a', '1', 1), sum('b', '2', 1)]], 0, ['b']],
    ['infinite limit returns all', [[sum('a', '1', 1), sum('b', '2', 1)]], Infinity, ['b', 'a']],
    ['decimal strings compare numerically', [[sum('a', '9', 1)], [sum('b', '10', 1)]], 10, ['b', 'a']],
    ['beyond 2^53', [[sum('a', '1700000000000000001', 1)], [sum('b', '1700000000000000002', 1)]], 10, ['b', 'a']],
    ['same trace from two members appears once', [[sum('a', '5', 1)], [sum('a', '7', 1)]], 10, ['a']],
  ];
  it.each(cases)('%s', (_name, parts, limit, expected) => {
    expect(mergeSearchSummaries(parts, limit).map((s) => s.traceId)).toEqual(expected);
  });

  it('a trace split over members: earliest start, latest end, spans added, the real root wins', () => {
    const merged = mergeSearchSummaries(
      [[sum('t', '100', 50, { rootTraceName: ROOT_SPAN_NOT_YET_RECEIVED, rootServiceName: '', spanCount: 2 })], [sum('t', '120', 100, { rootTraceName: 'GET /', rootServiceName: 'web', spanCount: 3 })]],
      10,
    );
    expect(merged).toEqual([{ traceId: 't', rootServiceName: 'web', rootTraceName: 'GET /', startTimeUnixNano: '100', durationNanos: 120, spanCount: 5 }]);
  });

  it('property: independent of part order and grouping; no trace ID twice; sorted newest first', () => {
    const summary = fc.record({
      traceId: fc.constantFrom('a1', 'b2', 'c3', 'd4', 'e5', 'f6'),
      rootServiceName: fc.constantFrom('x', 'y'),
      rootTraceName: fc.constantFrom('r1', 'r2', ROOT_SPAN_NOT_YET_RECEIVED),
      startTimeUnixNano: fc.bigInt({ min: 1n, max: 1n << 62n }).map(String),
      durationNanos: fc.integer({ min: 0, max: 1_000_000 }),
      spanCount: fc.integer({ min: 1, max: 10 }),
    });
    fc.assert(
      fc.property(fc.array(fc.array(summary, { maxLength: 8 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 8 }), (parts, limit) => {
        const merged = mergeSearchSummaries(parts, limit);
        expect(mergeSearchSummaries([...parts].reverse(), limit)).toEqual(merged);
        expect(mergeSearchSummaries([parts.flat().reverse()], limit)).toEqual(merged);
        const ids = merged.map((s) => s.traceId);
        expect(new Set(ids).size).toBe(ids.length);
        expect(merged.length).toBe(Math.min(limit, new Set(parts.flat().map((s) => s.traceId)).size));
        for (let i = 1; i < merged.length; i++) {
          expect(BigInt(merged[i - 1]!.startTimeUnixNano) >= BigInt(merged[i]!.startTimeUnixNano)).toBe(true);
        }
      }),
    );
  });
});

describe('combineSummaries', () => {
  it('between two real roots the earlier part names the trace, however they are grouped', () => {
    const a = sum('t', '5', 10, { rootTraceName: 'late-root' });
    const b = sum('t', '1', 1, { rootTraceName: ROOT_SPAN_NOT_YET_RECEIVED });
    const c = sum('t', '3', 1, { rootTraceName: 'early-root' });
    expect(combineSummaries([a, b, c]).rootTraceName).toBe('early-root');
    expect(combineSummaries([c, b, a])).toEqual(combineSummaries([a, b, c]));
  });

  it('rejects an empty list', () => {
    expect(() => combineSummaries([])).toThrow(RangeError);
  });
});

describe('lists', () => {
  it('mergeSortedUnique', () => {
    expect(mergeSortedUnique([['b', 'a'], ['c', 'a'], []])).toEqual(['a', 'b', 'c']);
  });

  it('mergeOperations: union, by name then kind', () => {
    expect(
      mergeOperations([
        [
          { name: 'b', spanKind: 2 },
          { name: 'a', spanKind: 3 },
        ],
        [
          { name: 'a', spanKind: 2 },
          { name: 'b', spanKind: 2 },
        ],
      ]),
    ).toEqual([
      { name: 'a', spanKind: 2 },
      { name: 'a', spanKind: 3 },
      { name: 'b', spanKind: 2 },
    ]);
  });
});

describe('partial answers', () => {
  it('mergePartial: union of reasons, sorted; none → undefined', () => {
    expect(mergePartial(undefined, [])).toBeUndefined();
    expect(mergePartial(['b down'], { reasons: ['a down', 'b down'] }, undefined)).toEqual({ reasons: ['a down', 'b down'] });
  });

  it('combineTraceResults: null when no source holds the trace; partial from sources and from the caller', () => {
    expect(combineTraceResults([null, null], ['m3 down'])).toBeNull();
    const a: TraceResult = { groups: [group('api', [spanBytes(1, 1)])] };
    const b: TraceResult = { groups: [group('api', [spanBytes(1, 1), spanBytes(1, 2)])], partial: { reasons: ['shard 4 unowned'] } };
    const complete = combineTraceResults([a, null]);
    expect(complete).not.toHaveProperty('partial');
    const merged = combineTraceResults([a, b, null], ['m3 down']);
    expect(merged?.groups[0]!.spans).toHaveLength(2);
    expect(merged?.partial).toEqual({ reasons: ['m3 down', 'shard 4 unowned'] });
  });

  it('the highest flushed revision survives combining, also when no source holds the trace', () => {
    expect(combineTraceResults([{ groups: [], flushedRevision: 7 }, null, { groups: [], flushedRevision: 12 }])).toEqual({ groups: [], flushedRevision: 12 });
    expect(combineTraceResults([{ groups: [] }, null])).toBeNull();
    const a: TraceResult = { groups: [group('api', [spanBytes(1, 1)])], flushedRevision: 3 };
    expect(combineTraceResults([a, { groups: [], flushedRevision: 5 }])?.flushedRevision).toBe(5);
    expect(combineSearchResults([{ traces: [], inspectedTraces: 1, flushedRevision: 4 }, { traces: [], inspectedTraces: 2 }], 5)).toEqual({ traces: [], inspectedTraces: 3, flushedRevision: 4 });
  });

  it('combineSearchResults: merged list, inspected counts added, partial carried', () => {
    const r = combineSearchResults(
      [
        { traces: [sum('a', '1', 1)], inspectedTraces: 3 },
        { traces: [sum('b', '2', 1)], inspectedTraces: 4, partial: { reasons: ['x'] } },
      ],
      10,
    );
    expect(r).toEqual({ traces: [sum('b', '2', 1), sum('a', '1', 1)], inspectedTraces: 7, partial: { reasons: ['x'] } });
    expect(combineSearchResults([{ traces: [], inspectedTraces: 0 }], 5)).toEqual({ traces: [], inspectedTraces: 0 });
  });
});
