import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { API_VERSION, buildOpenApiSchema, KIND, validateTracingCluster, validateTracingClusterUpdate, type JsonSchemaProps, type TracingClusterSpec, type TracingClusterSpecInput } from '../api/index.js';
import type { KubeObject } from './kube-types.js';
import { buildAll, CONFIG_CHECKSUM_ANNOTATION, MANAGED_KINDS, ownedObjectsSelector } from './index.js';
import { CLUSTER_UID, paramsFor } from './testing/index.js';

const WORKLOADS = ['traces-ingester', 'traces-querier'] as const;

const find = (objects: readonly KubeObject[], kind: string, name: string): any => objects.find((o) => o.kind === kind && o.metadata.name === name);
const pod = (objects: readonly KubeObject[], sts: string): any => find(objects, 'StatefulSet', sts).spec.template.spec;
const storageConfig = (objects: readonly KubeObject[]): Record<string, string> =>
  Object.fromEntries(Object.entries(find(objects, 'ConfigMap', 'traces-config').data as Record<string, string>).filter(([k]) => k.startsWith('SKEIN_STORAGE_') || k.startsWith('SKEIN_S3_')));

const secretEnv = (name: string, idKey: string, secretKey: string) => [
  { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name, key: idKey } } },
  { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name, key: secretKey } } },
];
const blocksMount = [{ name: 'blocks', mountPath: '/var/lib/skein/blocks' }];
const blocksVolume = [{ name: 'blocks', persistentVolumeClaim: { claimName: 'traces-blocks' } }];

interface Case {
  readonly title: string;
  readonly spec: TracingClusterSpecInput;
  /** spec of the blocks claim, or undefined when none is built. */
  readonly claim: unknown;
  readonly config: Record<string, string>;
  readonly env: unknown[];
  readonly mounts: unknown[];
  readonly volumes: unknown[];
}

const CASES: readonly Case[] = [
  {
    title: 'filesystem (the default): one ReadWriteMany claim mounted by every ingester and querier',
    spec: {},
    claim: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '50Gi' } } },
    config: { SKEIN_STORAGE_BACKEND: 'filesystem', SKEIN_STORAGE_DIR: '/var/lib/skein/blocks' },
    env: [],
    mounts: blocksMount,
    volumes: blocksVolume,
  },
  {
    title: 'filesystem on a StorageClass',
    spec: { storage: { filesystem: { size: '1Ti', storageClassName: 'nfs-client' } } },
    claim: { accessModes: ['ReadWriteMany'], storageClassName: 'nfs-client', resources: { requests: { storage: '1Ti' } } },
    config: { SKEIN_STORAGE_BACKEND: 'filesystem', SKEIN_STORAGE_DIR: '/var/lib/skein/blocks' },
    env: [],
    mounts: blocksMount,
    volumes: blocksVolume,
  },
  {
    title: 's3 on AWS: the flags set, the processes\' defaults for the rest, credentials from the Secret, no claim',
    spec: { storage: { s3: { bucket: 'traces-prod', secretRef: { name: 'skein-s3' } } } },
    claim: undefined,
    config: { SKEIN_S3_BUCKET: 'traces-prod', SKEIN_S3_FORCE_PATH_STYLE: 'false', SKEIN_STORAGE_BACKEND: 's3' },
    env: secretEnv('skein-s3', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'),
    mounts: [],
    volumes: [],
  },
  {
    title: 's3-compatible with every field and the Secret\'s own key names',
    spec: {
      storage: {
        s3: { bucket: 'traces', endpoint: 'http://minio.minio:9000', region: 'local', prefix: 'team-a/prod', forcePathStyle: true, secretRef: { name: 'minio-creds', accessKeyIdKey: 'rootUser', secretAccessKeyKey: 'rootPassword' } },
      },
    },
    claim: undefined,
    config: {
      SKEIN_S3_BUCKET: 'traces',
      SKEIN_S3_ENDPOINT: 'http://minio.minio:9000',
      SKEIN_S3_FORCE_PATH_STYLE: 'true',
      SKEIN_S3_PREFIX: 'team-a/prod',
      SKEIN_S3_REGION: 'local',
      SKEIN_STORAGE_BACKEND: 's3',
    },
    env: secretEnv('minio-creds', 'rootUser', 'rootPassword'),
    mounts: [],
    volumes: [],
  },
];

describe.each(CASES)('block storage: $title', ({ spec, claim, config, env, mounts, volumes }) => {
  const objects = buildAll(paramsFor(spec));

  it('renders the storage flags into the ConfigMap and no credential', () => {
    expect(storageConfig(objects)).toEqual(config);
    const data = find(objects, 'ConfigMap', 'traces-config').data as Record<string, string>;
    expect(Object.keys(data).filter((k) => !k.startsWith('SKEIN_'))).toEqual([]);
  });

  it('gives the ingester and querier containers the same credentials env, mounts and volumes', () => {
    for (const sts of WORKLOADS) {
      const spec = pod(objects, sts);
      const container = spec.containers[0];
      expect((container.env ?? []).filter((e: { name: string }) => e.name.startsWith('AWS_')), sts).toEqual(env);
      expect(container.volumeMounts.filter((m: { name: string }) => m.name === 'blocks'), sts).toEqual(mounts);
      expect(spec.volumes.filter((v: { name: string }) => v.name === 'blocks'), sts).toEqual(volumes);
    }
  });

  it(claim === undefined ? 'builds no volume claim of its own' : 'builds the shared claim, owned by the TracingCluster and selected for pruning', () => {
    const claims = objects.filter((o) => o.kind === 'PersistentVolumeClaim');
    if (claim === undefined) {
      expect(claims).toEqual([]);
      return;
    }
    expect(claims.map((c) => c.metadata.name)).toEqual(['traces-blocks']);
    const blocks = claims[0]!;
    expect(blocks['spec']).toEqual(claim);
    // Garbage-collected with the cluster (after the finalizer purged the manifest), pruned like any owned object.
    expect(blocks.metadata.ownerReferences).toEqual([{ apiVersion: API_VERSION, kind: KIND, name: 'traces', uid: CLUSTER_UID, controller: true, blockOwnerDeletion: true }]);
    expect(blocks.metadata.labels).toMatchObject({ 'app.kubernetes.io/component': 'storage', 'app.kubernetes.io/managed-by': 'skein-operator', 'app.kubernetes.io/instance': 'traces' });
    expect(ownedObjectsSelector('traces')).toBe('app.kubernetes.io/managed-by=skein-operator,app.kubernetes.io/instance=traces');
    expect(MANAGED_KINDS).toContainEqual({ apiVersion: 'v1', kind: 'PersistentVolumeClaim' });
  });

  it('keeps each WAL on its own ReadWriteOnce claim, apart from the blocks', () => {
    const ingester = find(objects, 'StatefulSet', 'traces-ingester').spec;
    expect(ingester.volumeClaimTemplates.map((t: any) => [t.metadata.name, t.spec.accessModes])).toEqual([['wal', ['ReadWriteOnce']]]);
    const paths = ingester.template.spec.containers[0].volumeMounts.map((m: { mountPath: string }) => m.mountPath);
    expect(new Set(paths).size).toBe(paths.length);
    expect(find(objects, 'StatefulSet', 'traces-querier').spec.volumeClaimTemplates).toBeUndefined();
  });
});

describe('block storage changes', () => {
  const template = (spec: TracingClusterSpecInput, sts: string): any => find(buildAll(paramsFor(spec)), 'StatefulSet', sts).spec.template;
  const s3 = (secretRef: { name: string; accessKeyIdKey?: string }, bucket = 'traces'): TracingClusterSpecInput => ({ storage: { s3: { bucket, secretRef } } });

  it.each([
    { title: 'another bucket', from: s3({ name: 'a' }), to: s3({ name: 'a' }, 'traces-2'), config: true, template: true },
    { title: 'another Secret', from: s3({ name: 'a' }), to: s3({ name: 'b' }), config: false, template: true },
    { title: 'another key in the Secret', from: s3({ name: 'a' }), to: s3({ name: 'a', accessKeyIdKey: 'id' }), config: false, template: true },
    { title: 'a larger blocks claim', from: {}, to: { storage: { filesystem: { size: '500Gi' } } }, config: false, template: false },
  ] satisfies { title: string; from: TracingClusterSpecInput; to: TracingClusterSpecInput; config: boolean; template: boolean }[])(
    '$title: config checksum changes $config, pod templates change (roll) $template',
    ({ from, to, config, template: rolls }) => {
      for (const sts of WORKLOADS) {
        const before = template(from, sts);
        const after = template(to, sts);
        expect(after.metadata.annotations[CONFIG_CHECKSUM_ANNOTATION] !== before.metadata.annotations[CONFIG_CHECKSUM_ANNOTATION], sts).toBe(config);
        expect(JSON.stringify(after) !== JSON.stringify(before), sts).toBe(rolls);
      }
    },
  );

  it('switching between filesystem and s3 is refused (CRD rule and its validator twin), so the builders carry no migration', () => {
    const storage = ((buildOpenApiSchema()['properties'] as Record<string, JsonSchemaProps>)['spec']!['properties'] as Record<string, JsonSchemaProps>)['storage']!;
    const rules = (storage['x-kubernetes-validations'] ?? []) as { rule: string; message: string }[];
    expect(rules.filter((r) => r.rule.includes('oldSelf'))).toEqual([{ rule: 'has(self.s3) == has(oldSelf.s3)', message: expect.stringMatching(/cannot switch between filesystem and s3/) }]);
    const filesystem = paramsFor({}).cluster.spec;
    const s3Spec = paramsFor(s3({ name: 'a' })).cluster.spec;
    for (const [from, to] of [[filesystem, s3Spec], [s3Spec, filesystem]] as [TracingClusterSpec, TracingClusterSpec][]) {
      expect(validateTracingClusterUpdate(from, to).map((i) => i.message)).toEqual([expect.stringMatching(/cannot switch between filesystem and s3/)]);
    }
  });
});

describe('examples/s3-compatible.yaml', () => {
  const object = parse(readFileSync(path.join(import.meta.dirname, '..', '..', 'examples', 's3-compatible.yaml'), 'utf8')) as unknown;

  it('is valid and renders path-style S3 with the Secret\'s own key names', () => {
    const validated = validateTracingCluster(object);
    if (!validated.ok) throw new Error(JSON.stringify(validated.issues));
    const objects = buildAll(paramsFor(validated.value.spec as TracingClusterSpecInput, { name: 'traces' }));
    expect(storageConfig(objects)).toEqual({
      SKEIN_S3_BUCKET: 'skein',
      SKEIN_S3_ENDPOINT: 'http://minio.minio:9000',
      SKEIN_S3_FORCE_PATH_STYLE: 'true',
      SKEIN_S3_PREFIX: 's3-compatible',
      SKEIN_STORAGE_BACKEND: 's3',
    });
    for (const sts of WORKLOADS) expect(pod(objects, sts).containers[0].env.filter((e: { name: string }) => e.name.startsWith('AWS_'))).toEqual(secretEnv('minio-skein', 'rootUser', 'rootPassword'));
  });
});
