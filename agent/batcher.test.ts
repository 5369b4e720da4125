import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ManualClock } from '../common/coord/index.js';
import { SkeinError } from '../common/errors/index.js';
import { classifyExportError, createBatcher, type Batcher, type BatcherOptions, type BatchDropReason } from './batcher.js';

/** A send whose calls the test settles by hand. */
class FakeExporter {
  readonly calls: { items: readonly string[]; at: number; signal: AbortSignal; resolve: () => void; reject: (e: Error) => void }[] = [];
  readonly sent: string[][] = [];
  /** Outcome for each call, in order; calls past the end stay pending until settled by hand. */
  script: (Error | 'ok')[] = [];
  constructor(private readonly clock: ManualClock) {}

  private settled = 0;

  send = (items: readonly string[], signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const n = this.calls.length;
      let done = false;
      const settle = (fn: () => void) => () => {
        if (done) return;
        done = true;
        this.settled++;
        fn();
      };
      const call = {
        items,
        at: this.clock.now(),
        signal,
        resolve: settle(() => {
          this.sent.push([...items]);
          resolve();
        }),
        reject: (e: Error) => settle(() => reject(e))(),
      };
      this.calls.push(call);
      signal.addEventListener('abort', () => call.reject(signal.reason as Error), { once: true });
      const outcome = this.script[n];
      if (outcome === 'ok') call.resolve();
      else if (outcome !== undefined) call.reject(outcome);
    });

  get pending(): number {
    return this.calls.length - this.settled;
  }
}

const unavailable = (retryAfterSeconds?: number) =>
  new SkeinError('UNAVAILABLE', 'ingester unavailable', retryAfterSeconds === undefined ? {} : { retryAfterSeconds });

function setup(overrides: Partial<BatcherOptions<string>> = {}, script: (Error | 'ok')[] = []) {
  const clock = new ManualClock(0);
  const exporter = new FakeExporter(clock);
  exporter.script = script;
  const drops: [BatchDropReason, number, number][] = [];
  const retries: number[] = [];
  const batcher: Batcher<string> = createBatcher<string>({
    clock,
    random: () => 0.5,
    send: exporter.send,
    maxQueueBytes: 1000,
    maxBatchBytes: 100,
    maxBatchWeight: 1000,
    maxDelayMs: 200,
    maxConcurrency: 1,
    retry: { initialBackoffMs: 100, maxBackoffMs: 1000, maxElapsedMs: 5000 },
    onDrop: (reason, weight, items) => drops.push([reason, weight, items]),
    onRetry: (_e, _attempt, delay) => retries.push(delay),
    ...overrides,
  });
  return { clock, exporter, batcher, drops, retries };
}

const okForever = Array.from({ length: 100 }, () => 'ok' as const);

describe('batching by size and delay', () => {
  it('sends a batch as soon as a full one is queued, and the rest after maxDelayMs', async () => {
    const { clock, exporter, batcher } = setup({ maxConcurrency: 4 }, okForever);
    for (const id of ['a', 'b', 'c']) batcher.offer(id, 30);
    await clock.advance(0);
    expect(exporter.sent).toEqual([]);
    batcher.offer('d', 30); // 120 ≥ 100 bytes: a full batch (a, b, c = 90 bytes) leaves now
    await clock.advance(0);
    expect(exporter.sent).toEqual([['a', 'b', 'c']]);
    await clock.advance(199);
    expect(exporter.sent).toHaveLength(1);
    await clock.advance(1);
    expect(exporter.sent).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('cuts batches by weight (spans) too', async () => {
    const { clock, exporter, batcher } = setup({ maxBatchWeight: 10, maxConcurrency: 4 }, okForever);
    batcher.offer('a', 1, 6);
    batcher.offer('b', 1, 6);
    await clock.advance(0);
    expect(exporter.sent).toEqual([['a']]);
    await clock.advance(200);
    expect(exporter.sent).toEqual([['a'], ['b']]);
  });

  it('measures the delay from the oldest queued entry', async () => {
    const { clock, exporter, batcher } = setup({}, okForever);
    batcher.offer('a', 1);
    await clock.advance(150);
    batcher.offer('b', 1);
    await clock.advance(50);
    expect(exporter.calls.map((c) => [c.items, c.at])).toEqual([[['a', 'b'], 200]]);
  });

  it('keeps at most maxConcurrency batches in flight', async () => {
    const { clock, exporter, batcher } = setup({ maxConcurrency: 2 });
    for (let i = 0; i < 8; i++) batcher.offer(`x${i}`, 50);
    await clock.advance(1000);
    expect(exporter.calls.map((c) => c.items)).toEqual([
      ['x0', 'x1'],
      ['x2', 'x3'],
    ]);
    exporter.calls[0]!.resolve();
    await clock.advance(0);
    expect(exporter.calls).toHaveLength(3);
    expect(batcher.stats()).toMatchObject({ inFlightBatches: 2, queuedItems: 2, sentBatches: 1, sentWeight: 2 });
  });
});

describe('bounded queue: drops, never waits', () => {
  it('drops newest offers when full and counts them by reason and weight', async () => {
    const { clock, batcher, drops } = setup({ maxQueueBytes: 100, maxItemBytes: 60, maxBatchBytes: 1000 });
    const results = [batcher.offer('a', 60, 3), batcher.offer('b', 60, 4), batcher.offer('c', 40, 5), batcher.offer('d', 61, 6)];
    expect(results.map((r) => (r.kind === 'accepted' ? 'ok' : r.reason))).toEqual(['ok', 'queue-full', 'ok', 'too-large']);
    expect(drops).toEqual([
      ['queue-full', 4, 1],
      ['too-large', 6, 1],
    ]);
    await clock.advance(0);
    expect(batcher.stats()).toMatchObject({ queuedBytes: 100, dropped: { 'queue-full': 4, 'too-large': 6 } });
  });

  it('fills while the exporter is stuck, then drains once it recovers', async () => {
    const { clock, exporter, batcher } = setup({ maxQueueBytes: 200 });
    for (let i = 0; i < 5; i++) batcher.offer(`x${i}`, 100);
    await clock.advance(0);
    expect(batcher.stats()).toMatchObject({ inFlightBatches: 1, queuedBytes: 200, dropped: { 'queue-full': 2 } });
    exporter.script = okForever;
    exporter.calls[0]!.resolve();
    await clock.advance(0);
    expect(exporter.sent).toEqual([['x0'], ['x1'], ['x2']]);
  });
});

describe('retries', () => {
  it('backs off exponentially with full jitter, capped, then succeeds', async () => {
    const err = unavailable();
    const { clock, exporter, batcher, retries } = setup({ retry: { initialBackoffMs: 100, maxBackoffMs: 500, maxElapsedMs: 60_000 } }, [err, err, err, err, err, 'ok']);
    batcher.offer('a', 1);
    await clock.advance(10_000);
    // random() = 0.5 → half of min(500, 100·2^(n−1))
    expect(retries).toEqual([50, 100, 200, 250, 250]);
    expect(exporter.calls.map((c) => c.at)).toEqual([200, 250, 350, 550, 800, 1050]);
    expect(batcher.stats()).toMatchObject({ sentBatches: 1, sentWeight: 1 });
  });

  it('waits at least the retry hint', async () => {
    const { clock, exporter, batcher } = setup({}, [unavailable(3), 'ok']);
    batcher.offer('a', 1);
    await clock.advance(10_000);
    expect(exporter.calls.map((c) => c.at)).toEqual([200, 3200]);
  });

  it('gives up after maxElapsedMs and counts the drop as export-failed', async () => {
    const err = unavailable();
    const { clock, exporter, batcher, drops } = setup({ retry: { initialBackoffMs: 1000, maxBackoffMs: 1000, maxElapsedMs: 2000 } }, Array.from({ length: 10 }, () => err));
    batcher.offer('a', 1, 7);
    await clock.advance(60_000);
    expect(exporter.calls.map((c) => c.at)).toEqual([200, 700, 1200, 1700, 2200]);
    expect(drops).toEqual([['export-failed', 7, 1]]);
  });

  const nonRetryable: [string, unknown][] = [
    ['a non-retryable SkeinError', new SkeinError('PAYLOAD_TOO_LARGE', 'too big')],
    ['a plain Error', new Error('boom')],
    ['a thrown string', 'boom'],
  ];
  it.each(nonRetryable)('drops at once on %s (export-rejected)', async (_name, error) => {
    const { clock, exporter, batcher, drops } = setup({}, [error as Error]);
    batcher.offer('a', 1, 2);
    await clock.advance(10_000);
    expect(exporter.calls).toHaveLength(1);
    expect(drops).toEqual([['export-rejected', 2, 1]]);
  });

  it('a retrying batch holds its slot; later batches wait behind it', async () => {
    const err = unavailable();
    const { clock, exporter, batcher } = setup({}, [err, 'ok', 'ok']);
    batcher.offer('a', 100);
    batcher.offer('b', 100);
    await clock.advance(0);
    expect(exporter.calls.map((c) => c.items)).toEqual([['a']]);
    await clock.advance(1000);
    expect(exporter.sent).toEqual([['a'], ['b']]);
  });

  const classifications: [string, unknown, unknown][] = [
    ['retryable SkeinError', new SkeinError('HEAD_FULL', 'full'), { retryable: true }],
    ['with retry hint', new SkeinError('HEAD_FULL', 'full', { retryAfterSeconds: 2 }), { retryable: true, retryAfterMs: 2000 }],
    ['non-retryable SkeinError', new SkeinError('BAD_PAYLOAD', 'bad'), { retryable: false }],
    ['other errors', new TypeError('x'), { retryable: false }],
  ];
  it.each(classifications)('classifyExportError: %s', (_name, error, expected) => {
    expect(classifyExportError(error)).toEqual(expected);
  });
});

describe('flush and stop', () => {
  it('flush sends partial batches at once and resolves when idle', async () => {
    const { exporter, batcher } = setup({}, okForever);
    batcher.offer('a', 1);
    batcher.offer('b', 1);
    await batcher.flush();
    expect(exporter.sent).toEqual([['a', 'b']]);
  });

  it('stop flushes without waiting for the delay and refuses later offers', async () => {
    const { exporter, batcher, drops } = setup({}, okForever);
    batcher.offer('a', 1);
    await batcher.stop();
    expect(exporter.sent).toEqual([['a']]);
    expect(batcher.offer('b', 1, 3)).toEqual({ kind: 'dropped', reason: 'closed' });
    expect(drops).toEqual([['closed', 3, 1]]);
    await batcher.stop(); // idempotent
  });

  it('stop waits for retries, up to its deadline, then drops what is left as shutdown', async () => {
    const err = unavailable();
    const { clock, exporter, batcher, drops } = setup({ maxQueueBytes: 1000 }, Array.from({ length: 20 }, () => err));
    batcher.offer('a', 100, 1);
    batcher.offer('b', 100, 2);
    batcher.offer('c', 100, 4);
    const deadline = new AbortController();
    let stopped = false;
    const stopping = batcher.stop(deadline.signal).then(() => (stopped = true));
    await clock.advance(300); // 'a' is retrying, 'b' and 'c' queued behind it
    expect([stopped, exporter.calls.length > 1]).toEqual([false, true]);
    deadline.abort();
    await stopping;
    expect(drops.map(([reason, weight]) => [reason, weight])).toEqual([
      ['shutdown', 6],
      ['shutdown', 1],
    ]);
    expect(batcher.stats()).toMatchObject({ queuedItems: 0, inFlightBatches: 0, dropped: { shutdown: 7 } });
  });

  it('aborting the deadline aborts the in-flight send', async () => {
    const { clock, exporter, batcher, drops } = setup();
    batcher.offer('a', 1, 5);
    await clock.advance(200);
    const deadline = new AbortController();
    const stopping = batcher.stop(deadline.signal);
    deadline.abort();
    await stopping;
    expect(exporter.calls[0]!.signal.aborted).toBe(true);
    expect(drops).toEqual([['shutdown', 5, 1]]);
  });

  it('an already aborted signal gives up at once', async () => {
    const { batcher, drops } = setup();
    batcher.offer('a', 1, 2);
    await batcher.stop(AbortSignal.abort());
    expect(drops).toEqual([['shutdown', 2, 1]]);
  });
});

describe('accounting (property)', () => {
  it('every offered span ends sent or dropped, whatever the exporter does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ bytes: fc.integer({ min: 1, max: 120 }), weight: fc.integer({ min: 1, max: 9 }), gap: fc.nat({ max: 300 }) }), { maxLength: 30 }),
        fc.array(fc.constantFrom<'ok' | 'retry' | 'hint' | 'reject'>('ok', 'retry', 'hint', 'reject'), { maxLength: 60 }),
        fc.integer({ min: 1, max: 3 }),
        async (offers, outcomes, maxConcurrency) => {
          const script = outcomes.map((o) => (o === 'ok' ? ('ok' as const) : o === 'retry' ? unavailable() : o === 'hint' ? unavailable(1) : new SkeinError('BAD_PAYLOAD', 'bad')));
          const { clock, exporter, batcher } = setup({ maxConcurrency, maxQueueBytes: 300, maxItemBytes: 110, retry: { initialBackoffMs: 50, maxBackoffMs: 400, maxElapsedMs: 1500 } }, [...script, ...okForever]);
          let offered = 0;
          for (const o of offers) {
            batcher.offer('x', o.bytes, o.weight);
            offered += o.weight;
            await clock.advance(o.gap);
            const s = batcher.stats();
            expect(s.queuedBytes).toBeLessThanOrEqual(300);
            expect(s.inFlightBatches).toBeLessThanOrEqual(maxConcurrency);
          }
          await clock.advance(10_000);
          await batcher.stop();
          const s = batcher.stats();
          const droppedWeight = Object.values(s.dropped).reduce((a, b) => a + b, 0);
          expect(s.sentWeight + droppedWeight).toBe(offered);
          expect(exporter.pending).toBe(0);
        },
      ),
      { seed: 23, numRuns: 60 },
    );
  });
});
