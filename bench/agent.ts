// Agent benchmarks (issue 6): `skein agent` as a child process, forwarding to the no-op OTLP sink
// (bench/sink.ts) so only the agent's own cost is measured.
//
// 1. CPU and memory at a fixed offered load: a client in this process sends 500-span OTLP/gRPC
//    requests (the ingest template: ~10 attributes per span, fresh IDs per request) open-loop at
//    10,000 spans/s (and 50,000 in full runs); agent CPU from /proc/<pid>/stat over the measured
//    window, RSS (VmRSS) sampled every 250 ms. Policies: the default (keep everything, built-in
//    scrub rules), a sampling one (10 % default rate, one custom scrub rule), and scrubbing off
//    (to show what the scrubber costs).
// 2. The application's side: the real OpenTelemetry JS SDK gRPC exporter sends 512-span batches
//    (BatchSpanProcessor's default batch size) every 50 ms (≈ 10,000 spans/s) and each export()
//    call is timed until its callback — directly to the sink (baseline), and to the agent with the
//    ingest endpoint healthy (the sink), down (closed port) and black-holed (a TCP server that
//    accepts and never answers). With ingest away, the agent's queue is 8 MiB so it fills within the
//    run and both phases (queuing, then dropping) are measured.
//
// Nothing is asserted; numbers go to bench/results/ (bench/README.md).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { freePort, startBlackHole, startChild, type BlackHole, type StartedChild } from '../common/proc/index.js';
import { buildTemplate } from './ingest.js';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const CLK_TCK = 100; // Linux USER_HZ
const MiB = 1024 * 1024;

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) * 1024;
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- processes ---------------------------------------------------------------------------------

async function startSink(binDir: string): Promise<{ child: StartedChild; otlpGrpc: string }> {
  const child = await startChild({ args: [path.join(binDir, 'bench', 'sink.js')], readyMessage: 'skein ready', timeoutMs: 60_000 });
  return { child, otlpGrpc: child.ready['otlpGrpc']! };
}

interface AgentProcess {
  readonly child: StartedChild;
  readonly otlpGrpc: string;
  readonly admin: string;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

type Policy = 'default' | 'sampled' | 'no-scrub';

/**
 * SKEIN_BENCH_AGENT_CPU_PROF=<dir>: run each agent under `node --cpu-prof` writing into <dir>, and
 * stop it with SIGTERM instead of SIGKILL (the profile is written at exit). For finding hot spots
 * only: the profiler itself costs CPU, so runs made with it are not results.
 */
const CPU_PROF_DIR = process.env['SKEIN_BENCH_AGENT_CPU_PROF'];

async function startAgent(binDir: string, ingest: string, policy: Policy, extra: readonly string[] = []): Promise<AgentProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skein-bench-agent-'));
  const profile = CPU_PROF_DIR === undefined || CPU_PROF_DIR === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`];
  const config = path.join(dir, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify(
      policy === 'sampled'
        ? { sampling: { defaultProbability: 0.1 }, scrubbing: { rules: [{ name: 'user-tier', key: '^user\\.tier$', action: 'redact' }] } }
        : policy === 'no-scrub'
          ? { scrubbing: { disableBuiltins: ['*'] } }
          : {},
    ),
  );
  const child = await startChild({
    args: [
      ...profile,
      path.join(binDir, 'cli', 'skein.js'),
      'agent',
      '--host',
      '127.0.0.1',
      '--otlp-grpc-port',
      '0',
      '--otlp-http-port',
      '0',
      '--admin-port',
      '0',
      '--jaeger-sampling-port',
      '0',
      '--ingest-endpoint',
      ingest,
      '--agent-config',
      config,
      ...extra,
    ],
    readyMessage: 'skein ready',
    timeoutMs: 60_000,
  }).catch((e: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const admin = child.ready['admin']!;
  return {
    child,
    otlpGrpc: child.ready['otlpGrpc']!,
    admin,
    metrics: async () => (await fetch(`http://${admin}/metrics`)).text(),
    async stop() {
      await child.stop(profile.length > 0 ? 'SIGTERM' : 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Calls `tick` every `intervalMs` on an absolute schedule (open loop: a slow call does not delay the next). */
async function openLoop(intervalMs: number, durationMs: number, tick: () => void): Promise<void> {
  const t0 = performance.now();
  for (let k = 0; ; k++) {
    const at = t0 + k * intervalMs;
    if (at - t0 >= durationMs) return;
    const wait = at - performance.now();
    if (wait > 0) await sleep(wait);
    tick();
  }
}

// ---- 1. CPU and memory ---------------------------------------------------------------------------

export interface AgentCpuRun {
  readonly policy: Policy;
  readonly offeredSpansPerSecond: number;
  readonly receivedSpansPerSecond: number;
  readonly cpuSeconds: number;
  readonly seconds: number;
  /** Agent CPU as a fraction of one core. */
  readonly coreFraction: number;
  /** coreFraction scaled to 10,000 spans/s. */
  readonly coreFractionPer10k: number;
  readonly rssMedianMiB: number;
  readonly rssMaxMiB: number;
  readonly sentSpans: number;
  /** Received over the whole run (warm-up included), to compare with sentSpans. */
  readonly receivedSpansTotal: number;
  readonly droppedSpans: Record<string, number>;
  readonly clientErrors: number;
}

const SPANS_PER_REQUEST = 500;

export async function runCpu(binDir: string, policy: Policy, spansPerSecond: number, warmupSeconds: number, seconds: number, extraArgs: readonly string[] = []): Promise<AgentCpuRun> {
  const sink = await startSink(binDir);
  const agent = await startAgent(binDir, sink.otlpGrpc, policy, extraArgs);
  const template = buildTemplate(SPANS_PER_REQUEST, 10);
  const client = new grpc.Client(agent.otlpGrpc, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * MiB });
  let counter = Math.floor(Math.random() * 1e9);
  let errors = 0;
  const pending = new Set<Promise<void>>();
  const send = (): void => {
    const body = Buffer.from(template.body);
    const stampValue = counter++ >>> 0;
    for (const off of template.idOffsets) body.writeUInt32BE(stampValue, off);
    const p = new Promise<void>((resolve) => {
      client.makeUnaryRequest(EXPORT_PATH, (b: Buffer) => b, (b: Buffer) => b, body, (err) => {
        if (err !== null) errors++;
        resolve();
      });
    });
    pending.add(p);
    void p.then(() => pending.delete(p));
  };
  const intervalMs = (1000 * SPANS_PER_REQUEST) / spansPerSecond;
  try {
    await openLoop(intervalMs, warmupSeconds * 1000, send);
    const received0 = metric(await agent.metrics(), 'skein_agent_spans_received_total', { transport: 'grpc' });
    const cpu0 = cpuSeconds(agent.child.pid);
    const t0 = performance.now();
    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(rssBytes(agent.child.pid)), 250);
    await openLoop(intervalMs, seconds * 1000, send);
    clearInterval(sampler);
    const cpu1 = cpuSeconds(agent.child.pid);
    const elapsed = (performance.now() - t0) / 1000;
    await Promise.all(pending);
    await sleep(1500); // let the last batches (1 s delay) leave
    const text = await agent.metrics();
    const received = metric(text, 'skein_agent_spans_received_total', { transport: 'grpc' }) - received0;
    const dropped: Record<string, number> = {};
    for (const reason of ['queue-full', 'too-large', 'export-failed', 'export-rejected', 'sampling-probabilistic', 'malformed']) {
      const n = metric(text, 'skein_agent_spans_dropped_total', { reason });
      if (n > 0) dropped[reason] = n;
    }
    const coreFraction = (cpu1 - cpu0) / elapsed;
    const receivedPerSecond = received / elapsed;
    return {
      policy,
      offeredSpansPerSecond: spansPerSecond,
      receivedSpansPerSecond: receivedPerSecond,
      cpuSeconds: cpu1 - cpu0,
      seconds: elapsed,
      coreFraction,
      coreFractionPer10k: receivedPerSecond > 0 ? coreFraction * (10_000 / receivedPerSecond) : NaN,
      rssMedianMiB: median(rss) / MiB,
      rssMaxMiB: Math.max(...rss) / MiB,
      sentSpans: metric(text, 'skein_agent_spans_sent_total'),
      receivedSpansTotal: metric(text, 'skein_agent_spans_received_total', { transport: 'grpc' }),
      droppedSpans: dropped,
      clientErrors: errors,
    };
  } finally {
    client.close();
    await agent.stop();
    await sink.child.stop('SIGKILL');
  }
}

// ---- 2. The application's exporter call ----------------------------------------------------------

export type LatencyTarget = 'direct to sink' | 'agent, ingest healthy' | 'agent, ingest down' | 'agent, ingest black-holed';

export interface AgentLatencyRun {
  readonly target: LatencyTarget;
  readonly calls: number;
  readonly failures: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly agentRssMaxMiB?: number;
  readonly agentQueueBytesMax?: number;
  readonly agentDroppedQueueFull?: number;
}

const SDK_BATCH = 512;

/** 512 finished spans from the real SDK (~8 attributes each), exported again and again. */
function sdkSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'bench-app', 'host.name': 'bench-1' }), spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer('bench', '1.0.0');
  for (let i = 0; i < SDK_BATCH; i++) {
    const span = tracer.startSpan(i % 8 === 0 ? 'GET /api/cart' : `SELECT cart_items ${i % 3}`, {
      kind: i % 8 === 0 ? SpanKind.SERVER : SpanKind.CLIENT,
      attributes: {
        'http.request.method': 'GET',
        'http.route': '/api/cart/{id}',
        'http.response.status_code': i % 50 === 0 ? 500 : 200,
        'url.path': `/api/cart/${i}`,
        'server.address': 'cart.default.svc',
        'db.system': 'postgresql',
        'db.statement': 'SELECT * FROM cart_items WHERE cart_id = $1',
        'user.tier': i % 2 === 0 ? 'gold' : 'free',
      },
    });
    span.end();
  }
  return memory.getFinishedSpans();
}

export async function runLatency(binDir: string, target: LatencyTarget, seconds: number): Promise<AgentLatencyRun> {
  const sink = await startSink(binDir);
  let hole: BlackHole | undefined;
  let agent: AgentProcess | undefined;
  try {
    let address = sink.otlpGrpc;
    if (target !== 'direct to sink') {
      const ingest = target === 'agent, ingest healthy' ? sink.otlpGrpc : target === 'agent, ingest down' ? `127.0.0.1:${await freePort()}` : (hole = await startBlackHole()).address;
      agent = await startAgent(binDir, ingest, 'default', target === 'agent, ingest healthy' ? [] : ['--queue-max-bytes', '8MiB']);
      address = agent.otlpGrpc;
    }
    const spans = sdkSpans();
    const exporter = new OTLPTraceExporter({ url: `http://${address}` });
    const durations: number[] = [];
    let failures = 0;
    const pending = new Set<Promise<void>>();
    const exportOnce = (record: boolean): void => {
      const t0 = performance.now();
      const p = new Promise<void>((resolve) => {
        exporter.export(spans, (result) => {
          if (record) {
            durations.push(performance.now() - t0);
            if (result.code !== ExportResultCode.SUCCESS) failures++;
          }
          resolve();
        });
      });
      pending.add(p);
      void p.then(() => pending.delete(p));
    };
    await openLoop(50, 2000, () => exportOnce(false)); // warm-up: connections, JIT
    await Promise.all(pending);
    const rss: number[] = [];
    const queueBytes: number[] = [];
    const sampler = setInterval(() => {
      if (agent === undefined) return;
      rss.push(rssBytes(agent.child.pid));
      void agent.metrics().then(
        (t) => queueBytes.push(metric(t, 'skein_agent_queue_bytes')),
        () => undefined,
      );
    }, 500);
    await openLoop(50, seconds * 1000, () => exportOnce(true));
    clearInterval(sampler);
    await Promise.all(pending);
    await exporter.shutdown();
    const text = agent === undefined ? '' : await agent.metrics();
    return {
      target,
      calls: durations.length,
      failures,
      p50Ms: percentile(durations, 50),
      p99Ms: percentile(durations, 99),
      maxMs: Math.max(...durations),
      ...(agent === undefined
        ? {}
        : { agentRssMaxMiB: Math.max(...rss) / MiB, agentQueueBytesMax: Math.max(0, ...queueBytes), agentDroppedQueueFull: metric(text, 'skein_agent_spans_dropped_total', { reason: 'queue-full' }) }),
    };
  } finally {
    await agent?.stop();
    await hole?.close();
    await sink.child.stop('SIGKILL');
  }
}

// ---- suite -------------------------------------------------------------------------------------

const POLICY_NAMES: Record<Policy, string> = {
  default: 'default (keep all, built-in scrub rules)',
  sampled: '10 % sampling + 1 scrub rule',
  'no-scrub': 'keep all, scrubbing off (built-ins disabled)',
};

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

export async function runAgentSuite(options: { binDir: string; runs: number; seconds: number; quick: boolean; log: (line: string) => void }): Promise<{ rows: string[]; json: unknown }> {
  const { binDir, runs, seconds, quick, log } = options;
  const loads: [Policy, number][] = quick ? [['default', 10_000]] : [['default', 10_000], ['sampled', 10_000], ['no-scrub', 10_000], ['default', 50_000]];
  const cpuRuns: AgentCpuRun[] = [];
  for (let r = 0; r < runs; r++) {
    for (const [policy, rate] of loads) {
      log(`agent: run ${r + 1}/${runs} cpu, ${policy} policy, ${rate} spans/s (${seconds}s)…`);
      const run = await runCpu(binDir, policy, rate, 3, seconds);
      log(`  ${(run.coreFraction * 100).toFixed(1)}% of a core (${(run.coreFractionPer10k * 100).toFixed(1)}% per 10k spans/s), RSS ${run.rssMaxMiB.toFixed(0)} MiB, errors ${run.clientErrors}`);
      cpuRuns.push(run);
    }
  }
  const targets: LatencyTarget[] = ['direct to sink', 'agent, ingest healthy', 'agent, ingest down', 'agent, ingest black-holed'];
  const latencyRuns: AgentLatencyRun[] = [];
  for (let r = 0; r < runs; r++) {
    for (const target of targets) {
      log(`agent: run ${r + 1}/${runs} exporter latency, ${target} (${seconds}s)…`);
      const run = await runLatency(binDir, target, seconds);
      log(`  p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms, max ${run.maxMs.toFixed(1)} ms, failures ${run.failures}/${run.calls}`);
      latencyRuns.push(run);
    }
  }

  const rows: string[] = [
    '### CPU and memory (500-span OTLP/gRPC requests, open loop, to a no-op sink)',
    '',
    '| policy | offered spans/s | agent CPU (% of one core) | per 10,000 spans/s | RSS median / max (MiB) | sent ÷ received | target |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const [policy, rate] of loads) {
    const xs = cpuRuns.filter((x) => x.policy === policy && x.offeredSpansPerSecond === rate);
    const sentShare = median(xs.map((x) => x.sentSpans / Math.max(1, x.receivedSpansTotal)));
    rows.push(
      `| ${POLICY_NAMES[policy]} | ${fmt(rate)} | ${fmt(median(xs.map((x) => x.coreFraction * 100)), 1)} % | ${fmt(median(xs.map((x) => x.coreFractionPer10k * 100)), 1)} % | ${fmt(median(xs.map((x) => x.rssMedianMiB)))} / ${fmt(Math.max(...xs.map((x) => x.rssMaxMiB)))} | ${fmt(sentShare, 2)} | ${rate === 10_000 ? '≤ 10 %' : ''} |`,
    );
  }
  const baseline = median(latencyRuns.filter((x) => x.target === 'direct to sink').map((x) => x.p99Ms));
  rows.push(
    '',
    '### The application\'s exporter call (OpenTelemetry JS SDK gRPC exporter, 512-span batches every 50 ms)',
    '',
    '| target | export() p50 | p99 | added p99 vs direct | max | failed calls | agent RSS max (MiB) | agent queue max (MiB) | spans dropped (queue-full) |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const target of targets) {
    const xs = latencyRuns.filter((x) => x.target === target);
    const p99 = median(xs.map((x) => x.p99Ms));
    const agentCols =
      target === 'direct to sink'
        ? '— | — | —'
        : `${fmt(Math.max(...xs.map((x) => x.agentRssMaxMiB ?? NaN)))} | ${fmt(Math.max(...xs.map((x) => (x.agentQueueBytesMax ?? NaN) / MiB)), 1)} | ${fmt(median(xs.map((x) => x.agentDroppedQueueFull ?? 0)))}`;
    rows.push(
      `| ${target} | ${fmt(median(xs.map((x) => x.p50Ms)), 2)} ms | ${fmt(p99, 2)} ms | ${target === 'direct to sink' ? '—' : `${p99 - baseline >= 0 ? '+' : ''}${fmt(p99 - baseline, 2)} ms`} | ${fmt(Math.max(...xs.map((x) => x.maxMs)), 1)} ms | ${xs.reduce((n, x) => n + x.failures, 0)} of ${xs.reduce((n, x) => n + x.calls, 0)} | ${agentCols} |`,
    );
  }
  return { rows, json: { cpu: cpuRuns, latency: latencyRuns } };
}
