import { describe, it, expect, vi, afterEach } from 'vitest';
import { SkeinError } from '../../common/errors/index.js';
import { fanOut } from './index.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A call whose outcome the test decides later. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('fanOut', () => {
  it('collects every answer and every failure by target', async () => {
    const out = await fanOut(
      ['a', 'b', 'c'],
      (t) => (t === 'b' ? Promise.reject(new SkeinError('UNAVAILABLE', 'b is down')) : Promise.resolve(t.toUpperCase())),
      { deadlineMs: 1000 },
    );
    expect([...out.results]).toEqual([
      ['a', 'A'],
      ['c', 'C'],
    ]);
    expect([...out.failures.keys()]).toEqual(['b']);
    expect(out.failures.get('b')?.message).toBe('b is down');
    expect(out.timedOut.size).toBe(0);
  });

  it('a synchronous throw and a non-Error rejection are failures of that target', async () => {
    const out = await fanOut(
      ['sync', 'weird', 'ok'],
      (t) => {
        if (t === 'sync') throw new Error('boom');
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- on purpose: a client that rejects with a non-Error
        if (t === 'weird') return Promise.reject('plain string');
        return Promise.resolve(1);
      },
      { deadlineMs: 1000 },
    );
    expect(out.results.get('ok')).toBe(1);
    expect(out.failures.get('sync')?.message).toBe('boom');
    expect(out.failures.get('weird')).toBeInstanceOf(Error);
    expect(out.failures.get('weird')?.message).toBe('plain string');
  });

  it('calls each distinct target once', async () => {
    const called: string[] = [];
    const out = await fanOut(
      ['a', 'b', 'a'],
      (t) => {
        called.push(t);
        return Promise.resolve(t);
      },
      { deadlineMs: 1000 },
    );
    expect(called.sort()).toEqual(['a', 'b']);
    expect(out.results.size).toBe(2);
  });

  it('no targets → empty result at once', async () => {
    const out = await fanOut([], () => Promise.resolve(1), { deadlineMs: 1000 });
    expect(out.results.size + out.failures.size).toBe(0);
  });

  it('at the deadline: slow targets become timed-out failures, their signal aborts, late answers are ignored', async () => {
    vi.useFakeTimers();
    const slow = deferred<string>();
    let slowSignal: AbortSignal | undefined;
    const promise = fanOut(
      ['fast', 'slow'],
      (t, signal) => {
        if (t === 'fast') return Promise.resolve('F');
        slowSignal = signal;
        return slow.promise;
      },
      { deadlineMs: 500 },
    );
    await vi.advanceTimersByTimeAsync(499);
    expect(slowSignal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const out = await promise;
    expect(out.results.get('fast')).toBe('F');
    expect(out.results.has('slow')).toBe(false);
    expect([...out.timedOut]).toEqual(['slow']);
    const failure = out.failures.get('slow');
    expect(failure).toBeInstanceOf(SkeinError);
    expect((failure as SkeinError).code).toBe('UNAVAILABLE');
    expect(failure?.message).toContain('500 ms');
    expect(slowSignal?.aborted).toBe(true);

    slow.resolve('too late');
    await vi.advanceTimersByTimeAsync(0);
    expect(out.results.has('slow')).toBe(false);
  });

  it('a late rejection after the deadline is swallowed (no unhandled rejection) and not recorded twice', async () => {
    vi.useFakeTimers();
    const slow = deferred<string>();
    const promise = fanOut(['slow'], () => slow.promise, { deadlineMs: 100 });
    await vi.advanceTimersByTimeAsync(100);
    const out = await promise;
    slow.reject(new Error('late failure'));
    await vi.advanceTimersByTimeAsync(0);
    expect(out.failures.get('slow')?.message).toContain('100 ms');
  });

  it('the caller aborting cancels every call and rejects with its reason', async () => {
    const parent = new AbortController();
    const signals: AbortSignal[] = [];
    const promise = fanOut(
      ['a', 'b'],
      (_t, signal) => {
        signals.push(signal);
        return new Promise<never>(() => {});
      },
      { deadlineMs: 60_000, signal: parent.signal },
    );
    const reason = new SkeinError('UNAVAILABLE', 'querier is stopping');
    parent.abort(reason);
    await expect(promise).rejects.toBe(reason);
    expect(signals).toHaveLength(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('an already aborted signal rejects without calling anyone', async () => {
    const parent = new AbortController();
    parent.abort(new Error('gone'));
    const call = vi.fn(() => Promise.resolve(1));
    await expect(fanOut(['a'], call, { deadlineMs: 100, signal: parent.signal })).rejects.toThrow('gone');
    expect(call).not.toHaveBeenCalled();
  });

  it('a non-Error abort reason becomes an UNAVAILABLE SkeinError', async () => {
    const parent = new AbortController();
    const promise = fanOut(['a'], () => new Promise<never>(() => {}), { deadlineMs: 60_000, signal: parent.signal });
    parent.abort('bye');
    await expect(promise).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('concurrency bounds calls in flight; targets never started by the deadline are timed out uncalled', async () => {
    vi.useFakeTimers();
    const gates = new Map<string, ReturnType<typeof deferred<string>>>();
    let inFlight = 0;
    let maxInFlight = 0;
    const promise = fanOut(
      ['a', 'b', 'c', 'd', 'e'],
      (t) => {
        const d = deferred<string>();
        gates.set(t, d);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return d.promise.finally(() => inFlight--);
      },
      { deadlineMs: 1000, concurrency: 2 },
    );
    expect([...gates.keys()]).toEqual(['a', 'b']);
    gates.get('a')!.resolve('A');
    await vi.advanceTimersByTimeAsync(0);
    expect([...gates.keys()]).toEqual(['a', 'b', 'c']);
    gates.get('c')!.reject(new Error('c failed'));
    await vi.advanceTimersByTimeAsync(0);
    expect([...gates.keys()]).toEqual(['a', 'b', 'c', 'd']);
    await vi.advanceTimersByTimeAsync(1000);
    const out = await promise;
    expect(maxInFlight).toBe(2);
    expect([...out.results.keys()]).toEqual(['a']);
    expect(out.failures.get('c')?.message).toBe('c failed');
    expect([...out.timedOut].sort()).toEqual(['b', 'd', 'e']);
    expect(gates.has('e')).toBe(false);
  });

  it('when every call settled early, the signal is aborted and the deadline timer is cleared', async () => {
    vi.useFakeTimers();
    let seen: AbortSignal | undefined;
    const out = await fanOut(
      ['a'],
      (_t, signal) => {
        seen = signal;
        return Promise.resolve(1);
      },
      { deadlineMs: 1000 },
    );
    expect(out.results.get('a')).toBe(1);
    expect(seen?.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects bad options', () => {
    expect(() => fanOut(['a'], () => Promise.resolve(1), { deadlineMs: 0 })).toThrow(RangeError);
    expect(() => fanOut(['a'], () => Promise.resolve(1), { deadlineMs: 10, concurrency: 0 })).toThrow(RangeError);
  });
});
