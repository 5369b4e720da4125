// The agent's side of skein.agent.v1.AgentPolicy/Get (common/rpc/agent-policy.ts): it asks the
// ingest endpoint it exports to for the cluster's head-sampling and scrubbing settings, at start and
// then every interval, and reports each new version. Agents never talk to etcd; the ingesters relay
// the `policy` key the operator writes from spec.agent.
//
// Failure never changes what the agent does: an unreachable or slow endpoint keeps the last answer
// (or the local configuration), UNIMPLEMENTED (an endpoint that is not a Skein ingester, or an older
// one) counts as "no cluster policy", and a malformed answer is logged and ignored.
import type { Logger } from '../common/log/index.js';
import { AGENT_POLICY_PATH, decodeAgentPolicy, type AgentPolicyResponse } from '../common/agent-policy/index.js';
import { createUnaryChannel, grpcStatusName, GrpcStatus } from './grpc-unary.js';

export interface ClusterPolicyPollerOptions {
  /** The ingest endpoint (as --ingest-endpoint). */
  readonly endpoint: string;
  /** Between polls (jittered ±20 % so a fleet of agents does not poll in step). */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Called with every answer whose version differs from the last one reported (first: from 0). */
  readonly onPolicy: (policy: AgentPolicyResponse) => void;
  readonly logger: Logger;
  /** Injectable for tests. */
  readonly random?: () => number;
}

export interface ClusterPolicyPoller {
  start(): void;
  /** Polls now (also used by tests); resolves with the answer, or undefined when none came. */
  pollOnce(): Promise<AgentPolicyResponse | undefined>;
  stop(): void;
  /** The last answer (version 0 until one came). */
  current(): AgentPolicyResponse;
}

/** Largest policy answer accepted (a policy is a few KiB of JSON). */
const MAX_POLICY_BYTES = 4 * 1024 * 1024;

export function createClusterPolicyPoller(options: ClusterPolicyPollerOptions): ClusterPolicyPoller {
  // Its own connection to the ingest endpoint (the exporter has another): a poll every interval.
  const channel = createUnaryChannel({ endpoint: options.endpoint, maxResponseBytes: MAX_POLICY_BYTES });
  const random = options.random ?? Math.random;
  let current: AgentPolicyResponse = { version: 0 };
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let lastError: string | undefined;

  const report = (next: AgentPolicyResponse): void => {
    if (next.version === current.version) return;
    current = next;
    options.onPolicy(next);
  };

  const pollOnce = async (): Promise<AgentPolicyResponse | undefined> => {
    if (stopped) return undefined;
    const result = await channel.call(AGENT_POLICY_PATH, new Uint8Array(0), { timeoutMs: options.timeoutMs });
    if (!result.ok) {
      const { code, details } = result.failure;
      if (code === GrpcStatus.UNIMPLEMENTED) {
        report({ version: 0 });
        return { version: 0 };
      }
      const message = `${grpcStatusName(code)}: ${details}`;
      // Once per distinct error: an ingest outage is already logged by the exporter.
      if (message !== lastError) options.logger.debug({ endpoint: options.endpoint, err: message }, 'could not fetch the cluster agent policy; keeping the current settings');
      lastError = message;
      return undefined;
    }
    lastError = undefined;
    const decoded = decodeAgentPolicy(result.message);
    if (!decoded.ok) {
      options.logger.warn({ endpoint: options.endpoint, error: decoded.error }, 'the cluster agent policy does not parse; keeping the current settings');
      return undefined;
    }
    report(decoded.value);
    return decoded.value;
  };

  const schedule = (): void => {
    if (stopped) return;
    const delay = options.intervalMs * (0.8 + 0.4 * random());
    timer = setTimeout(() => {
      void pollOnce().finally(schedule);
    }, delay);
    timer.unref();
  };

  return {
    start() {
      void pollOnce().finally(schedule);
    },
    pollOnce,
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      channel.close();
    },
    current: () => current,
  };
}
