import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLeaseElector, formatMicroTime, type LeaseElector } from './lease.js';
import { createMemoryKube, type MemoryKube } from './memory.js';
import { KubeApiError, type KubeObject } from './types.js';

const LEASE = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'ns', name: 'leader' } as const;

interface Candidate {
  readonly elector: LeaseElector;
  readonly abort: AbortController;
  readonly run: Promise<void>;
  /** The signal given to the latest onStartedLeading. */
  leaderSignal?: AbortSignal;
  started: number;
  stopped: number;
}

function candidate(kube: MemoryKube, identity: string): Candidate {
  const abort = new AbortController();
  const c: Partial<Candidate> & { started: number; stopped: number } = { started: 0, stopped: 0 };
  const elector = createLeaseElector({
    client: kube,
    namespace: LEASE.namespace,
    name: LEASE.name,
    identity,
    onStartedLeading: (signal) => {
      c.started++;
      c.leaderSignal = signal;
    },
    onStoppedLeading: () => {
      c.stopped++;
    },
  });
  return Object.assign(c, { elector, abort, run: elector.run(abort.signal) }) as Candidate;
}

const holder = async (kube: MemoryKube): Promise<unknown> => ((await kube.get(LEASE))?.['spec'] as { holderIdentity?: string } | undefined)?.holderIdentity;

describe('createLeaseElector (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-12-04T20:30:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function stopAll(...cs: Candidate[]): Promise<void> {
    for (const c of cs) c.abort.abort();
    await vi.advanceTimersByTimeAsync(0);
    await Promise.all(cs.map((c) => c.run));
    expect(vi.getTimerCount()).toBe(0);
  }

  it('of two electors exactly one leads, and keeps leading while it renews', async () => {
    const kube = createMemoryKube();
    const a = candidate(kube, 'a');
    const b = candidate(kube, 'b');
    await vi.advanceTimersByTimeAsync(100);
    const leaders = [a, b].filter((c) => c.elector.isLeader());
    expect(leaders).toHaveLength(1);
    const leader = leaders[0]!;
    expect(await holder(kube)).toBe(leader === a ? 'a' : 'b');
    // A minute of renewals: still exactly that one.
    for (let i = 0; i < 30; i++) {
      await vi.advanceTimersByTimeAsync(2_000);
      expect([a, b].filter((c) => c.elector.isLeader())).toEqual([leader]);
    }
    const spec = (await kube.get(LEASE))?.['spec'] as Record<string, unknown>;
    expect(spec).toMatchObject({ leaseDurationSeconds: 15, leaseTransitions: 0 });
    expect(spec['renewTime']).toMatch(/^2026-12-04T20:31:\d\d\.\d{6}Z$/);
    expect(leader.started).toBe(1);
    await stopAll(a, b);
    expect(leader.stopped).toBe(1);
    expect(leader.leaderSignal?.aborted).toBe(true);
  });

  it('when the leader stops renewing, the other takes over only after the lease duration', async () => {
    const kube = createMemoryKube();
    const a = candidate(kube, 'a');
    await vi.advanceTimersByTimeAsync(100);
    expect(a.elector.isLeader()).toBe(true);
    const b = candidate(kube, 'b');
    await vi.advanceTimersByTimeAsync(5_000);
    // a vanishes without releasing (a crash): its Lease stays as it was.
    a.abort.abort();
    await a.run;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(b.elector.isLeader()).toBe(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(b.elector.isLeader()).toBe(true);
    expect(await holder(kube)).toBe('b');
    expect(((await kube.get(LEASE))?.['spec'] as { leaseTransitions: number }).leaseTransitions).toBe(1);
    await stopAll(b);
  });

  it('release() hands over at once: the standby acquires at its next retry', async () => {
    const kube = createMemoryKube();
    const a = candidate(kube, 'a');
    await vi.advanceTimersByTimeAsync(100);
    const b = candidate(kube, 'b');
    await vi.advanceTimersByTimeAsync(4_000);
    expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    a.abort.abort();
    await a.run;
    await a.elector.release();
    expect(await holder(kube)).toBe('');
    await vi.advanceTimersByTimeAsync(3_000);
    expect(b.elector.isLeader()).toBe(true);
    // release() of a Lease someone else holds changes nothing.
    await a.elector.release();
    expect(await holder(kube)).toBe('b');
    await stopAll(b);
  });

  it('a renew that finds the Lease taken (a conflicting write) demotes at once and aborts the leader signal', async () => {
    const kube = createMemoryKube();
    const a = candidate(kube, 'a');
    await vi.advanceTimersByTimeAsync(100);
    expect(a.elector.isLeader()).toBe(true);
    const lease = (await kube.get(LEASE))!;
    const stamp = formatMicroTime(Date.now());
    await kube.replace({ ...lease, spec: { ...(lease['spec'] as object), holderIdentity: 'intruder', renewTime: stamp, acquireTime: stamp } } as KubeObject);
    await vi.advanceTimersByTimeAsync(2_500);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.leaderSignal?.aborted).toBe(true);
    expect(a.stopped).toBe(1);
    // It does not lead again while the intruder's Lease is live.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(a.elector.isLeader()).toBe(false);
    await stopAll(a);
  });

  it('a leader that cannot renew steps down at the renew deadline, before the lease could expire', async () => {
    const kube = createMemoryKube();
    const a = candidate(kube, 'a');
    await vi.advanceTimersByTimeAsync(100);
    expect(a.elector.isLeader()).toBe(true);
    kube.failNext('get', new KubeApiError(503, 'ServiceUnavailable', 'apiserver down'), 1000);
    await vi.advanceTimersByTimeAsync(8_000);
    expect(a.elector.isLeader()).toBe(true);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.leaderSignal?.aborted).toBe(true);
    await stopAll(a);
  });

  it('refuses inconsistent timings', () => {
    const kube = createMemoryKube();
    const base = { client: kube, namespace: 'ns', name: 'x', identity: 'a', onStartedLeading: () => {}, onStoppedLeading: () => {} };
    expect(() => createLeaseElector({ ...base, leaseDurationSeconds: 10, renewDeadlineSeconds: 10 })).toThrow();
    expect(() => createLeaseElector({ ...base, renewDeadlineSeconds: 2, retryPeriodSeconds: 2 })).toThrow();
  });
});

describe('formatMicroTime', () => {
  it('writes RFC 3339 with six fractional digits', () => {
    expect(formatMicroTime(Date.parse('2026-12-04T20:30:00.123Z'))).toBe('2026-12-04T20:30:00.123000Z');
  });
});
