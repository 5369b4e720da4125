// The app.kubernetes.io/* labels of every owned object (STYLE.md rule 3). Selector labels are the
// stable subset (name, instance, component): a StatefulSet's selector and its volume claim
// templates are immutable, so anything that changes over the cluster's life — the version above
// all — must never be part of them.
export const MANAGED_BY = 'skein-operator';
const APP = 'skein';

/** `storage`: the block storage volume claim (filesystem backend) shared by ingesters and queriers. */
export type Component = 'ingester' | 'querier' | 'etcd' | 'config' | 'storage';

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_VERSION = 'app.kubernetes.io/version';

/** Labels that pick one component's pods of one cluster: StatefulSet selectors, Services, PDBs. */
export function selectorLabels(clusterName: string, component: Component): Record<string, string> {
  return { [LABEL_NAME]: APP, [LABEL_INSTANCE]: clusterName, [LABEL_COMPONENT]: component };
}

/**
 * Labels of pod templates: the selector labels plus ownership, but no version. The pods' software
 * is the image; with a pinned spec.image an operator upgrade must not roll every ingester (each
 * roll is a round of shard handoffs) just to relabel it.
 */
export function podLabels(clusterName: string, component: Component): Record<string, string> {
  return { ...selectorLabels(clusterName, component), [LABEL_PART_OF]: APP, [LABEL_MANAGED_BY]: MANAGED_BY };
}

/** Labels of every owned object. */
export function commonLabels(clusterName: string, component: Component, version: string): Record<string, string> {
  return { ...podLabels(clusterName, component), [LABEL_VERSION]: labelValue(version) };
}

/**
 * The label selector (API string form) matching every object owned by one TracingCluster of this
 * operator: what the controller lists, per MANAGED_KINDS, to prune what is no longer desired.
 */
export function ownedObjectsSelector(clusterName: string): string {
  return `${LABEL_MANAGED_BY}=${MANAGED_BY},${LABEL_INSTANCE}=${clusterName}`;
}

/**
 * A version as a valid label value (≤ 63 of [A-Za-z0-9._-], alphanumeric at both ends): semver
 * build metadata (`1.2.0+abc`) is not, and an invalid label fails the apply of the whole object.
 */
function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}
