// Sidecar injection end to end, without Kubernetes: the operator's pure injector rewrites a
// Deployment's pod for a TracingCluster (its spec.agent through computeAgentConfig, the way the
// webhook does), then the injected agent container runs as a local process — the built CLI with
// the container's args and exactly its env, as kubelet would resolve it over the image's ENV —
// forwarding to a real local cluster (etcd, controller, ingesters, querier). The app is the real
// OpenTelemetry JS SDK configured only from the env the injector gave the app container. Its spans
// must come back from the querier's Tempo API under the service name derived from the ReplicaSet,
// with an e-mail redacted by the cluster's scrub rule, and the agent must answer the probes the
// injector declared.
//
// The one liberty taken with the pod: its fixed agent ports (AGENT_PORTS) are replaced by free
// ones, consistently in the agent's env and the app's OTEL_EXPORTER_OTLP_ENDPOINT, since this
// machine is shared. That the agent listens on AGENT_PORTS without being told (its flag defaults)
// is asserted separately, so the substitution cannot hide a mismatch.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, trace, SpanKind } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector } from '@opentelemetry/resources';
import { FLAGS } from '../common/config/index.js';
import { freePort, startChild, type StartedChild } from '../common/proc/index.js';
import { parseQuantity, validateTracingClusterSpec } from '../operator/api/index.js';
import { computeAgentConfig } from '../operator/controller/index.js';
import type { KubeObject } from '../operator/kube/index.js';
import { AGENT_CONTAINER_NAME, AGENT_PORTS, INJECT_ANNOTATION, mutatePod, resolveInjection, type AgentInjection } from '../operator/webhook/index.js';
import { SKEIN_BIN, startTestCluster, waitFor, waitSettled, type TestCluster } from './harness/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARDS = 2;
const CLUSTER = { namespace: 'tracing', name: 'traces' };
/** What the apiserver names the pod after CREATE (the webhook sees only generateName). */
const POD_NAME = 'checkout-7d4b9c-x2k8q';
const EMAIL_RULE = { name: 'emails', value: '[^@\\s]+@[^@\\s]+', action: 'redact' } as const;

type Json = Record<string, any>;
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

/** A pod of Deployment `checkout` at admission: owned by its ReplicaSet, one app container without OTEL env. */
function checkoutPod(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'checkout-7d4b9c-',
      namespace: 'shop',
      labels: { app: 'checkout', 'pod-template-hash': '7d4b9c' },
      annotations: { [INJECT_ANNOTATION]: 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'checkout-7d4b9c', uid: '5f1d0c3e-8a2b-4c6d-9e0f-1a2b3c4d5e6f', controller: true, blockOwnerDeletion: true }],
    } as unknown as KubeObject['metadata'], // no name yet: the apiserver expands generateName after admission
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.example/shop/checkout:1.4.2',
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [
            { name: 'PORT', value: '8080' },
            { name: 'LOG_FORMAT', value: 'json' },
          ],
        },
      ],
    },
  };
}

/** ENV of the Dockerfile's final stage: what a container of the image starts with. */
function imageEnv(): Record<string, string> {
  const lines = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').split('\n').map((l) => l.trim());
  const final = lines.slice(lines.findLastIndex((l) => /^FROM\s/i.test(l)));
  const env: Record<string, string> = {};
  for (const line of final.filter((l) => /^ENV\s/i.test(l))) {
    for (const pair of line.replace(/^ENV\s+/i, '').split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

/**
 * A container's env list as kubelet resolves it: fieldRefs from the pod, `$(VAR)` expanded from the
 * variables defined earlier in the list (unknown references stay as written, `$$` is a literal `$`),
 * later entries overriding the image's ENV.
 */
function resolveEnv(list: readonly EnvVar[], fields: Record<string, string>, base: Record<string, string>): Record<string, string> {
  const env = { ...base };
  const defined = new Map<string, string>();
  for (const e of list) {
    let value: string;
    if (e.valueFrom !== undefined) {
      const fieldPath = e.valueFrom.fieldRef?.fieldPath;
      if (fieldPath === undefined || fields[fieldPath] === undefined) throw new Error(`env ${e.name}: unsupported valueFrom ${JSON.stringify(e.valueFrom)}`);
      value = fields[fieldPath];
    } else {
      value = (e.value ?? '').replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => (name === undefined ? '$' : (defined.get(name) ?? whole)));
    }
    defined.set(e.name, value);
    env[e.name] = value;
  }
  return env;
}

const containersOf = (pod: KubeObject): Json[] => [...(((pod['spec'] as Json)['initContainers'] as Json[] | undefined) ?? []), ...((pod['spec'] as Json)['containers'] as Json[])];

interface RunningInjectedAgent {
  readonly child: StartedChild;
  /** AGENT_PORTS value → the free port used for it here. */
  readonly ports: ReadonlyMap<number, number>;
  readonly env: Record<string, string>;
}

/**
 * Runs the injected container: `node <entrypoint> <args>` with its resolved env, the agent's ports
 * moved to free ones. A port taken between picking and binding makes the agent exit; then it is
 * tried again with new ports (a bounded number of times).
 */
async function runInjectedAgent(container: Json): Promise<RunningInjectedAgent> {
  const resolved = resolveEnv(container['env'], { 'metadata.name': POD_NAME }, imageEnv());
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const ports = new Map<number, number>();
    for (const port of Object.values(AGENT_PORTS)) ports.set(port, await freePort());
    const env: Record<string, string> = { ...resolved };
    // Values the container sets to one of the agent ports (SKEIN_ADMIN_PORT)…
    for (const [name, value] of Object.entries(env)) if (ports.has(Number(value)) && /^\d+$/.test(value)) env[name] = String(ports.get(Number(value)));
    // …and the listeners it leaves at their defaults, which are AGENT_PORTS (asserted in the tests).
    env['SKEIN_OTLP_GRPC_PORT'] = String(ports.get(AGENT_PORTS.otlpGrpc));
    env['SKEIN_OTLP_HTTP_PORT'] = String(ports.get(AGENT_PORTS.otlpHttp));
    env['SKEIN_JAEGER_SAMPLING_PORT'] = String(ports.get(AGENT_PORTS.jaegerSampling));
    try {
      const child = await startChild({ args: [SKEIN_BIN, ...(container['args'] as string[])], env, readyMessage: 'skein ready', timeoutMs: 30_000 });
      return { child, ports, env };
    } catch (e) {
      lastError = e;
      if (!/EADDRINUSE/.test(String(e))) break;
    }
  }
  throw lastError;
}

/** The app's OTLP exporter as an SDK distribution picks it: by OTEL_EXPORTER_OTLP_PROTOCOL, everything else from the env. */
function exporterFromEnv(): SpanExporter {
  const protocol = process.env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? process.env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'http/protobuf';
  switch (protocol) {
    case 'grpc':
      return new GrpcExporter();
    case 'http/json':
      return new JsonExporter();
    case 'http/protobuf':
      return new ProtoExporter();
    default:
      throw new Error(`unknown OTLP protocol ${protocol}`);
  }
}

/** Runs `fn` with process.env's OTEL_* variables being exactly `env`'s, then restores them. */
async function withOtelEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('OTEL_')));
  for (const k of Object.keys(saved)) delete process.env[k];
  for (const [k, v] of Object.entries(env)) if (k.startsWith('OTEL_')) process.env[k] = v;
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

type TempoTrace = { resourceSpans?: any[]; batches?: any[] };

async function fetchTrace(tempo: string, traceId: string): Promise<TempoTrace | undefined> {
  const res = await fetch(`http://${tempo}/api/traces/${traceId}`, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) {
    await res.arrayBuffer();
    return undefined;
  }
  return (await res.json()) as TempoTrace;
}

const attributesOf = (list: { key: string; value: Json }[] | undefined): Record<string, Json> => Object.fromEntries((list ?? []).map((a) => [a.key, a.value]));

describe('injected agent sidecar: injector → local agent process → local cluster → querier', () => {
  let cluster: TestCluster | undefined;
  let agent: RunningInjectedAgent | undefined;
  let pod: KubeObject;
  let agentContainer: Json;
  let appContainer: Json;

  beforeAll(async () => {
    cluster = await startTestCluster({ ingesters: 2, shards: SHARDS });
    await waitSettled(cluster, SHARDS, 60_000);

    const validated = validateTracingClusterSpec({ agent: { sampling: { probability: 1 }, scrubbing: { rules: [EMAIL_RULE] } } });
    if (!validated.ok) throw new Error(JSON.stringify(validated.issues));
    const spec = validated.value;
    const admitted = checkoutPod();
    // The webhook's first step: which cluster this pod's agent reports to.
    const decision = resolveInjection({ podNamespace: 'shop', podAnnotations: admitted.metadata.annotations, clusters: [CLUSTER] });
    expect(decision).toMatchObject({ kind: 'inject', cluster: CLUSTER });
    const injection: AgentInjection = {
      cluster: CLUSTER,
      image: 'ghcr.io/skein-dev/skein:0.1.0',
      imagePullPolicy: 'IfNotPresent',
      resources: spec.agent.resources ?? {},
      // In a cluster: the ingest Service; here an ingester of the local cluster.
      ingestEndpoint: cluster.ingesters[0]!.ready()['otlpGrpc']!,
      agentConfig: computeAgentConfig(spec),
      queueMaxBytes: parseQuantity(spec.agent.queueMaxBytes)!,
      nativeSidecar: true,
    };
    pod = mutatePod(admitted, injection);
    agentContainer = containersOf(pod).find((c) => c['name'] === AGENT_CONTAINER_NAME)!;
    appContainer = containersOf(pod).find((c) => c['name'] === 'app')!;
    agent = await runInjectedAgent(agentContainer);
  }, 180_000);

  afterAll(async () => {
    try {
      if (agent !== undefined) expect(await agent.child.stop('SIGTERM')).toBe(0);
    } finally {
      await cluster?.destroy();
    }
  }, 60_000);

  it('injects a native sidecar whose listeners are the agent flags\' defaults and whose probes hit the admin port', () => {
    expect(agentContainer).toBeDefined();
    expect(agentContainer['restartPolicy']).toBe('Always');
    expect(agentContainer['args']).toEqual(['agent']);
    // The injector sets no OTLP or Jaeger port: the agent's defaults must be the ports the app is sent to.
    const names = (agentContainer['env'] as EnvVar[]).map((e) => e.name);
    expect(names.filter((n) => /^SKEIN_(OTLP_GRPC|OTLP_HTTP|JAEGER_SAMPLING)_PORT$/.test(n))).toEqual([]);
    expect(FLAGS['otlp-grpc-port'].schema.parse(undefined)).toBe(AGENT_PORTS.otlpGrpc);
    expect(FLAGS['otlp-http-port'].schema.parse(undefined)).toBe(AGENT_PORTS.otlpHttp);
    expect(FLAGS['jaeger-sampling-port'].schema.parse(undefined)).toBe(AGENT_PORTS.jaegerSampling);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) expect(agentContainer[probe].httpGet.port, probe).toBe(AGENT_PORTS.admin);
    expect(new Map((agentContainer['env'] as EnvVar[]).map((e) => [e.name, e.value])).get('SKEIN_ADMIN_PORT')).toBe(String(AGENT_PORTS.admin));
    // The app container: pointed at the agent on loopback, named after the Deployment.
    const appEnv = resolveEnv(appContainer['env'], {}, {});
    expect(appEnv).toEqual({
      PORT: '8080',
      LOG_FORMAT: 'json',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${AGENT_PORTS.otlpHttp}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_SERVICE_NAME: 'checkout',
    });
  });

  it('the agent process runs from the container\'s env: receivers on loopback only, admin for kubelet, probes answer', async () => {
    const a = agent!;
    expect(a.env['SKEIN_MEMBER_ID']).toBe(POD_NAME); // $(POD_NAME) expanded from the fieldRef
    expect(a.env['SKEIN_HOST']).toBe('127.0.0.1'); // the container's value over the image's 0.0.0.0
    const ready = a.child.ready;
    expect(ready['otlpGrpc']).toBe(`127.0.0.1:${a.ports.get(AGENT_PORTS.otlpGrpc)}`);
    expect(ready['otlpHttp']).toBe(`127.0.0.1:${a.ports.get(AGENT_PORTS.otlpHttp)}`);
    expect(ready['jaegerSampling']).toBe(`127.0.0.1:${a.ports.get(AGENT_PORTS.jaegerSampling)}`);
    expect(ready['admin']).toBe(`0.0.0.0:${a.ports.get(AGENT_PORTS.admin)}`);
    // What kubelet does with the injected probes (scheme, path), on the substituted admin port.
    for (const name of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const { scheme, path: probePath } = agentContainer[name].httpGet as { scheme: string; path: string };
      const res = await fetch(`${scheme.toLowerCase()}://127.0.0.1:${a.ports.get(AGENT_PORTS.admin)}${probePath}`, { signal: AbortSignal.timeout(5000) });
      expect(res.status, `${name} ${probePath}`).toBe(200);
      await res.arrayBuffer();
    }
    // Jaeger remote sampling answers on its (substituted) port, with the cluster's rate.
    const sampling = await fetch(`http://${ready['jaegerSampling']}/sampling?service=checkout`, { signal: AbortSignal.timeout(5000) });
    expect(sampling.status).toBe(200);
    expect(await sampling.json()).toMatchObject({ probabilisticSampling: { samplingRate: 1 } });
  });

  it('an SDK configured only from the app container\'s env gets its spans to the querier, as `checkout`, scrubbed', async () => {
    const a = agent!;
    const tempo = cluster!.querier.ready()['tempo']!;
    const appEnv = resolveEnv(appContainer['env'], {}, {});
    // The endpoint's port is the agent's: substitute it as in the agent's env.
    const endpoint = new URL(appEnv['OTEL_EXPORTER_OTLP_ENDPOINT']!);
    const substituted = a.ports.get(Number(endpoint.port));
    expect(substituted, `${endpoint.href} must point at one of the agent's ports`).toBeDefined();
    endpoint.port = String(substituted);
    appEnv['OTEL_EXPORTER_OTLP_ENDPOINT'] = endpoint.origin;

    const traceIds = await withOtelEnv(appEnv, async () => {
      const provider = new NodeTracerProvider({
        resource: detectResources({ detectors: [envDetector] }),
        spanProcessors: [new BatchSpanProcessor(exporterFromEnv(), { scheduledDelayMillis: 20 })],
      });
      const tracer = provider.getTracer('checkout-app', '1.4.2');
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const root = tracer.startSpan('POST /checkout', {
          kind: SpanKind.SERVER,
          attributes: { 'http.route': '/checkout', 'enduser.id': `ada${i}@example.com`, 'order.note': `ship to ada${i}@example.com, ring twice` },
        });
        const child = tracer.startSpan('charge card', { kind: SpanKind.CLIENT, attributes: { 'peer.service': 'payments' } }, trace.setSpan(context.active(), root));
        child.end();
        root.end();
        ids.push(root.spanContext().traceId);
      }
      await provider.forceFlush();
      await provider.shutdown();
      return ids;
    });

    // Sampling probability 1: every trace arrives, whole.
    for (const [i, traceId] of traceIds.entries()) {
      let body: TempoTrace | undefined;
      await waitFor(
        `trace ${traceId} with both spans from the querier`,
        async () => {
          body = await fetchTrace(tempo, traceId);
          const spans = (body?.resourceSpans ?? body?.batches ?? []).flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans));
          return spans.length === 2;
        },
        30_000,
        100,
      );
      const resourceSpans = (body!.resourceSpans ?? body!.batches)!;
      for (const rs of resourceSpans) expect(attributesOf(rs.resource.attributes)['service.name']).toEqual({ stringValue: 'checkout' });
      const root = resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)).find((s: any) => s.name === 'POST /checkout');
      const attrs = attributesOf(root.attributes);
      // The cluster's rule redacts each match (the built-ins would not touch an e-mail).
      expect(attrs['enduser.id']).toEqual({ stringValue: '[REDACTED]' });
      expect(attrs['order.note']).toEqual({ stringValue: 'ship to [REDACTED] ring twice' });
      expect(attrs['http.route']).toEqual({ stringValue: '/checkout' });
      expect(JSON.stringify(body)).not.toContain(`ada${i}@example.com`);
    }

    // Queryable by the derived service name, too.
    const search = await fetch(`http://${tempo}/api/search?${new URLSearchParams({ tags: 'service.name=checkout', limit: '100' }).toString()}`, { signal: AbortSignal.timeout(5000) });
    expect(search.status).toBe(200);
    const found = new Set(((await search.json()) as { traces: { traceID: string; rootServiceName: string }[] }).traces.filter((t) => t.rootServiceName === 'checkout').map((t) => t.traceID));
    expect(traceIds.filter((id) => !found.has(id))).toEqual([]);
  });
});
