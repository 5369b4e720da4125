// The OTEL_SERVICE_NAME an injected pod gets when its containers set none: the workload's name, so
// every replica of a Deployment reports as one service rather than one per pod.
import type { KubeObject } from '../kube/index.js';

export const SERVICE_NAME_LABEL = 'app.kubernetes.io/name';
const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

// The CronJob controller names Jobs `<cronjob>-<scheduled time in minutes since the epoch>`, which
// has 8 digits until the 22nd century. Requiring 8 keeps hand-named Jobs such as `migrate-2` whole.
const CRONJOB_SUFFIX = /-\d{8,}$/;

/**
 * The service name for `pod`, or undefined when it has neither a name nor a generateName (a bare
 * pod template) — then the SDK's own default applies.
 */
export function computeServiceName(pod: KubeObject): string | undefined {
  const meta = pod.metadata;
  const labels = meta.labels ?? {};
  const label = labels[SERVICE_NAME_LABEL]?.trim();
  if (label !== undefined && label !== '') return label;

  const owner = meta.ownerReferences?.find((o) => o.controller === true);
  if (owner !== undefined && owner.name !== '') {
    switch (owner.kind) {
      case 'ReplicaSet': {
        // Only a Deployment's ReplicaSets carry the hash; a bare ReplicaSet is the workload itself.
        const hash = labels[POD_TEMPLATE_HASH_LABEL];
        const suffix = hash === undefined || hash === '' ? undefined : `-${hash}`;
        return suffix !== undefined && owner.name.endsWith(suffix) && owner.name.length > suffix.length
          ? owner.name.slice(0, -suffix.length)
          : owner.name;
      }
      case 'Job':
        return owner.name.replace(CRONJOB_SUFFIX, '') || owner.name;
      case 'StatefulSet':
      case 'DaemonSet':
        return owner.name;
    }
  }

  // At CREATE the apiserver has not yet expanded generateName, so `name` may be absent or empty
  // whatever ObjectMeta's type says.
  const name = (meta as { name?: string }).name;
  if (name !== undefined && name !== '') return name;
  const generateName = (meta as { generateName?: string }).generateName?.replace(/-+$/, '');
  return generateName !== undefined && generateName !== '' ? generateName : undefined;
}
