import { describe, expect, it } from 'vitest';
import type { KubeObject, OwnerReference } from '../kube/index.js';
import { computeServiceName } from './index.js';

const owner = (kind: string, name: string, controller = true): OwnerReference => ({ apiVersion: 'apps/v1', kind, name, uid: `uid-${name}`, controller });

function pod(meta: { name?: string; generateName?: string; labels?: Record<string, string>; owners?: OwnerReference[] }): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(meta.name !== undefined ? { name: meta.name } : {}),
      ...(meta.generateName !== undefined ? { generateName: meta.generateName } : {}),
      ...(meta.labels !== undefined ? { labels: meta.labels } : {}),
      ...(meta.owners !== undefined ? { ownerReferences: meta.owners } : {}),
    } as KubeObject['metadata'],
    spec: { containers: [] },
  };
}

describe('computeServiceName', () => {
  it.each([
    { name: 'app.kubernetes.io/name label wins', pod: pod({ name: 'web-7d9f-abcde', labels: { 'app.kubernetes.io/name': 'checkout', 'pod-template-hash': '7d9f' }, owners: [owner('ReplicaSet', 'web-7d9f')] }), expected: 'checkout' },
    { name: 'blank label is ignored', pod: pod({ name: 'api', labels: { 'app.kubernetes.io/name': ' ' } }), expected: 'api' },
    { name: 'Deployment via the ReplicaSet hash', pod: pod({ generateName: 'web-5c8b7f9d4-', labels: { 'pod-template-hash': '5c8b7f9d4' }, owners: [owner('ReplicaSet', 'web-5c8b7f9d4')] }), expected: 'web' },
    { name: 'Deployment with dashes in its name', pod: pod({ name: 'my-web-app-6f7-x', labels: { 'pod-template-hash': '6f7' }, owners: [owner('ReplicaSet', 'my-web-app-6f7')] }), expected: 'my-web-app' },
    { name: 'bare ReplicaSet (no hash label)', pod: pod({ name: 'rs-abc', owners: [owner('ReplicaSet', 'cache')] }), expected: 'cache' },
    { name: 'hash label that is not the suffix', pod: pod({ name: 'x', labels: { 'pod-template-hash': 'zzz' }, owners: [owner('ReplicaSet', 'web-abc')] }), expected: 'web-abc' },
    { name: 'StatefulSet', pod: pod({ name: 'db-0', owners: [owner('StatefulSet', 'db')] }), expected: 'db' },
    { name: 'DaemonSet', pod: pod({ generateName: 'node-agent-', owners: [owner('DaemonSet', 'node-agent')] }), expected: 'node-agent' },
    { name: 'Job', pod: pod({ generateName: 'migrate-2-', owners: [owner('Job', 'migrate-2')] }), expected: 'migrate-2' },
    { name: "CronJob's Job", pod: pod({ generateName: 'nightly-report-28934160-', owners: [owner('Job', 'nightly-report-28934160')] }), expected: 'nightly-report' },
    { name: 'non-controller owner is ignored', pod: pod({ name: 'solo', owners: [owner('StatefulSet', 'db', false)] }), expected: 'solo' },
    { name: 'unknown controller kind falls back to the pod', pod: pod({ name: 'vm-launcher-x', owners: [owner('VirtualMachineInstance', 'vm')] }), expected: 'vm-launcher-x' },
    { name: 'bare pod', pod: pod({ name: 'debug' }), expected: 'debug' },
    { name: 'generateName only (CREATE, no name yet)', pod: pod({ generateName: 'worker-' }), expected: 'worker' },
    { name: 'empty name with generateName', pod: pod({ name: '', generateName: 'worker-' }), expected: 'worker' },
    { name: 'neither name nor generateName', pod: pod({}), expected: undefined },
  ])('$name', ({ pod, expected }) => {
    expect(computeServiceName(pod)).toBe(expected);
  });
});
