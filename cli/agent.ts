// `skein agent`: the sidecar next to an application (DESIGN.md §2). OTLP/gRPC and OTLP/HTTP in on
// --host (loopback by default), head sampling and attribute scrubbing, a bounded queue, OTLP/gRPC
// (gzip) out to --ingest-endpoint; /healthz, /readyz and /metrics on the admin port; Jaeger remote
// sampling on --jaeger-sampling-port. Process flags configure the listeners, the exporter and the
// queue; the policy (sampling, scrubbing) and the retry/decision-memory tuning come from the
// --agent-config JSON file, whose sampling and scrubbing sections are re-read on SIGHUP.
// SIGTERM/SIGINT: stop accepting, flush the queue for up to --shutdown-timeout-ms, exit.
import { readFileSync } from 'node:fs';
import { loadConfig, formatHelp, type FlagName, type FlagValues } from '../common/config/index.js';
import { createRootLogger } from '../common/log/index.js';
import { createRegistry } from '../common/metrics/index.js';
import { AgentConfigSchema, computeEffectivePolicy, createAgent, createClusterPolicyPoller, parseEndpoint, type AgentConfig, type AgentConfigInput, type AgentPolicy } from '../agent/index.js';
import type { AgentPolicyResponse } from '../common/agent-policy/index.js';

export const AGENT_FLAGS = [
  'host',
  'otlp-grpc-port',
  'otlp-http-port',
  'jaeger-sampling-port',
  'admin-host',
  'admin-port',
  'ingest-endpoint',
  'ingest-compression',
  'ingest-timeout-ms',
  'tenant',
  'agent-config',
  'cluster-policy-interval-ms',
  'queue-max-bytes',
  'batch-max-bytes',
  'batch-max-spans',
  'batch-max-delay-ms',
  'export-concurrency',
  'max-request-bytes',
  'log-level',
  'shutdown-timeout-ms',
] as const satisfies readonly FlagName[];

export type AgentFlags = FlagValues<(typeof AGENT_FLAGS)[number]>;

const SUMMARY =
  'Runs the agent sidecar: receives OTLP from the app on localhost, samples and scrubs spans, queues them within a memory bound (dropping and counting, never blocking the app) and forwards them over OTLP/gRPC to --ingest-endpoint.';

/** Sections the --agent-config file may hold; everything else is set with flags. */
export const AGENT_FILE_SECTIONS = ['sampling', 'scrubbing', 'retry', 'headSampler'] as const;
export type AgentFileSections = Partial<Record<(typeof AGENT_FILE_SECTIONS)[number], unknown>>;

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** The --agent-config file's text → its sections (JSON; YAML is not read). */
export function parseAgentFile(text: string, file: string): Parsed<AgentFileSections> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `${file}: not valid JSON (${(e as Error).message}); the agent config file is JSON` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, message: `${file}: expected a JSON object with the sections ${AGENT_FILE_SECTIONS.join(', ')}` };
  const unknown = Object.keys(value).filter((k) => !(AGENT_FILE_SECTIONS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    return {
      ok: false,
      message: `${file}: unknown section${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; the file holds ${AGENT_FILE_SECTIONS.join(', ')} (listeners, exporter, queue and batches are flags: see --help)`,
    };
  }
  return { ok: true, value: value as AgentFileSections };
}

/** Flags + file sections → the validated agent configuration. */
export function buildAgentConfig(flags: AgentFlags, file: AgentFileSections): Parsed<AgentConfig> {
  const input = {
    receivers: {
      host: flags.host,
      otlpGrpcPort: flags['otlp-grpc-port'],
      otlpHttpPort: flags['otlp-http-port'],
      jaegerSamplingPort: flags['jaeger-sampling-port'],
      // A request larger than the queue could never be queued: --max-request-bytes (shared with
      // the ingester, 16 MiB by default) is capped at --queue-max-bytes.
      maxRequestBytes: Math.min(flags['max-request-bytes'], flags['queue-max-bytes']),
    },
    exporter: {
      endpoint: flags['ingest-endpoint'],
      compression: flags['ingest-compression'],
      timeoutMs: flags['ingest-timeout-ms'],
      ...(flags.tenant === '' ? {} : { tenant: flags.tenant }),
    },
    queue: { maxBytes: flags['queue-max-bytes'] },
    batch: {
      maxBytes: flags['batch-max-bytes'],
      maxSpans: flags['batch-max-spans'],
      maxDelayMs: flags['batch-max-delay-ms'],
      maxConcurrency: flags['export-concurrency'],
    },
    ...file,
    shutdownTimeoutMs: flags['shutdown-timeout-ms'],
  } as AgentConfigInput;
  const result = AgentConfigSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.slice(0, 5).map((i) => `${i.path.length > 0 ? i.path.join('.') : '(top level)'}: ${i.message}`);
    return { ok: false, message: `invalid agent configuration: ${issues.join('; ')}` };
  }
  try {
    parseEndpoint(result.data.exporter.endpoint);
  } catch (e) {
    return { ok: false, message: `--ingest-endpoint: ${(e as Error).message}` };
  }
  return { ok: true, value: result.data };
}

/**
 * --agent-config names a JSON file, or is the JSON itself when it starts with `{`: the injected
 * sidecar gets its cluster's settings inline (SKEIN_AGENT_CONFIG), since a pod in another namespace
 * cannot mount the cluster's ConfigMap (SIGHUP re-reads the same text: a no-op).
 */
export function readAgentFile(file: string): Parsed<AgentFileSections> {
  if (file === '') return { ok: true, value: {} };
  if (file.trimStart().startsWith('{')) return parseAgentFile(file, '--agent-config (inline JSON)');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { ok: false, message: `--agent-config: cannot read ${file}: ${(e as Error).message}` };
  }
  return parseAgentFile(text, file);
}

export async function runAgent(argv: readonly string[]): Promise<number> {
  const loaded = loadConfig(AGENT_FLAGS, argv, process.env);
  if (loaded.kind === 'help') {
    process.stdout.write(formatHelp('agent', SUMMARY, AGENT_FLAGS));
    return 0;
  }
  if (loaded.kind === 'error') {
    process.stderr.write(`skein agent: ${loaded.message}\n`);
    return 2;
  }
  const flags = loaded.config;
  const file = readAgentFile(flags['agent-config']);
  const built = file.ok ? buildAgentConfig(flags, file.value) : file;
  if (!built.ok) {
    process.stderr.write(`skein agent: ${built.message}\n`);
    return 2;
  }
  const config = built.value;
  const logger = createRootLogger({ component: 'agent', level: flags['log-level'] });
  const registry = createRegistry();
  const agent = createAgent({ config, admin: { host: flags['admin-host'] === '' ? flags.host : flags['admin-host'], port: flags['admin-port'] }, logger, registry });

  try {
    const addresses = await agent.start();
    logger.info(
      { ...addresses, ingestEndpoint: config.exporter.endpoint, queueMaxBytes: config.queue.maxBytes, agentConfig: flags['agent-config'] || undefined },
      'skein ready',
    );
  } catch (e) {
    logger.error({ err: e }, 'could not start the agent; check the ports (see --help)');
    await agent.stop(AbortSignal.timeout(1000));
    return 1;
  }

  // The running policy is the cluster's when it has one (polled from the ingest endpoint), else
  // the local one (flags + --agent-config, re-read on SIGHUP).
  let localPolicy: AgentPolicy = { sampling: config.sampling, scrubbing: config.scrubbing };
  let clusterPolicy: AgentPolicyResponse | undefined;
  const applyEffective = (why: string): boolean => {
    const effective = computeEffectivePolicy(localPolicy, clusterPolicy);
    if (!effective.ok) {
      logger.error({ version: clusterPolicy?.version, detail: effective.error }, 'the cluster agent policy is invalid; keeping the running policy');
      return false;
    }
    try {
      agent.updatePolicy(effective.policy);
    } catch (e) {
      logger.error({ err: e, source: effective.source }, 'policy update failed; keeping the running policy');
      return false;
    }
    logger.info({ source: effective.source, ...(effective.source === 'cluster' ? { version: clusterPolicy?.version } : {}), why }, 'policy applied');
    return true;
  };
  const poller =
    flags['cluster-policy-interval-ms'] === 0
      ? undefined
      : createClusterPolicyPoller({
          endpoint: config.exporter.endpoint,
          intervalMs: flags['cluster-policy-interval-ms'],
          timeoutMs: Math.min(config.exporter.timeoutMs, 5000),
          onPolicy: (p) => {
            clusterPolicy = p;
            applyEffective('cluster policy changed');
          },
          logger,
        });
  poller?.start();

  // SIGHUP: re-read the policy. A bad file leaves the running policy in place.
  const reload = (): void => {
    const next = readAgentFile(flags['agent-config']);
    const rebuilt = next.ok ? buildAgentConfig(flags, next.value) : next;
    if (!rebuilt.ok) {
      logger.error({ detail: rebuilt.message }, 'policy reload failed; keeping the running policy');
      return;
    }
    localPolicy = { sampling: rebuilt.value.sampling, scrubbing: rebuilt.value.scrubbing };
    if (!applyEffective('SIGHUP')) return;
    const restartOnly = JSON.stringify([rebuilt.value.retry, rebuilt.value.headSampler]) !== JSON.stringify([config.retry, config.headSampler]);
    logger.info({ agentConfig: flags['agent-config'], ...(restartOnly ? { ignored: 'retry and headSampler changes take effect at the next start' } : {}) }, 'policy reloaded');
  };
  process.on('SIGHUP', reload);

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      process.off('SIGHUP', reload);
      poller?.stop();
      const budget = config.shutdownTimeoutMs;
      logger.info({ signal, budgetMs: budget, queue: agent.stats() }, 'shutting down: closing receivers, flushing the queue');
      // Flushing gives up at the budget (the rest is dropped and counted); the hard stop is a backstop.
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: budget + 2000 }, 'graceful shutdown timed out; exiting');
        resolve(1);
      }, budget + 2000);
      timer.unref();
      agent.stop(AbortSignal.timeout(budget)).then(
        () => {
          clearTimeout(timer);
          const stats = agent.stats();
          logger.info({ sentSpans: stats.sentWeight, dropped: stats.dropped }, 'stopped');
          resolve(0);
        },
        (e: unknown) => {
          clearTimeout(timer);
          logger.error({ err: e }, 'error during shutdown');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
