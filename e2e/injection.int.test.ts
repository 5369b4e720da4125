// Sidecar injection on a real kube-apiserver (controller-manager for Deployments/StatefulSets/Jobs,
// scheduler, KWOK): the operator process serves the webhook on 127.0.0.1 (the apiserver runs on the
// same machine and calls it by URL), makes its own CA and serving certificate, applies the
// MutatingWebhookConfiguration with the caBundle, and reports pods that asked for the agent and run
// without it. Per-run namespaces and webhook configuration name; runs against KUBECONFIG too only if
// that cluster's apiserver can reach this machine's 127.0.0.1 (i.e. not on kind).
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startChild, type StartedChild } from '../common/proc/index.js';
import { API_VERSION, CRD_FILE_NAME, CRD_NAME, GROUP, KIND, PLURAL, VERSION } from '../operator/api/index.js';
import { AGENT_CONTAINER_NAME, INJECTED_ANNOTATION, INJECT_ANNOTATION, issueServingCert, SECRET_KEYS } from '../operator/webhook/index.js';
import { eventually, kubeEnvironmentFromEnv, type KubeClient, type KubeEnvironment } from './k8s/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SKEIN = path.join(ROOT, 'dist', 'cli', 'skein.js');
const RUN = randomBytes(3).toString('hex');
const NS_OP = `skein-inj-op-${RUN}`;
/** One TracingCluster `traces`. */
const NS_A = `skein-inj-a-${RUN}`;
/** Namespace annotated inject=true, one TracingCluster `b`. */
const NS_B = `skein-inj-b-${RUN}`;
/** Two TracingClusters: "true" is ambiguous. */
const NS_C = `skein-inj-c-${RUN}`;
const WEBHOOK_CONFIG = `skein-inj-${RUN}`;
const SECRET = 'skein-operator-webhook-tls';

let env: KubeEnvironment;
let kube: KubeClient;
let createdCrd = false;
let webhookPort: number;
let operator: StartedChild | undefined;

interface Container {
  name: string;
  env?: { name: string; value?: string }[];
  restartPolicy?: string;
}
interface Pod {
  metadata: { name: string; uid: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: { containers: Container[]; initContainers?: Container[] };
}

const wait = <T>(what: string, check: (why: (reason: string) => void) => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> =>
  eventually(what, check, { timeoutMs, env, failFast: () => (operator !== undefined && operator.child.exitCode !== null ? `operator exited (${operator.child.exitCode}):\n${operator.logs.slice(-30).join('\n')}` : undefined) });

async function startOperator(): Promise<StartedChild> {
  operator = await startChild({
    args: [
      SKEIN,
      'operator',
      '--kubeconfig',
      env.kubeconfigPath,
      '--watch-namespace',
      [NS_A, NS_B, NS_C].join(','),
      '--lease-namespace',
      NS_OP,
      '--member-id',
      `op-${RUN}`,
      '--host',
      '127.0.0.1',
      '--admin-port',
      '0',
      '--lease-ttl-seconds',
      '4',
      '--component-image',
      'skein:e2e',
      '--webhook-port',
      String(webhookPort),
      '--webhook-url',
      `https://127.0.0.1:${webhookPort}/mutate`,
      '--webhook-config-name',
      WEBHOOK_CONFIG,
    ],
    readyMessage: 'skein ready',
    timeoutMs: 30_000,
  });
  return operator;
}

async function createTc(namespace: string, name: string): Promise<void> {
  await kube.expectOk('POST', `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`, {
    // An unreachable external etcd: injection needs only the resource, not a running cluster.
    body: { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: { shards: 1, etcd: { external: { endpoints: ['http://127.0.0.1:9'] } } } },
  });
}

const podBody = (name: string, annotations: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, annotations },
  spec: { containers: [{ name: 'app', image: 'app:1' }] },
});

async function createPod(namespace: string, name: string, annotations: Record<string, string> = {}): Promise<Pod> {
  const res = await kube.request<Pod>('POST', `/api/v1/namespaces/${namespace}/pods`, { body: podBody(name, annotations) });
  if (res.status !== 201) throw new Error(`creating pod ${namespace}/${name} → ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

function agentOf(pod: Pod): Container | undefined {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === AGENT_CONTAINER_NAME);
}

function expectInjected(pod: Pod, cluster: string): void {
  expect(pod.metadata.annotations?.[INJECTED_ANNOTATION]).toBe(cluster);
  const agent = pod.spec.initContainers?.find((c) => c.name === AGENT_CONTAINER_NAME);
  expect(agent?.restartPolicy, 'a native sidecar').toBe('Always');
  const app = pod.spec.containers.find((c) => c.name !== AGENT_CONTAINER_NAME)!;
  const envOf = (n: string) => app.env?.find((e) => e.name === n)?.value;
  expect(envOf('OTEL_EXPORTER_OTLP_ENDPOINT')).toBe('http://127.0.0.1:4318');
  expect(envOf('OTEL_EXPORTER_OTLP_PROTOCOL')).toBe('http/protobuf');
}

function expectNotInjected(pod: Pod): void {
  expect(agentOf(pod)).toBeUndefined();
  expect(pod.metadata.annotations?.[INJECTED_ANNOTATION]).toBeUndefined();
}

async function podEvents(namespace: string, name: string): Promise<{ reason: string; type: string; message: string }[]> {
  const list = await kube.expectOk('GET', `/api/v1/namespaces/${namespace}/events`, { query: { fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${name}` } });
  return list.items;
}

/** The serial number of the certificate the webhook presents to a new connection. */
function servedSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: webhookPort, rejectUnauthorized: false }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

beforeAll(async () => {
  env = await kubeEnvironmentFromEnv({ nodes: 1 });
  kube = env.client;
  createdCrd = (await kube.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`)).status === 404;
  const crd = JSON.parse(await readFile(path.join(ROOT, 'crds', CRD_FILE_NAME), 'utf8'));
  await kube.apply(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`, crd, { fieldManager: 'skein-e2e', force: true });
  for (const ns of [NS_OP, NS_A, NS_C]) await kube.expectOk('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  await kube.expectOk('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS_B, annotations: { [INJECT_ANNOTATION]: 'true' } } } });
  await wait('the TracingCluster collection to be served', async () => ((await kube.request('GET', `/apis/${GROUP}/${VERSION}/namespaces/${NS_A}/${PLURAL}`)).status === 200 ? true : undefined));
  await createTc(NS_A, 'traces');
  await createTc(NS_B, 'b');
  await createTc(NS_C, 'x');
  await createTc(NS_C, 'y');
  webhookPort = await freePort();
  await startOperator();
  // Ready for admissions once the configuration carries the CA and the webhook serves its cert.
  await wait('the webhook configuration with a caBundle', async (why) => {
    const res = await kube.request('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK_CONFIG}`);
    why(`${res.status}`);
    return res.status === 200 && typeof res.body.webhooks?.[0]?.clientConfig?.caBundle === 'string' ? true : undefined;
  });
  // The operator's caches must hold the TracingClusters before the first admission decides.
  await wait('a probe pod injected (caches and webhook warm)', async () => {
    const name = `probe-${randomBytes(2).toString('hex')}`;
    const pod = await createPod(NS_A, name, { [INJECT_ANNOTATION]: 'true' });
    await kube.request('DELETE', `/api/v1/namespaces/${NS_A}/pods/${name}`, { query: { gracePeriodSeconds: '0' } });
    return agentOf(pod) !== undefined ? true : undefined;
  });
}, 180_000);

afterAll(async () => {
  await operator?.stop('SIGKILL');
  if (kube !== undefined) {
    await kube.request('DELETE', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK_CONFIG}`).catch(() => undefined);
    for (const ns of [NS_A, NS_B, NS_C]) {
      const list = await kube.request<{ items: { metadata: { name: string } }[] }>('GET', `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`).catch(() => undefined);
      for (const tc of list?.body.items ?? []) {
        await kube.request('PATCH', `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}/${tc.metadata.name}`, { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' }).catch(() => undefined);
      }
    }
    for (const ns of [NS_OP, NS_A, NS_B, NS_C]) await kube.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
    if (createdCrd) await kube.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`).catch(() => undefined);
  }
  await env?.stop();
}, 120_000);

describe('sidecar injection (webhook served by the operator on a real apiserver)', () => {
  it('the operator made its own CA and serving certificate (no cert-manager), trusted by the caBundle', async () => {
    const secret = await kube.expectOk('GET', `/api/v1/namespaces/${NS_OP}/secrets/${SECRET}`);
    const config = await kube.expectOk('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK_CONFIG}`);
    const webhook = config.webhooks[0];
    expect(webhook).toMatchObject({ failurePolicy: 'Ignore', sideEffects: 'None', reinvocationPolicy: 'IfNeeded', timeoutSeconds: 5 });
    expect(Buffer.from(webhook.clientConfig.caBundle, 'base64').toString()).toContain(Buffer.from(secret.data[SECRET_KEYS.ca], 'base64').toString().trim());
  });

  it.each([
    { title: 'a bare Pod with "true" (the only cluster in its namespace)', ns: () => NS_A, annotations: { [INJECT_ANNOTATION]: 'true' }, cluster: () => `${NS_A}/traces` },
    { title: 'a bare Pod naming the cluster', ns: () => NS_A, annotations: { [INJECT_ANNOTATION]: 'traces' }, cluster: () => `${NS_A}/traces` },
    { title: 'a Pod in another namespace naming <namespace>/<name>', ns: () => NS_C, annotations: { [INJECT_ANNOTATION]: `${NS_A}/traces` }, cluster: () => `${NS_A}/traces` },
    { title: 'a Pod in a namespace annotated "true"', ns: () => NS_B, annotations: {}, cluster: () => `${NS_B}/b` },
  ])('injects $title', async ({ ns, annotations, cluster }) => {
    const pod = await createPod(ns(), `pod-${randomBytes(3).toString('hex')}`, annotations as Record<string, string>);
    expectInjected(pod, cluster());
  });

  it.each([
    { title: 'an unannotated Pod', ns: () => NS_A, annotations: {} },
    { title: 'a Pod with "false" in a namespace annotated "true"', ns: () => NS_B, annotations: { [INJECT_ANNOTATION]: 'false' } },
  ])('leaves $title alone', async ({ ns, annotations }) => {
    expectNotInjected(await createPod(ns(), `pod-${randomBytes(3).toString('hex')}`, annotations as Record<string, string>));
  });

  it('injects the pods of a Deployment, a StatefulSet and a Job (annotation on the pod template)', async () => {
    const template = (app: string) => ({ metadata: { labels: { app }, annotations: { [INJECT_ANNOTATION]: 'true' } }, spec: { containers: [{ name: 'app', image: 'app:1' }] } });
    await kube.expectOk('POST', `/apis/apps/v1/namespaces/${NS_A}/deployments`, { body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: template('web') } } });
    await kube.expectOk('POST', `/apis/apps/v1/namespaces/${NS_A}/statefulsets`, { body: { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' }, spec: { replicas: 1, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: template('db') } } });
    const jobTemplate = template('batch');
    await kube.expectOk('POST', `/apis/batch/v1/namespaces/${NS_A}/jobs`, { body: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'batch' }, spec: { template: { ...jobTemplate, spec: { ...jobTemplate.spec, restartPolicy: 'Never' } } } } });
    for (const app of ['web', 'db', 'batch']) {
      const pod = await wait(`a pod of ${app}`, async () => {
        const list = await kube.expectOk('GET', `/api/v1/namespaces/${NS_A}/pods`, { query: { labelSelector: `app=${app}` } });
        return list.items[0] as Pod | undefined;
      });
      expectInjected(pod, `${NS_A}/traces`);
      const serviceName = pod.spec.containers.find((c) => c.name === 'app')!.env!.find((e) => e.name === 'OTEL_SERVICE_NAME')?.value;
      expect(serviceName, app).toBe(app);
    }
  });

  it('an ambiguous target is not injected, and the pod gets a Warning Event that says why', async () => {
    const name = `amb-${RUN}`;
    expectNotInjected(await createPod(NS_C, name, { [INJECT_ANNOTATION]: 'true' }));
    const events = await wait('a Warning Event on the ambiguous pod', async () => {
      const e = (await podEvents(NS_C, name)).filter((x) => x.reason === 'SidecarTargetInvalid');
      return e.length > 0 ? e : undefined;
    });
    expect(events[0]!.type).toBe('Warning');
    expect(events[0]!.message).toMatch(/x, y|x and y|2 TracingClusters/);
  });

  it('webhook down → pods are admitted unchanged; once the operator is back they are reported (Event + status + Degraded)', async () => {
    await operator!.stop('SIGTERM');
    const name = `missed-${RUN}`;
    // failurePolicy Ignore: the apiserver admits the pod without the webhook.
    expectNotInjected(await createPod(NS_A, name, { [INJECT_ANNOTATION]: 'true' }));
    await startOperator();
    const events = await wait('a SidecarNotInjected Event on the pod', async () => {
      const e = (await podEvents(NS_A, name)).filter((x) => x.reason === 'SidecarNotInjected');
      return e.length > 0 ? e : undefined;
    });
    expect(events[0]!.message).toMatch(/restart|re-create/);
    const tc = await wait('status.injection.missedPods ≥ 1 and Degraded InjectionMissed', async (why) => {
      const t = await kube.expectOk('GET', `/apis/${GROUP}/${VERSION}/namespaces/${NS_A}/${PLURAL}/traces`);
      const degraded = (t.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Degraded');
      why(JSON.stringify({ injection: t.status?.injection, degraded }));
      return (t.status?.injection?.missedPods ?? 0) >= 1 && String(degraded?.message).includes('agent sidecar') ? t : undefined;
    }, 90_000);
    expect(tc.status.injection.missedPods).toBeGreaterThanOrEqual(1);
    // Re-created after the fix, the pod is injected and no longer counted.
    await kube.expectOk('DELETE', `/api/v1/namespaces/${NS_A}/pods/${name}`, { query: { gracePeriodSeconds: '0' } });
    await wait('the pod gone', async () => ((await kube.request('GET', `/api/v1/namespaces/${NS_A}/pods/${name}`)).status === 404 ? true : undefined));
    await wait('missedPods back to 0', async () => {
      const t = await kube.expectOk('GET', `/apis/${GROUP}/${VERSION}/namespaces/${NS_A}/${PLURAL}/traces`);
      return t.status?.injection?.missedPods === 0 ? true : undefined;
    }, 90_000);
  });

  it('a serving certificate forced near expiry is renewed while admissions keep being injected', async () => {
    const before = await kube.expectOk('GET', `/api/v1/namespaces/${NS_OP}/secrets/${SECRET}`);
    const b64 = (k: string) => Buffer.from(before.data[k], 'base64').toString();
    // Same CA, but issued 300 days ago for 365 days: in its last third, so due for renewal.
    const old = await issueServingCert({ ca: { certPem: b64(SECRET_KEYS.ca), keyPem: b64(SECRET_KEYS.caKey) }, dnsNames: ['127.0.0.1', 'localhost'], validityDays: 365, now: new Date(Date.now() - 300 * 86_400_000) });
    await kube.expectOk('PATCH', `/api/v1/namespaces/${NS_OP}/secrets/${SECRET}`, {
      body: { data: { [SECRET_KEYS.cert]: Buffer.from(old.certPem).toString('base64'), [SECRET_KEYS.key]: Buffer.from(old.keyPem).toString('base64') } },
      contentType: 'application/merge-patch+json',
    });
    const oldSerial = new X509Certificate(old.certPem).serialNumber;
    // Admissions all along: none may fail or come back without the sidecar.
    let created = 0;
    const renewed = await wait('a renewed serving certificate in the Secret and on the wire', async (why) => {
      const pod = await createPod(NS_A, `rot-${RUN}-${created++}`, { [INJECT_ANNOTATION]: 'true' });
      expectInjected(pod, `${NS_A}/traces`);
      const now = await kube.expectOk('GET', `/api/v1/namespaces/${NS_OP}/secrets/${SECRET}`);
      const certPem = Buffer.from(now.data[SECRET_KEYS.cert], 'base64').toString();
      const inSecret = new X509Certificate(certPem).serialNumber;
      const served = await servedSerial();
      why(`secret ${inSecret}, served ${served}, forced ${oldSerial}`);
      return inSecret !== oldSerial && served.toUpperCase() === inSecret.toUpperCase() ? certPem : undefined;
    }, 90_000);
    expect(new X509Certificate(renewed).validTo).not.toBe(new X509Certificate(old.certPem).validTo);
    expect(created).toBeGreaterThan(0);
  });
});
