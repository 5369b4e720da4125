import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/index.js';
import { AGENT_CONTAINER_NAME, INJECTED_ANNOTATION, applyJsonPatch, buildAgentContainer, computeJsonPatch, mutatePod, type AgentInjection } from './index.js';

type Json = Record<string, any>;

const INJECTION: AgentInjection = {
  cluster: { namespace: 'tracing', name: 'traces' },
  image: 'ghcr.io/skein/skein:1.2.3',
  imagePullPolicy: 'IfNotPresent',
  resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
  ingestEndpoint: 'traces-ingest.tracing.svc:4317',
  agentConfig: { sampling: { defaultRatio: 0.5 }, scrubbing: { rules: [] } },
  queueMaxBytes: 33554432,
  nativeSidecar: false,
};

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

interface PodShape {
  init?: Json[];
  containers: Json[];
}

/** A Deployment's pod at CREATE: generateName only, owned by a ReplicaSet. */
function pod({ init, containers }: PodShape): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'web-5c8b7-',
      namespace: 'shop',
      labels: { app: 'web', 'pod-template-hash': '5c8b7' },
      annotations: { 'tracing.skein.dev/inject': 'true', 'other.example/x': 'y' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5c8b7', uid: 'u1', controller: true }],
    } as unknown as KubeObject['metadata'],
    spec: {
      ...(init !== undefined ? { initContainers: init } : {}),
      containers,
      volumes: [{ name: 'data', emptyDir: {} }],
      nodeSelector: { pool: 'general' },
    },
  };
}

const app = (name: string, env?: Json[]): Json => ({ name, image: `${name}:1`, ports: [{ containerPort: 8080 }], ...(env !== undefined ? { env } : {}) });
const migrate: Json = { name: 'migrate', image: 'migrate:1', env: [{ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'untouched' }] };
const staleAgent: Json = { name: AGENT_CONTAINER_NAME, image: 'old:0', args: ['stale'] };

const DEFAULT_ENV = [
  { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://127.0.0.1:4318' },
  { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/protobuf' },
  { name: 'OTEL_SERVICE_NAME', value: 'web' },
];

interface Case {
  name: string;
  pod: PodShape;
  nativeSidecar: boolean;
  /** Container names in order; `undefined` = no initContainers field. */
  init: string[] | undefined;
  containers: string[];
  /** Full env of each application container after mutation. */
  env: Record<string, Json[]>;
}

const cases: Case[] = [
  {
    name: 'classic: agent appended to containers, init containers untouched',
    pod: { init: [migrate], containers: [app('app', [{ name: 'X', value: '1' }]), app('worker')] },
    nativeSidecar: false,
    init: ['migrate'],
    containers: ['app', 'worker', AGENT_CONTAINER_NAME],
    env: { app: [{ name: 'X', value: '1' }, ...DEFAULT_ENV], worker: DEFAULT_ENV },
  },
  {
    name: 'native: agent first among init containers',
    pod: { init: [migrate], containers: [app('app')] },
    nativeSidecar: true,
    init: [AGENT_CONTAINER_NAME, 'migrate'],
    containers: ['app'],
    env: { app: DEFAULT_ENV },
  },
  {
    name: 'native: initContainers created when absent',
    pod: { containers: [app('app')] },
    nativeSidecar: true,
    init: [AGENT_CONTAINER_NAME],
    containers: ['app'],
    env: { app: DEFAULT_ENV },
  },
  {
    name: 'classic: no initContainers field added',
    pod: { containers: [app('app')] },
    nativeSidecar: false,
    init: undefined,
    containers: ['app', AGENT_CONTAINER_NAME],
    env: { app: DEFAULT_ENV },
  },
  {
    name: 'existing endpoint, protocol and service name kept',
    pod: {
      containers: [
        app('app', [
          { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://collector:4318' },
          { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/json' },
          { name: 'OTEL_SERVICE_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.labels[app]' } } },
        ]),
      ],
    },
    nativeSidecar: false,
    init: undefined,
    containers: ['app', AGENT_CONTAINER_NAME],
    env: {
      app: [
        { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://collector:4318' },
        { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/json' },
        { name: 'OTEL_SERVICE_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.labels[app]' } } },
      ],
    },
  },
  {
    name: 'grpc protocol points the endpoint at 4317',
    pod: { containers: [app('app', [{ name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'grpc' }])] },
    nativeSidecar: false,
    init: undefined,
    containers: ['app', AGENT_CONTAINER_NAME],
    env: {
      app: [
        { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'grpc' },
        { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://127.0.0.1:4317' },
        { name: 'OTEL_SERVICE_NAME', value: 'web' },
      ],
    },
  },
  {
    name: 'traces-specific grpc protocol wins over the general one',
    pod: {
      containers: [
        app('app', [
          { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/protobuf' },
          { name: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', value: 'grpc' },
        ]),
      ],
    },
    nativeSidecar: false,
    init: undefined,
    containers: ['app', AGENT_CONTAINER_NAME],
    env: {
      app: [
        { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/protobuf' },
        { name: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', value: 'grpc' },
        { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://127.0.0.1:4317' },
        { name: 'OTEL_SERVICE_NAME', value: 'web' },
      ],
    },
  },
  {
    name: 'service.name in OTEL_RESOURCE_ATTRIBUTES is not shadowed',
    pod: { containers: [app('app', [{ name: 'OTEL_RESOURCE_ATTRIBUTES', value: 'team=a, service.name=checkout' }])] },
    nativeSidecar: false,
    init: undefined,
    containers: ['app', AGENT_CONTAINER_NAME],
    env: { app: [{ name: 'OTEL_RESOURCE_ATTRIBUTES', value: 'team=a, service.name=checkout' }, ...DEFAULT_ENV.slice(0, 2)] },
  },
  {
    name: 'classic: existing skein-agent replaced in place',
    pod: { containers: [app('app'), staleAgent, app('worker')] },
    nativeSidecar: false,
    init: undefined,
    containers: ['app', AGENT_CONTAINER_NAME, 'worker'],
    env: { app: DEFAULT_ENV, worker: DEFAULT_ENV },
  },
  {
    name: 'native: existing init skein-agent replaced in place',
    pod: { init: [migrate, staleAgent], containers: [app('app')] },
    nativeSidecar: true,
    init: ['migrate', AGENT_CONTAINER_NAME],
    containers: ['app'],
    env: { app: DEFAULT_ENV },
  },
  {
    name: 'native: skein-agent moved from containers to init containers',
    pod: { init: [migrate], containers: [staleAgent, app('app')] },
    nativeSidecar: true,
    init: [AGENT_CONTAINER_NAME, 'migrate'],
    containers: ['app'],
    env: { app: DEFAULT_ENV },
  },
  {
    name: 'classic: skein-agent moved out of init containers, emptied field dropped',
    pod: { init: [{ ...staleAgent, restartPolicy: 'Always' }], containers: [app('app')] },
    nativeSidecar: false,
    init: undefined,
    containers: ['app', AGENT_CONTAINER_NAME],
    env: { app: DEFAULT_ENV },
  },
];

const names = (list: Json[] | undefined): string[] | undefined => list?.map((c) => c['name'] as string);

describe('mutatePod', () => {
  it.each(cases)('$name', ({ pod: shape, nativeSidecar, init, containers, env }) => {
    const injection = { ...INJECTION, nativeSidecar };
    const input = deepFreeze(pod(shape));
    const snapshot = structuredClone(input);

    const out = mutatePod(input, injection) as Json;
    const spec = out['spec'] as Json;

    expect(input).toEqual(snapshot);
    expect(names(spec['initContainers'])).toEqual(init);
    expect(names(spec['containers'])).toEqual(containers);
    const agent = [...(spec['initContainers'] ?? []), ...spec['containers']].find((c: Json) => c['name'] === AGENT_CONTAINER_NAME);
    expect(agent).toEqual(buildAgentContainer(injection));
    for (const [name, expected] of Object.entries(env)) {
      expect(spec['containers'].find((c: Json) => c['name'] === name)['env'], name).toEqual(expected);
    }
    // Init containers other than the agent, and every other field, are as they were.
    const others = (list: Json[] | undefined): Json[] => (list ?? []).filter((c) => c['name'] !== AGENT_CONTAINER_NAME);
    expect(others(spec['initContainers'])).toEqual(others(shape.init));
    const withoutEnv = ({ env: _env, ...rest }: Json): Json => rest;
    expect(others(spec['containers']).map(withoutEnv)).toEqual(others(shape.containers).map(withoutEnv));
    expect({ ...out, spec: { ...spec, containers: [], initContainers: [] } }).toEqual({
      ...snapshot,
      metadata: { ...snapshot.metadata, annotations: { ...snapshot.metadata.annotations, [INJECTED_ANNOTATION]: 'tracing/traces' } },
      spec: { ...(snapshot['spec'] as Json), containers: [], initContainers: [] },
    });

    // The admission patch reproduces the mutation, and a re-invocation changes nothing.
    expect(applyJsonPatch(input, computeJsonPatch(input, out))).toEqual(out);
    const again = mutatePod(deepFreeze(out as KubeObject), injection);
    expect(again).toEqual(out);
    expect(computeJsonPatch(out, again)).toEqual([]);
  });

  it('switching nativeSidecar on re-invocation moves the agent and still converges', () => {
    const classic = mutatePod(pod({ init: [migrate], containers: [app('app')] }), INJECTION);
    const native = mutatePod(deepFreeze(classic), { ...INJECTION, nativeSidecar: true });
    expect(names((native['spec'] as Json)['initContainers'])).toEqual([AGENT_CONTAINER_NAME, 'migrate']);
    expect(names((native['spec'] as Json)['containers'])).toEqual(['app']);
    expect(computeJsonPatch(native, mutatePod(native, { ...INJECTION, nativeSidecar: true }))).toEqual([]);
  });
});

describe('buildAgentContainer', () => {
  const probe = (path: string, periodSeconds: number, failureThreshold: number): Json => ({
    httpGet: { path, port: 13133, scheme: 'HTTP' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 1,
    successThreshold: 1,
  });
  const expected: Json = {
    name: 'skein-agent',
    image: 'ghcr.io/skein/skein:1.2.3',
    imagePullPolicy: 'IfNotPresent',
    args: ['agent'],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'SKEIN_MEMBER_ID', value: '$(POD_NAME)' },
      { name: 'SKEIN_INGEST_ENDPOINT', value: 'traces-ingest.tracing.svc:4317' },
      { name: 'SKEIN_AGENT_CONFIG', value: '{"sampling":{"defaultRatio":0.5},"scrubbing":{"rules":[]}}' },
      { name: 'SKEIN_QUEUE_MAX_BYTES', value: '33554432' },
      { name: 'SKEIN_HOST', value: '127.0.0.1' },
      { name: 'SKEIN_ADMIN_HOST', value: '0.0.0.0' },
      { name: 'SKEIN_ADMIN_PORT', value: '13133' },
    ],
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    startupProbe: probe('/readyz', 1, 60),
    readinessProbe: probe('/readyz', 10, 3),
    livenessProbe: probe('/healthz', 10, 3),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };

  it.each([
    { name: 'classic', injection: INJECTION, expected },
    { name: 'native sidecar restarts always', injection: { ...INJECTION, nativeSidecar: true }, expected: { ...expected, restartPolicy: 'Always' } },
    {
      name: 'no pull policy, no limits',
      injection: { ...INJECTION, imagePullPolicy: undefined, resources: { requests: { cpu: 0.1 } } },
      expected: (({ imagePullPolicy: _omit, ...rest }) => ({ ...rest, resources: { requests: { cpu: 0.1 } } }))(expected),
    },
  ])('$name', ({ injection, expected }) => {
    expect(buildAgentContainer(injection)).toStrictEqual(expected);
  });
});

/**
 * What the apiserver does to a pod between our first answer and the re-invocation: defaults the
 * fields we left out, and re-runs ServiceAccount admission, which mounts the API token volume into
 * every container — ours included.
 */
function admitted(pod: KubeObject): KubeObject {
  const out = structuredClone(pod) as Json;
  const spec = out['spec'] as Json;
  const token = { name: 'kube-api-access-x7k2p', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' };
  spec['volumes'] = [...(spec['volumes'] ?? []), { name: token.name, projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }];
  for (const c of [...(spec['initContainers'] ?? []), ...spec['containers']] as Json[]) {
    c['volumeMounts'] = [...(c['volumeMounts'] ?? []), token];
    c['terminationMessagePath'] ??= '/dev/termination-log';
    c['terminationMessagePolicy'] ??= 'File';
    c['imagePullPolicy'] ??= 'IfNotPresent';
  }
  return out as unknown as KubeObject;
}

const containerOf = (p: KubeObject, name: string): Json =>
  [...(((p['spec'] as Json)['initContainers'] as Json[] | undefined) ?? []), ...((p['spec'] as Json)['containers'] as Json[])].find((c) => c['name'] === name)!;

/** Another webhook that ran after ours: adds env and resources to every container it sees. */
function otherWebhook(pod: KubeObject): KubeObject {
  const out = structuredClone(pod) as Json;
  const spec = out['spec'] as Json;
  for (const c of [...(spec['initContainers'] ?? []), ...spec['containers']] as Json[]) {
    c['env'] = [...(c['env'] ?? []), { name: 'TZ', value: 'UTC' }];
    c['resources'] = { ...c['resources'], requests: { ...c['resources']?.requests, 'ephemeral-storage': '1Gi' } };
  }
  return out as unknown as KubeObject;
}

describe('mutatePod on re-invocation (reinvocationPolicy IfNeeded)', () => {
  describe.each([false, true])('nativeSidecar %s', (nativeSidecar) => {
    const injection = { ...INJECTION, nativeSidecar };
    const first = (): KubeObject => mutatePod(pod({ init: [migrate], containers: [app('app', [{ name: 'X', value: '1' }]), app('worker')] }), injection);

    it.each([
      { step: 'ServiceAccount admission mounted the token into every container', change: admitted },
      { step: 'ServiceAccount admission, then another webhook added env and resources everywhere', change: (p: KubeObject) => otherWebhook(admitted(p)) },
    ])('after $step: empty patch, nothing removed, nothing duplicated', ({ change }) => {
      const seen = deepFreeze(change(first()));
      const again = mutatePod(seen, injection);
      expect(computeJsonPatch(seen, again)).toEqual([]);
      expect(again).toEqual(seen);
      // The agent container keeps what later steps added to it…
      const agent = containerOf(again, AGENT_CONTAINER_NAME);
      expect(agent['volumeMounts']).toEqual([expect.objectContaining({ name: 'kube-api-access-x7k2p' })]);
      expect(agent).toEqual(containerOf(seen, AGENT_CONTAINER_NAME));
      // …and each app container has our env exactly once, beside what others added.
      for (const name of ['app', 'worker']) {
        const env = containerOf(again, name)['env'] as Json[];
        for (const e of DEFAULT_ENV) expect(env.filter((x) => x['name'] === e.name), `${name} ${e.name}`).toEqual([e]);
        expect(containerOf(again, name)['volumeMounts']).toEqual(containerOf(seen, name)['volumeMounts']);
      }
    });

    it('a container another webhook added after our first pass gets the OTEL env, and only that changes', () => {
      const before = admitted(first()) as Json;
      (before['spec'] as Json)['containers'].push({ name: 'proxy', image: 'proxy:1' });
      const seen = deepFreeze(before as unknown as KubeObject);
      const again = mutatePod(seen, injection);
      const proxyIndex = ((seen['spec'] as Json)['containers'] as Json[]).findIndex((c) => c['name'] === 'proxy');
      const patch = computeJsonPatch(seen, again);
      expect(patch.length).toBeGreaterThan(0);
      for (const op of patch) expect(op.path).toMatch(new RegExp(`^/spec/containers/${proxyIndex}/env`));
      expect(containerOf(again, 'proxy')['env']).toEqual(DEFAULT_ENV);
      expect(computeJsonPatch(again, mutatePod(deepFreeze(again), injection))).toEqual([]);
    });

    it('the marker without an agent container (something removed it): the agent is injected again', () => {
      const injected = admitted(first()) as Json;
      const spec = injected['spec'] as Json;
      for (const key of ['containers', 'initContainers']) spec[key] = spec[key]?.filter((c: Json) => c['name'] !== AGENT_CONTAINER_NAME);
      const seen = deepFreeze(injected as unknown as KubeObject);
      expect(seen.metadata.annotations?.[INJECTED_ANNOTATION]).toBe('tracing/traces');
      const again = mutatePod(seen, injection);
      expect(containerOf(again, AGENT_CONTAINER_NAME)).toEqual(buildAgentContainer(injection));
      expect(names((again['spec'] as Json)[nativeSidecar ? 'initContainers' : 'containers'])).toContain(AGENT_CONTAINER_NAME);
      // App containers and their env are as they were; the next pass is a no-op again.
      expect(containerOf(again, 'app')).toEqual(containerOf(seen, 'app'));
      expect(computeJsonPatch(again, mutatePod(deepFreeze(again), injection))).toEqual([]);
    });

    it("another cluster's marker and agent (a pod copied from one injected elsewhere): the agent is rebuilt for this cluster", () => {
      const elsewhere = mutatePod(pod({ containers: [app('app')] }), { ...injection, cluster: { namespace: 'other', name: 'traces' }, ingestEndpoint: 'traces-ingest.other.svc:4317' });
      const seen = deepFreeze(admitted(elsewhere));
      const again = mutatePod(seen, injection);
      expect(again.metadata.annotations?.[INJECTED_ANNOTATION]).toBe('tracing/traces');
      expect(containerOf(again, AGENT_CONTAINER_NAME)).toEqual(buildAgentContainer(injection));
    });
  });
});
