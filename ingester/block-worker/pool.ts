// createBlockWorkerPool: buildBlock (flushes) and mergeBlocks (compaction) on worker threads.
// Building or merging a large block is seconds of CPU (sorting, zstd, index); on the event loop that
// would stall ingest acknowledgements for as long.
//
// - Build inputs cross packed (pack.ts): span bytes copied once into a few large chunks that are
//   TRANSFERRED with their offset tables, never structured-cloned span by span. Packing runs on the
//   calling thread and yields to the event loop every `yieldEverySpans` spans. Merge inputs are the
//   input blocks' index and data objects as read, transferred whole.
// - One task per worker; more wait in a FIFO queue. Workers start on first use and are unref'd
//   while idle, so an idle pool keeps no process alive.
// - A worker that dies (uncaught error, out of its heap limit, exit) rejects the task it was running
//   with a SkeinError INTERNAL naming the block and why; the slot gets a fresh worker for the next
//   task. An aborted task is removed from the queue, or its worker is terminated (and replaced).
// - close(): new and queued tasks are refused (UNAVAILABLE), running ones finish, then the workers
//   are terminated.
// - size 0 builds on the calling thread (no worker): for tests and single-core setups.
//
// The worker entry is worker.js beside this file once compiled (dist/). Run from the TypeScript
// source (vitest), it is worker.ts, started through a small bootstrap that maps the sources' `.js`
// import specifiers to `.ts` and lets Node transform the types (--experimental-transform-types:
// parameter properties are not erasable, so strip-only mode is not enough). No extra dependency.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { SkeinError } from '../../common/errors/index.js';
import { buildBlock, mergeBlocks, type BuildBlockParams, type BuiltBlock, type MergedBlock, type MergeInput } from '../block/index.js';
import { createBatchPacker, packedTransferList, unpackBatches, type PackedBatches } from './pack.js';
import { deserializeError, type BuildResponse, type PackedBuildParams, type WorkerRequest } from './protocol.js';

export interface BlockWorkerPoolOptions {
  /** Worker threads. 0 = build on the calling thread. Default 1. */
  readonly size?: number;
  /**
   * Old-generation heap limit of each worker (MiB). A block too large for it fails its task (the
   * worker is replaced) instead of taking the process down. Default: V8's default.
   */
  readonly maxHeapMb?: number;
  /** While packing on the calling thread, yield to the event loop after this many spans. Default 65536. */
  readonly yieldEverySpans?: number;
}

export const BLOCK_WORKER_DEFAULTS = { size: 1, yieldEverySpans: 65536 } as const;

export interface BuildCallOptions {
  /** Aborting removes a queued task, or terminates the worker running it; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface BlockWorkerPoolStats {
  readonly size: number;
  readonly busy: number;
  readonly queued: number;
  /** Workers that died while running a task (each was replaced). */
  readonly crashes: number;
}

export interface BlockWorkerPool {
  readonly size: number;
  /** buildBlock(params), off the event loop. Same result, byte for byte. */
  build(params: BuildBlockParams, options?: BuildCallOptions): Promise<BuiltBlock>;
  /** The same from batches already packed (createBatchPacker). `packed` is consumed: its buffers move to the worker. */
  buildPacked(params: PackedBuildParams, packed: PackedBatches, options?: BuildCallOptions): Promise<BuiltBlock>;
  /** mergeBlocks (the columnar compaction merge), off the event loop. The inputs' buffers move to the worker. */
  merge(params: PackedBuildParams, inputs: readonly MergeInput[], options?: BuildCallOptions): Promise<MergedBlock>;
  stats(): BlockWorkerPoolStats;
  /** Refuses new and queued tasks, lets running ones finish, terminates the workers. Idempotent. */
  close(): Promise<void>;
}

type Payload = { readonly kind: 'build'; readonly packed: PackedBatches } | { readonly kind: 'merge'; readonly inputs: readonly MergeInput[] };

interface Task {
  readonly params: PackedBuildParams;
  readonly payload: Payload;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (b: BuiltBlock) => void;
  readonly reject: (e: unknown) => void;
  /** Set when its signal fired while it ran: the exit is reported as the abort, not as a crash. */
  aborted: boolean;
  detach: () => void;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  task: Task | undefined;
  taskId: number;
  /** The last 'error' event of the current worker (reported with its exit). */
  lastError: Error | undefined;
  /** Resolves when the current worker has exited. */
  exited: Promise<void> | undefined;
}

const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

// ESM, run as a data: URL in the worker when the pool runs from TypeScript sources.
const BOOTSTRAP = `
import { registerHooks } from 'node:module';
import { workerData } from 'node:worker_threads';
registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context);
    } catch (e) {
      if (e?.code === 'ERR_MODULE_NOT_FOUND' && specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
      throw e;
    }
  },
});
await import(workerData.entry);
`;

function spawnWorker(index: number, maxHeapMb: number | undefined): Worker {
  const common = { name: `skein-block-worker-${index}`, ...(maxHeapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } }) };
  if (!RUNNING_FROM_SOURCE) return new Worker(new URL('./worker.js', import.meta.url), common);
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(BOOTSTRAP)}`), {
    ...common,
    workerData: { entry: new URL('./worker.ts', import.meta.url).href },
    execArgv: ['--experimental-transform-types', '--disable-warning=ExperimentalWarning'],
  });
}

/** The abort reason as an Error (AbortSignal.abort() gives a DOMException, which is one). */
function abortReason(signal: AbortSignal | undefined): Error {
  const r: unknown = signal?.reason;
  return r instanceof Error ? r : new SkeinError('UNAVAILABLE', 'block build aborted', r === undefined ? {} : { cause: r });
}

export function createBlockWorkerPool(options: BlockWorkerPoolOptions = {}): BlockWorkerPool {
  const size = options.size ?? BLOCK_WORKER_DEFAULTS.size;
  if (!Number.isSafeInteger(size) || size < 0) throw new SkeinError('INVALID_ARGUMENT', `block worker pool size must be a non-negative integer, got ${size}`);
  const yieldEvery = options.yieldEverySpans ?? BLOCK_WORKER_DEFAULTS.yieldEverySpans;
  if (size === 0) return createInlinePool();

  const slots: Slot[] = Array.from({ length: size }, (_, index) => ({ index, worker: undefined, task: undefined, taskId: 0, lastError: undefined, exited: undefined }));
  const queue: Task[] = [];
  let closed = false;
  let nextId = 1;
  let crashes = 0;
  const running = new Set<Promise<unknown>>();

  const describeBlock = (p: PackedBuildParams): string => `block ${p.blockId} (tenant ${p.tenant}, shard ${p.shard})`;

  function ensureWorker(slot: Slot): Worker {
    if (slot.worker !== undefined) return slot.worker;
    const w = spawnWorker(slot.index, options.maxHeapMb);
    slot.worker = w;
    slot.lastError = undefined;
    slot.exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.on('message', (m: BuildResponse) => {
      const task = slot.task;
      if (task === undefined || m.id !== slot.taskId) return;
      finish(slot);
      if (m.kind === 'failed') task.reject(deserializeError(m.error));
      else task.resolve(m.built);
    });
    w.on('messageerror', (e) => {
      const task = slot.task;
      if (task === undefined) return;
      finish(slot);
      task.reject(new SkeinError('INTERNAL', `block worker: the result for ${describeBlock(task.params)} could not be deserialised`, { cause: e }));
    });
    w.on('error', (e: Error) => {
      slot.lastError = e;
    });
    w.on('exit', (code) => {
      if (slot.worker !== w) return;
      slot.worker = undefined;
      const task = slot.task;
      if (task !== undefined) {
        finish(slot);
        if (task.aborted) {
          task.reject(abortReason(task.signal));
        } else {
          crashes++;
          const why = slot.lastError !== undefined ? `${slot.lastError.message}` : `exit code ${code}`;
          task.reject(new SkeinError('INTERNAL', `block worker ${slot.index} died while building ${describeBlock(task.params)}: ${why}; a new worker takes the next task`, slot.lastError === undefined ? {} : { cause: slot.lastError }));
        }
      }
      dispatch();
    });
    return w;
  }

  /** Frees the slot of its task (the caller settles the task). */
  function finish(slot: Slot): void {
    slot.task?.detach();
    slot.task = undefined;
    slot.worker?.unref();
    // After the caller settled it: the next task may be waiting.
    queueMicrotask(dispatch);
  }

  function dispatch(): void {
    if (closed) return;
    for (const slot of slots) {
      if (slot.task !== undefined) continue;
      const task = queue.shift();
      if (task === undefined) return;
      const w = ensureWorker(slot);
      slot.task = task;
      slot.taskId = nextId++;
      w.ref();
      const pl = task.payload;
      const request: WorkerRequest = pl.kind === 'build' ? { kind: 'build', id: slot.taskId, params: task.params, packed: pl.packed } : { kind: 'merge', id: slot.taskId, params: task.params, inputs: pl.inputs };
      try {
        w.postMessage(request, pl.kind === 'build' ? packedTransferList(pl.packed) : inputsTransferList(pl.inputs));
      } catch (e) {
        finish(slot);
        task.reject(new SkeinError('INTERNAL', `block worker: could not send ${describeBlock(task.params)}`, { cause: e }));
      }
    }
  }

  function submit<B extends BuiltBlock>(params: PackedBuildParams, payload: Payload, signal: AbortSignal | undefined): Promise<B> {
    if (closed) return Promise.reject(new SkeinError('UNAVAILABLE', 'block worker pool is closed'));
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const p = new Promise<B>((resolve, reject) => {
      const task: Task = { params, payload, signal, resolve: resolve as (b: BuiltBlock) => void, reject, aborted: false, detach: () => undefined };
      if (signal !== undefined) {
        const onAbort = (): void => {
          const q = queue.indexOf(task);
          if (q >= 0) {
            queue.splice(q, 1);
            task.detach();
            reject(abortReason(signal));
            return;
          }
          const slot = slots.find((s) => s.task === task);
          if (slot?.worker !== undefined) {
            task.aborted = true;
            void slot.worker.terminate(); // its exit rejects the task and frees the slot
          }
        };
        signal.addEventListener('abort', onAbort, { once: true });
        task.detach = () => signal.removeEventListener('abort', onAbort);
      }
      queue.push(task);
      dispatch();
    });
    const tracked = p.then(
      () => undefined,
      () => undefined,
    );
    running.add(tracked);
    void tracked.then(() => running.delete(tracked));
    return p;
  }

  return {
    size,
    async build(params, callOptions = {}) {
      const { batches, ...rest } = params;
      const packer = createBatchPacker(params.tenant);
      let last = 0;
      for (const b of batches) {
        packer.add(b);
        if (packer.spanCount - last >= yieldEvery) {
          last = packer.spanCount;
          await yieldToEventLoop();
          callOptions.signal?.throwIfAborted();
        }
      }
      return submit(rest, { kind: 'build', packed: packer.finish() }, callOptions.signal);
    },
    buildPacked(params, packed, callOptions = {}) {
      return submit(params, { kind: 'build', packed }, callOptions.signal);
    },
    merge(params, inputs, callOptions = {}) {
      return submit<MergedBlock>(params, { kind: 'merge', inputs }, callOptions.signal);
    },
    stats() {
      return { size, busy: slots.filter((s) => s.task !== undefined).length, queued: queue.length, crashes };
    },
    async close() {
      if (!closed) {
        closed = true;
        for (const t of queue.splice(0)) {
          t.detach();
          t.reject(new SkeinError('UNAVAILABLE', `block worker pool closed before ${describeBlock(t.params)} was built`));
        }
      }
      await Promise.all([...running]);
      await Promise.all(
        slots.map(async (s) => {
          const w = s.worker;
          if (w === undefined) return;
          await w.terminate();
          await s.exited;
        }),
      );
    },
  };
}

/** The inputs' buffers, each once (a buffer holding more than one object's bytes is sent whole). */
function inputsTransferList(inputs: readonly MergeInput[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const i of inputs) for (const b of [i.index, i.data]) if (b.buffer instanceof ArrayBuffer && b.byteLength === b.buffer.byteLength) out.add(b.buffer);
  return [...out];
}

/** size 0: the same interface, building on the calling thread. */
function createInlinePool(): BlockWorkerPool {
  let closed = false;
  const run = <B extends BuiltBlock>(f: () => B, signal: AbortSignal | undefined): Promise<B> => {
    if (closed) return Promise.reject(new SkeinError('UNAVAILABLE', 'block worker pool is closed'));
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    try {
      return Promise.resolve(f());
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  };
  return {
    size: 0,
    build: (params, o = {}) => run(() => buildBlock(params), o.signal),
    buildPacked: (params, packed, o = {}) => run(() => buildBlock({ ...params, batches: unpackBatches(packed) }), o.signal),
    merge: (params, inputs, o = {}) => run(() => mergeBlocks({ ...params, inputs }), o.signal),
    stats: () => ({ size: 0, busy: 0, queued: 0, crashes: 0 }),
    close() {
      closed = true;
      return Promise.resolve();
    },
  };
}
