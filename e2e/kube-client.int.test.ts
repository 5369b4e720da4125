// operator/kube against a real kube-apiserver (with kube-controller-manager, whose garbage collector
// the owner-reference case needs): the same conformance suite the in-memory twin passes in
// operator/kube/memory.test.ts, plus Lease leader election between two electors. Runs against
// KUBECONFIG when set (kind, a real cluster), else a local control plane; every name carries a
// per-run suffix and the namespaces are removed afterwards.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClient, createLeaseElector, type KubeClient, type LeaseElector } from '../operator/kube/index.js';
import { describeKubeClientConformance } from '../operator/kube/testing/index.js';
import { eventually, kubeEnvironmentFromEnv, type KubeEnvironment } from './k8s/index.js';

const RUN = randomBytes(3).toString('hex');

// One environment for the file, started by whichever suite needs it first.
let starting: Promise<KubeEnvironment> | undefined;
const environment = (): Promise<KubeEnvironment> => (starting ??= kubeEnvironmentFromEnv({ nodes: 1 }));

async function createNamespace(env: KubeEnvironment, name: string): Promise<void> {
  await env.client.expectOk('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
}
async function deleteNamespace(env: KubeEnvironment, name: string): Promise<void> {
  await env.client.request('DELETE', `/api/v1/namespaces/${name}`).catch(() => undefined);
}

afterAll(async () => {
  const env = await starting?.catch(() => undefined);
  await env?.stop();
}, 120_000);

describeKubeClientConformance('kube-apiserver', async () => {
  const env = await environment();
  const namespace = `skein-kube-client-${RUN}`;
  await createNamespace(env, namespace);
  const client = createKubeClient({ kubeconfig: env.kubeconfigPath });
  return {
    client,
    namespace,
    cleanup: async () => {
      client.close();
      await deleteNamespace(env, namespace);
    },
  };
});

describe('Lease leader election on a real apiserver', () => {
  const namespace = `skein-lease-${RUN}`;
  const LEASE = 'skein-operator-test';
  let env: KubeEnvironment;
  const clients: KubeClient[] = [];

  beforeAll(async () => {
    env = await environment();
    await createNamespace(env, namespace);
  }, 180_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    if (env !== undefined) await deleteNamespace(env, namespace);
  });

  it('two electors: exactly one leads; release hands the Lease over long before it would expire', async () => {
    const aborts = [new AbortController(), new AbortController()];
    const leadingSince: (number | undefined)[] = [undefined, undefined];
    const electors: LeaseElector[] = ['a', 'b'].map((id, i) => {
      const client = createKubeClient({ kubeconfig: env.kubeconfigPath });
      clients.push(client);
      return createLeaseElector({
        client,
        namespace,
        name: LEASE,
        identity: `elector-${id}-${RUN}`,
        // A long duration: a handover inside it can only come from release().
        leaseDurationSeconds: 60,
        renewDeadlineSeconds: 40,
        retryPeriodSeconds: 1,
        onStartedLeading: () => {
          leadingSince[i] = Date.now();
        },
        onStoppedLeading: () => {
          leadingSince[i] = undefined;
        },
      });
    });
    const runs = electors.map((e, i) => e.run(aborts[i]!.signal));

    const leader = await eventually('one elector to lead', () => Promise.resolve(electors.findIndex((e) => e.isLeader()) >= 0 ? electors.findIndex((e) => e.isLeader()) : undefined), {
      timeoutMs: 30_000,
      env,
    });
    // Give the other a few retry periods to (wrongly) lead as well.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(electors.map((e) => e.isLeader())).toEqual([leader === 0, leader === 1]);
    const lease = await env.client.expectOk('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${LEASE}`);
    expect(lease.spec.holderIdentity).toBe(`elector-${leader === 0 ? 'a' : 'b'}-${RUN}`);
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(lease.spec.leaseDurationSeconds).toBe(60);

    const other = 1 - leader;
    const releasedAt = Date.now();
    aborts[leader]!.abort();
    await runs[leader];
    await electors[leader]!.release();
    expect(electors[leader]!.isLeader()).toBe(false);
    await eventually('the standby to take over after release', () => Promise.resolve(electors[other]!.isLeader() ? true : undefined), { timeoutMs: 30_000, env });
    expect(Date.now() - releasedAt).toBeLessThan(60_000);
    const handed = await env.client.expectOk('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${LEASE}`);
    expect(handed.spec.holderIdentity).toBe(`elector-${other === 0 ? 'a' : 'b'}-${RUN}`);
    expect(handed.spec.leaseTransitions).toBeGreaterThanOrEqual(1);

    aborts[other]!.abort();
    await runs[other];
    expect(leadingSince[other]).toBeUndefined();
  }, 120_000);
});
