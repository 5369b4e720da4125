// The lifecycle controller's I/O shell (DESIGN.md §7): it does MANIFEST work only — plan compaction
// jobs, abandon jobs whose holder is gone, expire blocks past retention — and never touches object
// storage (ingesters delete objects and run the jobs: the operator may not reach the store at all).
//
// One lease and a campaign on its own election key (`controller/lifecycle`), independent of the
// shard controller's: the two can run in different processes, and a leader change of one does not
// disturb the other. Leadership only avoids duplicate work: every transition is a guarded txn that
// compares the revisions it was decided on (MANIFEST.md "Controller transitions are not fenced by
// its leadership"), so a deposed leader's late write fails or is still valid.
//
// A watch of the cluster root is mirrored from start() to stop(), leader or standby (the status
// summary needs it either way); blocks are decoded as they arrive, jobs and the policy at each
// pass. One watch rather than one per prefix: a job and its inputs' move to compacting are one
// revision, so the mirror never shows a job without its inputs — which abandon relies on. While
// leading, every change (debounced) and a periodic tick run a pass: compute the plan (pure,
// lifecycle-plan.ts), send it through the manifest store, count the outcomes. Nothing is remembered
// between passes; a conflict or unknown outcome is decided again from what the watch shows next.
import { randomBytes } from 'node:crypto';
import { campaign, sleep, systemClock, type Clock, type Coordinator, type KeyValue, type Keyspace, type Lease, type Leadership, type Watch, type WatchUpdate } from '../../common/coord/index.js';
import type { Logger } from '../../common/log/index.js';
import { counter, gauge, type Registry } from '../../common/metrics/index.js';
import { createManifestStore, decodeBlock, decodeManifest, parseManifestKey, type ManifestOutcome, type ObservedBlock } from '../../ingester/lifecycle/index.js';
import { computeLifecyclePlan, resolveLifecyclePlanOptions, type LifecycleAction, type LifecyclePlanOptions } from './lifecycle-plan.js';
import { BLOCK_STATES, summarizeManifest, type ManifestSummary } from './lifecycle-summary.js';
import { writePolicy, type PolicyContent } from './policy.js';

export interface LifecycleControllerOptions {
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  /** Who this controller is (member id or pod name); stored in the election key for people to read. */
  readonly identity: string;
  readonly logger: Logger;
  readonly registry: Registry;
  /** A pass runs on every manifest change (debounced) and at least this often: retention is time passing. */
  readonly intervalMs: number;
  /** TTL of the controller's own lease; a dead leader is replaced about this long after it stops. */
  readonly leaseTtlSeconds: number;
  /**
   * Written to the `policy` key at the start of each leadership (`skein controller`, all-in-one,
   * from their flags). The operator writes the policy from the spec itself and leaves this out.
   */
  readonly policy?: PolicyContent;
  /** Planner rules; defaults in DEFAULT_LIFECYCLE_PLAN_OPTIONS. */
  readonly plan?: Partial<LifecyclePlanOptions>;
  /** Timers (debounce, tick, back-off). Default: the monotonic system clock. */
  readonly clock?: Clock;
  /** Wall-clock ms since the epoch, compared with the times in manifest values. Default Date.now. */
  readonly wallClock?: () => number;
  /** Job and output block ids, each used once. Default: `<ms base36>-<random hex>`, like flushed blocks. */
  readonly newId?: () => string;
  /** Called whenever the summary of the manifest changes, leader or standby (status). */
  readonly onSummary?: (summary: ManifestSummary) => void;
}

export interface LifecycleController {
  /** Grants the first lease (rejects when the coordinator cannot), opens the watch, campaigns in the background. */
  start(): Promise<void>;
  /** Stops acting, resigns leadership if held, revokes the lease, closes the watch. Idempotent. */
  stop(): Promise<void>;
  /** True while this controller holds its election key on a lease it still trusts. */
  readonly leading: boolean;
  /** True between a successful start() and stop(): leader and standby are both ready. */
  ready(): boolean;
  /**
   * The manifest as last observed (undefined before the first snapshot). The last compaction and
   * retention times are the latest this controller ever saw, so they survive the collection of the
   * blocks that showed them.
   */
  summary(): ManifestSummary | undefined;
}

// Defaults live in one place (STYLE.md rule 8). Manifest changes come in bursts (every shard
// flushes) and a pass over a large manifest takes a while (~0.3 s for 50k blocks), hence the debounce.
const DEBOUNCE_MS = 500;
const WRITE_CONCURRENCY = 8;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

/** The lifecycle controller's election key, beside the shard controller's `controller/leader`. */
export function lifecycleElectionKey(keyspace: Keyspace): string {
  return `${keyspace.root}controller/lifecycle`;
}

/** Time-ordered (lexicographically) and unique without coordination: the form flushed block ids have. */
export function newLifecycleId(nowMs: number): string {
  return `${nowMs.toString(36).padStart(9, '0')}-${randomBytes(8).toString('hex')}`;
}

type Outcome = ManifestOutcome['kind'] | 'unchanged' | 'error';

export function createLifecycleController(options: LifecycleControllerOptions): LifecycleController {
  const { coord, keyspace, identity, logger, registry } = options;
  const clock = options.clock ?? systemClock;
  const wall = options.wallClock ?? Date.now;
  const newId = options.newId ?? (() => newLifecycleId(wall()));
  const planOptions: LifecyclePlanOptions = resolveLifecyclePlanOptions(options.plan ?? {});
  if (!Number.isFinite(options.intervalMs) || options.intervalMs < 1) throw new RangeError(`intervalMs must be ≥ 1, got ${options.intervalMs}`);
  const electionKey = lifecycleElectionKey(keyspace);
  const store = createManifestStore({ coord, keyspace, wallClock: wall });

  const leaderGauge = gauge(registry, 'skein_lifecycle_leader', '1 while this lifecycle controller leads, 0 while it stands by.');
  const blocksGauge = gauge(registry, 'skein_lifecycle_blocks', 'Blocks in the manifest by state, as the leader last saw them.', ['state']);
  const bytesGauge = gauge(registry, 'skein_lifecycle_block_bytes', 'Bytes of the blocks in the manifest by state (meta.bytes), as the leader last saw them.', ['state']);
  const jobsGauge = gauge(registry, 'skein_lifecycle_jobs', 'Compaction jobs by state (unclaimed, claimed), as the leader last saw them.', ['state']);
  const lagGauge = gauge(
    registry,
    'skein_lifecycle_compaction_lag_seconds',
    'How long the oldest live block that belongs in a compaction job has been waiting for one (0 when none).',
  );
  const retentionGauge = gauge(registry, 'skein_lifecycle_last_retention_pass_timestamp_seconds', 'Wall-clock time of the last pass that applied retention under a policy.');
  const corruptGauge = gauge(registry, 'skein_lifecycle_corrupt_keys', 'Manifest keys (blocks, jobs, the policy) whose value the controller cannot read (ignored).');
  const transitions = counter(
    registry,
    'skein_lifecycle_transitions_total',
    'Manifest transitions sent by the lifecycle controller, by transition (plan, abandon, expire, policy) and outcome.',
    ['transition', 'outcome'],
  );
  leaderGauge.set(0);

  let started = false;
  let stopped = false;

  // ---- the mirror (leader or standby)
  const blocks = new Map<string, ObservedBlock>();
  const corruptBlocks = new Map<string, string>();
  /** Jobs, claims and the policy, raw: few, decoded together at each pass. */
  const others = new Map<string, KeyValue>();
  let synced = false;
  let mirrorRevision = 0;
  let watch: Watch | undefined;
  let current: ManifestSummary | undefined;
  let seenCompactionMs: number | undefined;
  let seenRetentionMs: number | undefined;
  let cancelRefresh: (() => void) | undefined;

  const applyKv = (kv: KeyValue): boolean => {
    const k = parseManifestKey(keyspace, kv.key);
    switch (k.kind) {
      case 'block': {
        const d = decodeBlock(keyspace, kv);
        if (d.ok) {
          blocks.set(kv.key, d.value);
          corruptBlocks.delete(kv.key);
        } else {
          blocks.delete(kv.key);
          corruptBlocks.set(kv.key, d.corrupt.error);
        }
        return true;
      }
      case 'job':
      case 'claim':
      case 'policy':
        others.set(kv.key, kv);
        return true;
      default:
        return false;
    }
  };
  const applyDelete = (key: string): boolean => blocks.delete(key) || corruptBlocks.delete(key) || others.delete(key);

  const onUpdate = (update: WatchUpdate): void => {
    if (update.kind === 'disconnected') {
      // Act on nothing until the re-list: events may have been missed.
      synced = false;
      return;
    }
    let changed = false;
    if (update.kind === 'snapshot') {
      blocks.clear();
      corruptBlocks.clear();
      others.clear();
      for (const kv of update.entries) applyKv(kv);
      synced = true;
      changed = true;
    } else {
      for (const e of update.events) changed = (e.type === 'put' ? applyKv(e.kv) : applyDelete(e.key)) || changed;
    }
    mirrorRevision = Math.max(mirrorRevision, update.revision);
    if (changed) scheduleRefresh();
  };

  const scheduleRefresh = (): void => {
    if (cancelRefresh !== undefined || stopped) return;
    cancelRefresh = clock.setTimer(() => {
      cancelRefresh = undefined;
      refresh();
    }, DEBOUNCE_MS);
  };

  /** Recounts the summary; wakes the leader's session. */
  const refresh = (): void => {
    if (!synced) return;
    const decoded = decodeManifest(keyspace, others.values());
    const s = summarizeManifest(blocks.values(), decoded.jobs.values());
    if (s.lastCompactionMs !== undefined) seenCompactionMs = Math.max(seenCompactionMs ?? 0, s.lastCompactionMs);
    if (s.lastRetentionMs !== undefined) seenRetentionMs = Math.max(seenRetentionMs ?? 0, s.lastRetentionMs);
    const next: ManifestSummary = { ...s, lastCompactionMs: seenCompactionMs, lastRetentionMs: seenRetentionMs };
    const changed = JSON.stringify(next) !== JSON.stringify(current);
    current = next;
    if (session !== undefined) publishGauges(next, decoded.corrupt.length + corruptBlocks.size);
    if (changed) {
      try {
        options.onSummary?.(next);
      } catch (e) {
        logger.warn({ err: e }, 'onSummary listener failed');
      }
    }
    session?.kick();
  };

  const publishGauges = (s: ManifestSummary, corrupt: number): void => {
    for (const state of BLOCK_STATES) {
      blocksGauge.set({ state }, s.blocks[state].count);
      bytesGauge.set({ state }, s.blocks[state].bytes);
    }
    jobsGauge.set({ state: 'unclaimed' }, s.jobs.unclaimed);
    jobsGauge.set({ state: 'claimed' }, s.jobs.claimed);
    corruptGauge.set(corrupt);
  };
  /** A standby reports no manifest gauges: a sum over controllers would count the manifest twice. */
  const resetGauges = (): void => {
    for (const g of [blocksGauge, bytesGauge, jobsGauge]) g.reset();
    lagGauge.set(0);
    corruptGauge.set(0);
  };

  // ---- leadership
  const abort = new AbortController();
  let lease: Lease | undefined;
  let leadership: Leadership | undefined;
  let session: LeaderSession | undefined;
  let loop: Promise<void> | undefined;

  interface LeaderSession {
    readonly ended: Promise<void>;
    end(): void;
    kick(): void;
    close(): Promise<void>;
  }

  function openSession(held: Leadership, heldLease: Lease): LeaderSession {
    const log = logger.child({ leaderToken: held.token });
    let closed = false;
    let running: Promise<void> | undefined;
    let rerun = false;
    let cancelTick: (() => void) | undefined;
    /** Revision of our last committed write: a pass waits until the mirror has shown it. */
    let awaitRevision = 0;
    let policyWritten = options.policy === undefined;
    let lastStuck = '';
    let lastCorrupt = '';
    let lastPolicyVersion: number | undefined | null = null;
    let endSession: () => void = () => {};
    const ended = new Promise<void>((resolve) => (endSession = resolve));

    const valid = (): boolean => !closed && !held.lost && heldLease.valid();

    const kick = (): void => {
      if (closed) return;
      if (running !== undefined) {
        rerun = true;
        return;
      }
      running = pass()
        .catch((e: unknown) => log.error({ err: e }, 'lifecycle pass failed'))
        .finally(() => {
          running = undefined;
          if (rerun) {
            rerun = false;
            kick();
          }
        });
    };

    const tick = (): void => {
      if (closed) return;
      if (!heldLease.valid()) {
        endSession(); // abandoned or past its local deadline: we no longer lead, whatever etcd says
        return;
      }
      cancelTick = clock.setTimer(tick, options.intervalMs);
      kick();
    };

    const record = (transition: string, outcome: Outcome): void => transitions.inc({ transition, outcome });

    const pass = async (): Promise<void> => {
      if (!valid()) return;
      if (!policyWritten) {
        try {
          const r = await writePolicy(coord, keyspace, options.policy!);
          policyWritten = true;
          record('policy', r.kind === 'written' ? 'committed' : 'unchanged');
          if (r.kind === 'written') log.info({ version: r.value.version }, 'policy written');
        } catch (e) {
          record('policy', 'error');
          log.warn({ err: e }, 'could not write the policy; retrying at the next pass (the stored one stays in force)');
        }
      }
      if (!synced || mirrorRevision < awaitRevision || !valid()) return;
      const nowMs = wall();
      const decoded = decodeManifest(keyspace, others.values());
      const plan = computeLifecyclePlan({ blocks: blocks.values(), jobs: decoded.jobs.values(), policy: decoded.policy }, nowMs, planOptions);
      lagGauge.set(plan.compactionLagMs / 1000);

      const policyVersion = decoded.policy?.value.version;
      if (policyVersion !== lastPolicyVersion) {
        lastPolicyVersion = policyVersion;
        if (decoded.policy === undefined) log.info('no policy in the coordinator yet: nothing expires and nothing is compacted until one is written');
        else log.info({ version: policyVersion, retentionMs: decoded.policy.value.retention.tracesMs, compaction: decoded.policy.value.compaction }, 'lifecycle policy in force');
      }

      const corruptText = JSON.stringify([...decoded.corrupt.map((c) => c.key), ...corruptBlocks.keys()].sort());
      if (corruptText !== lastCorrupt) {
        lastCorrupt = corruptText;
        if (corruptText !== '[]') log.warn({ corrupt: [...decoded.corrupt, ...[...corruptBlocks].map(([key, error]) => ({ key, error }))] }, 'ignoring manifest keys whose value does not parse');
      }
      const stuckText = JSON.stringify(plan.stuckJobs);
      if (stuckText !== lastStuck) {
        lastStuck = stuckText;
        if (plan.stuckJobs.length > 0) log.warn({ jobs: plan.stuckJobs }, 'jobs to abandon whose inputs are not all compacting: left alone');
      }

      const counts = new Map<string, number>();
      await forEachBounded(plan.actions, WRITE_CONCURRENCY, async (action) => {
        if (!valid()) return;
        const outcome = await send(action, log);
        record(action.kind, outcome.kind);
        const k = `${action.kind}:${outcome.kind}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
        // A first-hand commit's revision is a write under the root, which the watch will show; a
        // recovered one may name a later read of the whole store, which it might never reach.
        if (outcome.kind === 'committed' && !outcome.recovered) awaitRevision = Math.max(awaitRevision, outcome.revision);
      });
      if (decoded.policy !== undefined && valid()) retentionGauge.set(nowMs / 1000);
      if (counts.size > 0) {
        log.info({ outcomes: Object.fromEntries(counts), deferredJobs: plan.deferredJobs, compactionLagSeconds: Math.round(plan.compactionLagMs / 1000) }, 'lifecycle pass');
      }
    };

    const send = async (action: LifecycleAction, log: Logger): Promise<ManifestOutcome | { kind: 'error' }> => {
      let outcome: ManifestOutcome;
      try {
        switch (action.kind) {
          case 'abandon':
            outcome = await store.abandon({ job: action.job, inputs: action.inputs, unclaimedTimeoutMs: planOptions.jobClaimTimeoutMs });
            break;
          case 'expire':
            outcome = await store.expire({ block: action.block, policy: action.policy });
            break;
          case 'plan':
            outcome = await store.plan({
              jobId: newId(),
              output: newId(),
              inputs: action.inputs,
              level: action.level,
              windowStartMs: action.windowStartMs,
              windowEndMs: action.windowEndMs,
            });
            break;
        }
      } catch (e) {
        log.warn({ err: e, action: describe(action) }, 'lifecycle transition failed');
        return { kind: 'error' };
      }
      const fields = { action: describe(action), outcome: outcome.kind };
      switch (outcome.kind) {
        case 'committed':
          log.debug({ ...fields, revision: outcome.revision, recovered: outcome.recovered }, 'lifecycle transition');
          break;
        case 'conflict':
        case 'fenced':
          // The manifest moved on since the mirror showed it: decided again at the next pass.
          log.debug({ ...fields, message: outcome.message }, 'lifecycle transition refused');
          break;
        case 'unknown':
          log.warn({ ...fields, message: outcome.message }, 'lifecycle transition outcome unknown; decided again from the next view');
          break;
        case 'invalid':
          log.warn({ ...fields, reason: outcome.reason }, 'lifecycle transition not allowed from what was observed');
          break;
        case 'corrupt':
          log.warn({ ...fields, key: outcome.key, error: outcome.error }, 'lifecycle transition met an unreadable key');
          break;
      }
      return outcome;
    };

    const offLost = held.onLost(() => endSession());
    cancelTick = clock.setTimer(tick, 0);

    return {
      ended,
      end: () => endSession(),
      kick,
      async close() {
        closed = true;
        offLost();
        cancelTick?.();
        endSession();
        await running;
      },
    };
  }

  async function lead(held: Leadership, heldLease: Lease, signal: AbortSignal): Promise<void> {
    const s = openSession(held, heldLease);
    session = s;
    leaderGauge.set(1);
    logger.info({ identity, leaderToken: held.token }, 'lifecycle controller leading');
    if (current !== undefined) refresh();
    const onAbort = (): void => s.end();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await s.ended;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await s.close();
      session = undefined;
      leaderGauge.set(0);
      resetGauges();
    }
    if (!signal.aborted) logger.warn({ identity, leaderToken: held.token }, 'lifecycle controller lost leadership; standing by');
  }

  async function run(signal: AbortSignal): Promise<void> {
    let backoff = RETRY_MIN_MS;
    while (!signal.aborted) {
      try {
        if (leadership === undefined || leadership.lost || lease === undefined || !lease.valid()) {
          leadership = undefined;
          if (lease === undefined || !lease.valid()) {
            // A new lease, never keys bound to the old one; revoking the old frees a stale election key sooner.
            const old = lease;
            lease = undefined;
            await old?.revoke().catch(() => {});
            lease = await coord.grantLease(options.leaseTtlSeconds);
          }
          leadership = await campaign(coord, { key: electionKey, value: JSON.stringify({ identity }), lease, signal, clock });
        }
        await lead(leadership, lease, signal);
        backoff = RETRY_MIN_MS;
      } catch (e) {
        if (signal.aborted) break;
        logger.warn({ err: e, retryInMs: backoff }, 'lifecycle controller campaign failed; retrying');
        await sleep(clock, backoff, signal).catch(() => {});
        backoff = Math.min(RETRY_MAX_MS, backoff * 2);
      }
    }
  }

  return {
    async start() {
      if (started) return;
      started = true;
      let first: Lease;
      try {
        first = await coord.grantLease(options.leaseTtlSeconds);
      } catch (e) {
        started = false; // not ready, and start() may be called again
        throw e;
      }
      if (stopped) {
        await first.revoke().catch(() => {});
        return;
      }
      lease = first;
      watch = coord.watchPrefix(keyspace.root, onUpdate);
      loop = run(abort.signal);
    },
    async stop() {
      if (!started || stopped) return;
      stopped = true;
      abort.abort(new Error('lifecycle controller stopping'));
      await loop;
      cancelRefresh?.();
      watch?.close();
      const held = leadership;
      leadership = undefined;
      if (held !== undefined && !held.lost) await held.resign().catch((e: unknown) => logger.warn({ err: e }, 'could not resign lifecycle leadership; it lapses with the lease'));
      await lease?.revoke().catch((e: unknown) => logger.warn({ err: e }, 'could not revoke the lifecycle controller lease; it lapses after its TTL'));
      leaderGauge.set(0);
    },
    get leading() {
      return session !== undefined && leadership !== undefined && !leadership.lost && lease !== undefined && lease.valid();
    },
    ready() {
      return started && !stopped;
    },
    summary: () => current,
  };
}

function describe(action: LifecycleAction): Record<string, unknown> {
  switch (action.kind) {
    case 'abandon':
      return { kind: 'abandon', job: action.job.id, shard: action.job.value.shard, inputs: action.inputs.length, why: action.why };
    case 'expire':
      return { kind: 'expire', block: action.block.blockId, shard: action.block.shard, maxEndMs: action.block.value.meta.maxEndMs, horizonMs: action.horizonMs, policyVersion: action.policy.value.version };
    case 'plan':
      return { kind: 'plan', shard: action.shard, tenant: action.tenant, level: action.level, windowStartMs: action.windowStartMs, inputs: action.inputs.length, bytes: action.bytes, why: action.why };
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
