// The restricted Pod Security Standard for every pod the operator runs, so the cluster can live in
// a namespace that enforces `restricted`. Pods get no API token and no service links: they never
// talk to the apiserver, and a Service named e.g. `skein-metrics` in the namespace would otherwise
// inject SKEIN_METRICS_PORT=tcp://… and collide with a real flag's env var.

/** uid/gid of the `node` user in the Skein image (Dockerfile `USER node`), owner of /var/lib/skein. */
export const SKEIN_USER_ID = 1000;
/** The distroless `nonroot` user; etcd writes only to its data volume, which fsGroup makes writable. */
export const ETCD_USER_ID = 65532;

/**
 * Extra pod security context of the Skein pods (ingester, querier), whose volumes (a WAL, the
 * shared blocks claim) fill with many files: with fsGroup set, the kubelet would otherwise walk and
 * chown every file of a volume at each pod start — on the blocks claim, from every pod at once.
 * Every file there is written by SKEIN_USER_ID, so a matching volume root means nothing to fix.
 */
export const SKEIN_POD_SECURITY = { fsGroupChangePolicy: 'OnRootMismatch' } as const;

export interface PodSecurity {
  readonly pod: Record<string, unknown>;
  readonly container: Record<string, unknown>;
  /** Fields of the pod spec that go with them. */
  readonly podSpec: { readonly automountServiceAccountToken: false; readonly enableServiceLinks: false };
}

export function buildPodSecurity(userId: number): PodSecurity {
  return {
    pod: { runAsNonRoot: true, runAsUser: userId, runAsGroup: userId, fsGroup: userId, seccompProfile: { type: 'RuntimeDefault' } },
    container: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    podSpec: { automountServiceAccountToken: false, enableServiceLinks: false },
  };
}
