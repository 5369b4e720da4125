// `skein local-cluster` (`make cluster`): a real etcd, a shard controller, N ingesters and a querier
// as separate processes on 127.0.0.1 with their own data dirs under --data-dir, on the fixed ports
// README lists. Prints the endpoints; Ctrl-C (or SIGTERM) stops everything it started, gracefully.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, formatHelp, type FlagName } from '../common/config/index.js';
import { startLocalCluster, FIXED_PORTS } from '../common/proc/index.js';

export const LOCAL_CLUSTER_FLAGS = ['data-dir', 'ingesters', 'shards', 'lease-ttl-seconds', 'log-level'] as const satisfies readonly FlagName[];

const SUMMARY =
  'Starts a whole cluster on this machine for trying things out: etcd, one shard controller, N ingesters and one querier, each its own process with its own data dir. Needs the etcd binary (apt-get install etcd-server).';

export async function runLocalCluster(argv: readonly string[]): Promise<number> {
  const loaded = loadConfig(LOCAL_CLUSTER_FLAGS, argv, process.env);
  if (loaded.kind === 'help') {
    process.stdout.write(formatHelp('local-cluster', SUMMARY, LOCAL_CLUSTER_FLAGS));
    return 0;
  }
  if (loaded.kind === 'error') {
    process.stderr.write(`skein local-cluster: ${loaded.message}\n`);
    return 2;
  }
  const config = loaded.config;
  const skeinBin = path.join(path.dirname(fileURLToPath(import.meta.url)), 'skein.js');
  const dataDir = path.resolve(config['data-dir']);
  const say = (line: string): void => void process.stderr.write(line + '\n');
  say(`starting etcd, controller, ${config.ingesters} ingesters and a querier (data in ${dataDir}) ...`);
  let cluster: Awaited<ReturnType<typeof startLocalCluster>>;
  try {
    cluster = await startLocalCluster({
      skeinBin,
      dataDir,
      ingesters: config.ingesters,
      shards: config.shards,
      leaseTtlSeconds: config['lease-ttl-seconds'],
      ports: 'fixed',
      logLevel: config['log-level'],
      onStarted: (name) => say(`  ${name} ready`),
    });
  } catch (e) {
    say(`could not start the local cluster: ${e instanceof Error ? e.message : String(e)}`);
    say('Are the ports free (etcd 2379/2380, 4317.., 9090.., 3200, 16686)? Is another `make cluster` running?');
    return 1;
  }
  const lines = ['', 'Skein local cluster is running.', `  etcd:        ${cluster.etcdEndpoint}`];
  cluster.ingesters.forEach((p, i) => {
    const ports = FIXED_PORTS.ingester(i);
    lines.push(`  ${p.name}:  OTLP/gRPC 127.0.0.1:${ports.otlpGrpc}   OTLP/HTTP http://127.0.0.1:${ports.otlpHttp}/v1/traces   admin http://127.0.0.1:${ports.admin}/ready`);
  });
  lines.push(
    `  controller:  http://127.0.0.1:${FIXED_PORTS.controllerAdmin(0)}/metrics`,
    `  query:       Tempo API http://127.0.0.1:${FIXED_PORTS.querier.tempo}/api/search   Jaeger API http://127.0.0.1:${FIXED_PORTS.querier.jaeger}/api/services`,
    `  data:        ${dataDir}   (Ctrl-C stops every process; data is kept)`,
    '',
  );
  say(lines.join('\n'));

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      say('stopping the local cluster ...');
      cluster.stop().then(
        () => {
          say('stopped.');
          resolve(0);
        },
        (e: unknown) => {
          say(`error while stopping: ${e instanceof Error ? e.message : String(e)}`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
