// The pod mutation of sidecar injection: pod in → pod out, with the admission patch computed by
// diff (json-patch.ts). It must be idempotent — the apiserver may re-invoke the webhook after other
// webhooks ran (reinvocationPolicy: IfNeeded), and a second pass must change nothing — so every
// step is "make it so" rather than "append": application env vars are added only when absent.
//
// Re-invocation: after our patch, the apiserver re-runs its built-in mutating admission plugins
// (ServiceAccount admission mounts the API token into every container, ours included), then calls
// us again because the pod changed; other webhooks may also have added volume mounts, env or
// resources to our container. A pod that already carries our marker for the same cluster and an
// agent container where this injection puts it (containers, or init containers for a native
// sidecar) is therefore left as it is: its agent container is not rebuilt, so what later admission
// steps added to it stays and the second answer is an empty patch. Only what is missing is filled
// in — the OTEL_* env of application containers that lack it (a container another webhook added
// after our first pass gets it, as it would have had it been there first). Anything else is
// (re)injected in full, replacing any skein-agent container found: no marker or another cluster's
// (a pod copied from an injected one), the agent in the other list (the sidecar mode changed), or
// the marker without the agent (something removed it: the marker must not claim an agent the pod
// lacks, or the missed-injection reporter would never flag it).
import type { KubeObject } from '../kube/index.js';
import { INJECTED_ANNOTATION, type ClusterRef } from './resolve-target.js';
import { computeServiceName } from './service-name.js';

export interface AgentInjection {
  readonly cluster: ClusterRef;
  readonly image: string;
  readonly imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  readonly resources: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  /** host:port of the cluster's ingest Service, e.g. traces-ingest.tracing.svc:4317 */
  readonly ingestEndpoint: string;
  /** JSON for the agent's --agent-config (sampling + scrubbing), passed inline. */
  readonly agentConfig: unknown;
  readonly queueMaxBytes: number;
  /** The apiserver supports init containers with restartPolicy: Always (Kubernetes ≥ 1.29). */
  readonly nativeSidecar: boolean;
}

export const AGENT_CONTAINER_NAME = 'skein-agent';
export const AGENT_PORTS = { otlpGrpc: 4317, otlpHttp: 4318, jaegerSampling: 5778, admin: 13133 } as const;

/** uid of the `node` user of the Skein image: the Dockerfile's `USER node` is a name, which kubelet cannot check against runAsNonRoot. */
const AGENT_USER_ID = 1000;

const OTEL_ENDPOINT = 'OTEL_EXPORTER_OTLP_ENDPOINT';
const OTEL_PROTOCOL = 'OTEL_EXPORTER_OTLP_PROTOCOL';
const OTEL_TRACES_PROTOCOL = 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL';
const OTEL_SERVICE_NAME = 'OTEL_SERVICE_NAME';
const OTEL_RESOURCE_ATTRIBUTES = 'OTEL_RESOURCE_ATTRIBUTES';

type Json = Record<string, unknown>;
interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: unknown;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function objectArray(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

export function buildAgentContainer(injection: AgentInjection): Json {
  const probe = (path: string, periodSeconds: number, failureThreshold: number): Json => ({
    // Every field spelled out, defaults included, so the container matches what the apiserver
    // stores and a re-invocation sees no difference.
    httpGet: { path, port: AGENT_PORTS.admin, scheme: 'HTTP' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 1,
    successThreshold: 1,
  });
  const resources: Json = {};
  if (injection.resources.requests !== undefined) resources['requests'] = { ...injection.resources.requests };
  if (injection.resources.limits !== undefined) resources['limits'] = { ...injection.resources.limits };
  return {
    name: AGENT_CONTAINER_NAME,
    image: injection.image,
    ...(injection.imagePullPolicy !== undefined ? { imagePullPolicy: injection.imagePullPolicy } : {}),
    args: ['agent'],
    env: [
      // POD_NAME before its use: $(VAR) expands only variables defined earlier in the list.
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'SKEIN_MEMBER_ID', value: '$(POD_NAME)' },
      { name: 'SKEIN_INGEST_ENDPOINT', value: injection.ingestEndpoint },
      { name: 'SKEIN_AGENT_CONFIG', value: JSON.stringify(injection.agentConfig ?? {}) },
      { name: 'SKEIN_QUEUE_MAX_BYTES', value: String(injection.queueMaxBytes) },
      // The image sets SKEIN_HOST=0.0.0.0; the receivers must answer only the pod's own containers.
      { name: 'SKEIN_HOST', value: '127.0.0.1' },
      // …while kubelet probes arrive on the pod IP.
      { name: 'SKEIN_ADMIN_HOST', value: '0.0.0.0' },
      { name: 'SKEIN_ADMIN_PORT', value: String(AGENT_PORTS.admin) },
    ],
    // No `ports`: the receivers listen on loopback only, so declaring them would advertise ports
    // nothing outside the pod can reach, and could collide with the app's port names.
    resources,
    // The startup probe holds back the app containers of a native sidecar until the agent listens,
    // so the first spans are not refused.
    startupProbe: probe('/readyz', 1, 60),
    readinessProbe: probe('/readyz', 10, 3),
    livenessProbe: probe('/healthz', 10, 3),
    // Restricted Pod Security Standard, so injection never makes a pod inadmissible.
    securityContext: {
      runAsNonRoot: true,
      runAsUser: AGENT_USER_ID,
      runAsGroup: AGENT_USER_ID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...(injection.nativeSidecar ? { restartPolicy: 'Always' } : {}),
  };
}

/** `pod` with the agent injected for `injection.cluster`. Returns a new object; never mutates its input. */
export function mutatePod(pod: KubeObject, injection: AgentInjection): KubeObject {
  const next = structuredClone(pod) as unknown as Json & { metadata: Json };
  const spec: Json = isObject(next['spec']) ? next['spec'] : {};
  next['spec'] = spec;

  const marker = `${injection.cluster.namespace}/${injection.cluster.name}`;
  const containers = objectArray(spec['containers']);
  const initContainers = objectArray(spec['initContainers']);
  const [target, other] = injection.nativeSidecar ? [initContainers, containers] : [containers, initContainers];
  const index = target.findIndex((c) => c['name'] === AGENT_CONTAINER_NAME);
  const alreadyInjected = index >= 0 && isObject(next.metadata['annotations']) && next.metadata['annotations'][INJECTED_ANNOTATION] === marker;

  if (!alreadyInjected) {
    const agent = buildAgentContainer(injection);
    const otherIndex = other.findIndex((c) => c['name'] === AGENT_CONTAINER_NAME);
    if (otherIndex >= 0) other.splice(otherIndex, 1);
    if (index >= 0) target[index] = agent;
    // First among init containers, so later init containers can already send spans.
    else if (injection.nativeSidecar) target.unshift(agent);
    else target.push(agent);

    spec['containers'] = containers;
    if (initContainers.length > 0) spec['initContainers'] = initContainers;
    else if (injection.nativeSidecar === false && otherIndex >= 0) delete spec['initContainers'];
  }

  const serviceName = computeServiceName(pod);
  for (const container of containers) {
    if (container['name'] === AGENT_CONTAINER_NAME) continue;
    const env = objectArray(container['env']) as unknown as EnvVar[];
    const additions = computeAppEnv(env, serviceName);
    if (additions.length > 0) container['env'] = [...env, ...additions];
  }

  const annotations = isObject(next.metadata['annotations']) ? next.metadata['annotations'] : {};
  next.metadata['annotations'] = { ...annotations, [INJECTED_ANNOTATION]: marker };
  return next as unknown as KubeObject;
}

function computeAppEnv(env: readonly EnvVar[], serviceName: string | undefined): EnvVar[] {
  const byName = new Map(env.map((e) => [e.name, e]));
  const additions: EnvVar[] = [];
  // The traces-specific protocol wins over the general one in the SDKs, so it decides which
  // receiver the endpoint must point at.
  const protocol = (byName.get(OTEL_TRACES_PROTOCOL) ?? byName.get(OTEL_PROTOCOL))?.value?.trim();
  if (!byName.has(OTEL_ENDPOINT)) {
    const port = protocol === 'grpc' ? AGENT_PORTS.otlpGrpc : AGENT_PORTS.otlpHttp;
    additions.push({ name: OTEL_ENDPOINT, value: `http://127.0.0.1:${port}` });
  }
  if (!byName.has(OTEL_PROTOCOL)) additions.push({ name: OTEL_PROTOCOL, value: 'http/protobuf' });
  // OTEL_SERVICE_NAME overrides a service.name in OTEL_RESOURCE_ATTRIBUTES, so a name the app gave
  // that way must not be shadowed by ours.
  const namedByAttributes = /(^|,)\s*service\.name\s*=/.test(byName.get(OTEL_RESOURCE_ATTRIBUTES)?.value ?? '');
  if (serviceName !== undefined && !byName.has(OTEL_SERVICE_NAME) && !namedByAttributes) {
    additions.push({ name: OTEL_SERVICE_NAME, value: serviceName });
  }
  return additions;
}
