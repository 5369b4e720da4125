// The head's view for the block cut: trace iteration with last-write times, tenants, creation time.
import { describe, expect, it } from 'vitest';
import { toHex } from '../../common/model/index.js';
import { batch, group, span, spanId, traceId } from './testing/index.js';
import { createHead, type HeadTraceInfo } from './head.js';

const BASE = 1_700_000_000_000_000_000n;
const MS = 1_000_000n;

describe('head cut view', () => {
  it('visits every non-empty trace of a tenant with bounds, error flag and last write time', () => {
    let now = 1_000_000;
    const head = createHead({ maxBytes: 16 << 20, now: () => now });
    expect(head.createdAtMs()).toBe(1_000_000);
    head.insert(batch('acme', group('svc', [span({ trace: traceId(1), id: spanId(1), start: BASE, end: BASE + 5n * MS })])));
    now += 2_450;
    head.insert(
      batch(
        'acme',
        group('svc', [
          span({ trace: traceId(2), id: spanId(2), start: BASE + 10n * MS, end: BASE + 30n * MS, status: 2 }),
          span({ trace: traceId(1), id: spanId(3), parent: spanId(1), start: BASE + MS, end: BASE + 9n * MS }),
        ]),
      ),
    );
    now += 10_000;
    head.insert(batch('other', group('x', [span({ trace: traceId(9), id: spanId(9) })])));
    const seen: HeadTraceInfo[] = [];
    head.forEachTrace('acme', (t) => seen.push(t));
    expect(seen.map((t) => toHex(t.traceId))).toEqual([toHex(traceId(1)), toHex(traceId(2))]);
    const [t1, t2] = seen as [HeadTraceInfo, HeadTraceInfo];
    expect(t1.spanCount).toBe(2);
    expect(t1.startNs).toBe(Number(BASE));
    expect(t1.endNs).toBe(Number(BASE + 9n * MS));
    expect(t1.hasError).toBe(false);
    expect(t1.lastWriteMs).toBe(1_002_400); // 100 ms resolution, rounded down
    expect(t2.hasError).toBe(true);
    expect(t2.lastWriteMs).toBe(1_002_400);
    expect(head.tenantNames()).toEqual(['acme', 'other']);
    const other: HeadTraceInfo[] = [];
    head.forEachTrace('other', (t) => other.push(t));
    expect(other.map((t) => t.lastWriteMs)).toEqual([1_012_400]);
    head.forEachTrace('nobody', () => expect.unreachable());
  });

  it('returns fresh ID copies the caller may keep or modify', () => {
    const head = createHead({ maxBytes: 16 << 20 });
    head.insert(batch('acme', group('svc', [span({ trace: traceId(7), id: spanId(1) })])));
    let id: Uint8Array | undefined;
    head.forEachTrace('acme', (t) => (id = t.traceId));
    id!.fill(0);
    expect(head.findTrace('acme', traceId(7))).not.toBeNull();
    let again: Uint8Array | undefined;
    head.forEachTrace('acme', (t) => (again = t.traceId));
    expect(toHex(again!)).toBe(toHex(traceId(7)));
  });

  it('a tenant whose admitted spans were all released has no traces to cut', () => {
    const head = createHead({ maxBytes: 16 << 20 });
    const admitted = head.admit(batch('acme', group('svc', [span({ trace: traceId(3), id: spanId(1) })])));
    expect(admitted.kind).toBe('ok');
    if (admitted.kind === 'ok') head.release(admitted.ticket);
    expect(head.tenantNames()).toEqual([]);
    head.forEachTrace('acme', () => expect.unreachable());
  });
});
