// Which TracingCluster, if any, a pod's agent reports to — decided from the pod's and its namespace's
// `tracing.skein.dev/inject` annotations and the TracingClusters that exist. Pure: the webhook
// gathers the annotations and the cluster list first (STYLE.md rule 1).
//
// A `refuse` is a pod that asked for injection and will not get it; the caller reports it as an
// Event (DESIGN.md §9), so its message must say what to change, not only what went wrong.

export const INJECT_ANNOTATION = 'tracing.skein.dev/inject';
export const INJECTED_ANNOTATION = 'tracing.skein.dev/injected';

export interface ClusterRef {
  readonly namespace: string;
  readonly name: string;
}

export type InjectionDecision =
  | { kind: 'inject'; cluster: ClusterRef; source: 'pod' | 'namespace' }
  | { kind: 'skip'; reason: 'not-requested' | 'opted-out' }
  | { kind: 'refuse'; reason: 'ambiguous' | 'unknown-cluster' | 'invalid-annotation'; message: string };

export interface ResolveInjectionInput {
  readonly podNamespace: string;
  readonly podAnnotations?: Readonly<Record<string, string>>;
  readonly namespaceAnnotations?: Readonly<Record<string, string>>;
  readonly clusters: readonly ClusterRef[];
}

// Namespaces are DNS labels; TracingCluster names are too in practice, because the Services derived
// from them must be.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const ACCEPTED_FORMS = '"true", "false", "<name>" or "<namespace>/<name>" (lowercase DNS labels)';

type Request = { kind: 'any' } | { kind: 'opt-out' } | { kind: 'name'; name: string } | { kind: 'ref'; ref: ClusterRef };

function parseValue(raw: string): Request | undefined {
  const value = raw.trim();
  if (value === 'true') return { kind: 'any' };
  if (value === 'false') return { kind: 'opt-out' };
  const parts = value.split('/');
  if (parts.length === 1 && DNS_LABEL.test(value)) return { kind: 'name', name: value };
  if (parts.length === 2 && DNS_LABEL.test(parts[0]!) && DNS_LABEL.test(parts[1]!)) {
    return { kind: 'ref', ref: { namespace: parts[0]!, name: parts[1]! } };
  }
  return undefined;
}

const formatRef = (c: ClusterRef): string => `${c.namespace}/${c.name}`;

function byRef(a: ClusterRef, b: ClusterRef): number {
  return formatRef(a) < formatRef(b) ? -1 : formatRef(a) > formatRef(b) ? 1 : 0;
}

// Event messages are capped by the apiserver (1 KiB note); a cluster with many TracingClusters must
// still get a readable one.
const MAX_LISTED = 5;
function list(items: readonly string[]): string {
  const shown = items.slice(0, MAX_LISTED).join(', ');
  return items.length > MAX_LISTED ? `${shown} and ${items.length - MAX_LISTED} more` : shown;
}

export function resolveInjection(input: ResolveInjectionInput): InjectionDecision {
  const { podNamespace, clusters } = input;
  const podValue = input.podAnnotations?.[INJECT_ANNOTATION];
  const namespaceValue = input.namespaceAnnotations?.[INJECT_ANNOTATION];
  // The pod's annotation wins whenever present — even when invalid — so a typo on the pod is
  // reported instead of silently falling back to the namespace's choice.
  const source = podValue !== undefined ? 'pod' : namespaceValue !== undefined ? 'namespace' : undefined;
  if (source === undefined) return { kind: 'skip', reason: 'not-requested' };
  const raw = (source === 'pod' ? podValue : namespaceValue)!;
  const where = source === 'pod' ? 'the pod' : `namespace ${podNamespace}`;

  const request = parseValue(raw);
  if (request === undefined) {
    return {
      kind: 'refuse',
      reason: 'invalid-annotation',
      message: `${INJECT_ANNOTATION} on ${where} is ${JSON.stringify(raw)}: set it to ${ACCEPTED_FORMS}`,
    };
  }

  switch (request.kind) {
    case 'opt-out':
      return { kind: 'skip', reason: 'opted-out' };
    case 'any':
      return resolveAny(podNamespace, clusters, source);
    case 'name':
      return resolveRef({ namespace: podNamespace, name: request.name }, clusters, source, where);
    case 'ref':
      return resolveRef(request.ref, clusters, source, where);
  }
}

function resolveAny(podNamespace: string, clusters: readonly ClusterRef[], source: 'pod' | 'namespace'): InjectionDecision {
  const local = clusters.filter((c) => c.namespace === podNamespace).sort(byRef);
  if (local.length === 1) return { kind: 'inject', cluster: local[0]!, source };
  if (local.length > 1) {
    return {
      kind: 'refuse',
      reason: 'ambiguous',
      message:
        `${local.length} TracingClusters in namespace ${podNamespace} (${list(local.map((c) => c.name))}): ` +
        `set ${INJECT_ANNOTATION} to one of their names`,
    };
  }
  const all = [...clusters].sort(byRef);
  if (all.length === 1) return { kind: 'inject', cluster: all[0]!, source };
  if (all.length === 0) {
    return {
      kind: 'refuse',
      reason: 'unknown-cluster',
      message: `no TracingCluster exists in the cluster: create one, or set ${INJECT_ANNOTATION} to "false"`,
    };
  }
  return {
    kind: 'refuse',
    reason: 'ambiguous',
    message:
      `no TracingCluster in namespace ${podNamespace} and ${all.length} in other namespaces (${list(all.map(formatRef))}): ` +
      `set ${INJECT_ANNOTATION} to one of them as <namespace>/<name>`,
  };
}

function resolveRef(ref: ClusterRef, clusters: readonly ClusterRef[], source: 'pod' | 'namespace', where: string): InjectionDecision {
  const found = clusters.find((c) => c.namespace === ref.namespace && c.name === ref.name);
  if (found !== undefined) return { kind: 'inject', cluster: found, source };
  // A bare name that exists elsewhere is the likeliest mistake: point at the qualified form.
  const sameName = clusters.filter((c) => c.name === ref.name).sort(byRef);
  const candidates = sameName.length > 0 ? sameName : [...clusters].sort(byRef);
  const hint =
    candidates.length === 0
      ? `create it, or set ${INJECT_ANNOTATION} to "false"`
      : candidates.length === 1
        ? `set ${INJECT_ANNOTATION} to ${formatRef(candidates[0]!)}`
        : `set ${INJECT_ANNOTATION} to one of ${list(candidates.map(formatRef))}`;
  return {
    kind: 'refuse',
    reason: 'unknown-cluster',
    message: `${INJECT_ANNOTATION} on ${where} names TracingCluster ${formatRef(ref)}, which does not exist: ${hint}`,
  };
}
