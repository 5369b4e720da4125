// `skein all-in-one`: receivers, shards (WAL + head), both query APIs, the shard controller and an
// in-process coordinator in one process, on local disk (DESIGN.md §2). It is a one-member cluster:
// the same cluster ingester, ownership protocol and controller code as `skein ingester` and
// `skein controller`, with the coordinator in memory (journaled to <data-dir>/coordinator.jsonl,
// so the block manifest and fencing tokens survive restarts) instead of etcd. SIGTERM/SIGINT: stop
// accepting, finish in-flight requests, flush WALs, exit 0. After SIGKILL the next start replays.
import type { FastifyInstance } from 'fastify';
import { loadConfig, formatHelp, type FlagName } from '../common/config/index.js';
import { openFileBackedStore, createKeyspace } from '../common/coord/index.js';
import path from 'node:path';
import { createRootLogger } from '../common/log/index.js';
import { createRegistry } from '../common/metrics/index.js';
import type { QueryBackend } from '../common/model/index.js';
import { DEFAULT_SPAN_LIMITS } from '../common/otlp/index.js';
import { createIngesterClientPool } from '../common/rpc/index.js';
import { createClusterIngester } from '../ingester/cluster-ingester.js';
import { startGrpcReceiver, buildOtlpHttpApp } from '../ingester/receivers/index.js';
import { createLifecycleController, createShardController } from '../operator/cluster/index.js';
import { computeFlagPolicy, LIFECYCLE_FLAGS } from './controller.js';
import { buildTempoApp, buildJaegerApp } from '../querier/http/index.js';
import { createBlockBackend, createHeadsAndBlocksBackend } from '../querier/blocks/index.js';
import { AGENT_POLICY_PATH } from '../common/agent-policy/index.js';
import { BLOCK_STORAGE_FLAGS, openBlockStorage } from './block-storage.js';

export const ALL_IN_ONE_FLAGS = [
  'data-dir',
  'host',
  'otlp-grpc-port',
  'otlp-http-port',
  'tempo-port',
  'jaeger-port',
  'shards',
  'lease-ttl-seconds',
  'forward-timeout-ms',
  'rebalance-interval-ms',
  'fsync',
  'fsync-delay-ms',
  'wal-segment-bytes',
  'head-max-bytes',
  'max-span-bytes',
  'max-attributes',
  'max-request-bytes',
  'tenancy-required',
  ...BLOCK_STORAGE_FLAGS,
  'cut-max-age-ms',
  'cut-max-bytes',
  'trace-idle-ms',
  'block-gc-grace-ms',
  'upload-timeout-ms',
  ...LIFECYCLE_FLAGS,
  'log-level',
  'shutdown-timeout-ms',
] as const satisfies readonly FlagName[];

const SUMMARY =
  'Runs everything in one process: OTLP in (gRPC and HTTP), WALs and in-memory heads on local disk, heads cut into blocks in local block storage, Tempo- and Jaeger-compatible query APIs out.';

const VERSION = '0.1.0';
/** How long startup waits for the member to own every shard before it says ready anyway. */
const READY_TIMEOUT_MS = 10_000;

async function waitReady(ready: () => boolean, timeoutMs: number, logger: { warn(o: object, m: string): void }): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > until) {
      logger.warn({ timeoutMs }, 'not every shard is owned yet; writes to those shards wait (up to --forward-timeout-ms) or get UNAVAILABLE');
      return;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function runAllInOne(argv: readonly string[]): Promise<number> {
  const loaded = loadConfig(ALL_IN_ONE_FLAGS, argv, process.env);
  if (loaded.kind === 'help') {
    process.stdout.write(formatHelp('all-in-one', SUMMARY, ALL_IN_ONE_FLAGS));
    return 0;
  }
  if (loaded.kind === 'error') {
    process.stderr.write(`skein all-in-one: ${loaded.message}\n`);
    return 2;
  }
  const config = loaded.config;
  const logger = createRootLogger({ component: 'all-in-one', level: config['log-level'] });
  const registry = createRegistry();
  const host = config.host;

  // A one-member cluster in this process. The coordinator lives in memory and journals every change
  // to the data dir: after a restart the partition map, assignments and manifest are back (keys of
  // the old process's leases are not), revisions continue, and the member acquires its shards again
  // with higher tokens.
  const coordinatorFile = path.join(config['data-dir'], 'coordinator.jsonl');
  const opened = openFileBackedStore({ file: coordinatorFile });
  logger.info({ file: coordinatorFile, ...opened.report }, 'coordinator state loaded');
  const store = opened.store;
  let blockStore: Awaited<ReturnType<typeof openBlockStorage>>;
  try {
    blockStore = await openBlockStorage(config);
  } catch (e) {
    logger.error({ err: e }, 'cannot open block storage; check --storage-backend, --storage-dir and --s3-*');
    opened.close();
    return 1;
  }
  const keyspace = createKeyspace('local', 'all-in-one');
  const memberId = 'all-in-one';
  const controllerCoord = store.connect();
  const ingesterCoord = store.connect();
  const controller = createShardController({
    coord: controllerCoord,
    keyspace,
    identity: memberId,
    desiredShardCount: config.shards,
    maxConcurrentHandoffs: 1,
    rebalanceIntervalMs: config['rebalance-interval-ms'],
    leaseTtlSeconds: config['lease-ttl-seconds'],
    logger,
    registry,
  });
  await controller.start();

  // ---- lifecycle controller (DESIGN.md §7): writes the policy from the flags, plans compaction
  // jobs and expires blocks past retention on this process's coordinator, like `skein controller`.
  const lifecycleCoord = store.connect();
  const lifecycle = createLifecycleController({
    coord: lifecycleCoord,
    keyspace,
    identity: memberId,
    policy: computeFlagPolicy(config),
    intervalMs: config['lifecycle-interval-ms'],
    leaseTtlSeconds: config['lease-ttl-seconds'],
    logger: logger.child({ component: 'lifecycle-controller' }),
    registry,
  });
  await lifecycle.start();
  const stopLifecycle = async (): Promise<void> => {
    await lifecycle.stop();
    await lifecycleCoord.close();
  };
  // ---- end of the lifecycle controller

  const clients = createIngesterClientPool(); // no other members: only ever used if one appeared
  const ingester = await createClusterIngester({
    dataDir: config['data-dir'],
    fsync: config.fsync,
    fsyncDelayMs: config['fsync-delay-ms'],
    walSegmentBytes: config['wal-segment-bytes'],
    headMaxBytes: config['head-max-bytes'],
    limits: { ...DEFAULT_SPAN_LIMITS, maxSpanBytes: config['max-span-bytes'], maxAttributesPerSpan: config['max-attributes'], maxBatchBytes: config['max-request-bytes'] },
    logger,
    registry,
    coord: ingesterCoord,
    keyspace,
    memberId,
    version: VERSION,
    leaseTtlSeconds: config['lease-ttl-seconds'],
    forwardTimeoutMs: config['forward-timeout-ms'],
    clients,
    blocks: { store: blockStore, cutMaxAgeMs: config['cut-max-age-ms'], cutMaxBytes: config['cut-max-bytes'], traceIdleMs: config['trace-idle-ms'], gcGraceMs: config['block-gc-grace-ms'], uploadTimeoutMs: config['upload-timeout-ms'] },
  });
  const querierCoord = store.connect();
  const blocks = createBlockBackend({ coord: querierCoord, keyspace, store: blockStore, logger, registry });
  await blocks.start();
  const closeCluster = async (): Promise<void> => {
    await ingester.close();
    blocks.stop();
    await Promise.all([controller.stop(), stopLifecycle()]);
    clients.close();
    await Promise.allSettled([ingesterCoord.close(), controllerCoord.close(), querierCoord.close()]);
    opened.close();
    await blockStore.close();
  };
  // Queries are answered from every head at once (replayed shards included) and from the blocks
  // cut since; /ready waits for ownership.
  const backend: QueryBackend = { ...createHeadsAndBlocksBackend(ingester.backend, blocks), ready: () => ingester.ready() };

  const apps: FastifyInstance[] = [];
  const listen = async (app: FastifyInstance, port: number): Promise<string> => {
    apps.push(app);
    await app.listen({ host, port });
    const address = app.server.address();
    return typeof address === 'object' && address !== null ? `${host}:${address.port}` : String(address);
  };

  let grpc: Awaited<ReturnType<typeof startGrpcReceiver>> | undefined;
  try {
    grpc = await startGrpcReceiver({
      host,
      port: config['otlp-grpc-port'],
      maxRequestBytes: config['max-request-bytes'],
      tenancyRequired: config['tenancy-required'],
      service: ingester.service,
      extraHandlers: new Map([[AGENT_POLICY_PATH, ingester.agentPolicyHandler]]),
    });
    const otlpHttp = await listen(
      buildOtlpHttpApp({ maxRequestBytes: config['max-request-bytes'], tenancyRequired: config['tenancy-required'], service: ingester.service, logger }),
      config['otlp-http-port'],
    );
    const queryDeps = { backend, logger, registry, tenancy: { required: config['tenancy-required'] } };
    const tempo = await listen(buildTempoApp(queryDeps), config['tempo-port']);
    const jaeger = await listen(buildJaegerApp(queryDeps), config['jaeger-port']);
    const otlpGrpc = `${host}:${grpc.port}`;
    await ingester.join('in-process', { otlpGrpc: grpc.port });
    await waitReady(() => ingester.ready(), READY_TIMEOUT_MS, logger);
    logger.info({ otlpGrpc, otlpHttp, tempo, jaeger, dataDir: config['data-dir'] }, 'skein ready');
    process.stderr.write(
      [
        '',
        'Skein all-in-one is running.',
        `  send spans:   OTLP/gRPC ${otlpGrpc}   OTLP/HTTP http://${otlpHttp}/v1/traces`,
        `  query:        Tempo API http://${tempo}/api/search   Jaeger API http://${jaeger}/api/services`,
        `  metrics:      http://${tempo}/metrics`,
        `  data:         ${config['data-dir']}   (Ctrl-C to stop; data is kept)`,
        '',
      ].join('\n') + '\n',
    );
  } catch (e) {
    logger.error({ err: e }, 'could not start listeners; is another process using these ports? (see --help for the port flags)');
    await grpc?.close(AbortSignal.timeout(1000));
    await Promise.allSettled(apps.map((a) => a.close()));
    await closeCluster().catch(() => undefined);
    return 1;
  }

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: draining requests and flushing WALs');
      const deadline = AbortSignal.timeout(config['shutdown-timeout-ms']);
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: config['shutdown-timeout-ms'] }, 'graceful shutdown timed out; exiting (WAL replay will recover acknowledged spans)');
        resolve(1);
      }, config['shutdown-timeout-ms']);
      timer.unref();
      (async () => {
        // Stop accepting first, then let in-flight exports finish, then flush.
        await Promise.allSettled([grpc!.close(deadline), ...apps.map((a) => a.close())]);
        await closeCluster();
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
