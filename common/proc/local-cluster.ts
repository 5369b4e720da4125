// A whole cluster as separate processes on 127.0.0.1: a real etcd, shard controllers, ingesters and
// a querier, each `skein <target>` child with its own data dir — used by `skein local-cluster`
// (`make cluster`), the e2e fault suites and the cluster benchmarks. Every process can be stopped,
// killed, paused and restarted on its own (same ports, same data), and only processes started
// here are ever signalled, by PID.
import { mkdir } from 'node:fs/promises';
import { freePort } from './ports.js';
import path from 'node:path';
import { startChild, type StartedChild } from './child.js';
import { startEtcd, type EtcdServer } from './etcd.js';

export interface LocalClusterOptions {
  /** Path of the built `skein` CLI (dist/cli/skein.js). */
  readonly skeinBin: string;
  /** Root of the per-process data dirs (etcd/, ingester-<i>/). */
  readonly dataDir: string;
  readonly ingesters: number;
  readonly controllers?: number;
  readonly shards: number;
  readonly leaseTtlSeconds?: number;
  /** `fixed`: documented default ports (README); `ephemeral`: free ports picked now (tests). */
  readonly ports: 'fixed' | 'ephemeral';
  readonly cluster?: string;
  /** Extra flags per target. */
  readonly ingesterArgs?: readonly string[];
  readonly controllerArgs?: readonly string[];
  readonly querierArgs?: readonly string[];
  readonly logLevel?: string;
  /** Called with each process's ready line (for progress output). */
  readonly onStarted?: (name: string, ready: Record<string, string>) => void;
}

export interface ClusterProcess {
  readonly name: string;
  /** Fields of the last ready log line (listener addresses). */
  ready(): Record<string, string>;
  pid(): number | undefined;
  running(): boolean;
  /** Log lines of the current (or last) run. */
  logs(): string[];
  /** Starts it (again, on the same ports and data dir); resolves once it logged "skein ready". */
  start(): Promise<void>;
  /** SIGTERM (default) and wait; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT. */
  pause(): void;
  resume(): void;
}

export interface LocalCluster {
  readonly etcd: EtcdServer;
  readonly etcdEndpoint: string;
  readonly controllers: readonly ClusterProcess[];
  readonly ingesters: ClusterProcess[];
  readonly querier: ClusterProcess;
  /** Adds and starts one more ingester (scale out). */
  addIngester(): Promise<ClusterProcess>;
  /** Stops everything still running: querier, ingesters (SIGTERM), controllers, etcd. */
  stop(): Promise<void>;
}

/** Fixed ports of `make cluster` (README): ingester i uses 4317+10i (gRPC), 4318+10i (HTTP), 9095+10i (internal), 9096+10i (admin). */
export const FIXED_PORTS = {
  etcdClient: 2379,
  etcdPeer: 2380,
  controllerAdmin: (k: number) => 9090 - k,
  ingester: (i: number) => ({ otlpGrpc: 4317 + 10 * i, otlpHttp: 4318 + 10 * i, internal: 9095 + 10 * i, admin: 9096 + 10 * i }),
  querier: { tempo: 3200, jaeger: 16686 },
} as const;

function clusterProcess(name: string, skeinBin: string, args: () => Promise<string[]>, onStarted: LocalClusterOptions['onStarted']): ClusterProcess {
  let current: StartedChild | undefined;
  let lastReady: Record<string, string> = {};
  let fixedArgs: string[] | undefined;
  const alive = (): boolean => current !== undefined && current.child.exitCode === null && current.child.signalCode === null;
  return {
    name,
    ready: () => lastReady,
    pid: () => current?.pid,
    running: alive,
    logs: () => current?.logs ?? [],
    async start() {
      if (alive()) throw new Error(`${name} is already running (pid ${current!.pid})`);
      // Ports are chosen once, so a restart comes back at the same addresses.
      fixedArgs ??= await args();
      current = await startChild({ args: [skeinBin, ...fixedArgs], readyMessage: 'skein ready', timeoutMs: 60_000 });
      lastReady = current.ready;
      onStarted?.(name, lastReady);
    },
    async stop(signal = 'SIGTERM') {
      if (current === undefined) return null;
      current.child.kill('SIGCONT');
      return current.stop(signal);
    },
    async kill() {
      if (current === undefined) return;
      await current.stop('SIGKILL');
    },
    pause() {
      if (alive()) current!.child.kill('SIGSTOP');
    },
    resume() {
      if (alive()) current!.child.kill('SIGCONT');
    },
  };
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const fixed = options.ports === 'fixed';
  const cluster = options.cluster ?? 'local';
  const ttl = String(options.leaseTtlSeconds ?? (fixed ? 10 : 2));
  const logLevel = options.logLevel ?? 'info';
  await mkdir(options.dataDir, { recursive: true });
  const etcd = await startEtcd(
    fixed
      ? { dataDir: path.join(options.dataDir, 'etcd'), clientPort: FIXED_PORTS.etcdClient, peerPort: FIXED_PORTS.etcdPeer }
      : { dataDir: path.join(options.dataDir, 'etcd') },
  );
  const common = ['--etcd-endpoints', etcd.endpoint, '--namespace', 'default', '--cluster', cluster, '--host', '127.0.0.1', '--log-level', logLevel];
  const started: ClusterProcess[] = [];
  const port = async (n: number): Promise<string> => String(fixed ? n : await freePort());

  try {
    const controllers: ClusterProcess[] = [];
    for (let k = 0; k < (options.controllers ?? 1); k++) {
      const p = clusterProcess(
        `controller-${k}`,
        options.skeinBin,
        async () => [
          'controller',
          ...common,
          '--member-id',
          `controller-${k}`,
          '--shards',
          String(options.shards),
          '--lease-ttl-seconds',
          ttl,
          '--admin-port',
          await port(FIXED_PORTS.controllerAdmin(k)),
          ...(options.controllerArgs ?? []),
        ],
        options.onStarted,
      );
      await p.start();
      started.push(p);
      controllers.push(p);
    }

    const ingesters: ClusterProcess[] = [];
    const makeIngester = (i: number): ClusterProcess => {
      const ports = FIXED_PORTS.ingester(i);
      return clusterProcess(
        `ingester-${i}`,
        options.skeinBin,
        async () => [
          'ingester',
          ...common,
          '--member-id',
          `ingester-${i}`,
          '--data-dir',
          path.join(options.dataDir, `ingester-${i}`),
          // Blocks live in one store every ingester writes and the querier reads (a shared volume or S3 in a real cluster).
          '--storage-dir',
          path.join(options.dataDir, 'blocks'),
          '--lease-ttl-seconds',
          ttl,
          '--otlp-grpc-port',
          await port(ports.otlpGrpc),
          '--otlp-http-port',
          await port(ports.otlpHttp),
          '--internal-port',
          await port(ports.internal),
          '--admin-port',
          await port(ports.admin),
          ...(options.ingesterArgs ?? []),
        ],
        options.onStarted,
      );
    };
    // Start ingesters together: each becomes ready only once it owns its shards, which needs the
    // others registered too (the controller spreads shards as members appear).
    for (let i = 0; i < options.ingesters; i++) ingesters.push(makeIngester(i));
    await Promise.all(ingesters.map((p) => p.start()));
    started.push(...ingesters);

    const querier = clusterProcess(
      'querier',
      options.skeinBin,
      async () => [
        'querier',
        ...common,
        '--storage-dir',
        path.join(options.dataDir, 'blocks'),
        '--tempo-port',
        await port(FIXED_PORTS.querier.tempo),
        '--jaeger-port',
        await port(FIXED_PORTS.querier.jaeger),
        ...(options.querierArgs ?? []),
      ],
      options.onStarted,
    );
    await querier.start();
    started.push(querier);

    return {
      etcd,
      etcdEndpoint: etcd.endpoint,
      controllers,
      ingesters,
      querier,
      async addIngester() {
        const p = makeIngester(ingesters.length);
        await p.start();
        ingesters.push(p);
        started.push(p);
        return p;
      },
      async stop() {
        await querier.stop();
        await Promise.all(ingesters.map((p) => p.stop()));
        await Promise.all(controllers.map((p) => p.stop()));
        await etcd.stop();
      },
    };
  } catch (e) {
    await Promise.allSettled(started.map((p) => p.kill()));
    await etcd.stop();
    throw e;
  }
}
