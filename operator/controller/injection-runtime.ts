// The running side of sidecar injection (issue 7): every operator replica serves the admission
// webhook (so a rollout or a lost leader does not stop admissions), reading its serving certificate
// from the Secret the leader keeps; the leader alone creates and rotates that certificate, applies
// the MutatingWebhookConfiguration with the matching caBundle, and reports pods that asked for the
// agent and run without it (Warning Event on each pod, counts per TracingCluster for its status).
import type { Logger } from '../../common/log/index.js';
import { counter, gauge, type Registry } from '../../common/metrics/index.js';
import type { KubeClient, KubeObject } from '../kube/index.js';
import {
  buildMutatingWebhookConfiguration,
  certificateInfo,
  createCertManager,
  DEFAULT_RENEW_BEFORE_FRACTION,
  isDueForRenewal,
  startWebhookServer,
  SYSTEM_NAMESPACES,
  type CertManager,
  type ServingMaterial,
  type WebhookServer,
} from '../webhook/index.js';
import type { EventRecorder } from './events.js';
import { computeAdmission, computeMissedInjections, type InjectionSettings, type InjectionView } from './injection.js';

export interface WebhookSettings {
  readonly host: string;
  /** HTTPS port of the admission server in every replica. */
  readonly port: number;
  /** Namespace of the Secret and the Service (the operator's own). */
  readonly namespace: string;
  readonly secretName: string;
  readonly configName: string;
  readonly serviceName: string;
  /** Out of cluster (tests, local runs): the apiserver calls this URL instead of the Service. */
  readonly url?: string;
  readonly timeoutSeconds: number;
  /** Extra SANs of the serving certificate (127.0.0.1 for a URL webhook on this machine). */
  readonly extraDnsNames?: readonly string[];
  /**
   * A cert-manager Certificate (in `namespace`) that writes the Secret instead of the operator:
   * the operator then only reads tls.crt/tls.key from it, and cert-manager's CA injector fills the
   * caBundle (annotation cert-manager.io/inject-ca-from). Absent: the operator runs its own CA.
   */
  readonly certManagerCertificate?: string;
}

export const CERT_MANAGER_INJECT_ANNOTATION = 'cert-manager.io/inject-ca-from';

export interface InjectionRuntimeOptions {
  readonly kube: KubeClient;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly view: InjectionView;
  readonly settings: InjectionSettings;
  readonly webhook: WebhookSettings;
  /** Namespaces whose pods the reporter scans; empty = all. */
  readonly watchNamespaces: readonly string[];
  readonly events: EventRecorder;
  /** A TracingCluster's missed-pod count changed: reconcile it (status). */
  readonly onMissedChanged: (key: string) => void;
  readonly reportIntervalMs?: number;
  readonly tlsRefreshMs?: number;
  readonly fieldManager: string;
}

export interface InjectionRuntime {
  /** Starts the admission server (every replica). */
  start(): Promise<void>;
  /** Leader work until `signal` aborts: certificates, webhook configuration, reporting. */
  lead(signal: AbortSignal): Promise<void>;
  /** Pods of this TracingCluster (`ns/name`) that asked for the agent and run without it; undefined before the first scan. */
  missed(key: string): number | undefined;
  readonly port: number | undefined;
  stop(): Promise<void>;
}

const MAX_REPORTED = 10_000;

export function createInjectionRuntime(options: InjectionRuntimeOptions): InjectionRuntime {
  const { kube, logger, webhook } = options;
  const log = logger.child({ component: 'injection' });
  const certs: CertManager = createCertManager({
    kube,
    namespace: webhook.namespace,
    secretName: webhook.secretName,
    webhookConfigName: webhook.configName,
    serviceName: webhook.serviceName,
    logger: log,
    ...(webhook.extraDnsNames === undefined ? {} : { dnsNamesExtra: webhook.extraDnsNames }),
  });
  const missedGauge = gauge(options.registry, 'skein_operator_injection_missed_pods', 'Pods that asked for the agent sidecar and run without it, by TracingCluster (empty cluster: ambiguous or unknown target).', ['tracingcluster']);
  const reported = counter(options.registry, 'skein_operator_injection_reports_total', 'Warning Events recorded on pods that asked for the agent sidecar and run without it, by reason.', ['reason']);
  let material: ServingMaterial | undefined;
  let server: WebhookServer | undefined;
  let refresh: ReturnType<typeof setInterval> | undefined;
  let missedByCluster: Map<string, number> | undefined;
  const reportedPods = new Set<string>();

  const external = webhook.certManagerCertificate;
  /** The serving material of a Secret written by cert-manager (kubernetes.io/tls + ca.crt). */
  const readExternal = async (): Promise<ServingMaterial | undefined> => {
    const secret = await kube.get({ apiVersion: 'v1', kind: 'Secret', namespace: webhook.namespace, name: webhook.secretName });
    const data = (secret as { data?: Record<string, string> } | undefined)?.data;
    const text = (k: string): string | undefined => (data?.[k] === undefined ? undefined : Buffer.from(data[k], 'base64').toString('utf8'));
    const certPem = text('tls.crt');
    const keyPem = text('tls.key');
    if (certPem === undefined || keyPem === undefined) return undefined;
    return { certPem, keyPem, caBundlePem: text('ca.crt') ?? '' };
  };
  const loadTls = async (): Promise<void> => {
    try {
      material = (external !== undefined ? await readExternal() : await certs.current()) ?? material;
    } catch (e) {
      log.warn({ err: e }, 'could not read the webhook certificate Secret; serving with the previous one');
    }
  };

  const applyWebhookConfiguration = async (): Promise<void> => {
    // With cert-manager its CA injector owns caBundle; naming it here too would make two writers fight.
    const bundle = external !== undefined ? undefined : material?.caBundlePem;
    const built = buildMutatingWebhookConfiguration({
      name: webhook.configName,
      ...(webhook.url !== undefined ? { url: webhook.url } : { service: { namespace: webhook.namespace, name: webhook.serviceName, port: 443, path: '/mutate' } }),
      ...(bundle === undefined ? {} : { caBundlePem: bundle }),
      excludedNamespaces: [...SYSTEM_NAMESPACES, webhook.namespace],
      timeoutSeconds: webhook.timeoutSeconds,
    });
    const config =
      external === undefined ? built : { ...built, metadata: { ...built.metadata, annotations: { ...built.metadata.annotations, [CERT_MANAGER_INJECT_ANNOTATION]: `${webhook.namespace}/${external}` } } };
    await kube.apply(config, { fieldManager: options.fieldManager, force: true });
  };

  const report = async (): Promise<void> => {
    const namespaces = options.watchNamespaces.length === 0 ? [undefined] : options.watchNamespaces;
    const pods: KubeObject[] = [];
    for (const ns of namespaces) pods.push(...(await kube.list({ apiVersion: 'v1', kind: 'Pod' }, ns === undefined ? {} : { namespace: ns })).items);
    const missed = computeMissedInjections(pods, options.view);
    const counts = new Map<string, number>();
    for (const c of options.view.clusters()) counts.set(`${c.ref.namespace}/${c.ref.name}`, 0);
    for (const m of missed) {
      const key = m.cluster === undefined ? '' : `${m.cluster.namespace}/${m.cluster.name}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const uid = m.pod.metadata.uid ?? `${m.pod.metadata.namespace}/${m.pod.metadata.name}`;
      if (reportedPods.has(uid)) continue;
      if (reportedPods.size >= MAX_REPORTED) reportedPods.clear();
      reportedPods.add(uid);
      reported.inc({ reason: m.reason });
      await options.events.record({ ...m.pod, apiVersion: 'v1', kind: 'Pod' }, 'Warning', m.reason, m.message);
    }
    const before = missedByCluster;
    missedByCluster = counts;
    missedGauge.reset();
    for (const [key, n] of counts) missedGauge.set({ tracingcluster: key }, n);
    for (const [key, n] of counts) if (key !== '' && before?.get(key) !== n) options.onMissedChanged(key);
    if (missed.length > 0) log.info({ missed: missed.length }, 'pods asked for the agent sidecar and run without it (Events recorded on each)');
  };

  return {
    async start() {
      await loadTls();
      refresh = setInterval(() => void loadTls(), options.tlsRefreshMs ?? 10_000);
      refresh.unref();
      server = await startWebhookServer({
        host: webhook.host,
        port: webhook.port,
        tls: () => material,
        mutate: (request) => Promise.resolve(computeAdmission(request, options.view, options.settings)),
        logger: log,
        registry: options.registry,
      });
      log.info({ port: server.port }, 'admission webhook serving');
    },
    async lead(signal) {
      let nextCerts = 0;
      let nextReport = 0;
      while (!signal.aborted) {
        const now = Date.now();
        // The Secret is re-read every few seconds: a serving certificate that became due (or was
        // replaced by hand) is renewed now rather than at the next scheduled check.
        if (external === undefined && material !== undefined && dueForRenewal(material.certPem, new Date(now))) nextCerts = Math.min(nextCerts, now);
        try {
          if (now >= nextCerts) {
            if (external === undefined) {
              const result = await certs.reconcile();
              if (result.rotated) log.info({ step: result.step }, 'webhook certificate updated');
              nextCerts = Date.now() + Math.min(result.requeueAfterMs ?? 3_600_000, 3_600_000);
            } else {
              nextCerts = Date.now() + 600_000; // cert-manager rotates; re-apply the configuration now and then
            }
            await loadTls();
            await applyWebhookConfiguration();
          }
          if (now >= nextReport) {
            await report();
            nextReport = Date.now() + (options.reportIntervalMs ?? 15_000);
          }
        } catch (e) {
          log.warn({ err: e }, 'injection upkeep failed; retrying');
          nextCerts = Math.min(nextCerts, Date.now() + 5000);
          nextReport = Math.min(nextReport, Date.now() + 5000);
        }
        await sleep(Math.max(100, Math.min(nextCerts, nextReport, Date.now() + 2000) - Date.now()), signal);
      }
    },
    missed(key) {
      return missedByCluster === undefined ? undefined : (missedByCluster.get(key) ?? 0);
    },
    get port() {
      return server?.port;
    },
    async stop() {
      if (refresh !== undefined) clearInterval(refresh);
      await server?.close();
    },
  };
}

function dueForRenewal(certPem: string, now: Date): boolean {
  try {
    return isDueForRenewal(certificateInfo(certPem), now, DEFAULT_RENEW_BEFORE_FRACTION);
  } catch {
    return true; // unreadable: the cert manager replaces it
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
