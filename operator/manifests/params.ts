// The facts the builders need, gathered by the controller before building (STYLE.md rule 1): the
// builders read nothing else, so the same params always give the same objects.
import type { TracingClusterSpec } from '../api/index.js';

export interface BuildParams {
  readonly cluster: {
    readonly name: string;
    readonly namespace: string;
    readonly uid: string;
    /** Fully defaulted (validateTracingClusterSpec's output). */
    readonly spec: TracingClusterSpec;
  };
  /** Resolved image of the Skein components: spec.image ?? the operator's default. */
  readonly image: string;
  /** Image of the managed etcd members, e.g. quay.io/coreos/etcd:v3.6.16. */
  readonly etcdImage: string;
  /** Operator/app version for the app.kubernetes.io/version label. */
  readonly version: string;
  /**
   * Managed etcd members the cluster was bootstrapped with (may differ from spec: member count is
   * fixed after creation; the controller passes the bootstrapped count).
   */
  readonly etcdReplicas?: number;
}
