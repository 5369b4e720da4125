// Cluster benchmarks (the sharded-cluster issue), on a real local cluster: etcd + `skein controller`
// + 3 `skein ingester` + `skein querier` as child processes (common/proc's startLocalCluster, ephemeral
// ports, a temp data dir removed afterwards). Three measurements:
//
// 1. Ingest: 1000-span OTLP/gRPC requests round-robin to the 3 ingesters, 8 in flight; spans/s and
//    spans per server CPU-second (utime+stime of the ingesters, and separately etcd + controller, from
//    /proc), the fraction of spans forwarded to another member (the ingesters' /metrics), against
//    `skein all-in-one` under the same load in the same run (bench/ingest.ts).
// 2. Failover: SIGKILL one ingester under light open-loop OTLP/HTTP load on the others, where every
//    request holds traces of every shard; time from the kill to the first HTTP 200 of a request sent
//    after it (it necessarily covers the victim's shards, now written by their new owners).
// 3. Handoff: SIGTERM one ingester under the same load; time until every shard it owned is owned by
//    a survivor (polling /debug/ownership every 20 ms) and acknowledged there, failed requests.
//
// Nothing here asserts timings; the numbers go into bench/results/ with the targets beside them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { encodeExportRequest } from '../common/otlp/index.js';
import { startLocalCluster, type ClusterProcess, type LocalCluster } from '../common/proc/index.js';
import { createShardFunction } from '../common/shard/index.js';
import { DEFAULT_TENANT, type KeyValue, type Span } from '../common/model/index.js';
import { buildTemplate, runIngest, startClosedLoop, type IngestRun } from './ingest.js';

/** Shards of the benchmark cluster: 4 per ingester, so a victim's shards land on both survivors. */
export const CLUSTER_SHARDS = 12;
const INGESTERS = 3;
const SPANS_PER_REQUEST = 1000;
/** `startLocalCluster`'s lease TTL with ephemeral ports (tests, benchmarks); `make cluster` uses 10 s, the flag's default. */
const LOCAL_CLUSTER_TTL_SECONDS = 2;
const FLAG_DEFAULT_TTL_SECONDS = 10;
/** The ingesters' --forward-timeout-ms default: how long a write waits for a shard owner before 503. */
const FORWARD_TIMEOUT_MS = 5000;
const OWNERSHIP_POLL_MS = 20;
/** Open-loop failover/handoff load: one request every 20 ms (12 shards × 2 traces × 2 spans = 48 spans). */
const LIGHT_INTERVAL_MS = 20;
const LIGHT_TRACES_PER_SHARD = 2;
const LIGHT_SPANS_PER_TRACE = 2;

// --- small helpers (bench/ingest.ts keeps its copies private) ---------------------------------

const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat utime/stime are in these ticks

/** utime + stime of a live process, in seconds; NaN once it is gone. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Overwrites the first 4 bytes of every ID with the request counter (as bench/ingest.ts does). */
function stamp(template: { body: Buffer; idOffsets: number[] }, counter: number): Buffer {
  const b = Buffer.from(template.body);
  for (const off of template.idOffsets) b.writeUInt32BE(counter >>> 0, off);
  return b;
}

/** Drops control characters and stray bytes of a binary body, keeping its text. */
const printable = (text: string): string =>
  text
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const median = (xs: readonly number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const max = (xs: readonly number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x));
  return s.length === 0 ? NaN : Math.max(...s);
};

/** Sum of the samples of `name` in Prometheus text whose labels include `labels`. */
export function metricSum(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const braceEnd = line.indexOf('}');
    const labelText = line[name.length] === '{' ? line.slice(name.length + 1, braceEnd) : '';
    const have = new Map<string, string>();
    for (const m of labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have.set(m[1]!, m[2]!);
    if (Object.entries(labels).some(([k, v]) => have.get(k) !== v)) continue;
    const value = Number(line.slice((braceEnd >= 0 ? braceEnd : name.length) + 1).trim().split(' ')[0]);
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

async function scrape(admin: string): Promise<string> {
  const res = await fetch(`http://${admin}/metrics`, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

interface OwnershipView {
  readonly owned: ReadonlyMap<number, number>; // shard → token
  readonly acks: readonly { shard: number; token: number; firstAckMs: number }[];
}

/** GET /debug/ownership on an ingester's admin port; undefined when it does not answer (in time). */
async function ownershipOf(admin: string): Promise<OwnershipView | undefined> {
  try {
    const res = await fetch(`http://${admin}/debug/ownership`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { ownership: { owned: { shard: number; token: number }[]; acks: { shard: number; token: number; firstAckMs: number }[] } };
    return { owned: new Map(body.ownership.owned.map((o) => [o.shard, o.token])), acks: body.ownership.acks };
  } catch {
    return undefined;
  }
}

const adminOf = (p: ClusterProcess): string => p.ready()['admin']!;

/** Until every shard is owned and the owners are balanced (max − min ≤ 1), twice in a row: the controller spreads shards by one handoff at a time after the ingesters join. */
async function waitBalanced(cluster: LocalCluster, shards: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let stable = 0;
  while (Date.now() < until) {
    const views = await Promise.all(cluster.ingesters.map((p) => ownershipOf(adminOf(p))));
    const counts = views.map((v) => v?.owned.size ?? -1);
    const union = new Set(views.flatMap((v) => [...(v?.owned.keys() ?? [])]));
    const balanced = counts.every((c) => c >= 0) && union.size === shards && Math.max(...counts) - Math.min(...counts) <= 1;
    stable = balanced ? stable + 1 : 0;
    if (stable >= 2) return;
    await sleep(200);
  }
  throw new Error(`cluster shards not spread over the ingesters within ${timeoutMs} ms`);
}

async function startBenchCluster(binDir: string, options: { ttlSeconds: number; ingesterArgs?: readonly string[] }): Promise<{ cluster: LocalCluster; dataDir: string }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'skein-bench-cluster-'));
  try {
    const cluster = await startLocalCluster({
      skeinBin: path.join(binDir, 'cli', 'skein.js'),
      dataDir,
      ports: 'ephemeral',
      ingesters: INGESTERS,
      shards: CLUSTER_SHARDS,
      leaseTtlSeconds: options.ttlSeconds,
      ingesterArgs: ['--fsync', 'batch', ...(options.ingesterArgs ?? [])],
      logLevel: 'info', // the "skein ready" line is an info line
    });
    try {
      await waitBalanced(cluster, CLUSTER_SHARDS, 60_000);
    } catch (e) {
      await teardown(cluster, dataDir);
      throw e;
    }
    return { cluster, dataDir };
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
}

/** SIGKILLs every process still running (nothing here needs a graceful stop) and removes the data dir. */
async function teardown(cluster: LocalCluster, dataDir: string): Promise<void> {
  try {
    await Promise.allSettled([cluster.querier.kill(), ...cluster.ingesters.map((p) => p.kill()), ...cluster.controllers.map((p) => p.kill())]);
    await cluster.etcd.stop().catch(() => undefined);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// --- 1. ingest --------------------------------------------------------------------------------

export interface ClusterIngestRun {
  readonly spans: number;
  readonly seconds: number;
  readonly spansPerSecond: number;
  readonly errors: number;
  /** CPU-seconds during the measured window. */
  readonly cpu: { readonly ingesters: number; readonly perIngester: readonly number[]; readonly etcd: number; readonly controller: number; readonly querier: number };
  readonly spansPerIngesterCpuSecond: number;
  /** Ingesters + etcd + controller. */
  readonly spansPerServerCpuSecond: number;
  /** Spans of client requests appended by the ingester that received them (it owned the shard). */
  readonly local: number;
  /** Spans of client requests forwarded (acknowledged) to another member. */
  readonly forwarded: number;
  /** Spans the ingesters accepted as owners from other members (should equal `forwarded`). */
  readonly receivedForwarded: number;
  readonly forwardingFraction: number;
}

export async function runClusterIngest(options: { binDir: string; warmupSeconds: number; seconds: number; concurrency: number }): Promise<ClusterIngestRun> {
  const { cluster, dataDir } = await startBenchCluster(options.binDir, {
    ttlSeconds: LOCAL_CLUSTER_TTL_SECONDS,
    ingesterArgs: ['--head-max-bytes', '8GiB', '--max-request-bytes', '64MiB'],
  });
  const clients: grpc.Client[] = [];
  try {
    for (const p of cluster.ingesters) clients.push(new grpc.Client(p.ready()['otlpGrpc']!, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 }));
    const template = buildTemplate(SPANS_PER_REQUEST);
    let counter = Math.floor(Math.random() * 1e9);
    let next = 0;
    const send = (): Promise<boolean> =>
      new Promise<boolean>((resolve) => {
        const client = clients[next++ % clients.length]!;
        client.makeUnaryRequest(
          '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
          (b: Buffer) => b,
          (b: Buffer) => b,
          stamp(template, counter++),
          new grpc.Metadata(),
          { deadline: Date.now() + 30_000 },
          (err) => resolve(err === null),
        );
      });
    const load = startClosedLoop(send, options.concurrency);
    await sleep(options.warmupSeconds * 1000);

    const admins = cluster.ingesters.map(adminOf);
    const pids = {
      ingesters: cluster.ingesters.map((p) => p.pid()),
      etcd: cluster.etcd.pid(),
      controller: cluster.controllers[0]!.pid(),
      querier: cluster.querier.pid(),
    };
    const readCpu = (): { ingesters: number[]; etcd: number; controller: number; querier: number } => ({
      ingesters: pids.ingesters.map(cpuSeconds),
      etcd: cpuSeconds(pids.etcd),
      controller: cpuSeconds(pids.controller),
      querier: cpuSeconds(pids.querier),
    });
    const metrics0 = await Promise.all(admins.map(scrape));
    const cpu0 = readCpu();
    const t0 = performance.now();
    load.startMeasuring();
    await sleep(options.seconds * 1000);
    const cpu1 = readCpu();
    const elapsed = (performance.now() - t0) / 1000;
    const { ok: measured, errors: measuredErrors } = load.stopMeasuring();
    await load.stop();
    // Counters are read after the window (a scrape costs ingester CPU too): they cover the window
    // plus the requests in flight when it closed, which only nudges the fraction.
    const metrics1 = await Promise.all(admins.map(scrape));

    const delta = (name: string, labels: Record<string, string> = {}): number =>
      metrics1.reduce((n, m, i) => n + metricSum(m, name, labels) - metricSum(metrics0[i]!, name, labels), 0);
    const local = delta('skein_ingester_spans_local_total');
    const forwarded = delta('skein_ingester_spans_forwarded_total', { outcome: 'ok' });
    const receivedForwarded = delta('skein_ingester_forwarded_spans_received_total', { outcome: 'ok' });
    const perIngester = cpu1.ingesters.map((c, i) => c - cpu0.ingesters[i]!);
    const ingesterCpu = perIngester.reduce((a, b) => a + b, 0);
    const etcdCpu = cpu1.etcd - cpu0.etcd;
    const controllerCpu = cpu1.controller - cpu0.controller;
    const spans = measured * SPANS_PER_REQUEST;
    return {
      spans,
      seconds: elapsed,
      spansPerSecond: spans / elapsed,
      errors: measuredErrors,
      cpu: { ingesters: ingesterCpu, perIngester, etcd: etcdCpu, controller: controllerCpu, querier: cpu1.querier - cpu0.querier },
      spansPerIngesterCpuSecond: ingesterCpu > 0 ? spans / ingesterCpu : 0,
      spansPerServerCpuSecond: spans / (ingesterCpu + etcdCpu + controllerCpu),
      local,
      forwarded,
      receivedForwarded,
      forwardingFraction: forwarded / (forwarded + local),
    };
  } finally {
    for (const c of clients) c.close();
    await teardown(cluster, dataDir);
  }
}

// --- light open-loop load (failover, handoff) -------------------------------------------------

interface RequestRecord {
  /** performance.now() when the request was sent / its response status arrived. */
  readonly sentAt: number;
  doneAt: number;
  /** 'ok' (HTTP 200), or the status / error text. */
  outcome: string;
}

/**
 * One OTLP/HTTP protobuf request every `intervalMs` (open loop, so a stalled write never delays the
 * next one), round-robin over `targets`, each with `tracesPerShard` fresh traces of every shard (the
 * client computes shards with the protocol's shard function and the default tenant).
 */
interface LightLoad {
  readonly records: RequestRecord[];
  stop(): Promise<void>;
}

function startLightLoad(options: { targets: readonly string[]; shards: number; intervalMs: number; maxInFlight: number }): LightLoad {
  const shardOf = createShardFunction();
  const records: RequestRecord[] = [];
  const inflight = new Set<Promise<void>>();
  const s = (key: string, value: string): KeyValue => ({ key, value: { kind: 'string', value } });
  const body = (): Uint8Array => {
    const spans: Span[] = [];
    const perShard = new Array<number>(options.shards).fill(0);
    let missing = options.shards * LIGHT_TRACES_PER_SHARD;
    const now = BigInt(Date.now()) * 1_000_000n;
    while (missing > 0) {
      const traceId = randomBytes(16);
      const shard = shardOf.shardOf(DEFAULT_TENANT, traceId, 0, options.shards);
      if (perShard[shard]! >= LIGHT_TRACES_PER_SHARD) continue;
      perShard[shard]!++;
      missing--;
      let parent: Uint8Array = new Uint8Array(0);
      for (let i = 0; i < LIGHT_SPANS_PER_TRACE; i++) {
        const spanId = randomBytes(8);
        spans.push({
          traceId,
          spanId,
          traceState: '',
          parentSpanId: parent,
          flags: 1,
          name: i === 0 ? 'GET /api/cart' : 'SELECT cart_items',
          kind: i === 0 ? 2 : 3,
          startTimeUnixNano: now,
          endTimeUnixNano: now + 250_000n,
          attributes: [s('http.route', '/api/cart/{id}'), s('shard.hint', String(shard))],
          droppedAttributesCount: 0,
          events: [],
          droppedEventsCount: 0,
          links: [],
          droppedLinksCount: 0,
          status: { code: 0, message: '' },
        });
        parent = spanId;
      }
    }
    return encodeExportRequest([
      {
        resource: { attributes: [s('service.name', 'cart')], droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeSpans: [{ scope: { name: 'bench', version: '1.0', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }],
      },
    ]);
  };
  let next = 0;
  const timer = setInterval(() => {
    if (inflight.size >= options.maxInFlight) return;
    const target = options.targets[next++ % options.targets.length]!;
    const record: RequestRecord = { sentAt: performance.now(), doneAt: NaN, outcome: 'pending' };
    records.push(record);
    const p = fetch(`http://${target}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: body(),
      signal: AbortSignal.timeout(15_000),
    })
      .then(async (res) => {
        record.doneAt = performance.now();
        const text = await res.text();
        // Error bodies are google.rpc.Status protobuf here: keep the readable message.
        record.outcome = res.status === 200 ? 'ok' : `${res.status} ${printable(text).slice(0, 200)}`;
      })
      .catch((e: unknown) => {
        record.doneAt = performance.now();
        record.outcome = `error ${e instanceof Error ? e.message : String(e)}`;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }, options.intervalMs);
  return {
    records,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inflight]);
    },
  };
}

function failureSummary(records: readonly RequestRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) if (r.outcome !== 'ok') out[r.outcome] = (out[r.outcome] ?? 0) + 1;
  return out;
}

/**
 * Polls the survivors' /debug/ownership every 20 ms until each of `shards` is owned by one of them
 * (→ ms after `eventAt`) and, in the owner's ack journal, acknowledged under its new token (→ the
 * ack's Date.now() minus `eventUnixMs`). Gives up at `deadline` (performance.now()).
 */
async function watchTakeover(
  survivors: readonly ClusterProcess[],
  shards: readonly number[],
  eventAt: number,
  eventUnixMs: number,
  deadline: number,
  alsoUntil: () => boolean,
): Promise<{ ownedMs: number; newOwnersAckedMs: number; owners: Record<number, string> }> {
  let ownedMs = NaN;
  let newOwnersAckedMs = NaN;
  const owners: Record<number, string> = {};
  while (performance.now() < deadline) {
    const views = await Promise.all(survivors.map((p) => ownershipOf(adminOf(p))));
    const at = performance.now();
    let allOwned = true;
    let latestAck = -Infinity;
    for (const shard of shards) {
      const i = views.findIndex((v) => v?.owned.has(shard) === true);
      if (i < 0) {
        allOwned = false;
        latestAck = NaN;
        continue;
      }
      owners[shard] = survivors[i]!.name;
      const token = views[i]!.owned.get(shard)!;
      const window = views[i]!.acks.find((a) => a.shard === shard && a.token === token);
      latestAck = window === undefined ? NaN : Math.max(latestAck, window.firstAckMs);
    }
    if (allOwned && Number.isNaN(ownedMs)) ownedMs = at - eventAt;
    if (allOwned && Number.isFinite(latestAck)) newOwnersAckedMs = latestAck - eventUnixMs;
    if (Number.isFinite(newOwnersAckedMs) && alsoUntil()) break;
    await sleep(OWNERSHIP_POLL_MS);
  }
  return { ownedMs, newOwnersAckedMs, owners };
}

/** Log lines (pino JSON) of `processes` from `sinceUnixMs` on whose message matches TIMELINE_MSGS, as "+<ms> name: msg (fields)", in time order. */
function timeline(processes: readonly ClusterProcess[], sinceUnixMs: number): string[] {
  const out: { at: number; text: string }[] = [];
  for (const p of processes) for (const line of p.logs()) {
    if (!line.startsWith('{')) continue;
    try {
      // pino's isoTime: "time":"2026-12-04T10:00:00.123Z"
      const e = JSON.parse(line) as Record<string, unknown> & { time?: string | number; msg?: string };
      const time = typeof e.time === 'string' ? Date.parse(e.time) : (e.time ?? NaN);
      if (!(time >= sinceUnixMs) || e.msg === undefined || !TIMELINE_MSGS.test(e.msg)) continue;
      const fields = ['shard', 'action', 'reason', 'cause', 'outcome', 'lease'].filter((k) => e[k] !== undefined).map((k) => `${k}=${String(e[k] as string | number)}`);
      out.push({ at: time, text: `+${time - sinceUnixMs} ${p.name}: ${e.msg}${fields.length === 0 ? '' : ` (${fields.join(' ')})`}` });
    } catch {
      // not a JSON line
    }
  }
  return out.sort((a, b) => a.at - b.at).map((x) => x.text);
}

const TIMELINE_MSGS = /acquired|releas|lost|lease|controller write|handoff|owner|drain|shutting|left|stopped/i;

// --- 2. failover (SIGKILL) --------------------------------------------------------------------

export interface FailoverRun {
  readonly ttlSeconds: number;
  readonly victim: string;
  readonly victimShards: readonly number[];
  /** Kill → first HTTP 200 of a request sent after the kill (every request covers every shard). */
  readonly firstAckMs: number;
  /** Kill → every victim shard owned by a survivor (polled every 20 ms). */
  readonly ownedMs: number;
  /** Kill → the last victim shard's first acknowledgement under its new owner's token (ack journals). */
  readonly newOwnersAckedMs: number;
  readonly requestsAfterKill: number;
  readonly failedAfterKill: number;
  readonly failedBeforeKill: number;
  readonly failures: Record<string, number>;
  /** Controller and survivors' log lines about leases/shards after the kill (ms after it). */
  readonly timeline: readonly string[];
}

/**
 * A bench cluster with light load on every ingester but the victim (`victimIndex`), which owns at
 * least one shard; runs `measure` a second into the load, then stops the load and the cluster.
 */
async function withVictimUnderLoad<T>(
  options: { binDir: string; ttlSeconds: number; victimIndex: number },
  measure: (ctx: { cluster: LocalCluster; victim: ClusterProcess; survivors: ClusterProcess[]; victimShards: number[]; load: LightLoad }) => Promise<T>,
): Promise<T> {
  const { cluster, dataDir } = await startBenchCluster(options.binDir, { ttlSeconds: options.ttlSeconds });
  try {
    const victim = cluster.ingesters[options.victimIndex % INGESTERS]!;
    const survivors = cluster.ingesters.filter((p) => p !== victim);
    const victimShards = [...((await ownershipOf(adminOf(victim)))?.owned.keys() ?? [])].sort((a, b) => a - b);
    if (victimShards.length === 0) throw new Error(`${victim.name} owns no shard`);
    const load = startLightLoad({ targets: survivors.map((p) => p.ready()['otlpHttp']!), shards: CLUSTER_SHARDS, intervalMs: LIGHT_INTERVAL_MS, maxInFlight: 600 });
    try {
      await sleep(1000);
      return await measure({ cluster, victim, survivors, victimShards, load });
    } finally {
      await load.stop();
    }
  } finally {
    await teardown(cluster, dataDir);
  }
}

export async function runFailover(options: { binDir: string; ttlSeconds: number; victimIndex: number }): Promise<FailoverRun> {
  return withVictimUnderLoad(options, async ({ cluster, victim, survivors, victimShards, load }) => {
    const killedUnixMs = Date.now();
    const killedAt = performance.now();
    await victim.kill();
    const firstAck = (): number => {
      let first = Infinity;
      for (const r of load.records) if (r.sentAt >= killedAt && r.outcome === 'ok') first = Math.min(first, r.doneAt);
      return Number.isFinite(first) ? first - killedAt : NaN;
    };
    const takeover = await watchTakeover(survivors, victimShards, killedAt, killedUnixMs, killedAt + options.ttlSeconds * 1000 + 30_000, () => Number.isFinite(firstAck()));
    await sleep(300);
    await load.stop();
    const after = load.records.filter((r) => r.sentAt >= killedAt);
    return {
      ttlSeconds: options.ttlSeconds,
      victim: victim.name,
      victimShards,
      firstAckMs: firstAck(),
      ownedMs: takeover.ownedMs,
      newOwnersAckedMs: takeover.newOwnersAckedMs,
      requestsAfterKill: after.length,
      failedAfterKill: after.filter((r) => r.outcome !== 'ok').length,
      failedBeforeKill: load.records.filter((r) => r.sentAt < killedAt && r.outcome !== 'ok').length,
      failures: failureSummary(load.records),
      timeline: timeline([...cluster.controllers, ...survivors], killedUnixMs),
    };
  });
}

// --- 3. handoff (SIGTERM) ---------------------------------------------------------------------

export interface HandoffRun {
  readonly ttlSeconds: number;
  readonly victim: string;
  readonly victimShards: readonly number[];
  /** SIGTERM → every shard the victim owned is owned by a survivor (polled every 20 ms). */
  readonly ownedMs: number;
  /** SIGTERM → the last of those shards' first acknowledgement by its new owner (ack journals). */
  readonly newOwnersAckedMs: number;
  /** SIGTERM → the victim process exited (handoff + drain + close). */
  readonly exitMs: number;
  readonly exitCode: number | null;
  /** Requests sent from 1 s before SIGTERM until 300 ms after the victim exited, and how many failed. */
  readonly requests: number;
  readonly failed: number;
  /** Slowest acknowledgement of a request sent after SIGTERM (what a client saw of the handoff). */
  readonly maxLatencyMs: number;
  /** The same for requests sent in the second before SIGTERM (steady state, for comparison). */
  readonly maxLatencyBeforeMs: number;
  /** Sent after SIGTERM: [sent ms after SIGTERM, latency ms] of the 5 slowest. */
  readonly slowest: readonly (readonly [number, number])[];
  readonly failures: Record<string, number>;
  readonly timeline: readonly string[];
}

export async function runHandoff(options: { binDir: string; ttlSeconds: number; victimIndex: number }): Promise<HandoffRun> {
  return withVictimUnderLoad(options, async ({ cluster, victim, survivors, victimShards, load }) => {
    const termUnixMs = Date.now();
    const termAt = performance.now();
    let exitMs = NaN;
    let exitCode: number | null = null;
    const exited = victim.stop('SIGTERM').then((code) => {
      exitMs = performance.now() - termAt;
      exitCode = code;
    });
    const takeover = await watchTakeover(survivors, victimShards, termAt, termUnixMs, termAt + 30_000, () => Number.isFinite(exitMs));
    // Bounded: the ingester's own shutdown budget is 25 s; past ours it is killed.
    await Promise.race([exited, sleep(Math.max(0, termAt + 30_000 - performance.now()))]);
    if (!Number.isFinite(exitMs)) await victim.kill();
    await sleep(300);
    await load.stop();
    const after = load.records.filter((r) => r.sentAt >= termAt && r.outcome === 'ok');
    const before = load.records.filter((r) => r.sentAt < termAt && r.outcome === 'ok');
    return {
      ttlSeconds: options.ttlSeconds,
      victim: victim.name,
      victimShards,
      ownedMs: takeover.ownedMs,
      newOwnersAckedMs: takeover.newOwnersAckedMs,
      exitMs,
      exitCode,
      requests: load.records.length,
      failed: load.records.filter((r) => r.outcome !== 'ok').length,
      maxLatencyMs: max(after.map((r) => r.doneAt - r.sentAt)),
      maxLatencyBeforeMs: max(before.map((r) => r.doneAt - r.sentAt)),
      slowest: after
        .map((r) => [Math.round(r.sentAt - termAt), Math.round(r.doneAt - r.sentAt)] as const)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5),
      failures: failureSummary(load.records),
      timeline: timeline([...cluster.controllers, ...survivors, victim], termUnixMs),
    };
  });
}

// --- the suite --------------------------------------------------------------------------------

/** The commit the measured build came from (the code under test changes often), naming uncommitted changes outside bench/. */
function sourceRevision(repo: string): string {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    // -z: NUL-separated "XY path" entries, untouched by trimming or quoting.
    const dirty = git('status', '--porcelain', '-z', '--untracked-files=no')
      .split('\0')
      .map((entry) => entry.slice(3))
      .filter((file) => file !== '' && !file.startsWith('bench/'));
    const more = dirty.length > 5 ? ` and ${dirty.length - 5} more` : '';
    return `${git('rev-parse', '--short', 'HEAD').trim()}${dirty.length === 0 ? '' : ` + uncommitted changes in ${dirty.slice(0, 5).join(', ')}${more}`}`;
  } catch {
    return 'unknown (no git)';
  }
}

const fmt = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x).toLocaleString('en-US')} ms` : 'n/a');

export async function runClusterSuite(options: {
  binDir: string;
  runs: number;
  seconds: number;
  quick: boolean;
  log: (line: string) => void;
}): Promise<{ rows: string[]; json: unknown }> {
  const { binDir, runs, log } = options;
  // Read first: `make bench` built dist/ just before, and the tree may change while the suite runs.
  const revision = sourceRevision(path.resolve(binDir, '..'));

  // 1. Ingest, interleaved with the all-in-one baseline.
  const aio: IngestRun[] = [];
  const cluster: ClusterIngestRun[] = [];
  for (let r = 0; r < runs; r++) {
    log(`cluster: run ${r + 1}/${runs} all-in-one baseline over grpc (${options.seconds}s)…`);
    const a = await runIngest({ server: 'skein', transport: 'grpc', binDir, warmupSeconds: 2, seconds: options.seconds, concurrency: 8 });
    log(`  ${fmt(a.spansPerSecond)} spans/s, ${fmt(a.spansPerCpuSecond)} spans/server-CPU-s, errors ${a.errors}`);
    aio.push(a);
    log(`cluster: run ${r + 1}/${runs} 3-ingester cluster over grpc (${options.seconds}s)…`);
    const c = await runClusterIngest({ binDir, warmupSeconds: 2, seconds: options.seconds, concurrency: 8 });
    log(
      `  ${fmt(c.spansPerSecond)} spans/s, ${fmt(c.spansPerIngesterCpuSecond)} spans/ingester-CPU-s, ${fmt(c.spansPerServerCpuSecond)} incl. etcd+controller, forwarded ${(c.forwardingFraction * 100).toFixed(1)}%, errors ${c.errors}`,
    );
    cluster.push(c);
  }

  // 2. Failover after SIGKILL, at the local cluster's TTL and (full runs) the flag default.
  const ttls = options.quick ? [LOCAL_CLUSTER_TTL_SECONDS] : [LOCAL_CLUSTER_TTL_SECONDS, FLAG_DEFAULT_TTL_SECONDS];
  const failovers: FailoverRun[] = [];
  for (const ttl of ttls) {
    for (let r = 0; r < runs; r++) {
      log(`cluster: failover run ${r + 1}/${runs}, lease TTL ${ttl}s…`);
      const f = await runFailover({ binDir, ttlSeconds: ttl, victimIndex: r });
      log(`  ${f.victim} (shards ${f.victimShards.join(',')}): first ack ${ms(f.firstAckMs)}, owned ${ms(f.ownedMs)}, new owners acked ${ms(f.newOwnersAckedMs)}, failed ${f.failedAfterKill}/${f.requestsAfterKill}`);
      if (f.firstAckMs > ttl * 1000 + 1000) for (const line of f.timeline) log(`    ${line}`);
      failovers.push(f);
    }
  }

  // 3. Handoff on SIGTERM.
  const handoffs: HandoffRun[] = [];
  for (let r = 0; r < runs; r++) {
    log(`cluster: handoff run ${r + 1}/${runs}…`);
    const h = await runHandoff({ binDir, ttlSeconds: LOCAL_CLUSTER_TTL_SECONDS, victimIndex: r });
    log(
      `  ${h.victim} (shards ${h.victimShards.join(',')}): owned elsewhere ${ms(h.ownedMs)}, new owners acked ${ms(h.newOwnersAckedMs)}, exit ${ms(h.exitMs)} (code ${h.exitCode}), failed ${h.failed}/${h.requests}, max latency ${ms(h.maxLatencyMs)} (before SIGTERM ${ms(h.maxLatencyBeforeMs)}; slowest [sent, took] ${JSON.stringify(h.slowest)})`,
    );
    if (h.failed > 0 || h.ownedMs > 1000) for (const line of h.timeline) log(`    ${line}`);
    handoffs.push(h);
  }

  const m = (xs: readonly number[]): number => median(xs);
  const aioPerCpu = m(aio.map((x) => x.spansPerCpuSecond));
  const clusterPerIngesterCpu = m(cluster.map((x) => x.spansPerIngesterCpuSecond));
  const clusterPerServerCpu = m(cluster.map((x) => x.spansPerServerCpuSecond));
  const rows = [
    `Source: commit ${revision}; lease TTL ${LOCAL_CLUSTER_TTL_SECONDS} s unless stated; etcd from common/proc (heartbeat 50 ms, election timeout 250 ms).`,
    '',
    `### Ingest (OTLP/gRPC, 1000-span requests, 8 in flight, round-robin over ${INGESTERS} ingesters, ${CLUSTER_SHARDS} shards, fsync=batch)`,
    '',
    '| server | spans/s (wall, median) | spans per server CPU-s (median) | CPU/span ÷ all-in-one CPU/span | spans forwarded | errors |',
    '|---|---|---|---|---|---|',
    `| skein all-in-one (baseline) | ${fmt(m(aio.map((x) => x.spansPerSecond)))} | ${fmt(aioPerCpu)} | 1.00× | — | ${aio.reduce((n, x) => n + x.errors, 0)} |`,
    `| cluster: ${INGESTERS} ingesters | ${fmt(m(cluster.map((x) => x.spansPerSecond)))} | ${fmt(clusterPerIngesterCpu)} | ${(aioPerCpu / clusterPerIngesterCpu).toFixed(2)}× | ${(m(cluster.map((x) => x.forwardingFraction)) * 100).toFixed(1)}% | ${cluster.reduce((n, x) => n + x.errors, 0)} |`,
    `| cluster: ingesters + etcd + controller | | ${fmt(clusterPerServerCpu)} | ${(aioPerCpu / clusterPerServerCpu).toFixed(2)}× | | |`,
    '',
    `CPU-seconds per run (median): ingesters ${m(cluster.map((x) => x.cpu.ingesters)).toFixed(2)} (per ingester ${cluster.map((x) => x.cpu.perIngester.map((c) => c.toFixed(2)).join('/')).join(', ')}), etcd ${m(cluster.map((x) => x.cpu.etcd)).toFixed(2)}, controller ${m(cluster.map((x) => x.cpu.controller)).toFixed(2)}, querier (idle, not counted) ${m(cluster.map((x) => x.cpu.querier)).toFixed(2)}; measured window ${options.seconds} s. Forwarded = \`skein_ingester_spans_forwarded_total{outcome="ok"}\` ÷ (that + \`skein_ingester_spans_local_total\`), summed over the ingesters (owners confirmed ${fmt(m(cluster.map((x) => x.receivedForwarded)))} of ${fmt(m(cluster.map((x) => x.forwarded)))} forwarded spans, medians).`,
    '',
    `### Failover after SIGKILL of one ingester (light load: one 48-span OTLP/HTTP request every ${LIGHT_INTERVAL_MS} ms to the survivors, every request covering all ${CLUSTER_SHARDS} shards; --forward-timeout-ms ${FORWARD_TIMEOUT_MS})`,
    '',
    '| lease TTL | kill → first ack (median / max) | kill → victim shards owned by survivors (median / max) | kill → new owners acked every victim shard (median / max) | failed requests after kill | target |',
    '|---|---|---|---|---|---|',
    ...ttls.map((ttl) => {
      const fs = failovers.filter((f) => f.ttlSeconds === ttl);
      const which = ttl === LOCAL_CLUSTER_TTL_SECONDS ? 'local cluster / tests default' : '`--lease-ttl-seconds` default, `make cluster`';
      return `| ${ttl} s (${which}) | ${ms(m(fs.map((f) => f.firstAckMs)))} / ${ms(max(fs.map((f) => f.firstAckMs)))} | ${ms(m(fs.map((f) => f.ownedMs)))} / ${ms(max(fs.map((f) => f.ownedMs)))} | ${ms(m(fs.map((f) => f.newOwnersAckedMs)))} / ${ms(max(fs.map((f) => f.newOwnersAckedMs)))} | ${fs.reduce((n, f) => n + f.failedAfterKill, 0)} of ${fs.reduce((n, f) => n + f.requestsAfterKill, 0)} | ≤ ${ttl + 1} s (TTL + 1 s) |`;
    }),
    '',
    ...ttls.flatMap((ttl) => {
      const counts = new Map<string, number>();
      for (const f of failovers.filter((x) => x.ttlSeconds === ttl)) for (const [k, v] of Object.entries(f.failures)) counts.set(k, (counts.get(k) ?? 0) + v);
      const top = [...counts].sort((a, b) => b[1] - a[1])[0];
      return top === undefined ? [] : [`Failed requests at TTL ${ttl} s, most common answer (${top[1]}×): \`${top[0].slice(0, 220)}\``, ''];
    }),
    `The lease lapses in etcd one TTL after the victim's last keep-alive (sent every TTL/3), so kill → owner keys gone lies between ⅔·TTL and TTL, plus etcd's expiry scan (every 500 ms), then the controller's reassign and the new owner's acquire. A write waits up to --forward-timeout-ms (${FORWARD_TIMEOUT_MS} ms) for an owner of each of its shards before it is answered 503.`,
    '',
    `### Handoff on SIGTERM of one ingester (same load, lease TTL ${LOCAL_CLUSTER_TTL_SECONDS} s)`,
    '',
    '| metric | median | max | target |',
    '|---|---|---|---|',
    `| SIGTERM → every former shard owned by a survivor | ${ms(m(handoffs.map((h) => h.ownedMs)))} | ${ms(max(handoffs.map((h) => h.ownedMs)))} | ≤ 1 s |`,
    `| SIGTERM → new owners acked every former shard | ${ms(m(handoffs.map((h) => h.newOwnersAckedMs)))} | ${ms(max(handoffs.map((h) => h.newOwnersAckedMs)))} | |`,
    `| slowest client ack of a request sent after SIGTERM | ${ms(m(handoffs.map((h) => h.maxLatencyMs)))} | ${ms(max(handoffs.map((h) => h.maxLatencyMs)))} | |`,
    `| slowest client ack in the second before SIGTERM (steady state) | ${ms(m(handoffs.map((h) => h.maxLatencyBeforeMs)))} | ${ms(max(handoffs.map((h) => h.maxLatencyBeforeMs)))} | |`,
    `| SIGTERM → process exit (handoff, drain, close) | ${ms(m(handoffs.map((h) => h.exitMs)))} | ${ms(max(handoffs.map((h) => h.exitMs)))} | |`,
    `| failed client requests (whole window, all runs) | ${handoffs.reduce((n, h) => n + h.failed, 0)} of ${handoffs.reduce((n, h) => n + h.requests, 0)} | | 0 |`,
  ];
  return {
    rows,
    json: {
      revision,
      shards: CLUSTER_SHARDS,
      ingesters: INGESTERS,
      ingest: { allInOneSpansPerCpuSecond: aioPerCpu, clusterSpansPerIngesterCpuSecond: clusterPerIngesterCpu, clusterSpansPerServerCpuSecond: clusterPerServerCpu, allInOne: aio, cluster },
      failover: failovers,
      handoff: handoffs,
    },
  };
}
