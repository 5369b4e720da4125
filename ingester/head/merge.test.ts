import { describe, it, expect } from 'vitest';
import type { TraceSummary } from '../../common/model/index.js';
import { toHex } from '../../common/model/index.js';
import { decodeSpan } from '../../common/otlp/index.js';
import { SkeinError } from '../../common/errors/index.js';
import { batch, group, span, spanId, traceId } from './testing/index.js';
import { createHead } from './head.js';
import { combineSummaries, mergeOperations, mergeSearchResults, mergeSortedUnique, mergeTraceGroups, ROOT_SPAN_NOT_YET_RECEIVED } from './merge.js';
import { createHeadQueryBackend } from './query-backend.js';

const sum = (id: string, start: string, duration: number, extra: Partial<TraceSummary> = {}): TraceSummary => ({
  traceId: id,
  rootServiceName: 'svc',
  rootTraceName: 'root',
  startTimeUnixNano: start,
  durationNanos: duration,
  spanCount: 1,
  ...extra,
});

describe('mergeSearchResults', () => {
  const cases: Array<[string, TraceSummary[][], number, string[]]> = [
    ['interleaves newest first', [[sum('a', '30', 1), sum('b', '10', 1)], [sum('c', '20', 1)]], 10, ['a', 'c', 'b']],
    ['equal starts: trace ID descending', [[sum('aa', '5', 1)], [sum('ff', '5', 1)], [sum('cc', '5', 1)]], 10, ['ff', 'cc', 'aa']],
    ['limit applies after merging', [[sum('a', '1', 1), sum('b', '2', 1)], [sum('c', '3', 1)]], 2, ['c', 'b']],
    ['decimal strings compare numerically', [[sum('a', '9', 1)], [sum('b', '10', 1)]], 10, ['b', 'a']],
    ['beyond 2^53', [[sum('a', '1700000000000000001', 1)], [sum('b', '1700000000000000002', 1)]], 10, ['b', 'a']],
    ['same trace from two shards appears once', [[sum('a', '5', 1)], [sum('a', '7', 1)]], 10, ['a']],
  ];
  it.each(cases)('%s', (_name, parts, limit, expected) => {
    expect(mergeSearchResults(parts, limit).map((s) => s.traceId)).toEqual(expected);
  });

  it('is independent of the order of the parts', () => {
    const parts = [[sum('a', '5', 1), sum('b', '3', 1)], [sum('c', '5', 1)], [sum('d', '4', 1), sum('a', '2', 10)]];
    const x = mergeSearchResults(parts, 3);
    expect(mergeSearchResults([...parts].reverse(), 3)).toEqual(x);
  });
});

describe('combineSummaries', () => {
  it('takes the earliest start, latest end, summed spans and a real root', () => {
    const partial = sum('t', '1700000000000000100', 50, { rootTraceName: ROOT_SPAN_NOT_YET_RECEIVED, rootServiceName: 'child', spanCount: 2 });
    const withRoot = sum('t', '1700000000000000120', 100, { rootTraceName: 'GET /', rootServiceName: 'edge', spanCount: 3 });
    const expected = { traceId: 't', rootServiceName: 'edge', rootTraceName: 'GET /', startTimeUnixNano: '1700000000000000100', durationNanos: 120, spanCount: 5 };
    expect(combineSummaries(partial, withRoot)).toEqual(expected);
    expect(combineSummaries(withRoot, partial)).toEqual(expected);
  });
});

describe('mergeTraceGroups', () => {
  it('dedups by (trace, span) and merges equal resource/scope groups', () => {
    const a = group('svc', [span({ trace: traceId(1), id: spanId(1), name: 'one' }), span({ trace: traceId(1), id: spanId(2), name: 'two' })]);
    const b = group('svc', [span({ trace: traceId(1), id: spanId(2), name: 'two-dup' }), span({ trace: traceId(1), id: spanId(3), name: 'three' })]);
    const c = group('other', [span({ trace: traceId(1), id: spanId(1), name: 'one-dup' }), span({ trace: traceId(1), id: spanId(4), name: 'four' })]);
    const merged = mergeTraceGroups([[a], [b, c]]);
    expect(merged.map((g) => g.spans.map((s) => decodeSpan(s).name))).toEqual([['one', 'two', 'three'], ['four']]);
  });
});

describe('list merges', () => {
  it('mergeSortedUnique', () => {
    expect(mergeSortedUnique([['b', 'a'], ['c', 'a'], []])).toEqual(['a', 'b', 'c']);
  });
  it('mergeOperations', () => {
    expect(
      mergeOperations([
        [{ name: 'b', spanKind: 2 }, { name: 'a', spanKind: 3 }],
        [{ name: 'a', spanKind: 3 }, { name: 'a', spanKind: 2 }],
      ]),
    ).toEqual([
      { name: 'a', spanKind: 2 },
      { name: 'a', spanKind: 3 },
      { name: 'b', spanKind: 2 },
    ]);
  });
});

describe('createHeadQueryBackend', () => {
  const s1 = createHead({ maxBytes: 1 << 24 });
  const s2 = createHead({ maxBytes: 1 << 24 });
  // Trace 1 straddles both shards (a shard-map change), with one span stored in both.
  s1.insert(batch('t', group('edge', [span({ trace: traceId(1), id: spanId(1), name: 'root', start: 100n, end: 400n }), span({ trace: traceId(1), id: spanId(2), parent: spanId(1), name: 'a', start: 150n, end: 200n })])));
  s2.insert(batch('t', group('edge', [span({ trace: traceId(1), id: spanId(2), parent: spanId(1), name: 'a', start: 150n, end: 200n })]), group('db', [span({ trace: traceId(1), id: spanId(3), parent: spanId(2), name: 'q', kind: 3, start: 160n, end: 500n, attributes: { 'db.system': 'pg' } })])));
  s2.insert(batch('t', group('db', [span({ trace: traceId(2), id: spanId(9), name: 'solo', start: 300n, end: 310n })])));
  s2.insert(batch('u', group('hidden', [span({ trace: traceId(1), id: spanId(7), name: 'secret' })])));
  let ready = true;
  const backend = createHeadQueryBackend(() => [s1, s2], () => ready);

  it('findTrace merges shards and dedups', async () => {
    const r = await backend.findTrace('t', traceId(1));
    expect(r!.groups.map((g) => g.spans.map((s) => decodeSpan(s).name))).toEqual([['root', 'a'], ['q']]);
    expect(await backend.findTrace('t', traceId(5))).toBeNull();
    const u = await backend.findTrace('u', traceId(1));
    expect(u!.groups.flatMap((g) => g.spans.map((s) => decodeSpan(s).name))).toEqual(['secret']);
  });

  it('search merges per-shard lists', async () => {
    const r = await backend.search('t', { tags: [], limit: 10 });
    expect(r.traces.map((s) => s.traceId)).toEqual([toHex(traceId(2)), toHex(traceId(1))]);
    expect(r.traces[1]).toMatchObject({ rootTraceName: 'root', rootServiceName: 'edge', startTimeUnixNano: '100', durationNanos: 400 });
    expect(r.inspectedTraces).toBe(3);
    const db = await backend.search('t', { tags: [{ key: 'db.system', value: 'pg' }], limit: 10 });
    expect(db.traces.map((s) => s.traceId)).toEqual([toHex(traceId(1))]);
  });

  it('tags, services, operations', async () => {
    expect(await backend.services('t')).toEqual(['db', 'edge']);
    expect(await backend.services('u')).toEqual(['hidden']);
    expect(await backend.tagValues('t', 'db.system')).toEqual(['pg']);
    expect(await backend.tagNames('t')).toContain('db.system');
    expect(await backend.tagNames('u')).not.toContain('db.system');
    expect(await backend.operations('t', 'edge')).toEqual([
      { name: 'a', spanKind: 2 },
      { name: 'root', spanKind: 2 },
    ]);
  });

  it('refuses to answer before replay is done', async () => {
    ready = false;
    try {
      expect(backend.ready()).toBe(false);
      await expect(backend.findTrace('t', traceId(1))).rejects.toSatisfy((e: unknown) => e instanceof SkeinError && e.code === 'UNAVAILABLE');
      await expect(backend.search('t', { tags: [], limit: 1 })).rejects.toBeInstanceOf(SkeinError);
    } finally {
      ready = true;
    }
    expect(backend.ready()).toBe(true);
  });
});
