// The generated TracingCluster CRD on a real apiserver: the committed crds/ file is accepted as a
// structural schema and becomes Established; the apiserver fills the same defaults as the runtime
// validator and rejects the same invalid specs (the shared table in operator/api/testing) with 422
// and a readable message at the same field; update rules, the scale subresource on spec.shards, the
// status subresource and the printer columns work. Runs against KUBECONFIG when set; the namespace
// is per run, and the CRD (cluster-scoped, one name) is removed only if this run created it.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, kubeEnvironmentFromEnv, type KubeClient, type KubeEnvironment } from './k8s/index.js';
import { API_VERSION, CRD_FILE_NAME, CRD_NAME, GROUP, KIND, PLURAL, VERSION, validateTracingCluster, validateTracingClusterSpec, type TracingClusterSpec } from '../operator/api/index.js';
import { INVALID_SPECS, INVALID_UPDATES, VALID_SPECS } from '../operator/api/testing/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUN = randomBytes(3).toString('hex');
const NS = `skein-api-${RUN}`;
const FIELD_MANAGER = 'skein-e2e';
const COLLECTION = `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`;

let env: KubeEnvironment;
let kube: KubeClient;
let createdCrd = false;

const wait = <T>(what: string, check: (why: (reason: string) => void) => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => eventually(what, check, { timeoutMs, env });
const tc = (name: string, spec: unknown): object => ({ apiVersion: API_VERSION, kind: KIND, metadata: { name }, ...(spec === undefined ? {} : { spec }) });
const defaulted = (spec: unknown): TracingClusterSpec => {
  const r = validateTracingClusterSpec(spec);
  if (!r.ok) throw new Error(`validator rejects ${JSON.stringify(spec)}: ${JSON.stringify(r.issues)}`);
  return r.value;
};

interface StatusCause {
  reason: string;
  message: string;
  field: string;
}

/** GET as a meta.k8s.io Table (what `kubectl get` prints); the harness client only speaks plain JSON. */
function getTable(apiPath: string): Promise<{ columnDefinitions: { name: string; type: string; priority: number }[]; rows: { cells: unknown[] }[] }> {
  const { server, caPem, certPem, keyPem, token, insecureSkipTlsVerify } = env.access;
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(server + apiPath),
      {
        method: 'GET',
        ca: caPem,
        cert: certPem,
        key: keyPem,
        rejectUnauthorized: insecureSkipTlsVerify !== true,
        headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
        signal: AbortSignal.timeout(15_000),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`GET ${apiPath} as Table → ${res.statusCode}: ${text}`));
          else resolve(JSON.parse(text));
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  env = await kubeEnvironmentFromEnv({ nodes: 1 });
  kube = env.client;
  createdCrd = (await kube.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`)).status === 404;
  // The committed file, as a user would apply it (make gen-check keeps it equal to buildCrd()).
  const crd = JSON.parse(await readFile(path.join(ROOT, 'crds', CRD_FILE_NAME), 'utf8'));
  const applied = await kube.apply(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`, crd, { fieldManager: FIELD_MANAGER, force: true });
  if (applied.status !== 200 && applied.status !== 201) throw new Error(`applying the CRD → ${applied.status}: ${JSON.stringify(applied.body)}`);
  await kube.expectOk('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
  await wait(`CRD ${CRD_NAME} Established`, async (why) => {
    const got = await kube.expectOk('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`);
    const conditions: { type: string; status: string }[] = got.status?.conditions ?? [];
    why(JSON.stringify(conditions));
    return conditions.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  });
  // Established can precede the handler being reachable by a moment; retry only a 404.
  await wait('the TracingCluster collection to be served', async (why) => {
    const res = await kube.request('GET', COLLECTION);
    why(`${res.status}`);
    return res.status === 200 ? true : undefined;
  });
}, 180_000);

afterAll(async () => {
  if (kube !== undefined) {
    const gone = (p: string): Promise<unknown> => kube.request('DELETE', p).catch(() => undefined);
    await gone(`/api/v1/namespaces/${NS}`);
    if (createdCrd) await gone(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`);
  }
  await env?.stop();
}, 120_000);

describe('TracingCluster CRD on a real apiserver', () => {
  it('is accepted as structural, with names, short name, categories and both subresources in discovery', async () => {
    const crd = await kube.expectOk('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`);
    const conditions: { type: string; status: string; message: string }[] = crd.status.conditions;
    expect(conditions.find((c) => c.type === 'NamesAccepted')?.status).toBe('True');
    expect(conditions.filter((c) => c.type === 'NonStructuralSchema' || c.type === 'KubernetesAPIApprovalPolicyConformant')).toEqual([]);
    expect(crd.status.acceptedNames).toMatchObject({ kind: KIND, shortNames: ['tc'], categories: ['skein'] });

    const discovery = await kube.expectOk('GET', `/apis/${GROUP}/${VERSION}`);
    const byName = new Map<string, { shortNames?: string[]; categories?: string[]; namespaced: boolean }>(discovery.resources.map((r: { name: string }) => [r.name, r]));
    expect(byName.get(PLURAL)).toMatchObject({ namespaced: true, shortNames: ['tc'], categories: ['skein'] });
    expect(byName.has(`${PLURAL}/status`)).toBe(true);
    expect(byName.has(`${PLURAL}/scale`)).toBe(true);
  });

  it.each(VALID_SPECS.map((c, i) => ({ ...c, i })))('accepts $title and fills the same defaults as the validator', async ({ spec, i }) => {
    const name = `valid-${i}`;
    const res = await kube.request('POST', COLLECTION, { body: tc(name, spec) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const stored = await kube.expectOk('GET', `${COLLECTION}/${name}`);
    expect(stored.spec).toEqual(defaulted(spec));
    expect(validateTracingCluster(stored).ok).toBe(true);
  });

  it('defaults a TracingCluster created without a spec', async () => {
    const res = await kube.request('POST', COLLECTION, { body: tc('no-spec', undefined) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.spec).toEqual(defaulted({}));
  });

  it.each(INVALID_SPECS.map((c, i) => ({ ...c, i })))('rejects $title: 422 at $field', async ({ spec, name, field, apiserver, i }) => {
    const res = await kube.request('POST', COLLECTION, { body: tc(name ?? `invalid-${i}`, spec) });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.reason).toBe('Invalid');
    const causes: StatusCause[] = res.body.details?.causes ?? [];
    // The readable part: the message kubectl prints names the field and says what is wrong.
    expect(res.body.message).toMatch(apiserver);
    if (field !== '') expect(res.body.message).toContain(field);
    expect(causes.filter((c) => (field === '' || c.field === field) && apiserver.test(c.message)), JSON.stringify(causes)).not.toEqual([]);
    // And the validator reports the same field.
    const mine = validateTracingClusterSpec(spec);
    if (name === undefined) expect(mine.ok ? [] : mine.issues.map((x) => x.path)).toContain(field);
  });

  it.each(INVALID_UPDATES.map((c, i) => ({ ...c, i })))('refuses the update $title with 422', async ({ from, to, field, message, i }) => {
    const name = `update-${i}`;
    const created = await kube.expectOk('POST', COLLECTION, { body: tc(name, from) });
    const res = await kube.request('PUT', `${COLLECTION}/${name}`, { body: { ...created, spec: to } });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.message).toMatch(message);
    expect((res.body.details.causes as StatusCause[]).map((c) => c.field)).toContain(field);
    // An update within the rules goes through (shards down, retention, a new WAL size).
    const ok = await kube.request('PUT', `${COLLECTION}/${name}`, { body: { ...created, spec: { ...created.spec, shards: 2, retention: { traces: '24h' } } } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it('scales spec.shards through the scale subresource, within the schema bounds', async () => {
    const name = 'scaled';
    await kube.expectOk('POST', COLLECTION, { body: tc(name, { shards: 4 }) });
    const scale = await kube.expectOk('GET', `${COLLECTION}/${name}/scale`);
    expect(scale).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 4 }, status: { replicas: 0 } });

    const put = await kube.expectOk('PUT', `${COLLECTION}/${name}/scale`, { body: { ...scale, spec: { replicas: 12 } } });
    expect(put.spec.replicas).toBe(12);
    expect((await kube.expectOk('GET', `${COLLECTION}/${name}`)).spec.shards).toBe(12);
    // kubectl scale sends a merge patch; past the bound the CRD's schema answers.
    const patched = await kube.request('PATCH', `${COLLECTION}/${name}/scale`, { body: { spec: { replicas: 8 } }, contentType: 'application/merge-patch+json' });
    expect(patched.status).toBe(200);
    expect((await kube.expectOk('GET', `${COLLECTION}/${name}`)).spec.shards).toBe(8);
    const tooMany = await kube.request('PATCH', `${COLLECTION}/${name}/scale`, { body: { spec: { replicas: 5000 } }, contentType: 'application/merge-patch+json' });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.message).toMatch(/spec\.shards.*less than or equal to 4096/);
  });

  it('writes status only through the status subresource, validated; scale and printer columns read it', async () => {
    const name = 'with-status';
    const created = await kube.expectOk('POST', COLLECTION, { body: tc(name, { shards: 6 }) });
    const status = {
      observedGeneration: created.metadata.generation,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'AllReady', message: 'all components ready', lastTransitionTime: '2026-01-02T03:04:05Z', observedGeneration: created.metadata.generation },
        { type: 'Progressing', status: 'False', reason: 'UpToDate', message: '', lastTransitionTime: '2026-01-02T03:04:05Z' },
      ],
      shards: { desired: 6, owned: 5, mapVersion: 3 },
      ingesters: { replicas: 3, ready: 3 },
      queriers: { replicas: 2, ready: 1 },
    };
    // The main resource ignores status...
    const main = await kube.expectOk('PUT', `${COLLECTION}/${name}`, { body: { ...created, status } });
    expect(main.status).toBeUndefined();
    // ...the subresource ignores spec and does not bump the generation.
    const written = await kube.expectOk('PUT', `${COLLECTION}/${name}/status`, { body: { ...main, spec: { ...main.spec, shards: 99 }, status } });
    expect(written.status).toEqual(status);
    expect(written.spec.shards).toBe(6);
    expect(written.metadata.generation).toBe(created.metadata.generation);
    expect(validateTracingCluster(written).ok).toBe(true);

    const bad = await kube.request('PUT', `${COLLECTION}/${name}/status`, { body: { ...written, status: { ...status, conditions: [{ ...status.conditions[0], status: 'Yes' }] } } });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toMatch(/status\.conditions\[0\]\.status: Unsupported value: "Yes"/);
    const duplicate = await kube.request('PUT', `${COLLECTION}/${name}/status`, { body: { ...written, status: { ...status, conditions: [status.conditions[0], status.conditions[0]] } } });
    expect(duplicate.status).toBe(422);
    expect(duplicate.body.message).toMatch(/Duplicate value/);

    expect((await kube.expectOk('GET', `${COLLECTION}/${name}/scale`)).status.replicas).toBe(5);

    const table = await getTable(`${COLLECTION}/${name}`);
    const columns = table.columnDefinitions.map((c) => `${c.name}${c.priority > 0 ? '*' : ''}`);
    expect(columns).toEqual(['Name', 'Shards', 'Owned', 'Ingesters', 'Queriers', 'Ready', 'Reason*', 'Map*', 'Age']);
    const [cells] = table.rows.map((r) => r.cells);
    expect(cells!.slice(0, 8)).toEqual([name, 6, 5, 3, 1, 'True', 'AllReady', 3]);
    expect(cells![8]).toMatch(/^\d+s$/);
  });
});
