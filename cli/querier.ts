// `skein querier`: the Tempo- and Jaeger-compatible query APIs of a sharded cluster (ADR 0006
// "Querier"). Holds no data: it watches the cluster's members in etcd and fans every query out to
// all of them over the internal gRPC service, merging the answers and saying when one is partial.
// SIGTERM/SIGINT: stop accepting, finish in-flight requests, close, exit 0.
import type { FastifyInstance } from 'fastify';
import { loadConfig, formatHelp, type FlagName } from '../common/config/index.js';
import { createEtcdCoordinator, createKeyspace } from '../common/coord/index.js';
import { createRootLogger } from '../common/log/index.js';
import { createRegistry } from '../common/metrics/index.js';
import { createIngesterClientPool } from '../common/rpc/index.js';
import { buildJaegerApp, buildTempoApp } from '../querier/http/index.js';
import { createClusterBackend } from '../querier/querier.js';
import { createBlockBackend, createHeadsAndBlocksBackend } from '../querier/blocks/index.js';
import { BLOCK_STORAGE_FLAGS, openBlockStorage } from './block-storage.js';

export const QUERIER_FLAGS = [
  'etcd-endpoints',
  'namespace',
  'cluster',
  'host',
  'tempo-port',
  'jaeger-port',
  'query-timeout-ms',
  'tenancy-required',
  'data-dir',
  ...BLOCK_STORAGE_FLAGS,
  'log-level',
  'shutdown-timeout-ms',
] as const satisfies readonly FlagName[];

const SUMMARY =
  'Serves the Tempo- and Jaeger-compatible query APIs of a sharded cluster: every query goes to every ingester registered in etcd (recent spans) and to the blocks in storage (everything cut since), and the answers are merged (partial answers say so).';

/** After this long without the coordinator's first answer, say what we are waiting for. */
const COORDINATOR_WAIT_WARN_MS = 5000;

type Stop = { readonly signal: NodeJS.Signals };

export async function runQuerier(argv: readonly string[]): Promise<number> {
  const loaded = loadConfig(QUERIER_FLAGS, argv, process.env);
  if (loaded.kind === 'help') {
    process.stdout.write(formatHelp('querier', SUMMARY, QUERIER_FLAGS));
    return 0;
  }
  if (loaded.kind === 'error') {
    process.stderr.write(`skein querier: ${loaded.message}\n`);
    return 2;
  }
  const config = loaded.config;
  const logger = createRootLogger({ component: 'querier', level: config['log-level'] });
  const registry = createRegistry();
  const host = config.host;
  const keyspace = createKeyspace(config.namespace, config.cluster);

  // Signals are taken from the start: a querier waiting for etcd must still stop when told to.
  let onStop: (stop: Stop) => void = () => {};
  const stopRequested = new Promise<Stop>((resolve) => (onStop = resolve));
  const handleSignal = (signal: NodeJS.Signals): void => onStop({ signal });
  process.once('SIGTERM', handleSignal);
  process.once('SIGINT', handleSignal);
  const releaseSignals = (): void => {
    process.off('SIGTERM', handleSignal);
    process.off('SIGINT', handleSignal);
  };

  let store: Awaited<ReturnType<typeof openBlockStorage>>;
  try {
    store = await openBlockStorage(config);
  } catch (e) {
    logger.error({ err: e }, 'cannot open block storage; check --storage-backend, --storage-dir and --s3-*');
    releaseSignals();
    return 1;
  }
  const coord = createEtcdCoordinator({ endpoints: config['etcd-endpoints'] });
  const clients = createIngesterClientPool();
  const heads = createClusterBackend({ coord, keyspace, clients, queryTimeoutMs: config['query-timeout-ms'], logger, registry });
  const blocks = createBlockBackend({ coord, keyspace, store, logger, registry });
  const backend = createHeadsAndBlocksBackend(heads, blocks);
  const apps: FastifyInstance[] = [];

  const closeAll = async (): Promise<void> => {
    await Promise.allSettled(apps.map((a) => a.close()));
    await heads.stop();
    blocks.stop();
    clients.close();
    await coord.close();
    await store.close();
  };

  // 1. The cluster view first, so that "skein ready" means queries can be answered.
  logger.info({ etcd: config['etcd-endpoints'], prefix: keyspace.root }, 'reading cluster membership from the coordinator');
  const slow = setTimeout(() => {
    logger.warn({ etcd: config['etcd-endpoints'], waitedMs: COORDINATOR_WAIT_WARN_MS }, 'still waiting for the coordinator; is etcd reachable at --etcd-endpoints?');
  }, COORDINATOR_WAIT_WARN_MS);
  slow.unref();
  let early: Stop | undefined;
  try {
    early = await Promise.race([Promise.all([heads.start(), blocks.start()]).then(() => undefined), stopRequested]);
  } catch (e) {
    clearTimeout(slow);
    logger.error({ err: e }, 'could not watch the cluster in the coordinator; check --etcd-endpoints, --namespace and --cluster');
    await closeAll();
    releaseSignals();
    return 1;
  }
  clearTimeout(slow);
  if (early !== undefined) {
    logger.info({ signal: early.signal }, 'stopped before the coordinator answered');
    await closeAll();
    releaseSignals();
    return 0;
  }

  // 2. The query APIs.
  const listen = async (app: FastifyInstance, port: number): Promise<string> => {
    apps.push(app);
    await app.listen({ host, port });
    const address = app.server.address();
    return typeof address === 'object' && address !== null ? `${host}:${address.port}` : String(address);
  };
  try {
    const deps = { backend, logger, registry, tenancy: { required: config['tenancy-required'] } };
    const tempo = await listen(buildTempoApp(deps), config['tempo-port']);
    const jaeger = await listen(buildJaegerApp(deps), config['jaeger-port']);
    logger.info({ tempo, jaeger }, 'skein ready');
    if (!backend.ready()) logger.warn({ prefix: keyspace.membersPrefix }, 'no ingesters registered yet; queries answer 503 until one joins');
  } catch (e) {
    logger.error({ err: e }, 'could not start the query APIs; is another process using these ports? (see --help for the port flags)');
    await closeAll();
    releaseSignals();
    return 1;
  }

  // 3. Serve until told to stop.
  const { signal } = await stopRequested;
  releaseSignals();
  logger.info({ signal }, 'shutting down: finishing in-flight queries');
  return await new Promise<number>((resolve) => {
    const timer = setTimeout(() => {
      logger.error({ timeoutMs: config['shutdown-timeout-ms'] }, 'graceful shutdown timed out; exiting');
      resolve(1);
    }, config['shutdown-timeout-ms']);
    timer.unref();
    closeAll().then(
      () => {
        clearTimeout(timer);
        logger.info('stopped cleanly');
        resolve(0);
      },
      (e: unknown) => {
        clearTimeout(timer);
        logger.error({ err: e }, 'error during shutdown');
        resolve(1);
      },
    );
  });
}
