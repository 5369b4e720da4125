import { describe, it, expect } from 'vitest';
import type { SpanBatch } from '../../common/model/index.js';
import { decodeSpan } from '../../common/otlp/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { batch, group, span, spanId, traceId } from './testing/index.js';
import { createHead, FULL_RETRY_AFTER_SECONDS, type AdmitResult, type AdmitTicket } from './head.js';

const spansOf = (b: SpanBatch): string[] => b.groups.flatMap((g) => g.spans.map((s) => decodeSpan(s).name));

function ok(r: AdmitResult): { batch: SpanBatch; duplicates: number; ticket: AdmitTicket } {
  if (r.kind !== 'ok') throw new Error('expected ok, got full');
  return r;
}

const mk = (names: string[], trace = 1, firstId = 1): SpanBatch =>
  batch('t', group('svc', names.map((name, i) => span({ trace: traceId(trace), id: spanId(firstId + i), name, attributes: { k: name } }))));

const visibleNames = (head: ReturnType<typeof createHead>, trace = 1): string[] =>
  (head.findTrace('t', traceId(trace)) ?? []).flatMap((g) => g.spans.map((s) => decodeSpan(s).name)).sort();

describe('admit / commit / release', () => {
  it('admitted spans become visible only on commit', () => {
    const head = createHead({ maxBytes: 1 << 20 });
    const r = ok(head.admit(mk(['a', 'b'])));
    expect(r.duplicates).toBe(0);
    expect(spansOf(r.batch)).toEqual(['a', 'b']);
    expect(r.ticket.spans).toBe(2);
    expect(head.findTrace('t', traceId(1))).toBeNull();
    expect(head.spanCount()).toBe(0);
    head.commit(r.ticket);
    expect(visibleNames(head)).toEqual(['a', 'b']);
    expect(head.search('t', { tags: [{ key: 'k', value: 'b' }], limit: 5 })).toHaveLength(1);
  });

  it('drops duplicates of stored, pending and same-batch spans', () => {
    const head = createHead({ maxBytes: 1 << 20 });
    head.commit(ok(head.admit(mk(['a']))).ticket); // id 1 stored
    const pending = ok(head.admit(mk(['b'], 1, 2))); // id 2 pending
    // ids 1 (stored), 2 (pending), 3 new, 3 again in the same batch, 4 new in another group
    const b: SpanBatch = {
      tenant: 't',
      groups: [...mk(['a2', 'b2', 'c'], 1, 1).groups, ...mk(['c-again'], 1, 3).groups, ...mk(['d'], 1, 4).groups],
    };
    const r = ok(head.admit(b));
    expect(r.duplicates).toBe(3);
    expect(spansOf(r.batch)).toEqual(['c', 'd']);
    // groups left without spans are removed
    expect(r.batch.groups).toHaveLength(2);
    head.commit(r.ticket);
    head.commit(pending.ticket);
    expect(visibleNames(head)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('release forgets the pending marks and the reservation', () => {
    const head = createHead({ maxBytes: 1 << 20 });
    const first = ok(head.admit(mk(['a', 'b'])));
    expect(ok(head.admit(mk(['a', 'b']))).duplicates).toBe(2);
    head.release(first.ticket);
    const again = ok(head.admit(mk(['a', 'b'])));
    expect(again.duplicates).toBe(0);
    head.commit(again.ticket);
    expect(visibleNames(head)).toEqual(['a', 'b']);
    // Settled tickets are inert.
    head.release(again.ticket);
    head.commit(first.ticket);
    expect(head.spanCount()).toBe(2);
  });

  it('a released admit of a new trace leaves nothing visible', () => {
    const head = createHead({ maxBytes: 1 << 20 });
    head.release(ok(head.admit(mk(['a'], 7))).ticket);
    expect(head.findTrace('t', traceId(7))).toBeNull();
    expect(head.search('t', { tags: [], limit: 10 })).toEqual([]);
    expect(head.searchWithStats('t', { tags: [], limit: 10 }).inspectedTraces).toBe(0);
    expect(head.traceCount()).toBe(0);
    expect(head.spanCount()).toBe(0);
    // and the trace can still be written later
    head.commit(ok(head.admit(mk(['a'], 7))).ticket);
    expect(head.traceCount()).toBe(1);
    expect(visibleNames(head, 7)).toEqual(['a']);
  });

  it('commit after an interleaved replay insert still dedups', () => {
    const head = createHead({ maxBytes: 1 << 20 });
    const r = ok(head.admit(mk(['a', 'b'])));
    head.insert(mk(['a'])); // replay stores id 1 while the ticket is pending
    head.commit(r.ticket);
    expect(visibleNames(head)).toEqual(['a', 'b']);
    expect(head.spanCount()).toBe(2);
  });

  it('refuses a batch over budget without reserving anything; release frees budget', () => {
    const probe = createHead({ maxBytes: 1 << 30 });
    const a = mk(Array.from({ length: 20 }, (_, i) => `a${i}`), 1, 1);
    const reserveA = ok(probe.admit(a)).ticket.bytes;
    const base = probe.usedBytes();
    // Room for A's reservation (plus the head's fixed cost) but not for A and B together.
    const head = createHead({ maxBytes: base + reserveA + 100, registry: createRegistry({ defaultMetrics: false }), shard: 3 });
    const ra = ok(head.admit(a));
    const b = mk(Array.from({ length: 20 }, (_, i) => `b${i}`), 2, 100);
    const full = head.admit(b);
    expect(full).toEqual({ kind: 'full', retryAfterSeconds: FULL_RETRY_AFTER_SECONDS });
    // Nothing of B was marked pending: once A is released, B is admitted with no duplicates.
    head.release(ra.ticket);
    const rb = ok(head.admit(b));
    expect(rb.duplicates).toBe(0);
    expect(rb.ticket.spans).toBe(20);
    head.commit(rb.ticket);
    expect(visibleNames(head, 2)).toHaveLength(20);
  });

  it('a batch of only duplicates is admitted even when the head is full', () => {
    const head = createHead({ maxBytes: 1 });
    head.insert(mk(['a']));
    expect(head.admit(mk(['x'], 1, 9)).kind).toBe('full');
    const r = ok(head.admit(mk(['a'])));
    expect(r.duplicates).toBe(1);
    expect(r.batch.groups).toEqual([]);
  });

  it('insert (replay) ignores the budget but accounts the bytes', () => {
    const head = createHead({ maxBytes: 1000 });
    const r = head.insert(mk(Array.from({ length: 50 }, (_, i) => `s${i}`)));
    expect(r).toEqual({ inserted: 50, duplicates: 0 });
    expect(head.usedBytes()).toBeGreaterThan(1000);
    expect(head.admit(mk(['new'], 5, 1000)).kind).toBe('full');
    expect(head.insert(mk(['s0']))).toEqual({ inserted: 0, duplicates: 1 });
  });

  it('usedBytes grows with stored data and covers at least the span bytes', () => {
    const head = createHead({ maxBytes: 1 << 30 });
    const empty = head.usedBytes();
    const b = mk(Array.from({ length: 1000 }, (_, i) => `span-${i}`));
    const encoded = b.groups.reduce((n, g) => n + g.spans.reduce((m, s) => m + s.length, 0), 0);
    head.insert(b);
    expect(head.usedBytes() - empty).toBeGreaterThan(encoded);
  });

  it('drops spans whose IDs cannot be read', () => {
    const head = createHead({ maxBytes: 1 << 20 });
    const good = mk(['good']).groups[0]!;
    const bad: SpanBatch = { tenant: 't', groups: [{ ...good, spans: [new Uint8Array([0xff, 0xff]), ...good.spans, span16(8)] }] };
    const r = ok(head.admit(bad));
    expect(spansOf(r.batch)).toEqual(['good']);
    expect(head.insert(bad)).toEqual({ inserted: 1, duplicates: 0 });
  });

  it('rejects tickets from another head', () => {
    const a = createHead({ maxBytes: 1 << 20 });
    const b = createHead({ maxBytes: 1 << 20 });
    const r = ok(a.admit(mk(['x'])));
    expect(() => b.commit(r.ticket)).toThrow();
  });

  it('keeps tenants apart in dedup', () => {
    const head = createHead({ maxBytes: 1 << 20 });
    head.insert(mk(['a']));
    const r = ok(head.admit({ ...mk(['a']), tenant: 'u' }));
    expect(r.duplicates).toBe(0);
  });
});

/** A span with a trace ID of the wrong length (stored spans are validated; the head still guards). */
function span16(idLength: number): Uint8Array {
  const s = group('svc', [span({ trace: new Uint8Array(idLength).fill(1), id: spanId(1) })]);
  return s.spans[0]!;
}
