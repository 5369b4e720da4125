// Sidecar injection as the operator runs it (issue 7, DESIGN.md §9): from the cached TracingClusters
// and namespaces to the webhook's answer for one pod, and — for the reporter — which existing pods
// asked for the agent and did not get it. Pure: the caches are handed in as functions and lists.
import { parseQuantity, type TracingCluster } from '../api/index.js';
import type { KubeObject } from '../kube/index.js';
import { clusterEndpoints } from '../manifests/index.js';
import {
  computeJsonPatch,
  INJECTED_ANNOTATION,
  mutatePod,
  resolveInjection,
  type AdmissionOutcome,
  type AdmissionRequest,
  type AgentInjection,
  type ClusterRef,
} from '../webhook/index.js';
import { computeAgentConfig } from './cluster-target.js';

/** A TracingCluster from the cache, validated (spec defaulted). */
export interface CachedCluster {
  readonly ref: ClusterRef;
  readonly tc: TracingCluster;
}

export interface InjectionSettings {
  /** Image when neither spec.agent.image nor spec.image is set (the operator's own). */
  readonly componentImage: string;
  /** Inject as a native sidecar (init container, restartPolicy Always; Kubernetes ≥ 1.29). */
  readonly nativeSidecar: boolean;
}

/**
 * Requests and limits of an agent whose cluster does not set spec.agent.resources: the agent's RSS
 * at 10,000 spans/s was 150-170 MiB with its default 32 MiB queue (bench/results, issue 6).
 */
export const DEFAULT_AGENT_RESOURCES = { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '256Mi' } } as const;

export function computeAgentInjection(cluster: CachedCluster, settings: InjectionSettings): AgentInjection {
  const spec = cluster.tc.spec;
  const queueMaxBytes = Math.floor(parseQuantity(spec.agent.queueMaxBytes) ?? 32 * 2 ** 20);
  return {
    cluster: cluster.ref,
    image: spec.agent.image ?? spec.image ?? settings.componentImage,
    ...(spec.imagePullPolicy === undefined ? {} : { imagePullPolicy: spec.imagePullPolicy }),
    resources: spec.agent.resources ?? { requests: { ...DEFAULT_AGENT_RESOURCES.requests }, limits: { ...DEFAULT_AGENT_RESOURCES.limits } },
    ingestEndpoint: clusterEndpoints(cluster.ref.name, cluster.ref.namespace).otlpGrpc,
    agentConfig: computeAgentConfig(spec),
    queueMaxBytes,
    nativeSidecar: settings.nativeSidecar,
  };
}

export interface InjectionView {
  readonly clusters: () => readonly CachedCluster[];
  readonly namespaceAnnotations: (namespace: string) => Readonly<Record<string, string>> | undefined;
}

/** The webhook's decision for one admission request (pods, CREATE). */
export function computeAdmission(request: AdmissionRequest, view: InjectionView, settings: InjectionSettings): AdmissionOutcome {
  const pod = request.object;
  if (pod === undefined || pod.kind !== 'Pod' || request.operation !== 'CREATE') return {};
  const namespace = request.namespace ?? pod.metadata.namespace ?? 'default';
  const clusters = view.clusters();
  const decision = resolveInjection({
    podNamespace: namespace,
    ...(pod.metadata.annotations === undefined ? {} : { podAnnotations: pod.metadata.annotations }),
    ...namespaceAnnotationsOf(view, namespace),
    clusters: clusters.map((c) => c.ref),
  });
  if (decision.kind === 'skip') return {};
  if (decision.kind === 'refuse') return { warnings: [`skein: sidecar not injected: ${decision.message}`] };
  const cluster = clusters.find((c) => c.ref.namespace === decision.cluster.namespace && c.ref.name === decision.cluster.name)!;
  const after = mutatePod(pod, computeAgentInjection(cluster, settings));
  const patch = computeJsonPatch(pod, after);
  return patch.length === 0 ? {} : { patch };
}

export interface MissedInjection {
  readonly pod: KubeObject;
  /** The cluster it should have joined; undefined when the target itself is the problem. */
  readonly cluster: ClusterRef | undefined;
  readonly reason: 'SidecarNotInjected' | 'SidecarTargetInvalid';
  readonly message: string;
}

/**
 * Pods that asked for the agent (pod or namespace annotation) and run without it: created while the
 * webhook was unreachable (it fails open), or whose target is ambiguous, unknown or misspelt.
 * Finished pods are left out (nothing to restart).
 */
export function computeMissedInjections(pods: readonly KubeObject[], view: InjectionView): MissedInjection[] {
  const clusters = view.clusters().map((c) => c.ref);
  const missed: MissedInjection[] = [];
  for (const pod of pods) {
    const annotations = pod.metadata.annotations ?? {};
    if (annotations[INJECTED_ANNOTATION] !== undefined) continue;
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Succeeded' || phase === 'Failed' || pod.metadata.deletionTimestamp !== undefined) continue;
    const namespace = pod.metadata.namespace ?? 'default';
    const decision = resolveInjection({ podNamespace: namespace, podAnnotations: annotations, ...namespaceAnnotationsOf(view, namespace), clusters });
    if (decision.kind === 'skip') continue;
    if (decision.kind === 'refuse') {
      missed.push({ pod, cluster: undefined, reason: 'SidecarTargetInvalid', message: `The agent sidecar was not injected: ${decision.message}` });
      continue;
    }
    const owner = pod.metadata.ownerReferences?.find((r) => r.controller === true);
    const fix = owner === undefined ? 'delete and re-create the pod' : `restart its workload (e.g. kubectl rollout restart, or delete the pod so its ${owner.kind} re-creates it)`;
    missed.push({
      pod,
      cluster: decision.cluster,
      reason: 'SidecarNotInjected',
      message: `This pod asked for the agent sidecar of TracingCluster ${decision.cluster.namespace}/${decision.cluster.name} but was created without it (the injection webhook was unreachable, and it fails open). Spans from it do not reach the cluster: ${fix} now that the webhook is back.`,
    });
  }
  return missed;
}

function namespaceAnnotationsOf(view: InjectionView, namespace: string): { namespaceAnnotations?: Readonly<Record<string, string>> } {
  const a = view.namespaceAnnotations(namespace);
  return a === undefined ? {} : { namespaceAnnotations: a };
}

/**
 * Native sidecars (init containers with restartPolicy Always) are on by default from Kubernetes
 * 1.29 (beta) and GA in 1.33; older API servers drop the field and the sidecar would block the pod
 * as a never-ending init container. `minor` may carry a vendor suffix ("29+").
 */
export function supportsNativeSidecars(version: { major: string; minor: string }): boolean {
  const major = Number.parseInt(version.major, 10);
  const minor = Number.parseInt(version.minor, 10);
  if (!Number.isFinite(major) || !Number.isFinite(minor)) return false;
  return major > 1 || (major === 1 && minor >= 29);
}
