// `skein operator`: the Kubernetes operator (DESIGN.md §9). Runs in-cluster (service account) or
// against a kubeconfig; every replica keeps its caches warm and answers probes, one leads through a
// coordination.k8s.io Lease and reconciles. Admin HTTP: /healthz (process up), /readyz (caches
// synced), /metrics. SIGTERM/SIGINT: stop reconciling, stop the cluster controllers, release the
// Lease (a standby takes over at once), exit 0.
import os from 'node:os';
import Fastify from 'fastify';
import { APP_VERSION, loadConfig, formatHelp, type FlagName } from '../common/config/index.js';
import { createRootLogger } from '../common/log/index.js';
import { createRegistry } from '../common/metrics/index.js';
import { VersionApi } from '@kubernetes/client-node';
import { createOperator, supportsNativeSidecars } from '../operator/controller/index.js';
import { createKubeClient, loadKubeConfig } from '../operator/kube/index.js';

export const OPERATOR_FLAGS = [
  'kubeconfig',
  'watch-namespace',
  'lease-namespace',
  'lease-name',
  'lease-ttl-seconds',
  'member-id',
  'component-image',
  'etcd-image',
  'webhook-port',
  'webhook-secret',
  'webhook-config-name',
  'webhook-service',
  'webhook-url',
  'webhook-timeout-seconds',
  'webhook-certificate',
  'native-sidecars',
  'host',
  'admin-port',
  'log-level',
  'shutdown-timeout-ms',
] as const satisfies readonly FlagName[];

const SUMMARY =
  'Runs the Kubernetes operator: reconciles TracingClusters into ingester/querier StatefulSets (and a managed etcd), runs each cluster\'s shard controller and reports honest status. Run two for availability; one leads.';

export async function runOperator(argv: readonly string[]): Promise<number> {
  const loaded = loadConfig(OPERATOR_FLAGS, argv, process.env);
  if (loaded.kind === 'help') {
    process.stdout.write(formatHelp('operator', SUMMARY, OPERATOR_FLAGS));
    return 0;
  }
  if (loaded.kind === 'error') {
    process.stderr.write(`skein operator: ${loaded.message}\n`);
    return 2;
  }
  const config = loaded.config;
  const identity = config['member-id'] === '' ? os.hostname() : config['member-id'];
  const logger = createRootLogger({ component: 'operator', level: config['log-level'] });
  const registry = createRegistry({ labels: { member: identity } });
  const host = config.host;

  let kube;
  let nativeSidecar = config['native-sidecars'] === 'true';
  try {
    const kc = loadKubeConfig(config.kubeconfig === '' ? {} : { kubeconfig: config.kubeconfig });
    kube = createKubeClient({ config: kc });
    if (config['native-sidecars'] === 'auto' && config['webhook-port'] !== 0) {
      const version = await kc.makeApiClient(VersionApi).getCode();
      nativeSidecar = supportsNativeSidecars(version);
      logger.info({ kubernetes: version.gitVersion, nativeSidecar }, 'sidecar injection mode chosen from the API server version');
    }
  } catch (e) {
    logger.error({ err: e }, 'cannot reach Kubernetes: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account (and check the API server is up)');
    return 1;
  }
  const operator = createOperator({
    kube,
    logger,
    registry,
    identity,
    watchNamespaces: config['watch-namespace'],
    leaseNamespace: config['lease-namespace'],
    leaseName: config['lease-name'],
    componentImage: config['component-image'],
    etcdImage: config['etcd-image'],
    version: APP_VERSION,
    // client-go's proportions (15 s / 10 s / 2 s): renew well before the lease lapses, retry often.
    leaseDurationSeconds: config['lease-ttl-seconds'],
    renewDeadlineSeconds: (config['lease-ttl-seconds'] * 2) / 3,
    retryPeriodSeconds: config['lease-ttl-seconds'] / 7.5,
    // The same bound for each cluster's shard controller lease in that cluster's etcd: after a
    // leader crash, shard assignment resumes about when reconciling does.
    clusterLeaseTtlSeconds: config['lease-ttl-seconds'],
    nativeSidecar,
    ...(config['webhook-port'] === 0
      ? {}
      : {
          webhook: {
            host,
            port: config['webhook-port'],
            namespace: config['lease-namespace'],
            secretName: config['webhook-secret'],
            configName: config['webhook-config-name'],
            serviceName: config['webhook-service'],
            timeoutSeconds: config['webhook-timeout-seconds'],
            ...(config['webhook-certificate'] === '' ? {} : { certManagerCertificate: config['webhook-certificate'] }),
            ...(config['webhook-url'] === '' ? {} : { url: config['webhook-url'], extraDnsNames: [new URL(config['webhook-url']).hostname] }),
          },
        }),
  });

  const admin = Fastify({ logger: false });
  admin.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));
  admin.get('/readyz', async (_req, reply) => {
    const ready = operator.ready();
    const body = !ready ? 'not ready: caches not synced\n' : operator.leading() ? 'ready: leader\n' : 'ready: standby\n';
    return reply.code(ready ? 200 : 503).type('text/plain').send(body);
  });
  admin.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await operator.metrics()));

  try {
    await admin.listen({ host, port: config['admin-port'] });
    const address = admin.server.address();
    const adminAddress = typeof address === 'object' && address !== null ? `${host}:${address.port}` : String(address);
    logger.info({ member: identity, admin: adminAddress }, 'admin endpoint up; syncing caches');
    await operator.start();
    logger.info({ member: identity, admin: adminAddress, lease: `${config['lease-namespace']}/${config['lease-name']}` }, 'skein ready');
  } catch (e) {
    logger.error({ err: e }, 'could not start the operator; check --admin-port, the kubeconfig, that the TracingCluster CRD is installed and that RBAC allows listing and watching it');
    await operator.stop().catch(() => undefined);
    await admin.close().catch(() => undefined);
    kube.close();
    return 1;
  }

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: releasing leadership');
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: config['shutdown-timeout-ms'] }, 'graceful shutdown timed out; exiting (the Lease lapses after its duration)');
        resolve(1);
      }, config['shutdown-timeout-ms']);
      timer.unref();
      (async () => {
        await operator.stop();
        await admin.close();
        kube.close();
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
