// The TracingCluster status as a pure function of facts the controller gathered first (STYLE.md
// rule 1): observed workloads, shard ownership read from etcd, and the problems met while
// reconciling. The only memory is the previous status, which keeps lastTransitionTime stable, decides
// which transitions deserve an Event, and tells a cluster still converging on its spec from one that
// was Ready and then lost something (the difference between Progressing and Degraded below).
import { ConditionReasons, type Condition, type ConditionReason, type TracingClusterStatus } from '../api/index.js';

/** One StatefulSet: spec.replicas and its status (readyReplicas, updatedReplicas, currentReplicas, revisions). */
export interface WorkloadFacts {
  desired: number;
  ready: number;
  updated: number;
  current: number;
  /** metadata.generation of the StatefulSet. */
  generation: number;
  /** status.observedGeneration of the StatefulSet. */
  observedGeneration: number;
  currentRevision?: string;
  updateRevision?: string;
}

export interface ShardFacts {
  /** spec.shards. */
  desired: number;
  /** Shards in the partition map in etcd; undefined when there is no map yet. */
  mapShardCount?: number;
  mapVersion?: number;
  /** Shards of the current map with an owner. */
  owned: number;
  /** Handoffs in flight. */
  handoffs: number;
}

export interface StatusFacts {
  /** metadata.generation. */
  generation: number;
  /** The status as last written: keeps lastTransitionTime, decides events and convergence. */
  previous?: TracingClusterStatus;
  /** RFC 3339, injected so the computation stays pure. */
  now: string;
  /** Terminal: the spec cannot be built, nothing of this generation was applied. */
  invalidSpec?: readonly { path: string; message: string }[];
  /** An apply or prune failed (the controller retries with backoff). */
  reconcileError?: string;
  /** E.g. the S3 Secret is missing or lacks a key. */
  storageProblem?: string;
  /** The coordinator is unreachable. */
  etcdProblem?: string;
  /** Undefined when the StatefulSet was not found. */
  ingesters?: WorkloadFacts;
  queriers?: WorkloadFacts;
  /** Managed etcd only; a managed etcd whose StatefulSet is missing is passed as zero replicas. */
  etcd?: WorkloadFacts;
  /** Undefined when etcd has not been read. */
  shards?: ShardFacts;
  endpoints?: { otlpGrpc: string; otlpHttp: string; query: string };
  injectionMissed?: number;
  /**
   * Block manifest summary (the lifecycle controller's view). When undefined the previous one is
   * kept (it is gathered less often); the last compaction and retention times never go back, since
   * the blocks that show them are eventually collected from the manifest.
   */
  blocks?: TracingClusterStatus['blocks'];
}

export interface StatusEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/**
 * Degraded's reasons; for a cluster that was Ready and lost capacity they include Ready's words, so
 * a killed ingester is reported under the same searchable word on both conditions.
 */
export type DegradedReason = ConditionReason<'Degraded'>;
type CapacityReason = Exclude<ConditionReason<'Ready'>, 'AllReady' | 'Pending'>;

const R = ConditionReasons;
// metav1.Condition.message is capped at 32768 characters; an invalid spec can have many issues.
const MAX_LISTED_ISSUES = 20;

interface Problem<Reason extends string> {
  readonly reason: Reason;
  readonly message: string;
}

interface Component {
  readonly noun: string;
  readonly facts: WorkloadFacts | undefined;
  readonly missing: string;
  readonly reason: CapacityReason;
}

export function computeStatus(facts: StatusFacts): { status: TracingClusterStatus; events: StatusEvent[] } {
  const { generation, previous } = facts;
  const invalid = facts.invalidSpec !== undefined && facts.invalidSpec.length > 0;
  const components: Component[] = [
    ...(facts.etcd === undefined ? [] : [{ noun: 'etcd members', facts: facts.etcd, missing: 'the etcd StatefulSet does not exist yet', reason: R.Ready.EtcdNotReady }]),
    { noun: 'ingesters', facts: facts.ingesters, missing: 'the ingester StatefulSet does not exist yet', reason: R.Ready.IngestersNotReady },
    { noun: 'queriers', facts: facts.queriers, missing: 'the querier StatefulSet does not exist yet', reason: R.Ready.QueriersNotReady },
  ];
  const pending = facts.ingesters === undefined && facts.queriers === undefined && facts.etcd === undefined;

  // --- Ready: every failing part is in the message; the reason is the first in priority order. ---
  const notReady: Problem<ConditionReason<'Ready'>>[] = [];
  if (pending) notReady.push({ reason: R.Ready.Pending, message: pendingMessage(facts, invalid) });
  if (facts.etcdProblem !== undefined) notReady.push({ reason: R.Ready.EtcdNotReady, message: `etcd unreachable: ${facts.etcdProblem}` });
  const partFor = (c: Component): Problem<CapacityReason> | undefined => {
    if (c.facts === undefined) return pending ? undefined : { reason: c.reason, message: c.missing };
    return workloadReady(c.facts) ? undefined : { reason: c.reason, message: workloadText(c.noun, c.facts) };
  };
  const etcdPart = components[0]!.reason === R.Ready.EtcdNotReady ? partFor(components[0]!) : undefined;
  if (etcdPart !== undefined) notReady.push(etcdPart);
  const ingesterPart = partFor(components.find((c) => c.reason === R.Ready.IngestersNotReady)!);
  if (ingesterPart !== undefined) notReady.push(ingesterPart);
  const shardPart = shardsNotReady(facts.shards, facts.etcdProblem !== undefined || pending, invalid);
  if (shardPart !== undefined) notReady.push({ reason: R.Ready.ShardsUnowned, message: shardPart });
  const querierPart = partFor(components.find((c) => c.reason === R.Ready.QueriersNotReady)!);
  if (querierPart !== undefined) notReady.push(querierPart);
  const ready: Problem<ConditionReason<'Ready'>> =
    notReady.length === 0 ? { reason: R.Ready.AllReady, message: allReadyText(components, facts.shards) } : { reason: notReady[0]!.reason, message: sentence(notReady.map((p) => p.message).join('; ')) };

  // --- Progressing ---
  // A cluster keeps converging on a new generation (created, scaled, re-templated) until it is
  // Ready once; after that, a pod below desired is lost capacity (Degraded), not progress. The
  // memory is the previous status: a changed generation, or Progressing=RollingOut not yet Ready.
  // Recreating a deleted pod dips updatedReplicas without changing any revision or generation;
  // treating that dip as a rollout would hide the failure, so below-desired counts as a rollout
  // only while converging. An invalid spec applies nothing, so nothing of it converges.
  const converging = !invalid && convergingFrom(previous, generation);
  const below = (c: Component): boolean => (c.facts === undefined ? !pending : !workloadReady(c.facts));
  const rollingOut = components.some((c) => c.facts !== undefined && templateRollout(c.facts)) || (converging && (pending || components.some(below)));
  const rolling: string[] = [];
  if (rollingOut) {
    // Every lagging component is listed, whatever started the rollout, so the message does not
    // depend on which memory (template or convergence) kept it going.
    for (const c of components) {
      if (c.facts === undefined) {
        if (!pending) rolling.push(`${c.noun}: ${c.missing}`);
      } else if (templateRollout(c.facts) || below(c)) {
        rolling.push(`${c.noun}: ${c.facts.updated}/${c.facts.desired} updated, ${c.facts.ready}/${c.facts.desired} ready`);
      }
    }
    if (pending) rolling.push(facts.reconcileError === undefined ? 'creating the workloads' : 'waiting for the first apply to succeed');
  }
  const progress: Problem<ConditionReason<'Progressing'>>[] = [];
  if (rolling.length > 0) progress.push({ reason: R.Progressing.RollingOut, message: `rolling out ${rolling.join('; ')}` });
  const sh = facts.shards;
  if (sh !== undefined && !invalid && sh.mapShardCount !== sh.desired) {
    progress.push({
      reason: R.Progressing.ScalingShards,
      message: sh.mapShardCount === undefined ? `no partition map yet: the shard controller writes one with ${sh.desired} shards` : `the partition map has ${sh.mapShardCount} shards, spec.shards is ${sh.desired}`,
    });
  }
  if (sh !== undefined && sh.handoffs > 0) progress.push({ reason: R.Progressing.Rebalancing, message: `${plural(sh.handoffs, 'shard handoff')} in flight` });
  const progressing: Problem<ConditionReason<'Progressing'>> =
    progress.length > 0
      ? { reason: progress[0]!.reason, message: sentence(progress.map((p) => p.message).join('; ')) }
      : { reason: R.Progressing.UpToDate, message: invalid ? `Generation ${generation} was not applied because the spec is invalid (see Degraded); the cluster keeps running the last valid spec.` : `The cluster matches generation ${generation}.` };

  // --- Degraded: something a person should look at. Capacity loss counts only once converged. ---
  const degraded: Problem<DegradedReason>[] = [];
  if (invalid) degraded.push({ reason: R.Degraded.InvalidSpec, message: invalidSpecText(facts.invalidSpec!) });
  if (facts.reconcileError !== undefined) degraded.push({ reason: R.Degraded.ReconcileFailed, message: `Applying the desired objects failed (retried with backoff): ${facts.reconcileError}` });
  if (facts.storageProblem !== undefined) degraded.push({ reason: R.Degraded.StorageUnavailable, message: `Block storage is unavailable: ${facts.storageProblem}` });
  if (facts.etcdProblem !== undefined) degraded.push({ reason: R.Degraded.EtcdUnavailable, message: `etcd is unreachable, so ingesters cannot take or renew shard leases: ${facts.etcdProblem}` });
  if (!pending && progress.every((p) => p.reason === R.Progressing.Rebalancing)) {
    const lost: Problem<CapacityReason>[] = [];
    for (const c of components) {
      const part = partFor(c);
      if (part !== undefined) lost.push(part);
    }
    // A handoff leaves its shard briefly unowned by design (the old owner releases first).
    if (sh?.mapShardCount !== undefined && sh.mapShardCount - sh.owned > sh.handoffs) lost.push({ reason: R.Ready.ShardsUnowned, message: unownedText(sh.mapShardCount - sh.owned, sh.mapShardCount) });
    lost.sort((a, b) => CAPACITY_ORDER.indexOf(a.reason) - CAPACITY_ORDER.indexOf(b.reason));
    if (lost.length > 0) degraded.push({ reason: lost[0]!.reason, message: `The cluster was ready and lost capacity outside any rollout: ${lost.map((p) => p.message).join('; ')}. Check the pods' events and logs; this clears once every pod is ready and every shard owned.` });
  }
  if (facts.injectionMissed !== undefined && facts.injectionMissed > 0) {
    degraded.push({ reason: R.Degraded.InjectionMissed, message: `${plural(facts.injectionMissed, 'pod')} asked for the agent sidecar but ${facts.injectionMissed === 1 ? 'was' : 'were'} created without it; restart their workloads.` });
  }
  const degradedTop: Problem<DegradedReason> = degraded.length > 0 ? { reason: degraded[0]!.reason, message: degraded.map((p) => p.message).join(' ') } : { reason: R.Degraded.AsExpected, message: 'No problems found.' };

  const prevConditions = previous?.conditions ?? [];
  const condition = (type: Condition['type'], status: 'True' | 'False', p: Problem<string>): Condition => {
    const before = prevConditions.find((c) => c.type === type);
    return { type, status, observedGeneration: generation, lastTransitionTime: before?.status === status ? before.lastTransitionTime : facts.now, reason: p.reason, message: p.message };
  };
  const conditions = [
    condition('Ready', notReady.length === 0 ? 'True' : 'False', ready),
    condition('Progressing', progress.length > 0 ? 'True' : 'False', progressing),
    condition('Degraded', degraded.length > 0 ? 'True' : 'False', degradedTop),
  ];

  const status: TracingClusterStatus = { observedGeneration: generation, conditions };
  // status.shards.desired is "spec.shards as last applied to the partition map" (the API's words):
  // the map's count, which trails spec.shards while scaling.
  if (sh !== undefined) status.shards = { ...(sh.mapShardCount === undefined ? {} : { desired: sh.mapShardCount }), owned: sh.owned, ...(sh.mapVersion === undefined ? {} : { mapVersion: sh.mapVersion }) };
  if (facts.ingesters !== undefined) status.ingesters = { replicas: facts.ingesters.desired, ready: facts.ingesters.ready };
  if (facts.queriers !== undefined) status.queriers = { replicas: facts.queriers.desired, ready: facts.queriers.ready };
  if (facts.etcd !== undefined) status.etcd = { replicas: facts.etcd.desired, ready: facts.etcd.ready };
  if (facts.endpoints !== undefined) status.endpoints = { ...facts.endpoints };
  const blocks = mergeBlocks(previous?.blocks, facts.blocks);
  if (blocks !== undefined) status.blocks = blocks;
  if (facts.injectionMissed !== undefined) status.injection = { missedPods: facts.injectionMissed };

  return { status, events: computeEvents(prevConditions, conditions) };
}

type BlockStatus = NonNullable<TracingClusterStatus['blocks']>;

/** Counts from `next`; each time the later of the two (a summary may no longer show an old event). */
function mergeBlocks(previous: BlockStatus | undefined, next: BlockStatus | undefined): BlockStatus | undefined {
  if (next === undefined) return previous === undefined ? undefined : { ...previous };
  const later = (a: string | undefined, b: string | undefined): string | undefined => (a === undefined ? b : b === undefined ? a : Date.parse(b) >= Date.parse(a) ? b : a);
  const out: BlockStatus = { ...next };
  const compaction = later(previous?.lastCompactionTime, next.lastCompactionTime);
  const retention = later(previous?.lastRetentionTime, next.lastRetentionTime);
  if (compaction !== undefined) out.lastCompactionTime = compaction;
  if (retention !== undefined) out.lastRetentionTime = retention;
  return out;
}

const CAPACITY_ORDER: readonly CapacityReason[] = [R.Ready.EtcdNotReady, R.Ready.IngestersNotReady, R.Ready.ShardsUnowned, R.Ready.QueriersNotReady];

function computeEvents(before: readonly Condition[], after: readonly Condition[]): StatusEvent[] {
  const events: StatusEvent[] = [];
  const was = (type: string) => before.find((c) => c.type === type)?.status;
  const ready = after.find((c) => c.type === 'Ready')!;
  const degraded = after.find((c) => c.type === 'Degraded')!;
  if (ready.status === 'True' && was('Ready') !== 'True') events.push({ type: 'Normal', reason: 'ClusterReady', message: ready.message });
  // A new cluster starts not ready; saying so is noise. Only losing readiness is news.
  if (ready.status === 'False' && was('Ready') === 'True') events.push({ type: 'Warning', reason: ready.reason, message: ready.message });
  if (degraded.status === 'True' && was('Degraded') !== 'True') events.push({ type: 'Warning', reason: degraded.reason, message: degraded.message });
  if (degraded.status === 'False' && was('Degraded') === 'True') events.push({ type: 'Normal', reason: 'Recovered', message: 'The cluster is no longer degraded.' });
  return events;
}

function convergingFrom(previous: TracingClusterStatus | undefined, generation: number): boolean {
  if (previous === undefined || previous.observedGeneration !== generation) return true;
  const of = (type: string) => previous.conditions?.find((c) => c.type === type);
  const progressing = of('Progressing');
  return of('Ready')?.status !== 'True' && progressing?.status === 'True' && progressing.reason === R.Progressing.RollingOut;
}

function workloadReady(w: WorkloadFacts): boolean {
  return w.ready >= w.desired && w.updated >= w.desired && w.observedGeneration >= w.generation;
}

/** A new pod template being rolled out: revisions differ, pods lag the template, or the StatefulSet controller has not seen its spec. */
function templateRollout(w: WorkloadFacts): boolean {
  const revisions = w.currentRevision !== undefined && w.updateRevision !== undefined && w.currentRevision !== w.updateRevision;
  return revisions || w.observedGeneration < w.generation;
}

function workloadText(noun: string, w: WorkloadFacts): string {
  let text = `${w.ready}/${w.desired} ${noun} ready`;
  if (w.updated < w.desired) text += `, ${w.updated}/${w.desired} updated`;
  if (w.observedGeneration < w.generation) text += ', latest spec not yet observed by the StatefulSet controller';
  return text;
}

function shardsNotReady(sh: ShardFacts | undefined, explained: boolean, invalid: boolean): string | undefined {
  if (sh === undefined) return explained ? undefined : 'shard ownership has not been read from etcd yet';
  if (sh.mapShardCount === undefined) return `no partition map in etcd yet (spec.shards is ${sh.desired})`;
  const parts: string[] = [];
  // With an invalid spec, spec.shards is not the target: the running map is judged on its own.
  if (!invalid && sh.mapShardCount !== sh.desired) parts.push(`the partition map has ${sh.mapShardCount} shards, spec.shards is ${sh.desired}`);
  if (sh.owned < sh.mapShardCount) parts.push(unownedText(sh.mapShardCount - sh.owned, sh.mapShardCount));
  return parts.length === 0 ? undefined : parts.join('; ');
}

function unownedText(unowned: number, total: number): string {
  return `${unowned} of ${total} shards ${unowned === 1 ? 'has' : 'have'} no owner: writes to them fail over until an ingester takes them`;
}

function allReadyText(components: readonly Component[], sh: ShardFacts | undefined): string {
  const parts = components.map((c) => `${c.facts!.ready}/${c.facts!.desired} ${c.noun}`);
  const map = sh?.mapVersion === undefined ? '' : ` (map version ${sh.mapVersion})`;
  return `${parts.join(', ')} ready; ${sh!.owned}/${sh!.mapShardCount!} shards owned${map}.`;
}

function pendingMessage(facts: StatusFacts, invalid: boolean): string {
  if (invalid) return 'nothing was built: the spec is invalid (see Degraded)';
  if (facts.reconcileError !== undefined) return 'waiting for the first apply to succeed (see Degraded)';
  return 'waiting for the first reconcile to create the workloads';
}

function invalidSpecText(issues: readonly { path: string; message: string }[]): string {
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map((i) => `${i.path}: ${i.message}`);
  const more = issues.length > MAX_LISTED_ISSUES ? `; and ${issues.length - MAX_LISTED_ISSUES} more` : '';
  return `The spec cannot be applied; change these fields and apply again: ${listed.join('; ')}${more}. Nothing is retried until the spec changes; the cluster keeps running the last valid spec.`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function sentence(text: string): string {
  return `${text}.`;
}
