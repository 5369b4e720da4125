// The webhook's serving material, kept in one Secret and mirrored into the caBundle of the
// MutatingWebhookConfiguration (DESIGN.md §9: no cert-manager required).
//
// The leader reconciles: it creates the Secret, renews and rotates what certs.ts's computeRotation
// says, one step per reconcile, and patches caBundle after every step. Every replica serves what
// current() reads. Two waits (settleMs) keep each replica's serving certificate trusted while the
// others catch up:
// - a serving certificate from a new CA is issued only once that CA has been in the webhook
//   configuration's caBundle for settleMs (the apiserver watches webhook configurations; its view
//   lags by a moment);
// - an old CA leaves the bundle only settleMs after the last serving certificate it signed was
//   replaced, so replicas that re-read the Secret less often than that still present a trusted one.
// The steps are recorded in the Secret itself (its content plus two timestamp annotations), so a
// new leader continues where the old one stopped; each write is optimistic (resourceVersion).
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isConflict, type KubeClient, type KubeObject, type ObjectRef } from '../kube/index.js';
import { LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_NAME, LABEL_PART_OF, MANAGED_BY } from '../manifests/index.js';
import {
  certificateInfo,
  computeRotation,
  computeServiceDnsNames,
  createCa,
  isSignedBy,
  issueServingCert,
  joinPemBundle,
  splitPemBundle,
  type RotationStep,
} from './certs.js';

export const SECRET_KEYS = {
  cert: 'tls.crt',
  key: 'tls.key',
  ca: 'ca.crt',
  caKey: 'ca.key',
  /** The PEMs the webhook configuration's caBundle must hold: the CA, and its predecessor mid-rotation. */
  caBundle: 'ca-bundle.crt',
} as const;

export const BUNDLE_CHANGED_AT_ANNOTATION = 'tracing.skein.dev/ca-bundle-changed-at';
export const SERVING_ISSUED_AT_ANNOTATION = 'tracing.skein.dev/serving-issued-at';
/** When the webhook configuration's caBundle was last written to match the Secret. */
export const BUNDLE_PUBLISHED_AT_ANNOTATION = 'tracing.skein.dev/ca-bundle-published-at';

export const CERT_MANAGER_DEFAULTS = Object.freeze({
  caCommonName: 'skein-webhook-ca',
  caValidityDays: 5 * 365,
  servingValidityDays: 365,
  renewBeforeFraction: 1 / 3,
  /** Longer than replicas take to re-read the Secret and the apiserver to see a new caBundle. */
  settleMs: 2 * 60_000,
  /** reconcile() asks to be called again at least this often, to notice edits and clock jumps. */
  maxRequeueMs: 60 * 60_000,
  conflictRetries: 5,
});

export interface CertManagerLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface CertManagerOptions {
  readonly kube: KubeClient;
  /** Where the Secret and the webhook Service live (the operator's namespace). */
  readonly namespace: string;
  readonly secretName: string;
  readonly webhookConfigName: string;
  readonly serviceName: string;
  readonly now?: () => Date;
  readonly logger?: CertManagerLogger;
  /** More SANs (tests: `127.0.0.1`, `localhost`). */
  readonly dnsNamesExtra?: readonly string[];
  readonly caCommonName?: string;
  readonly caValidityDays?: number;
  readonly servingValidityDays?: number;
  readonly renewBeforeFraction?: number;
  readonly settleMs?: number;
}

export interface ServingMaterial {
  readonly certPem: string;
  readonly keyPem: string;
  readonly caBundlePem: string;
}

export interface CertReconcileResult {
  /** The Secret's certificates or bundle changed in this call. */
  readonly rotated: boolean;
  /** What changed: the Secret was created, replaced (unreadable), or one rotation step ran. */
  readonly step?: 'create' | 'recreate' | RotationStep;
  /** The webhook configuration's caBundle was written in this call. */
  readonly caBundlePatched: boolean;
  /** False while the MutatingWebhookConfiguration does not exist (nothing to patch yet). */
  readonly webhookConfigFound: boolean;
  /** Call reconcile again within this long: a step is waiting, or a renewal falls due. */
  readonly requeueAfterMs: number;
}

export interface CertManager {
  /** Leader only: create or advance the Secret, then make caBundle match it. */
  reconcile(): Promise<CertReconcileResult>;
  /** Any replica: the serving material in the Secret, or undefined before the leader made it. */
  current(): Promise<ServingMaterial | undefined>;
}

/** The Secret's content, parsed and checked. */
interface CertState {
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
  readonly caKeyPem: string;
  readonly bundlePem: string;
  readonly bundleChangedAt: Date;
  readonly bundlePublishedAt: Date;
  readonly servingIssuedAt: Date;
}

const decode = (data: Record<string, unknown>, key: string): string | undefined => {
  const v = data[key];
  return typeof v === 'string' && v !== '' ? Buffer.from(v, 'base64').toString('utf8') : undefined;
};
const encode = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const dateOf = (s: string | undefined): Date => {
  const t = s === undefined ? NaN : Date.parse(s);
  return new Date(Number.isNaN(t) ? 0 : t);
};

/** The Secret's state, or undefined when it is incomplete or inconsistent (then it is replaced). */
function parseState(secret: KubeObject): CertState | undefined {
  const data = (secret['data'] ?? {}) as Record<string, unknown>;
  const certPem = decode(data, SECRET_KEYS.cert);
  const keyPem = decode(data, SECRET_KEYS.key);
  const caPem = decode(data, SECRET_KEYS.ca);
  const caKeyPem = decode(data, SECRET_KEYS.caKey);
  const storedBundle = decode(data, SECRET_KEYS.caBundle) ?? caPem;
  if (certPem === undefined || keyPem === undefined || caPem === undefined || caKeyPem === undefined || storedBundle === undefined) return undefined;
  let bundlePem: string;
  try {
    // The bundle always holds the current CA (a hand-edited one may not): repaired on the next write.
    bundlePem = joinPemBundle([storedBundle, caPem]);
    const ca = new X509Certificate(caPem);
    if (!ca.ca || !ca.checkPrivateKey(createPrivateKey(caKeyPem))) return undefined;
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) return undefined;
  } catch {
    return undefined;
  }
  const annotations = secret.metadata.annotations ?? {};
  return {
    certPem,
    keyPem,
    caPem,
    caKeyPem,
    bundlePem,
    bundleChangedAt: dateOf(annotations[BUNDLE_CHANGED_AT_ANNOTATION]),
    bundlePublishedAt: dateOf(annotations[BUNDLE_PUBLISHED_AT_ANNOTATION]),
    servingIssuedAt: dateOf(annotations[SERVING_ISSUED_AT_ANNOTATION]),
  };
}

const fingerprints = (bundlePem: string): Set<string> => new Set(splitPemBundle(bundlePem).map((p) => certificateInfo(p).fingerprint));

interface WebhookEntry {
  readonly clientConfig?: { readonly caBundle?: string };
  readonly [field: string]: unknown;
}
const webhooksOf = (config: KubeObject): WebhookEntry[] => (Array.isArray(config['webhooks']) ? (config['webhooks'] as WebhookEntry[]) : []);

/** True when every webhook of `config` trusts `caPem` (vacuously when there is no config yet: no admission uses it). */
function webhookTrusts(config: KubeObject | undefined, caPem: string): boolean {
  if (config === undefined) return true;
  const want = certificateInfo(caPem).fingerprint;
  return webhooksOf(config).every((w) => {
    const b64 = w.clientConfig?.caBundle;
    if (b64 === undefined || b64 === '') return false;
    try {
      return fingerprints(Buffer.from(b64, 'base64').toString('utf8')).has(want);
    } catch {
      return false;
    }
  });
}

export function createCertManager(options: CertManagerOptions): CertManager {
  const settings = { ...CERT_MANAGER_DEFAULTS, ...definedOnly(options) };
  const { kube, namespace } = options;
  const clock = options.now ?? ((): Date => new Date());
  const logger = options.logger;
  const dnsNames = [...new Set([...computeServiceDnsNames(options.serviceName, namespace), ...(options.dnsNamesExtra ?? [])])];
  const secretRef: ObjectRef = { apiVersion: 'v1', kind: 'Secret', namespace, name: options.secretName };
  const configRef: ObjectRef = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', name: options.webhookConfigName };

  const issueServing = (caPem: string, caKeyPem: string, now: Date): ReturnType<typeof issueServingCert> =>
    issueServingCert({ ca: { certPem: caPem, keyPem: caKeyPem }, dnsNames, validityDays: settings.servingValidityDays, now });

  async function bootstrap(now: Date): Promise<CertState> {
    const ca = await createCa({ commonName: settings.caCommonName, validityDays: settings.caValidityDays, now });
    const serving = await issueServing(ca.certPem, ca.keyPem, now);
    return { ...serving, caPem: ca.certPem, caKeyPem: ca.keyPem, bundlePem: ca.certPem, bundleChangedAt: now, bundlePublishedAt: new Date(0), servingIssuedAt: now };
  }

  function toSecret(state: CertState, base: KubeObject | undefined): KubeObject {
    const meta = base?.metadata;
    return {
      ...(base ?? {}),
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        ...(meta ?? {}),
        name: options.secretName,
        namespace,
        labels: { ...(meta?.labels ?? {}), [LABEL_NAME]: 'skein', [LABEL_COMPONENT]: 'webhook', [LABEL_PART_OF]: 'skein', [LABEL_MANAGED_BY]: MANAGED_BY },
        annotations: {
          ...(meta?.annotations ?? {}),
          [BUNDLE_CHANGED_AT_ANNOTATION]: state.bundleChangedAt.toISOString(),
          [SERVING_ISSUED_AT_ANNOTATION]: state.servingIssuedAt.toISOString(),
          ...(state.bundlePublishedAt.getTime() > 0 ? { [BUNDLE_PUBLISHED_AT_ANNOTATION]: state.bundlePublishedAt.toISOString() } : {}),
        },
      },
      type: 'kubernetes.io/tls',
      data: {
        [SECRET_KEYS.cert]: encode(state.certPem),
        [SECRET_KEYS.key]: encode(state.keyPem),
        [SECRET_KEYS.ca]: encode(state.caPem),
        [SECRET_KEYS.caKey]: encode(state.caKeyPem),
        [SECRET_KEYS.caBundle]: encode(state.bundlePem),
      },
    };
  }

  /** How long `step` must still wait (0: go). */
  function waitFor(step: RotationStep, state: CertState, config: KubeObject | undefined, now: Date): number {
    const since = (t: Date): number => Math.max(0, t.getTime() + settings.settleMs - now.getTime());
    switch (step) {
      case 'add-ca':
        return 0;
      case 'issue-serving': {
        // Waiting protects a serving certificate that still works; a broken one has nothing to protect.
        const serving = certificateInfo(state.certPem);
        const working =
          serving.notBefore <= now && now < serving.notAfter && splitPemBundle(state.bundlePem).some((ca) => isSignedBy(state.certPem, ca));
        if (!working) return 0;
        if (!webhookTrusts(config, state.caPem)) return settings.settleMs;
        // Counted from when the caBundle was written, not when the Secret changed: a leader that
        // crashed between the two published the bundle only on its successor's first reconcile.
        return config === undefined ? since(state.bundleChangedAt) : since(state.bundlePublishedAt);
      }
      case 'drop-old-cas':
        return since(state.servingIssuedAt);
    }
  }

  async function runStep(step: RotationStep, state: CertState, now: Date): Promise<CertState> {
    switch (step) {
      case 'add-ca': {
        const ca = await createCa({ commonName: settings.caCommonName, validityDays: settings.caValidityDays, now });
        // The new CA goes last: the bundle lists CAs oldest first.
        return { ...state, caPem: ca.certPem, caKeyPem: ca.keyPem, bundlePem: joinPemBundle([state.bundlePem, ca.certPem]), bundleChangedAt: now };
      }
      case 'issue-serving':
        return { ...state, ...(await issueServing(state.caPem, state.caKeyPem, now)), servingIssuedAt: now };
      case 'drop-old-cas':
        return { ...state, bundlePem: joinPemBundle([state.caPem]), bundleChangedAt: now };
    }
  }

  /** Time until the first certificate falls due for renewal (never negative). */
  function untilDue(state: CertState, now: Date): number {
    const dueAt = (pem: string): number => {
      const { notBefore, notAfter } = certificateInfo(pem);
      const lifetime = notAfter.getTime() - notBefore.getTime();
      return notAfter.getTime() - lifetime * settings.renewBeforeFraction;
    };
    return Math.max(0, Math.min(dueAt(state.caPem), dueAt(state.certPem)) - now.getTime());
  }

  /** Makes every webhook's caBundle the Secret's bundle: merge patch with the list read, guarded by resourceVersion. */
  async function patchCaBundle(bundlePem: string): Promise<{ found: boolean; patched: boolean }> {
    const caBundle = encode(bundlePem);
    for (let attempt = 1; ; attempt++) {
      const config = await kube.get(configRef);
      if (config === undefined) return { found: false, patched: false };
      const webhooks = webhooksOf(config);
      if (webhooks.every((w) => w.clientConfig?.caBundle === caBundle)) return { found: true, patched: false };
      const patch = {
        metadata: { resourceVersion: config.metadata.resourceVersion },
        // A merge patch replaces lists whole: send every webhook, changing only its caBundle.
        webhooks: webhooks.map((w) => ({ ...w, clientConfig: { ...(w.clientConfig ?? {}), caBundle } })),
      };
      try {
        await kube.mergePatch(configRef, patch);
        return { found: true, patched: true };
      } catch (e) {
        if (!isConflict(e) || attempt >= settings.conflictRetries) throw e;
      }
    }
  }

  async function reconcile(): Promise<CertReconcileResult> {
    const now = clock();
    let secret = await kube.get(secretRef);
    let step: CertReconcileResult['step'];
    let state: CertState | undefined;
    let requeueAfterMs: number | undefined;

    if (secret === undefined) {
      state = await bootstrap(now);
      try {
        await kube.create(toSecret(state, undefined));
        step = 'create';
        logger?.info({ secret: options.secretName, dnsNames }, 'created webhook CA and serving certificate');
      } catch (e) {
        // Another leader (an old one still finishing) created it first: use what it stored.
        if (!isConflict(e)) throw e;
        secret = await kube.get(secretRef);
        if (secret === undefined) throw e;
        state = undefined;
      }
    }
    if (step === undefined && secret !== undefined) {
      state = parseState(secret);
      if (state === undefined) {
        logger?.warn({ secret: options.secretName }, 'webhook certificate Secret is incomplete or inconsistent; replacing it with a new CA');
        state = await bootstrap(now);
        await kube.replace(toSecret(state, secret));
        step = 'recreate';
      } else {
        const config = await kube.get(configRef);
        const plan = computeRotation({ caPem: state.caPem, servingPem: state.certPem, bundlePem: state.bundlePem, dnsNames, now, renewBeforeFraction: settings.renewBeforeFraction });
        const next = plan.steps[0];
        if (next !== undefined) {
          const wait = waitFor(next, state, config, now);
          if (wait > 0) {
            requeueAfterMs = wait;
          } else {
            state = await runStep(next, state, now);
            await kube.replace(toSecret(state, secret));
            step = next;
            logger?.info({ secret: options.secretName, action: plan.action, step: next, remaining: plan.steps.slice(1), reason: plan.reason }, 'webhook certificate rotation step');
            if (plan.steps.length > 1) requeueAfterMs = waitFor(plan.steps[1]!, state, undefined, now);
          }
        }
      }
    }
    const material = state!;
    const { found, patched } = await patchCaBundle(material.bundlePem);
    if (patched) {
      // Recorded for the wait before issuing from a new CA (see waitFor).
      await kube.mergePatch(secretRef, { metadata: { annotations: { [BUNDLE_PUBLISHED_AT_ANNOTATION]: clock().toISOString() } } });
    }
    return {
      rotated: step !== undefined,
      ...(step !== undefined ? { step } : {}),
      caBundlePatched: patched,
      webhookConfigFound: found,
      requeueAfterMs: Math.min(requeueAfterMs ?? untilDue(material, now), settings.maxRequeueMs),
    };
  }

  async function current(): Promise<ServingMaterial | undefined> {
    const secret = await kube.get(secretRef);
    if (secret === undefined) return undefined;
    const data = (secret['data'] ?? {}) as Record<string, unknown>;
    const certPem = decode(data, SECRET_KEYS.cert);
    const keyPem = decode(data, SECRET_KEYS.key);
    const caBundlePem = decode(data, SECRET_KEYS.caBundle) ?? decode(data, SECRET_KEYS.ca);
    if (certPem === undefined || keyPem === undefined || caBundlePem === undefined) return undefined;
    return { certPem, keyPem, caBundlePem };
  }

  return { reconcile, current };
}

/** The options that were given (undefined ones must not override defaults). */
function definedOnly(options: CertManagerOptions): Partial<typeof CERT_MANAGER_DEFAULTS> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(CERT_MANAGER_DEFAULTS)) {
    const v = (options as unknown as Record<string, unknown>)[key];
    if (v !== undefined) out[key] = v;
  }
  return out as Partial<typeof CERT_MANAGER_DEFAULTS>;
}
