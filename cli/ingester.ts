// `skein ingester`: one member of a sharded cluster (ADR 0006). Receives OTLP, appends spans of the
// shards it owns to their WALs and forwards the rest to their owners, serves its heads to queriers
// over the internal gRPC service, and holds its shards through an etcd lease. SIGTERM: hand every
// shard off, drain local data to the next owners, leave. After SIGKILL the next start replays the
// WALs and drains the shards now owned elsewhere.
import os from 'node:os';
import Fastify, { type FastifyInstance } from 'fastify';
import { APP_VERSION, loadConfig, formatHelp, type FlagName } from '../common/config/index.js';
import { createRootLogger } from '../common/log/index.js';
import { createRegistry } from '../common/metrics/index.js';
import { DEFAULT_SPAN_LIMITS } from '../common/otlp/index.js';
import { createEtcdCoordinator, createKeyspace } from '../common/coord/index.js';
import { startNativeGrpcServer } from '../common/grpc/index.js';
import { buildIngesterRpcHandlers, createIngesterClientPool } from '../common/rpc/index.js';
import { AGENT_POLICY_PATH } from '../common/agent-policy/index.js';
import { createClusterIngester } from '../ingester/cluster-ingester.js';
import { BLOCK_STORAGE_FLAGS, openBlockStorage } from './block-storage.js';
import { startGrpcReceiver, buildOtlpHttpApp } from '../ingester/receivers/index.js';

export const INGESTER_FLAGS = [
  'data-dir',
  'host',
  'advertise-host',
  'otlp-grpc-port',
  'otlp-http-port',
  'internal-port',
  'admin-port',
  'etcd-endpoints',
  'namespace',
  'cluster',
  'member-id',
  'lease-ttl-seconds',
  'forward-timeout-ms',
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
  'log-level',
  'shutdown-timeout-ms',
] as const satisfies readonly FlagName[];

const SUMMARY =
  'Runs one ingester of a sharded cluster: OTLP in, spans appended for the shards it owns and forwarded to the owners of the others, heads served to queriers. Needs etcd and a running `skein controller`.';

export async function runIngester(argv: readonly string[]): Promise<number> {
  const loaded = loadConfig(INGESTER_FLAGS, argv, process.env);
  if (loaded.kind === 'help') {
    process.stdout.write(formatHelp('ingester', SUMMARY, INGESTER_FLAGS));
    return 0;
  }
  if (loaded.kind === 'error') {
    process.stderr.write(`skein ingester: ${loaded.message}\n`);
    return 2;
  }
  const config = loaded.config;
  const memberId = config['member-id'] === '' ? os.hostname() : config['member-id'];
  const logger = createRootLogger({ component: 'ingester', level: config['log-level'] });
  const registry = createRegistry({ labels: { member: memberId } });
  const host = config.host;
  const advertise = config['advertise-host'] !== '' ? config['advertise-host'] : host === '0.0.0.0' || host === '::' ? os.hostname() : host;

  let store: Awaited<ReturnType<typeof openBlockStorage>>;
  try {
    store = await openBlockStorage(config);
  } catch (e) {
    logger.error({ err: e }, 'cannot open block storage; check --storage-backend, --storage-dir and --s3-*');
    return 1;
  }
  const coord = createEtcdCoordinator({ endpoints: config['etcd-endpoints'] });
  const clients = createIngesterClientPool({ maxMessageBytes: Math.max(64 * 1024 * 1024, config['max-request-bytes'] * 2) });
  const ingester = await createClusterIngester({
    dataDir: config['data-dir'],
    fsync: config.fsync,
    fsyncDelayMs: config['fsync-delay-ms'],
    walSegmentBytes: config['wal-segment-bytes'],
    headMaxBytes: config['head-max-bytes'],
    limits: { ...DEFAULT_SPAN_LIMITS, maxSpanBytes: config['max-span-bytes'], maxAttributesPerSpan: config['max-attributes'], maxBatchBytes: config['max-request-bytes'] },
    logger,
    registry,
    coord,
    keyspace: createKeyspace(config.namespace, config.cluster),
    memberId,
    version: APP_VERSION,
    leaseTtlSeconds: config['lease-ttl-seconds'],
    forwardTimeoutMs: config['forward-timeout-ms'],
    clients,
    blocks: { store, cutMaxAgeMs: config['cut-max-age-ms'], cutMaxBytes: config['cut-max-bytes'], traceIdleMs: config['trace-idle-ms'], gcGraceMs: config['block-gc-grace-ms'], uploadTimeoutMs: config['upload-timeout-ms'] },
  });

  const apps: FastifyInstance[] = [];
  const listen = async (app: FastifyInstance, port: number): Promise<number> => {
    apps.push(app);
    await app.listen({ host, port });
    const address = app.server.address();
    return typeof address === 'object' && address !== null ? address.port : port;
  };
  let grpc: Awaited<ReturnType<typeof startGrpcReceiver>> | undefined;
  let internal: Awaited<ReturnType<typeof startNativeGrpcServer>> | undefined;
  const closeListeners = async (signal: AbortSignal): Promise<void> => {
    await Promise.allSettled([grpc?.close(signal), internal?.close(signal), ...apps.map((a) => a.close())]);
  };

  try {
    internal = await startNativeGrpcServer({
      host,
      port: config['internal-port'],
      // A forwarded part is at most one client request; queries are small.
      maxRequestBytes: config['max-request-bytes'] + 1024 * 1024,
      handlers: buildIngesterRpcHandlers(ingester.rpc),
    });
    grpc = await startGrpcReceiver({
      host,
      port: config['otlp-grpc-port'],
      maxRequestBytes: config['max-request-bytes'],
      tenancyRequired: config['tenancy-required'],
      service: ingester.service,
      extraHandlers: new Map([[AGENT_POLICY_PATH, ingester.agentPolicyHandler]]),
    });
    const otlpHttpPort = await listen(
      buildOtlpHttpApp({ maxRequestBytes: config['max-request-bytes'], tenancyRequired: config['tenancy-required'], service: ingester.service, logger }),
      config['otlp-http-port'],
    );
    const admin = Fastify({ logger: false });
    admin.get('/ready', async (_req, reply) => {
      const ready = ingester.ready();
      return reply.code(ready ? 200 : 503).type('text/plain').send(ready ? 'ready\n' : 'not ready: joining, leaving, or not (yet) owning every shard assigned to it\n');
    });
    admin.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
    admin.get('/debug/ownership', (_req, reply) => reply.send(ingester.debug()));
    const adminPort = await listen(admin, config['admin-port']);

    const ports = { otlpGrpc: grpc.port, otlpHttp: otlpHttpPort, internal: internal.port, admin: adminPort };
    const address = `${advertise}:${internal.port}`;
    await ingester.join(address, ports);
    logger.info(
      { member: memberId, otlpGrpc: `${host}:${grpc.port}`, otlpHttp: `${host}:${otlpHttpPort}`, internal: address, admin: `${host}:${adminPort}` },
      'skein ready',
    );
  } catch (e) {
    logger.error({ err: e }, 'could not start the ingester; check the ports (see --help) and that etcd is reachable at --etcd-endpoints');
    await closeListeners(AbortSignal.timeout(1000));
    await ingester.leave(AbortSignal.timeout(1000)).catch(() => undefined);
    clients.close();
    await coord.close();
    await store.close();
    return 1;
  }

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: handing off shards, draining local data, then closing');
      const budget = config['shutdown-timeout-ms'];
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: budget }, 'graceful shutdown timed out; exiting (WAL replay at the next start recovers acknowledged spans)');
        resolve(1);
      }, budget);
      timer.unref();
      (async () => {
        // Keep the receivers open while shards move: writes arriving meanwhile are forwarded.
        await ingester.leave(AbortSignal.timeout(Math.max(0, budget - 2000)));
        await closeListeners(AbortSignal.timeout(1000));
        clients.close();
        await coord.close();
        await store.close();
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
