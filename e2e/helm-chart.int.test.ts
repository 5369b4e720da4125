// The Helm chart (charts/skein), the examples and the Dockerfile, checked without a container engine:
// `helm lint` passes; `helm template` with default and overridden values renders exactly the RBAC,
// Deployment, webhook Service and security settings the operator is meant to run with (least
// privilege, non-root; the MutatingWebhookConfiguration is the operator's to write, not the chart's);
// the rendered objects — CRD included — are accepted by a real kube-apiserver through server-side
// apply, the operator's pods are scheduled (KWOK marks them Running), and SubjectAccessReviews show
// the ServiceAccount can do what the operator needs and nothing more. The examples are accepted by
// the committed CRD and by the operator's validator. helm comes from scripts/ensure-helm.sh (built
// from its Go module and cached outside the repo). Runs against KUBECONFIG when set; names are per
// run and the CRD (cluster-scoped, one name) is removed only if this run created it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { eventually, kubeEnvironmentFromEnv, type KubeClient, type KubeEnvironment } from './k8s/index.js';
import { CRD_FILE_NAME, CRD_NAME, GROUP, PLURAL, VERSION, validateTracingCluster } from '../operator/api/index.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHART = path.join(ROOT, 'charts', 'skein');
const ENSURE_HELM = path.join(ROOT, 'scripts', 'ensure-helm.sh');
const RUN = randomBytes(3).toString('hex');
const NS = `skein-helm-${RUN}`;
const RELEASE = `skein-${RUN}`;
const FIELD_MANAGER = 'skein-e2e';
// What the chart names things for this release (templates/_helpers.tpl).
const FULLNAME = RELEASE; // the release name already contains the chart name
const CLUSTER_NAME = `${RELEASE}-${NS}`; // ClusterRole/Binding carry the namespace too
const SERVICE_ACCOUNT = FULLNAME;
// The sidecar-injection webhook's objects: the operator creates the Secret and the configuration at
// runtime; the chart names them (SKEIN_WEBHOOK_*) and renders only the Service.
const WEBHOOK_SERVICE = `${FULLNAME}-webhook`;
const WEBHOOK_SECRET = `${FULLNAME}-webhook-tls`;
const WEBHOOK_CONFIG = CLUSTER_NAME;

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: any;
}

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

// The operator's permissions, exactly (a change here is a security review).
const CLUSTER_RULES: PolicyRule[] = [
  { apiGroups: ['tracing.skein.dev'], resources: ['tracingclusters'], verbs: ['get', 'list', 'watch', 'update', 'patch'] },
  { apiGroups: ['tracing.skein.dev'], resources: ['tracingclusters/status'], verbs: ['get', 'update', 'patch'] },
  { apiGroups: ['tracing.skein.dev'], resources: ['tracingclusters/finalizers'], verbs: ['update'] },
  { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['services', 'configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
  // The webhook's own configuration: read any, change only its own (create cannot be named).
  { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], verbs: ['get', 'list', 'watch', 'create'] },
  { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [WEBHOOK_CONFIG], verbs: ['update', 'patch'] },
];
const LEASE_RULES: PolicyRule[] = [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }];
// The webhook's certificate Secret, in the release namespace only (reading is cluster-wide above).
const WEBHOOK_TLS_RULES: PolicyRule[] = [
  { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
  { apiGroups: [''], resources: ['secrets'], resourceNames: [WEBHOOK_SECRET], verbs: ['update', 'patch'] },
];
const WEBHOOK_ENV = ['SKEIN_WEBHOOK_PORT', 'SKEIN_WEBHOOK_SECRET', 'SKEIN_WEBHOOK_CONFIG_NAME', 'SKEIN_WEBHOOK_SERVICE', 'SKEIN_WEBHOOK_TIMEOUT_SECONDS'];

let helm: string;
let helmHome: string;

/** Runs helm with its config, cache and data dirs in a temp dir (nothing written to ~, no repos). */
async function runHelm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env, HELM_CACHE_HOME: path.join(helmHome, 'cache'), HELM_CONFIG_HOME: path.join(helmHome, 'config'), HELM_DATA_HOME: path.join(helmHome, 'data') };
  try {
    return await run(helm, args, { cwd: ROOT, env, timeout: 60_000, maxBuffer: 16 << 20 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number };
    throw new Error(`helm ${args.join(' ')} failed (${e.code}):\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: error });
  }
}

/** Parses multi-document YAML; empty documents (a template rendering nothing) are dropped. */
function parseDocuments(text: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`unparsable YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [value as KubeObject];
  });
}

async function render(options: { values?: object; includeCrds?: boolean } = {}): Promise<KubeObject[]> {
  const args = ['template', RELEASE, CHART, '--namespace', NS];
  if (options.includeCrds === true) args.push('--include-crds');
  if (options.values !== undefined) {
    const file = path.join(helmHome, `values-${randomBytes(3).toString('hex')}.yaml`);
    await writeFile(file, JSON.stringify(options.values)); // JSON is YAML
    args.push('--values', file);
  }
  return parseDocuments((await runHelm(args)).stdout);
}

const find = (objects: KubeObject[], kind: string, name?: string): KubeObject => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : ` ${name}`}, rendered: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found[0]!;
};

const envOf = (deployment: KubeObject): Map<string, { value?: string; valueFrom?: unknown }> =>
  new Map(deployment.spec.template.spec.containers[0].env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e]));

/** REST path of an object (the kinds the chart renders, plus the CRD). */
function objectPath(o: KubeObject): string {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const plural: Record<string, string> = {
    CustomResourceDefinition: 'customresourcedefinitions',
    ServiceAccount: 'serviceaccounts',
    ClusterRole: 'clusterroles',
    ClusterRoleBinding: 'clusterrolebindings',
    Role: 'roles',
    RoleBinding: 'rolebindings',
    Deployment: 'deployments',
    Service: 'services',
    PodDisruptionBudget: 'poddisruptionbudgets',
  };
  const resource = plural[o.kind];
  if (resource === undefined) throw new Error(`objectPath: add ${o.kind} to the table`);
  const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  return o.metadata.namespace === undefined ? `${base}/${resource}/${o.metadata.name}` : `${base}/namespaces/${o.metadata.namespace}/${resource}/${o.metadata.name}`;
}

beforeAll(async () => {
  helmHome = await mkdtemp(path.join(tmpdir(), 'skein-helm-'));
  try {
    helm = (await run(ENSURE_HELM, ['--check'], { timeout: 60_000 })).stdout.trim().split('\n').pop()!;
  } catch {
    // Not cached yet: build it (a few minutes, once per machine; CI keeps the cache).
    helm = (await run(ENSURE_HELM, [], { timeout: 20 * 60_000, maxBuffer: 16 << 20 })).stdout.trim().split('\n').pop()!;
  }
}, 21 * 60_000);

afterAll(async () => {
  if (helmHome !== undefined) await rm(helmHome, { recursive: true, force: true });
});

describe('charts/skein rendered by helm', () => {
  it('passes helm lint with no errors or warnings', async () => {
    const { stdout } = await runHelm(['lint', CHART, '--strict', '--namespace', NS]);
    expect(stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(stdout).not.toMatch(/\[(ERROR|WARNING)\]/);
  });

  it('is versioned with the package: appVersion is package.json\'s version', async () => {
    const chart = parseYaml(await readFile(path.join(CHART, 'Chart.yaml'), 'utf8'));
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8'));
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'skein', version: '0.1.0', appVersion: pkg.version });
  });

  it('renders the operator with defaults: least-privilege RBAC, two replicas with a PDB, the webhook Service, non-root', async () => {
    const objects = await render();
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        `ClusterRole/${CLUSTER_NAME}`,
        `ClusterRoleBinding/${CLUSTER_NAME}`,
        `Deployment/${FULLNAME}`,
        `PodDisruptionBudget/${FULLNAME}`,
        `Role/${FULLNAME}-leader-election`,
        `RoleBinding/${FULLNAME}-leader-election`,
        `Role/${FULLNAME}-webhook-tls`,
        `RoleBinding/${FULLNAME}-webhook-tls`,
        `Service/${FULLNAME}-metrics`,
        `Service/${WEBHOOK_SERVICE}`,
        `ServiceAccount/${SERVICE_ACCOUNT}`,
      ].sort(),
    );
    // Helm must never own the webhook configuration: the operator writes its caBundle.
    expect(objects.filter((o) => o.kind === 'MutatingWebhookConfiguration' || o.kind === 'Secret')).toEqual([]);
    for (const o of objects) {
      expect(o.metadata.labels, `${o.kind} labels`).toMatchObject({
        'app.kubernetes.io/name': 'skein',
        'app.kubernetes.io/instance': RELEASE,
        'app.kubernetes.io/version': '0.1.0',
        'app.kubernetes.io/managed-by': 'Helm',
      });
      if (!o.kind.startsWith('Cluster')) expect(o.metadata.namespace, `${o.kind} namespace`).toBe(NS);
    }

    // RBAC: exactly these rules, no wildcards; resourceNames only where they pin the webhook's own objects.
    const clusterRole = find(objects, 'ClusterRole');
    const leaseRole = find(objects, 'Role', `${FULLNAME}-leader-election`);
    const tlsRole = find(objects, 'Role', `${FULLNAME}-webhook-tls`);
    expect(clusterRole.rules).toEqual(CLUSTER_RULES);
    expect(leaseRole.rules).toEqual(LEASE_RULES);
    expect(tlsRole.rules).toEqual(WEBHOOK_TLS_RULES);
    for (const rule of [...clusterRole.rules, ...leaseRole.rules, ...tlsRole.rules] as PolicyRule[]) {
      expect([...rule.verbs, ...rule.resources, ...rule.apiGroups, ...(rule.resourceNames ?? [])]).not.toContain('*');
    }
    expect(find(objects, 'ClusterRoleBinding')).toMatchObject({
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CLUSTER_NAME },
      subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: NS }],
    });
    for (const role of [`${FULLNAME}-leader-election`, `${FULLNAME}-webhook-tls`]) {
      expect(find(objects, 'RoleBinding', role)).toMatchObject({
        roleRef: { kind: 'Role', name: role },
        subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: NS }],
      });
    }

    // Deployment: `skein operator` configured through its flags' SKEIN_* variables.
    const deployment = find(objects, 'Deployment');
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'skein', 'app.kubernetes.io/instance': RELEASE, 'app.kubernetes.io/component': 'operator' });
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(pod).toMatchObject({ serviceAccountName: SERVICE_ACCOUNT, automountServiceAccountToken: true, terminationGracePeriodSeconds: 30 });
    expect(pod.containers).toHaveLength(1);
    expect(container.image).toBe('ghcr.io/skein-dev/skein:0.1.0');
    expect(container.args).toEqual(['operator']);
    const env = envOf(deployment);
    expect([...env.keys()].sort()).toEqual(
      ['SKEIN_MEMBER_ID', 'SKEIN_LEASE_NAMESPACE', 'SKEIN_LEASE_NAME', 'SKEIN_COMPONENT_IMAGE', 'SKEIN_ETCD_IMAGE', 'SKEIN_LOG_LEVEL', 'SKEIN_ADMIN_PORT', 'SKEIN_HOST', ...WEBHOOK_ENV].sort(),
    );
    expect(env.get('SKEIN_MEMBER_ID')).toEqual({ name: 'SKEIN_MEMBER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(env.get('SKEIN_LEASE_NAMESPACE')).toEqual({ name: 'SKEIN_LEASE_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
    expect(env.get('SKEIN_LEASE_NAME')?.value).toBe('skein-operator');
    expect(env.get('SKEIN_COMPONENT_IMAGE')?.value).toBe('ghcr.io/skein-dev/skein:0.1.0');
    expect(env.get('SKEIN_ETCD_IMAGE')?.value).toBe('quay.io/coreos/etcd:v3.6.16');
    expect(env.get('SKEIN_LOG_LEVEL')?.value).toBe('info');
    expect(env.get('SKEIN_ADMIN_PORT')?.value).toBe('9096');
    expect(env.get('SKEIN_HOST')?.value).toBe('0.0.0.0');
    // The webhook: every replica serves it; the names are those of the objects the operator writes.
    expect(env.get('SKEIN_WEBHOOK_PORT')?.value).toBe('9443');
    expect(env.get('SKEIN_WEBHOOK_SECRET')?.value).toBe(WEBHOOK_SECRET);
    expect(env.get('SKEIN_WEBHOOK_CONFIG_NAME')?.value).toBe(WEBHOOK_CONFIG);
    expect(env.get('SKEIN_WEBHOOK_SERVICE')?.value).toBe(WEBHOOK_SERVICE);
    expect(env.get('SKEIN_WEBHOOK_TIMEOUT_SECONDS')?.value).toBe('5');
    expect(container.ports).toEqual([
      { name: 'http-admin', containerPort: 9096, protocol: 'TCP' },
      { name: 'https-webhook', containerPort: 9443, protocol: 'TCP' },
    ]);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http-admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http-admin' });

    // Non-root, read-only, no privilege escalation, no capabilities.
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits.memory).toEqual(expect.any(String));

    // Metrics and webhook Services and the PDB select the operator's pods (every replica, leader or not).
    const service = find(objects, 'Service', `${FULLNAME}-metrics`);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports).toEqual([{ name: 'http-admin', port: 9096, targetPort: 'http-admin', protocol: 'TCP' }]);
    const webhook = find(objects, 'Service', WEBHOOK_SERVICE);
    expect(webhook.spec).toEqual({ type: 'ClusterIP', selector: deployment.spec.selector.matchLabels, ports: [{ name: 'https-webhook', port: 443, targetPort: 'https-webhook', protocol: 'TCP' }] });
    const pdb = find(objects, 'PodDisruptionBudget');
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: deployment.spec.selector.matchLabels } });
  });

  it('renders overrides: watched namespaces, one replica without a PDB, image, ServiceMonitor', async () => {
    const objects = await render({
      values: {
        operator: { replicas: 1 },
        watchNamespaces: ['team-a', 'team-b'],
        image: { repository: 'registry.example/skein', tag: 'dev', pullPolicy: 'Never' },
        leaderElection: { leaseName: 'my-lease' },
        logLevel: 'debug',
        serviceMonitor: { enabled: true },
        serviceAccount: { name: 'skein-op' },
      },
    });
    expect(objects.filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
    const deployment = find(objects, 'Deployment');
    const container = deployment.spec.template.spec.containers[0];
    expect(deployment.spec.replicas).toBe(1);
    expect(container).toMatchObject({ image: 'registry.example/skein:dev', imagePullPolicy: 'Never' });
    const env = envOf(deployment);
    expect(env.get('SKEIN_WATCH_NAMESPACE')?.value).toBe('team-a,team-b');
    expect(env.get('SKEIN_COMPONENT_IMAGE')?.value).toBe('registry.example/skein:dev');
    expect(env.get('SKEIN_LEASE_NAME')?.value).toBe('my-lease');
    expect(env.get('SKEIN_LOG_LEVEL')?.value).toBe('debug');
    expect(deployment.spec.template.spec.serviceAccountName).toBe('skein-op');
    expect(find(objects, 'ServiceAccount').metadata.name).toBe('skein-op');
    expect(find(objects, 'ClusterRoleBinding').subjects).toEqual([{ kind: 'ServiceAccount', name: 'skein-op', namespace: NS }]);
    expect(find(objects, 'ServiceMonitor').spec.endpoints).toEqual([{ port: 'http-admin', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);
    // A PDB of maxUnavailable 1 over one replica would protect nothing; explicit componentImage wins.
    const pinned = await render({ values: { componentImage: 'skein:1.2.3' } });
    expect(envOf(find(pinned, 'Deployment')).get('SKEIN_COMPONENT_IMAGE')?.value).toBe('skein:1.2.3');
  });

  it('renders the webhook settings, and nothing of the webhook when it is disabled', async () => {
    const tuned = await render({ values: { webhook: { port: 10443, timeoutSeconds: 10 } } });
    const deployment = find(tuned, 'Deployment');
    const env = envOf(deployment);
    expect(env.get('SKEIN_WEBHOOK_PORT')?.value).toBe('10443');
    expect(env.get('SKEIN_WEBHOOK_TIMEOUT_SECONDS')?.value).toBe('10');
    expect(deployment.spec.template.spec.containers[0].ports).toContainEqual({ name: 'https-webhook', containerPort: 10443, protocol: 'TCP' });
    // The Service keeps 443 (what the operator writes into the configuration) and follows the named port.
    expect(find(tuned, 'Service', WEBHOOK_SERVICE).spec.ports).toEqual([{ name: 'https-webhook', port: 443, targetPort: 'https-webhook', protocol: 'TCP' }]);

    const off = await render({ values: { webhook: { enabled: false } } });
    expect(off.filter((o) => o.metadata.name === WEBHOOK_SERVICE || o.metadata.name === `${FULLNAME}-webhook-tls`)).toEqual([]);
    const offEnv = envOf(find(off, 'Deployment'));
    // Port 0: the operator serves no webhook and writes no configuration; the other names are moot.
    expect(offEnv.get('SKEIN_WEBHOOK_PORT')?.value).toBe('0');
    expect(WEBHOOK_ENV.filter((name) => name !== 'SKEIN_WEBHOOK_PORT' && offEnv.has(name))).toEqual([]);
    expect(find(off, 'Deployment').spec.template.spec.containers[0].ports).toEqual([{ name: 'http-admin', containerPort: 9096, protocol: 'TCP' }]);
    expect(find(off, 'ClusterRole').rules).toEqual(CLUSTER_RULES.filter((r) => !r.apiGroups.includes('admissionregistration.k8s.io')));
    expect(find(off, 'Role').rules).toEqual(LEASE_RULES);

    // Values the apiserver or the pod would refuse fail at render time, naming the value.
    await expect(render({ values: { webhook: { timeoutSeconds: 31 } } })).rejects.toThrow(/webhook\.timeoutSeconds must be in 1\.\.30/);
    await expect(render({ values: { webhook: { port: 9096 } } })).rejects.toThrow(/webhook\.port must be/);
  });

  it('switches the webhook certificate to cert-manager when asked, and renders nothing of cert-manager by default', async () => {
    expect((await render()).filter((o) => o.apiVersion.startsWith('cert-manager.io/'))).toEqual([]);
    expect(envOf(find(await render(), 'Deployment')).has('SKEIN_WEBHOOK_CERTIFICATE')).toBe(false);

    const cm = await render({ values: { webhook: { certManager: { enabled: true } } } });
    const env = envOf(find(cm, 'Deployment'));
    const serving = find(cm, 'Certificate', WEBHOOK_SERVICE);
    // The operator reads the Secret this Certificate writes and names it in inject-ca-from.
    expect(env.get('SKEIN_WEBHOOK_CERTIFICATE')?.value).toBe(WEBHOOK_SERVICE);
    expect(serving.spec.secretName).toBe(env.get('SKEIN_WEBHOOK_SECRET')?.value);
    expect(serving.spec.dnsNames).toEqual([`${WEBHOOK_SERVICE}.${NS}.svc`, `${WEBHOOK_SERVICE}.${NS}.svc.cluster.local`]);
    // Its own CA: self-signed Issuer → CA Certificate → CA Issuer → serving Certificate.
    const caIssuer = find(cm, 'Issuer', `${FULLNAME}-webhook-ca`);
    expect(serving.spec.issuerRef).toEqual({ kind: 'Issuer', name: caIssuer.metadata.name });
    expect(find(cm, 'Certificate', `${FULLNAME}-webhook-ca`).spec).toMatchObject({ isCA: true, secretName: caIssuer.spec.ca.secretName });

    const external = await render({ values: { webhook: { certManager: { enabled: true, issuerRef: { kind: 'ClusterIssuer', name: 'corp-ca' } } } } });
    expect(external.filter((o) => o.kind === 'Issuer')).toEqual([]);
    expect(find(external, 'Certificate').spec.issuerRef).toEqual({ kind: 'ClusterIssuer', name: 'corp-ca' });
  });
});

describe('examples and the image', () => {
  it.each(['minimal', 'production'])('examples/%s.yaml passes the operator\'s validator', async (name) => {
    const object = parseYaml(await readFile(path.join(ROOT, 'examples', `${name}.yaml`), 'utf8'));
    const result = validateTracingCluster(object);
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });

  it('examples/production.yaml is the production shape', async () => {
    const result = validateTracingCluster(parseYaml(await readFile(path.join(ROOT, 'examples', 'production.yaml'), 'utf8')));
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.value.spec).toMatchObject({
      shards: 12,
      ingester: { replicas: 3, resources: { requests: { cpu: '2', memory: '4Gi' } }, wal: { size: '50Gi', storageClassName: 'fast' } },
      querier: { replicas: 2 },
      storage: { s3: { bucket: 'skein-traces', secretRef: { name: 'skein-s3' } } },
      etcd: { managed: { replicas: 3 } },
      retention: { traces: '168h' },
      sampling: { keepErrors: true, keepSlowerThan: '2s', keepPercent: 20 },
    });
    expect(result.value.spec.storage.filesystem).toBeUndefined();
  });

  it('the Dockerfile\'s final stage is node:24, runs as `node` and copies only the build output', async () => {
    const lines = (await readFile(path.join(ROOT, 'Dockerfile'), 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const stages = lines.reduce<string[][]>((acc, line) => (/^FROM\s/i.test(line) ? [...acc, [line]] : (acc.at(-1)!.push(line), acc)), []);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage[0]).toMatch(/^FROM node:24(-[a-z0-9.-]+)?(\s|$)/);
    const final = stages.at(-1)!;
    expect(final.filter((l) => /^USER\s/i.test(l)).at(-1)).toBe('USER node');
    const copies = final.filter((l) => /^COPY\s/i.test(l));
    expect(copies.map((l) => l.split(/\s+/).at(-2))).toEqual(expect.arrayContaining(['/src/package.json', '/src/node_modules', '/src/dist']));
    expect(copies).toHaveLength(3);
    for (const copy of copies) expect(copy).toMatch(/^COPY --from=build /);
    const ignore = (await readFile(path.join(ROOT, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim());
    expect(ignore).toEqual(expect.arrayContaining(['node_modules', 'dist', 'data', '.git']));
  });
});

describe('charts/skein on a real apiserver', () => {
  let env: KubeEnvironment;
  let kube: KubeClient;
  let createdCrd = false;
  let rendered: KubeObject[] = [];
  const applied: { object: KubeObject; status: number }[] = [];
  const wait = <T>(what: string, check: (why: (reason: string) => void) => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => eventually(what, check, { timeoutMs, env });

  beforeAll(async () => {
    env = await kubeEnvironmentFromEnv({ nodes: 1 });
    kube = env.client;
    createdCrd = (await kube.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`)).status === 404;
    await kube.expectOk('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
    rendered = await render({ includeCrds: true });
    // As helm install does: crds/ first, then the templates. Results are asserted in the first test.
    const crds = rendered.filter((o) => o.kind === 'CustomResourceDefinition');
    for (const o of [...crds, ...rendered.filter((x) => x.kind !== 'CustomResourceDefinition')]) {
      applied.push({ object: o, status: (await kube.apply(objectPath(o), o, { fieldManager: FIELD_MANAGER, force: true })).status });
    }
    await wait(`CRD ${CRD_NAME} Established`, async (why) => {
      const got = await kube.expectOk('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`);
      why(JSON.stringify(got.status?.conditions));
      return got.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True') === true ? true : undefined;
    });
  }, 180_000);

  afterAll(async () => {
    if (kube !== undefined) {
      const gone = (p: string): Promise<unknown> => kube.request('DELETE', p).catch(() => undefined);
      const clusterScoped = rendered.filter((o) => o.metadata.namespace === undefined && o.kind !== 'CustomResourceDefinition');
      await Promise.all([...clusterScoped.map((o) => gone(objectPath(o))), gone(`/api/v1/namespaces/${NS}`)]);
      if (createdCrd) await gone(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`);
    }
    await env?.stop();
  }, 120_000);

  it('accepts every rendered object (CRD first) and schedules the operator\'s pods', async () => {
    // helm template --include-crds passes the committed, generated CRD through unchanged.
    const committed = JSON.parse(await readFile(path.join(CHART, 'crds', CRD_FILE_NAME), 'utf8'));
    expect(rendered.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([committed]);
    expect(applied).toHaveLength(rendered.length);
    expect(applied.filter((a) => a.status !== 200 && a.status !== 201).map((a) => `${a.object.kind}/${a.object.metadata.name} → ${a.status}`)).toEqual([]);
    for (const o of rendered) {
      const got = await kube.expectOk('GET', objectPath(o));
      expect(got.metadata.managedFields.map((f: { manager: string }) => f.manager), `${o.kind}/${o.metadata.name}`).toContain(FIELD_MANAGER);
    }

    const deployment = find(rendered, 'Deployment');
    const selector = Object.entries(deployment.spec.selector.matchLabels as Record<string, string>)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    // On KWOK nodes a bound pod goes Running and Ready at once; elsewhere (KUBECONFIG) the image may
    // not exist, so being scheduled is what the chart can promise.
    const pods = await wait('both operator pods scheduled' + (env.owned ? ' and Running' : ''), async (why) => {
      const list = await kube.expectOk('GET', `/api/v1/namespaces/${NS}/pods`, { query: { labelSelector: selector } });
      const items: any[] = list.items;
      why(JSON.stringify(items.map((p) => ({ name: p.metadata.name, node: p.spec.nodeName, phase: p.status?.phase, conditions: p.status?.conditions }))));
      const ok = items.filter((p) => p.spec.nodeName !== undefined && (!env.owned || p.status?.phase === 'Running'));
      return items.length === 2 && ok.length === 2 ? items : undefined;
    }, 90_000);
    for (const pod of pods) {
      expect(pod.spec.serviceAccountName).toBe(SERVICE_ACCOUNT);
      // The API server put the SA token in (automountServiceAccountToken: true).
      expect(pod.spec.volumes.some((v: { projected?: unknown }) => v.projected !== undefined)).toBe(true);
      if (env.owned) expect(env.fakeNodes).toContain(pod.spec.nodeName);
    }
    if (env.owned) {
      await wait('the Deployment to report 2 available replicas', async (why) => {
        const got = await kube.expectOk('GET', objectPath(deployment));
        why(JSON.stringify(got.status));
        return got.status?.availableReplicas === 2 ? true : undefined;
      });
    }
    // The PDB is live and counts the pods.
    await wait('the PDB to observe the pods', async (why) => {
      const got = await kube.expectOk('GET', objectPath(find(rendered, 'PodDisruptionBudget')));
      why(JSON.stringify(got.status));
      return got.status?.expectedPods === 2 ? true : undefined;
    });
  });

  it('gives the ServiceAccount what the operator needs and nothing more (SubjectAccessReview)', async () => {
    interface Access {
      verb: string;
      resource: string;
      group?: string;
      subresource?: string;
      namespace?: string;
      name?: string;
    }
    const can = async (attrs: Access): Promise<boolean> => {
      const review = await kube.expectOk('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: `system:serviceaccount:${NS}:${SERVICE_ACCOUNT}`,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'],
            resourceAttributes: { group: attrs.group ?? '', resource: attrs.resource, verb: attrs.verb, ...(attrs.subresource === undefined ? {} : { subresource: attrs.subresource }), ...(attrs.namespace === undefined ? {} : { namespace: attrs.namespace }), ...(attrs.name === undefined ? {} : { name: attrs.name }) },
          },
        },
      });
      return review.status.allowed === true;
    };
    const elsewhere = 'some-team';
    const allowed: Access[] = [
      { verb: 'watch', group: GROUP, resource: PLURAL, namespace: elsewhere },
      { verb: 'patch', group: GROUP, resource: PLURAL, subresource: 'status', namespace: elsewhere },
      { verb: 'update', group: GROUP, resource: PLURAL, subresource: 'finalizers', namespace: elsewhere },
      { verb: 'create', group: 'apps', resource: 'statefulsets', namespace: elsewhere },
      { verb: 'delete', group: 'policy', resource: 'poddisruptionbudgets', namespace: elsewhere },
      { verb: 'patch', resource: 'persistentvolumeclaims', namespace: elsewhere },
      { verb: 'list', resource: 'secrets', namespace: elsewhere },
      { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: elsewhere },
      { verb: 'get', resource: 'namespaces' },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS },
      // The webhook: its configuration (cluster-scoped) and its certificate Secret.
      { verb: 'create', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' },
      { verb: 'patch', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', name: WEBHOOK_CONFIG },
      { verb: 'update', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', name: WEBHOOK_CONFIG },
      { verb: 'watch', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' },
      { verb: 'create', resource: 'secrets', namespace: NS },
      { verb: 'update', resource: 'secrets', namespace: NS, name: WEBHOOK_SECRET },
      { verb: 'patch', resource: 'secrets', namespace: NS, name: WEBHOOK_SECRET },
      { verb: 'get', resource: 'pods', namespace: elsewhere },
      { verb: 'create', resource: 'events', namespace: elsewhere },
    ];
    const denied: Access[] = [
      { verb: 'create', group: GROUP, resource: PLURAL, namespace: elsewhere },
      { verb: 'delete', group: GROUP, resource: PLURAL, namespace: elsewhere },
      { verb: 'delete', resource: 'persistentvolumeclaims', namespace: elsewhere },
      { verb: 'create', resource: 'pods', namespace: elsewhere },
      { verb: 'delete', resource: 'pods', namespace: elsewhere },
      { verb: 'create', resource: 'secrets', namespace: elsewhere },
      { verb: 'update', resource: 'secrets', namespace: elsewhere },
      { verb: 'patch', resource: 'secrets', namespace: elsewhere, name: WEBHOOK_SECRET },
      { verb: 'patch', resource: 'secrets', namespace: NS, name: 'someone-elses' },
      { verb: 'delete', resource: 'secrets', namespace: NS, name: WEBHOOK_SECRET },
      { verb: 'delete', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', name: WEBHOOK_CONFIG },
      { verb: 'patch', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', name: 'someone-elses' },
      { verb: 'patch', group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', name: WEBHOOK_CONFIG },
      { verb: 'create', group: 'apps', resource: 'deployments', namespace: elsewhere },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: elsewhere },
      { verb: 'delete', group: 'coordination.k8s.io', resource: 'leases', namespace: NS },
      { verb: 'delete', resource: 'namespaces' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
      { verb: 'update', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
    ];
    const verdicts = async (list: Access[]): Promise<string[]> =>
      Promise.all(list.map(async (a) => `${(await can(a)) ? 'allowed' : 'denied'}: ${a.verb} ${a.group ?? 'core'}/${a.resource}${a.subresource === undefined ? '' : `/${a.subresource}`}${a.name === undefined ? '' : ` ${a.name}`} in ${a.namespace ?? '(cluster)'}`));
    expect((await verdicts(allowed)).filter((v) => !v.startsWith('allowed'))).toEqual([]);
    expect((await verdicts(denied)).filter((v) => !v.startsWith('denied'))).toEqual([]);
  });

  it.each(['minimal', 'production'])('accepts examples/%s.yaml with the committed CRD (server-side apply, dry run)', async (name) => {
    const object = parseYaml(await readFile(path.join(ROOT, 'examples', `${name}.yaml`), 'utf8'));
    const validated = validateTracingCluster(object);
    if (!validated.ok) throw new Error(JSON.stringify(validated.issues));
    const collection = `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`;
    await wait('the TracingCluster collection to be served', async (why) => {
      const res = await kube.request('GET', collection);
      why(`${res.status}`);
      return res.status === 200 ? true : undefined;
    });
    const res = await kube.request('PATCH', `${collection}/${object.metadata.name}`, {
      body: object,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: FIELD_MANAGER, force: 'true', dryRun: 'All' },
    });
    expect(res.status, JSON.stringify(res.body)).toBeOneOf([200, 201]);
    // The apiserver's defaults equal the validator's.
    expect(res.body.spec).toEqual(validated.value.spec);
    // A dry run stores nothing.
    expect((await kube.request('GET', `${collection}/${object.metadata.name}`)).status).toBe(404);
  });
});
