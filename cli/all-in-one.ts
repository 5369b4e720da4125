// `skein all-in-one`: receivers, shards (WAL + head) and both query APIs in one process, on local
// disk, with no coordination service (DESIGN.md §2). SIGTERM/SIGINT: stop accepting, finish
// in-flight requests, flush WALs, exit 0. After SIGKILL the next start replays the WALs.
import type { FastifyInstance } from 'fastify';
import { loadConfig, formatHelp, type FlagName } from '../common/config/index.js';
import { createRootLogger } from '../common/log/index.js';
import { createRegistry } from '../common/metrics/index.js';
import { DEFAULT_SPAN_LIMITS } from '../common/otlp/index.js';
import { createIngester } from '../ingester/ingester.js';
import { startGrpcReceiver, buildOtlpHttpApp } from '../ingester/receivers/index.js';
import { buildTempoApp, buildJaegerApp } from '../querier/http/index.js';

export const ALL_IN_ONE_FLAGS = [
  'data-dir',
  'host',
  'otlp-grpc-port',
  'otlp-http-port',
  'tempo-port',
  'jaeger-port',
  'shards',
  'fsync',
  'fsync-delay-ms',
  'wal-segment-bytes',
  'head-max-bytes',
  'max-span-bytes',
  'max-attributes',
  'max-request-bytes',
  'tenancy-required',
  'log-level',
  'shutdown-timeout-ms',
] as const satisfies readonly FlagName[];

const SUMMARY = 'Runs everything in one process: OTLP in (gRPC and HTTP), WALs and in-memory heads on local disk, Tempo- and Jaeger-compatible query APIs out.';

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

  const ingester = await createIngester({
    dataDir: config['data-dir'],
    shardCount: config.shards,
    fsync: config.fsync,
    fsyncDelayMs: config['fsync-delay-ms'],
    walSegmentBytes: config['wal-segment-bytes'],
    headMaxBytes: config['head-max-bytes'],
    limits: { ...DEFAULT_SPAN_LIMITS, maxSpanBytes: config['max-span-bytes'], maxAttributesPerSpan: config['max-attributes'], maxBatchBytes: config['max-request-bytes'] },
    logger,
    registry,
  });

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
    });
    const otlpHttp = await listen(
      buildOtlpHttpApp({ maxRequestBytes: config['max-request-bytes'], tenancyRequired: config['tenancy-required'], service: ingester.service, logger }),
      config['otlp-http-port'],
    );
    const queryDeps = { backend: ingester.backend, logger, registry, tenancy: { required: config['tenancy-required'] } };
    const tempo = await listen(buildTempoApp(queryDeps), config['tempo-port']);
    const jaeger = await listen(buildJaegerApp(queryDeps), config['jaeger-port']);
    const otlpGrpc = `${host}:${grpc.port}`;
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
    await ingester.close();
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
        await ingester.close();
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
