// The agent follows its cluster's policy (issue 6: "rates come from config and, in a cluster, from
// the policy in the coordinator via the ingesters"): a real local cluster (etcd, controller,
// ingesters), the policy key written as the operator writes it, and `skein agent` pointed at one
// ingester's OTLP/gRPC port — it never talks to etcd. Its local config keeps everything; the
// cluster's says keep nothing, then everything again; and with the key gone it is back on its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdCoordinator, createKeyspace, del, encodeValue, put, PolicyValue, type Coordinator } from '../common/coord/index.js';
import { encodeExportRequest } from '../common/otlp/index.js';
import { startChild, type StartedChild } from '../common/proc/index.js';
import { SKEIN_BIN, grpcExport, makeBatch, startTestCluster, type TestCluster } from './harness/index.js';

let cluster: TestCluster;
let coord: Coordinator;
let agent: StartedChild;
const ks = createKeyspace('default', 'local');

const policy = (version: number, defaultProbability: number): PolicyValue => ({
  version,
  retention: { tracesMs: 3_600_000 },
  compaction: { enabled: true, windowMs: 600_000, maxBlockBytes: 2 ** 30 },
  sampling: { keepPercent: 100, keepErrors: true },
  agent: { sampling: { defaultProbability, services: {} }, scrubbing: { disableBuiltins: [], rules: [] } },
});

async function metrics(): Promise<string> {
  return (await fetch(`http://${agent.ready['admin']}/metrics`)).text();
}
function sample(text: string, name: string, label = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(label));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${agent.logs.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** Sends 20 one-span traces through the agent; resolves with how many it sampled out. */
async function sendAndCountSampledOut(): Promise<number> {
  const before = sample(await metrics(), 'skein_agent_spans_dropped_total', 'reason="sampling-probabilistic"');
  const { request } = makeBatch(20, 1);
  const { err } = await grpcExport(agent.ready['otlpGrpc']!, encodeExportRequest(request));
  expect(err).toBeNull();
  return sample(await metrics(), 'skein_agent_spans_dropped_total', 'reason="sampling-probabilistic"') - before;
}

beforeAll(async () => {
  cluster = await startTestCluster({ ingesters: 2, shards: 2 });
  coord = createEtcdCoordinator({ endpoints: [cluster.etcdEndpoint] });
  agent = await startChild({
    args: [SKEIN_BIN, 'agent', '--host', '127.0.0.1', '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--admin-port', '0', '--jaeger-sampling-port', '0', '--ingest-endpoint', cluster.ingesters[0]!.ready()['otlpGrpc']!, '--cluster-policy-interval-ms', '200', '--batch-max-delay-ms', '50'],
    readyMessage: 'skein ready',
    timeoutMs: 30_000,
  });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await coord?.close();
  await cluster?.destroy();
}, 60_000);

describe('agent ← cluster policy through the ingesters', () => {
  it('without a cluster policy the local configuration applies (keep everything)', async () => {
    expect(await sendAndCountSampledOut()).toBe(0);
  });

  it('a cluster policy replaces it within a poll, and every change after', async () => {
    await coord.txn({ compare: [], success: [put(ks.policy, encodeValue(PolicyValue, policy(1, 0)))] });
    await until('the cluster policy applied', async () => sample(await metrics(), 'skein_agent_policy_reloads_total', 'outcome="ok"') >= 1);
    expect(await sendAndCountSampledOut()).toBe(20);
    await coord.txn({ compare: [], success: [put(ks.policy, encodeValue(PolicyValue, policy(2, 1)))] });
    await until('version 2 applied', async () => sample(await metrics(), 'skein_agent_policy_reloads_total', 'outcome="ok"') >= 2);
    expect(await sendAndCountSampledOut()).toBe(0);
    expect(agent.logs.some((l) => l.includes('"source":"cluster"') && l.includes('"version":2'))).toBe(true);
  });

  it('the cluster policy gone → back to the local configuration', async () => {
    await coord.txn({ compare: [], success: [put(ks.policy, encodeValue(PolicyValue, policy(3, 0)))] });
    await until('version 3 applied', async () => sample(await metrics(), 'skein_agent_policy_reloads_total', 'outcome="ok"') >= 3);
    await coord.txn({ compare: [], success: [del(ks.policy)] });
    await until('local policy back', () => Promise.resolve(agent.logs.some((l) => l.includes('"source":"local"'))));
    expect(await sendAndCountSampledOut()).toBe(0);
  });
});
