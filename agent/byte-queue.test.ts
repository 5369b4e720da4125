import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createByteQueue, type ByteQueueOptions, type OfferResult } from './byte-queue.js';

const accepted: OfferResult = { kind: 'accepted' };
const dropped = (reason: 'queue-full' | 'too-large' | 'closed'): OfferResult => ({ kind: 'dropped', reason });

describe('byte queue: offer', () => {
  type Step = [item: string, bytes: number, result: OfferResult];
  const cases: [string, ByteQueueOptions, Step[], { items: number; bytes: number }][] = [
    ['fills exactly to maxBytes', { maxBytes: 10 }, [['a', 4, accepted], ['b', 6, accepted]], { items: 2, bytes: 10 }],
    ['rejects the newest entry when it does not fit', { maxBytes: 10 }, [['a', 8, accepted], ['b', 3, dropped('queue-full')], ['c', 2, accepted]], { items: 2, bytes: 10 }],
    ['rejects entries larger than maxItemBytes as too-large', { maxBytes: 10, maxItemBytes: 5 }, [['a', 6, dropped('too-large')], ['b', 5, accepted]], { items: 1, bytes: 5 }],
    ['an entry larger than the whole queue is too-large, not queue-full', { maxBytes: 10 }, [['a', 11, dropped('too-large')]], { items: 0, bytes: 0 }],
    ['bounds the entry count', { maxBytes: 100, maxItems: 2 }, [['a', 1, accepted], ['b', 1, accepted], ['c', 1, dropped('queue-full')]], { items: 2, bytes: 2 }],
    ['accepts empty entries', { maxBytes: 0 }, [['a', 0, accepted]], { items: 1, bytes: 0 }],
  ];
  it.each(cases)('%s', (_name, options, steps, after) => {
    const q = createByteQueue<string>(options);
    expect(steps.map(([item, bytes]) => q.offer(item, bytes))).toEqual(steps.map(([, , result]) => result));
    expect({ items: q.items, bytes: q.bytes }).toEqual(after);
  });

  it('rejects offers after close, but still hands out what it holds', () => {
    const q = createByteQueue<string>({ maxBytes: 10 });
    q.offer('a', 1);
    q.close();
    expect(q.offer('b', 1)).toEqual(dropped('closed'));
    expect(q.closed).toBe(true);
    expect(q.drain()).toEqual({ items: ['a'], bytes: 1, weight: 1 });
  });

  const badSizes: [string, number][] = [
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['infinite', Infinity],
  ];
  it.each(badSizes)('throws on a %s size (a caller bug, not an outcome)', (_name, size) => {
    expect(() => createByteQueue<string>({ maxBytes: 10 }).offer('a', size)).toThrow(RangeError);
  });
});

describe('byte queue: take', () => {
  const fill = () => {
    const q = createByteQueue<string>({ maxBytes: 100 });
    q.offer('a', 3, 1);
    q.offer('b', 4, 5);
    q.offer('c', 20, 1);
    q.offer('d', 1, 1);
    return q;
  };
  const cases: [string, number, number | undefined, string[][]][] = [
    ['by bytes, in order', 7, undefined, [['a', 'b'], ['c'], ['d']]],
    ['an entry larger than the batch still leaves, alone', 5, undefined, [['a'], ['b'], ['c'], ['d']]],
    ['by weight', 100, 5, [['a'], ['b'], ['c', 'd']]],
    ['everything at once', 100, undefined, [['a', 'b', 'c', 'd']]],
  ];
  it.each(cases)('%s', (_name, maxBytes, maxWeight, batches) => {
    const q = fill();
    const got: string[][] = [];
    while (q.items > 0) got.push(q.take(maxBytes, maxWeight).items);
    expect(got).toEqual(batches);
    expect(q.take(maxBytes, maxWeight)).toEqual({ items: [], bytes: 0, weight: 0 });
    expect([q.bytes, q.weight]).toEqual([0, 0]);
  });
});

describe('byte queue: properties', () => {
  type Op = { kind: 'offer'; bytes: number; weight: number } | { kind: 'take'; bytes: number; weight: number } | { kind: 'close' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('offer' as const), bytes: fc.nat({ max: 40 }), weight: fc.nat({ max: 5 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('take' as const), bytes: fc.nat({ max: 60 }), weight: fc.integer({ min: 1, max: 10 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'close' as const }) },
  );

  it('never exceeds its bounds, keeps FIFO order and accounts for every byte (against a model)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }), fc.array(op, { maxLength: 200 }), (maxBytes, maxItems, ops) => {
        const q = createByteQueue<number>({ maxBytes, ...(maxItems === undefined ? {} : { maxItems }) });
        const model: { id: number; bytes: number; weight: number }[] = [];
        let closed = false;
        let offeredBytes = 0;
        let droppedBytes = 0;
        let takenBytes = 0;
        let nextId = 0;
        for (const o of ops) {
          if (o.kind === 'offer') {
            const id = nextId++;
            const used = model.reduce((s, e) => s + e.bytes, 0);
            const expected: OfferResult = closed
              ? dropped('closed')
              : o.bytes > maxBytes
                ? dropped('too-large')
                : used + o.bytes > maxBytes || model.length >= (maxItems ?? Infinity)
                  ? dropped('queue-full')
                  : accepted;
            expect(q.offer(id, o.bytes, o.weight)).toEqual(expected);
            offeredBytes += o.bytes;
            if (expected.kind === 'accepted') model.push({ id, bytes: o.bytes, weight: o.weight });
            else droppedBytes += o.bytes;
          } else if (o.kind === 'take') {
            const taken = q.take(o.bytes, o.weight);
            let n = 0;
            let b = 0;
            let w = 0;
            while (n < model.length && (n === 0 || (b + model[n]!.bytes <= o.bytes && w + model[n]!.weight <= o.weight))) {
              b += model[n]!.bytes;
              w += model[n]!.weight;
              n++;
            }
            expect(taken).toEqual({ items: model.splice(0, n).map((e) => e.id), bytes: b, weight: w });
            takenBytes += taken.bytes;
          } else {
            q.close();
            closed = true;
          }
          expect(q.bytes).toBeLessThanOrEqual(maxBytes);
          expect(q.items).toBeLessThanOrEqual(maxItems ?? Infinity);
          expect([q.items, q.bytes, q.weight]).toEqual([model.length, model.reduce((s, e) => s + e.bytes, 0), model.reduce((s, e) => s + e.weight, 0)]);
          expect(offeredBytes).toBe(droppedBytes + takenBytes + q.bytes);
        }
      }),
      { seed: 17, numRuns: 500 },
    );
  });

  it('stays correct across head compaction (long runs)', () => {
    const q = createByteQueue<number>({ maxBytes: 10_000 });
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 3000 && q.offer(next, 1).kind === 'accepted'; i++) next++;
      for (const item of q.take(2500).items) expect(item).toBe(expected++);
    }
    for (const item of q.drain().items) expect(item).toBe(expected++);
    expect(expected).toBe(next);
  });
});
