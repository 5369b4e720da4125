// operator/webhook — sidecar injection: the admission server and its pure core. The core decides
// whether and where a pod's agent reports (resolve-target.ts, from the `tracing.skein.dev/inject`
// annotations of the pod and its namespace), rewrites the pod (mutate-pod.ts, idempotent) and turns
// the before/after pair into the admission response's JSON patch (json-patch.ts). Around it: the
// webhook's own CA and serving certificate kept in a Secret and rotated without cert-manager
// (certs.ts, cert-manager.ts), the fail-open HTTPS admission server (server.ts) and the
// MutatingWebhookConfiguration (webhook-config.ts).

// Pure injection core.
export {
  INJECT_ANNOTATION,
  INJECTED_ANNOTATION,
  resolveInjection,
  type ClusterRef,
  type InjectionDecision,
  type ResolveInjectionInput,
} from './resolve-target.js';
export { AGENT_CONTAINER_NAME, AGENT_PORTS, buildAgentContainer, mutatePod, type AgentInjection } from './mutate-pod.js';
export { computeServiceName, SERVICE_NAME_LABEL } from './service-name.js';
export { applyJsonPatch, computeJsonPatch, escapePointerToken, jsonEqual, type JsonPatchOperation } from './json-patch.js';

// The webhook's own PKI, its Secret, the HTTPS admission server and the MutatingWebhookConfiguration.
export {
  certificateInfo,
  computeRotation,
  computeServiceDnsNames,
  createCa,
  isDueForRenewal,
  isSignedBy,
  issueServingCert,
  joinPemBundle,
  splitPemBundle,
  DEFAULT_RENEW_BEFORE_FRACTION,
  type CertKeyPair,
  type CertificateInfo,
  type ComputeRotationInput,
  type CreateCaOptions,
  type IssueServingCertOptions,
  type RotationAction,
  type RotationPlan,
  type RotationStep,
} from './certs.js';
export {
  createCertManager,
  CERT_MANAGER_DEFAULTS,
  SECRET_KEYS,
  BUNDLE_CHANGED_AT_ANNOTATION,
  BUNDLE_PUBLISHED_AT_ANNOTATION,
  SERVING_ISSUED_AT_ANNOTATION,
  type CertManager,
  type CertManagerLogger,
  type CertManagerOptions,
  type CertReconcileResult,
  type ServingMaterial,
} from './cert-manager.js';
export { startWebhookServer, WEBHOOK_SERVER_DEFAULTS, type AdmissionOutcome, type AdmissionRequest, type MutateFn, type TlsMaterial, type WebhookServer, type WebhookServerOptions } from './server.js';
export { buildMutatingWebhookConfiguration, DEFAULT_WEBHOOK_TIMEOUT_SECONDS, SYSTEM_NAMESPACES, WEBHOOK_NAME, type BuildMutatingWebhookConfigurationParams, type WebhookServiceRef } from './webhook-config.js';
