import { describe, expect, it } from 'vitest';
import type { TracingClusterSpecInput } from '../api/index.js';
import { buildAll, INGESTER_SHUTDOWN_TIMEOUT_MS, INGESTER_TERMINATION_GRACE_PERIOD_SECONDS } from './index.js';
import { paramsFor } from './testing/index.js';

const statefulSet = (spec: TracingClusterSpecInput, name: string): any => buildAll(paramsFor(spec)).find((o) => o.kind === 'StatefulSet' && o.metadata.name === name)!['spec'];

const SKEIN_POD_SECURITY_CONTEXT = { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' }, fsGroupChangePolicy: 'OnRootMismatch' };

const RESTRICTED_CONTAINER = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

describe('ingester StatefulSet', () => {
  const sts = statefulSet({ ingester: { replicas: 4, wal: { size: '20Gi', storageClassName: 'fast' } }, imagePullPolicy: 'IfNotPresent' }, 'traces-ingester');
  const pod = sts.template.spec;
  const container = pod.containers[0];

  it('runs `skein ingester` as a member named after its pod', () => {
    expect(sts.replicas).toBe(4);
    expect(sts.serviceName).toBe('traces-ingester-headless');
    expect(container.args).toEqual(['ingester']);
    expect(container.image).toBe('ghcr.io/example/skein:0.1.0');
    expect(container.imagePullPolicy).toBe('IfNotPresent');
    expect(container.env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'SKEIN_MEMBER_ID', value: '$(POD_NAME)' },
      { name: 'SKEIN_ADVERTISE_HOST', value: '$(POD_NAME).traces-ingester-headless.observability.svc' },
      { name: 'SKEIN_SHUTDOWN_TIMEOUT_MS', value: '25000' },
    ]);
    expect(container.ports.map((p: any) => [p.name, p.containerPort])).toEqual([
      ['otlp-grpc', 4317],
      ['otlp-http', 4318],
      ['grpc-internal', 9095],
      ['http-admin', 9096],
    ]);
  });

  it('gives the handoff its whole budget before the kubelet kills the pod', () => {
    expect(pod.terminationGracePeriodSeconds).toBe(INGESTER_TERMINATION_GRACE_PERIOD_SECONDS);
    expect(INGESTER_TERMINATION_GRACE_PERIOD_SECONDS * 1000).toBeGreaterThanOrEqual(INGESTER_SHUTDOWN_TIMEOUT_MS + 10_000);
  });

  it('keeps each WAL on its own claim, retained when pods or the cluster go away', () => {
    expect(sts.podManagementPolicy).toBe('Parallel');
    expect(sts.updateStrategy).toEqual({ type: 'RollingUpdate' });
    expect(sts.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    expect(sts.volumeClaimTemplates.map((c: any) => [c.metadata.name, c.spec])).toEqual([
      ['wal', { accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '20Gi' } } }],
    ]);
    expect(container.volumeMounts).toEqual([
      { name: 'wal', mountPath: '/var/lib/skein' },
      { name: 'blocks', mountPath: '/var/lib/skein/blocks' },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
  });

  it('probes the admin port', () => {
    expect(container.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'http-admin' });
    expect(container.livenessProbe).toMatchObject({ tcpSocket: { port: 'http-admin' }, periodSeconds: 10, failureThreshold: 6 });
  });

  it('runs restricted, spread over nodes', () => {
    expect(pod.securityContext).toEqual(SKEIN_POD_SECURITY_CONTEXT);
    expect(container.securityContext).toEqual(RESTRICTED_CONTAINER);
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm).toEqual({
      labelSelector: { matchLabels: sts.selector.matchLabels },
      topologyKey: 'kubernetes.io/hostname',
    });
  });

  it.each([
    { title: 'no resources', spec: {}, resources: undefined },
    { title: 'resources', spec: { ingester: { resources: { limits: { memory: '4Gi' } } } }, resources: { limits: { memory: '4Gi' } } },
  ] satisfies { title: string; spec: TracingClusterSpecInput; resources: unknown }[])('$title', ({ spec, resources }) => {
    expect(statefulSet(spec, 'traces-ingester').template.spec.containers[0].resources).toEqual(resources);
  });
});

describe('querier StatefulSet', () => {
  const sts = statefulSet({ querier: { replicas: 3, resources: { requests: { cpu: '1' } } } }, 'traces-querier');
  const container = sts.template.spec.containers[0];

  it('runs `skein querier` with the query ports, probed on the Tempo port', () => {
    expect(sts.replicas).toBe(3);
    expect(sts.serviceName).toBe('traces-querier-headless');
    expect(container.args).toEqual(['querier']);
    expect(container.imagePullPolicy).toBeUndefined();
    expect(container.ports.map((p: any) => [p.name, p.containerPort])).toEqual([
      ['http-tempo', 3200],
      ['http-jaeger', 16686],
    ]);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'http-tempo' });
    expect(container.livenessProbe.tcpSocket).toEqual({ port: 'http-tempo' });
    expect(container.resources).toEqual({ requests: { cpu: '1' } });
    expect(container.securityContext).toEqual(RESTRICTED_CONTAINER);
    expect(container.env).toBeUndefined();
    expect(sts.template.spec.securityContext).toEqual(SKEIN_POD_SECURITY_CONTEXT);
    expect(sts.volumeClaimTemplates).toBeUndefined();
    expect(sts.template.spec.volumes).toEqual([
      { name: 'tmp', emptyDir: {} },
      { name: 'blocks', persistentVolumeClaim: { claimName: 'traces-blocks' } },
    ]);
  });
});
