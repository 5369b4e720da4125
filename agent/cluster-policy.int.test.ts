// The agent's policy poller against a real gRPC server on 127.0.0.1 (common/grpc's native server,
// as the ingesters run it): answers, changes, UNIMPLEMENTED, malformed answers and a dead endpoint.
import { afterEach, describe, expect, it } from 'vitest';
import { startNativeGrpcServer, type NativeGrpcServer, type UnaryHandler } from '../common/grpc/index.js';
import { createSilentLogger } from '../common/log/index.js';
import { AGENT_POLICY_PATH, encodeAgentPolicy, type AgentPolicyResponse } from '../common/agent-policy/index.js';
import { createClusterPolicyPoller, type ClusterPolicyPoller } from './cluster-policy.js';

let server: NativeGrpcServer | undefined;
let poller: ClusterPolicyPoller | undefined;

afterEach(async () => {
  poller?.stop();
  poller = undefined;
  await server?.close(AbortSignal.timeout(1000));
  server = undefined;
});

async function serve(handlers: Map<string, UnaryHandler>): Promise<number> {
  server = await startNativeGrpcServer({ host: '127.0.0.1', port: 0, maxRequestBytes: 1024 * 1024, handlers });
  return server.port;
}

function poll(port: number, seen: AgentPolicyResponse[]): ClusterPolicyPoller {
  poller = createClusterPolicyPoller({ endpoint: `127.0.0.1:${port}`, intervalMs: 60_000, timeoutMs: 2000, onPolicy: (p) => seen.push(p), logger: createSilentLogger() });
  return poller;
}

describe('cluster policy poller', () => {
  it('reports the ingester\'s answer, and each new version once', async () => {
    let answer: AgentPolicyResponse = { version: 3, sampling: { defaultProbability: 0.5 }, scrubbing: { rules: [] } };
    const port = await serve(new Map([[AGENT_POLICY_PATH, () => Promise.resolve(encodeAgentPolicy(answer))]]));
    const seen: AgentPolicyResponse[] = [];
    const p = poll(port, seen);
    expect(await p.pollOnce()).toEqual(answer);
    await p.pollOnce();
    expect(seen).toEqual([answer]);
    answer = { version: 4, sampling: { defaultProbability: 0.1 }, scrubbing: { rules: [] } };
    await p.pollOnce();
    expect(seen.map((s) => s.version)).toEqual([3, 4]);
    expect(p.current()).toEqual(answer);
  });

  it('an endpoint without the method (UNIMPLEMENTED) means no cluster policy', async () => {
    const port = await serve(new Map());
    const seen: AgentPolicyResponse[] = [];
    expect(await poll(port, seen).pollOnce()).toEqual({ version: 0 });
    expect(seen).toEqual([]);
  });

  it('a malformed answer or a dead endpoint keeps the current settings', async () => {
    let bytes: Uint8Array = encodeAgentPolicy({ version: 2, sampling: {}, scrubbing: {} });
    const port = await serve(new Map([[AGENT_POLICY_PATH, () => Promise.resolve(bytes)]]));
    const seen: AgentPolicyResponse[] = [];
    const p = poll(port, seen);
    await p.pollOnce();
    bytes = new TextEncoder().encode('{"version":"x"}');
    expect(await p.pollOnce()).toBeUndefined();
    await server!.close(AbortSignal.timeout(1000));
    server = undefined;
    expect(await p.pollOnce()).toBeUndefined();
    expect(p.current().version).toBe(2);
    expect(seen.map((s) => s.version)).toEqual([2]);
  });

  it('start() polls at once; stop() leaves no timer or channel behind', async () => {
    const port = await serve(new Map([[AGENT_POLICY_PATH, () => Promise.resolve(encodeAgentPolicy({ version: 1, sampling: {}, scrubbing: {} }))]]));
    const seen: AgentPolicyResponse[] = [];
    const p = poll(port, seen);
    p.start();
    for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seen.map((s) => s.version)).toEqual([1]);
    p.stop();
    expect(await p.pollOnce()).toBeUndefined();
  });

  it('refuses a bad endpoint at construction', () => {
    expect(() => createClusterPolicyPoller({ endpoint: 'ftp://x:1', intervalMs: 1000, timeoutMs: 1000, onPolicy: () => {}, logger: createSilentLogger() })).toThrow(/scheme/);
  });
});
