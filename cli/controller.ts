// `skein controller`: the shard controller and the lifecycle controller on their own (ADR 0006
// "Shard controller", DESIGN.md §7), for clusters run without Kubernetes. Run several for standby:
// each controller leads through its own etcd election, the others wait. The lifecycle controller's
// leader writes the cluster policy (retention, compaction, tail sampling) from the flags. Admin
// HTTP: /ready (200 once started, leader or standby) and /metrics. SIGTERM/SIGINT: stop acting,
// resign, revoke the leases (a standby takes over at once), exit 0.
import os from 'node:os';
import Fastify from 'fastify';
import { loadConfig, formatHelp, type FlagName, type FlagValues } from '../common/config/index.js';
import { createEtcdCoordinator, createKeyspace } from '../common/coord/index.js';
import { createRootLogger } from '../common/log/index.js';
import { createRegistry } from '../common/metrics/index.js';
import { createLifecycleController, createShardController, type PolicyContent } from '../operator/cluster/index.js';

/** The lifecycle controller's flags (also run by all-in-one): the policy it writes, and its pace. */
export const LIFECYCLE_FLAGS = [
  'retention',
  'compaction-enabled',
  'compaction-window',
  'compaction-max-block-bytes',
  'tail-keep-percent',
  'tail-keep-errors',
  'tail-keep-slower-than-ms',
  'lifecycle-interval-ms',
] as const satisfies readonly FlagName[];

/** The cluster policy these flags describe (DESIGN.md §5 `policy`; the operator derives it from the spec instead). */
export function computeFlagPolicy(config: FlagValues<(typeof LIFECYCLE_FLAGS)[number]>): PolicyContent {
  const keepSlowerThanMs = config['tail-keep-slower-than-ms'];
  return {
    retention: { tracesMs: config.retention },
    compaction: { enabled: config['compaction-enabled'], windowMs: config['compaction-window'], maxBlockBytes: config['compaction-max-block-bytes'] },
    sampling: { keepPercent: config['tail-keep-percent'], keepErrors: config['tail-keep-errors'], ...(keepSlowerThanMs === undefined ? {} : { keepSlowerThanMs }) },
  };
}

export const CONTROLLER_FLAGS = [
  'etcd-endpoints',
  'namespace',
  'cluster',
  'member-id',
  'shards',
  'lease-ttl-seconds',
  'max-concurrent-handoffs',
  'rebalance-interval-ms',
  'host',
  'admin-port',
  ...LIFECYCLE_FLAGS,
  'log-level',
  'shutdown-timeout-ms',
] as const satisfies readonly FlagName[];

const SUMMARY =
  'Runs the shard controller (writes the partition map and assigns shards to ready ingesters through etcd, moving them by graceful handoff) and the lifecycle controller (writes the policy from the flags, plans compaction jobs, expires blocks past retention). Run several for standby; one leads.';

export async function runController(argv: readonly string[]): Promise<number> {
  const loaded = loadConfig(CONTROLLER_FLAGS, argv, process.env);
  if (loaded.kind === 'help') {
    process.stdout.write(formatHelp('controller', SUMMARY, CONTROLLER_FLAGS));
    return 0;
  }
  if (loaded.kind === 'error') {
    process.stderr.write(`skein controller: ${loaded.message}\n`);
    return 2;
  }
  const config = loaded.config;
  const identity = config['member-id'] === '' ? os.hostname() : config['member-id'];
  const logger = createRootLogger({ component: 'controller', level: config['log-level'] });
  const registry = createRegistry({ labels: { member: identity } });
  const host = config.host;

  const coord = createEtcdCoordinator({ endpoints: config['etcd-endpoints'] });
  const keyspace = createKeyspace(config.namespace, config.cluster);
  const controller = createShardController({
    coord,
    keyspace,
    identity,
    desiredShardCount: config.shards,
    maxConcurrentHandoffs: config['max-concurrent-handoffs'],
    rebalanceIntervalMs: config['rebalance-interval-ms'],
    leaseTtlSeconds: config['lease-ttl-seconds'],
    logger,
    registry,
  });
  const lifecycle = createLifecycleController({
    coord,
    keyspace,
    identity,
    policy: computeFlagPolicy(config),
    intervalMs: config['lifecycle-interval-ms'],
    leaseTtlSeconds: config['lease-ttl-seconds'],
    logger: logger.child({ component: 'lifecycle-controller' }),
    registry,
  });

  const admin = Fastify({ logger: false });
  admin.get('/ready', async (_req, reply) => {
    const ready = controller.ready() && lifecycle.ready();
    const role = (leading: boolean): string => (leading ? 'leader' : 'standby');
    // The shard controller's role first: the word scripts have looked for since it ran alone.
    const body = !ready ? 'not ready\n' : `ready: ${role(controller.leading)} (lifecycle: ${role(lifecycle.leading)})\n`;
    return reply.code(ready ? 200 : 503).type('text/plain').send(body);
  });
  admin.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  try {
    await admin.listen({ host, port: config['admin-port'] });
    await controller.start();
    await lifecycle.start();
    const address = admin.server.address();
    const adminAddress = typeof address === 'object' && address !== null ? `${host}:${address.port}` : String(address);
    logger.info({ member: identity, admin: adminAddress, leader: controller.leading }, 'skein ready');
  } catch (e) {
    logger.error({ err: e }, 'could not start the controller; check --admin-port and that etcd is reachable at --etcd-endpoints');
    await lifecycle.stop().catch(() => undefined);
    await controller.stop().catch(() => undefined);
    await admin.close().catch(() => undefined);
    await coord.close();
    return 1;
  }

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: resigning leadership');
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: config['shutdown-timeout-ms'] }, 'graceful shutdown timed out; exiting (the lease lapses after its TTL)');
        resolve(1);
      }, config['shutdown-timeout-ms']);
      timer.unref();
      (async () => {
        await Promise.all([controller.stop(), lifecycle.stop()]);
        await admin.close();
        await coord.close();
        clearTimeout(timer);
        logger.info('stopped cleanly');
        resolve(0);
      })().catch((e: unknown) => {
        logger.error({ err: e }, 'error during shutdown');
        clearTimeout(timer);
        resolve(1);
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
