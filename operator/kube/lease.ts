// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
// - acquire when the Lease is absent, released (holderIdentity ''), held by us, or expired — expiry
//   is measured on *our* clock from when we last saw the record change, never from the remote
//   renewTime (clocks differ between nodes);
// - every write is create or replace with the resourceVersion we read: a 409 means someone else
//   wrote first, and we simply did not win this round;
// - the leader renews every retryPeriod; if it cannot renew for renewDeadline (< leaseDuration, so
//   it steps down before anyone may take over) or sees another holder, it stops leading: the signal
//   given to onStartedLeading aborts, and it acts as leader again only after acquiring anew;
// - release() on shutdown empties holderIdentity (and sets leaseDurationSeconds 1) so a standby
//   takes over at its next retry instead of waiting out the duration.
import { sleep } from './sleep.js';
import { isConflict, type KubeClient, type KubeObject } from './types.js';

export interface LeaseLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface LeaseElectorOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  /** Unique per replica (pod name + a random suffix). */
  readonly identity: string;
  readonly leaseDurationSeconds?: number;
  readonly renewDeadlineSeconds?: number;
  readonly retryPeriodSeconds?: number;
  /** Called when this replica becomes leader; `signal` aborts when it stops leading. */
  onStartedLeading(signal: AbortSignal): void;
  onStoppedLeading(): void;
  /** Epoch milliseconds (tests). */
  readonly now?: () => number;
  readonly logger?: LeaseLogger;
}

export interface LeaseElector {
  /** Campaigns, leads, renews — until `signal` aborts (then stops leading and resolves). */
  run(signal: AbortSignal): Promise<void>;
  isLeader(): boolean;
  /** Stops leading and hands the Lease over (holderIdentity ''); a no-op when another replica holds it. */
  release(): Promise<void>;
}

export const LEASE_DEFAULTS = { leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 } as const;

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function formatMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const LEASE_KIND = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' } as const;

export function createLeaseElector(options: LeaseElectorOptions): LeaseElector {
  const leaseDurationSeconds = options.leaseDurationSeconds ?? LEASE_DEFAULTS.leaseDurationSeconds;
  const renewDeadlineMs = (options.renewDeadlineSeconds ?? LEASE_DEFAULTS.renewDeadlineSeconds) * 1000;
  const retryMs = (options.retryPeriodSeconds ?? LEASE_DEFAULTS.retryPeriodSeconds) * 1000;
  if (renewDeadlineMs >= leaseDurationSeconds * 1000) throw new Error('renewDeadlineSeconds must be less than leaseDurationSeconds');
  if (retryMs >= renewDeadlineMs) throw new Error('retryPeriodSeconds must be less than renewDeadlineSeconds');
  const now = options.now ?? Date.now;
  const { client, identity, logger } = options;
  const ref = { ...LEASE_KIND, namespace: options.namespace, name: options.name };
  /** Ends run() for good (release()). */
  const released = new AbortController();

  let observedSpec: string | undefined;
  let observedAt = 0;
  let leading: AbortController | undefined;

  const observe = (spec: LeaseSpec, at: number): void => {
    const serialized = JSON.stringify(spec);
    if (serialized !== observedSpec) {
      observedSpec = serialized;
      observedAt = at;
    }
  };

  /**
   * One round: true when we hold the Lease afterwards; 'lost' when another replica holds a live
   * one; false when the round did not succeed (a conflict). Errors are thrown.
   */
  async function tryAcquireOrRenew(): Promise<boolean | 'lost'> {
    const t = now();
    const stamp = formatMicroTime(t);
    const existing = await client.get(ref);
    if (existing === undefined) {
      const spec: LeaseSpec = { holderIdentity: identity, leaseDurationSeconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 };
      try {
        await client.create({ ...LEASE_KIND, metadata: { name: ref.name, namespace: ref.namespace }, spec });
      } catch (e) {
        if (isConflict(e)) return false;
        throw e;
      }
      observe(spec, t);
      return true;
    }
    const old = (existing['spec'] ?? {}) as LeaseSpec;
    observe(old, t);
    const holder = old.holderIdentity ?? '';
    const ours = holder === identity;
    const expired = holder === '' || observedAt + (old.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 < t;
    if (!ours && !expired) return 'lost';
    const spec: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: ours && old.acquireTime !== undefined ? old.acquireTime : stamp,
      renewTime: stamp,
      leaseTransitions: ours ? (old.leaseTransitions ?? 0) : (old.leaseTransitions ?? 0) + 1,
    };
    try {
      await client.replace({ ...existing, spec } as KubeObject);
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
    observe(spec, t);
    return true;
  }

  /** Bounds one attempt by what is left of the renew deadline; a hung request must not keep us leading. */
  async function attempt(deadlineMs: number, signal: AbortSignal): Promise<boolean | 'lost'> {
    const timeout = new AbortController();
    const both = AbortSignal.any([timeout.signal, signal]);
    const round = tryAcquireOrRenew();
    // If the deadline wins the race, the round still settles later: its outcome no longer matters.
    round.catch(() => {});
    try {
      return await Promise.race([
        round,
        sleep(deadlineMs, both).then(() => false as const),
      ]);
    } finally {
      timeout.abort();
    }
  }

  function stopLeading(reason: string): void {
    const l = leading;
    if (l === undefined) return;
    leading = undefined;
    logger?.info({ identity, lease: `${ref.namespace}/${ref.name}`, reason }, 'stopped leading');
    l.abort(new Error(reason));
    try {
      options.onStoppedLeading();
    } catch (e) {
      logger?.warn({ err: e }, 'onStoppedLeading threw');
    }
  }

  async function campaign(signal: AbortSignal): Promise<void> {
    // Acquire: try every retryPeriod (jittered, as client-go does, so candidates spread out).
    for (;;) {
      if (signal.aborted) return;
      try {
        if ((await attempt(retryMs, signal)) === true) break;
      } catch (e) {
        logger?.warn({ err: e, identity }, 'could not acquire the leader Lease; retrying');
      }
      await sleep(retryMs * (1 + Math.random() * 0.2), signal);
    }
    if (signal.aborted) return;
    leading = new AbortController();
    logger?.info({ identity, lease: `${ref.namespace}/${ref.name}` }, 'started leading');
    try {
      options.onStartedLeading(leading.signal);
    } catch (e) {
      logger?.warn({ err: e }, 'onStartedLeading threw');
    }
    // Renew: every retryPeriod; give up when the last success is renewDeadline old.
    let renewedAt = now();
    while (!signal.aborted && leading !== undefined) {
      await sleep(retryMs, signal);
      if (signal.aborted) break;
      for (;;) {
        const left = renewedAt + renewDeadlineMs - now();
        if (left <= 0) {
          stopLeading('failed to renew the Lease within the renew deadline');
          return;
        }
        let result: boolean | 'lost' = false;
        try {
          result = await attempt(left, signal);
        } catch (e) {
          logger?.warn({ err: e, identity }, 'could not renew the leader Lease; retrying');
        }
        if (signal.aborted) return;
        if (result === 'lost') {
          stopLeading('the Lease is held by another replica');
          return;
        }
        if (result) {
          renewedAt = now();
          break;
        }
        await sleep(Math.min(retryMs, Math.max(0, renewedAt + renewDeadlineMs - now())), signal);
      }
    }
  }

  return {
    async run(signal) {
      const stop = AbortSignal.any([signal, released.signal]);
      try {
        while (!stop.aborted) await campaign(stop);
      } finally {
        stopLeading('stopped');
      }
    },
    isLeader: () => leading !== undefined,
    async release() {
      released.abort();
      stopLeading('released');
      const existing = await client.get(ref);
      const spec = (existing?.['spec'] ?? {}) as LeaseSpec;
      if (existing === undefined || spec.holderIdentity !== identity) return;
      const stamp = formatMicroTime(now());
      // A 409 means the Lease changed under us: someone else holds it now, nothing to hand over.
      try {
        await client.replace({
          ...existing,
          spec: { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: stamp, renewTime: stamp, leaseTransitions: spec.leaseTransitions ?? 0 },
        } as KubeObject);
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
    },
  };
}
