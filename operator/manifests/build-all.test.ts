import { describe, expect, it } from 'vitest';
import { API_VERSION, KIND, MAX_CLUSTER_NAME_LENGTH, type TracingClusterSpecInput } from '../api/index.js';
import type { KubeObject } from './kube-types.js';
import { buildAll, CONFIG_CHECKSUM_ANNOTATION, computeConfigChecksum, MANAGED_KINDS, MANAGED_BY, ownedObjectsSelector, type BuildParams } from './index.js';
import { CLUSTER_UID, expectGolden, paramsFor } from './testing/index.js';

const PRODUCTION: TracingClusterSpecInput = {
  image: 'registry.example.com/skein:0.1.0',
  imagePullPolicy: 'Always',
  shards: 64,
  ingester: {
    replicas: 6,
    resources: { requests: { cpu: '2', memory: '8Gi' }, limits: { memory: '8Gi' } },
    wal: { size: '100Gi', storageClassName: 'fast-ssd', fsync: 'always', fsyncMaxDelay: '2ms' },
  },
  querier: { replicas: 3, resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } } },
  storage: { s3: { bucket: 'traces-prod', region: 'eu-west-1', secretRef: { name: 'skein-s3' } } },
  etcd: { external: { endpoints: ['https://etcd-0.etcd.infra:2379', 'https://etcd-1.etcd.infra:2379', 'https://etcd-2.etcd.infra:2379'], tlsSecretRef: { name: 'etcd-client-tls' } } },
  retention: { traces: '168h' },
};

const CASES: readonly { readonly title: string; readonly params: BuildParams }[] = [
  { title: 'minimal (every default)', params: paramsFor({}) },
  { title: 'production-like (external etcd, resources, storage class)', params: paramsFor(PRODUCTION, { image: 'registry.example.com/skein:0.1.0' }) },
  { title: 'managed etcd of 5 bootstrapped with 3', params: paramsFor({ etcd: { managed: { replicas: 5, storageClassName: 'standard' } } }, { etcdReplicas: 3 }) },
  { title: 'single etcd member', params: paramsFor({ etcd: { managed: { replicas: 1 } }, ingester: { replicas: 1 }, querier: { replicas: 1 } }) },
  { title: 'longest name', params: paramsFor({ etcd: { managed: { replicas: 7 } } }, { name: 'a'.repeat(MAX_CLUSTER_NAME_LENGTH) }) },
  { title: 'filesystem storage on a StorageClass', params: paramsFor({ storage: { filesystem: { size: '1Ti', storageClassName: 'nfs' } } }) },
  { title: 'S3-compatible storage (endpoint, prefix, path style)', params: paramsFor({ storage: { s3: { bucket: 'traces', endpoint: 'http://minio.minio:9000', prefix: 'team-a/prod', forcePathStyle: true, secretRef: { name: 'minio' } } } }) },
];

const byKind = (objects: readonly KubeObject[], kind: string): KubeObject[] => objects.filter((o) => o.kind === kind);
const find = (objects: readonly KubeObject[], kind: string, name: string): KubeObject => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`no ${kind} ${name}`);
  return o;
};
/** The pod template of a StatefulSet. */
const template = (sts: KubeObject): any => (sts['spec'] as any).template;

describe('buildAll golden files', () => {
  it.each([
    ['minimal', paramsFor({})],
    ['production', paramsFor(PRODUCTION, { image: 'registry.example.com/skein:0.1.0' })],
  ] as const)('%s', (name, params) => {
    expectGolden(name, buildAll(params));
  });
});

describe.each(CASES)('buildAll: $title', ({ params }) => {
  const objects = buildAll(params);
  const { name, namespace } = params.cluster;

  it('is deterministic: the same params build the same objects, key order included', () => {
    expect(JSON.stringify(buildAll(params))).toBe(JSON.stringify(objects));
  });

  it('gives every object its name, namespace, labels and one controller owner reference', () => {
    for (const o of objects) {
      const where = `${o.kind} ${o.metadata.name}`;
      expect(o.metadata.namespace, where).toBe(namespace);
      expect(o.metadata.ownerReferences, where).toEqual([{ apiVersion: API_VERSION, kind: KIND, name, uid: CLUSTER_UID, controller: true, blockOwnerDeletion: true }]);
      expect(o.metadata.labels, where).toMatchObject({
        'app.kubernetes.io/name': 'skein',
        'app.kubernetes.io/instance': name,
        'app.kubernetes.io/part-of': 'skein',
        'app.kubernetes.io/managed-by': MANAGED_BY,
        'app.kubernetes.io/version': params.version,
      });
      expect(['ingester', 'querier', 'etcd', 'config', 'storage'], where).toContain(o.metadata.labels?.['app.kubernetes.io/component']);
    }
  });

  it('returns only MANAGED_KINDS, every object matched by ownedObjectsSelector, no duplicates', () => {
    const selector = Object.fromEntries(ownedObjectsSelector(name).split(',').map((kv) => kv.split('=') as [string, string]));
    const keys = new Set<string>();
    for (const o of objects) {
      expect(MANAGED_KINDS, o.kind).toContainEqual({ apiVersion: o.apiVersion, kind: o.kind });
      expect(o.metadata.labels).toMatchObject(selector);
      keys.add(`${o.kind}/${o.metadata.name}`);
    }
    expect(keys.size).toBe(objects.length);
  });

  it('returns objects in apply order: ConfigMap, Services, etcd, ingester, querier, PDBs, blocks claim', () => {
    const order = objects.map((o) => (o.kind === 'StatefulSet' ? `StatefulSet/${o.metadata.labels?.['app.kubernetes.io/component']}` : o.kind));
    const rank = ['ConfigMap', 'Service', 'StatefulSet/etcd', 'StatefulSet/ingester', 'StatefulSet/querier', 'PodDisruptionBudget', 'PersistentVolumeClaim'];
    const ranks = order.map((k) => rank.indexOf(k));
    expect(ranks.every((r) => r >= 0)).toBe(true);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
  });

  it('keeps every name a DNS label that leaves room for pods, revisions and claims', () => {
    const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
    for (const o of objects) {
      expect(o.metadata.name, o.kind).toMatch(dnsLabel);
      expect(o.metadata.name.length, o.metadata.name).toBeLessThanOrEqual(63);
    }
    for (const sts of byKind(objects, 'StatefulSet')) {
      const stsName = sts.metadata.name;
      const spec = sts['spec'] as any;
      // controller-revision-hash label: `<sts>-<10-character hash>` must stay a label value.
      expect(stsName.length + 11, stsName).toBeLessThanOrEqual(63);
      const lastPod = `${stsName}-${Math.max(0, spec.replicas - 1)}`;
      expect(lastPod.length).toBeLessThanOrEqual(63);
      for (const claim of spec.volumeClaimTemplates ?? []) expect(`${claim.metadata.name}-${lastPod}`.length).toBeLessThanOrEqual(63);
    }
  });

  it('selects pods with selector labels that the pod template carries, without the version', () => {
    const templates = byKind(objects, 'StatefulSet').map((sts) => template(sts).metadata.labels as Record<string, string>);
    for (const sts of byKind(objects, 'StatefulSet')) {
      const selector = (sts['spec'] as any).selector.matchLabels as Record<string, string>;
      expect(template(sts).metadata.labels, sts.metadata.name).toMatchObject(selector);
      expect(Object.keys(selector).sort()).toEqual(['app.kubernetes.io/component', 'app.kubernetes.io/instance', 'app.kubernetes.io/name']);
      for (const claim of (sts['spec'] as any).volumeClaimTemplates ?? []) expect(claim.metadata.labels).toEqual(selector);
    }
    // Every Service and PDB selects the pods of exactly one StatefulSet.
    for (const o of [...byKind(objects, 'Service'), ...byKind(objects, 'PodDisruptionBudget')]) {
      const spec = o['spec'] as any;
      const selector = (o.kind === 'Service' ? spec.selector : spec.selector.matchLabels) as Record<string, string>;
      expect(templates.filter((labels) => Object.entries(selector).every(([k, v]) => labels[k] === v)), `${o.kind} ${o.metadata.name}`).toHaveLength(1);
    }
  });

  it('emits no PodDisruptionBudget that would block drains (maxUnavailable 0)', () => {
    for (const pdb of byKind(objects, 'PodDisruptionBudget')) expect((pdb['spec'] as any).maxUnavailable, pdb.metadata.name).toBeGreaterThan(0);
  });

  it('annotates both pod templates with the checksum of the ConfigMap data', () => {
    const configMap = byKind(objects, 'ConfigMap')[0]!;
    const checksum = computeConfigChecksum(configMap['data'] as Record<string, string>);
    for (const component of ['ingester', 'querier']) {
      const sts = find(objects, 'StatefulSet', `${name}-${component}`);
      expect(template(sts).metadata.annotations[CONFIG_CHECKSUM_ANNOTATION]).toBe(checksum);
      expect(template(sts).spec.containers[0].envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }]);
    }
  });
});

describe('config checksum', () => {
  const checksums = (spec: TracingClusterSpecInput): string[] =>
    byKind(buildAll(paramsFor(spec)), 'StatefulSet')
      .filter((s) => s.metadata.labels?.['app.kubernetes.io/component'] !== 'etcd')
      .map((s) => template(s).metadata.annotations[CONFIG_CHECKSUM_ANNOTATION] as string);
  const base = checksums({});

  it.each([
    { title: 'fsync', spec: { ingester: { wal: { fsync: 'always' } } }, rolls: true },
    { title: 'fsyncMaxDelay', spec: { ingester: { wal: { fsyncMaxDelay: '20ms' } } }, rolls: true },
    { title: 'external etcd', spec: { etcd: { external: { endpoints: ['http://etcd:2379'] } } }, rolls: true },
    { title: 'ingester replicas', spec: { ingester: { replicas: 5 } }, rolls: false },
    { title: 'querier replicas', spec: { querier: { replicas: 4 } }, rolls: false },
    { title: 'shards', spec: { shards: 12 }, rolls: false },
    { title: 'WAL size', spec: { ingester: { wal: { size: '20Gi' } } }, rolls: false },
    { title: 'retention (policy in etcd, not process config)', spec: { retention: { traces: '24h' } }, rolls: false },
    { title: 'storage backend', spec: { storage: { s3: { bucket: 'traces', secretRef: { name: 's3' } } } }, rolls: true },
    { title: 'blocks claim size (the claim grows, the pods keep their mount)', spec: { storage: { filesystem: { size: '200Gi' } } }, rolls: false },
  ] satisfies { title: string; spec: TracingClusterSpecInput; rolls: boolean }[])('changing $title changes the checksum: $rolls', ({ spec, rolls }) => {
    const changed = checksums(spec);
    expect(changed).toHaveLength(2);
    expect(changed[0]).toBe(changed[1]);
    for (const c of changed) expect(c !== base[0]).toBe(rolls);
  });
});
