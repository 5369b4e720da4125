// e2e/k8s — the Kubernetes test environment: a local control plane (etcd 3.6, kube-apiserver,
// kube-controller-manager, kube-scheduler and KWOK fake nodes, built by scripts/ensure-k8s.sh and
// cached outside the repo) or, when KUBECONFIG is set, that cluster instead — so the same suites run
// here, on kind and on a real cluster. See README.md beside this file.
export { startKubeEnvironment, kubeEnvironmentFromEnv, KWOK_NODE_ANNOTATION, type KubeEnvironment, type StartKubeEnvironmentOptions } from './environment.js';
export { createKubeClient, KubeApiError, type KubeClient, type KubeResponse, type KubeRequestOptions } from './client.js';
export { buildKubeconfig, accessFromKubeconfigJson, type KubeAccess } from './kubeconfig.js';
export { findKubeBinaries, ENSURE_K8S_SCRIPT, type KubeBinaries } from './binaries.js';
export { eventually, type EventuallyOptions } from './eventually.js';
