import { describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { validateTracingCluster } from '../api/index.js';
import { createMemoryKube, type KubeObject } from '../kube/index.js';
import { createCa, INJECT_ANNOTATION, issueServingCert } from '../webhook/index.js';
import { createEventRecorder } from './events.js';
import { CERT_MANAGER_INJECT_ANNOTATION, createInjectionRuntime, type WebhookSettings } from './injection-runtime.js';
import type { CachedCluster } from './injection.js';

const NS = 'skein-system';
const CONFIG = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', name: 'skein-operator' };
const SECRET = { apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'webhook-tls' };

function traces(): CachedCluster {
  const r = validateTracingCluster({ apiVersion: 'tracing.skein.dev/v1alpha1', kind: 'TracingCluster', metadata: { name: 'traces', namespace: 'shop' }, spec: {} });
  if (!r.ok) throw new Error('invalid');
  return { ref: { namespace: 'shop', name: 'traces' }, tc: r.value };
}

function setup(extra: Partial<WebhookSettings> = {}) {
  const kube = createMemoryKube();
  const logger = createSilentLogger();
  const changed: string[] = [];
  const runtime = createInjectionRuntime({
    kube,
    logger,
    registry: createRegistry({ defaultMetrics: false }),
    view: { clusters: () => [traces()], namespaceAnnotations: () => undefined },
    settings: { componentImage: 'skein:test', nativeSidecar: true },
    webhook: { host: '127.0.0.1', port: 0, namespace: NS, secretName: 'webhook-tls', configName: 'skein-operator', serviceName: 'skein-operator-webhook', timeoutSeconds: 5, ...extra },
    watchNamespaces: [],
    events: createEventRecorder({ kube, component: 'skein-operator', instance: 'op-0', logger }),
    onMissedChanged: (k) => changed.push(k),
    fieldManager: 'skein-operator',
    reportIntervalMs: 50,
  });
  return { kube, runtime, changed };
}

async function leadUntil(runtime: ReturnType<typeof setup>['runtime'], done: () => Promise<boolean>): Promise<void> {
  const abort = new AbortController();
  const loop = runtime.lead(abort.signal);
  try {
    for (let i = 0; i < 200 && !(await done()); i++) await new Promise((r) => setTimeout(r, 20));
  } finally {
    abort.abort();
    await loop;
  }
}

const caBundleOf = (config: KubeObject | undefined): string | undefined => {
  const b64 = (config?.['webhooks'] as { clientConfig: { caBundle?: string } }[] | undefined)?.[0]?.clientConfig.caBundle;
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString();
};

describe('injection runtime (leader upkeep) on the kube twin', () => {
  it('own CA: creates the Secret and applies the webhook configuration trusting it', async () => {
    const { kube, runtime } = setup();
    await leadUntil(runtime, async () => caBundleOf(await kube.get(CONFIG)) !== undefined);
    const secret = (await kube.get(SECRET)) as { data: Record<string, string> } | undefined;
    const ca = Buffer.from(secret!.data['ca.crt']!, 'base64').toString().trim();
    expect(caBundleOf(await kube.get(CONFIG))).toContain(ca);
    expect((await kube.get(CONFIG))?.metadata.annotations?.[CERT_MANAGER_INJECT_ANNOTATION]).toBeUndefined();
  });

  it('cert-manager: reads its Secret, leaves it alone, and lets its CA injector own caBundle', async () => {
    const { kube, runtime } = setup({ certManagerCertificate: 'skein-webhook' });
    const ca = await createCa({ commonName: 'cm', validityDays: 30, now: new Date() });
    const serving = await issueServingCert({ ca, dnsNames: ['skein-operator-webhook.skein-system.svc'], validityDays: 10, now: new Date() });
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    await kube.create({ ...SECRET, metadata: { name: SECRET.name, namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(serving.certPem), 'tls.key': b64(serving.keyPem), 'ca.crt': b64(ca.certPem) } });
    const before = await kube.get(SECRET);
    await leadUntil(runtime, async () => (await kube.get(CONFIG)) !== undefined);
    const config = await kube.get(CONFIG);
    expect(config?.metadata.annotations?.[CERT_MANAGER_INJECT_ANNOTATION]).toBe(`${NS}/skein-webhook`);
    expect(caBundleOf(config)).toBeUndefined();
    expect((await kube.get(SECRET))?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
  });

  it('reports a pod that asked for the agent and runs without it: one Warning Event, a count, a reconcile', async () => {
    const { kube, runtime, changed } = setup();
    await kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', annotations: { [INJECT_ANNOTATION]: 'true' } }, spec: { containers: [] } });
    await leadUntil(runtime, () => Promise.resolve(runtime.missed('shop/traces') === 1 && changed.includes('shop/traces')));
    expect(runtime.missed('shop/traces')).toBe(1);
    const events = (await kube.list({ apiVersion: 'v1', kind: 'Event' }, { namespace: 'shop' })).items as unknown as { reason: string; type: string; involvedObject: { name: string } }[];
    expect(events.map((e) => [e.reason, e.type, e.involvedObject.name])).toEqual([['SidecarNotInjected', 'Warning', 'web-1']]);
  });
});
