// common/agent-policy — the AgentPolicy/Get message shared by the ingesters (which answer it from
// the coordinator's `policy` key) and the agents (which ask for it). A module of its own so the
// agent loads neither the internal RPC service nor etcd3 to read it.
export { AGENT_POLICY_PATH, AgentPolicyResponse, encodeAgentPolicy, decodeAgentPolicy } from './agent-policy.js';
