// A key-only work queue with client-go workqueue semantics (STYLE.md rule 2: the queue holds keys,
// never events). The invariants, as in k8s.io/client-go/util/workqueue:
//   - a key waits in the queue at most once (`dirty`), however often it is added;
//   - a key is handed to at most one worker at a time (`processing`); adding it meanwhile marks it
//     dirty, and done() puts it back, so the newest state is always reconciled after the change;
//   - delayed adds (addAfter, addRateLimited) keep only the earliest due time per key;
//   - per-key failures grow the retry delay exponentially until forget().
// One timer serves all delayed keys (the earliest due), so shutDown leaves nothing behind.

export interface QueueClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface WorkQueueOptions {
  /** First retry delay of addRateLimited. Default 50 ms. */
  baseDelayMs?: number;
  /** Longest retry delay of addRateLimited. Default 60 s. */
  maxDelayMs?: number;
  clock?: QueueClock;
  /** Uniform [0, 1) source for retry jitter; default Math.random. */
  random?: () => number;
}

export interface WorkQueue {
  /** Queues `key` unless it is already waiting; a key being processed is queued again after done(). */
  add(key: string): void;
  /** Adds `key` after `delayMs`; an earlier pending due time for the key wins. */
  addAfter(key: string, delayMs: number): void;
  /** Adds `key` after its backoff: base · 2^failures, capped at max, up to 10% shorter (jitter). */
  addRateLimited(key: string): void;
  /** Resets the key's failure count (after a success). */
  forget(key: string): void;
  failures(key: string): number;
  /** Waits for a key; undefined once shut down or when `signal` aborts. Call done(key) after. */
  get(signal: AbortSignal): Promise<string | undefined>;
  done(key: string): void;
  /** Wakes every waiter with undefined, drops waiting keys and cancels timers; later adds are ignored. */
  shutDown(): void;
  /** Keys ready to be handed out (not counting delayed or in-process keys). */
  readonly length: number;
}

const DEFAULTS = { baseDelayMs: 50, maxDelayMs: 60_000 } as const;
// Spreads the retries of keys that failed together (one apiserver outage fails them all at once).
const JITTER = 0.1;

const systemClock: QueueClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

interface Waiter {
  resolve(key: string | undefined): void;
}

interface Delayed {
  readonly at: number;
  readonly seq: number;
}

export function createWorkQueue(options: WorkQueueOptions = {}): WorkQueue {
  const baseDelayMs = options.baseDelayMs ?? DEFAULTS.baseDelayMs;
  const maxDelayMs = options.maxDelayMs ?? DEFAULTS.maxDelayMs;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;

  const queue: string[] = [];
  const dirty = new Set<string>();
  const processing = new Set<string>();
  const waiters: Waiter[] = [];
  const delayed = new Map<string, Delayed>();
  const failureCounts = new Map<string, number>();
  let seq = 0;
  let timer: { handle: unknown; at: number } | undefined;
  let shuttingDown = false;

  // Hands keys to waiters synchronously, so no key is ever between the queue and a worker.
  const dispatch = (): void => {
    while (waiters.length > 0 && queue.length > 0) {
      const key = queue.shift()!;
      dirty.delete(key);
      processing.add(key);
      waiters.shift()!.resolve(key);
    }
  };

  const add = (key: string): void => {
    if (shuttingDown || dirty.has(key)) return;
    dirty.add(key);
    if (processing.has(key)) return;
    queue.push(key);
    dispatch();
  };

  const fireDue = (): void => {
    timer = undefined;
    const now = clock.now();
    const due = [...delayed].filter(([, d]) => d.at <= now).sort(([, a], [, b]) => a.at - b.at || a.seq - b.seq);
    for (const [key] of due) {
      delayed.delete(key);
      add(key);
    }
    arm();
  };

  const arm = (): void => {
    if (shuttingDown) return;
    let next: number | undefined;
    for (const d of delayed.values()) if (next === undefined || d.at < next) next = d.at;
    if (timer !== undefined && timer.at === next) return;
    if (timer !== undefined) clock.clearTimeout(timer.handle);
    timer = next === undefined ? undefined : { at: next, handle: clock.setTimeout(fireDue, Math.max(0, next - clock.now())) };
  };

  const addAfter = (key: string, delayMs: number): void => {
    if (shuttingDown) return;
    if (delayMs <= 0) {
      add(key);
      return;
    }
    const at = clock.now() + delayMs;
    const existing = delayed.get(key);
    if (existing !== undefined && existing.at <= at) return;
    delayed.set(key, { at, seq: seq++ });
    arm();
  };

  return {
    add,
    addAfter,
    addRateLimited(key) {
      const n = failureCounts.get(key) ?? 0;
      failureCounts.set(key, n + 1);
      // 2^n overflows to Infinity long before n is large; min() caps it either way.
      const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** n);
      addAfter(key, delay * (1 - JITTER * random()));
    },
    forget(key) {
      failureCounts.delete(key);
    },
    failures(key) {
      return failureCounts.get(key) ?? 0;
    },
    get(signal) {
      if (shuttingDown || signal.aborted) return Promise.resolve(undefined);
      if (queue.length > 0) {
        const key = queue.shift()!;
        dirty.delete(key);
        processing.add(key);
        return Promise.resolve(key);
      }
      return new Promise((resolve) => {
        const onAbort = (): void => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          resolve(undefined);
        };
        const waiter: Waiter = {
          resolve: (key) => {
            signal.removeEventListener('abort', onAbort);
            resolve(key);
          },
        };
        waiters.push(waiter);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
    done(key) {
      if (!processing.delete(key)) return;
      if (dirty.has(key) && !shuttingDown) {
        queue.push(key);
        dispatch();
      }
    },
    shutDown() {
      shuttingDown = true;
      if (timer !== undefined) clock.clearTimeout(timer.handle);
      timer = undefined;
      delayed.clear();
      queue.length = 0;
      dirty.clear();
      for (const w of waiters.splice(0)) w.resolve(undefined);
    },
    get length() {
      return queue.length;
    },
  };
}

export interface RunWorkersOptions {
  queue: WorkQueue;
  /** Keys reconciled at once (distinct keys: the queue never hands one key to two workers). */
  workers: number;
  reconcile: (key: string, signal: AbortSignal) => Promise<{ requeueAfterMs?: number }>;
  /** Told about each failed reconcile after the key was scheduled for a retry. */
  onError: (key: string, err: unknown) => void;
  signal: AbortSignal;
}

/**
 * Runs `workers` loops over the queue until `signal` aborts; resolves once every worker has finished
 * the key it holds. A success forgets the key's failures (and re-adds it after requeueAfterMs when
 * asked); a failure re-adds it with backoff. If onError throws, the remaining workers still stop
 * cleanly first and the promise then rejects with that error.
 */
export async function runWorkers(options: RunWorkersOptions): Promise<void> {
  const { queue, reconcile, onError, signal } = options;
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get(signal);
      if (key === undefined) return;
      try {
        const result = await reconcile(key, signal);
        queue.forget(key);
        if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        queue.addRateLimited(key);
        onError(key, err);
      } finally {
        queue.done(key);
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.max(1, options.workers) }, worker));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
