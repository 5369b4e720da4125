// computeStatus over the situations an operator meets: each reason of each condition, the
// convergence-versus-degradation memory, transition times, events, and a property that the
// computation is a fixed point of its own output (so re-reconciling an unchanged cluster writes the
// same status and emits nothing).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConditionReasons, ConditionSchema, TracingClusterStatusSchema, type Condition, type TracingClusterStatus } from '../api/index.js';
import { computeStatus, type ShardFacts, type StatusFacts, type WorkloadFacts } from './index.js';

const T0 = '2025-01-01T00:00:00Z';
const T1 = '2025-01-01T00:05:00Z';

function wl(desired: number, ready = desired, extra: Partial<WorkloadFacts> = {}): WorkloadFacts {
  return { desired, ready, updated: desired, current: desired, generation: 1, observedGeneration: 1, currentRevision: 'r1', updateRevision: 'r1', ...extra };
}
const shards = (extra: Partial<ShardFacts> = {}): ShardFacts => ({ desired: 6, mapShardCount: 6, mapVersion: 3, owned: 6, handoffs: 0, ...extra });

const healthy: StatusFacts = {
  generation: 1,
  now: T0,
  ingesters: wl(3),
  queriers: wl(2),
  shards: shards(),
  endpoints: { otlpGrpc: 'demo-ingester.ns.svc:4317', otlpHttp: 'http://demo-ingester.ns.svc:4318', query: 'http://demo-querier.ns.svc:3200' },
};
/** A cluster that has been Ready: the previous status every "lost something" case starts from. */
const settled = computeStatus(healthy).status;
/** A cluster still coming up (never Ready). */
const starting = computeStatus({ ...healthy, ingesters: wl(3, 0) }).status;

const cond = (s: TracingClusterStatus, type: string): Condition => s.conditions!.find((c) => c.type === type)!;
type Expect = readonly [status: 'True' | 'False', reason: string, message?: string];

interface Case {
  readonly name: string;
  readonly facts: StatusFacts;
  readonly ready: Expect;
  readonly progressing: Expect;
  readonly degraded: Expect;
}

const cases: Case[] = [
  {
    name: 'everything ready',
    facts: healthy,
    ready: ['True', 'AllReady', '3/3 ingesters, 2/2 queriers ready; 6/6 shards owned (map version 3)'],
    progressing: ['False', 'UpToDate'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'nothing observed yet',
    facts: { generation: 1, now: T0 },
    ready: ['False', 'Pending', 'waiting for the first reconcile'],
    progressing: ['True', 'RollingOut', 'creating the workloads'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'managed etcd starting',
    facts: { ...healthy, previous: undefined, etcd: wl(3, 1) },
    ready: ['False', 'EtcdNotReady', '1/3 etcd members ready'],
    progressing: ['True', 'RollingOut', 'etcd members: 3/3 updated, 1/3 ready'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'etcd unreachable',
    facts: { ...healthy, previous: settled, etcdProblem: 'dial tcp 10.0.0.1:2379: connection refused', shards: undefined },
    ready: ['False', 'EtcdNotReady', 'etcd unreachable: dial tcp'],
    progressing: ['False', 'UpToDate'],
    degraded: ['True', 'EtcdUnavailable', 'cannot take or renew shard leases: dial tcp'],
  },
  {
    name: 'ingesters starting',
    facts: { ...healthy, ingesters: wl(3, 2) },
    ready: ['False', 'IngestersNotReady', '2/3 ingesters ready'],
    progressing: ['True', 'RollingOut', 'ingesters: 3/3 updated, 2/3 ready'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'still starting on the next reconcile (memory: Progressing=RollingOut, never Ready)',
    facts: { ...healthy, previous: starting, ingesters: wl(3, 2) },
    ready: ['False', 'IngestersNotReady', '2/3 ingesters ready'],
    progressing: ['True', 'RollingOut'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'an ingester killed after the cluster was ready',
    facts: { ...healthy, previous: settled, ingesters: wl(3, 2), shards: shards({ owned: 2 }) },
    ready: ['False', 'IngestersNotReady', '2/3 ingesters ready; 4 of 6 shards have no owner: writes to them fail over until an ingester takes them'],
    progressing: ['False', 'UpToDate'],
    degraded: ['True', 'IngestersNotReady', 'lost capacity outside any rollout: 2/3 ingesters ready; 4 of 6 shards have no owner'],
  },
  {
    name: 'a deleted ingester pod being recreated is not a rollout',
    facts: { ...healthy, previous: settled, ingesters: wl(3, 2, { updated: 2, current: 2 }) },
    ready: ['False', 'IngestersNotReady', '2/3 ingesters ready, 2/3 updated'],
    progressing: ['False', 'UpToDate'],
    degraded: ['True', 'IngestersNotReady'],
  },
  {
    name: 'shards unowned while every ingester is ready',
    facts: { ...healthy, previous: settled, shards: shards({ owned: 2 }) },
    ready: ['False', 'ShardsUnowned', '4 of 6 shards have no owner: writes to them fail over until an ingester takes them'],
    progressing: ['False', 'UpToDate'],
    degraded: ['True', 'ShardsUnowned', '4 of 6 shards have no owner'],
  },
  {
    name: 'a shard unowned only while it is handed off',
    facts: { ...healthy, previous: settled, shards: shards({ owned: 5, handoffs: 1 }) },
    ready: ['False', 'ShardsUnowned', '1 of 6 shards has no owner'],
    progressing: ['True', 'Rebalancing', '1 shard handoff in flight'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'shard ownership not read',
    facts: { ...healthy, shards: undefined },
    ready: ['False', 'ShardsUnowned', 'not been read from etcd'],
    progressing: ['False', 'UpToDate'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'a querier lost after the cluster was ready',
    facts: { ...healthy, previous: settled, queriers: wl(2, 1) },
    ready: ['False', 'QueriersNotReady', '1/2 queriers ready'],
    progressing: ['False', 'UpToDate'],
    degraded: ['True', 'QueriersNotReady', '1/2 queriers ready'],
  },
  {
    name: 'rolling out a new ingester template',
    facts: { ...healthy, previous: settled, ingesters: wl(3, 2, { updated: 1, current: 2, updateRevision: 'r2' }), shards: shards({ owned: 4 }) },
    ready: ['False', 'IngestersNotReady', '2/3 ingesters ready, 1/3 updated'],
    progressing: ['True', 'RollingOut', 'ingesters: 1/3 updated, 2/3 ready'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'StatefulSet has not observed its spec',
    facts: { ...healthy, previous: settled, queriers: wl(2, 2, { generation: 4, observedGeneration: 3 }) },
    ready: ['False', 'QueriersNotReady', 'latest spec not yet observed'],
    progressing: ['True', 'RollingOut', 'queriers'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'replicas scaled up (new generation)',
    facts: { ...healthy, generation: 2, previous: settled, ingesters: wl(5, 3, { updated: 3 }) },
    ready: ['False', 'IngestersNotReady', '3/5 ingesters ready, 3/5 updated'],
    progressing: ['True', 'RollingOut', 'ingesters: 3/5 updated, 3/5 ready'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'spec.shards raised',
    facts: { ...healthy, generation: 2, previous: settled, shards: shards({ desired: 8 }) },
    ready: ['False', 'ShardsUnowned', 'the partition map has 6 shards, spec.shards is 8'],
    progressing: ['True', 'ScalingShards', 'the partition map has 6 shards, spec.shards is 8'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'no partition map yet',
    facts: { ...healthy, shards: { desired: 6, owned: 0, handoffs: 0 } },
    ready: ['False', 'ShardsUnowned', 'no partition map in etcd yet'],
    progressing: ['True', 'ScalingShards', 'writes one with 6 shards'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'rebalancing a ready cluster',
    facts: { ...healthy, previous: settled, shards: shards({ handoffs: 2 }) },
    ready: ['True', 'AllReady'],
    progressing: ['True', 'Rebalancing', '2 shard handoffs in flight'],
    degraded: ['False', 'AsExpected'],
  },
  {
    name: 'an apply failed',
    facts: { ...healthy, previous: settled, reconcileError: 'statefulsets.apps "demo-ingester" is forbidden' },
    ready: ['True', 'AllReady'],
    progressing: ['False', 'UpToDate'],
    degraded: ['True', 'ReconcileFailed', 'is forbidden'],
  },
  {
    name: 'the S3 Secret lacks a key',
    facts: { ...healthy, previous: settled, storageProblem: 'Secret ns/s3 has no key "secretAccessKey"' },
    ready: ['True', 'AllReady'],
    progressing: ['False', 'UpToDate'],
    degraded: ['True', 'StorageUnavailable', 'Secret ns/s3 has no key "secretAccessKey"'],
  },
  {
    name: 'pods missed injection',
    facts: { ...healthy, previous: settled, injectionMissed: 3 },
    ready: ['True', 'AllReady'],
    progressing: ['False', 'UpToDate'],
    degraded: ['True', 'InjectionMissed', '3 pods asked for the agent sidecar but were created without it; restart their workloads'],
  },
  {
    name: 'invalid spec on a new cluster',
    facts: { generation: 1, now: T0, invalidSpec: [{ path: 'spec.storage.s3.secretRef.name', message: 'must be set when storage.type is s3' }] },
    ready: ['False', 'Pending', 'nothing was built: the spec is invalid'],
    progressing: ['False', 'UpToDate', 'was not applied'],
    degraded: ['True', 'InvalidSpec', 'change these fields and apply again: spec.storage.s3.secretRef.name: must be set when storage.type is s3'],
  },
  {
    name: 'invalid spec on a running cluster: the cluster keeps serving, nothing converges',
    facts: { ...healthy, generation: 2, previous: settled, shards: shards({ desired: 5000 }), invalidSpec: [{ path: 'spec.shards', message: 'must be at most 4096' }] },
    ready: ['True', 'AllReady'],
    progressing: ['False', 'UpToDate', 'Generation 2 was not applied because the spec is invalid'],
    degraded: ['True', 'InvalidSpec', 'spec.shards: must be at most 4096'],
  },
  {
    name: 'several problems: the reason is the first, the message has them all',
    facts: { ...healthy, previous: settled, reconcileError: 'conflict', storageProblem: 'bucket unreachable', invalidSpec: [{ path: 'spec.a', message: 'bad' }] },
    ready: ['True', 'AllReady'],
    progressing: ['False', 'UpToDate'],
    degraded: ['True', 'InvalidSpec', 'conflict'],
  },
];

function expectCondition(c: Condition, [status, reason, message]: Expect): void {
  expect({ status: c.status, reason: c.reason }).toEqual({ status, reason });
  if (message !== undefined) expect(c.message).toContain(message);
}

function expectValid(status: TracingClusterStatus): void {
  expect(TracingClusterStatusSchema.safeParse(status).success).toBe(true);
  for (const c of status.conditions ?? []) {
    expect(ConditionSchema.safeParse(c).success).toBe(true);
    const allowed: readonly string[] = Object.values(ConditionReasons[c.type as 'Ready' | 'Progressing' | 'Degraded']);
    expect(allowed).toContain(c.reason);
  }
}

describe('computeStatus conditions', () => {
  it.each(cases)('$name', ({ facts, ready, progressing, degraded }) => {
    const { status } = computeStatus(facts);
    expectValid(status);
    expect(status.observedGeneration).toBe(facts.generation);
    expect(status.conditions!.map((c) => c.type)).toEqual(['Ready', 'Progressing', 'Degraded']);
    for (const c of status.conditions!) expect(c.observedGeneration).toBe(facts.generation);
    expectCondition(cond(status, 'Ready'), ready);
    expectCondition(cond(status, 'Progressing'), progressing);
    expectCondition(cond(status, 'Degraded'), degraded);
  });

  it('lists at most 20 invalid-spec issues so the message stays within metav1 limits', () => {
    const invalidSpec = Array.from({ length: 25 }, (_, i) => ({ path: `spec.f${i}`, message: 'x'.repeat(1000) }));
    const { status } = computeStatus({ generation: 1, now: T0, invalidSpec });
    expectValid(status);
    expect(cond(status, 'Degraded').message).toContain('and 5 more');
    expect(cond(status, 'Degraded').message).not.toContain('spec.f20');
  });
});

describe('computeStatus fields', () => {
  it('reports counts, endpoints and injection from the facts', () => {
    const { status } = computeStatus({ ...healthy, etcd: wl(3, 2), injectionMissed: 0, shards: shards({ desired: 8, owned: 5 }) });
    expect(status).toMatchObject({
      observedGeneration: 1,
      ingesters: { replicas: 3, ready: 3 },
      queriers: { replicas: 2, ready: 2 },
      etcd: { replicas: 3, ready: 2 },
      // desired is the map's count ("spec.shards as last applied to the partition map").
      shards: { desired: 6, owned: 5, mapVersion: 3 },
      endpoints: healthy.endpoints,
      injection: { missedPods: 0 },
    });
  });

  it('omits what was not observed and keeps the previous block summary', () => {
    const blocks = { count: 12, bytes: 4096, lastCompactionTime: T0 };
    const { status } = computeStatus({ generation: 1, now: T1, previous: { ...settled, blocks } });
    expect(status.ingesters).toBeUndefined();
    expect(status.shards).toBeUndefined();
    expect(status.etcd).toBeUndefined();
    expect(status.blocks).toEqual(blocks);
  });

  const T2 = '2025-01-01T00:10:00Z';
  it.each([
    {
      name: 'a new summary replaces the counts and adds its times',
      previous: undefined,
      facts: { count: 12, bytes: 4096, lastCompactionTime: T0, lastRetentionTime: T1 },
      want: { count: 12, bytes: 4096, lastCompactionTime: T0, lastRetentionTime: T1 },
    },
    {
      name: 'a summary no longer showing an event (its blocks collected) keeps the time',
      previous: { count: 12, bytes: 4096, lastCompactionTime: T0, lastRetentionTime: T1 },
      facts: { count: 1, bytes: 10 },
      want: { count: 1, bytes: 10, lastCompactionTime: T0, lastRetentionTime: T1 },
    },
    {
      name: 'times only move forward',
      previous: { count: 3, bytes: 30, lastCompactionTime: T1, lastRetentionTime: T1 },
      facts: { count: 2, bytes: 20, lastCompactionTime: T2, lastRetentionTime: T0 },
      want: { count: 2, bytes: 20, lastCompactionTime: T2, lastRetentionTime: T1 },
    },
  ])('block summary: $name', ({ previous, facts, want }) => {
    const { status } = computeStatus({ ...healthy, now: T2, blocks: facts, ...(previous === undefined ? {} : { previous: { ...settled, blocks: previous } }) });
    expect(status.blocks).toEqual(want);
    expect(TracingClusterStatusSchema.parse(status).blocks).toEqual(want);
  });
});

describe('computeStatus transition times', () => {
  it('stamps now on the first computation', () => {
    const { status } = computeStatus(healthy);
    for (const c of status.conditions!) expect(c.lastTransitionTime).toBe(T0);
  });

  it('keeps the time when the status stays, even when reason and message change', () => {
    const starting2 = computeStatus({ ...healthy, now: T1, previous: starting, ingesters: wl(3, 2) }).status;
    expect(cond(starting, 'Ready').reason).toBe('IngestersNotReady');
    const next = computeStatus({ ...healthy, now: T1, previous: starting2, etcd: wl(3, 1) }).status;
    expect(cond(next, 'Ready')).toMatchObject({ status: 'False', reason: 'EtcdNotReady', lastTransitionTime: T0 });
    expect(cond(next, 'Progressing').lastTransitionTime).toBe(T0);
  });

  it('moves the time when the status flips', () => {
    const lost = computeStatus({ ...healthy, now: T1, previous: settled, ingesters: wl(3, 2) }).status;
    expect(cond(lost, 'Ready')).toMatchObject({ status: 'False', lastTransitionTime: T1 });
    expect(cond(lost, 'Degraded')).toMatchObject({ status: 'True', lastTransitionTime: T1 });
    expect(cond(lost, 'Progressing')).toMatchObject({ status: 'False', lastTransitionTime: T0 });
  });
});

describe('computeStatus events', () => {
  const lostFacts: StatusFacts = { ...healthy, now: T1, previous: settled, ingesters: wl(3, 2), shards: shards({ owned: 4 }) };
  const lost = computeStatus(lostFacts).status;

  it.each([
    { name: 'first computation of a ready cluster', facts: healthy, events: [{ type: 'Normal', reason: 'ClusterReady' }] },
    { name: 'first computation of a new cluster: no Ready=False event', facts: { generation: 1, now: T0 } as StatusFacts, events: [] },
    { name: 'nothing changed', facts: { ...healthy, now: T1, previous: settled }, events: [] },
    {
      name: 'an ingester killed',
      facts: lostFacts,
      events: [
        { type: 'Warning', reason: 'IngestersNotReady', message: expect.stringContaining('2/3 ingesters ready') as unknown },
        { type: 'Warning', reason: 'IngestersNotReady', message: expect.stringContaining('2 of 6 shards have no owner') as unknown },
      ],
    },
    { name: 'still lost: no repeat', facts: { ...lostFacts, previous: lost }, events: [] },
    {
      name: 'failover done and the pod back',
      facts: { ...healthy, now: T1, previous: lost },
      events: [
        { type: 'Normal', reason: 'ClusterReady' },
        { type: 'Normal', reason: 'Recovered' },
      ],
    },
    {
      name: 'invalid spec on creation',
      facts: { generation: 1, now: T0, invalidSpec: [{ path: 'spec.shards', message: 'must be at least 1' }] } as StatusFacts,
      events: [{ type: 'Warning', reason: 'InvalidSpec', message: expect.stringContaining('spec.shards: must be at least 1') as unknown }],
    },
    { name: 'a degraded reason changing is not a transition', facts: { ...healthy, previous: computeStatus({ ...healthy, previous: settled, reconcileError: 'x' }).status, storageProblem: 'y' }, events: [] },
  ])('$name', ({ facts, events }) => {
    expect(computeStatus(facts).events).toEqual(events.map((e) => expect.objectContaining(e) as unknown));
  });

  it('Ready=False emits the reason once the cluster loses readiness, and the clusters recovers to Ready', () => {
    // The scenario end to end: ready, ingester killed, failover (shards owned by the others),
    // the pod back.
    let status = settled;
    const step = (facts: Partial<StatusFacts>) => {
      const out = computeStatus({ ...healthy, now: T1, previous: status, ...facts });
      status = out.status;
      return [cond(status, 'Ready').status, cond(status, 'Degraded').status, out.events.map((e) => e.reason)];
    };
    expect(step({ ingesters: wl(3, 2), shards: shards({ owned: 4 }) })).toEqual(['False', 'True', ['IngestersNotReady', 'IngestersNotReady']]);
    expect(step({ ingesters: wl(3, 2), shards: shards({ owned: 6 }) })).toEqual(['False', 'True', []]);
    expect(step({})).toEqual(['True', 'False', ['ClusterReady', 'Recovered']]);
  });
});

describe('computeStatus properties', () => {
  const workload = fc.record({
    desired: fc.integer({ min: 0, max: 5 }),
    ready: fc.integer({ min: 0, max: 5 }),
    updated: fc.integer({ min: 0, max: 5 }),
    current: fc.integer({ min: 0, max: 5 }),
    generation: fc.integer({ min: 1, max: 3 }),
    observedGeneration: fc.integer({ min: 1, max: 3 }),
    currentRevision: fc.constantFrom('r1', 'r2'),
    updateRevision: fc.constantFrom('r1', 'r2'),
  });
  const shardFacts = fc.record(
    { desired: fc.integer({ min: 1, max: 8 }), mapShardCount: fc.integer({ min: 1, max: 8 }), mapVersion: fc.nat(9), owned: fc.integer({ min: 0, max: 8 }), handoffs: fc.nat(3) },
    { requiredKeys: ['desired', 'owned', 'handoffs'] },
  );
  const problem = fc.option(fc.constantFrom('boom', 'connection refused'), { nil: undefined });
  const facts = fc.record(
    {
      // Two generations: most histories then end on the generation being computed, where the memory matters.
      generation: fc.integer({ min: 1, max: 2 }),
      now: fc.constantFrom(T0, T1),
      invalidSpec: fc.array(fc.record({ path: fc.constantFrom('spec.shards', 'spec.storage'), message: fc.constant('is wrong') }), { maxLength: 2 }),
      reconcileError: problem,
      storageProblem: problem,
      etcdProblem: problem,
      ingesters: workload,
      queriers: workload,
      etcd: workload,
      shards: shardFacts,
      injectionMissed: fc.nat(3),
    },
    { requiredKeys: ['generation', 'now'] },
  );
  // A previous status is whatever this function wrote before, possibly for other facts.
  const history = fc.array(facts, { maxLength: 3 });

  it('is deterministic, valid, and a fixed point of its own output', () => {
    fc.assert(
      fc.property(history, facts, (past, f) => {
        let previous: TracingClusterStatus | undefined;
        for (const p of past) previous = computeStatus({ ...p, previous }).status;
        const first = computeStatus({ ...f, previous });
        expect(computeStatus({ ...f, previous })).toEqual(first);
        expectValid(first.status);
        const again = computeStatus({ ...f, now: T1, previous: first.status });
        expect(again.status).toEqual(first.status);
        expect(again.events).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });
});
