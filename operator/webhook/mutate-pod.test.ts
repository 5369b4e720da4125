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
