// The shard controller's I/O shell (ADR 0006 "Shard controller"): one lease, a campaign on
// `controller/leader`, and while leading a watch of the cluster root mirrored in memory. Every
// change (debounced) and a periodic tick run a pass: build the state, compute the actions (pure),
// send them as CAS transactions. Nothing is remembered between passes except the time of the last
// rebalance round; a rejected or unknown write is planned again from what the watch shows next.
import {
  campaign,
  ifCreateRevision,
  sleep,
  systemClock,
  type Clock,
  type Coordinator,
  type KeyValue,
  type Keyspace,
  type Lease,
  type Leadership,
  type TxnResult,
  type WatchUpdate,
} from '../../common/coord/index.js';
import type { Logger } from '../../common/log/index.js';
import { counter, gauge, type Registry } from '../../common/metrics/index.js';
import { buildClusterState } from './cluster-state.js';
import { computeControllerActions, type ControllerAction } from './controller-actions.js';

export interface ShardControllerOptions {
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  /** Who this controller is (member id or pod name); stored in the election key for people to read. */
  readonly identity: string;
  readonly desiredShardCount: number;
  readonly maxConcurrentHandoffs: number;
  readonly rebalanceIntervalMs: number;
  /** TTL of the controller's own lease; a dead leader is replaced about this long after it stops. */
  readonly leaseTtlSeconds: number;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Timers (debounce, tick, retry back-off) and rebalance pacing. Default: the monotonic system clock. */
  readonly clock?: Clock;
}

export interface ShardController {
  /** Grants the first lease (rejects when the coordinator cannot), then campaigns in the background. */
  start(): Promise<void>;
  /** Stops acting, resigns leadership if held, revokes the lease. Idempotent. */
  stop(): Promise<void>;
  /** Changes the shard count the controller writes into `partition` (1..4096). */
  setDesiredShardCount(n: number): void;
  /** True while this controller holds the election key on a lease it still trusts. */
  readonly leading: boolean;
  /** True between a successful start() and stop(): leader and standby are both ready. */
  ready(): boolean;
}

/** Defaults live in one place (STYLE.md rule 8). */
const DEBOUNCE_MS = 20;
const MIN_TICK_MS = 50;
const MAX_TICK_MS = 500;
const WRITE_CONCURRENCY = 16;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;
const MAX_SHARDS = 4096;

type WriteOutcome = TxnResult['kind'] | 'error';

export function createShardController(options: ShardControllerOptions): ShardController {
  const { coord, keyspace, identity, logger, registry } = options;
  const clock = options.clock ?? systemClock;
  const tickMs = Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(options.rebalanceIntervalMs / 2)));
  checkShardCount(options.desiredShardCount);
  let desiredShardCount = options.desiredShardCount;

  const leaderGauge = gauge(registry, 'skein_controller_leader', '1 while this shard controller leads, 0 while it stands by.');
  const writes = counter(registry, 'skein_controller_writes_total', 'Shard controller CAS writes by action and outcome (committed, rejected, unknown, lease-not-found, error).', [
    'action',
    'outcome',
  ]);
  const handoffsGauge = gauge(registry, 'skein_controller_handoffs_in_progress', 'Shard assignments in handoff, as the leader last saw them.');
  const shardsGauge = gauge(registry, 'skein_controller_shards', 'Shards below the shard count by assignment state, as the leader last saw them.', ['state']);
  const malformedGauge = gauge(registry, 'skein_controller_malformed_keys', 'Keys under the cluster root whose value or name the leader could not read (ignored).');
  leaderGauge.set(0);

  const abort = new AbortController();
  let lease: Lease | undefined;
  let leadership: Leadership | undefined;
  let session: LeaderSession | undefined;
  let loop: Promise<void> | undefined;
  let started = false;
  let stopped = false;
  /** Clock time of the last committed rebalance write; rounds are paced from it. */
  let lastRebalanceAt = Number.NEGATIVE_INFINITY;

  const grant = async (): Promise<Lease> => {
    const l = await coord.grantLease(options.leaseTtlSeconds);
    logger.debug({ lease: l.id, ttlSeconds: l.ttlSeconds }, 'controller lease granted');
    return l;
  };

  interface LeaderSession {
    /** Ends when leadership is lost, the lease is no longer trusted, or the controller stops. */
    readonly ended: Promise<void>;
    end(): void;
    schedule(): void;
    close(): Promise<void>;
  }

  function openSession(held: Leadership, heldLease: Lease): LeaderSession {
    const log = logger.child({ leaderToken: held.token });
    let mirror = new Map<string, KeyValue>();
    let synced = false;
    let mirrorRevision = 0;
    /** Revision of our last committed write: passes wait until the watch has shown it. */
    let awaitRevision = 0;
    let closed = false;
    let running: Promise<void> | undefined;
    let rerun = false;
    let cancelDebounce: (() => void) | undefined;
    let cancelTick: (() => void) | undefined;
    let lastMalformed = '';
    let lastWaiting: string | undefined;
    let endSession: () => void = () => {};
    const ended = new Promise<void>((resolve) => (endSession = resolve));

    const valid = (): boolean => !closed && !held.lost && heldLease.valid();
    const relevant = (key: string): boolean => key === keyspace.partition || key.startsWith(keyspace.membersPrefix) || key.startsWith(keyspace.shardsPrefix);

    const onUpdate = (update: WatchUpdate): void => {
      if (update.kind === 'disconnected') {
        // Act on nothing until the re-list: events may have been missed.
        synced = false;
        return;
      }
      let changed = false;
      if (update.kind === 'snapshot') {
        mirror = new Map(update.entries.filter((kv) => relevant(kv.key)).map((kv) => [kv.key, kv]));
        synced = true;
        changed = true;
      } else {
        for (const e of update.events) {
          const key = e.type === 'put' ? e.kv.key : e.key;
          if (!relevant(key)) continue;
          if (e.type === 'put') mirror.set(key, e.kv);
          else mirror.delete(key);
          changed = true;
        }
      }
      mirrorRevision = Math.max(mirrorRevision, update.revision);
      if (changed) schedule();
    };

    const schedule = (): void => {
      if (closed || cancelDebounce !== undefined) return;
      cancelDebounce = clock.setTimer(() => {
        cancelDebounce = undefined;
        kick();
      }, DEBOUNCE_MS);
    };

    const kick = (): void => {
      if (closed) return;
      if (running !== undefined) {
        rerun = true;
        return;
      }
      running = pass()
        .catch((e: unknown) => log.error({ err: e }, 'controller pass failed'))
        .finally(() => {
          running = undefined;
          if (rerun) {
            rerun = false;
            schedule();
          }
        });
    };

    const tick = (): void => {
      if (closed) return;
      if (!heldLease.valid()) {
        // Abandoned or past its local deadline: whatever etcd says, we no longer lead.
        endSession();
        return;
      }
      cancelTick = clock.setTimer(tick, tickMs);
      kick();
    };

    const pass = async (): Promise<void> => {
      if (!synced || mirrorRevision < awaitRevision || !valid()) return;
      const state = buildClusterState(keyspace, mirror.values());
      const plan = computeControllerActions(state, {
        keyspace,
        desiredShardCount,
        maxConcurrentHandoffs: options.maxConcurrentHandoffs,
        rebalanceAllowed: clock.now() - lastRebalanceAt >= options.rebalanceIntervalMs,
      });
      handoffsGauge.set(plan.handoffsInProgress);
      for (const stateName of ['active', 'handoff', 'unassigned'] as const) shardsGauge.set({ state: stateName }, plan.shards[stateName]);
      malformedGauge.set(plan.malformed.length);
      const malformedText = JSON.stringify(plan.malformed);
      if (malformedText !== lastMalformed) {
        lastMalformed = malformedText;
        if (plan.malformed.length > 0) log.warn({ malformed: plan.malformed }, 'ignoring malformed keys under the cluster root');
      }
      if (plan.waitingFor !== lastWaiting) {
        lastWaiting = plan.waitingFor;
        if (plan.waitingFor !== undefined) log.info({ waitingFor: plan.waitingFor }, 'shard work waits for the partition map');
      }
      await forEachBounded(plan.actions, WRITE_CONCURRENCY, (action) => write(action));
    };

    const write = async (action: ControllerAction): Promise<void> => {
      if (!valid()) return;
      // Fenced by the election key's create revision: a deposed leader's writes fail in etcd even
      // if this process has not noticed yet.
      const txn = { ...action.txn, compare: [...action.txn.compare, ifCreateRevision(keyspace.controllerElection, held.token)] };
      let outcome: WriteOutcome;
      try {
        const result = await coord.txn(txn);
        outcome = result.kind;
        if (result.kind === 'committed') {
          awaitRevision = Math.max(awaitRevision, result.revision);
          if (action.rebalance) lastRebalanceAt = clock.now();
        }
      } catch (e) {
        log.warn({ err: e, action: action.kind, shard: action.shard }, 'controller write failed');
        outcome = 'error';
      }
      writes.inc({ action: action.kind, outcome });
      log.info({ action: action.kind, shard: action.shard, reason: action.reason, outcome }, 'controller write');
    };

    const watch = coord.watchPrefix(keyspace.root, onUpdate); // may throw (client closed): nothing to undo yet
    const offLost = held.onLost(() => endSession());
    cancelTick = clock.setTimer(tick, tickMs);

    return {
      ended,
      end: () => endSession(),
      schedule,
      async close() {
        closed = true;
        offLost();
        cancelDebounce?.();
        cancelTick?.();
        watch.close();
        endSession();
        await running;
      },
    };
  }

  /** Holds one leadership until it ends or the controller stops. */
  async function lead(held: Leadership, heldLease: Lease, signal: AbortSignal): Promise<void> {
    const s = openSession(held, heldLease);
    session = s;
    leaderGauge.set(1);
    logger.info({ identity, leaderToken: held.token }, 'shard controller leading');
    const onAbort = (): void => s.end();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await s.ended;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await s.close();
      session = undefined;
      leaderGauge.set(0);
    }
    if (!signal.aborted) logger.warn({ identity, leaderToken: held.token }, 'shard controller lost leadership; standing by');
  }

  async function run(signal: AbortSignal): Promise<void> {
    let backoff = RETRY_MIN_MS;
    while (!signal.aborted) {
      try {
        if (leadership === undefined || leadership.lost || lease === undefined || !lease.valid()) {
          leadership = undefined;
          if (lease === undefined || !lease.valid()) {
            // Expired or abandoned: a new lease, never keys bound to the old one (ADR 0006). Revoking
            // the old one frees a stale election key sooner; it may well be gone already.
            const old = lease;
            lease = undefined;
            await old?.revoke().catch(() => {});
            lease = await grant();
          }
          leadership = await campaign(coord, { key: keyspace.controllerElection, value: JSON.stringify({ identity }), lease, signal, clock });
        }
        await lead(leadership, lease, signal);
        backoff = RETRY_MIN_MS;
      } catch (e) {
        if (signal.aborted) break;
        logger.warn({ err: e, retryInMs: backoff }, 'shard controller campaign failed; retrying');
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
        first = await grant();
      } catch (e) {
        started = false; // not ready, and start() may be called again
        throw e;
      }
      if (stopped) {
        await first.revoke().catch(() => {});
        return;
      }
      lease = first;
      loop = run(abort.signal);
    },
    async stop() {
      if (!started || stopped) return;
      stopped = true;
      abort.abort(new Error('shard controller stopping'));
      await loop;
      const held = leadership;
      leadership = undefined;
      if (held !== undefined && !held.lost) await held.resign().catch((e: unknown) => logger.warn({ err: e }, 'could not resign controller leadership; it lapses with the lease'));
      await lease?.revoke().catch((e: unknown) => logger.warn({ err: e }, 'could not revoke the controller lease; it lapses after its TTL'));
      leaderGauge.set(0);
    },
    setDesiredShardCount(n) {
      checkShardCount(n);
      desiredShardCount = n;
      session?.schedule();
    },
    get leading() {
      return session !== undefined && leadership !== undefined && !leadership.lost && lease !== undefined && lease.valid();
    },
    ready() {
      return started && !stopped;
    },
  };
}

function checkShardCount(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_SHARDS) throw new RangeError(`shard count must be an integer in 1..${MAX_SHARDS}, got ${n}`);
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
