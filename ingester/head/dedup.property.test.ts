import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { SpanGroup } from '../../common/model/index.js';
import { toHex } from '../../common/model/index.js';
import { decodeSpan } from '../../common/otlp/index.js';
import { group, span, spanId, traceId } from './testing/index.js';
import { createHead } from './head.js';

const BASE = 1_700_000_000_000_000_000n;

// A span is identified by (trace, id); its content is a pure function of the identity, so a
// duplicate is byte-identical and the expected store is simply the set of identities.
const identity = fc.record({ trace: fc.integer({ min: 1, max: 6 }), id: fc.integer({ min: 1, max: 60 }), service: fc.constantFrom('a', 'b', 'c') });

function encode(trace: number, id: number, service: string): SpanGroup {
  return group(service, [
    span({
      trace: traceId(trace),
      id: spanId(id),
      parent: id % 7 === 0 ? undefined : spanId(id - 1),
      name: `op-${id % 5}`,
      start: BASE + BigInt(id) * 1000n,
      end: BASE + BigInt(id) * 1000n + BigInt(trace) * 10n,
      attributes: { n: BigInt(id), s: `v${id % 3}` },
    }),
  ]);
}

describe('head dedup (property)', () => {
  it('findTrace returns exactly the distinct spans, whatever the order, batching and path', () => {
    fc.assert(
      fc.property(
        fc.array(identity, { minLength: 1, maxLength: 120 }),
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.constantFrom('insert', 'commit', 'release-then-commit'), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 3 }),
        (items, sizes, paths, maskChoice) => {
          // Service is part of the content, so key it by identity: the first draw decides.
          const services = new Map<string, string>();
          for (const it of items) if (!services.has(`${it.trace}/${it.id}`)) services.set(`${it.trace}/${it.id}`, it.service);
          const head = createHead({ maxBytes: 1 << 30 }, maskChoice === 0 ? { hashMask: 0x1 } : {});
          let i = 0;
          let b = 0;
          while (i < items.length) {
            const size = sizes[b % sizes.length]!;
            const path = paths[b % paths.length]!;
            const slice = items.slice(i, i + size);
            const groups = slice.map((it) => encode(it.trace, it.id, services.get(`${it.trace}/${it.id}`)!));
            const batch = { tenant: 't', groups };
            if (path === 'insert') {
              head.insert(batch);
            } else {
              const r = head.admit(batch);
              if (r.kind !== 'ok') throw new Error('unexpected full');
              if (path === 'release-then-commit') {
                head.release(r.ticket);
                const again = head.admit(batch);
                if (again.kind !== 'ok') throw new Error('unexpected full');
                head.commit(again.ticket);
              } else {
                head.commit(r.ticket);
              }
            }
            i += size;
            b++;
          }
          const expected = new Map<number, Set<number>>();
          for (const it of items) {
            if (!expected.has(it.trace)) expected.set(it.trace, new Set());
            expected.get(it.trace)!.add(it.id);
          }
          let total = 0;
          for (const [trace, ids] of expected) {
            const got = head.findTrace('t', traceId(trace))!.flatMap((g) => g.spans.map((s) => decodeSpan(s)));
            const gotIds = got.map((s) => new DataView(s.spanId.buffer, s.spanId.byteOffset).getUint32(4)).sort((x, y) => x - y);
            expect(gotIds).toEqual([...ids].sort((x, y) => x - y));
            total += ids.size;
            // Every stored span is byte-identical to what was sent.
            for (const s of got) expect(toHex(s.traceId)).toBe(toHex(traceId(trace)));
          }
          expect(head.spanCount()).toBe(total);
          expect(head.traceCount()).toBe(expected.size);
          // Search with no filters sees every trace once, with exact span counts.
          const summaries = head.search('t', { tags: [], limit: 100 });
          expect(summaries.map((s) => s.spanCount).reduce((x, y) => x + y, 0)).toBe(total);
          // And a filter on a value present in every span finds every trace.
          const byS = new Set(head.search('t', { tags: [{ key: 's', value: 'v0' }], limit: 100 }).map((s) => s.traceId));
          const expectedS = new Set([...expected].filter(([, ids]) => [...ids].some((id) => id % 3 === 0)).map(([t]) => toHex(traceId(t))));
          expect(byS).toEqual(expectedS);
        },
      ),
      { numRuns: 150 },
    );
  });
});
