// The compaction runner (DESIGN.md §7 "compaction run"; MANIFEST.md claim/commit/release): the
// lifecycle controller PLANS jobs (`jobs/<id>`: inputs moved to compacting(job), an output id
// recorded); this member RUNS the ones of shards it owns:
//
//   claim (claim key put with this member's lease; its create revision is the holder's token)
//   → re-read the job (the claim changed it; commit compares it unchanged) and its inputs
//   → read the inputs' index and data objects → merge them on the block worker pool (mergeBlocks,
//     the columnar merge of ingester/block: level and block id from the job)
//   → write its objects → commit (output live + inputs compacted in ONE txn fenced by the claim).
//
// A claim lost before the commit (this member's lease changed or ended, or the commit is fenced)
// stops the job: the controller abandons it once the claim key is gone, the inputs go back to live
// and stay authoritative throughout, and the output becomes an orphan that GC removes. Any other
// failure releases the claim at once (so the controller need not wait for the lease) and backs off
// the blamed input blocks — the corrupt one for a BlockCorruptError, all inputs otherwise — so a
// job re-planned over the same bad block is not run again in a tight loop.
//
// Loop: one pass on every change under `jobs/` (watched) and every intervalMs; at most
// `concurrency` jobs at once (default 1). A pass reads `jobs/` with one range (jobs and claims at
// one revision) and claims the oldest eligible jobs first.
//
// Memory of one job: the inputs' index and data objects as stored (compressed; moved to the worker,
// not copied), the output's objects, and one decompressed page per input at a time.
import { type Coordinator, type Keyspace, type LeaseId } from '../../common/coord/index.js';
import { isSkeinError } from '../../common/errors/index.js';
import type { Logger } from '../../common/log/index.js';
import { counter, histogram, type Registry } from '../../common/metrics/index.js';
import type { ObjectStore } from '../../common/storage/index.js';
import { BlockCorruptError, blockObjectKey, DATA_OBJECT, INDEX_OBJECT, isBlockCorruptError, writeBlock, type BuildBlockOptions, type MergedBlock, type MergeInput } from '../block/index.js';
import type { BlockWorkerPool } from '../block-worker/index.js';
import { decodeManifest, type HeldClaim, type ObservedBlock, type ObservedJob } from './manifest.js';
import { createManifestStore, type ManifestOutcome } from './manifest-store.js';

export interface CompactorOptions {
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  readonly store: ObjectStore;
  /** This member's id (written into claims). */
  readonly member: string;
  /** This member's lease while it is valid (claims are put with it); undefined between leases. */
  readonly lease: () => LeaseId | undefined;
  /** Shards this member owns now → fencing token: only their jobs are claimed here. */
  readonly ownedShards: () => ReadonlyMap<number, number>;
  readonly pool: Pick<BlockWorkerPool, 'merge'>;
  readonly logger: Logger;
  readonly registry: Registry;
  /** A pass runs on every change under jobs/ and at least this often. */
  readonly intervalMs: number;
  /** Jobs run at once. Default 1. */
  readonly concurrency?: number;
  /** Back-off of an input block after a failed job: doubles per failure from minMs up to maxMs. */
  readonly backoff?: { readonly minMs: number; readonly maxMs: number };
  /** How often a running job checks that the lease its claim is bound to is still this member's. Default 500 ms. */
  readonly leaseCheckMs?: number;
  readonly buildOptions?: BuildBlockOptions;
  /** Wall-clock ms written into manifest values. Default Date.now. */
  readonly wallClock?: () => number;
  /** Monotonic ms for back-offs. Default performance.now. */
  readonly now?: () => number;
}

export const COMPACTOR_DEFAULTS = {
  concurrency: 1,
  backoff: { minMs: 30_000, maxMs: 3_600_000 },
  leaseCheckMs: 500,
} as const;

export type CompactionOutcome =
  /** Output live, inputs compacted. */
  | 'committed'
  /** The claim was lost (lease changed or gone, commit fenced): stopped; the controller abandons the job. */
  | 'fenced'
  /** The manifest moved on under the job (inputs or job changed): claim released. */
  | 'conflict'
  /** Corrupt input, store or build error, refused or unresolved commit: claim released, inputs backed off. */
  | 'failed'
  /** stop() was called: claim released. */
  | 'aborted'
  /** Another holder claimed it first, or the lease went before the claim: nothing was done. */
  | 'not-claimed';

export type CompactionFailureReason = 'corrupt' | 'store' | 'build' | 'manifest' | 'invalid';

export interface CompactionResult {
  readonly jobId: string;
  readonly outcome: CompactionOutcome;
  readonly reason?: CompactionFailureReason;
  readonly message?: string;
  /** Of the commit. */
  readonly revision?: number;
  readonly inputBytes?: number;
  readonly outputBytes?: number;
  readonly merge?: MergeStats;
}

/** What a merge did (final once the job has built its output). */
export interface MergeStats {
  /** Distinct traces in the output. */
  readonly traces: number;
  /** Spans in all inputs. */
  readonly inputSpans: number;
  /** Spans in the output. */
  readonly outputSpans: number;
  /** Spans dropped as a repeat of a (trace ID, span ID) already kept. */
  readonly duplicateSpans: number;
}

export interface Compactor {
  /** Starts the watch and the loop. */
  start(): void;
  /** Stops the loop, aborts running jobs (releasing their claims) and waits for them. Idempotent. */
  stop(): Promise<void>;
  /** One pass now: claims and runs what it may; resolves with the results of the jobs it started. */
  runOnce(): Promise<CompactionResult[]>;
}

class JobStop extends Error {
  constructor(
    readonly outcome: CompactionOutcome,
    message: string,
    readonly reason?: CompactionFailureReason,
    readonly blamed?: readonly string[],
  ) {
    super(message);
  }
}

/** How often an unknown outcome is re-sent (safe, MANIFEST.md). */
const UNKNOWN_RESENDS = 3;

export function createCompactor(options: CompactorOptions): Compactor {
  const { keyspace: ks, member } = options;
  const log = options.logger.child({ component: 'compactor' });
  const manifest = createManifestStore({ coord: options.coord, keyspace: ks, ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }) });
  const concurrency = options.concurrency ?? COMPACTOR_DEFAULTS.concurrency;
  const backoff = options.backoff ?? COMPACTOR_DEFAULTS.backoff;
  const leaseCheckMs = options.leaseCheckMs ?? COMPACTOR_DEFAULTS.leaseCheckMs;
  const now = options.now ?? (() => performance.now());

  const jobsTotal = counter(options.registry, 'skein_ingester_compaction_jobs_total', 'Compaction jobs claimed here, by outcome (committed, fenced, conflict, failed, aborted).', ['outcome']);
  const failuresTotal = counter(options.registry, 'skein_ingester_compaction_failures_total', 'Compaction jobs that failed, by reason (corrupt input, store, build, manifest, invalid).', ['reason']);
  const seconds = histogram(options.registry, 'skein_ingester_compaction_duration_seconds', 'Claim to commit of committed compaction jobs.', [], [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]);
  const inputBytesTotal = counter(options.registry, 'skein_ingester_compaction_input_bytes_total', 'Stored bytes of the inputs of committed compaction jobs.');
  const outputBytesTotal = counter(options.registry, 'skein_ingester_compaction_output_bytes_total', 'Stored bytes of the outputs of committed compaction jobs.');
  const dedupTotal = counter(options.registry, 'skein_ingester_compaction_spans_deduplicated_total', 'Spans dropped by committed compactions as repeats of a (trace ID, span ID).');
  for (const o of ['committed', 'fenced', 'conflict', 'failed', 'aborted'] as const) jobsTotal.inc({ outcome: o }, 0);
  for (const r of ['corrupt', 'store', 'build', 'manifest', 'invalid'] as const) failuresTotal.inc({ reason: r }, 0);

  /** Block id or job id → consecutive failures and when it may be tried again. */
  const backedOff = new Map<string, { failures: number; untilMs: number }>();
  const active = new Map<string, Promise<CompactionResult>>();
  let stopper = new AbortController();
  let loop: Promise<void> | undefined;
  let watch: { close(): void } | undefined;
  let wake: (() => void) | undefined;
  let woken = false;

  const blame = (ids: readonly string[]): void => {
    const t = now();
    for (const id of ids) {
      const failures = (backedOff.get(id)?.failures ?? 0) + 1;
      backedOff.set(id, { failures, untilMs: t + Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(30, failures - 1)) });
    }
  };
  const isBackedOff = (job: ObservedJob): boolean => {
    const t = now();
    return [job.id, ...job.value.inputs].some((id) => (backedOff.get(id)?.untilMs ?? 0) > t);
  };

  async function step(run: () => Promise<ManifestOutcome>): Promise<ManifestOutcome> {
    let outcome = await run();
    for (let i = 0; i < UNKNOWN_RESENDS && outcome.kind === 'unknown'; i++) outcome = await run();
    return outcome;
  }

  const describe = (o: ManifestOutcome): string =>
    o.kind === 'committed' ? 'committed' : o.kind === 'invalid' ? `invalid: ${o.reason}` : o.kind === 'corrupt' ? `corrupt key ${o.key}: ${o.error}` : o.message;

  /** An input's `index` and `data` objects, whole (a committed block missing one is damaged). */
  async function readInput(b: ObservedBlock, signal: AbortSignal): Promise<MergeInput> {
    const get = async (object: string): Promise<Uint8Array> => {
      try {
        return await options.store.get(blockObjectKey(b.value.meta.tenant, b.shard, b.blockId, object), { signal });
      } catch (e) {
        if (isSkeinError(e) && e.code === 'NOT_FOUND') throw new BlockCorruptError({ blockId: b.blockId, object, kind: 'missing', reason: e.message, cause: e });
        throw e;
      }
    };
    const [index, data] = await Promise.all([get(INDEX_OBJECT), get(DATA_OBJECT)]);
    return { blockId: b.blockId, index, data };
  }

  async function runJob(job: ObservedJob, lease: LeaseId): Promise<CompactionResult> {
    const { shard, tenant, output, level } = job.value;
    const jlog = log.child({ job: job.id, shard, tenant, output });
    let claimed = await manifest.claim({ job, member, lease });
    for (let i = 0; i < UNKNOWN_RESENDS && claimed.kind === 'unknown'; i++) claimed = await manifest.claim({ job, member, lease });
    if (claimed.kind !== 'committed') {
      if (claimed.kind === 'invalid' || claimed.kind === 'corrupt') {
        blame([job.id]);
        jlog.warn({ outcome: describe(claimed) }, 'compaction job could not be claimed; backing off');
      } else {
        jlog.debug({ outcome: describe(claimed) }, 'compaction job not claimed');
      }
      return { jobId: job.id, outcome: 'not-claimed', message: describe(claimed) };
    }
    const claim: HeldClaim = claimed.claim;
    const started = now();
    const ac = new AbortController();
    const signal = ac.signal;
    const onStop = (): void => ac.abort(new JobStop('aborted', 'the compactor is stopping'));
    stopper.signal.addEventListener('abort', onStop, { once: true });
    if (stopper.signal.aborted) onStop();
    const leaseLost = (): boolean => options.lease() !== claim.lease;
    const leaseTimer = setInterval(() => {
      if (leaseLost()) ac.abort(new JobStop('fenced', `lease ${claim.lease} the claim is bound to is no longer this member's`));
    }, leaseCheckMs);
    leaseTimer.unref();
    const check = (): void => {
      if (leaseLost()) ac.abort(new JobStop('fenced', `lease ${claim.lease} the claim is bound to is no longer this member's`));
      signal.throwIfAborted();
    };
    jlog.info({ inputs: job.value.inputs.length, level, token: claim.token }, 'compaction job claimed');

    let merge: MergeStats | undefined;
    let inputBytes = 0;
    try {
      // The claim changed the job; commit compares the job as it is now.
      const jr = await manifest.readJob(job.id);
      if (!jr.ok) throw new JobStop('failed', `job key unreadable: ${jr.corrupt.key}: ${jr.corrupt.error}`, 'manifest', [job.id]);
      const current = jr.job;
      if (current?.claim?.token !== claim.token) throw new JobStop('fenced', 'the claim is gone (lease expired or job abandoned)');
      const br = await manifest.readBlocks(shard, job.value.inputs);
      if (!br.ok) throw new JobStop('failed', `input key unreadable: ${br.corrupt.key}: ${br.corrupt.error}`, 'manifest', [job.id]);
      const byId = new Map(br.blocks.map((b) => [b.blockId, b]));
      const inputs: ObservedBlock[] = [];
      for (const id of job.value.inputs) {
        const b = byId.get(id);
        if (b === undefined || b.value.state !== 'compacting' || b.value.job !== job.id) throw new JobStop('conflict', `input ${id} is ${b === undefined ? 'gone' : b.value.state}, not compacting(${job.id})`);
        inputs.push(b);
        inputBytes += b.value.meta.bytes;
      }
      check();

      // Merge on the block worker (inputs in the job's order: the first copy of a span wins).
      const read = await Promise.all(inputs.map((b) => readInput(b, signal)));
      check();
      let merged: MergedBlock;
      try {
        merged = await options.pool.merge({ blockId: output, tenant, shard, level, ...(options.buildOptions === undefined ? {} : { options: options.buildOptions }) }, read, { signal });
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        if (isBlockCorruptError(e)) throw e;
        throw new JobStop('failed', `merging into the output failed: ${(e as Error).message}`, 'build', job.value.inputs);
      }
      merge = { traces: merged.meta.traceCount, inputSpans: merged.inputSpans, outputSpans: merged.meta.spanCount, duplicateSpans: merged.duplicateSpans };
      check();
      await writeBlock(options.store, merged, { signal });
      check();
      const committed = await step(() => manifest.commit({ job: current, claim, inputs, output: { ...merged.meta } }));
      switch (committed.kind) {
        case 'committed': {
          const secs = (now() - started) / 1000;
          seconds.observe(secs);
          inputBytesTotal.inc(inputBytes);
          outputBytesTotal.inc(merged.meta.bytes);
          dedupTotal.inc(merge.duplicateSpans);
          for (const id of job.value.inputs) backedOff.delete(id);
          jobsTotal.inc({ outcome: 'committed' });
          jlog.info(
            { revision: committed.revision, seconds: Number(secs.toFixed(3)), inputBytes, outputBytes: merged.meta.bytes, spans: merged.meta.spanCount, traces: merged.meta.traceCount, duplicates: merge.duplicateSpans },
            'compaction committed: output live, inputs compacted',
          );
          return { jobId: job.id, outcome: 'committed', revision: committed.revision, inputBytes, outputBytes: merged.meta.bytes, merge };
        }
        case 'fenced':
          throw new JobStop('fenced', committed.message);
        case 'conflict':
          throw new JobStop('conflict', committed.message);
        case 'invalid':
          throw new JobStop('failed', `commit refused: ${committed.reason}`, 'invalid', job.value.inputs);
        case 'corrupt':
          throw new JobStop('failed', `commit: corrupt key ${committed.key}: ${committed.error}`, 'manifest', [job.id]);
        case 'unknown':
          // Releasing next is safe either way: a commit that still applies needs the claim.
          throw new JobStop('failed', committed.message, 'manifest', [job.id]);
      }
    } catch (e) {
      const stop = toJobStop(e, signal);
      jobsTotal.inc({ outcome: stop.outcome });
      if (stop.outcome === 'failed') {
        failuresTotal.inc({ reason: stop.reason ?? 'store' });
        blame(stop.blamed ?? job.value.inputs);
      }
      // Not for a lost claim: the key is gone or about to go with the lease (release is harmless, but pointless).
      if (stop.outcome !== 'fenced') {
        let released: string;
        try {
          released = describe(await step(() => manifest.release(claim)));
        } catch (re) {
          released = (re as Error).message;
        }
        if (released !== 'committed') jlog.warn({ release: released }, 'could not release the claim; it goes with the lease');
      }
      const logLevel = stop.outcome === 'aborted' ? 'info' : 'warn';
      jlog[logLevel]({ outcome: stop.outcome, reason: stop.reason, err: stop.message, output }, stop.outcome === 'fenced' ? 'compaction stopped: claim lost; the controller abandons the job and the output becomes an orphan' : 'compaction job did not commit; claim released');
      return { jobId: job.id, outcome: stop.outcome, ...(stop.reason === undefined ? {} : { reason: stop.reason }), message: stop.message, inputBytes, ...(merge === undefined ? {} : { merge }) };
    } finally {
      clearInterval(leaseTimer);
      stopper.signal.removeEventListener('abort', onStop);
    }
  }

  function toJobStop(e: unknown, signal: AbortSignal): JobStop {
    if (e instanceof JobStop) return e;
    if (signal.aborted && signal.reason instanceof JobStop) return signal.reason;
    if (isBlockCorruptError(e)) return new JobStop('failed', e.message, 'corrupt', [e.blockId]);
    return new JobStop('failed', e instanceof Error ? e.message : String(e), 'store');
  }

  /** Reads jobs/, starts what may run; returns the started jobs' results. */
  async function pass(): Promise<Promise<CompactionResult>[]> {
    if (active.size >= concurrency) return [];
    const lease = options.lease();
    const owned = options.ownedShards();
    if (lease === undefined || owned.size === 0) return [];
    const read = await options.coord.range(ks.jobsPrefix);
    const state = decodeManifest(ks, read.entries);
    for (const c of state.corrupt) log.debug({ key: c.key, err: c.error }, 'unreadable job key skipped');
    const t = now();
    for (const [id, b] of backedOff) if (b.untilMs + backoff.maxMs < t) backedOff.delete(id);
    const eligible = [...state.jobs.values()]
      // A job claimed once is never claimed again (MANIFEST.md "One claim per job"): the controller abandons and re-plans it.
      .filter((j) => owned.has(j.value.shard) && j.claim === undefined && j.value.claim === undefined && !active.has(j.id) && !isBackedOff(j))
      .sort((a, b) => a.value.createdAtMs - b.value.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const started: Promise<CompactionResult>[] = [];
    for (const job of eligible) {
      if (active.size >= concurrency || stopper.signal.aborted) break;
      const p = runJob(job, lease).catch((e: unknown): CompactionResult => {
        log.error({ err: e, job: job.id }, 'compaction job crashed');
        return { jobId: job.id, outcome: 'failed', message: String(e) };
      });
      active.set(job.id, p);
      void p.finally(() => {
        active.delete(job.id);
        poke(); // a slot is free: the next job may start
      });
      started.push(p);
    }
    return started;
  }

  function poke(): void {
    woken = true;
    wake?.();
  }

  async function runLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      woken = false;
      try {
        // The jobs it starts run on; `active` tracks them and each wakes the loop when it ends.
        const started = await pass();
        void Promise.allSettled(started);
      } catch (e) {
        log.warn({ err: e }, 'compaction pass failed; retrying at the next change or tick');
      }
      if (woken) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, options.intervalMs);
        function done(): void {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        }
        wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  return {
    start() {
      if (loop !== undefined) return;
      if (stopper.signal.aborted) stopper = new AbortController();
      watch = options.coord.watchPrefix(ks.jobsPrefix, (u) => {
        if (u.kind !== 'disconnected') poke();
      });
      loop = runLoop(stopper.signal).catch((e: unknown) => log.error({ err: e }, 'the compaction loop stopped'));
      log.info({ intervalMs: options.intervalMs, concurrency }, 'compactor started');
    },
    async stop() {
      stopper.abort();
      watch?.close();
      watch = undefined;
      await loop;
      loop = undefined;
      await Promise.all([...active.values()]);
    },
    async runOnce() {
      return Promise.all(await pass());
    },
  };
}
