// The querier asks every cluster member and must answer within its query timeout whatever the
// slowest member does: a member that misses the deadline becomes a recorded failure (the answer is
// then partial), and whatever it sends later is ignored. Tempo's querier and Jaeger's query service
// handle slow backends the same way.
import { SkeinError } from '../../common/errors/index.js';

export interface FanOutOptions {
  /** Time the whole fan-out may take, ms (> 0). Targets without an answer by then are failures. */
  readonly deadlineMs: number;
  /** Aborting it cancels every call and rejects the fan-out with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Most calls in flight at once (≥ 1); all at once when absent. */
  readonly concurrency?: number;
}

export interface FanOutResult<T> {
  /** Answers that arrived before the deadline, by target. */
  readonly results: Map<string, T>;
  /** Targets that failed, with why: the call's own error, or a deadline error for those in `timedOut`. */
  readonly failures: Map<string, Error>;
  /** Targets that did not answer (or were never called, under `concurrency`) before the deadline; each also in `failures`. */
  readonly timedOut: ReadonlySet<string>;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new SkeinError('UNAVAILABLE', 'fan-out cancelled');
}

/**
 * Calls `call(target, signal)` for every distinct target. Resolves when every call settled or at
 * the deadline, whichever comes first; never rejects because of a target (failures are data).
 * Rejects only when `options.signal` aborts (before or during), with its reason. Every call's
 * signal aborts at the deadline, on the caller's abort, and once the fan-out has resolved, so a
 * call that honours it stops doing work nobody will read.
 */
export function fanOut<T>(
  targets: readonly string[],
  call: (target: string, signal: AbortSignal) => Promise<T>,
  options: FanOutOptions,
): Promise<FanOutResult<T>> {
  const { deadlineMs, signal: parent } = options;
  if (!(deadlineMs > 0)) throw new RangeError(`deadlineMs must be > 0, got ${deadlineMs}`);
  const concurrency = options.concurrency ?? Infinity;
  if (!(concurrency >= 1)) throw new RangeError(`concurrency must be ≥ 1, got ${concurrency}`);
  if (parent?.aborted) return Promise.reject(abortReason(parent));

  const unique = [...new Set(targets)];
  const results = new Map<string, T>();
  const failures = new Map<string, Error>();
  const timedOut = new Set<string>();
  const calls = new AbortController();

  return new Promise<FanOutResult<T>>((resolve, reject) => {
    let done = false;
    let next = 0;
    let pending = unique.length;

    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    };

    const onDeadline = (): void => {
      if (done) return;
      const error = new SkeinError('UNAVAILABLE', `no answer within ${deadlineMs} ms`);
      // Everything not yet settled — in flight or never started — missed the deadline.
      for (const target of unique) {
        if (!results.has(target) && !failures.has(target)) {
          failures.set(target, error);
          timedOut.add(target);
        }
      }
      finish();
      calls.abort(error);
      resolve({ results, failures, timedOut });
    };

    const onParentAbort = (): void => {
      if (done) return;
      finish();
      const reason = abortReason(parent!);
      calls.abort(reason);
      reject(reason);
    };

    const settle = (): void => {
      pending--;
      if (pending === 0 && !done) {
        finish();
        // Nothing reads the signal after this, but a call may still hold resources tied to it.
        calls.abort(new SkeinError('UNAVAILABLE', 'fan-out finished'));
        resolve({ results, failures, timedOut });
      } else {
        startNext();
      }
    };

    const start = (target: string): void => {
      let promise: Promise<T>;
      try {
        promise = call(target, calls.signal);
      } catch (e) {
        // A synchronous throw is that target's failure, not the fan-out's.
        failures.set(target, asError(e));
        settle();
        return;
      }
      promise.then(
        (value) => {
          if (done) return; // late: the deadline already counted it as missing
          results.set(target, value);
          settle();
        },
        (e: unknown) => {
          if (done) return;
          failures.set(target, asError(e));
          settle();
        },
      );
    };

    const startNext = (): void => {
      if (done || next >= unique.length) return;
      start(unique[next++]!);
    };

    const timer = setTimeout(onDeadline, deadlineMs);
    parent?.addEventListener('abort', onParentAbort, { once: true });

    if (unique.length === 0) {
      finish();
      resolve({ results, failures, timedOut });
      return;
    }
    const initial = Math.min(concurrency, unique.length);
    for (let i = 0; i < initial && !done; i++) startNext();
  });
}
