import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMemoryKube, KubeApiError, type KubeObject, type MemoryKube } from '../kube/index.js';
import { createCertManager, SECRET_KEYS, type CertManagerOptions } from './cert-manager.js';
import { certificateInfo, createCa, isSignedBy, splitPemBundle } from './certs.js';
import { buildMutatingWebhookConfiguration } from './webhook-config.js';

const NS = 'skein-system';
const SECRET = 'skein-webhook-tls';
const CONFIG = 'skein-inject';
const DAY = 86_400_000;
const SETTLE = 120_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const secretRef = { apiVersion: 'v1', kind: 'Secret', namespace: NS, name: SECRET };
const configRef = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', name: CONFIG };

interface Fixture {
  kube: MemoryKube;
  clock: { t: number };
  manager: ReturnType<typeof createCertManager>;
}

async function setup(options: { withConfig?: boolean; webhooks?: number } & Partial<CertManagerOptions> = {}): Promise<Fixture> {
  const clock = { t: T0 };
  const kube = createMemoryKube({ now: () => clock.t });
  if (options.withConfig ?? true) {
    const config = buildMutatingWebhookConfiguration({
      name: CONFIG,
      service: { namespace: NS, name: 'skein-webhook', port: 443, path: '/mutate' },
      excludedNamespaces: [NS],
    });
    const hooks = config['webhooks'] as object[];
    const webhooks = Array.from({ length: options.webhooks ?? 1 }, (_, i) => ({ ...hooks[0], name: `w${i}.tracing.skein.dev` }));
    await kube.create({ ...config, webhooks });
  }
  const manager = createCertManager({
    kube,
    namespace: NS,
    secretName: SECRET,
    webhookConfigName: CONFIG,
    serviceName: 'skein-webhook',
    now: () => new Date(clock.t),
    caValidityDays: 300,
    servingValidityDays: 90,
    settleMs: SETTLE,
    ...options,
  });
  return { kube, clock, manager };
}

const decoded = (secret: KubeObject | undefined, key: string): string => Buffer.from((secret!['data'] as Record<string, string>)[key]!, 'base64').toString('utf8');
const webhookBundles = (config: KubeObject | undefined): string[] =>
  (config!['webhooks'] as { clientConfig: { caBundle?: string } }[]).map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8'));
const trusts = (bundlePem: string, servingPem: string): boolean => splitPemBundle(bundlePem).some((ca) => isSignedBy(servingPem, ca));

describe('createCertManager', () => {
  it('first reconcile creates the Secret and patches every caBundle; a second is a no-op', async () => {
    const { kube, manager } = await setup({ webhooks: 2, dnsNamesExtra: ['127.0.0.1'] });
    expect(await manager.current()).toBeUndefined();

    const first = await manager.reconcile();
    expect(first).toMatchObject({ rotated: true, step: 'create', caBundlePatched: true, webhookConfigFound: true });

    const secret = await kube.get(secretRef);
    expect(secret!['type']).toBe('kubernetes.io/tls');
    expect(Object.keys(secret!['data'] as object).sort()).toEqual(['ca-bundle.crt', 'ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const ca = decoded(secret, SECRET_KEYS.ca);
    const cert = new X509Certificate(decoded(secret, SECRET_KEYS.cert));
    expect(cert.checkIssued(new X509Certificate(ca))).toBe(true);
    expect(cert.verify(new X509Certificate(ca).publicKey)).toBe(true);
    expect(cert.checkHost('skein-webhook.skein-system.svc')).toBeDefined();
    expect(cert.checkHost('skein-webhook.skein-system.svc.cluster.local')).toBeDefined();
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(decoded(secret, SECRET_KEYS.caBundle)).toBe(ca);
    expect(webhookBundles(await kube.get(configRef))).toEqual([ca, ca]);
    // The next renewal falls due after 60 of the serving certificate's 90 days.
    expect(first.requeueAfterMs).toBe(60 * 60_000);

    const material = await manager.current();
    expect(material).toEqual({ certPem: cert.toString(), keyPem: decoded(secret, SECRET_KEYS.key), caBundlePem: ca });

    const secretRv = (await kube.get(secretRef))!.metadata.resourceVersion;
    const configRv = (await kube.get(configRef))!.metadata.resourceVersion;
    const second = await manager.reconcile();
    expect(second).toMatchObject({ rotated: false, caBundlePatched: false });
    expect(second.step).toBeUndefined();
    expect((await kube.get(secretRef))!.metadata.resourceVersion).toBe(secretRv);
    expect((await kube.get(configRef))!.metadata.resourceVersion).toBe(configRv);
  });

  it('renews the serving certificate under the same CA when it nears expiry', async () => {
    const { kube, clock, manager } = await setup();
    await manager.reconcile();
    const before = await kube.get(secretRef);
    const configRv = (await kube.get(configRef))!.metadata.resourceVersion;

    clock.t = T0 + 61 * DAY;
    const result = await manager.reconcile();
    expect(result).toMatchObject({ rotated: true, step: 'issue-serving', caBundlePatched: false });

    const after = await kube.get(secretRef);
    expect(decoded(after, SECRET_KEYS.ca)).toBe(decoded(before, SECRET_KEYS.ca));
    expect(decoded(after, SECRET_KEYS.caKey)).toBe(decoded(before, SECRET_KEYS.caKey));
    expect(decoded(after, SECRET_KEYS.cert)).not.toBe(decoded(before, SECRET_KEYS.cert));
    expect(isSignedBy(decoded(after, SECRET_KEYS.cert), decoded(after, SECRET_KEYS.ca))).toBe(true);
    expect(certificateInfo(decoded(after, SECRET_KEYS.cert)).notAfter.getTime()).toBe(T0 + 151 * DAY);
    expect((await kube.get(configRef))!.metadata.resourceVersion).toBe(configRv);
    expect((await manager.reconcile()).rotated).toBe(false);
  });

  it('rotates a CA near expiry through the bundle steps, never serving what the caBundle does not trust', async () => {
    const { kube, clock, manager } = await setup();
    await manager.reconcile();
    const oldCa = decoded(await kube.get(secretRef), SECRET_KEYS.ca);

    // Every serving certificate that was in the Secret within the last SETTLE (what lagging
    // replicas may still present) must chain to a CA in the webhook's caBundle and the Secret's.
    const served: { from: number; until: number; pem: string }[] = [];
    const check = async (): Promise<void> => {
      const secret = await kube.get(secretRef);
      const pem = decoded(secret, SECRET_KEYS.cert);
      const last = served.at(-1);
      if (last?.pem !== pem) {
        if (last !== undefined) last.until = clock.t;
        served.push({ from: clock.t, until: Infinity, pem });
      }
      const bundles = [decoded(secret, SECRET_KEYS.caBundle), ...webhookBundles(await kube.get(configRef))];
      for (const s of served.filter((x) => x.until > clock.t - SETTLE)) {
        for (const bundle of bundles) expect(trusts(bundle, s.pem)).toBe(true);
      }
    };
    await check();

    // Months of routine reconciles: the serving certificate is renewed every ~60 days.
    for (let day = 10; day <= 190; day += 10) {
      clock.t = T0 + day * DAY;
      await manager.reconcile();
      await check();
    }
    expect(served.length).toBe(4);
    expect(decoded(await kube.get(secretRef), SECRET_KEYS.ca)).toBe(oldCa);

    clock.t = T0 + 201 * DAY; // the CA's last third; the serving certificate (day 180) still works
    const steps: string[] = [];
    for (let i = 0; i < 20; i++) {
      const result = await manager.reconcile();
      await check();
      if (result.step !== undefined) steps.push(result.step);
      if (result.step === undefined) steps.push(`wait ${result.requeueAfterMs}`);
      if (result.step === 'drop-old-cas') break;
      clock.t += result.step === undefined ? result.requeueAfterMs : 1000;
    }
    expect(steps).toEqual(['add-ca', `wait ${SETTLE - 1000}`, 'issue-serving', `wait ${SETTLE - 1000}`, 'drop-old-cas']);

    const secret = await kube.get(secretRef);
    const newCa = decoded(secret, SECRET_KEYS.ca);
    expect(newCa).not.toBe(oldCa);
    expect(decoded(secret, SECRET_KEYS.caBundle)).toBe(newCa);
    expect(webhookBundles(await kube.get(configRef))).toEqual([newCa]);
    expect(isSignedBy(decoded(secret, SECRET_KEYS.cert), newCa)).toBe(true);
    expect((await manager.reconcile()).rotated).toBe(false);
  });

  it('waits for the new CA to be published when the caBundle patch failed after a step', async () => {
    const { kube, clock, manager } = await setup({ caValidityDays: 300, servingValidityDays: 300 });
    await manager.reconcile();
    clock.t = T0 + 201 * DAY;
    kube.failNext('mergePatch', new KubeApiError(500, 'InternalError', 'boom'));
    await expect(manager.reconcile()).rejects.toThrow('boom'); // add-ca stored, caBundle not patched
    const stalled = await kube.get(secretRef);
    expect(splitPemBundle(decoded(stalled, SECRET_KEYS.caBundle))).toHaveLength(2);
    expect(webhookBundles(await kube.get(configRef))[0]).not.toContain(decoded(stalled, SECRET_KEYS.ca).trim());

    clock.t += 10 * SETTLE; // long after the Secret changed, but the apiserver never saw the new CA
    const r1 = await manager.reconcile();
    expect(r1).toMatchObject({ rotated: false, caBundlePatched: true, requeueAfterMs: SETTLE });
    clock.t += SETTLE / 2;
    expect((await manager.reconcile()).rotated).toBe(false);
    clock.t += SETTLE / 2;
    expect(await manager.reconcile()).toMatchObject({ rotated: true, step: 'issue-serving' });
  });

  it('two leaders racing to create: one Secret, and the caBundle matches it', async () => {
    const { kube, manager: a } = await setup();
    const b = createCertManager({ kube, namespace: NS, secretName: SECRET, webhookConfigName: CONFIG, serviceName: 'skein-webhook', now: () => new Date(T0) });
    // Both read "absent", both generate keys, both create: the second create gets 409 and adopts.
    const results = await Promise.all([a.reconcile(), b.reconcile()]);
    expect(results.map((r) => r.step ?? 'none').sort()).toEqual(['create', 'none']);
    const secret = await kube.get(secretRef);
    expect(webhookBundles(await kube.get(configRef))).toEqual([decoded(secret, SECRET_KEYS.caBundle)]);
    expect(await a.current()).toEqual(await b.current());
    expect((await a.reconcile()).rotated).toBe(false);
  });

  it('retries the caBundle patch on a conflict', async () => {
    const { kube, manager } = await setup();
    kube.failNext('mergePatch', new KubeApiError(409, 'Conflict', 'modified'), 2);
    expect(await manager.reconcile()).toMatchObject({ caBundlePatched: true });
    expect(webhookBundles(await kube.get(configRef))[0]).toBe((await manager.current())!.caBundlePem);
  });

  it('creates the Secret before the webhook configuration exists, and patches it once it does', async () => {
    const { kube, manager } = await setup({ withConfig: false });
    expect(await manager.reconcile()).toMatchObject({ rotated: true, caBundlePatched: false, webhookConfigFound: false });
    await kube.create(buildMutatingWebhookConfiguration({ name: CONFIG, url: 'https://127.0.0.1:1/mutate', excludedNamespaces: [] }));
    expect(await manager.reconcile()).toMatchObject({ rotated: false, caBundlePatched: true, webhookConfigFound: true });
    expect(webhookBundles(await kube.get(configRef))[0]).toBe((await manager.current())!.caBundlePem);
  });

  it('replaces a Secret it cannot use', async () => {
    const { kube, manager } = await setup();
    await kube.create({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: SECRET, namespace: NS },
      data: { 'tls.crt': Buffer.from('garbage').toString('base64'), 'tls.key': '' },
    });
    expect(await manager.reconcile()).toMatchObject({ rotated: true, step: 'recreate', caBundlePatched: true });
    const material = (await manager.current())!;
    expect(trusts(material.caBundlePem, material.certPem)).toBe(true);
  });

  it('repairs a bundle that lost the current CA', async () => {
    const { kube, manager } = await setup();
    await manager.reconcile();
    const secret = (await kube.get(secretRef))!;
    const stranger = await createCa({ commonName: 'stranger', validityDays: 300, now: new Date(T0) });
    const data = { ...(secret['data'] as Record<string, string>), [SECRET_KEYS.caBundle]: Buffer.from(stranger.certPem).toString('base64') };
    await kube.replace({ ...secret, data });
    await manager.reconcile();
    const material = (await manager.current())!;
    expect(trusts(webhookBundles(await kube.get(configRef))[0]!, material.certPem)).toBe(true);
  });

  it('propagates errors reading the Secret', async () => {
    const { kube, manager } = await setup();
    kube.failNext('get', new KubeApiError(503, 'ServiceUnavailable', 'down'));
    await expect(manager.reconcile()).rejects.toThrow('down');
  });
});
