// The work queue's client-go semantics on a fake clock: dedup, one worker per key, re-add during
// processing, backoff growth and cap, forget, delayed ordering, shutdown, and runWorkers' draining.
import { describe, expect, it } from 'vitest';
import { createWorkQueue, runWorkers, type QueueClock, type WorkQueue } from './queue.js';

class FakeClock implements QueueClock {
  #now = 0;
  #seq = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#seq++;
    this.timers.set(id, { at: this.#now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = [...this.timers].filter(([, t]) => t.at <= target).sort(([, a], [, b]) => a.at - b.at)[0];
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = target;
  }
}

const never = new AbortController().signal;

function setup(options: { random?: () => number } = {}): { clock: FakeClock; queue: WorkQueue } {
  const clock = new FakeClock();
  return { clock, queue: createWorkQueue({ clock, baseDelayMs: 50, maxDelayMs: 1000, random: options.random ?? (() => 0) }) };
}

/** Every key currently ready, in order, each marked done. */
async function drain(queue: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (queue.length > 0) {
    const key = (await queue.get(never))!;
    out.push(key);
    queue.done(key);
  }
  return out;
}

/** Resolves on the next macrotask, so a pending get() shows whether it settled. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('WorkQueue', () => {
  it('queues a key at most once, in first-add order', async () => {
    const { queue } = setup();
    for (const k of ['a', 'b', 'a', 'c', 'b']) queue.add(k);
    expect(queue.length).toBe(3);
    expect(await drain(queue)).toEqual(['a', 'b', 'c']);
  });

  it('never hands out a key that is being processed, and re-queues it after done when re-added', async () => {
    const { queue } = setup();
    queue.add('a');
    const first = await queue.get(never);
    expect(first).toBe('a');
    queue.add('a');
    queue.add('a');
    expect(queue.length).toBe(0);
    let second: string | undefined;
    void queue.get(never).then((k) => (second = k));
    await tick();
    expect(second).toBeUndefined();
    queue.done('a');
    await tick();
    expect(second).toBe('a');
    queue.done('a');
    expect(queue.length).toBe(0);
  });

  it('does not re-queue a processed key that was not re-added', async () => {
    const { queue } = setup();
    queue.add('a');
    queue.done((await queue.get(never))!);
    expect(queue.length).toBe(0);
  });

  it('wakes a waiting get when a key arrives', async () => {
    const { queue } = setup();
    const pending = queue.get(never);
    queue.add('x');
    expect(await pending).toBe('x');
  });

  it('grows the backoff per key, caps it, and forget resets it', () => {
    const { clock, queue } = setup();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      queue.addRateLimited('a');
      const [timer] = [...clock.timers.values()];
      delays.push(timer!.at - clock.now());
      clock.advance(timer!.at - clock.now());
      expect(queue.length).toBe(1);
      const key = 'a';
      // Take and finish the key without awaiting: the queue is synchronous underneath.
      void queue.get(never);
      queue.done(key);
    }
    expect(delays).toEqual([50, 100, 200, 400, 800, 1000, 1000]);
    expect(queue.failures('a')).toBe(7);
    expect(queue.failures('b')).toBe(0);
    queue.forget('a');
    expect(queue.failures('a')).toBe(0);
    queue.addRateLimited('a');
    expect([...clock.timers.values()][0]!.at - clock.now()).toBe(50);
  });

  it('jitters a retry by at most 10%, never above the cap', () => {
    const { clock, queue } = setup({ random: () => 0.999 });
    for (let i = 0; i < 10; i++) {
      queue.addRateLimited('a');
      const delay = [...clock.timers.values()][0]!.at - clock.now();
      const full = Math.min(1000, 50 * 2 ** i);
      expect(delay).toBeGreaterThan(full * 0.9);
      expect(delay).toBeLessThan(full);
      clock.advance(delay);
      void queue.get(never);
      queue.done('a');
    }
  });

  it('releases delayed keys in due order, keeping the earliest due time per key', async () => {
    const { clock, queue } = setup();
    queue.addAfter('late', 300);
    queue.addAfter('early', 100);
    queue.addAfter('mid', 200);
    queue.addAfter('late', 50); // earlier wins
    queue.addAfter('early', 500); // later is ignored
    queue.addAfter('now', 0);
    expect(await drain(queue)).toEqual(['now']);
    clock.advance(99);
    expect(await drain(queue)).toEqual(['late']);
    clock.advance(1);
    expect(await drain(queue)).toEqual(['early']);
    clock.advance(1000);
    expect(await drain(queue)).toEqual(['mid']);
    expect(clock.timers.size).toBe(0);
  });

  it('delivers keys due at the same time in the order they were scheduled', async () => {
    const { clock, queue } = setup();
    for (const k of ['c', 'a', 'b']) queue.addAfter(k, 10);
    clock.advance(10);
    expect(await drain(queue)).toEqual(['c', 'a', 'b']);
  });

  it('a delayed key that comes due while it is processed runs again after done', async () => {
    const { clock, queue } = setup();
    queue.add('a');
    const key = (await queue.get(never))!;
    queue.addAfter('a', 10);
    clock.advance(10);
    expect(queue.length).toBe(0);
    queue.done(key);
    expect(await drain(queue)).toEqual(['a']);
  });

  it('get returns undefined when its signal aborts, and the key goes to the next waiter', async () => {
    const { queue } = setup();
    const ac = new AbortController();
    const aborted = queue.get(ac.signal);
    const other = queue.get(never);
    ac.abort();
    expect(await aborted).toBeUndefined();
    queue.add('k');
    expect(await other).toBe('k');
    expect(await queue.get(ac.signal)).toBeUndefined();
  });

  it('shutDown releases every waiter, cancels timers and ignores later adds', async () => {
    const { clock, queue } = setup();
    const waiters = [queue.get(never), queue.get(never)];
    queue.addAfter('a', 100);
    queue.addRateLimited('b');
    expect(clock.timers.size).toBe(1);
    queue.shutDown();
    expect(await Promise.all(waiters)).toEqual([undefined, undefined]);
    expect(clock.timers.size).toBe(0);
    queue.add('c');
    queue.addAfter('d', 10);
    expect(queue.length).toBe(0);
    expect(clock.timers.size).toBe(0);
    expect(await queue.get(never)).toBeUndefined();
  });
});

describe('runWorkers', () => {
  /** A reconcile whose calls the test finishes by hand. */
  function manualReconcile() {
    const calls: { key: string; finish(result?: { requeueAfterMs?: number }): void; fail(err: Error): void }[] = [];
    let active = 0;
    let maxActivePerKey = 0;
    const activeByKey = new Map<string, number>();
    const reconcile = (key: string): Promise<{ requeueAfterMs?: number }> => {
      active++;
      activeByKey.set(key, (activeByKey.get(key) ?? 0) + 1);
      maxActivePerKey = Math.max(maxActivePerKey, activeByKey.get(key)!);
      return new Promise((resolve, reject) => {
        const end = () => {
          active--;
          activeByKey.set(key, activeByKey.get(key)! - 1);
        };
        calls.push({
          key,
          finish: (r = {}) => {
            end();
            resolve(r);
          },
          fail: (err) => {
            end();
            reject(err);
          },
        });
      });
    };
    return { calls, reconcile, active: () => active, maxActivePerKey: () => maxActivePerKey };
  }

  it('processes distinct keys in parallel, one key never twice at once, and re-runs a key changed meanwhile', async () => {
    const { queue } = setup();
    const m = manualReconcile();
    const ac = new AbortController();
    const run = runWorkers({ queue, workers: 3, reconcile: m.reconcile, onError: () => {}, signal: ac.signal });
    queue.add('a');
    queue.add('b');
    await tick();
    expect(m.calls.map((c) => c.key)).toEqual(['a', 'b']);
    queue.add('a'); // changed while processed
    await tick();
    expect(m.calls).toHaveLength(2);
    m.calls[0]!.finish();
    await tick();
    expect(m.calls.map((c) => c.key)).toEqual(['a', 'b', 'a']);
    m.calls[1]!.finish();
    m.calls[2]!.finish();
    ac.abort();
    await run;
    expect(m.maxActivePerKey()).toBe(1);
  });

  it('retries a failure with backoff, reports it, and forgets the failures after a success', async () => {
    const { clock, queue } = setup();
    const m = manualReconcile();
    const errors: [string, unknown][] = [];
    const ac = new AbortController();
    const run = runWorkers({ queue, workers: 1, reconcile: m.reconcile, onError: (k, e) => errors.push([k, e]), signal: ac.signal });
    queue.add('a');
    await tick();
    const boom = new Error('boom');
    m.calls[0]!.fail(boom);
    await tick();
    expect(errors).toEqual([['a', boom]]);
    expect(queue.failures('a')).toBe(1);
    expect(m.calls).toHaveLength(1);
    clock.advance(50);
    await tick();
    expect(m.calls).toHaveLength(2);
    m.calls[1]!.finish({ requeueAfterMs: 30_000 });
    await tick();
    expect(queue.failures('a')).toBe(0);
    clock.advance(29_999);
    await tick();
    expect(m.calls).toHaveLength(2);
    clock.advance(1);
    await tick();
    expect(m.calls).toHaveLength(3);
    m.calls[2]!.finish();
    ac.abort();
    await run;
  });

  it('on abort, waits for the keys in hand and then resolves', async () => {
    const { queue } = setup();
    const m = manualReconcile();
    const ac = new AbortController();
    let stopped = false;
    const run = runWorkers({ queue, workers: 2, reconcile: m.reconcile, onError: () => {}, signal: ac.signal }).then(() => (stopped = true));
    queue.add('a');
    queue.add('b');
    queue.add('c');
    await tick();
    ac.abort();
    await tick();
    expect(stopped).toBe(false);
    expect(m.active()).toBe(2);
    m.calls[0]!.finish();
    m.calls[1]!.finish();
    await run;
    expect(stopped).toBe(true);
    // 'c' was never started: a stopped worker takes no new key.
    expect(m.calls.map((c) => c.key)).toEqual(['a', 'b']);
  });

  it('stops when the queue shuts down', async () => {
    const { queue } = setup();
    const run = runWorkers({ queue, workers: 4, reconcile: () => Promise.resolve({}), onError: () => {}, signal: never });
    queue.shutDown();
    await expect(run).resolves.toBeUndefined();
  });

  it('rejects with the error onError threw, after the other workers stopped', async () => {
    const { queue } = setup();
    const m = manualReconcile();
    const ac = new AbortController();
    const bad = new Error('onError bug');
    const run = runWorkers({
      queue,
      workers: 2,
      reconcile: m.reconcile,
      onError: () => {
        throw bad;
      },
      signal: ac.signal,
    });
    const settled = run.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    queue.add('a');
    queue.add('b');
    await tick();
    m.calls[0]!.fail(new Error('x'));
    await tick();
    ac.abort();
    await tick();
    expect(m.active()).toBe(1);
    m.calls[1]!.finish();
    expect(await settled).toBe(bad);
  });
});
