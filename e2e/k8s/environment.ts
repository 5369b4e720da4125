// A real, minimal Kubernetes control plane on 127.0.0.1 for integration tests (DESIGN.md §11):
// etcd 3.6 → kube-apiserver → kube-controller-manager + kube-scheduler + KWOK, each a child process
// stopped by its own PID, all state in one temp dir. KWOK plays the kubelet for fake Nodes: it keeps
// their status and lease fresh and moves pods bound to them through KWOK's default "fast" stages
// (Pending → Running/Ready, deleted → gone), so controllers, the scheduler and the garbage collector
// all do real work while no container runs.
//
// Security is the real thing, just local: TLS everywhere on the API server, client certificates for
// every component (admin in system:masters), Node,RBAC authorization, service-account tokens signed
// with a key the controller-manager shares. Nothing listens beyond 127.0.0.1.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findKubeBinaries, findKubectl } from './binaries.js';
import { createKubeClient, type KubeClient } from './client.js';
import { eventually } from './eventually.js';
import { accessFromKubeconfigJson, buildKubeconfig, flattenKubeconfig, type KubeAccess } from './kubeconfig.js';
import { createPki } from './pki.js';
import { startKubeProcess, type KubeProcess } from './process.js';

export interface KubeEnvironment {
  /** A kubeconfig file for an admin of this cluster. */
  readonly kubeconfigPath: string;
  /** Its contents (self-contained: certificates embedded). */
  readonly kubeconfig: string;
  readonly apiserverUrl: string;
  /** etcd client URL; undefined for a cluster taken from KUBECONFIG. */
  readonly etcdEndpoint: string | undefined;
  /** Names of the fake Nodes KWOK manages; empty for a cluster taken from KUBECONFIG. */
  readonly fakeNodes: readonly string[];
  /** True when this harness started the cluster (and stop() tears it down). */
  readonly owned: boolean;
  /** How to reach the API server as that admin (server, CA, credentials). */
  readonly access: KubeAccess;
  /** An admin client (closed by stop()). */
  readonly client: KubeClient;
  /** The tail of every component's log, for failure messages (empty for an external cluster). */
  logs(lines?: number): string;
  /** Names a component that has exited on its own (e.g. "kwok exited (1)"), else undefined. */
  crashed(): string | undefined;
  /** Stops every process it started, by PID, and removes its temp dir. */
  stop(): Promise<void>;
}

export interface StartKubeEnvironmentOptions {
  /** Fake Nodes to create for KWOK to manage (default 1). */
  readonly nodes?: number;
  /** Bound on the whole start-up (default 90 s). */
  readonly timeoutMs?: number;
  /** Directory holding the binaries (default: SKEIN_K8S_BIN, else scripts/ensure-k8s.sh --check). */
  readonly binDir?: string;
  /** Keep the temp dir (certificates, data, logs) after stop() for debugging; also SKEIN_K8S_KEEP=1. */
  readonly keepDir?: boolean;
}

/** The annotation KWOK is told to look for, so it never touches a Node it was not meant to fake. */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';
const SERVICE_CIDR = '10.96.0.0/16';
const SERVICE_IP = '10.96.0.1';
const CLUSTER_NAME = 'skein-test';

async function freePorts(count: number): Promise<number[]> {
  // Hold all listeners open together so the OS hands out distinct ports.
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => {
      const address = s.address();
      return typeof address === 'object' && address !== null ? address.port : 0;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** Polls until `check` gives a value; fails at once when a started process has exited. */
function waitUntil<T>(what: string, deadline: number, processes: readonly KubeProcess[], check: (why: (reason: string) => void) => Promise<T | undefined>): Promise<T> {
  return eventually(what, check, { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 200, failFast: () => firstExited(processes) });
}

function firstExited(processes: readonly KubeProcess[]): string | undefined {
  const dead = processes.find((p) => p.exited());
  return dead === undefined ? undefined : `${dead.name} exited (${dead.exitStatus()})`;
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await res.body?.cancel();
  return res.ok;
}

interface NodeCondition {
  type: string;
  status: string;
}

function fakeNode(name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
    },
    // No taint: in this cluster every Node is fake, so ordinary pods (and the operator's) land here.
    spec: {},
    status: {
      capacity: { cpu: '32', memory: '128Gi', pods: '110' },
      allocatable: { cpu: '32', memory: '128Gi', pods: '110' },
    },
  };
}

export async function startKubeEnvironment(options: StartKubeEnvironmentOptions = {}): Promise<KubeEnvironment> {
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  const nodeCount = options.nodes ?? 1;
  const keepDir = options.keepDir === true || process.env['SKEIN_K8S_KEEP'] === '1';
  const bins = await findKubeBinaries(options.binDir);
  const dir = await mkdtemp(path.join(tmpdir(), 'skein-k8s-'));
  const processes: KubeProcess[] = [];
  let client: KubeClient | undefined;
  // A crashed test worker must not leave a control plane behind: kill our own PIDs on exit.
  const killOnExit = (): void => {
    for (const p of processes) {
      try {
        if (!p.exited()) process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killOnExit);

  const logs = (lines = 40): string => processes.map((p) => `--- ${p.name} (pid ${p.pid}, ${p.logFile}) ---\n${p.tail(lines)}`).join('\n');
  const teardown = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    client?.close();
    // Reverse start order: the API server outlives its clients, etcd outlives the API server.
    const [etcd, apiserver, ...rest] = processes;
    await Promise.all(rest.map((p) => p.stop(5_000)));
    await apiserver?.stop(10_000);
    await etcd?.stop(5_000);
    if (!keepDir) await rm(dir, { recursive: true, force: true });
  };
  const start = (name: string, binary: string, args: string[]): KubeProcess => {
    const cwd = path.join(dir, name);
    const p = startKubeProcess({ name, binary, args, cwd: existsSync(cwd) ? cwd : dir, logFile: path.join(dir, `${name}.log`) });
    processes.push(p);
    return p;
  };

  try {
    const [etcdClientPort, etcdPeerPort, apiserverPort, controllerManagerPort, schedulerPort, kwokPort] = await freePorts(6);
    const pki = await createPki(path.join(dir, 'pki'), { serviceIp: SERVICE_IP });
    const etcdEndpoint = `http://127.0.0.1:${etcdClientPort}`;
    const apiserverUrl = `https://127.0.0.1:${apiserverPort}`;
    const kubeconfigFor = async (name: string, user: string, pair: { certPem: string; keyPem: string }): Promise<{ file: string; text: string }> => {
      const text = buildKubeconfig({ name: CLUSTER_NAME, server: apiserverUrl, caPem: pki.caPem, user, ...pair });
      const file = path.join(dir, `${name}.kubeconfig`);
      await writeFile(file, text, { mode: 0o600 });
      return { file, text };
    };
    const admin = await kubeconfigFor('admin', 'skein-test-admin', pki.admin);
    const controllerManagerConfig = await kubeconfigFor('controller-manager', 'system:kube-controller-manager', pki.controllerManager);
    const schedulerConfig = await kubeconfigFor('scheduler', 'system:kube-scheduler', pki.scheduler);
    const kwokConfig = await kubeconfigFor('kwok', 'kwok-controller', pki.kwok);
    for (const d of ['etcd-data', 'controller-manager', 'scheduler', 'kwok']) await mkdir(path.join(dir, d), { recursive: true, mode: 0o700 });

    const etcdPeer = `http://127.0.0.1:${etcdPeerPort}`;
    start('etcd', bins.etcd, [
      '--name', CLUSTER_NAME,
      '--data-dir', path.join(dir, 'etcd-data'),
      '--listen-client-urls', etcdEndpoint,
      '--advertise-client-urls', etcdEndpoint,
      '--listen-peer-urls', etcdPeer,
      '--initial-advertise-peer-urls', etcdPeer,
      '--initial-cluster', `${CLUSTER_NAME}=${etcdPeer}`,
      // Throwaway data: skip fsync, the slowest part of a write on a small VM.
      '--unsafe-no-fsync',
      '--log-level', 'warn',
    ]);
    await waitUntil('etcd /health', deadline, processes, async () => ((await httpOk(`${etcdEndpoint}/health`)) ? true : undefined));

    start('kube-apiserver', bins.kubeApiserver, [
      `--etcd-servers=${etcdEndpoint}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiserverPort}`,
      `--cert-dir=${path.join(dir, 'pki')}`,
      `--tls-cert-file=${pki.apiserver.certFile}`,
      `--tls-private-key-file=${pki.apiserver.keyFile}`,
      `--client-ca-file=${pki.caFile}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccountPubFile}`,
      `--service-account-signing-key-file=${pki.serviceAccountKeyFile}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      // Endpoints may not hold a loopback address, and no pod here dials the API through the
      // `kubernetes` Service, so do not publish the API server's address at all.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
    ]);
    const access = accessFromKubeconfigJson(admin.text);
    client = createKubeClient(access);
    const api = client;
    await waitUntil('kube-apiserver /readyz', deadline, processes, async (why) => {
      const res = await api.request('GET', '/readyz');
      why(`${res.status} ${typeof res.body === 'string' ? res.body.slice(0, 500) : JSON.stringify(res.body)}`);
      return res.status === 200 ? true : undefined;
    });

    // Their own HTTPS endpoint serves only /healthz here (always allowed), so they get no
    // --authentication/--authorization-kubeconfig: delegated auth would look for the front-proxy
    // (request-header) CA this API server does not configure, and log about it every few seconds.
    const serving = (port: number): string[] => ['--bind-address=127.0.0.1', `--secure-port=${port}`];
    start('controller-manager', bins.kubeControllerManager, [
      `--kubeconfig=${controllerManagerConfig.file}`,
      ...serving(controllerManagerPort!),
      `--cert-dir=${path.join(dir, 'controller-manager')}`,
      '--leader-elect=false',
      `--cluster-name=${CLUSTER_NAME}`,
      // Each controller acts as its own service account, as in a real cluster (RBAC is exercised).
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.serviceAccountKeyFile}`,
      `--root-ca-file=${pki.caFile}`,
      `--cluster-signing-cert-file=${pki.caFile}`,
      `--cluster-signing-key-file=${pki.caKeyFile}`,
    ]);
    start('scheduler', bins.kubeScheduler, [`--kubeconfig=${schedulerConfig.file}`, ...serving(schedulerPort!), `--cert-dir=${path.join(dir, 'scheduler')}`, '--leader-elect=false']);
    start('kwok', bins.kwok, [
      `--kubeconfig=${kwokConfig.file}`,
      `--config=${bins.kwokStages}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
      `--server-address=127.0.0.1:${kwokPort}`,
      '--node-lease-duration-seconds=40',
    ]);
    // Their serving certificates are self-signed at start-up; only liveness matters here.
    const insecure = (port: number): KubeClient => createKubeClient({ server: `https://127.0.0.1:${port}`, insecureSkipTlsVerify: true });
    for (const [name, port] of [['controller-manager', controllerManagerPort!], ['scheduler', schedulerPort!]] as const) {
      const probe = insecure(port);
      try {
        await waitUntil(`${name} /healthz`, deadline, processes, async (why) => {
          const res = await probe.request('GET', '/healthz');
          why(`${res.status} ${String(res.body)}`);
          return res.status === 200 ? true : undefined;
        });
      } finally {
        probe.close();
      }
    }
    await waitUntil('kwok /healthz', deadline, processes, async () => ((await httpOk(`http://127.0.0.1:${kwokPort}/healthz`)) ? true : undefined));

    const fakeNodes = Array.from({ length: nodeCount }, (_, i) => `kwok-node-${i}`);
    for (const name of fakeNodes) await api.expectOk('POST', '/api/v1/nodes', { body: fakeNode(name) });
    // Ready = KWOK initialised the node; the not-ready taint goes once the node controller saw that.
    for (const name of fakeNodes) {
      await waitUntil(`node ${name} Ready and schedulable`, deadline, processes, async (why) => {
        const node = await api.expectOk<{ status?: { conditions?: NodeCondition[] }; spec?: { taints?: { key: string }[] } }>('GET', `/api/v1/nodes/${name}`);
        const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
        const taints = (node.spec?.taints ?? []).map((t) => t.key);
        why(`Ready=${ready ?? 'unset'} taints=[${taints.join(',')}]`);
        return ready === 'True' && taints.length === 0 ? true : undefined;
      });
    }
    // The service-account controller is up once `default` has its ServiceAccount; pods need it.
    await waitUntil('ServiceAccount default/default', deadline, processes, async (why) => {
      const res = await api.request('GET', '/api/v1/namespaces/default/serviceaccounts/default');
      why(String(res.status));
      return res.status === 200 ? true : undefined;
    });

    return {
      kubeconfigPath: admin.file,
      kubeconfig: admin.text,
      apiserverUrl,
      etcdEndpoint,
      fakeNodes,
      owned: true,
      access,
      client: api,
      logs,
      // stop() is the only expected exit; after it nothing is waited on any more.
      crashed: () => firstExited(processes),
      stop: teardown,
    };
  } catch (error) {
    const kept = keepDir ? `kept ${dir}` : 'set SKEIN_K8S_KEEP=1 to keep its temp dir and full logs';
    const message = `Kubernetes test environment did not start: ${error instanceof Error ? error.message : String(error)} (${kept})\n${logs()}`;
    await teardown();
    throw new Error(message, { cause: error });
  }
}

/**
 * The cluster every Kubernetes test uses: the one KUBECONFIG names when set (kind, a real cluster —
 * stop() then stops nothing), else a fresh local one from startKubeEnvironment.
 */
export async function kubeEnvironmentFromEnv(options: StartKubeEnvironmentOptions = {}): Promise<KubeEnvironment> {
  const kubeconfigEnv = process.env['KUBECONFIG'];
  if (kubeconfigEnv === undefined || kubeconfigEnv === '') return startKubeEnvironment(options);
  const files = kubeconfigEnv.split(path.delimiter).filter((f) => f !== '');
  let json: string | undefined;
  if (files.length === 1) {
    // A single JSON kubeconfig needs no kubectl.
    const text = await readFile(files[0]!, 'utf8');
    if (text.trimStart().startsWith('{')) json = text;
  }
  json ??= await flattenKubeconfig(await findKubectl(), kubeconfigEnv);
  const access = accessFromKubeconfigJson(json, path.dirname(path.resolve(files[0]!)));
  let kubeconfigPath = files[0]!;
  let tempDir: string | undefined;
  if (files.length > 1) {
    tempDir = await mkdtemp(path.join(tmpdir(), 'skein-kubeconfig-'));
    kubeconfigPath = path.join(tempDir, 'kubeconfig');
    await writeFile(kubeconfigPath, json, { mode: 0o600 });
  }
  const client = createKubeClient(access);
  return {
    kubeconfigPath,
    kubeconfig: json,
    apiserverUrl: access.server,
    etcdEndpoint: undefined,
    fakeNodes: [],
    owned: false,
    access,
    client,
    logs: () => '',
    crashed: () => undefined,
    async stop() {
      client.close();
      if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
    },
  };
}
