// `skein.agent.v1.AgentPolicy/Get`: how an agent learns its cluster's head-sampling and scrubbing
// settings without talking to etcd (issue 6, DESIGN.md §2): a unary gRPC call on the ingest endpoint
// it already exports to, answered by any ingester from the `policy` key it watches. The message is
// UTF-8 JSON (both ends are ours; a schema change is a new field, never a new meaning), the request
// empty. `version` 0 means the cluster has no agent policy: the agent keeps its own configuration.
import { z } from 'zod';

export const AGENT_POLICY_PATH = '/skein.agent.v1.AgentPolicy/Get';

export const AgentPolicyResponse = z.object({
  version: z.number().int().min(0),
  /** The agent's `sampling` config section; validated by the agent. */
  sampling: z.record(z.string(), z.unknown()).optional(),
  /** The agent's `scrubbing` config section; validated by the agent. */
  scrubbing: z.record(z.string(), z.unknown()).optional(),
});
export type AgentPolicyResponse = z.infer<typeof AgentPolicyResponse>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeAgentPolicy(response: AgentPolicyResponse): Uint8Array {
  return encoder.encode(JSON.stringify(AgentPolicyResponse.parse(response)));
}

export function decodeAgentPolicy(bytes: Uint8Array): { ok: true; value: AgentPolicyResponse } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  const r = AgentPolicyResponse.safeParse(json);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
}
