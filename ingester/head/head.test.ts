import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { SearchRequest, TagFilter } from '../../common/model/index.js';
import { decodeResource, decodeSpan } from '../../common/otlp/index.js';
import { toHex } from '../../common/model/index.js';
import { batch, group, span, spanId, traceId } from './testing/index.js';
import { createHead, type ShardHead } from './head.js';
import { ROOT_SPAN_NOT_YET_RECEIVED } from './merge.js';

const BASE = 1_700_000_000_000_000_000n; // > 2^53: start times must stay exact
const MS = 1_000_000n;
const at = (ms: number): bigint => BASE + BigInt(ms) * MS;

const T = [0, 1, 2, 3, 4, 5].map((n) => traceId(n));
const hex = (n: number): string => toHex(T[n]!);
const FRONTEND_RES = { 'deployment.environment': 'prod', 'host.name': 'web-1' };

/** The shared data set; see the search table for what each trace exercises. */
function load(head: ShardHead): void {
  head.insert(
    batch(
      'acme',
      group('frontend', [
        span({ trace: T[1]!, id: spanId(11), name: 'GET /checkout', kind: 2, start: at(1000), end: at(1500), attributes: { 'http.status_code': 500n, 'http.method': 'GET' } }),
        span({ trace: T[3]!, id: spanId(31), parent: spanId(999), name: 'render', kind: 1, start: at(3000), end: at(3010), attributes: { 'http.status_code': 500, tags: ['a', 'b'] } }),
      ], FRONTEND_RES),
      group('checkout', [
        span({ trace: T[1]!, id: spanId(12), parent: spanId(11), name: 'charge', kind: 3, start: at(1100), end: at(1300), status: 2, attributes: { 'payment.amount': 12.5, retry: true, region: 'eu' } }),
        span({ trace: T[2]!, id: spanId(21), name: 'POST /pay', kind: 2, start: at(2000), end: at(2100), status: 1, attributes: { 'http.status_code': 200n, 'http.method': 'POST' } }),
        span({ trace: T[2]!, id: spanId(22), parent: spanId(21), name: 'db.query', kind: 3, start: at(2010), end: at(2060), attributes: { 'db.system': 'postgres', 'http.status_code': '500' } }),
      ]),
      group('batch', [
        span({ trace: T[4]!, id: spanId(41), name: 'job', kind: 1, start: at(4000), end: at(4020) }),
        span({ trace: T[5]!, id: spanId(51), name: 'job', kind: 1, start: at(4000), end: at(4030) }),
      ]),
    ),
  );
  // Same trace ID as acme's T1, other tenant: must never leak either way.
  head.insert(batch('other', group('secret-svc', [span({ trace: T[1]!, id: spanId(91), name: 'hidden', start: at(9000), end: at(9001), attributes: { 'secret.key': 'x', 'http.method': 'DELETE' } })])));
}

const heads: Array<[string, () => ShardHead]> = [
  ['full hashes', () => createHead({ maxBytes: 64 << 20 })],
  // Two-bit hashes: every posting list and dictionary bucket is shared by unrelated values, so
  // only verification against the span bytes keeps answers right.
  ['forced hash collisions', () => createHead({ maxBytes: 64 << 20 }, { hashMask: 0x3 })],
];

const req = (tags: Record<string, string> | TagFilter[], extra: Partial<SearchRequest> = {}): SearchRequest => ({
  tags: Array.isArray(tags) ? tags : Object.entries(tags).map(([key, value]) => ({ key, value })),
  limit: 20,
  ...extra,
});

const searchCases: Array<[string, SearchRequest, number[]]> = [
  ['no filters: all, newest first, equal starts by trace ID desc', req({}), [5, 4, 3, 2, 1]],
  ['service.name from resource', req({ 'service.name': 'frontend' }), [3, 1]],
  ['service.name on any span of the trace', req({ 'service.name': 'checkout' }), [2, 1]],
  ['span name', req({ name: 'charge' }), [1]],
  ['status=error', req({ status: 'error' }), [1]],
  ['status=ok', req({ status: 'ok' }), [2]],
  ['status.code=unset', req({ 'status.code': 'unset' }), [5, 4, 3, 2, 1]],
  ['status.code numeric', req({ 'status.code': '2' }), [1]],
  ['status unknown value matches nothing', req({ status: 'bogus' }), []],
  ['kind=client', req({ kind: 'client' }), [2, 1]],
  ['span.kind=server', req({ 'span.kind': 'server' }), [2, 1]],
  ['kind=internal', req({ kind: 'internal' }), [5, 4, 3]],
  ['root.service.name', req({ 'root.service.name': 'checkout' }), [2]],
  ['root.service.name excludes traces without root', req({ 'root.service.name': 'frontend' }), [1]],
  ['root.name', req({ 'root.name': 'GET /checkout' }), [1]],
  ['root.name is not any span name', req({ 'root.name': 'charge' }), []],
  ['"500" matches int 500, string "500" and double 500', req({ 'http.status_code': '500' }), [3, 2, 1]],
  ['int attribute', req({ 'http.status_code': '200' }), [2]],
  ['"500.0" is not how 500 renders', req({ 'http.status_code': '500.0' }), []],
  ['bool attribute', req({ retry: 'true' }), [1]],
  ['bool false matches nothing here', req({ retry: 'false' }), []],
  ['double attribute', req({ 'payment.amount': '12.5' }), [1]],
  ['resource attribute', req({ 'deployment.environment': 'prod' }), [3, 1]],
  ['array attribute (not indexed: scan and verify)', req({ tags: '["a","b"]' }), [3]],
  ['unknown key', req({ 'no.such.key': 'x' }), []],
  ['unknown value', req({ 'http.method': 'PATCH' }), []],
  ['AND on one span', req({ 'http.method': 'GET', 'http.status_code': '500' }), [1]],
  ['AND split over two spans does not match', req({ 'http.method': 'POST', 'http.status_code': '500' }), []],
  ['service + name on the same span', req({ 'service.name': 'checkout', name: 'charge' }), [1]],
  ['service + name on different spans', req({ 'service.name': 'frontend', name: 'charge' }), []],
  ['resource attribute AND span attribute', req({ 'deployment.environment': 'prod', 'http.method': 'GET' }), [1]],
  ['intrinsic AND attribute AND root', req({ kind: 'client', 'db.system': 'postgres', 'root.name': 'POST /pay' }), [2]],
  ['other tenant values are invisible', req({ 'http.method': 'DELETE' }), []],
  ['min trace duration (inclusive)', req({}, { minDurationNs: 500e6 }), [1]],
  ['max trace duration (inclusive)', req({}, { maxDurationNs: 20e6 }), [4, 3]],
  ['span duration applies to the matching span', req({ kind: 'client' }, { minSpanDurationNs: 100e6 }), [1]],
  ['max span duration', req({ kind: 'client' }, { maxSpanDurationNs: 50e6 }), [2]],
  ['span duration without tags', req({}, { minSpanDurationNs: 150e6 }), [1]],
  ['time range overlap', req({}, { startNs: Number(at(1900)), endNs: Number(at(2500)) }), [2]],
  ['time range touching a trace end', req({}, { startNs: Number(at(1400)), endNs: Number(at(1450)) }), [1]],
  ['limit keeps the newest', req({}, { limit: 2 }), [5, 4]],
  ['limit with filters', req({ 'http.status_code': '500' }, { limit: 1 }), [3]],
];

describe.each(heads)('head queries (%s)', (_label, make) => {
  const head = make();
  load(head);

  it.each(searchCases)('search: %s', (_name, request, expected) => {
    expect(head.search('acme', request).map((s) => s.traceId)).toEqual(expected.map(hex));
  });

  it('search is deterministic across repeated calls and insertion orders', () => {
    const other = make();
    // Same data, reversed groups and spans.
    const fresh = make();
    load(fresh);
    const a = fresh.search('acme', req({}));
    const reversed = make();
    const h = createHead({ maxBytes: 1 << 26 });
    load(h);
    for (const t of [1, 2, 3, 4, 5]) {
      const groups = h.findTrace('acme', T[t]!)!;
      for (const g of [...groups].reverse()) reversed.insert({ tenant: 'acme', groups: [{ ...g, spans: [...g.spans].reverse() }] });
    }
    expect(reversed.search('acme', req({}))).toEqual(a);
    expect(fresh.search('acme', req({}))).toEqual(a);
    expect(other.search('acme', req({}))).toEqual([]);
  });

  it('summaries: exact start, duration, root fields, span count', () => {
    const byId = new Map(head.search('acme', req({})).map((s) => [s.traceId, s]));
    expect(byId.get(hex(1))).toEqual({
      traceId: hex(1),
      rootServiceName: 'frontend',
      rootTraceName: 'GET /checkout',
      startTimeUnixNano: at(1000).toString(),
      durationNanos: 500e6,
      spanCount: 2,
    });
    // No root yet: the earliest span's service, and Tempo's placeholder as the name.
    expect(byId.get(hex(3))).toMatchObject({ rootServiceName: 'frontend', rootTraceName: ROOT_SPAN_NOT_YET_RECEIVED, spanCount: 1 });
  });

  it('findTrace: groups by resource/scope, tenant isolation', () => {
    const groups = head.findTrace('acme', T[1]!)!;
    expect(groups.map((g) => decodeResource(g.resource).attributes.find((a) => a.key === 'service.name')?.value)).toEqual([
      { kind: 'string', value: 'frontend' },
      { kind: 'string', value: 'checkout' },
    ]);
    expect(groups.map((g) => g.spans.map((s) => decodeSpan(s).name))).toEqual([['GET /checkout'], ['charge']]);
    const other = head.findTrace('other', T[1]!)!;
    expect(other.flatMap((g) => g.spans.map((s) => decodeSpan(s).name))).toEqual(['hidden']);
    expect(head.findTrace('nobody', T[1]!)).toBeNull();
    expect(head.findTrace('acme', traceId(77))).toBeNull();
    expect(head.findTrace('acme', new Uint8Array(8))).toBeNull();
  });

  it('tag names and values are per tenant', () => {
    const names = head.tagNames('acme');
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['http.status_code', 'deployment.environment', 'host.name', 'service.name', 'name', 'status', 'root.name']));
    expect(names).not.toContain('secret.key');
    expect(head.tagNames('other')).toContain('secret.key');
    expect(head.tagNames('other')).not.toContain('payment.amount');
    expect(head.tagValues('acme', 'http.status_code')).toEqual(['200', '500']);
    expect(head.tagValues('acme', 'http.method')).toEqual(['GET', 'POST']);
    expect(head.tagValues('other', 'http.method')).toEqual(['DELETE']);
    expect(head.tagValues('acme', 'payment.amount')).toEqual(['12.5']);
    expect(head.tagValues('acme', 'retry')).toEqual(['true']);
    expect(head.tagValues('acme', 'service.name')).toEqual(['batch', 'checkout', 'frontend']);
    expect(head.tagValues('acme', 'name')).toEqual(['GET /checkout', 'POST /pay', 'charge', 'db.query', 'job', 'render']);
    expect(head.tagValues('acme', 'status')).toEqual(['error', 'ok', 'unset']);
    expect(head.tagValues('acme', 'kind')).toEqual(['client', 'internal', 'server']);
    expect(head.tagValues('acme', 'root.service.name')).toEqual(['batch', 'checkout', 'frontend']);
    expect(head.tagValues('acme', 'root.name')).toEqual(['GET /checkout', 'POST /pay', 'job']);
    expect(head.tagValues('acme', 'secret.key')).toEqual([]);
    expect(head.tagValues('nobody', 'http.method')).toEqual([]);
  });

  it('services and operations', () => {
    expect(head.services('acme')).toEqual(['batch', 'checkout', 'frontend']);
    expect(head.services('other')).toEqual(['secret-svc']);
    expect(head.services('nobody')).toEqual([]);
    expect(head.operations('acme', 'checkout')).toEqual([
      { name: 'POST /pay', spanKind: 2 },
      { name: 'charge', spanKind: 3 },
      { name: 'db.query', spanKind: 3 },
    ]);
    expect(head.operations('other', 'checkout')).toEqual([]);
    expect(head.operations('acme', 'secret-svc')).toEqual([]);
  });

  it('counts spans and traces; duplicates are not stored twice', () => {
    expect(head.spanCount()).toBe(8);
    expect(head.traceCount()).toBe(6);
    const again = make();
    load(again);
    const before = again.usedBytes();
    const r = again.insert(batch('acme', group('checkout', [span({ trace: T[1]!, id: spanId(12), parent: spanId(11), name: 'charge-dup', kind: 3, start: at(1100), end: at(1300) })])));
    expect(r).toEqual({ inserted: 0, duplicates: 1 });
    expect(again.spanCount()).toBe(8);
    // First write wins: the stored span keeps its original name.
    expect(again.findTrace('acme', T[1]!)!.flatMap((g) => g.spans.map((s) => decodeSpan(s).name))).toEqual(['GET /checkout', 'charge']);
    expect(again.usedBytes()).toBeGreaterThanOrEqual(before);
  });
});

describe('head tag value caps', () => {
  it.each([
    ['full hashes', 0xffffffff],
    ['forced hash collisions', 0x3],
  ])('keeps at most maxTagValuesPerKey values per key and operations per service (%s)', (_label, hashMask) => {
    const head = createHead({ maxBytes: 1 << 26, maxTagValuesPerKey: 3 }, { hashMask });
    const spans = Array.from({ length: 10 }, (_, i) => span({ trace: traceId(i + 1), id: spanId(i + 1), name: `op-${i}`, attributes: { user: `u${i}` } }));
    head.insert(batch('t', group('svc', spans)));
    expect(head.tagValues('t', 'user')).toEqual(['u0', 'u1', 'u2']);
    expect(head.operations('t', 'svc')).toHaveLength(3);
    // Capped values are still searchable: past the cap the key's values go to per-trace blooms,
    // and values posted before it crossed over stay findable through their posting lists.
    expect(head.search('t', req({ user: 'u9' })).map((s) => s.traceId)).toEqual([toHex(traceId(10))]);
    expect(head.search('t', req({ user: 'u0' })).map((s) => s.traceId)).toEqual([toHex(traceId(1))]);
    expect(head.search('t', req({ user: 'u4' })).map((s) => s.traceId)).toEqual([toHex(traceId(5))]);
    expect(head.search('t', req({ user: 'nobody' }))).toEqual([]);
    expect(head.search('t', req({ name: 'op-7' })).map((s) => s.traceId)).toEqual([toHex(traceId(8))]);
  });

  it('long string values are not indexed but still found by scanning', () => {
    const head = createHead({ maxBytes: 1 << 26 });
    const long = 'x'.repeat(1000);
    head.insert(batch('t', group('svc', [span({ trace: traceId(1), id: spanId(1), attributes: { 'db.statement': long } }), span({ trace: traceId(2), id: spanId(2), attributes: { 'db.statement': 'short' } })])));
    expect(head.search('t', req({ 'db.statement': long })).map((s) => s.traceId)).toEqual([toHex(traceId(1))]);
    expect(head.search('t', req({ 'db.statement': 'short' })).map((s) => s.traceId)).toEqual([toHex(traceId(2))]);
    expect(head.tagValues('t', 'db.statement')).toEqual(['short']);
  });

  it('many traces: columns and tables grow across pages', () => {
    const head = createHead({ maxBytes: 1 << 30 });
    const n = 20_000;
    for (let b = 0; b < n; b += 1000) {
      const spans = Array.from({ length: 1000 }, (_, i) => span({ trace: traceId(b + i + 1), id: spanId(1), start: at(b + i), end: at(b + i + 1), attributes: { seq: BigInt(b + i) } }));
      head.insert(batch('t', group('svc', spans)));
    }
    expect(head.traceCount()).toBe(n);
    for (const i of [1, 257, 4097, 16385, n]) {
      expect(head.findTrace('t', traceId(i))!.flatMap((g) => g.spans.map((s) => decodeSpan(s).attributes[0]!.value))).toEqual([{ kind: 'int', value: BigInt(i - 1) }]);
    }
    expect(head.search('t', req({}, { limit: 3 })).map((s) => s.traceId)).toEqual([n, n - 1, n - 2].map((i) => toHex(traceId(i))));
    expect(head.search('t', req({ seq: '17000' })).map((s) => s.traceId)).toEqual([toHex(traceId(17001))]);
  });

  it('a big trace (set-based dedup) keeps every distinct span once', () => {
    const head = createHead({ maxBytes: 1 << 26 });
    const spans = Array.from({ length: 200 }, (_, i) => span({ trace: traceId(1), id: spanId(i), start: at(i), end: at(i + 1) }));
    expect(head.insert(batch('t', group('svc', spans)))).toEqual({ inserted: 200, duplicates: 0 });
    expect(head.insert(batch('t', group('svc', spans.slice(50, 150))))).toEqual({ inserted: 0, duplicates: 100 });
    expect(head.findTrace('t', traceId(1))!.flatMap((g) => g.spans)).toHaveLength(200);
    expect(head.search('t', req({}))[0]).toMatchObject({ spanCount: 200, durationNanos: 200e6 });
  });
});

describe('search order (property)', () => {
  it('early stop is exact on large heads whose insertion order is not start order', () => {
    const head = createHead({ maxBytes: 1 << 28 });
    let x = 12345;
    const rand = (): number => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % 100_000;
    const starts = Array.from({ length: 6000 }, () => rand());
    for (let b = 0; b < starts.length; b += 500) {
      head.insert(batch('t', group('svc', starts.slice(b, b + 500).map((st, i) => span({ trace: traceId(b + i + 1), id: spanId(1), start: at(st), attributes: { k: 'v', odd: (b + i) % 2 === 1 } })))));
    }
    const order = starts.map((st, i) => ({ st, id: toHex(traceId(i + 1)), odd: i % 2 === 1 })).sort((a, b) => b.st - a.st || (a.id < b.id ? 1 : -1));
    for (const limit of [1, 7, 50]) {
      expect(head.search('t', req({}, { limit })).map((s) => s.traceId)).toEqual(order.slice(0, limit).map((o) => o.id));
      expect(head.search('t', req({ k: 'v' }, { limit })).map((s) => s.traceId)).toEqual(order.slice(0, limit).map((o) => o.id));
      expect(head.search('t', req({ odd: 'true' }, { limit })).map((s) => s.traceId)).toEqual(order.filter((o) => o.odd).slice(0, limit).map((o) => o.id));
    }
  });

  it('top-k equals a full sort by (start desc, trace ID desc), whatever the insertion order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ start: fc.integer({ min: 0, max: 50 }), extra: fc.integer({ min: 0, max: 5 }), tag: fc.boolean() }), { minLength: 1, maxLength: 2500 }),
        fc.integer({ min: 1, max: 30 }),
        fc.boolean(),
        (traces, limit, filtered) => {
          const head = createHead({ maxBytes: 1 << 28 });
          // One span per trace now, a second, earlier one for some traces later: starts move back.
          const first = traces.map((x, i) => span({ trace: traceId(i + 1), id: spanId(1), start: at(x.start * 10), attributes: { tag: x.tag } }));
          head.insert(batch('t', group('svc', first)));
          const later = traces.flatMap((x, i) => (x.extra > 0 ? [span({ trace: traceId(i + 1), id: spanId(2), start: at(x.start * 10 - x.extra * 7), attributes: { tag: x.tag } })] : []));
          if (later.length > 0) head.insert(batch('t', group('svc', later)));
          const expected = traces
            .map((x, i) => ({ id: toHex(traceId(i + 1)), start: x.start * 10 - x.extra * 7, tag: x.tag }))
            .filter((x) => !filtered || x.tag)
            .sort((a, b) => b.start - a.start || (a.id < b.id ? 1 : -1))
            .slice(0, limit)
            .map((x) => x.id);
          const got = head.search('t', req(filtered ? { tag: 'true' } : {}, { limit })).map((x) => x.traceId);
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  });
});
