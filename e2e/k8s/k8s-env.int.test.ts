// Proves the Kubernetes test environment does what the operator's suites will lean on: core objects,
// service-account tokens, a CRD with a CEL validation rule, server-side apply with field managers, a
// StatefulSet whose pods are scheduled and (on KWOK nodes) reach Running with bound PVCs, and the
// garbage collector in both foreground and background propagation. Runs against KUBECONFIG when set,
// so the same checks hold on kind or a real cluster; every name carries a per-run suffix and
// everything created is removed.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClient, eventually, kubeEnvironmentFromEnv, type KubeClient, type KubeEnvironment } from './index.js';

const RUN = randomBytes(3).toString('hex');
const NS = `skein-k8s-env-${RUN}`;
const GROUP = `t${RUN}.test.skein.dev`;
const CRD_NAME = `widgets.${GROUP}`;
const STORAGE_CLASS = `skein-e2e-${RUN}`;
const PV_NAMES = [0, 1].map((i) => `skein-e2e-${RUN}-${i}`);
const FIELD_MANAGER = 'skein-e2e';

let env: KubeEnvironment;
let kube: KubeClient;

const wait = <T>(what: string, check: (why: (reason: string) => void) => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> =>
  eventually(what, check, { timeoutMs, env });

beforeAll(async () => {
  env = await kubeEnvironmentFromEnv({ nodes: 1 });
  kube = env.client;
  await kube.expectOk('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
  // Pods need the namespace's default ServiceAccount, which the service-account controller adds.
  await wait(`ServiceAccount ${NS}/default`, async () => ((await kube.request('GET', `/api/v1/namespaces/${NS}/serviceaccounts/default`)).status === 200 ? true : undefined));
}, 180_000);

afterAll(async () => {
  if (kube !== undefined) {
    // Cluster-scoped leftovers first; the namespace takes everything inside it along.
    const gone = (path: string): Promise<unknown> => kube.request('DELETE', path).catch(() => undefined);
    await Promise.all([gone(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`), ...PV_NAMES.map((pv) => gone(`/api/v1/persistentvolumes/${pv}`)), gone(`/api/v1/namespaces/${NS}`)]);
  }
  await env?.stop();
}, 120_000);

describe('Kubernetes test environment', () => {
  it('serves core objects and issues service-account tokens the API server accepts', async () => {
    const sa = await kube.expectOk('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader' } } });
    expect(sa.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    await kube.expectOk('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { retention: '48h' } } });
    const cm = await kube.expectOk('GET', `/api/v1/namespaces/${NS}/configmaps/settings`);
    expect(cm.data).toEqual({ retention: '48h' });

    // TokenRequest signs with the service-account key; the authenticator verifies with its public half.
    const tokenRequest = await kube.expectOk('POST', `/api/v1/namespaces/${NS}/serviceaccounts/reader/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
    });
    const { certPem: _cert, keyPem: _key, ...server } = env.access;
    const asReader = createKubeClient({ ...server, token: tokenRequest.status.token });
    try {
      const review = await asReader.expectOk('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      expect(review.status.userInfo.username).toBe(`system:serviceaccount:${NS}:reader`);
      // RBAC is enforced: a fresh service account may not list secrets.
      expect((await asReader.request('GET', `/api/v1/namespaces/${NS}/secrets`)).status).toBe(403);
    } finally {
      asReader.close();
    }
  });

  it('enforces a CRD structural schema and its CEL rule, with the rule message', async () => {
    await kube.expectOk('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      body: {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: CRD_NAME },
        spec: {
          group: GROUP,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              subresources: { status: {} },
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: {
                      type: 'object',
                      required: ['min', 'max'],
                      properties: { min: { type: 'integer', minimum: 0 }, max: { type: 'integer' } },
                      'x-kubernetes-validations': [{ rule: 'self.min <= self.max', message: 'spec.min must not exceed spec.max' }],
                    },
                    status: { type: 'object', properties: { ready: { type: 'boolean' } } },
                  },
                },
              },
            },
          ],
        },
      },
    });
    await wait(`CRD ${CRD_NAME} Established`, async (why) => {
      const crd = await kube.expectOk('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`);
      const conditions: { type: string; status: string }[] = crd.status?.conditions ?? [];
      why(JSON.stringify(conditions));
      return conditions.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    });
    const widgets = `/apis/${GROUP}/v1/namespaces/${NS}/widgets`;
    const widget = (name: string, spec: object): object => ({ apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name }, spec });
    // Established can precede the handler being reachable by a moment; retry only a 404.
    const good = await wait('a valid Widget to be created', async (why) => {
      const res = await kube.request('POST', widgets, { body: widget('good', { min: 1, max: 3 }) });
      why(`${res.status}`);
      return res.status === 404 ? undefined : res;
    });
    expect(good.status).toBe(201);

    const bad = await kube.request('POST', widgets, { body: widget('bad', { min: 5, max: 3 }) });
    expect(bad.status).toBe(422);
    expect(bad.body.reason).toBe('Invalid');
    expect(bad.body.message).toContain('spec.min must not exceed spec.max');
    // The structural schema is checked too (type and minimum), before CEL.
    const wrongType = await kube.request('POST', widgets, { body: widget('wrong', { min: -1, max: 'lots' }) });
    expect(wrongType.status).toBe(422);
    expect(wrongType.body.message).toMatch(/spec\.max.*integer|spec\.min.*greater than or equal to 0/);
    expect((await kube.request('GET', `${widgets}/bad`)).status).toBe(404);
  });

  it('merges server-side apply by field manager and reports conflicts between managers', async () => {
    const path = `/api/v1/namespaces/${NS}/configmaps/applied`;
    const applied = (data: Record<string, string>): object => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace: NS }, data });
    const first = await kube.apply(path, applied({ shards: '4' }), { fieldManager: FIELD_MANAGER });
    expect(first.status).toBe(201);
    // Applying the same intent again is a no-op (same resourceVersion): what level-triggered reconcile relies on.
    const again = await kube.apply(path, applied({ shards: '4' }), { fieldManager: FIELD_MANAGER });
    expect(again.status).toBe(200);
    expect(again.body.metadata.resourceVersion).toBe(first.body.metadata.resourceVersion);
    const managers = (again.body.metadata.managedFields as { manager: string; operation: string }[]).map((m) => `${m.manager}/${m.operation}`);
    expect(managers).toContain(`${FIELD_MANAGER}/Apply`);

    const conflict = await kube.apply(path, applied({ shards: '8' }), { fieldManager: 'someone-else' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toContain(FIELD_MANAGER);
    const forced = await kube.apply(path, applied({ shards: '8' }), { fieldManager: 'someone-else', force: true });
    expect(forced.status).toBe(200);
    expect(forced.body.data).toEqual({ shards: '8' });
  });

  it('runs a StatefulSet: pods scheduled, Running and Ready with bound PVCs; foreground delete collects them', async () => {
    // No dynamic provisioner here: two static PVs of a per-run class satisfy the claim template.
    for (const pv of PV_NAMES) {
      await kube.expectOk('POST', '/api/v1/persistentvolumes', {
        body: {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name: pv },
          spec: {
            storageClassName: STORAGE_CLASS,
            capacity: { storage: '16Mi' },
            accessModes: ['ReadWriteOnce'],
            persistentVolumeReclaimPolicy: 'Retain',
            hostPath: { path: `/tmp/${pv}`, type: 'DirectoryOrCreate' },
          },
        },
      });
    }
    const labels = { 'app.kubernetes.io/name': 'skein-e2e', 'app.kubernetes.io/instance': `web-${RUN}` };
    await kube.expectOk('POST', `/api/v1/namespaces/${NS}/services`, {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { clusterIP: 'None', selector: labels, ports: [{ name: 'http', port: 80 }] } },
    });
    const sts = await kube.expectOk('POST', `/apis/apps/v1/namespaces/${NS}/statefulsets`, {
      body: {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'web', labels },
        spec: {
          serviceName: 'web',
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '10m', memory: '16Mi' } }, volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
            },
          },
          volumeClaimTemplates: [
            { metadata: { name: 'data' }, spec: { storageClassName: STORAGE_CLASS, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '16Mi' } } } },
          ],
        },
      },
    });
    const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
    const listPods = async (): Promise<any[]> => (await kube.expectOk('GET', `/api/v1/namespaces/${NS}/pods`, { query: { labelSelector: selector } })).items;

    // OrderedReady: web-1 is only created once web-0 is Running and Ready, so both Ready proves the chain.
    const pods = await wait(
      'both StatefulSet pods Running and Ready',
      async (why) => {
        const items = await listPods();
        why(items.map((p) => `${p.metadata.name}:${p.status?.phase}@${p.spec.nodeName ?? '-'}`).join(' '));
        const ready = items.filter((p) => p.status?.phase === 'Running' && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
        return ready.length === 2 ? ready : undefined;
      },
      90_000,
    );
    expect(pods.map((p) => p.metadata.name).sort()).toEqual(['web-0', 'web-1']);
    for (const pod of pods) {
      if (env.fakeNodes.length > 0) expect(env.fakeNodes).toContain(pod.spec.nodeName);
      else expect(pod.spec.nodeName).toBeTruthy();
      expect(pod.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'StatefulSet', name: 'web', uid: sts.metadata.uid, controller: true })]);
    }
    const claims = (await kube.expectOk('GET', `/api/v1/namespaces/${NS}/persistentvolumeclaims`)).items;
    expect(claims.map((c: any) => `${c.metadata.name}:${c.status.phase}`).sort()).toEqual(['data-web-0:Bound', 'data-web-1:Bound']);
    const status = await wait('StatefulSet status readyReplicas=2', async () => {
      const s = await kube.expectOk('GET', `/apis/apps/v1/namespaces/${NS}/statefulsets/web`);
      return s.status?.readyReplicas === 2 ? s.status : undefined;
    });
    expect(status.replicas).toBe(2);

    // Foreground: the owner stays (with the foregroundDeletion finalizer) until the GC removed its pods.
    // The DELETE answers with the object as it now is: marked, and held by that finalizer.
    const deleting = await kube.expectOk('DELETE', `/apis/apps/v1/namespaces/${NS}/statefulsets/web`, { body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Foreground' } });
    expect(deleting.metadata.deletionTimestamp).toBeTruthy();
    expect(deleting.metadata.finalizers).toContain('foregroundDeletion');
    await wait(
      'StatefulSet and its pods gone',
      async (why) => {
        const left = await listPods();
        const owner = await kube.request('GET', `/apis/apps/v1/namespaces/${NS}/statefulsets/web`);
        why(`pods=[${left.map((p) => p.metadata.name).join(',')}] statefulset=${owner.status}`);
        return left.length === 0 && owner.status === 404 ? true : undefined;
      },
      90_000,
    );
  });

  it('collects dependents of an owner deleted with background propagation', async () => {
    const owner = await kube.expectOk('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } } });
    await kube.expectOk('POST', `/api/v1/namespaces/${NS}/configmaps`, {
      body: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'dependent', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }] },
      },
    });
    await kube.expectOk('DELETE', `/api/v1/namespaces/${NS}/configmaps/owner`, { body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' } });
    // Background: the owner goes at once, the dependent when the garbage collector gets to it.
    expect((await kube.request('GET', `/api/v1/namespaces/${NS}/configmaps/owner`)).status).toBe(404);
    await wait('dependent ConfigMap collected', async () => ((await kube.request('GET', `/api/v1/namespaces/${NS}/configmaps/dependent`)).status === 404 ? true : undefined));
  });
});

