import { afterEach, describe, expect, it } from 'vitest';
import { createKeyspace, del, encodeValue, MemoryStore, put, toBytes, type Coordinator } from '../common/coord/index.js';
import { PolicyValue } from '../common/coord/index.js';
import { createSilentLogger } from '../common/log/index.js';
import { decodeAgentPolicy } from '../common/agent-policy/index.js';
import { createPolicyRelay, type PolicyRelay } from './policy-relay.js';

const ks = createKeyspace('ns', 'tc');
const policy = (version: number, probability: number): PolicyValue => ({
  version,
  retention: { tracesMs: 3_600_000 },
  compaction: { enabled: true, windowMs: 600_000, maxBlockBytes: 2 ** 30 },
  sampling: { keepPercent: 100, keepErrors: true },
  agent: { sampling: { defaultProbability: probability, services: {} }, scrubbing: { disableBuiltins: [], rules: [] } },
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error('condition not reached');
}

describe('policy relay (AgentPolicy/Get)', () => {
  let relay: PolicyRelay | undefined;
  afterEach(() => relay?.close());

  it('answers version 0 without a policy, then follows every change of the key', async () => {
    const coord: Coordinator = new MemoryStore().connect();
    relay = createPolicyRelay({ coord, keyspace: ks, logger: createSilentLogger() });
    const answer = async () => {
      const answered = await relay!.handler(Buffer.alloc(0), {});
      const d = decodeAgentPolicy(answered instanceof Uint8Array ? answered : answered.body);
      if (!d.ok) throw new Error(d.error);
      return d.value;
    };
    expect(await answer()).toEqual({ version: 0 });

    await coord.txn({ compare: [], success: [put(ks.policy, encodeValue(PolicyValue, policy(1, 0.5)))] });
    await until(() => relay!.current().version === 1);
    expect(await answer()).toEqual({ version: 1, sampling: { defaultProbability: 0.5, services: {} }, scrubbing: { disableBuiltins: [], rules: [] } });

    // An unreadable value keeps the last good answer.
    await coord.txn({ compare: [], success: [put(ks.policy, toBytes('{"version":'))] });
    await coord.txn({ compare: [], success: [put(ks.policy, encodeValue(PolicyValue, policy(3, 0.1)))] });
    await until(() => relay!.current().version === 3);
    expect((await answer()).sampling).toEqual({ defaultProbability: 0.1, services: {} });

    await coord.txn({ compare: [], success: [del(ks.policy)] });
    await until(() => relay!.current().version === 0);
    expect(await answer()).toEqual({ version: 0 });
  });

  it('a policy without an agent section is version 0 for agents', async () => {
    const coord: Coordinator = new MemoryStore().connect();
    const { agent: _agent, ...noAgent } = policy(2, 1);
    await coord.txn({ compare: [], success: [put(ks.policy, encodeValue(PolicyValue, noAgent))] });
    relay = createPolicyRelay({ coord, keyspace: ks, logger: createSilentLogger() });
    await new Promise((r) => setTimeout(r, 20));
    expect(relay.current()).toEqual({ version: 0 });
  });
});
