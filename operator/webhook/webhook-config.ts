// The MutatingWebhookConfiguration that routes pod creation to the sidecar injector. Pure.
//
// Every choice leans towards never blocking a pod (DESIGN.md §9): failurePolicy Ignore (a down or
// slow webhook admits the pod unchanged; the operator reports it later), the system namespaces and
// the operator's own excluded (the operator must be able to start while its webhook cannot
// answer), and a short timeout.
import type { KubeObject } from '../kube/index.js';
import { LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_NAME, LABEL_PART_OF, MANAGED_BY } from '../manifests/index.js';

export const WEBHOOK_NAME = 'inject.tracing.skein.dev';
export const DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 5;
/** Never mutated in: the control plane's own namespaces. Callers add the operator's namespace. */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

export interface WebhookServiceRef {
  readonly namespace: string;
  readonly name: string;
  readonly port: number;
  readonly path: string;
}

export interface BuildMutatingWebhookConfigurationParams {
  readonly name: string;
  /** In a cluster: the webhook Service. Exactly one of service and url. */
  readonly service?: WebhookServiceRef;
  /** Outside a cluster (tests): e.g. `https://127.0.0.1:<port>/mutate`. */
  readonly url?: string;
  /** PEM CA certificate(s) the apiserver trusts for the webhook; omitted until the CA exists. */
  readonly caBundlePem?: string;
  readonly excludedNamespaces: readonly string[];
  readonly timeoutSeconds?: number;
}

export function buildMutatingWebhookConfiguration(params: BuildMutatingWebhookConfigurationParams): KubeObject {
  if ((params.service === undefined) === (params.url === undefined)) {
    throw new TypeError('buildMutatingWebhookConfiguration: give exactly one of service and url');
  }
  const timeoutSeconds = params.timeoutSeconds ?? DEFAULT_WEBHOOK_TIMEOUT_SECONDS;
  // The apiserver accepts 1..30; anything longer would hold pod creation hostage to the webhook.
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30) {
    throw new RangeError(`timeoutSeconds must be an integer in 1..30, got ${timeoutSeconds}`);
  }
  const excluded = [...new Set(params.excludedNamespaces)].sort();
  const clientConfig: Record<string, unknown> =
    params.service !== undefined
      ? { service: { namespace: params.service.namespace, name: params.service.name, port: params.service.port, path: params.service.path } }
      : { url: params.url };
  if (params.caBundlePem !== undefined) clientConfig['caBundle'] = Buffer.from(params.caBundlePem).toString('base64');

  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: params.name,
      labels: { [LABEL_NAME]: 'skein', [LABEL_COMPONENT]: 'webhook', [LABEL_PART_OF]: 'skein', [LABEL_MANAGED_BY]: MANAGED_BY },
    },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig,
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        // The sidecar must see the pod as other mutating webhooks leave it (e.g. added containers).
        reinvocationPolicy: 'IfNeeded',
        admissionReviewVersions: ['v1'],
        matchPolicy: 'Equivalent',
        timeoutSeconds,
        // kubernetes.io/metadata.name is set by the apiserver on every namespace (1.21+), so this
        // needs no labelling by users.
        namespaceSelector: {
          matchExpressions: excluded.length > 0 ? [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: excluded }] : [],
        },
        objectSelector: {},
      },
    ],
  };
}
