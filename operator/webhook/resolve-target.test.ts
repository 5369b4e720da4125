import { describe, expect, it } from 'vitest';
import { INJECT_ANNOTATION, resolveInjection, type ClusterRef, type InjectionDecision } from './index.js';

const ref = (namespace: string, name: string): ClusterRef => ({ namespace, name });
const inject = (namespace: string, name: string, source: 'pod' | 'namespace'): InjectionDecision => ({ kind: 'inject', cluster: ref(namespace, name), source });

const ONE_LOCAL = [ref('shop', 'traces'), ref('tracing', 'main')];
const TWO_LOCAL = [ref('shop', 'b'), ref('shop', 'a'), ref('tracing', 'main')];
const ONE_ELSEWHERE = [ref('tracing', 'main')];
const TWO_ELSEWHERE = [ref('tracing', 'main'), ref('obs', 'traces')];

interface Case {
  name: string;
  pod?: string;
  namespace?: string;
  clusters: readonly ClusterRef[];
  expected: InjectionDecision | { kind: 'refuse'; reason: string; message: RegExp };
}

const cases: Case[] = [
  { name: 'no inject annotation on pod or namespace', clusters: ONE_LOCAL, expected: { kind: 'skip', reason: 'not-requested' } },
  { name: 'pod true, one cluster in the namespace', pod: 'true', clusters: ONE_LOCAL, expected: inject('shop', 'traces', 'pod') },
  { name: 'pod true, none in the namespace, one in the cluster', pod: 'true', clusters: ONE_ELSEWHERE, expected: inject('tracing', 'main', 'pod') },
  { name: 'pod value is trimmed', pod: '  true\n', clusters: ONE_LOCAL, expected: inject('shop', 'traces', 'pod') },
  { name: 'pod names a cluster in its namespace', pod: 'a', clusters: TWO_LOCAL, expected: inject('shop', 'a', 'pod') },
  { name: 'pod names namespace/name', pod: 'tracing/main', clusters: TWO_LOCAL, expected: inject('tracing', 'main', 'pod') },
  { name: 'pod false', pod: 'false', clusters: ONE_LOCAL, expected: { kind: 'skip', reason: 'opted-out' } },
  { name: 'namespace true', namespace: 'true', clusters: ONE_LOCAL, expected: inject('shop', 'traces', 'namespace') },
  { name: 'namespace names a cluster', namespace: 'tracing/main', clusters: ONE_LOCAL, expected: inject('tracing', 'main', 'namespace') },
  { name: 'namespace false', namespace: 'false', clusters: ONE_LOCAL, expected: { kind: 'skip', reason: 'opted-out' } },
  { name: 'namespace true, pod false opts out', pod: 'false', namespace: 'true', clusters: ONE_LOCAL, expected: { kind: 'skip', reason: 'opted-out' } },
  { name: 'pod name wins over namespace true', pod: 'tracing/main', namespace: 'true', clusters: ONE_LOCAL, expected: inject('tracing', 'main', 'pod') },
  { name: 'pod true wins over namespace false', pod: 'true', namespace: 'false', clusters: ONE_LOCAL, expected: inject('shop', 'traces', 'pod') },
  {
    name: 'pod true, two clusters in the namespace',
    pod: 'true',
    clusters: TWO_LOCAL,
    expected: { kind: 'refuse', reason: 'ambiguous', message: /^2 TracingClusters in namespace shop \(a, b\): set tracing\.skein\.dev\/inject to one of their names$/ },
  },
  {
    name: 'namespace true, none in the namespace, two elsewhere',
    namespace: 'true',
    clusters: TWO_ELSEWHERE,
    expected: { kind: 'refuse', reason: 'ambiguous', message: /no TracingCluster in namespace shop and 2 in other namespaces \(obs\/traces, tracing\/main\): set .* <namespace>\/<name>/ },
  },
  {
    name: 'pod true, no cluster at all',
    pod: 'true',
    clusters: [],
    expected: { kind: 'refuse', reason: 'unknown-cluster', message: /no TracingCluster exists in the cluster: create one, or set .* to "false"/ },
  },
  {
    name: 'pod names a cluster that exists only in another namespace',
    pod: 'main',
    clusters: ONE_LOCAL,
    expected: { kind: 'refuse', reason: 'unknown-cluster', message: /on the pod names TracingCluster shop\/main, which does not exist: set tracing\.skein\.dev\/inject to tracing\/main$/ },
  },
  {
    name: 'pod names an unknown cluster',
    pod: 'nope',
    clusters: TWO_LOCAL,
    expected: { kind: 'refuse', reason: 'unknown-cluster', message: /shop\/nope, which does not exist: set .* to one of shop\/a, shop\/b, tracing\/main$/ },
  },
  {
    name: 'namespace names an unknown namespace/name',
    namespace: 'other/x',
    clusters: [],
    expected: { kind: 'refuse', reason: 'unknown-cluster', message: /on namespace shop names TracingCluster other\/x, which does not exist: create it/ },
  },
  ...['', '   ', 'True', 'y es', 'Traces', 'a/b/c', '/x', 'x/', '-a', 'a_b', 'a'.repeat(64)].map(
    (value): Case => ({
      name: `pod ${JSON.stringify(value)} is invalid`,
      pod: value,
      clusters: ONE_LOCAL,
      expected: {
        kind: 'refuse',
        reason: 'invalid-annotation',
        message: new RegExp(`^tracing\\.skein\\.dev/inject on the pod is ${escapeRegExp(JSON.stringify(value))}: set it to "true", "false", "<name>" or "<namespace>/<name>"`),
      },
    }),
  ),
  {
    name: 'an invalid pod value is reported, not overridden by the namespace',
    pod: 'True',
    namespace: 'true',
    clusters: ONE_LOCAL,
    expected: { kind: 'refuse', reason: 'invalid-annotation', message: /on the pod is "True"/ },
  },
  {
    name: 'an invalid namespace value names the namespace',
    namespace: 'Yes',
    clusters: ONE_LOCAL,
    expected: { kind: 'refuse', reason: 'invalid-annotation', message: /on namespace shop is "Yes"/ },
  },
];

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('resolveInjection', () => {
  it.each(cases)('$name', ({ pod, namespace, clusters, expected }) => {
    const decision = resolveInjection({
      podNamespace: 'shop',
      podAnnotations: { 'other/annotation': 'true', ...(pod !== undefined ? { [INJECT_ANNOTATION]: pod } : {}) },
      namespaceAnnotations: namespace !== undefined ? { [INJECT_ANNOTATION]: namespace } : undefined,
      clusters,
    });
    if (expected.kind === 'refuse') {
      expect(decision).toMatchObject({ kind: 'refuse', reason: expected.reason });
      expect(decision.kind === 'refuse' && decision.message).toMatch(expected.message);
    } else {
      expect(decision).toEqual(expected);
    }
  });

  it('keeps messages short when many clusters match', () => {
    const clusters = Array.from({ length: 40 }, (_, i) => ref(`ns${String(i).padStart(2, '0')}`, 'traces'));
    const decision = resolveInjection({ podNamespace: 'shop', podAnnotations: { [INJECT_ANNOTATION]: 'true' }, clusters });
    expect(decision).toMatchObject({ kind: 'refuse', reason: 'ambiguous' });
    expect(decision.kind === 'refuse' && decision.message).toMatch(/ns04\/traces and 35 more\)/);
  });
});
