// Reconcile one TracingCluster key, level-triggered (STYLE.md rule 2): read the resource, gather the
// facts, build every desired object (pure), server-side apply them under one field manager, prune
// what is owned but no longer desired, keep the cluster controllers in step with the spec, then
// compute and write the status once. It never branches on what event woke it: deletion is seen as
// a deletionTimestamp (our finalizer holds the object until the cluster's etcd keys are removed).
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../../common/log/index.js';
import { validateTracingCluster, validateTracingClusterSpec, API_VERSION, KIND, type TracingClusterSpec, type TracingClusterStatus } from '../api/index.js';
import { isNotFound, KubeApiError, type KubeClient, type KubeObject } from '../kube/index.js';
import { buildAll, clusterEndpoints, MANAGED_KINDS, ownedObjectsSelector, resourceNames, type BuildParams } from '../manifests/index.js';
import { computeStatus, type StatusFacts, type WorkloadFacts } from '../status/index.js';
import type { ClusterControllers } from './cluster-controllers.js';
import { computeClusterTarget, computeEtcdEndpoints } from './cluster-target.js';
import type { EventRecorder } from './events.js';
import { computeImmutableChanges } from './immutable.js';

export const FINALIZER = 'tracing.skein.dev/cleanup';
/** Records how many members the managed etcd was bootstrapped with (its member count is fixed after). */
export const ETCD_MEMBERS_ANNOTATION = 'tracing.skein.dev/etcd-members';

export interface ReconcilerOptions {
  readonly kube: KubeClient;
  readonly clusters: ClusterControllers;
  readonly events: EventRecorder;
  readonly logger: Logger;
  /** Image of the Skein components when spec.image is not set. */
  readonly componentImage: string;
  readonly etcdImage: string;
  readonly version: string;
  readonly fieldManager: string;
  readonly now?: () => Date;
  /** Re-check a cluster this often while it is not Ready (watches wake it sooner). */
  readonly notReadyResyncMs?: number;
  /** Re-check every cluster this often even when nothing changed. */
  readonly resyncMs?: number;
  /** Pods of a cluster that asked for the agent sidecar and run without it (undefined: not known yet). */
  readonly injectionMissed?: (key: string) => number | undefined;
}

export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

export type Reconcile = (key: string, signal: AbortSignal) => Promise<ReconcileResult>;

/** Splits `<namespace>/<name>`. */
export function parseKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  if (i <= 0) throw new Error(`bad key ${JSON.stringify(key)}`);
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export function createReconciler(options: ReconcilerOptions): Reconcile {
  const { kube, clusters, events, fieldManager } = options;
  const now = options.now ?? (() => new Date());
  const notReadyResyncMs = options.notReadyResyncMs ?? 10_000;
  const resyncMs = options.resyncMs ?? 5 * 60_000;

  const tcRef = (namespace: string, name: string) => ({ apiVersion: API_VERSION, kind: KIND, namespace, name });

  /** The TracingCluster is going away: stop its controllers, remove its keys, release the finalizer. */
  const finalize = async (object: KubeObject, key: string, log: Logger): Promise<ReconcileResult> => {
    const { namespace, name } = parseKey(key);
    const finalizers = object.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) {
      await clusters.stop(key);
      return {};
    }
    // Owned objects are garbage-collected only after the TracingCluster itself is gone, i.e. after
    // this finalizer: ingesters still running would write their keys again behind the purge. Delete
    // the StatefulSets first and purge once their pods have terminated (a graceful leave drains).
    const names = resourceNames(name);
    for (const sts of [names.ingester, names.querier]) {
      try {
        await kube.delete({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace, name: sts });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    const pods = await kube.list({ apiVersion: 'v1', kind: 'Pod' }, { namespace, labelSelector: `${ownedObjectsSelector(name)},app.kubernetes.io/component=ingester` });
    if (pods.items.length > 0) {
      log.info({ pods: pods.items.length }, 'waiting for the ingester pods to terminate before removing the cluster\'s keys');
      return { requeueAfterMs: 2000 };
    }
    const parsed = validateTracingClusterSpec((object as { spec?: unknown }).spec ?? {});
    if (parsed.ok) {
      try {
        const deleted = await clusters.purge({ key, namespace, name, etcdEndpoints: computeEtcdEndpoints(name, namespace, parsed.value) });
        log.info({ deletedKeys: deleted }, 'removed the cluster\'s keys from etcd');
      } catch (e) {
        // A managed etcd is deleted with the cluster (its volumes too); an external one that stays
        // unreachable must not hold the resource forever. Say what was left behind.
        const where = parsed.value.etcd.external !== undefined ? 'external' : 'managed';
        log.warn({ err: e, etcd: where }, 'could not remove the cluster\'s keys from etcd; deleting the TracingCluster anyway');
        if (where === 'external') {
          await events.record(object, 'Warning', 'CleanupIncomplete', `Could not remove the keys under /skein/${namespace}/${name}/ from the external etcd (${e instanceof Error ? e.message : String(e)}); delete them with etcdctl del --prefix /skein/${namespace}/${name}/`);
        }
      }
    } else {
      await clusters.stop(key);
      // Without a valid spec there is no trustworthy etcd address to purge: say what is left.
      log.warn({ issues: parsed.issues }, 'spec invalid at deletion; the cluster\'s etcd keys were not removed');
      await events.record(object, 'Warning', 'CleanupIncomplete', `The spec is invalid, so the keys under /skein/${namespace}/${name}/ in the cluster's etcd were not removed; delete them with etcdctl del --prefix /skein/${namespace}/${name}/ if that etcd is still in use.`);
    }
    await kube.mergePatch(tcRef(namespace, name), { metadata: { finalizers: finalizers.filter((f) => f !== FINALIZER), resourceVersion: object.metadata.resourceVersion } });
    return {};
  };

  return async (key) => {
    const { namespace, name } = parseKey(key);
    const log = options.logger.child({ tracingcluster: key });
    const object = await kube.get(tcRef(namespace, name));
    if (object === undefined) {
      // Gone without our finalizer running (e.g. removed by hand): nothing left to clean but our controllers.
      await clusters.stop(key);
      return {};
    }
    if (object.metadata.deletionTimestamp !== undefined) return finalize(object, key, log);

    const generation = object.metadata.generation ?? 0;
    const previous = (object as { status?: TracingClusterStatus }).status;
    const facts: { -readonly [K in keyof StatusFacts]: StatusFacts[K] } = { generation, now: now().toISOString(), ...(previous === undefined ? {} : { previous }) };

    const writeStatus = async (): Promise<{ ready: boolean }> => {
      const { status, events: transitions } = computeStatus(facts);
      // Compared as values, not as text: the stored status keeps the key order of earlier writes
      // (and the apiserver returns keys sorted), so a text comparison rewrites an unchanged status.
      if (!isDeepStrictEqual(JSON.parse(JSON.stringify(status)), previous ?? {})) {
        await kube.applyStatus({ apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status }, { fieldManager, force: true });
      }
      for (const e of transitions) await events.record(object, e.type, e.reason, e.message);
      const ready = status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      return { ready };
    };

    const validated = validateTracingCluster(object);
    if (!validated.ok) {
      // The apiserver accepted it (an older CRD, or a rule the schema cannot express): terminal until
      // the spec changes — a new generation wakes us through the informer, so no requeue.
      facts.invalidSpec = validated.issues;
      log.warn({ issues: validated.issues }, 'invalid TracingCluster spec; not reconciling until it changes');
      await writeStatus();
      return {};
    }
    const tc = validated.value;
    const uid = object.metadata.uid ?? '';

    if (!(object.metadata.finalizers ?? []).includes(FINALIZER)) {
      await kube.mergePatch(tcRef(namespace, name), { metadata: { finalizers: [...(object.metadata.finalizers ?? []), FINALIZER], resourceVersion: object.metadata.resourceVersion } });
    }

    const names = resourceNames(name);
    const issues: { path: string; message: string }[] = [];
    let etcdReplicas: number | undefined;
    if (tc.spec.etcd.managed !== undefined) {
      const existing = await kube.get({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace, name: names.etcd });
      const bootstrapped = Number(existing?.metadata.annotations?.[ETCD_MEMBERS_ANNOTATION] ?? Number.NaN);
      if (Number.isInteger(bootstrapped) && bootstrapped !== tc.spec.etcd.managed.replicas) {
        etcdReplicas = bootstrapped;
        issues.push({
          path: 'spec.etcd.managed.replicas',
          message: `the managed etcd was created with ${bootstrapped} members and its member count cannot change in place; set it back to ${bootstrapped} (or create a new TracingCluster for a different size)`,
        });
      }
    }
    if (issues.length > 0) facts.invalidSpec = issues;

    const params: BuildParams = {
      cluster: { name, namespace, uid, spec: tc.spec },
      image: tc.spec.image ?? options.componentImage,
      etcdImage: options.etcdImage,
      version: options.version,
      ...(etcdReplicas === undefined ? {} : { etcdReplicas }),
    };
    const desired = buildAll(params).map((o) => withEtcdAnnotation(o, names.etcd, etcdReplicas ?? tc.spec.etcd.managed?.replicas));

    const storageProblem = await checkStorage(kube, namespace, tc.spec);
    if (storageProblem !== undefined) facts.storageProblem = storageProblem;

    const applied = new Map<string, KubeObject>();
    try {
      for (const want of desired) {
        if (want.kind === 'StatefulSet') await replaceIfImmutableChanged(want, log, object);
        applied.set(objectKey(want), await kube.apply(want, { fieldManager, force: true }));
      }
      await prune(namespace, name, uid, new Set(desired.map(objectKey)), log);
    } catch (e) {
      facts.reconcileError = e instanceof KubeApiError ? `${e.message} (HTTP ${e.status})` : e instanceof Error ? e.message : String(e);
      log.warn({ err: e }, 'apply or prune failed; will retry');
      await writeStatus().catch((se: unknown) => log.warn({ err: se }, 'could not write status'));
      throw e;
    }

    clusters.ensure(computeClusterTarget(name, namespace, tc.spec));
    const state = clusters.state(key);
    const etcdWorkload = workloadFacts(applied.get(`StatefulSet/${names.etcd}`));
    const ingesters = workloadFacts(applied.get(`StatefulSet/${names.ingester}`));
    const queriers = workloadFacts(applied.get(`StatefulSet/${names.querier}`));
    // A pod can be Running and Ready to Kubernetes while its ingester is not a ready member in etcd
    // (between a crash and the probe noticing, or under a fake kubelet): count the smaller.
    if (ingesters !== undefined) facts.ingesters = state?.summary === undefined ? ingesters : { ...ingesters, ready: Math.min(ingesters.ready, state.summary.readyMembers) };
    if (queriers !== undefined) facts.queriers = queriers;
    if (etcdWorkload !== undefined) facts.etcd = etcdWorkload;
    const etcdShouldAnswer = tc.spec.etcd.external !== undefined || (etcdWorkload !== undefined && etcdWorkload.ready >= etcdWorkload.desired);
    if (state?.etcdError !== undefined && etcdShouldAnswer) facts.etcdProblem = state.etcdError;
    if (state?.summary !== undefined) {
      const s = state.summary;
      facts.shards = {
        desired: tc.spec.shards,
        owned: s.owned,
        handoffs: s.handoffs,
        ...(s.mapShardCount === undefined ? {} : { mapShardCount: s.mapShardCount }),
        ...(s.mapVersion === undefined ? {} : { mapVersion: s.mapVersion }),
      };
    }
    if (state?.blocks !== undefined) facts.blocks = state.blocks;
    facts.endpoints = clusterEndpoints(name, namespace);
    const missed = options.injectionMissed?.(key);
    if (missed !== undefined) facts.injectionMissed = missed;

    const { ready } = await writeStatus();
    return { requeueAfterMs: ready && facts.storageProblem === undefined ? resyncMs : notReadyResyncMs };
  };

  /**
   * A StatefulSet's selector, serviceName, podManagementPolicy and volumeClaimTemplates cannot be
   * changed by an update. When the desired ones differ, delete the StatefulSet with its pods
   * orphaned (they keep serving) and let the apply create the new one, which adopts them and rolls
   * them; grow existing volume claims first, since a new template does not touch existing claims.
   */
  async function replaceIfImmutableChanged(want: KubeObject, log: Logger, owner: KubeObject): Promise<void> {
    const ref = { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: want.metadata.namespace!, name: want.metadata.name };
    const existing = await kube.get(ref);
    if (existing === undefined) return;
    const changes = computeImmutableChanges(existing, want);
    if (changes.fields.length === 0) return;
    for (const grow of changes.growClaims) {
      const claims = await kube.list({ apiVersion: 'v1', kind: 'PersistentVolumeClaim' }, { namespace: ref.namespace });
      for (const pvc of claims.items) {
        // `<template>-<statefulset>-<ordinal>` exactly: a prefix alone also matches the claims of
        // another cluster in the namespace whose name starts with this StatefulSet's name.
        const prefix = `${grow.template}-${ref.name}-`;
        if (!pvc.metadata.name.startsWith(prefix) || !/^(0|[1-9][0-9]*)$/.test(pvc.metadata.name.slice(prefix.length))) continue;
        await kube
          .mergePatch({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ref.namespace, name: pvc.metadata.name }, { spec: { resources: { requests: { storage: grow.size } } } })
          .catch((e: unknown) => log.warn({ err: e, claim: pvc.metadata.name }, 'could not grow a volume claim (does its StorageClass allow volume expansion?)'));
      }
    }
    log.info({ statefulset: ref.name, fields: changes.fields }, 'recreating a StatefulSet to change immutable fields (pods orphaned, then adopted)');
    await kube.delete(ref, { propagationPolicy: 'Orphan', ...(existing.metadata.uid === undefined ? {} : { uid: existing.metadata.uid }) });
    await waitGone(ref);
    await events.record(owner, 'Normal', 'StatefulSetRecreated', `Recreated StatefulSet ${ref.name} to change ${changes.fields.join(', ')}; its pods were kept and roll to the new template.`);
  }

  async function waitGone(ref: { apiVersion: string; kind: string; namespace: string; name: string }): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if ((await kube.get(ref)) === undefined) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`StatefulSet ${ref.name} still exists 10 s after an orphaning delete`);
  }

  async function prune(namespace: string, name: string, uid: string, keep: ReadonlySet<string>, log: Logger): Promise<void> {
    for (const kind of MANAGED_KINDS) {
      const list = await kube.list(kind, { namespace, labelSelector: ownedObjectsSelector(name) });
      for (const item of list.items) {
        const ownedByUs = (item.metadata.ownerReferences ?? []).some((r) => r.uid === uid && r.controller === true);
        if (!ownedByUs || keep.has(objectKey({ ...item, kind: kind.kind }))) continue;
        log.info({ kind: kind.kind, name: item.metadata.name }, 'pruning an object no longer desired');
        try {
          await kube.delete({ ...kind, namespace, name: item.metadata.name }, { ...(item.metadata.uid === undefined ? {} : { uid: item.metadata.uid }) });
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
    }
  }
}

function objectKey(o: { kind: string; metadata: { name: string } }): string {
  return `${o.kind}/${o.metadata.name}`;
}

function withEtcdAnnotation(o: KubeObject, etcdName: string, members: number | undefined): KubeObject {
  if (o.kind !== 'StatefulSet' || o.metadata.name !== etcdName || members === undefined) return o;
  return { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [ETCD_MEMBERS_ANNOTATION]: String(members) } } };
}

/** A StatefulSet's replica counts and rollout state, as status computation reads them. */
export function workloadFacts(sts: KubeObject | undefined): WorkloadFacts | undefined {
  if (sts === undefined) return undefined;
  const spec = (sts.spec ?? {}) as { replicas?: number };
  const st = (sts.status ?? {}) as { readyReplicas?: number; updatedReplicas?: number; currentReplicas?: number; observedGeneration?: number; currentRevision?: string; updateRevision?: string };
  return {
    desired: spec.replicas ?? 1,
    ready: st.readyReplicas ?? 0,
    updated: st.updatedReplicas ?? 0,
    current: st.currentReplicas ?? 0,
    generation: sts.metadata.generation ?? 0,
    observedGeneration: st.observedGeneration ?? 0,
    ...(st.currentRevision === undefined ? {} : { currentRevision: st.currentRevision }),
    ...(st.updateRevision === undefined ? {} : { updateRevision: st.updateRevision }),
  };
}

/** What is wrong with the block storage settings that only the cluster can tell (the S3 Secret). */
async function checkStorage(kube: KubeClient, namespace: string, spec: TracingClusterSpec): Promise<string | undefined> {
  const s3 = spec.storage.s3;
  if (s3 === undefined) return undefined;
  const ref = s3.secretRef;
  const secret = await kube.get({ apiVersion: 'v1', kind: 'Secret', namespace, name: ref.name });
  if (secret === undefined) {
    return `Secret ${namespace}/${ref.name} (spec.storage.s3.secretRef) not found: create it with keys ${ref.accessKeyIdKey} and ${ref.secretAccessKeyKey}`;
  }
  const data = { ...((secret as { data?: Record<string, string> }).data ?? {}), ...((secret as { stringData?: Record<string, string> }).stringData ?? {}) };
  const missing = [ref.accessKeyIdKey, ref.secretAccessKeyKey].filter((k) => data[k] === undefined || data[k] === '');
  if (missing.length > 0) return `Secret ${namespace}/${ref.name} lacks ${missing.join(' and ')}: add ${missing.length === 1 ? 'it' : 'them'} (or point secretRef's key fields at the keys it has)`;
  return undefined;
}
