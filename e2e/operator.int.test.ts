// The operator against a real kube-apiserver (controller-manager for garbage collection and the
// StatefulSet controller, scheduler, KWOK marking pods Running), hybrid: the ingester pods KWOK
// fakes are backed by real `skein ingester` processes started from exactly the command and env the
// builders rendered (ConfigMap envFrom + container env, $(VAR) expanded), against an etcd on
// 127.0.0.1 named as the cluster's external etcd. Runs against KUBECONFIG when set, in a per-run
// namespace.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdCoordinator, createKeyspace, decodeValue, PartitionValue, PolicyValue, type Coordinator } from '../common/coord/index.js';
import { freePort, startChild, startEtcd, type EtcdServer, type StartedChild } from '../common/proc/index.js';
import { API_VERSION, CRD_FILE_NAME, CRD_NAME, GROUP, KIND, PLURAL, VERSION } from '../operator/api/index.js';
import { eventually, kubeEnvironmentFromEnv, type KubeClient, type KubeEnvironment } from './k8s/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SKEIN = path.join(ROOT, 'dist', 'cli', 'skein.js');
const RUN = randomBytes(3).toString('hex');
const NS = `skein-op-${RUN}`;
const TC_PATH = (name: string) => `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}/${name}`;
const STS_PATH = (name: string) => `/apis/apps/v1/namespaces/${NS}/statefulsets/${name}`;
/** Short Lease durations so a takeover is quick; the operator's defaults are the chart's. */
const OPERATOR_LEASE_SECONDS = 4;

let env: KubeEnvironment;
let kube: KubeClient;
let etcd: EtcdServer;
let coord: Coordinator;
let createdCrd = false;
const operators = new Map<string, StartedChild>();
const ingesters = new Map<string, { proc: StartedChild; dataDir: string; env: NodeJS.ProcessEnv }>();

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}
interface Tc {
  metadata: { name: string; uid: string; generation: number; finalizers?: string[] };
  spec: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: Condition[]; shards?: { desired?: number; owned?: number; mapVersion?: number }; ingesters?: { replicas?: number; ready?: number }; queriers?: { replicas?: number; ready?: number }; endpoints?: Record<string, string> };
}

const wait = <T>(what: string, check: (why: (reason: string) => void) => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> =>
  eventually(what, check, { timeoutMs, env, failFast: () => [...operators.entries()].find(([, p]) => p.child.exitCode !== null && !stoppedOperators.has(p))?.[0] });
const stoppedOperators = new Set<StartedChild>();

const operatorLogs = (): string => [...operators.entries()].map(([id, p]) => `--- operator ${id}\n${p.logs.slice(-30).join('\n')}`).join('\n');

async function getTc(name: string): Promise<Tc | undefined> {
  const res = await kube.request<Tc>('GET', TC_PATH(name));
  return res.status === 200 ? res.body : undefined;
}

function condition(tc: Tc | undefined, type: string): Condition | undefined {
  return tc?.status?.conditions?.find((c) => c.type === type);
}

async function waitCondition(name: string, type: string, status: string, reason?: string, timeoutMs = 60_000, message?: RegExp): Promise<Tc> {
  try {
    return await wait(
      `${name}: ${type}=${status}${reason === undefined ? '' : ` (${reason})`}`,
      async (why) => {
        const tc = await getTc(name);
        const c = condition(tc, type);
        why(JSON.stringify({ conditions: tc?.status?.conditions?.map((x) => `${x.type}=${x.status} ${x.reason}: ${x.message}`), shards: tc?.status?.shards }));
        const matches = c?.status === status && (reason === undefined || c.reason === reason) && (message === undefined || message.test(c.message));
        return matches && tc?.status?.observedGeneration === tc?.metadata.generation ? tc : undefined;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${operatorLogs()}`);
  }
}

async function startOperator(id: string): Promise<StartedChild> {
  const proc = await startChild({
    args: [
      SKEIN,
      'operator',
      '--kubeconfig',
      env.kubeconfigPath,
      '--watch-namespace',
      NS,
      '--lease-namespace',
      NS,
      '--member-id',
      id,
      '--host',
      '127.0.0.1',
      '--admin-port',
      '0',
      '--lease-ttl-seconds',
      String(OPERATOR_LEASE_SECONDS),
      '--component-image',
      'skein:e2e',
      // Injection has its own suite (e2e/injection.int.test.ts); several operators share this host.
      '--webhook-port',
      '0',
    ],
    readyMessage: 'skein ready',
    timeoutMs: 30_000,
  });
  operators.set(id, proc);
  return proc;
}

async function readyz(proc: StartedChild): Promise<string> {
  const res = await fetch(`http://${proc.ready['admin']}/readyz`, { signal: AbortSignal.timeout(2000) });
  return (await res.text()).trim();
}

async function readKey<T>(key: string, schema: typeof PartitionValue | typeof PolicyValue): Promise<T | undefined> {
  const { kv } = await coord.get(key);
  if (kv === undefined) return undefined;
  const d = decodeValue(schema as never, kv.value);
  return d.ok ? (d.value as T) : undefined;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

/**
 * The environment kubelet would give the ingester container of pod `podName`: the ConfigMap's keys
 * (envFrom), then the container's env in order with $(VAR) expanded from what is defined so far.
 * Then what differs on one machine: loopback addresses, free ports, a private data dir.
 */
/** Per TracingCluster, the directory its ingesters share as block storage (the ReadWriteMany claim in a real cluster). */
const blockDirs = new Map<string, string>();
async function blocksDirOf(cluster: string): Promise<string> {
  let dir = blockDirs.get(cluster);
  if (dir === undefined) {
    dir = await mkdtemp(path.join(os.tmpdir(), `skein-op-blocks-${cluster}-`));
    blockDirs.set(cluster, dir);
  }
  return dir;
}

async function renderedIngesterEnv(cluster: string, podName: string, dataDir: string): Promise<{ args: string[]; env: NodeJS.ProcessEnv }> {
  const sts = await kube.expectOk('GET', STS_PATH(`${cluster}-ingester`));
  const container = sts.spec.template.spec.containers[0] as { args: string[]; envFrom: { configMapRef: { name: string } }[]; env: EnvVar[] };
  const vars: Record<string, string> = {};
  for (const from of container.envFrom) {
    const cm = await kube.expectOk('GET', `/api/v1/namespaces/${NS}/configmaps/${from.configMapRef.name}`);
    Object.assign(vars, cm.data);
  }
  for (const e of container.env) {
    if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') vars[e.name] = podName;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') vars[e.name] = NS;
    else if (e.value !== undefined) vars[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => vars[v] ?? m);
  }
  expect(vars['SKEIN_MEMBER_ID']).toBe(podName);
  expect(vars['SKEIN_ETCD_ENDPOINTS']).toBe(etcd.endpoint);
  const local: Record<string, string> = {
    SKEIN_HOST: '127.0.0.1',
    SKEIN_ADVERTISE_HOST: '127.0.0.1',
    SKEIN_DATA_DIR: dataDir,
    SKEIN_STORAGE_DIR: await blocksDirOf(cluster),
    SKEIN_OTLP_GRPC_PORT: String(await freePort()),
    SKEIN_OTLP_HTTP_PORT: String(await freePort()),
    SKEIN_INTERNAL_PORT: String(await freePort()),
    SKEIN_ADMIN_PORT: String(await freePort()),
    // Fast failover for the test (the chart's default is 10 s).
    SKEIN_LEASE_TTL_SECONDS: '2',
  };
  return { args: container.args, env: { PATH: process.env['PATH'], ...vars, ...local } };
}

async function startIngester(cluster: string, podName: string, reuse?: { dataDir: string; env: NodeJS.ProcessEnv }): Promise<void> {
  const dataDir = reuse?.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), `skein-op-${podName}-`)));
  const rendered = reuse === undefined ? await renderedIngesterEnv(cluster, podName, dataDir) : { args: ['ingester'], env: reuse.env };
  const proc = await startChild({ args: [SKEIN, ...rendered.args], env: rendered.env, readyMessage: 'skein ready', timeoutMs: 30_000 });
  ingesters.set(podName, { proc, dataDir, env: rendered.env });
}

/**
 * The test control plane has no volume provisioner: stand in for one by creating a static
 * PersistentVolume pre-bound to each claim of the namespace (the PV controller binds them), so the
 * ingester pods with their WAL claims can be scheduled. Bounded by the test's lifetime.
 */
const provisioned = new Set<string>();
let provisioner: ReturnType<typeof setInterval> | undefined;
function startVolumeProvisioner(): void {
  let busy = false;
  provisioner = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      const claims = await kube.expectOk('GET', `/api/v1/namespaces/${NS}/persistentvolumeclaims`);
      for (const pvc of claims.items as { metadata: { name: string; uid: string }; spec: { volumeName?: string; accessModes: string[]; resources: { requests: { storage: string } }; storageClassName?: string } }[]) {
        if (pvc.spec.volumeName !== undefined || provisioned.has(pvc.metadata.uid)) continue;
        const pvName = `skein-e2e-${RUN}-${provisioned.size}`;
        await kube.expectOk('POST', '/api/v1/persistentvolumes', {
          body: {
            apiVersion: 'v1',
            kind: 'PersistentVolume',
            metadata: { name: pvName, labels: { 'skein-e2e': RUN } },
            spec: {
              capacity: { storage: pvc.spec.resources.requests.storage },
              accessModes: pvc.spec.accessModes,
              persistentVolumeReclaimPolicy: 'Retain',
              storageClassName: pvc.spec.storageClassName ?? '',
              hostPath: { path: `/tmp/${pvName}` },
              claimRef: { namespace: NS, name: pvc.metadata.name, uid: pvc.metadata.uid },
            },
          },
        });
        provisioned.add(pvc.metadata.uid);
      }
    })()
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, 300);
}

async function mergePatch(p: string, body: unknown): Promise<void> {
  await kube.expectOk('PATCH', p, { body, contentType: 'application/merge-patch+json' });
}

beforeAll(async () => {
  env = await kubeEnvironmentFromEnv({ nodes: 2 });
  kube = env.client;
  createdCrd = (await kube.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`)).status === 404;
  const crd = JSON.parse(await readFile(path.join(ROOT, 'crds', CRD_FILE_NAME), 'utf8'));
  await kube.apply(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`, crd, { fieldManager: 'skein-e2e', force: true });
  await kube.expectOk('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
  await wait('the TracingCluster collection to be served', async (why) => {
    const res = await kube.request('GET', `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`);
    why(`${res.status}`);
    return res.status === 200 ? true : undefined;
  });
  etcd = await startEtcd();
  coord = createEtcdCoordinator({ endpoints: [etcd.endpoint] });
  startVolumeProvisioner();
  await startOperator('operator-a');
}, 180_000);

afterAll(async () => {
  if (provisioner !== undefined) clearInterval(provisioner);
  for (const { proc, dataDir } of ingesters.values()) {
    await proc.stop('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
  for (const dir of blockDirs.values()) await rm(dir, { recursive: true, force: true });
  for (const p of operators.values()) await p.stop('SIGKILL');
  await coord?.close();
  await etcd?.stop();
  if (kube !== undefined) {
    // Our finalizer would hold the namespace's deletion with no operator left to run it.
    const list = await kube.request<{ items: Tc[] }>('GET', `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`).catch(() => undefined);
    for (const tc of list?.body.items ?? []) await mergePatch(TC_PATH(tc.metadata.name), { metadata: { finalizers: null } }).catch(() => undefined);
    await kube.request('DELETE', `/api/v1/namespaces/${NS}`).catch(() => undefined);
    await kube.request('DELETE', '/api/v1/persistentvolumes', { query: { labelSelector: `skein-e2e=${RUN}` } }).catch(() => undefined);
    if (createdCrd) await kube.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`).catch(() => undefined);
  }
  await env?.stop();
}, 120_000);

describe('operator on a real apiserver (hybrid: KWOK pods, real ingester processes)', () => {
  const name = 'alpha';
  const ks = () => createKeyspace(NS, name);

  it('apply → every expected object exists, owned by the TracingCluster; etcd gets the partition map and policy', async () => {
    await kube.expectOk('POST', `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`, {
      body: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name },
        spec: { shards: 4, ingester: { replicas: 2 }, querier: { replicas: 1 }, etcd: { external: { endpoints: [etcd.endpoint] } }, sampling: { keepPercent: 50 } },
      },
    });
    const tc = await wait('the finalizer', async () => {
      const t = await getTc(name);
      return t?.metadata.finalizers?.includes('tracing.skein.dev/cleanup') === true ? t : undefined;
    });
    const expected: [string, string][] = [
      [`/api/v1/namespaces/${NS}/configmaps/${name}-config`, 'ConfigMap'],
      [`/api/v1/namespaces/${NS}/services/${name}-ingester-headless`, 'Service'],
      [`/api/v1/namespaces/${NS}/services/${name}-ingest`, 'Service'],
      [`/api/v1/namespaces/${NS}/services/${name}-querier`, 'Service'],
      [`/api/v1/namespaces/${NS}/services/${name}-querier-headless`, 'Service'],
      [STS_PATH(`${name}-ingester`), 'StatefulSet'],
      [STS_PATH(`${name}-querier`), 'StatefulSet'],
      [`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/${name}-ingester`, 'PodDisruptionBudget'],
      [`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/${name}-querier`, 'PodDisruptionBudget'],
    ];
    for (const [p, kind] of expected) {
      const o = await wait(`${kind} ${p}`, async () => {
        const res = await kube.request('GET', p);
        return res.status === 200 ? res.body : undefined;
      });
      expect(o.metadata.ownerReferences, p).toEqual([{ apiVersion: API_VERSION, kind: KIND, name, uid: tc.metadata.uid, controller: true, blockOwnerDeletion: true }]);
      expect(o.metadata.labels['app.kubernetes.io/managed-by']).toBe('skein-operator');
    }
    // External etcd: no managed etcd objects.
    expect((await kube.request('GET', STS_PATH(`${name}-etcd`))).status).toBe(404);

    const partition = await wait('the partition map in etcd', () => readKey<PartitionValue>(ks().partition, PartitionValue));
    expect(partition).toEqual({ version: 1, shardCount: 4 });
    const policy = await wait('the policy in etcd', () => readKey<PolicyValue>(ks().policy, PolicyValue));
    expect(policy).toMatchObject({ version: 1, sampling: { keepPercent: 50, keepErrors: true }, retention: { tracesMs: 72 * 3_600_000 } });

    const withStatus = await wait('status with endpoints', async () => {
      const t = await getTc(name);
      return t?.status?.endpoints !== undefined && t.status.observedGeneration === t.metadata.generation ? t : undefined;
    });
    expect(withStatus.status?.endpoints).toEqual({ otlpGrpc: `${name}-ingest.${NS}.svc:4317`, otlpHttp: `http://${name}-ingest.${NS}.svc:4318`, query: `http://${name}-querier.${NS}.svc:3200` });
  });

  it('pods Running is not Ready: Ready waits until every shard has an owner', async () => {
    // KWOK marks the pods Running and Ready, but no ingester process has joined the cluster in
    // etcd yet: the operator counts an ingester ready only when it is both.
    await wait('ingester pods Running and Ready', async () => {
      const sts = await kube.expectOk('GET', STS_PATH(`${name}-ingester`));
      return sts.status?.readyReplicas === 2 ? true : undefined;
    });
    // Settles once the StatefulSet's status (all updated) has reached the TracingCluster's.
    const notReady = await waitCondition(name, 'Ready', 'False', 'IngestersNotReady', 60_000, /0\/2 ingesters ready; 4 of 4 shards have no owner/);
    expect(notReady.status?.ingesters).toEqual({ replicas: 2, ready: 0 });

    await Promise.all([startIngester(name, `${name}-ingester-0`), startIngester(name, `${name}-ingester-1`)]);
    const ready = await waitCondition(name, 'Ready', 'True', 'AllReady');
    expect(ready.status?.shards).toMatchObject({ desired: 4, owned: 4, mapVersion: 1 });
    expect(condition(ready, 'Degraded')?.status).toBe('False');
  });

  it('SIGKILL an ingester → Degraded; its shards fail over to the survivor; back again → Ready, not Degraded', async () => {
    const victim = ingesters.get(`${name}-ingester-1`)!;
    await victim.proc.stop('SIGKILL');
    // KWOK keeps the pod Running and Ready; the operator also counts ingesters registered in etcd.
    const degraded = await waitCondition(name, 'Degraded', 'True', 'IngestersNotReady', 30_000, /1\/2 ingesters ready/);
    expect(condition(degraded, 'Ready')).toMatchObject({ status: 'False', reason: 'IngestersNotReady' });
    // The survivor takes every shard once the victim's lease (2 s) lapses.
    const failedOver = await wait('every shard owned again (failover)', async (why) => {
      const tc = await getTc(name);
      why(JSON.stringify(tc?.status?.shards));
      return tc?.status?.shards?.owned === 4 ? tc : undefined;
    });
    expect(condition(failedOver, 'Degraded')?.status).toBe('True');
    // kubelet would restart the container: same pod name, same WAL volume.
    await startIngester(name, `${name}-ingester-1`, victim);
    const recovered = await waitCondition(name, 'Ready', 'True', 'AllReady', 60_000);
    expect(condition(recovered, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
  });

  it('a spec change updates the objects and rolls the pod template (config checksum)', async () => {
    const before = await kube.expectOk('GET', STS_PATH(`${name}-ingester`));
    const checksum = before.spec.template.metadata.annotations['tracing.skein.dev/config-checksum'];
    await mergePatch(TC_PATH(name), { spec: { ingester: { wal: { fsync: 'always' } } } });
    const cm = await wait('ConfigMap with SKEIN_FSYNC=always', async () => {
      const res = await kube.request('GET', `/api/v1/namespaces/${NS}/configmaps/${name}-config`);
      return res.body?.data?.SKEIN_FSYNC === 'always' ? res.body : undefined;
    });
    expect(cm.data.SKEIN_FSYNC).toBe('always');
    const after = await wait('a new checksum on the ingester pod template', async () => {
      const sts = await kube.expectOk('GET', STS_PATH(`${name}-ingester`));
      return sts.spec.template.metadata.annotations['tracing.skein.dev/config-checksum'] !== checksum ? sts : undefined;
    });
    expect(after.spec.template.metadata.annotations['tracing.skein.dev/config-checksum']).toMatch(/^[0-9a-f]{16,}$/);
  });

  it('kubectl scale (the scale subresource) → a new partition version in etcd; status converges', async () => {
    await kube.expectOk('PATCH', `${TC_PATH(name)}/scale`, { body: { spec: { replicas: 6 } }, contentType: 'application/merge-patch+json' });
    const partition = await wait('partition map v2 with 6 shards', async () => {
      const p = await readKey<PartitionValue>(ks().partition, PartitionValue);
      return p?.shardCount === 6 ? p : undefined;
    });
    expect(partition.version).toBe(2);
    const tc = await waitCondition(name, 'Ready', 'True', 'AllReady', 60_000);
    expect(tc.status?.shards).toMatchObject({ desired: 6, owned: 6, mapVersion: 2 });
    const scale = await kube.expectOk('GET', `${TC_PATH(name)}/scale`);
    expect(scale.spec.replicas).toBe(6);
  });

  it('two operators: one leads; SIGKILL it; the other takes over and reconciles a change', async () => {
    const a = operators.get('operator-a')!;
    const b = await startOperator('operator-b');
    expect(await readyz(a)).toBe('ready: leader');
    expect(await readyz(b)).toBe('ready: standby');
    await a.stop('SIGKILL');
    stoppedOperators.add(a);
    await wait('operator-b to lead', async (why) => {
      const r = await readyz(b);
      why(r);
      return r === 'ready: leader' ? true : undefined;
    }, 30_000);
    await mergePatch(TC_PATH(name), { spec: { querier: { replicas: 2 } } });
    await wait('querier StatefulSet scaled to 2 by operator-b', async () => {
      const sts = await kube.expectOk('GET', STS_PATH(`${name}-querier`));
      return sts.spec.replicas === 2 ? true : undefined;
    });
    await waitCondition(name, 'Ready', 'True', 'AllReady', 60_000);
  });

  it('SIGTERM → the leader exits 0 and releases the Lease, so a standby leads at once; /metrics shows both levels', async () => {
    const b = operators.get('operator-b')!;
    const c = await startOperator('operator-c');
    expect(await readyz(c)).toBe('ready: standby');
    // operator-b's shard controller for the cluster leads once operator-a's (SIGKILLed) lease in
    // that cluster's etcd has lapsed: both levels of leadership show in one /metrics page.
    const shardLeader = new RegExp(`^skein_controller_leader\\{[^}]*tracingcluster="${NS}/${name}"[^}]*\\} 1$`, 'm');
    const metricsB = await wait('operator-b to lead the shard controller of the cluster', async (why) => {
      const text = await (await fetch(`http://${b.ready['admin']}/metrics`)).text();
      why(text.split('\n').filter((l) => l.startsWith('skein_controller_leader')).join(' '));
      return shardLeader.test(text) ? text : undefined;
    }, 30_000);
    expect(metricsB).toMatch(/^skein_operator_leader\S* 1$/m);
    expect(metricsB).toMatch(/^skein_operator_reconciles_total\{[^}]*result="success"[^}]*\} [1-9]/m);
    const stoppedAt = Date.now();
    expect(await b.stop('SIGTERM')).toBe(0);
    stoppedOperators.add(b);
    await wait('operator-c to lead', async (why) => {
      const r = await readyz(c);
      why(r);
      return r === 'ready: leader' ? true : undefined;
    }, 30_000);
    // Released, not expired: well inside the Lease duration.
    expect(Date.now() - stoppedAt).toBeLessThan(OPERATOR_LEASE_SECONDS * 1000);
    await waitCondition(name, 'Ready', 'True', 'AllReady', 60_000);
  });

  it('an invalid change the schema cannot catch is a terminal Degraded condition with what to do', async () => {
    const beta = 'beta';
    await kube.expectOk('POST', `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`, {
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: beta }, spec: { shards: 2, etcd: { managed: { replicas: 3 } } } },
    });
    const etcdSts = await wait('the managed etcd StatefulSet', async () => {
      const res = await kube.request('GET', STS_PATH(`${beta}-etcd`));
      return res.status === 200 ? res.body : undefined;
    });
    expect(etcdSts.spec.replicas).toBe(3);
    await mergePatch(TC_PATH(beta), { spec: { etcd: { managed: { replicas: 5 } } } });
    const tc = await waitCondition(beta, 'Degraded', 'True', 'InvalidSpec');
    expect(condition(tc, 'Degraded')?.message).toMatch(/created with 3 members/);
    // The etcd members were not touched.
    expect((await kube.expectOk('GET', STS_PATH(`${beta}-etcd`))).spec.replicas).toBe(3);
    await kube.expectOk('DELETE', TC_PATH(beta));
    await wait(`${beta} deleted`, async () => ((await getTc(beta)) === undefined ? true : undefined), 60_000);
  });

  it('delete → ingester pods go first, then the cluster\'s etcd keys, then owned objects are garbage-collected', async () => {
    await kube.expectOk('DELETE', TC_PATH(name));
    // Like kubelet: when the ingester pods are gone, their processes end (gracefully: they drain and leave).
    await wait('ingester pods gone', async () => {
      const pods = await kube.expectOk('GET', `/api/v1/namespaces/${NS}/pods`, { query: { labelSelector: `app.kubernetes.io/instance=${name},app.kubernetes.io/component=ingester` } });
      return pods.items.length === 0 ? true : undefined;
    });
    await Promise.all([...ingesters.values()].map(({ proc }) => proc.stop('SIGTERM')));
    ingesters.clear();
    await wait('TracingCluster gone', async () => ((await getTc(name)) === undefined ? true : undefined), 60_000);
    await wait('no keys left under the cluster root', async (why) => {
      const keys = (await coord.range(ks().root)).entries.map((e) => e.key);
      why(keys.join(', '));
      return keys.length === 0 ? true : undefined;
    });
    await wait('owned objects garbage-collected', async (why) => {
      const left = [];
      for (const p of [`/api/v1/namespaces/${NS}/configmaps/${name}-config`, `/api/v1/namespaces/${NS}/services/${name}-ingest`, STS_PATH(`${name}-querier`), `/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/${name}-ingester`]) {
        if ((await kube.request('GET', p)).status !== 404) left.push(p);
      }
      why(left.join(', '));
      return left.length === 0 ? true : undefined;
    }, 60_000);
  });
});
