// The Kubernetes object shapes the builders return, imported from operator/kube in this one place.
export type { KindRef, KubeObject, ObjectMeta } from '../kube/index.js';
