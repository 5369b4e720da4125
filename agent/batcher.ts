// The agent's export loop: buffers what the receivers offer in a bounded ByteQueue, cuts batches by
// size (bytes and weight, i.e. spans) or age (maxDelayMs), and hands them to an async `send` with
// at most maxConcurrency batches in flight. Offers never wait: when the queue is full they are
// dropped and counted, and the receivers answer the app at once either way.
//
// Retries (retryable errors only): exponential backoff with full jitter — before attempt n+1 wait
// random() · min(maxBackoffMs, initialBackoffMs · 2^(n−1)), but at least the server's retry hint
// (SkeinError.retryAfterSeconds, from gRPC RetryInfo / HTTP Retry-After). A batch that would
// still be retrying after maxElapsedMs since its first attempt is dropped ('export-failed'); a
// non-retryable error drops it at once ('export-rejected'). A batch waiting to retry keeps its
// concurrency slot, so a failing endpoint is not hammered by the batches queued behind it; those
// wait in the queue, and new data is dropped when the queue fills.
//
// Owner loop (STYLE.md rule 8): timers run on the injected clock; every send promise is tracked and
// never rejects; stop(signal) closes the queue, sends what is left without waiting for the delay,
// and when `signal` aborts gives up: in-flight sends see their AbortSignal abort, waiting retries
// wake, and everything not yet sent is dropped ('shutdown'). Drops are counted by weight.
import type { Clock } from '../common/coord/index.js';
import { isSkeinError } from '../common/errors/index.js';
import { createByteQueue, type OfferResult, type QueueDropReason, type Taken } from './byte-queue.js';

export type BatchDropReason = QueueDropReason | 'export-failed' | 'export-rejected' | 'shutdown';

export const BATCH_DROP_REASONS: readonly BatchDropReason[] = ['queue-full', 'too-large', 'closed', 'export-failed', 'export-rejected', 'shutdown'];

export interface RetryDecision {
  readonly retryable: boolean;
  /** The server's hint: wait at least this long before the next attempt. */
  readonly retryAfterMs?: number;
}

/**
 * Default classification: a SkeinError's own retryable flag and retryAfterSeconds; anything else is
 * not retryable, so exporters must map transport failures to SkeinError codes (UNAVAILABLE for an
 * unreachable endpoint or a deadline, HEAD_FULL for RESOURCE_EXHAUSTED, …).
 */
export function classifyExportError(error: unknown): RetryDecision {
  if (!isSkeinError(error)) return { retryable: false };
  return error.retryAfterSeconds === undefined ? { retryable: error.retryable } : { retryable: error.retryable, retryAfterMs: error.retryAfterSeconds * 1000 };
}

export interface RetryPolicy {
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Longest time from a batch's first attempt to its last. */
  readonly maxElapsedMs: number;
}

export interface BatcherOptions<T> {
  readonly clock: Clock;
  /** Uniform in [0, 1): the jitter source (Math.random in production). */
  readonly random: () => number;
  /** Exports one batch; must settle soon after `signal` aborts. Throws SkeinError on failure. */
  readonly send: (items: readonly T[], signal: AbortSignal) => Promise<void>;
  readonly maxQueueBytes: number;
  readonly maxQueueItems?: number;
  /** Largest single entry accepted (default: maxQueueBytes). */
  readonly maxItemBytes?: number;
  readonly maxBatchBytes: number;
  /** Most weight (spans) per batch. */
  readonly maxBatchWeight: number;
  /** Longest an entry waits for its batch to fill before the batch is sent anyway. */
  readonly maxDelayMs: number;
  readonly maxConcurrency: number;
  readonly retry: RetryPolicy;
  readonly classify?: (error: unknown) => RetryDecision;
  /** A drop of `items` entries holding `weight` (for metrics). */
  readonly onDrop?: (reason: BatchDropReason, weight: number, items: number) => void;
  readonly onSent?: (weight: number, bytes: number, attempts: number) => void;
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

export interface BatcherStats {
  readonly queuedItems: number;
  readonly queuedBytes: number;
  readonly queuedWeight: number;
  readonly inFlightBatches: number;
  readonly sentBatches: number;
  readonly sentWeight: number;
  /** Dropped weight by reason. */
  readonly dropped: Readonly<Record<BatchDropReason, number>>;
}

export interface Batcher<T> {
  /** Queues an entry of `bytes` bytes and `weight` (default 1). Never waits. */
  offer(item: T, bytes: number, weight?: number): OfferResult;
  /** Sends everything queued now, without waiting for the delay; resolves when nothing is queued or in flight. */
  flush(): Promise<void>;
  /** Stops accepting, flushes, and gives up on what is left when `signal` aborts. Idempotent. */
  stop(signal?: AbortSignal): Promise<void>;
  stats(): BatcherStats;
}

/** Resolves true after `ms` on `clock`, or false as soon as `signal` aborts. */
function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = (): void => {
      cancel();
      resolve(false);
    };
    const cancel = clock.setTimer(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function createBatcher<T>(options: BatcherOptions<T>): Batcher<T> {
  const { clock, random, send, maxBatchBytes, maxBatchWeight, maxDelayMs, maxConcurrency, retry } = options;
  const classify = options.classify ?? classifyExportError;
  if (!(maxConcurrency >= 1)) throw new RangeError(`maxConcurrency must be ≥ 1, got ${maxConcurrency}`);
  const queue = createByteQueue<T>({
    maxBytes: options.maxQueueBytes,
    ...(options.maxQueueItems === undefined ? {} : { maxItems: options.maxQueueItems }),
    ...(options.maxItemBytes === undefined ? {} : { maxItemBytes: options.maxItemBytes }),
  });
  const giveUp = new AbortController();

  let inFlight = 0;
  const running = new Set<Promise<void>>();
  /** When the oldest queued entry arrived (kept after partial takes: the rest is then sent early, never late). */
  let oldestAt = 0;
  let timerAt = Infinity;
  let cancelTimer: (() => void) | undefined;
  let flushes = 0;
  let stopping: Promise<void> | undefined;
  let idleWaiters: (() => void)[] = [];

  let sentBatches = 0;
  let sentWeight = 0;
  const dropped: Record<BatchDropReason, number> = { 'queue-full': 0, 'too-large': 0, closed: 0, 'export-failed': 0, 'export-rejected': 0, shutdown: 0 };

  const drop = (reason: BatchDropReason, weight: number, items: number): void => {
    dropped[reason] += weight;
    options.onDrop?.(reason, weight, items);
  };

  const disarm = (): void => {
    cancelTimer?.();
    cancelTimer = undefined;
    timerAt = Infinity;
  };

  const arm = (at: number): void => {
    if (at === timerAt) return;
    disarm();
    timerAt = at;
    cancelTimer = clock.setTimer(() => {
      cancelTimer = undefined;
      timerAt = Infinity;
      pump();
    }, at - clock.now());
  };

  const checkIdle = (): void => {
    if (queue.items > 0 || inFlight > 0 || idleWaiters.length === 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  const idle = (): Promise<void> =>
    new Promise((resolve) => {
      idleWaiters.push(resolve);
      checkIdle();
    });

  const exportBatch = async (batch: Taken<T>): Promise<void> => {
    const firstAttempt = clock.now();
    for (let attempt = 1; ; attempt++) {
      if (giveUp.signal.aborted) return drop('shutdown', batch.weight, batch.items.length);
      try {
        await send(batch.items, giveUp.signal);
        sentBatches++;
        sentWeight += batch.weight;
        options.onSent?.(batch.weight, batch.bytes, attempt);
        return;
      } catch (error) {
        if (giveUp.signal.aborted) return drop('shutdown', batch.weight, batch.items.length);
        const decision = classify(error);
        if (!decision.retryable) return drop('export-rejected', batch.weight, batch.items.length);
        const backoff = Math.min(retry.maxBackoffMs, retry.initialBackoffMs * 2 ** (attempt - 1));
        const delay = Math.max(random() * backoff, decision.retryAfterMs ?? 0);
        if (clock.now() + delay - firstAttempt > retry.maxElapsedMs) return drop('export-failed', batch.weight, batch.items.length);
        options.onRetry?.(error, attempt, delay);
        if (!(await sleep(clock, delay, giveUp.signal))) return drop('shutdown', batch.weight, batch.items.length);
      }
    }
  };

  const dispatch = (batch: Taken<T>): void => {
    inFlight++;
    const done = (): void => {
      inFlight--;
      running.delete(task);
      pump();
    };
    // exportBatch never rejects; `done` runs either way so a slot is never leaked.
    const task: Promise<void> = exportBatch(batch).then(done, done);
    running.add(task);
  };

  function pump(): void {
    const now = clock.now();
    while (inFlight < maxConcurrency && queue.items > 0) {
      const full = queue.bytes >= maxBatchBytes || queue.weight >= maxBatchWeight;
      if (!full && flushes === 0 && now < oldestAt + maxDelayMs) break;
      dispatch(queue.take(maxBatchBytes, maxBatchWeight));
    }
    if (queue.items > 0 && inFlight < maxConcurrency) arm(oldestAt + maxDelayMs);
    else disarm();
    checkIdle();
  }

  const abandon = (): void => {
    giveUp.abort(new Error('batcher stopped'));
    disarm();
    const rest = queue.drain();
    if (rest.items.length > 0) drop('shutdown', rest.weight, rest.items.length);
    checkIdle();
  };

  return {
    offer(item, bytes, weight = 1) {
      const wasEmpty = queue.items === 0;
      const result = queue.offer(item, bytes, weight);
      if (result.kind === 'dropped') {
        drop(result.reason, weight, 1);
        return result;
      }
      if (wasEmpty) oldestAt = clock.now();
      pump();
      return result;
    },

    async flush() {
      flushes++;
      try {
        pump();
        await idle();
      } finally {
        flushes--;
      }
    },

    stop(signal) {
      if (signal !== undefined) {
        if (signal.aborted) abandon();
        else signal.addEventListener('abort', abandon, { once: true });
      }
      stopping ??= (async () => {
        queue.close();
        flushes++;
        pump();
        await idle();
        await Promise.all(running);
      })();
      return stopping.finally(() => signal?.removeEventListener('abort', abandon));
    },

    stats() {
      return {
        queuedItems: queue.items,
        queuedBytes: queue.bytes,
        queuedWeight: queue.weight,
        inFlightBatches: inFlight,
        sentBatches,
        sentWeight,
        dropped: { ...dropped },
      };
    },
  };
}
