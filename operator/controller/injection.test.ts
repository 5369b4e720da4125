import { describe, expect, it } from 'vitest';
import { validateTracingCluster, type TracingClusterSpecInput } from '../api/index.js';
import type { KubeObject } from '../kube/index.js';
import { AGENT_CONTAINER_NAME, applyJsonPatch, INJECTED_ANNOTATION, INJECT_ANNOTATION, type AdmissionRequest, type JsonPatchOperation } from '../webhook/index.js';
import { computeAdmission, computeAgentInjection, computeMissedInjections, DEFAULT_AGENT_RESOURCES, supportsNativeSidecars, type CachedCluster, type InjectionView } from './injection.js';

const cluster = (namespace: string, name: string, spec: TracingClusterSpecInput = {}): CachedCluster => {
  const r = validateTracingCluster({ apiVersion: 'tracing.skein.dev/v1alpha1', kind: 'TracingCluster', metadata: { name, namespace }, spec });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return { ref: { namespace, name }, tc: r.value };
};
const view = (clusters: CachedCluster[], namespaces: Record<string, Record<string, string>> = {}): InjectionView => ({ clusters: () => clusters, namespaceAnnotations: (ns) => namespaces[ns] });
const settings = { componentImage: 'skein:test', nativeSidecar: true };
const pod = (annotations: Record<string, string> = {}, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-', namespace: 'shop', annotations, ...extra } as KubeObject['metadata'],
  spec: { containers: [{ name: 'web', image: 'web:1' }] },
});
const request = (p: KubeObject, operation: AdmissionRequest['operation'] = 'CREATE'): AdmissionRequest => ({ uid: 'u1', namespace: 'shop', operation, object: p });

describe('computeAgentInjection', () => {
  it('takes image, resources, queue and settings from the cluster, the operator\'s image last', () => {
    const plain = computeAgentInjection(cluster('obs', 'traces'), settings);
    expect(plain).toMatchObject({ image: 'skein:test', ingestEndpoint: 'traces-ingest.obs.svc:4317', queueMaxBytes: 32 * 2 ** 20, resources: DEFAULT_AGENT_RESOURCES, nativeSidecar: true });
    const custom = computeAgentInjection(cluster('obs', 'traces', { image: 'skein:1', agent: { image: 'agent:2', queueMaxBytes: '8Mi', resources: { limits: { memory: '64Mi' } } } }), { ...settings, nativeSidecar: false });
    expect(custom).toMatchObject({ image: 'agent:2', queueMaxBytes: 8 * 2 ** 20, resources: { limits: { memory: '64Mi' } }, nativeSidecar: false });
    expect(computeAgentInjection(cluster('obs', 'traces', { image: 'skein:1' }), settings).image).toBe('skein:1');
  });
});

describe('computeAdmission', () => {
  const one = view([cluster('shop', 'traces')]);

  it.each([
    { name: 'not annotated: no patch', p: pod(), v: one, patched: false, warning: false },
    { name: 'pod "true", one cluster in the namespace: injected', p: pod({ [INJECT_ANNOTATION]: 'true' }), v: one, patched: true, warning: false },
    { name: 'namespace "true": injected', p: pod(), v: view([cluster('shop', 'traces')], { shop: { [INJECT_ANNOTATION]: 'true' } }), patched: true, warning: false },
    { name: 'namespace "true", pod "false": not injected', p: pod({ [INJECT_ANNOTATION]: 'false' }), v: view([cluster('shop', 'traces')], { shop: { [INJECT_ANNOTATION]: 'true' } }), patched: false, warning: false },
    { name: 'two clusters and "true": refused with a warning', p: pod({ [INJECT_ANNOTATION]: 'true' }), v: view([cluster('shop', 'a'), cluster('shop', 'b')]), patched: false, warning: true },
    { name: 'unknown cluster: refused with a warning', p: pod({ [INJECT_ANNOTATION]: 'nope' }), v: one, patched: false, warning: true },
  ])('$name', ({ p, v, patched, warning }) => {
    const out = computeAdmission(request(p), v, settings);
    expect((out.patch?.length ?? 0) > 0).toBe(patched);
    expect((out.warnings?.length ?? 0) > 0).toBe(warning);
    if (patched) {
      const after = applyJsonPatch(p, out.patch as JsonPatchOperation[]) as KubeObject;
      expect(after.metadata.annotations?.[INJECTED_ANNOTATION]).toBe('shop/traces');
      const init = (after.spec as { initContainers?: { name: string }[] }).initContainers ?? [];
      expect(init.map((c) => c.name)).toEqual([AGENT_CONTAINER_NAME]);
      // Re-invocation (reinvocationPolicy IfNeeded) changes nothing.
      expect(computeAdmission(request(after), v, settings)).toEqual({});
    }
  });

  it('ignores anything but pod CREATE', () => {
    expect(computeAdmission(request(pod({ [INJECT_ANNOTATION]: 'true' }), 'UPDATE'), one, settings)).toEqual({});
    expect(computeAdmission({ uid: 'u', operation: 'CREATE', object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } } }, one, settings)).toEqual({});
  });
});

describe('computeMissedInjections', () => {
  const clusters = view([cluster('shop', 'traces')]);
  it('reports pods that asked and run without the agent, and why', () => {
    const owned = pod({ [INJECT_ANNOTATION]: 'true' }, { name: 'web-1', uid: 'a', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5f', uid: 'rs', controller: true }] });
    const injected = pod({ [INJECT_ANNOTATION]: 'true', [INJECTED_ANNOTATION]: 'shop/traces' }, { name: 'web-2', uid: 'b' });
    const done = { ...pod({ [INJECT_ANNOTATION]: 'true' }, { name: 'job-1', uid: 'c' }), status: { phase: 'Succeeded' } };
    const wrong = pod({ [INJECT_ANNOTATION]: 'nope' }, { name: 'web-3', uid: 'd' });
    const plain = pod({}, { name: 'web-4', uid: 'e' });
    const missed = computeMissedInjections([owned, injected, done, wrong, plain], clusters);
    expect(missed.map((m) => [m.pod.metadata.name, m.reason, m.cluster?.name])).toEqual([
      ['web-1', 'SidecarNotInjected', 'traces'],
      ['web-3', 'SidecarTargetInvalid', undefined],
    ]);
    expect(missed[0]!.message).toMatch(/ReplicaSet re-creates it/);
  });
});

describe('supportsNativeSidecars', () => {
  it.each([
    { major: '1', minor: '28', want: false },
    { major: '1', minor: '29', want: true },
    { major: '1', minor: '37', want: true },
    { major: '1', minor: '30+', want: true },
    { major: '2', minor: '0', want: true },
    { major: '', minor: '', want: false },
  ])('$major.$minor → $want', ({ major, minor, want }) => expect(supportsNativeSidecars({ major, minor })).toBe(want));
});
