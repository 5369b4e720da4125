// The operator process's composition root (DESIGN.md §9): supervised informers on TracingClusters and
// on every kind it owns (label-selected) keep caches warm on every replica; a Lease elects one
// leader, which alone runs the work queue, the reconcilers and the per-cluster controllers. Losing
// the lease stops all of that before anything else can act; SIGTERM releases it so a standby takes
// over at once.
import type { Coordinator } from '../../common/coord/index.js';
import { createEtcdCoordinator } from '../../common/coord/index.js';
import type { Logger } from '../../common/log/index.js';
import { counter, createRegistry, gauge, histogram, type Registry } from '../../common/metrics/index.js';
import { API_VERSION, KIND, validateTracingCluster } from '../api/index.js';
import { createInformer, createLeaseElector, type Informer, type KindRef, type KubeClient, type KubeObject, type LeaseElector } from '../kube/index.js';
import { LABEL_MANAGED_BY, MANAGED_BY, MANAGED_KINDS } from '../manifests/index.js';
import { createClusterControllers, type ClusterControllers } from './cluster-controllers.js';
import { createEventRecorder } from './events.js';
import type { CachedCluster } from './injection.js';
import { createInjectionRuntime, type InjectionRuntime, type WebhookSettings } from './injection-runtime.js';
import { mergeExpositions } from './metrics-text.js';
import { createWorkQueue, runWorkers } from './queue.js';
import { createReconciler } from './reconciler.js';

export const FIELD_MANAGER = 'skein-operator';

export interface OperatorOptions {
  readonly kube: KubeClient;
  readonly logger: Logger;
  readonly registry: Registry;
  /** This replica (pod name): Lease holder identity and shard-controller identity. */
  readonly identity: string;
  /** Namespaces to manage; empty = all. */
  readonly watchNamespaces: readonly string[];
  readonly leaseNamespace: string;
  readonly leaseName: string;
  readonly componentImage: string;
  readonly etcdImage: string;
  readonly version: string;
  /** A coordinator client for a cluster's etcd. Default: etcd. */
  readonly connectEtcd?: (endpoints: readonly string[]) => Coordinator;
  readonly workers?: number;
  readonly leaseDurationSeconds?: number;
  readonly renewDeadlineSeconds?: number;
  readonly retryPeriodSeconds?: number;
  /** Shard-controller lease TTL in each cluster's etcd. */
  readonly clusterLeaseTtlSeconds?: number;
  /** Sidecar injection: the admission webhook every replica serves. Absent: no injection. */
  readonly webhook?: WebhookSettings;
  /** Inject the agent as a native sidecar (Kubernetes ≥ 1.29). Default true. */
  readonly nativeSidecar?: boolean;
}

export interface Operator {
  start(): Promise<void>;
  /** Stops reconciling, stops every cluster controller, releases the Lease, stops the informers. */
  stop(): Promise<void>;
  /** Every informer has listed once (leader and standby alike). */
  ready(): boolean;
  leading(): boolean;
  /** Prometheus text of the operator and of every cluster's shard controller. */
  metrics(): Promise<string>;
}

export function createOperator(options: OperatorOptions): Operator {
  const { kube, logger, registry } = options;
  const abort = new AbortController();
  const reconciles = counter(registry, 'skein_operator_reconciles_total', 'Reconciles of a TracingCluster by result (success, error).', ['result']);
  const reconcileSeconds = histogram(registry, 'skein_operator_reconcile_duration_seconds', 'Time one reconcile of a TracingCluster took.', [], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  const leaderGauge = gauge(registry, 'skein_operator_leader', '1 while this replica leads (reconciles), 0 while it stands by.');
  const queueDepth = gauge(registry, 'skein_operator_queue_depth', 'TracingCluster keys waiting to be reconciled.');
  leaderGauge.set(0);

  const clusterRegistries = new Map<string, Registry>();
  let enqueue: ((key: string) => void) | undefined;
  let injection: InjectionRuntime | undefined;

  const clusters: ClusterControllers = createClusterControllers({
    connect: options.connectEtcd ?? ((endpoints) => createEtcdCoordinator({ endpoints })),
    identity: options.identity,
    logger: logger.child({ component: 'cluster-controllers' }),
    registryFor: (key) => {
      let r = clusterRegistries.get(key);
      if (r === undefined) {
        r = createRegistry({ defaultMetrics: false, labels: { tracingcluster: key } });
        clusterRegistries.set(key, r);
      }
      return r;
    },
    onChange: (key) => enqueue?.(key),
    ...(options.clusterLeaseTtlSeconds === undefined ? {} : { leaseTtlSeconds: options.clusterLeaseTtlSeconds }),
  });
  const reconcile = createReconciler({
    kube,
    clusters,
    events: createEventRecorder({ kube, component: FIELD_MANAGER, instance: options.identity, logger }),
    logger: logger.child({ component: 'reconciler' }),
    componentImage: options.componentImage,
    etcdImage: options.etcdImage,
    version: options.version,
    fieldManager: FIELD_MANAGER,
    injectionMissed: (key) => injection?.missed(key),
  });

  const namespaces: (string | undefined)[] = options.watchNamespaces.length === 0 ? [undefined] : [...options.watchNamespaces];
  const informers: Informer[] = [];
  const tcInformers: Informer[] = [];
  const tcKind: KindRef = { apiVersion: API_VERSION, kind: KIND };
  const keyOfOwner = (o: KubeObject): string | undefined => {
    const owner = (o.metadata.ownerReferences ?? []).find((r) => r.controller === true && r.kind === KIND && r.apiVersion === API_VERSION);
    return owner === undefined || o.metadata.namespace === undefined ? undefined : `${o.metadata.namespace}/${owner.name}`;
  };
  const watch = (kind: KindRef, namespace: string | undefined, labelSelector: string | undefined, keyOf: (o: KubeObject) => string | undefined): Informer => {
    const informer = createInformer({
        client: kube,
        kind,
        ...(namespace === undefined ? {} : { namespace }),
        ...(labelSelector === undefined ? {} : { labelSelector }),
        onChange: (o) => {
          const key = keyOf(o);
          if (key !== undefined) enqueue?.(key);
        },
        onError: (e) => logger.warn({ err: e, kind: kind.kind, namespace }, 'watch failed; retrying with back-off'),
        backoff: { initialMs: 200, maxMs: 30_000 },
        signal: abort.signal,
      });
    informers.push(informer);
    return informer;
  };
  for (const ns of namespaces) {
    tcInformers.push(watch(tcKind, ns, undefined, (o) => (o.metadata.namespace === undefined ? undefined : `${o.metadata.namespace}/${o.metadata.name}`)));
    for (const kind of MANAGED_KINDS) watch(kind, ns, `${LABEL_MANAGED_BY}=${MANAGED_BY}`, keyOfOwner);
  }

  // Sidecar injection reads TracingClusters (validated once per resourceVersion) and namespaces
  // from the caches: an admission must not wait on the API server.
  if (options.webhook !== undefined) {
    const nsInformer = createInformer({
      client: kube,
      kind: { apiVersion: 'v1', kind: 'Namespace' },
      onChange: () => {},
      onError: (e) => logger.warn({ err: e, kind: 'Namespace' }, 'watch failed; retrying with back-off'),
      backoff: { initialMs: 200, maxMs: 30_000 },
      signal: abort.signal,
    });
    informers.push(nsInformer);
    const validated = new Map<string, { rv: string | undefined; cluster: CachedCluster | undefined }>();
    const clustersView = (): CachedCluster[] => {
      const out: CachedCluster[] = [];
      const seen = new Set<string>();
      for (const o of tcInformers.flatMap((i) => i.list())) {
        const uid = o.metadata.uid ?? `${o.metadata.namespace}/${o.metadata.name}`;
        seen.add(uid);
        let entry = validated.get(uid);
        if (entry === undefined || entry.rv !== o.metadata.resourceVersion) {
          const r = validateTracingCluster(o);
          entry = { rv: o.metadata.resourceVersion, cluster: r.ok && o.metadata.namespace !== undefined ? { ref: { namespace: o.metadata.namespace, name: o.metadata.name }, tc: r.value } : undefined };
          validated.set(uid, entry);
        }
        if (entry.cluster !== undefined && o.metadata.deletionTimestamp === undefined) out.push(entry.cluster);
      }
      for (const uid of validated.keys()) if (!seen.has(uid)) validated.delete(uid);
      return out;
    };
    injection = createInjectionRuntime({
      kube,
      logger,
      registry,
      view: { clusters: clustersView, namespaceAnnotations: (ns) => nsInformer.get(undefined, ns)?.metadata.annotations },
      settings: { componentImage: options.componentImage, nativeSidecar: options.nativeSidecar ?? true },
      webhook: options.webhook,
      watchNamespaces: options.watchNamespaces,
      events: createEventRecorder({ kube, component: FIELD_MANAGER, instance: options.identity, logger }),
      onMissedChanged: (key) => enqueue?.(key),
      fieldManager: FIELD_MANAGER,
    });
  }

  /** Runs while this replica leads; returns when `signal` aborts (lease lost or shutdown). */
  const lead = async (signal: AbortSignal): Promise<void> => {
    leaderGauge.set(1);
    logger.info({ identity: options.identity }, 'leading: reconciling TracingClusters');
    const queue = createWorkQueue();
    enqueue = (key) => {
      queue.add(key);
      queueDepth.set(queue.length);
    };
    for (const o of tcInformers.flatMap((i) => i.list())) enqueue(`${o.metadata.namespace}/${o.metadata.name}`);
    const upkeep = injection?.lead(signal).catch((e: unknown) => logger.error({ err: e }, 'injection upkeep stopped'));
    try {
      await runWorkers({
        queue,
        workers: options.workers ?? 4,
        reconcile: async (key, s) => {
          queueDepth.set(queue.length);
          const end = reconcileSeconds.startTimer();
          try {
            const r = await reconcile(key, s);
            reconciles.inc({ result: 'success' });
            return r;
          } catch (e) {
            reconciles.inc({ result: 'error' });
            throw e;
          } finally {
            end();
          }
        },
        onError: (key, e) => logger.warn({ err: e, tracingcluster: key, retries: queue.failures(key) }, 'reconcile failed; retrying with back-off'),
        signal,
      });
    } finally {
      await upkeep;
      enqueue = undefined;
      queue.shutDown();
      await clusters.stopAll();
      leaderGauge.set(0);
      logger.info('stopped leading');
    }
  };

  let leading: Promise<void> | undefined;
  let elector: LeaseElector | undefined;
  let electing: Promise<void> | undefined;

  return {
    async start() {
      await Promise.all(informers.map((i) => i.start()));
      await injection?.start();
      logger.info({ informers: informers.length, namespaces: options.watchNamespaces.length === 0 ? 'all' : options.watchNamespaces }, 'caches synced');
      elector = createLeaseElector({
        client: kube,
        namespace: options.leaseNamespace,
        name: options.leaseName,
        identity: options.identity,
        ...(options.leaseDurationSeconds === undefined ? {} : { leaseDurationSeconds: options.leaseDurationSeconds }),
        ...(options.renewDeadlineSeconds === undefined ? {} : { renewDeadlineSeconds: options.renewDeadlineSeconds }),
        ...(options.retryPeriodSeconds === undefined ? {} : { retryPeriodSeconds: options.retryPeriodSeconds }),
        onStartedLeading: (signal) => {
          leading = lead(signal).catch((e: unknown) => logger.error({ err: e }, 'leader loop failed'));
        },
        onStoppedLeading: () => {},
        logger: logger.child({ component: 'leader-election' }),
      });
      electing = elector.run(abort.signal);
    },
    async stop() {
      abort.abort();
      await electing;
      await leading;
      await elector?.release().catch((e: unknown) => logger.warn({ err: e }, 'could not release the leader Lease; a standby takes over when it expires'));
      await clusters.stopAll();
      await injection?.stop();
    },
    ready() {
      return informers.every((i) => i.synced());
    },
    leading() {
      return elector?.isLeader() ?? false;
    },
    async metrics() {
      const texts = [await registry.metrics()];
      for (const [key, r] of clusterRegistries) {
        if (clusters.keys().includes(key)) texts.push(await r.metrics());
        else clusterRegistries.delete(key);
      }
      return mergeExpositions(texts);
    },
  };
}
