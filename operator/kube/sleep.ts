// Abortable waiting for the kube/ loops: a sleep that ends early (resolving, not rejecting) when the
// signal aborts and leaves no timer behind either way.

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}

export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Exponential back-off with "equal jitter": attempt 1 waits initialMs·[0.5, 1), doubling up to maxMs. */
export function backoffDelay(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + (random() * ceiling) / 2;
}
