// The TracingCluster reconciler on the in-memory twins: the Kubernetes client (operator/kube
// createMemoryKube) and the cluster's etcd (common/coord MemoryStore), with fake members for shard
// ownership. Every test asserts on what the twins hold afterwards — objects, owner references,
// finalizers, status, events, keys — never on which calls were made. e2e/operator.int.test.ts runs
// the same flows against a real apiserver and real ingesters.
import { afterEach, describe, expect, it } from 'vitest';
import { createKeyspace, decodeValue, MemoryStore, PartitionValue, PolicyValue, type Coordinator } from '../../common/coord/index.js';
import { envName } from '../../common/config/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { API_VERSION, KIND, validateTracingCluster } from '../api/index.js';
import { startFakeMember, type FakeMember } from '../cluster/testing/index.js';
import { createMemoryKube, KubeApiError, type KubeObject, type MemoryKube } from '../kube/index.js';
import { buildAll, CONFIG_CHECKSUM_ANNOTATION, MANAGED_KINDS, ownedObjectsSelector, podLabels, resourceNames } from '../manifests/index.js';
import { createClusterControllers, type ClusterControllers } from './cluster-controllers.js';
import { createEventRecorder } from './events.js';
import { createReconciler, ETCD_MEMBERS_ANNOTATION, FINALIZER, parseKey, type ReconcileResult } from './reconciler.js';

const NS = 'observability';
const NAME = 'traces';
const KEY = `${NS}/${NAME}`;
const NOW = new Date('2025-06-01T12:00:00Z');
const IMAGE = 'ghcr.io/example/skein:0.1.0';
const ETCD_IMAGE = 'quay.io/coreos/etcd:v3.6.16';
const VERSION = '0.1.0';
const FIELD_MANAGER = 'skein-operator';
const NOT_READY_RESYNC_MS = 10_000;
const RESYNC_MS = 300_000;
const EXTERNAL_ETCD = { external: { endpoints: ['http://127.0.0.1:1'] } };
const names = resourceNames(NAME);
const keyspace = createKeyspace(NS, NAME);
const TC_REF = { apiVersion: API_VERSION, kind: KIND, namespace: NS, name: NAME };
const sts = (name: string) => ({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: NS, name });
const S3 = { bucket: 'traces', endpoint: 'http://minio.minio:9000', forcePathStyle: true, secretRef: { name: 'skein-s3' } };

interface Harness {
  readonly kube: MemoryKube;
  readonly store: MemoryStore;
  /** A client of the store for the test's own reads. */
  readonly admin: Coordinator;
  readonly clusters: ClusterControllers;
  readonly reconcile: (key?: string) => Promise<ReconcileResult>;
  /** While true, new coordinator clients (the purge's) reach an etcd that does not answer. */
  etcdDown: boolean;
}

let h: Harness | undefined;
let members: FakeMember[] = [];
const memberClients: Coordinator[] = [];

function setup(): Harness {
  const kube = createMemoryKube({ now: () => NOW.getTime() });
  const store = new MemoryStore();
  const logger = createSilentLogger();
  const harness: Harness = {
    kube,
    store,
    admin: store.connect(),
    etcdDown: false,
    clusters: createClusterControllers({
      // Every endpoint leads to the one twin, as long as it is "up".
      connect: () => {
        if (!harness.etcdDown) return store.connect();
        const down = new MemoryStore();
        down.setReachable(false);
        return down.connect();
      },
      identity: 'operator-0',
      logger,
      registryFor: () => createRegistry({ defaultMetrics: false }),
      onChange: () => {},
      leaseTtlSeconds: 2,
      rebalanceIntervalMs: 50,
      retryMinMs: 10,
      retryMaxMs: 50,
    }),
    reconcile: (key = KEY) => reconcile(key, new AbortController().signal),
  };
  const reconcile = createReconciler({
    kube,
    clusters: harness.clusters,
    events: createEventRecorder({ kube, component: FIELD_MANAGER, instance: 'operator-0', logger, now: () => NOW }),
    logger,
    componentImage: IMAGE,
    etcdImage: ETCD_IMAGE,
    version: VERSION,
    fieldManager: FIELD_MANAGER,
    now: () => NOW,
    notReadyResyncMs: NOT_READY_RESYNC_MS,
    resyncMs: RESYNC_MS,
  });
  h = harness;
  return harness;
}

afterEach(async () => {
  for (const m of members) await m.kill().catch(() => {});
  members = [];
  for (const c of memberClients.splice(0)) await c.close();
  if (h !== undefined) {
    await h.clusters.stopAll();
    await h.admin.close();
    h.kube.close();
    h = undefined;
  }
});

// ---- helpers -------------------------------------------------------------------------------

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function createTc(kube: MemoryKube, spec: unknown, metadata: Record<string, unknown> = {}): Promise<KubeObject> {
  return kube.create({ apiVersion: API_VERSION, kind: KIND, metadata: { name: NAME, namespace: NS, ...metadata }, spec });
}

async function getTc(kube: MemoryKube): Promise<any> {
  return kube.get(TC_REF);
}

const condition = (tc: any, type: string): { status: string; reason: string; message: string; observedGeneration?: number } | undefined =>
  tc?.status?.conditions?.find((c: { type: string }) => c.type === type);

/** What buildAll makes of the TracingCluster as stored, with the reconciler's images and version. */
function desiredOf(tc: KubeObject): KubeObject[] {
  const v = validateTracingCluster(tc);
  if (!v.ok) throw new Error(`invalid test TracingCluster: ${JSON.stringify(v.issues)}`);
  return buildAll({ cluster: { name: NAME, namespace: NS, uid: tc.metadata.uid!, spec: v.value.spec }, image: IMAGE, etcdImage: ETCD_IMAGE, version: VERSION });
}

async function ownedObjects(kube: MemoryKube): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (const kind of MANAGED_KINDS) out.push(...(await kube.list(kind, { namespace: NS, labelSelector: ownedObjectsSelector(NAME) })).items);
  return out;
}

async function events(kube: MemoryKube): Promise<any[]> {
  return [...(await kube.list({ apiVersion: 'v1', kind: 'Event' }, { namespace: NS })).items];
}

async function readKey(coord: Coordinator, key: string, schema: typeof PartitionValue | typeof PolicyValue): Promise<unknown> {
  const { kv } = await coord.get(key);
  if (kv === undefined) return undefined;
  const d = decodeValue(schema as never, kv.value);
  return d.ok ? d.value : undefined;
}

/** Waits until the cluster controllers run with the map and policy written (nothing left to change on its own). */
async function settled(harness: Harness, shards: number): Promise<void> {
  await until('cluster controllers settled', () => {
    const s = harness.clusters.state(KEY);
    return s?.phase === 'running' && s.etcdError === undefined && s.policyVersion !== undefined && s.summary?.mapShardCount === shards;
  });
}

/** Plays the StatefulSet controller: every replica current, updated and (unless told) ready. */
async function markRolledOut(kube: MemoryKube, name: string, ready?: number): Promise<void> {
  const o: any = await kube.get(sts(name));
  const replicas: number = o.spec.replicas;
  await kube.applyStatus(
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name, namespace: NS },
      status: {
        replicas,
        readyReplicas: ready ?? replicas,
        updatedReplicas: replicas,
        currentReplicas: replicas,
        observedGeneration: o.metadata.generation,
        currentRevision: `${name}-1`,
        updateRevision: `${name}-1`,
      },
    },
    { fieldManager: 'statefulset-controller' },
  );
}

async function startMember(harness: Harness, id: string): Promise<FakeMember> {
  const coord = harness.store.connect();
  memberClients.push(coord);
  const m = await startFakeMember({ coord, keyspace, id, ttlSeconds: 2 });
  members.push(m);
  return m;
}

const claim = (name: string, size: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace: NS },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } } },
});

// ---- tests ---------------------------------------------------------------------------------

describe('reconcile: first pass', () => {
  it.each([
    { title: 'external etcd', spec: { shards: 4, etcd: EXTERNAL_ETCD, retention: { traces: '24h' }, sampling: { keepPercent: 50 } }, etcdMembers: undefined },
    { title: 'managed etcd (the default)', spec: { shards: 4, retention: { traces: '24h' }, sampling: { keepPercent: 50 } }, etcdMembers: '3' },
  ] as const)('$title: every built object is owned by the TracingCluster, the finalizer is set, status and etcd keys are written', async ({ spec, etcdMembers }) => {
    const { kube, admin, reconcile, clusters } = setup();
    await createTc(kube, spec);

    expect(await reconcile()).toEqual({ requeueAfterMs: NOT_READY_RESYNC_MS });

    const tc = await getTc(kube);
    expect(tc.metadata.finalizers).toEqual([FINALIZER]);
    const desired = desiredOf(tc);
    expect(desired.some((o) => o.metadata.name === names.etcd)).toBe(etcdMembers !== undefined);
    for (const want of desired) {
      const where = `${want.kind} ${want.metadata.name}`;
      const stored = await kube.get({ apiVersion: want.apiVersion, kind: want.kind, namespace: NS, name: want.metadata.name });
      expect(stored, where).toBeDefined();
      expect(stored!.metadata.ownerReferences, where).toEqual([{ apiVersion: API_VERSION, kind: KIND, name: NAME, uid: tc.metadata.uid, controller: true, blockOwnerDeletion: true }]);
      const { metadata: _m, ...body } = want;
      expect(stored, where).toMatchObject(body);
    }
    expect((await ownedObjects(kube)).map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(desired.map((o) => `${o.kind}/${o.metadata.name}`).sort());
    const etcdSts = await kube.get(sts(names.etcd));
    expect(etcdSts?.metadata.annotations?.[ETCD_MEMBERS_ANNOTATION]).toBe(etcdMembers);

    expect(tc.status.observedGeneration).toBe(tc.metadata.generation);
    expect(tc.status.conditions.map((c: { type: string }) => c.type)).toEqual(['Ready', 'Progressing', 'Degraded']);
    for (const c of tc.status.conditions) {
      expect(c.observedGeneration).toBe(tc.metadata.generation);
      expect(c.lastTransitionTime).toBe(NOW.toISOString());
    }
    expect(condition(tc, 'Ready')?.status).toBe('False');
    expect(condition(tc, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(tc.status.endpoints).toEqual({ otlpGrpc: `${names.ingest}.${NS}.svc:4317`, otlpHttp: `http://${names.ingest}.${NS}.svc:4318`, query: `http://${names.querierService}.${NS}.svc:3200` });

    expect(clusters.keys()).toEqual([KEY]);
    await until('partition map and policy in etcd', async () => (await readKey(admin, keyspace.partition, PartitionValue)) !== undefined && (await readKey(admin, keyspace.policy, PolicyValue)) !== undefined);
    expect(await readKey(admin, keyspace.partition, PartitionValue)).toEqual({ version: 1, shardCount: 4 });
    expect(await readKey(admin, keyspace.policy, PolicyValue)).toEqual({
      version: 1,
      retention: { tracesMs: 24 * 3_600_000 },
      compaction: { enabled: true, windowMs: 3_600_000, maxBlockBytes: 4 * 2 ** 30 },
      sampling: { keepPercent: 50, keepErrors: true },
      agent: { sampling: { defaultProbability: 1, services: {} }, scrubbing: { disableBuiltins: [], rules: [] } },
    });
  });

  it('an apply that fails is reported as Degraded ReconcileFailed and rethrown for the queue to retry', async () => {
    const { kube, reconcile, clusters } = setup();
    await createTc(kube, { etcd: EXTERNAL_ETCD });
    kube.failNext('apply', new KubeApiError(500, 'InternalError', 'etcdserver: request timed out'));

    await expect(reconcile()).rejects.toThrow(/request timed out/);

    const tc = await getTc(kube);
    expect(condition(tc, 'Degraded')).toMatchObject({ status: 'True', reason: 'ReconcileFailed' });
    expect(condition(tc, 'Degraded')?.message).toMatch(/etcdserver: request timed out \(HTTP 500\)/);
    expect(condition(tc, 'Ready')).toMatchObject({ status: 'False', reason: 'Pending' });
    expect(clusters.keys()).toEqual([]);

    // The next attempt succeeds and clears it.
    await reconcile();
    expect(condition(await getTc(kube), 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    // Event names end in random hex, so the twin lists them in no particular order.
    expect((await events(kube)).map((e) => `${e.type} ${e.reason}`).sort()).toEqual(['Normal Recovered', 'Warning ReconcileFailed']);
  });
});

describe('reconcile: no-op', () => {
  it('a second reconcile with nothing changed writes nothing', async () => {
    const { kube, reconcile } = setup();
    await createTc(kube, { shards: 3, etcd: EXTERNAL_ETCD });
    await reconcile();
    // Let the cluster controllers report the map, so the status has every fact it will have.
    await settled(h!, 3);
    await reconcile();
    for (const name of [names.ingester, names.querier]) await markRolledOut(kube, name);
    await reconcile();

    const before = kube.currentResourceVersion();
    const eventsBefore = await events(kube);
    const tcBefore = await getTc(kube);
    // Any status write would fail this reconcile: a write of identical content is still a write.
    kube.failNext('applyStatus', new KubeApiError(500, 'InternalError', 'status rewritten although nothing changed'));
    await reconcile();

    expect(kube.currentResourceVersion()).toBe(before);
    expect(await getTc(kube)).toEqual(tcBefore);
    expect(await events(kube)).toEqual(eventsBefore);
  });
});

describe('reconcile: spec changes', () => {
  it.each([
    {
      title: 'wal fsync changes the ConfigMap and rolls both StatefulSets through the checksum annotation',
      patch: { ingester: { wal: { fsync: 'always' } } },
      changed: [`ConfigMap/${names.config}`, `StatefulSet/${names.ingester}`, `StatefulSet/${names.querier}`],
      check: (o: Map<string, any>) => {
        expect(o.get(`ConfigMap/${names.config}`).data[envName('fsync')]).toBe('always');
      },
    },
    {
      title: 'querier replicas change only the querier StatefulSet',
      patch: { querier: { replicas: 4 } },
      changed: [`StatefulSet/${names.querier}`],
      check: (o: Map<string, any>) => {
        expect(o.get(`StatefulSet/${names.querier}`).spec.replicas).toBe(4);
      },
    },
  ])('$title', async ({ patch, changed, check }) => {
    const { kube, reconcile } = setup();
    await createTc(kube, { etcd: EXTERNAL_ETCD });
    await reconcile();
    const snapshot = async () => new Map((await ownedObjects(kube)).map((o) => [`${o.kind}/${o.metadata.name}`, o as any]));
    const before = await snapshot();

    await kube.mergePatch(TC_REF, { spec: patch });
    await reconcile();

    const after = await snapshot();
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    const rewritten = [...after.keys()].filter((k) => after.get(k).metadata.resourceVersion !== before.get(k).metadata.resourceVersion);
    expect(rewritten.sort()).toEqual([...changed].sort());
    // The pod templates carry the checksum of the ConfigMap they read.
    const cm = after.get(`ConfigMap/${names.config}`);
    const cmChanged = changed.includes(`ConfigMap/${names.config}`);
    for (const name of [names.ingester, names.querier]) {
      const annotation = (o: Map<string, any>) => o.get(`StatefulSet/${name}`).spec.template.metadata.annotations[CONFIG_CHECKSUM_ANNOTATION];
      expect(annotation(after) !== annotation(before), name).toBe(cmChanged);
    }
    expect(desiredOf(await getTc(kube)).find((o) => o.kind === 'ConfigMap')!['data']).toEqual(cm.data);
    check(after);
    const tc = await getTc(kube);
    expect(tc.metadata.generation).toBe(2);
    expect(tc.status.observedGeneration).toBe(2);
  });
});

describe('reconcile: prune', () => {
  it('deletes only objects with the owned-objects labels and a controller reference to this TracingCluster', async () => {
    const { kube, reconcile } = setup();
    await createTc(kube, { etcd: EXTERNAL_ETCD });
    await reconcile();
    const tc = await getTc(kube);
    const labels = Object.fromEntries(ownedObjectsSelector(NAME).split(',').map((kv) => kv.split('=') as [string, string]));
    const ref = (uid: string, controller: boolean) => ({ apiVersion: API_VERSION, kind: KIND, name: NAME, uid, controller });
    const cases = [
      { name: `${NAME}-stale`, kind: { apiVersion: 'v1', kind: 'ConfigMap' }, labels, owners: [ref(tc.metadata.uid, true)], kept: false },
      { name: `${NAME}-stale`, kind: { apiVersion: 'v1', kind: 'Service' }, labels, owners: [ref(tc.metadata.uid, true)], kept: false },
      { name: `${NAME}-stale`, kind: { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }, labels, owners: [ref(tc.metadata.uid, true)], kept: false },
      { name: `${NAME}-other-owner`, kind: { apiVersion: 'v1', kind: 'ConfigMap' }, labels, owners: [ref('0b7c2c1e-0000-4000-8000-000000000001', true)], kept: true },
      { name: `${NAME}-not-controller`, kind: { apiVersion: 'v1', kind: 'ConfigMap' }, labels, owners: [ref(tc.metadata.uid, false)], kept: true },
      { name: `${NAME}-unlabelled`, kind: { apiVersion: 'v1', kind: 'ConfigMap' }, labels: { app: 'other' }, owners: [ref(tc.metadata.uid, true)], kept: true },
    ];
    for (const c of cases) await kube.create({ ...c.kind, metadata: { name: c.name, namespace: NS, labels: c.labels, ownerReferences: c.owners } });

    await reconcile();

    for (const c of cases) {
      const found = await kube.get({ ...c.kind, namespace: NS, name: c.name });
      expect(found !== undefined, `${c.kind.kind} ${c.name}`).toBe(c.kept);
    }
    // Everything desired is still there.
    for (const want of desiredOf(tc)) expect(await kube.get({ apiVersion: want.apiVersion, kind: want.kind, namespace: NS, name: want.metadata.name }), want.metadata.name).toBeDefined();
  });
});

describe('reconcile: immutable StatefulSet fields', () => {
  it.each([
    {
      title: 'a larger WAL recreates the ingester StatefulSet and grows its existing claims',
      from: { size: '10Gi' },
      to: { size: '20Gi' },
      field: 'volumeClaimTemplates[wal] size 10Gi → 20Gi',
      grown: '20Gi',
    },
    {
      title: 'a new WAL StorageClass recreates the ingester StatefulSet and leaves the claims as they are',
      from: { size: '10Gi' },
      to: { size: '10Gi', storageClassName: 'fast-ssd' },
      field: 'volumeClaimTemplates[wal] storageClassName (default) → fast-ssd',
      grown: '10Gi',
    },
  ])('$title', async ({ from, to, field, grown }) => {
    const { kube, reconcile } = setup();
    await createTc(kube, { etcd: EXTERNAL_ETCD, ingester: { wal: from } });
    await reconcile();
    const ingesterBefore = await kube.get(sts(names.ingester));
    const querierBefore = await kube.get(sts(names.querier));
    const ours = [`wal-${names.ingester}-0`, `wal-${names.ingester}-1`];
    // Look-alikes: a cluster named `traces-ingester-b` in the same namespace, and another template.
    const others = [`wal-${NAME}-ingester-b-ingester-0`, `data-${names.etcd}-0`];
    for (const name of [...ours, ...others]) await kube.create(claim(name, '10Gi'));

    await kube.mergePatch(TC_REF, { spec: { ingester: { wal: to } } });
    await reconcile();

    const ingesterAfter: any = await kube.get(sts(names.ingester));
    expect(ingesterAfter.metadata.uid).not.toBe(ingesterBefore!.metadata.uid);
    expect(ingesterAfter.spec.volumeClaimTemplates[0].spec).toMatchObject({ resources: { requests: { storage: to.size } } });
    expect((await kube.get(sts(names.querier)))!.metadata.uid).toBe(querierBefore!.metadata.uid);
    for (const name of ours) expect(((await kube.get({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: NS, name })) as any).spec.resources.requests.storage, name).toBe(grown);
    for (const name of others) expect(((await kube.get({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: NS, name })) as any).spec.resources.requests.storage, name).toBe('10Gi');

    const recreated = (await events(kube)).filter((e) => e.reason === 'StatefulSetRecreated');
    expect(recreated).toHaveLength(1);
    expect(recreated[0]).toMatchObject({ type: 'Normal', involvedObject: { kind: KIND, name: NAME, uid: ingesterAfter.metadata.ownerReferences[0].uid } });
    expect(recreated[0].message).toContain(names.ingester);
    expect(recreated[0].message).toContain(field);

    // Applied again with the new template: nothing more to recreate.
    await reconcile();
    expect((await kube.get(sts(names.ingester)))!.metadata.uid).toBe(ingesterAfter.metadata.uid);
  });
});

describe('reconcile: managed etcd member count', () => {
  it('keeps the bootstrapped member count and reports a changed replicas as InvalidSpec until it is set back', async () => {
    const { kube, reconcile } = setup();
    await createTc(kube, { etcd: { managed: { replicas: 3 } } });
    await reconcile();
    const etcdBefore: any = await kube.get(sts(names.etcd));
    expect(etcdBefore.metadata.annotations[ETCD_MEMBERS_ANNOTATION]).toBe('3');

    await kube.mergePatch(TC_REF, { spec: { etcd: { managed: { replicas: 5 } } } });
    expect(await reconcile()).toEqual({ requeueAfterMs: NOT_READY_RESYNC_MS });

    const tc = await getTc(kube);
    expect(condition(tc, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec', observedGeneration: 2 });
    expect(condition(tc, 'Degraded')?.message).toContain('spec.etcd.managed.replicas: the managed etcd was created with 3 members');
    const etcdAfter: any = await kube.get(sts(names.etcd));
    expect(etcdAfter.spec.replicas).toBe(3);
    expect(etcdAfter.metadata.annotations[ETCD_MEMBERS_ANNOTATION]).toBe('3');
    expect(etcdAfter.metadata.resourceVersion).toBe(etcdBefore.metadata.resourceVersion);

    await kube.mergePatch(TC_REF, { spec: { etcd: { managed: { replicas: 3 } } } });
    await reconcile();
    expect(condition(await getTc(kube), 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
  });
});

describe('reconcile: a spec the validator rejects', () => {
  it.each([
    { title: 'shards 0', spec: { shards: 0, etcd: EXTERNAL_ETCD }, path: 'spec.shards' },
    { title: 'an even etcd member count', spec: { etcd: { managed: { replicas: 2 } } }, path: 'spec.etcd.managed.replicas' },
    { title: 'both storage backends', spec: { etcd: EXTERNAL_ETCD, storage: { filesystem: {}, s3: S3 } }, path: 'spec.storage' },
  ])('$title: Degraded InvalidSpec, nothing built, no finalizer, no requeue', async ({ spec, path }) => {
    const { kube, reconcile, clusters } = setup();
    await createTc(kube, spec);

    expect(await reconcile()).toEqual({});

    const tc = await getTc(kube);
    expect(condition(tc, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(condition(tc, 'Degraded')?.message).toContain(`${path}: `);
    expect(condition(tc, 'Ready')).toMatchObject({ status: 'False', reason: 'Pending' });
    expect(tc.status.observedGeneration).toBe(1);
    expect(tc.metadata.finalizers).toBeUndefined();
    expect(await ownedObjects(kube)).toEqual([]);
    expect(clusters.keys()).toEqual([]);
    expect((await events(kube)).map((e) => `${e.type} ${e.reason}`)).toEqual(['Warning InvalidSpec']);
  });
});

describe('reconcile: S3 credentials', () => {
  it('reports a missing Secret or key as StorageUnavailable, and clears it once the Secret has both keys', async () => {
    const { kube, reconcile } = setup();
    await createTc(kube, { etcd: EXTERNAL_ETCD, storage: { s3: S3 } });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const steps: { data: Record<string, string> | undefined; message: RegExp | undefined }[] = [
      { data: undefined, message: /Secret observability\/skein-s3 \(spec\.storage\.s3\.secretRef\) not found: create it with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/ },
      { data: { AWS_ACCESS_KEY_ID: b64('minio') }, message: /Secret observability\/skein-s3 lacks AWS_SECRET_ACCESS_KEY/ },
      { data: { AWS_ACCESS_KEY_ID: b64('minio'), AWS_SECRET_ACCESS_KEY: b64('minio123') }, message: undefined },
    ];
    for (const [i, step] of steps.entries()) {
      if (step.data !== undefined) {
        await kube.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'skein-s3', namespace: NS }, type: 'Opaque', data: step.data }, { fieldManager: 'kubectl' });
      }
      expect(await reconcile(), `step ${i}`).toEqual({ requeueAfterMs: NOT_READY_RESYNC_MS });
      const degraded = condition(await getTc(kube), 'Degraded');
      if (step.message === undefined) {
        expect(degraded?.reason, `step ${i}`).not.toBe('StorageUnavailable');
      } else {
        expect(degraded, `step ${i}`).toMatchObject({ status: 'True', reason: 'StorageUnavailable' });
        expect(degraded?.message, `step ${i}`).toMatch(step.message);
      }
    }
    // Objects are applied even while storage is unavailable: the pods wait for the Secret, not the operator.
    expect(await kube.get(sts(names.ingester))).toBeDefined();
  });
});

describe('reconcile: status from the StatefulSets and shard ownership', () => {
  it('is Ready=True AllReady once the StatefulSets are rolled out and the members own every shard', async () => {
    const harness = setup();
    const { kube, reconcile, clusters } = harness;
    await createTc(kube, { shards: 4, etcd: EXTERNAL_ETCD, ingester: { replicas: 2 }, querier: { replicas: 1 } });
    await reconcile();
    await settled(harness, 4);
    for (const name of [names.ingester, names.querier]) await markRolledOut(kube, name);

    // One member owns every shard, but Kubernetes counts two ready pods: the smaller count wins.
    await startMember(harness, `${names.ingester}-0`);
    await until('one member owning every shard', () => {
      const s = clusters.state(KEY)?.summary;
      return s?.owned === 4 && s.readyMembers === 1 && s.handoffs === 0;
    });
    expect(await reconcile()).toEqual({ requeueAfterMs: NOT_READY_RESYNC_MS });
    let tc = await getTc(kube);
    expect(condition(tc, 'Ready')).toMatchObject({ status: 'False', reason: 'IngestersNotReady' });
    expect(tc.status.ingesters).toEqual({ replicas: 2, ready: 1 });

    await startMember(harness, `${names.ingester}-1`);
    tc = await until('Ready=True', async () => {
      await reconcile();
      const t = await getTc(kube);
      return condition(t, 'Ready')?.status === 'True' ? t : undefined;
    });
    expect(condition(tc, 'Ready')).toMatchObject({ status: 'True', reason: 'AllReady', observedGeneration: 1 });
    expect(condition(tc, 'Ready')?.message).toMatch(/^2\/2 ingesters, 1\/1 queriers ready; 4\/4 shards owned \(map version 1\)\.$/);
    expect(condition(tc, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(tc.status.shards).toEqual({ desired: 4, owned: 4, mapVersion: 1 });
    expect(tc.status.ingesters).toEqual({ replicas: 2, ready: 2 });
    expect(tc.status.queriers).toEqual({ replicas: 1, ready: 1 });
    expect(await reconcile()).toEqual({ requeueAfterMs: RESYNC_MS });
    expect((await events(kube)).filter((e) => e.reason === 'ClusterReady')).toHaveLength(1);
    for (const m of members) expect(m.errors).toEqual([]);
  });
});

describe('reconcile: deletion', () => {
  it('waits for the ingester pods, then purges the cluster keys and releases the finalizer', async () => {
    const harness = setup();
    const { kube, reconcile, clusters, admin } = harness;
    await createTc(kube, { shards: 2, etcd: EXTERNAL_ETCD });
    await reconcile();
    await settled(harness, 2);
    const pod = (name: string, component: 'ingester' | 'querier'): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NS, labels: podLabels(NAME, component) },
      spec: { containers: [{ name: component, image: IMAGE }] },
    });
    const ingesterPods = [`${names.ingester}-0`, `${names.ingester}-1`];
    for (const name of ingesterPods) await kube.create(pod(name, 'ingester'));
    await kube.create(pod(`${names.querier}-0`, 'querier'));

    expect(await kube.delete(TC_REF)).toBe(true);
    const result = await reconcile();
    expect(result.requeueAfterMs).toBeGreaterThan(0);
    let tc = await getTc(kube);
    expect(tc.metadata.deletionTimestamp).toBeDefined();
    expect(tc.metadata.finalizers).toEqual([FINALIZER]);
    // The StatefulSets go first; the keys stay while ingesters could still write them.
    expect(await kube.get(sts(names.ingester))).toBeUndefined();
    expect(await kube.get(sts(names.querier))).toBeUndefined();
    expect((await admin.range(keyspace.root)).entries.length).toBeGreaterThan(0);

    // Still there: another pass waits again.
    expect((await reconcile()).requeueAfterMs).toBeGreaterThan(0);
    for (const name of ingesterPods) await kube.delete({ apiVersion: 'v1', kind: 'Pod', namespace: NS, name });
    expect(await reconcile()).toEqual({});

    tc = await getTc(kube);
    expect(tc).toBeUndefined();
    expect((await admin.range(keyspace.root)).entries).toEqual([]);
    expect(clusters.keys()).toEqual([]);
    // The owner-reference garbage collection took the rest.
    expect(await ownedObjects(kube)).toEqual([]);
  });

  it.each([
    { title: 'external etcd: a Warning event says which keys were left', etcd: EXTERNAL_ETCD, event: true },
    { title: 'managed etcd (deleted with the cluster): no event', etcd: { managed: { replicas: 1 } }, event: false },
  ])('an etcd that cannot be reached does not hold the deletion — $title', async ({ etcd, event }) => {
    const harness = setup();
    const { kube, reconcile, clusters } = harness;
    await createTc(kube, { etcd });
    await reconcile();
    harness.etcdDown = true;

    await kube.delete(TC_REF);
    expect(await reconcile()).toEqual({});

    expect(await getTc(kube)).toBeUndefined();
    expect(clusters.keys()).toEqual([]);
    const cleanup = (await events(kube)).filter((e) => e.reason === 'CleanupIncomplete');
    expect(cleanup.length).toBe(event ? 1 : 0);
    if (event) {
      expect(cleanup[0].type).toBe('Warning');
      expect(cleanup[0].message).toContain(`etcdctl del --prefix /skein/${NS}/${NAME}/`);
    }
  });

  it.each([
    {
      title: 'the TracingCluster gone entirely',
      remove: async (kube: MemoryKube) => {
        await kube.mergePatch(TC_REF, { metadata: { finalizers: null } });
        await kube.delete(TC_REF);
      },
      remains: false,
    },
    {
      title: 'being deleted with only another controller\'s finalizer left',
      remove: async (kube: MemoryKube) => {
        await kube.mergePatch(TC_REF, { metadata: { finalizers: ['example.com/hold'] } });
        await kube.delete(TC_REF);
      },
      remains: true,
    },
  ])('$title: the cluster controllers stop', async ({ remove, remains }) => {
    const harness = setup();
    const { kube, reconcile, clusters } = harness;
    await createTc(kube, { etcd: EXTERNAL_ETCD });
    await reconcile();
    expect(clusters.keys()).toEqual([KEY]);

    await remove(kube);
    expect(await reconcile()).toEqual({});

    expect(clusters.keys()).toEqual([]);
    const tc = await getTc(kube);
    expect(tc !== undefined).toBe(remains);
    if (remains) expect(tc.metadata.finalizers).toEqual(['example.com/hold']);
  });
});

describe('parseKey', () => {
  it.each([
    { key: 'observability/traces', want: { namespace: 'observability', name: 'traces' } },
    { key: 'a/b/c', want: { namespace: 'a', name: 'b/c' } },
  ])('$key', ({ key, want }) => {
    expect(parseKey(key)).toEqual(want);
  });
  it.each(['traces', '/traces', ''])('rejects %j', (key) => {
    expect(() => parseKey(key)).toThrow(/bad key/);
  });
});
