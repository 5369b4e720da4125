import { describe, expect, it } from 'vitest';
import type { KubeObject } from './kube-types.js';
import { buildAll, computeEtcdMaxUnavailable, type BuildParams } from './index.js';
import { paramsFor } from './testing/index.js';

const etcdOf = (objects: readonly KubeObject[]): any => objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'traces-etcd')?.['spec'];
const flag = (command: readonly string[], name: string): string | undefined => command.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const pdbs = (objects: readonly KubeObject[]): Record<string, number> =>
  Object.fromEntries(objects.filter((o) => o.kind === 'PodDisruptionBudget').map((o) => [o.metadata.name, (o['spec'] as any).maxUnavailable as number]));

describe('managed etcd', () => {
  it.each([
    { title: 'defaults', params: paramsFor({}), members: 3, etcdPdb: 1 },
    { title: 'spec 5, never bootstrapped', params: paramsFor({ etcd: { managed: { replicas: 5 } } }), members: 5, etcdPdb: 2 },
    { title: 'spec 5, bootstrapped with 3', params: paramsFor({ etcd: { managed: { replicas: 5 } } }, { etcdReplicas: 3 }), members: 3, etcdPdb: 1 },
    { title: 'spec 1, bootstrapped with 1', params: paramsFor({ etcd: { managed: { replicas: 1 } } }, { etcdReplicas: 1 }), members: 1, etcdPdb: undefined },
    { title: 'spec 7', params: paramsFor({ etcd: { managed: { replicas: 7 } } }), members: 7, etcdPdb: 3 },
  ] satisfies { title: string; params: BuildParams; members: number; etcdPdb: number | undefined }[])('$title: $members members', ({ params, members, etcdPdb }) => {
    const objects = buildAll(params);
    const sts = etcdOf(objects);
    expect(sts.replicas).toBe(members);
    const command = sts.template.spec.containers[0].command as string[];
    expect(command[0]).toBe('etcd');
    const initial = flag(command, 'initial-cluster')!.split(',');
    expect(initial).toEqual(Array.from({ length: members }, (_, i) => `traces-etcd-${i}=http://traces-etcd-${i}.traces-etcd-headless.observability.svc:2380`));
    expect(flag(command, 'name')).toBe('$(POD_NAME)');
    expect(flag(command, 'initial-advertise-peer-urls')).toBe('http://$(POD_NAME).traces-etcd-headless.observability.svc:2380');
    expect(flag(command, 'advertise-client-urls')).toBe('http://$(POD_NAME).traces-etcd-headless.observability.svc:2379');
    expect(flag(command, 'initial-cluster-state')).toBe('new');
    expect(flag(command, 'initial-cluster-token')).toBe('traces-3f2a9c1e');
    expect(pdbs(objects)['traces-etcd']).toBe(etcdPdb);
  });

  it('runs members in parallel with their data deleted with the cluster', () => {
    const sts = etcdOf(buildAll(paramsFor({ etcd: { managed: { size: '5Gi', storageClassName: 'ssd', resources: { requests: { cpu: '500m' } } } } })));
    expect(sts.podManagementPolicy).toBe('Parallel');
    expect(sts.serviceName).toBe('traces-etcd-headless');
    expect(sts.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Delete', whenScaled: 'Retain' });
    expect(sts.volumeClaimTemplates[0].metadata.name).toBe('data');
    expect(sts.volumeClaimTemplates[0].spec).toEqual({ accessModes: ['ReadWriteOnce'], storageClassName: 'ssd', resources: { requests: { storage: '5Gi' } } });
    const container = sts.template.spec.containers[0];
    expect(container.image).toBe('quay.io/coreos/etcd:v3.6.16');
    expect(container.resources).toEqual({ requests: { cpu: '500m' } });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'client' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'client' });
    expect(sts.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
  });

  it('builds no etcd objects for an external etcd', () => {
    const objects = buildAll(paramsFor({ etcd: { external: { endpoints: ['https://etcd:2379'] } } }));
    expect(objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'etcd')).toEqual([]);
    expect(pdbs(objects)).toEqual({ 'traces-ingester': 1, 'traces-querier': 1 });
  });
});

describe('computeEtcdMaxUnavailable', () => {
  it.each([
    [1, 0],
    [2, 0],
    [3, 1],
    [4, 1],
    [5, 2],
    [7, 3],
  ])('%i members may lose %i', (members, lost) => {
    expect(computeEtcdMaxUnavailable(members)).toBe(lost);
  });
});
