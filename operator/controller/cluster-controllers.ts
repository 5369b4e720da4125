// The per-TracingCluster controllers the leading operator runs against each cluster's etcd (DESIGN.md
// §9): the shard controller and the lifecycle controller from operator/cluster (the same code as
// `skein controller`), the policy written from the spec, and a mirror of the cluster's keys that
// feeds status (shards owned, map version; blocks and bytes and the last compaction and retention
// from the lifecycle controller's view) and wakes the reconciler when they change — no polling lag
// between an ingester dying and the TracingCluster saying so.
//
// ensure() never blocks a reconcile on etcd: connecting, starting the shard controller and writing the
// policy happen in the background with back-off, and state() reports how far they got.
import type { Coordinator, KeyValue } from '../../common/coord/index.js';
import { createKeyspace, type Keyspace } from '../../common/coord/index.js';
import type { Logger } from '../../common/log/index.js';
import type { Registry } from '../../common/metrics/index.js';
import {
  buildClusterState,
  createLifecycleController,
  createShardController,
  summarizeCluster,
  writePolicy,
  type ClusterSummary,
  type LifecycleController,
  type LifecyclePlanOptions,
  type ManifestSummary,
  type PolicyContent,
  type ShardController,
} from '../cluster/index.js';

export interface ClusterTarget {
  /** `<namespace>/<name>` of the TracingCluster. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly etcdEndpoints: readonly string[];
  readonly shards: number;
  readonly policy: PolicyContent;
}

export interface ClusterControllerState {
  /** `connecting` until the shard controller started and the keys were first read. */
  readonly phase: 'connecting' | 'running';
  /** The last coordinator error while not (or no longer) in touch; undefined when in touch. */
  readonly etcdError: string | undefined;
  readonly summary: ClusterSummary | undefined;
  readonly policyVersion: number | undefined;
  /** True while this operator's shard controller leads (another operator's may, during a hand-over). */
  readonly leading: boolean;
  /** True while this operator's lifecycle controller leads. */
  readonly lifecycleLeading: boolean;
  /** The block manifest in status terms (DESIGN.md §9); undefined until the lifecycle controller first read it. */
  readonly blocks: BlockStatus | undefined;
}

/** TracingCluster status.blocks: visible (live and compacting) blocks and their bytes, and when compaction and retention last changed the manifest. */
export interface BlockStatus {
  readonly count: number;
  readonly bytes: number;
  /** RFC 3339. */
  readonly lastCompactionTime?: string;
  readonly lastRetentionTime?: string;
}

/** The status view of a lifecycle controller's summary (pure). */
export function computeBlockStatus(summary: ManifestSummary): BlockStatus {
  const time = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z'));
  const compaction = time(summary.lastCompactionMs);
  const retention = time(summary.lastRetentionMs);
  return {
    count: summary.visible.count,
    bytes: summary.visible.bytes,
    ...(compaction === undefined ? {} : { lastCompactionTime: compaction }),
    ...(retention === undefined ? {} : { lastRetentionTime: retention }),
  };
}

export interface ClusterControllersOptions {
  /** A coordinator client for a cluster's etcd (etcd in production, the memory twin in unit tests). */
  readonly connect: (endpoints: readonly string[]) => Coordinator;
  /** Written into each shard controller's election key (the operator's pod name). */
  readonly identity: string;
  readonly logger: Logger;
  /** Each cluster's shard controller gets a child registry labelled with the cluster. */
  readonly registryFor: (key: string) => Registry;
  /** Called (debounced) when a cluster's keys or controller state change: enqueue the key. */
  readonly onChange: (key: string) => void;
  readonly leaseTtlSeconds?: number;
  readonly maxConcurrentHandoffs?: number;
  readonly rebalanceIntervalMs?: number;
  /** The lifecycle controller's pass interval (it also runs on every manifest change). */
  readonly lifecycleIntervalMs?: number;
  /** The lifecycle controller's planner rules (defaults in operator/cluster). */
  readonly lifecyclePlan?: Partial<LifecyclePlanOptions>;
  /**
   * Least time between two reconciles woken by block counts alone: every flush changes them, and a
   * reconcile applies every object, so status.blocks trails the manifest by up to this much.
   */
  readonly blockStatusIntervalMs?: number;
  /** Back-off between attempts to start a controller or write the policy. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

export interface ClusterControllers {
  /** Starts (or updates) the controllers of a cluster; returns at once. */
  ensure(target: ClusterTarget): void;
  state(key: string): ClusterControllerState | undefined;
  /** Stops a cluster's controllers (resigning, revoking its lease) and closes its client. */
  stop(key: string): Promise<void>;
  /**
   * Stops the cluster's controllers and deletes every key under its root: the TracingCluster is
   * being deleted. Rejects when etcd cannot be reached (the caller retries or gives up by policy).
   */
  purge(target: Pick<ClusterTarget, 'key' | 'namespace' | 'name' | 'etcdEndpoints'>): Promise<number>;
  stopAll(): Promise<void>;
  keys(): string[];
}

const DEFAULTS = { leaseTtlSeconds: 10, maxConcurrentHandoffs: 2, rebalanceIntervalMs: 1000, lifecycleIntervalMs: 30_000, blockStatusIntervalMs: 30_000, retryMinMs: 200, retryMaxMs: 10_000 };
const CHANGE_DEBOUNCE_MS = 100;
/** An etcd txn holds at most 128 operations. */
const DELETE_BATCH = 100;

interface Runtime {
  readonly endpointsKey: string;
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  readonly controller: ShardController;
  readonly lifecycle: LifecycleController;
  readonly abort: AbortController;
  readonly keys: Map<string, KeyValue>;
  target: ClusterTarget;
  started: boolean;
  etcdError: string | undefined;
  summary: ClusterSummary | undefined;
  blocks: BlockStatus | undefined;
  policyVersion: number | undefined;
  policyWritten: string | undefined;
  wake: () => void;
  debounce: ReturnType<typeof setTimeout> | undefined;
  /** A pending reconcile for new block counts, and when the last one was asked for. */
  blocksWake: ReturnType<typeof setTimeout> | undefined;
  blocksWokeAt: number;
  loop: Promise<void>;
  watch: { close(): void } | undefined;
}

export function createClusterControllers(options: ClusterControllersOptions): ClusterControllers {
  const o = { ...DEFAULTS, ...options };
  const runtimes = new Map<string, Runtime>();

  const changed = (rt: Runtime): void => {
    if (rt.debounce !== undefined || rt.abort.signal.aborted) return;
    rt.debounce = setTimeout(() => {
      rt.debounce = undefined;
      if (!rt.abort.signal.aborted) options.onChange(rt.target.key);
    }, CHANGE_DEBOUNCE_MS);
  };

  /** New block counts wake the reconciler at most once per blockStatusIntervalMs. */
  const blocksChanged = (rt: Runtime): void => {
    if (rt.blocksWake !== undefined || rt.abort.signal.aborted) return;
    const wait = Math.max(0, rt.blocksWokeAt + o.blockStatusIntervalMs - Date.now());
    rt.blocksWake = setTimeout(() => {
      rt.blocksWake = undefined;
      rt.blocksWokeAt = Date.now();
      changed(rt);
    }, wait);
  };

  const summarize = (rt: Runtime): void => {
    const next = summarizeCluster(buildClusterState(rt.keyspace, rt.keys.values()));
    if (JSON.stringify(next) !== JSON.stringify(rt.summary)) {
      rt.summary = next;
      changed(rt);
    }
  };

  const setError = (rt: Runtime, error: string | undefined): void => {
    if (rt.etcdError === error) return;
    rt.etcdError = error;
    changed(rt);
  };

  /** Start the controller, then keep the policy written; one loop per cluster, woken by ensure(). */
  const run = async (rt: Runtime): Promise<void> => {
    const log = o.logger.child({ cluster: rt.target.key });
    let delay = o.retryMinMs;
    const backoff = async (): Promise<void> => {
      await sleepUnlessAborted(delay * (0.8 + Math.random() * 0.4), rt.abort.signal, (w) => (rt.wake = w));
      delay = Math.min(o.retryMaxMs, delay * 2);
    };
    while (!rt.abort.signal.aborted) {
      try {
        if (!rt.started) {
          // Both start() calls are idempotent: after a failure of the second, the first is a no-op.
          await rt.controller.start();
          await rt.lifecycle.start();
          rt.started = true;
          log.info({ endpoints: rt.target.etcdEndpoints, shards: rt.target.shards }, 'shard and lifecycle controllers started');
          changed(rt);
        }
        const policyText = JSON.stringify(rt.target.policy);
        if (rt.policyWritten !== policyText) {
          const result = await writePolicy(rt.coord, rt.keyspace, rt.target.policy);
          rt.policyWritten = policyText;
          if (result.kind === 'written') log.info({ version: result.value.version }, 'policy written');
          if (rt.policyVersion !== result.value.version) {
            rt.policyVersion = result.value.version;
            changed(rt);
          }
        }
        delay = o.retryMinMs;
        if (rt.watch !== undefined && rt.summary !== undefined) setError(rt, undefined);
        // Wait for the next ensure() with something new to do.
        await sleepUnlessAborted(Number.POSITIVE_INFINITY, rt.abort.signal, (w) => (rt.wake = w));
      } catch (e) {
        if (rt.abort.signal.aborted) break;
        const message = `etcd at ${rt.target.etcdEndpoints.join(',')}: ${e instanceof Error ? e.message : String(e)}`;
        log.warn({ err: e, retryInMs: Math.round(delay) }, 'cluster controller could not reach etcd; retrying');
        setError(rt, message);
        await backoff();
      }
    }
  };

  const startRuntime = (target: ClusterTarget): Runtime => {
    const coord = options.connect(target.etcdEndpoints);
    const keyspace = createKeyspace(target.namespace, target.name);
    const controller = createShardController({
      coord,
      keyspace,
      identity: options.identity,
      desiredShardCount: target.shards,
      maxConcurrentHandoffs: o.maxConcurrentHandoffs,
      rebalanceIntervalMs: o.rebalanceIntervalMs,
      leaseTtlSeconds: o.leaseTtlSeconds,
      logger: o.logger.child({ cluster: target.key, component: 'shard-controller' }),
      registry: options.registryFor(target.key),
    });
    // The policy is written from the spec by run() below, so the lifecycle controller writes none.
    const lifecycle = createLifecycleController({
      coord,
      keyspace,
      identity: options.identity,
      intervalMs: o.lifecycleIntervalMs,
      leaseTtlSeconds: o.leaseTtlSeconds,
      ...(o.lifecyclePlan === undefined ? {} : { plan: o.lifecyclePlan }),
      logger: o.logger.child({ cluster: target.key, component: 'lifecycle-controller' }),
      registry: options.registryFor(target.key),
      onSummary: (summary) => {
        const next = computeBlockStatus(summary);
        if (JSON.stringify(next) === JSON.stringify(rt.blocks)) return;
        const first = rt.blocks === undefined;
        rt.blocks = next;
        if (first) changed(rt);
        else blocksChanged(rt);
      },
    });
    const rt: Runtime = {
      endpointsKey: target.etcdEndpoints.join(','),
      coord,
      keyspace,
      controller,
      lifecycle,
      abort: new AbortController(),
      keys: new Map(),
      target,
      started: false,
      etcdError: undefined,
      summary: undefined,
      blocks: undefined,
      policyVersion: undefined,
      policyWritten: undefined,
      wake: () => {},
      debounce: undefined,
      blocksWake: undefined,
      blocksWokeAt: Number.NEGATIVE_INFINITY,
      loop: Promise.resolve(),
      watch: undefined,
    };
    rt.watch = coord.watchPrefix(keyspace.root, (update) => {
      if (update.kind === 'disconnected') {
        setError(rt, `etcd at ${target.etcdEndpoints.join(',')}: ${update.error.message}`);
        return;
      }
      if (update.kind === 'snapshot') {
        rt.keys.clear();
        for (const kv of update.entries) rt.keys.set(kv.key, kv);
        if (rt.started) setError(rt, undefined);
      } else {
        for (const e of update.events) {
          if (e.type === 'put') rt.keys.set(e.kv.key, e.kv);
          else rt.keys.delete(e.key);
        }
      }
      summarize(rt);
    });
    rt.loop = run(rt);
    return rt;
  };

  const stopRuntime = async (rt: Runtime): Promise<void> => {
    rt.abort.abort();
    rt.wake();
    if (rt.debounce !== undefined) clearTimeout(rt.debounce);
    if (rt.blocksWake !== undefined) clearTimeout(rt.blocksWake);
    rt.watch?.close();
    await rt.loop;
    await Promise.all([
      rt.controller.stop().catch((e: unknown) => o.logger.warn({ err: e, cluster: rt.target.key }, 'could not stop the shard controller cleanly')),
      rt.lifecycle.stop().catch((e: unknown) => o.logger.warn({ err: e, cluster: rt.target.key }, 'could not stop the lifecycle controller cleanly')),
    ]);
    await rt.coord.close().catch(() => {});
  };

  return {
    ensure(target) {
      const rt = runtimes.get(target.key);
      if (rt !== undefined && rt.endpointsKey === target.etcdEndpoints.join(',')) {
        rt.target = target;
        rt.controller.setDesiredShardCount(target.shards);
        rt.wake();
        return;
      }
      if (rt !== undefined) {
        // New endpoints: a different etcd. Stop the old controllers in the background first.
        runtimes.delete(target.key);
        void stopRuntime(rt).finally(() => {
          if (!runtimes.has(target.key)) runtimes.set(target.key, startRuntime(target));
        });
        return;
      }
      runtimes.set(target.key, startRuntime(target));
    },
    state(key) {
      const rt = runtimes.get(key);
      if (rt === undefined) return undefined;
      return {
        phase: rt.started && rt.summary !== undefined ? 'running' : 'connecting',
        etcdError: rt.etcdError,
        summary: rt.summary,
        policyVersion: rt.policyVersion,
        leading: rt.controller.leading,
        lifecycleLeading: rt.lifecycle.leading,
        blocks: rt.blocks,
      };
    },
    async stop(key) {
      const rt = runtimes.get(key);
      if (rt === undefined) return;
      runtimes.delete(key);
      await stopRuntime(rt);
    },
    async purge(target) {
      const rt = runtimes.get(target.key);
      if (rt !== undefined) {
        runtimes.delete(target.key);
        await stopRuntime(rt);
      }
      const coord = options.connect(target.etcdEndpoints);
      try {
        const root = createKeyspace(target.namespace, target.name).root;
        let deleted = 0;
        for (;;) {
          const page = await coord.range(root, { limit: DELETE_BATCH });
          if (page.entries.length === 0) return deleted;
          const result = await coord.txn({ compare: [], success: page.entries.map((kv) => ({ op: 'delete' as const, key: kv.key })) });
          if (result.kind !== 'committed') throw new Error(`deleting the keys under ${root}: ${result.kind === 'unknown' ? result.error.message : result.kind}`);
          deleted += page.entries.length;
        }
      } finally {
        await coord.close().catch(() => {});
      }
    },
    async stopAll() {
      const all = [...runtimes.values()];
      runtimes.clear();
      await Promise.all(all.map(stopRuntime));
    },
    keys() {
      return [...runtimes.keys()];
    },
  };
}

/** Sleeps up to `ms` (Infinity = until woken); `register` receives the function that wakes it early. */
function sleepUnlessAborted(ms: number, signal: AbortSignal, register: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal.removeEventListener('abort', done);
      register(() => {});
      resolve();
    };
    if (Number.isFinite(ms)) timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    register(done);
  });
}
