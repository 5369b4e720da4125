// The ingester's side of AgentPolicy/Get (common/rpc/agent-policy.ts): a watch on the cluster's
// `policy` key and a handler answering with its agent section, so agents follow spec.agent changes
// without restarts and without an etcd client. A stored value that does not parse keeps the last
// good one (and says so once), like every other reader of coordinator keys.
import { decodeValue, PolicyValue, type Coordinator, type Keyspace } from '../common/coord/index.js';
import type { UnaryHandler } from '../common/grpc/index.js';
import type { Logger } from '../common/log/index.js';
import { encodeAgentPolicy, type AgentPolicyResponse } from '../common/agent-policy/index.js';

export interface PolicyRelay {
  readonly handler: UnaryHandler;
  /** The response an agent gets now. */
  current(): AgentPolicyResponse;
  /** The whole policy as last read (tail sampling at cut reads it); undefined before one exists. */
  policy(): PolicyValue | undefined;
  close(): void;
}

export function createPolicyRelay(options: { coord: Coordinator; keyspace: Keyspace; logger: Logger }): PolicyRelay {
  let response: AgentPolicyResponse = { version: 0 };
  let policy: PolicyValue | undefined;
  let encoded = encodeAgentPolicy(response);
  const update = (next: AgentPolicyResponse): void => {
    response = next;
    encoded = encodeAgentPolicy(next);
  };
  const watch = options.coord.watchPrefix(options.keyspace.policy, (u) => {
    const apply = (bytes: Uint8Array | undefined): void => {
      if (bytes === undefined) {
        policy = undefined;
        return update({ version: 0 });
      }
      const d = decodeValue(PolicyValue, bytes);
      if (!d.ok) {
        options.logger.warn({ key: options.keyspace.policy, error: d.error }, 'policy key does not parse; agents keep the previous agent policy');
        return;
      }
      policy = d.value;
      const agent = d.value.agent;
      update(agent === undefined ? { version: 0 } : { version: d.value.version, sampling: agent.sampling, scrubbing: agent.scrubbing });
    };
    if (u.kind === 'snapshot') apply(u.entries.find((kv) => kv.key === options.keyspace.policy)?.value);
    else if (u.kind === 'events') {
      for (const e of u.events) {
        if (e.type === 'put' && e.kv.key === options.keyspace.policy) apply(e.kv.value);
        else if (e.type === 'delete' && e.key === options.keyspace.policy) apply(undefined);
      }
    }
  });
  return {
    handler: () => Promise.resolve(encoded),
    current: () => response,
    policy: () => policy,
    close: () => watch.close(),
  };
}
