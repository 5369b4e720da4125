// `make soak`: the storage-lifecycle soak run (issue 5). One `skein all-in-one` child with short
// lifecycle settings (a cut every 5 s, compaction windows of 5 min, a lifecycle pass every 5 s, GC
// grace 15 s, retention 1 h) is fed spans at a steady rate for ≥ 10 minutes while heads are cut,
// blocks compacted, expired and garbage-collected, and a verifier checks DESIGN.md §10 as a user
// sees it through the Tempo API:
//   - current spans (timestamps now, tenant soak-current): every acknowledged span is returned
//     whenever it is asked for, during the run and at the end (invariants 6 and 8: never "trace not
//     found", never a span missing, never a span twice or changed — invariant 1);
//   - old spans (timestamps 2–3 h ago, tenant soak-old, so their blocks hold nothing newer and lie
//     wholly past the 1 h horizon): they may be returned until their block expires; once a query
//     came back without the trace, no query started after it may return it again (invariant 7: no
//     resurrected spans).
// The two streams are separate tenants because a cut writes one block per tenant: a block mixing
// old and current spans ends now and would never expire.
//
// It exits non-zero on any miss, wrong answer or resurrection, and also when compaction, expiry or
// GC never happened — the point is to prove the lifecycle ran under load. Figures go to
// bench/results/<date>-<host>-soak.md/.json (`--quick`: -soak-quick, a smoke check, not a result).
// Bounded: a watchdog ends the run; the child is stopped by PID and the temp dir removed.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toHex, TENANT_HEADER, type KeyValue, type ResourceSpans, type Span } from '../common/model/index.js';
import { decodeExportRequest, encodeExportRequest } from '../common/otlp/index.js';
import { startChild, type StartedChild } from '../common/proc/index.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const binDir = path.resolve(here, '..');
const repo = path.resolve(binDir, '..');

// ---- options ---------------------------------------------------------------------------------

interface SoakOptions {
  readonly quick: boolean;
  readonly minutes: number;
  /** Spans per second over both streams. */
  readonly rate: number;
  /** Share of the spans sent as old (2–3 h in the past). */
  readonly oldShare: number;
  /** Verifier queries per second during the run. */
  readonly verifyQps: number;
  /** Time budget of the final check. */
  readonly finalSeconds: number;
  readonly keepDir: boolean;
}

function parseOptions(argv: readonly string[]): SoakOptions {
  const value = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const num = (name: string, fallback: number, min: number, max: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) {
      process.stderr.write(`soak: --${name} must be a number in [${min}, ${max}], got ${raw}\n`);
      process.exit(2);
    }
    return n;
  };
  const known = ['--quick', '--keep-dir', '--minutes=', '--rate=', '--old-share=', '--verify-qps=', '--final-seconds='];
  for (const a of argv) {
    if (!known.some((k) => (k.endsWith('=') ? a.startsWith(k) : a === k))) {
      process.stderr.write(`soak: unknown argument ${a}; usage: node dist/bench/soak.js [--minutes=10] [--rate=1000] [--quick] [--old-share=0.2] [--verify-qps=40] [--final-seconds=N] [--keep-dir]\n`);
      process.exit(2);
    }
  }
  const quick = argv.includes('--quick');
  const minutes = num('minutes', quick ? 2 : 10, 0.5, 24 * 60);
  return {
    quick,
    minutes,
    rate: num('rate', 1000, 10, 1_000_000),
    oldShare: num('old-share', 0.2, 0.01, 0.9),
    verifyQps: num('verify-qps', 40, 1, 10_000),
    // A quarter of the run, at least 30 s: enough to check every current trace at the default rate
    // when queries are fast, else a uniform random sample of them.
    finalSeconds: num('final-seconds', Math.max(30, Math.round(minutes * 15)), 5, 24 * 3600),
    keepDir: argv.includes('--keep-dir'),
  };
}

// The lifecycle compressed from minutes and hours into seconds; retention and the compaction window
// are at the flags' minimums (1 h, 5 min).
const SPANS_PER_TRACE = 4;
const TICK_MS = 100;
const MAX_SENDS_IN_FLIGHT = 32;
const CURRENT_TENANT = 'soak-current';
const OLD_TENANT = 'soak-old';
const OLD_MIN_AGE_MS = 2 * 3600_000;
const OLD_AGE_SPREAD_MS = 3600_000;
const SKEIN_ARGS = [
  '--shards', '4',
  '--fsync', 'batch',
  '--cut-max-age-ms', '5000',
  '--trace-idle-ms', '1000',
  '--compaction-enabled', 'true',
  '--compaction-window', '5m',
  '--lifecycle-interval-ms', '5000',
  '--block-gc-grace-ms', '15000',
  '--retention', '1h',
  '--log-level', 'info',
];
const PROGRESS_MS = 30_000;
const FINAL_CONCURRENCY = 4;
const RATE_PROBE_MS = 5_000;
const SAMPLE_MS = 5_000;
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat utime/stime are in these ticks

// ---- spans -----------------------------------------------------------------------------------

/** What the verifier knows of an acknowledged trace: its span IDs (16 hex digits each, in order) and start. */
interface SentTrace {
  readonly id: string;
  readonly spans: readonly string[];
  /** Span i starts at startMs + i ms. */
  readonly startMs: number;
  readonly ackedAtMs: number;
}

/** An old trace and what queries said of it. */
interface OldTrace extends SentTrace {
  /** Completion time of the first query that did not return it. */
  expiredAtMs?: number;
  /** Some query returned it (before it expired). */
  served?: boolean;
  /** The final check found it (not expired yet). */
  servedAtEnd?: boolean;
}

const str = (key: string, v: string): KeyValue => ({ key, value: { kind: 'string', value: v } });
const int = (key: string, v: number): KeyValue => ({ key, value: { kind: 'int', value: BigInt(v) } });

function buildTraces(count: number, startMsOf: () => number): { body: Uint8Array; traces: { id: string; spans: string[]; startMs: number }[] } {
  const spans: Span[] = [];
  const traces: { id: string; spans: string[]; startMs: number }[] = [];
  for (let t = 0; t < count; t++) {
    const traceId = randomBytes(16);
    const startMs = Math.floor(startMsOf());
    const ids: string[] = [];
    let root: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < SPANS_PER_TRACE; i++) {
      const spanId = randomBytes(8);
      ids.push(toHex(spanId));
      const start = BigInt(startMs + i) * 1_000_000n;
      spans.push({
        traceId,
        spanId,
        traceState: '',
        parentSpanId: root,
        flags: 1,
        name: i === 0 ? 'GET /api/orders/{id}' : `SELECT orders ${i}`,
        kind: i === 0 ? 2 : 3,
        startTimeUnixNano: start,
        endTimeUnixNano: start + 750_000n,
        attributes: [str('http.route', '/api/orders/{id}'), int('http.response.status_code', 200), str('db.system', 'postgresql'), int('soak.span.index', i)],
        droppedAttributesCount: 0,
        events: [],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        status: { code: 0, message: '' },
      });
      if (i === 0) root = spanId;
    }
    traces.push({ id: toHex(traceId), spans: ids, startMs });
  }
  const request: ResourceSpans[] = [
    {
      resource: { attributes: [str('service.name', 'soak'), str('host.name', os.hostname())], droppedAttributesCount: 0 },
      schemaUrl: '',
      scopeSpans: [{ scope: { name: 'soak', version: '1', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }],
    },
  ];
  return { body: encodeExportRequest(request), traces };
}

// ---- queries ---------------------------------------------------------------------------------

type Answer =
  | { readonly kind: 'found'; readonly spans: Map<string, bigint>; readonly duplicates: number; readonly partial: boolean }
  | { readonly kind: 'not-found'; readonly partial: boolean }
  | { readonly kind: 'error'; readonly what: string };

const PARTIAL_HEADER = 'x-skein-partial';

async function queryTrace(tempo: string, tenant: string, traceId: string): Promise<Answer> {
  try {
    const res = await fetch(`http://${tempo}/api/traces/${traceId}`, {
      headers: { accept: 'application/protobuf', [TENANT_HEADER]: tenant },
      signal: AbortSignal.timeout(30_000),
    });
    const partial = res.headers.get(PARTIAL_HEADER) !== null;
    const body = new Uint8Array(await res.arrayBuffer());
    if (res.status === 404) return { kind: 'not-found', partial };
    if (res.status !== 200) return { kind: 'error', what: `HTTP ${res.status}: ${Buffer.from(body.subarray(0, 200)).toString('utf8')}` };
    const spans = new Map<string, bigint>();
    let duplicates = 0;
    for (const rs of decodeExportRequest(body)) {
      for (const ss of rs.scopeSpans) {
        for (const sp of ss.spans) {
          const id = toHex(sp.spanId);
          if (spans.has(id)) duplicates++;
          spans.set(id, sp.startTimeUnixNano);
        }
      }
    }
    if (spans.size === 0) return { kind: 'not-found', partial };
    return { kind: 'found', spans, duplicates, partial };
  } catch (e) {
    return { kind: 'error', what: e instanceof Error ? e.message : String(e) };
  }
}

// ---- the child's metrics and /proc -----------------------------------------------------------

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, line.indexOf(' '));
    const labels: Record<string, string> = {};
    if (brace >= 0 && brace < space) {
      const body = line.slice(brace + 1, line.lastIndexOf('}'));
      for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    }
    out.push({ name, labels, value: Number(line.slice(space + 1)) });
  }
  return out;
}

/** Sum over the samples of `name` whose labels include `match`; undefined when the metric is not exported at all. */
function metricSum(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number | undefined {
  let found = false;
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    found = true;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return found ? sum : undefined;
}

interface Figures {
  readonly blocksFlushed: number;
  readonly blocksByState: Readonly<Record<string, number>>;
  readonly jobsByState: Readonly<Record<string, number>>;
  /** Undefined: skein_ingester_compaction_jobs_total is not exported (compactor not running in ingesters). */
  readonly compactionJobs: Readonly<Record<string, number>> | undefined;
  readonly transitions: Readonly<Record<string, number>>;
  readonly gcBlocksDeleted: Readonly<Record<string, number>>;
  readonly gcOrphansDeleted: number;
  readonly gcBytesDeleted: number;
  readonly gcFailures: number;
  readonly flushFailures: number;
  readonly compactionLagSeconds: number;
}

function computeFigures(samples: readonly Sample[]): Figures {
  const byLabel = (name: string, label: string): Record<string, number> | undefined => {
    const out: Record<string, number> = {};
    let found = false;
    for (const s of samples) {
      if (s.name !== name) continue;
      found = true;
      const k = s.labels[label] ?? '';
      out[k] = (out[k] ?? 0) + s.value;
    }
    return found ? out : undefined;
  };
  const transitions: Record<string, number> = {};
  for (const s of samples) if (s.name === 'skein_lifecycle_transitions_total') transitions[`${s.labels['transition']}:${s.labels['outcome']}`] = s.value;
  return {
    blocksFlushed: metricSum(samples, 'skein_ingester_blocks_flushed_total') ?? 0,
    blocksByState: byLabel('skein_lifecycle_blocks', 'state') ?? {},
    jobsByState: byLabel('skein_lifecycle_jobs', 'state') ?? {},
    compactionJobs: byLabel('skein_ingester_compaction_jobs_total', 'outcome'),
    transitions,
    gcBlocksDeleted: byLabel('skein_ingester_gc_blocks_deleted_total', 'state') ?? {},
    gcOrphansDeleted: metricSum(samples, 'skein_ingester_gc_orphans_deleted_total') ?? 0,
    gcBytesDeleted: metricSum(samples, 'skein_ingester_gc_bytes_deleted_total') ?? 0,
    gcFailures: metricSum(samples, 'skein_ingester_gc_failures_total') ?? 0,
    flushFailures: metricSum(samples, 'skein_ingester_flush_failures_total') ?? 0,
    compactionLagSeconds: metricSum(samples, 'skein_lifecycle_compaction_lag_seconds') ?? 0,
  };
}

function procCpuSeconds(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** VmRSS and VmHWM (the kernel's high-water mark of RSS) in bytes. */
function procRss(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Block directories (`<tenant>/<shard>/<blockId>/`) holding at least one file, and the files' count and bytes. */
async function scanBlockStore(root: string): Promise<{ blocks: Map<string, string>; files: number; bytes: number }> {
  const blocks = new Map<string, string>();
  let files = 0;
  let bytes = 0;
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile()) continue;
    const rel = path.relative(root, path.join(e.parentPath, e.name)).split(path.sep);
    files++;
    bytes += await stat(path.join(e.parentPath, e.name)).then((s) => s.size, () => 0);
    if (rel.length >= 4) blocks.set(rel.slice(0, 3).join('/'), rel[0]!);
  }
  return { blocks, files, bytes };
}

// ---- the run ---------------------------------------------------------------------------------

interface Miss {
  readonly stream: 'current' | 'old';
  readonly phase: 'run' | 'final';
  readonly traceId: string;
  readonly what: string;
  /** Seconds since the run started. */
  readonly atSeconds: number;
  /** How long after its acknowledgement the trace was asked for. */
  readonly ackAgeMs: number;
}

const MAX_RECORDED = 50;

function sourceRevision(): string {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
const mib = (x: number): string => `${(x / 1024 ** 2).toFixed(0)} MiB`;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

function log(line: string): void {
  process.stderr.write(line + '\n');
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  const runMs = o.minutes * 60_000;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'skein-soak-'));
  const blockRoot = path.join(dataDir, 'blocks');
  let child: StartedChild | undefined;
  let stopped: Promise<string> | undefined;
  /** SIGTERM (a graceful stop cuts and flushes every head), SIGKILL if that takes over 40 s; says how it ended. */
  const stopChild = (): Promise<string> =>
    (stopped ??= (async () => {
      if (child === undefined) return 'not started';
      const c = child;
      if (c.child.exitCode !== null || c.child.signalCode !== null) return `had exited (${c.child.exitCode ?? c.child.signalCode})`;
      const code = await Promise.race([c.stop('SIGTERM'), sleep(40_000).then(() => 'timeout' as const)]);
      if (code !== 'timeout') return `exit code ${code} after SIGTERM`;
      await c.stop('SIGKILL');
      return 'SIGKILL after 40 s';
    })());
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await stopChild();
    if (!o.keepDir) rmSync(dataDir, { recursive: true, force: true });
    else log(`soak: data kept in ${dataDir}`);
  };
  const abort = (why: string, code: number): void => {
    log(`soak: ${why}; stopping`);
    if (child !== undefined && child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL');
    if (!o.keepDir) rmSync(dataDir, { recursive: true, force: true });
    process.exit(code);
  };
  process.once('SIGINT', () => abort('interrupted', 130));
  process.once('SIGTERM', () => abort('terminated', 143));
  // Everything below is bounded; this is the backstop if something hangs anyway.
  const watchdog = setTimeout(() => abort('watchdog: the run took far longer than planned', 3), runMs + o.finalSeconds * 1000 + 10 * 60_000);

  try {
    log(`soak: ${o.minutes} min at ${fmt(o.rate)} spans/s (${Math.round(o.oldShare * 100)} % old), verifier ${o.verifyQps} q/s, final check ≤ ${o.finalSeconds} s${o.quick ? ' (quick: a smoke check, not a result)' : ''}; data in ${dataDir}`);
    child = await startChild({
      args: [
        path.join(binDir, 'cli', 'skein.js'),
        'all-in-one',
        '--data-dir', dataDir,
        '--host', '127.0.0.1',
        '--otlp-grpc-port', '0',
        '--otlp-http-port', '0',
        '--tempo-port', '0',
        '--jaeger-port', '0',
        ...SKEIN_ARGS,
      ],
      readyMessage: 'skein ready',
      timeoutMs: 60_000,
    });
    const skein = child;
    const pid = skein.pid;
    const otlpHttp = skein.ready['otlpHttp']!;
    const tempo = skein.ready['tempo']!;
    let childExited = false;
    void skein.exited.then((code) => {
      childExited = true;
      if (stopped === undefined) log(`soak: skein exited early with ${code}`);
    });
    const t0 = Date.now();
    const since = (): number => (Date.now() - t0) / 1000;
    const cpuAtStart = procCpuSeconds(pid);

    // ---- state
    const current: SentTrace[] = [];
    const old: OldTrace[] = [];
    const sent = { requests: 0, spans: 0, ackedSpans: 0, ackedCurrentSpans: 0, ackedOldSpans: 0, rejected: 0, errors: 0, skipped: 0, lastRejection: '' };
    const verified = { run: 0, runCurrent: 0, runOld: 0, queryErrors: 0, partialAnswers: 0 };
    const misses: Miss[] = [];
    let missCount = 0;
    const wrong: Miss[] = [];
    let wrongCount = 0;
    const resurrections: Miss[] = [];
    let resurrectionCount = 0;
    let oldSeenExpired = 0;
    let oldSeenServed = 0;
    const record = (list: Miss[], m: Miss): void => {
      if (list.length < MAX_RECORDED) list.push(m);
    };

    const ackAge = (t: SentTrace): number => Date.now() - t.ackedAtMs;

    /** Every span acknowledged, none twice, start times as sent. */
    const checkCurrent = async (t: SentTrace, phase: 'run' | 'final'): Promise<void> => {
      const a = await queryTrace(tempo, CURRENT_TENANT, t.id);
      const miss = (what: string): void => {
        missCount++;
        record(misses, { stream: 'current', phase, traceId: t.id, what, atSeconds: since(), ackAgeMs: ackAge(t) });
      };
      if (a.kind === 'error') {
        verified.queryErrors++;
        miss(`query failed: ${a.what}`);
        return;
      }
      if (a.partial) verified.partialAnswers++;
      if (a.kind === 'not-found') {
        miss(`trace not found${a.partial ? ' (partial answer)' : ''}`);
        return;
      }
      const missing = t.spans.filter((id) => !a.spans.has(id));
      if (missing.length > 0) miss(`${missing.length} of ${t.spans.length} spans missing${a.partial ? ' (partial answer)' : ''}`);
      const extra = [...a.spans.keys()].filter((id) => !t.spans.includes(id)).length;
      const badStart = t.spans.filter((id, i) => a.spans.has(id) && a.spans.get(id) !== BigInt(t.startMs + i) * 1_000_000n).length;
      if (a.duplicates > 0 || extra > 0 || badStart > 0) {
        wrongCount++;
        record(wrong, { stream: 'current', phase, traceId: t.id, what: `duplicates ${a.duplicates}, unknown spans ${extra}, start time changed ${badStart}`, atSeconds: since(), ackAgeMs: ackAge(t) });
      }
    };

    /** Returned whole until its block expires; never again after a query came back without it. */
    const checkOld = async (t: OldTrace, phase: 'run' | 'final'): Promise<void> => {
      const startedMs = Date.now();
      const a = await queryTrace(tempo, OLD_TENANT, t.id);
      if (a.kind === 'error') {
        verified.queryErrors++;
        return; // says nothing about expiry
      }
      if (a.partial) verified.partialAnswers++;
      if (a.kind === 'not-found') {
        // A partial answer may have left out the block holding it: not evidence of expiry.
        if (!a.partial && t.expiredAtMs === undefined) {
          t.expiredAtMs = Date.now();
          oldSeenExpired++;
        }
        return;
      }
      // Only a query started after a not-found answer completed counts: concurrent ones may overlap it.
      if (t.expiredAtMs !== undefined && startedMs > t.expiredAtMs) {
        resurrectionCount++;
        record(resurrections, {
          stream: 'old',
          phase,
          traceId: t.id,
          what: `returned ${a.spans.size} spans ${Math.round((startedMs - t.expiredAtMs) / 1000)} s after a query found nothing`,
          atSeconds: since(),
          ackAgeMs: ackAge(t),
        });
        return;
      }
      if (t.served !== true) oldSeenServed++;
      t.served = true;
      if (phase === 'final') t.servedAtEnd = true;
      const missing = t.spans.filter((id) => !a.spans.has(id)).length;
      if (missing > 0) {
        // A trace's spans arrive in one request and are cut into one block: expiry takes all or none.
        missCount++;
        record(misses, { stream: 'old', phase, traceId: t.id, what: `${missing} of ${t.spans.length} spans missing before expiry`, atSeconds: since(), ackAgeMs: ackAge(t) });
      }
      if (a.duplicates > 0) {
        wrongCount++;
        record(wrong, { stream: 'old', phase, traceId: t.id, what: `duplicates ${a.duplicates}`, atSeconds: since(), ackAgeMs: ackAge(t) });
      }
    };

    // ---- sender: open loop, one request per stream every TICK_MS, whatever the answers
    let stopSending = false;
    let inFlight = 0;
    const send = async (stream: 'current' | 'old', traces: number): Promise<void> => {
      if (inFlight >= MAX_SENDS_IN_FLIGHT) {
        sent.skipped += traces * SPANS_PER_TRACE;
        return;
      }
      const now = Date.now();
      const batch = buildTraces(traces, stream === 'current' ? () => now : () => now - OLD_MIN_AGE_MS - Math.random() * OLD_AGE_SPREAD_MS);
      inFlight++;
      sent.requests++;
      sent.spans += traces * SPANS_PER_TRACE;
      try {
        const res = await fetch(`http://${otlpHttp}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf', [TENANT_HEADER]: stream === 'current' ? CURRENT_TENANT : OLD_TENANT },
          body: batch.body,
          signal: AbortSignal.timeout(30_000),
        });
        const text = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200) {
          sent.rejected += traces * SPANS_PER_TRACE;
          sent.lastRejection = `HTTP ${res.status}: ${text.subarray(0, 200).toString('utf8')}`;
          return;
        }
        const ackedAtMs = Date.now();
        sent.ackedSpans += traces * SPANS_PER_TRACE;
        if (stream === 'current') sent.ackedCurrentSpans += traces * SPANS_PER_TRACE;
        else sent.ackedOldSpans += traces * SPANS_PER_TRACE;
        for (const t of batch.traces) (stream === 'current' ? current : old).push({ ...t, ackedAtMs });
      } catch (e) {
        sent.errors += traces * SPANS_PER_TRACE;
        sent.lastRejection = e instanceof Error ? e.message : String(e);
      } finally {
        inFlight--;
      }
    };
    const sender = async (): Promise<void> => {
      const tracesPerTick = (o.rate * TICK_MS) / 1000 / SPANS_PER_TRACE;
      let owedCurrent = 0;
      let owedOld = 0;
      const pending = new Set<Promise<void>>();
      for (let tick = 0; !stopSending && !childExited; tick++) {
        await sleep(t0 + tick * TICK_MS - Date.now());
        owedCurrent += tracesPerTick * (1 - o.oldShare);
        owedOld += tracesPerTick * o.oldShare;
        for (const [stream, owed] of [['current', Math.floor(owedCurrent)], ['old', Math.floor(owedOld)]] as const) {
          if (owed === 0) continue;
          if (stream === 'current') owedCurrent -= owed;
          else owedOld -= owed;
          const p = send(stream, owed);
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
      }
      await Promise.all(pending);
    };

    // ---- verifier during the run: bounded rate, a mix of just-acknowledged and any-age traces
    let stopVerifying = false;
    const VERIFY_WORKERS = 2;
    const verifyWorker = async (w: number): Promise<void> => {
      const interval = (VERIFY_WORKERS * 1000) / o.verifyQps;
      for (let k = 0; !stopVerifying && !childExited; k++) {
        await sleep(t0 + (w * interval) / VERIFY_WORKERS + k * interval - Date.now());
        const r = Math.random();
        if (r < 0.7) {
          if (current.length === 0) continue;
          // Just acknowledged (head, cut, flush) or any age (blocks, compaction, GC of the inputs).
          const t = r < 0.35 ? current[current.length - 1 - Math.floor(Math.random() * Math.min(500, current.length))]! : pick(current);
          await checkCurrent(t, 'run');
          verified.runCurrent++;
        } else {
          if (old.length === 0) continue;
          // The last ~20 s of old traces (at the default rate) span their expiry; any-age ones look
          // for resurrections across GC and later compactions.
          const t = r < 0.85 ? old[old.length - 1 - Math.floor(Math.random() * Math.min(1000, old.length))]! : pick(old);
          await checkOld(t, 'run');
          verified.runOld++;
        }
        verified.run++;
      }
    };

    // ---- sampler: metrics, /proc and the block store every SAMPLE_MS; a progress line every PROGRESS_MS
    let figures = computeFigures([]);
    let lagMaxSeconds = 0;
    let rssMax = 0;
    let metricsErrors = 0;
    /** Every block directory seen, with its meta.json's level and span count once readable (it is written last). */
    const seenBlocks = new Map<string, { tenant: string; firstSeenS: number; goneS?: number; level?: number; spans?: number }>();
    let store = { files: 0, bytes: 0, filesMax: 0, bytesMax: 0 };
    const timeline: Record<string, unknown>[] = [];
    const sampleOnce = async (): Promise<void> => {
      try {
        const text = await (await fetch(`http://${tempo}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
        figures = computeFigures(parseMetrics(text));
        lagMaxSeconds = Math.max(lagMaxSeconds, figures.compactionLagSeconds);
      } catch {
        metricsErrors++;
      }
      try {
        rssMax = Math.max(rssMax, procRss(pid).rss);
      } catch {
        // exited
      }
      await scanBlocks();
    };
    const scanBlocks = async (): Promise<void> => {
      const scan = await scanBlockStore(blockRoot);
      const nowS = since();
      for (const [key, tenant] of scan.blocks) if (!seenBlocks.has(key)) seenBlocks.set(key, { tenant, firstSeenS: nowS });
      for (const [key, b] of seenBlocks) {
        if (b.goneS === undefined && !scan.blocks.has(key)) b.goneS = nowS;
        if (b.spans === undefined && b.goneS === undefined) {
          try {
            const meta = JSON.parse(await readFile(path.join(blockRoot, key, 'meta.json'), 'utf8')) as { level: number; spanCount: number };
            b.level = meta.level;
            b.spans = meta.spanCount;
          } catch {
            // not written yet
          }
        }
      }
      store = { files: scan.files, bytes: scan.bytes, filesMax: Math.max(store.filesMax, scan.files), bytesMax: Math.max(store.bytesMax, scan.bytes) };
    };
    /** Spans in the level-0 blocks (cut from heads) of `tenant` seen so far, and blocks whose meta.json was never read. */
    const level0 = (tenant: string): { spans: number; unread: number } => {
      let spans = 0;
      let unread = 0;
      for (const b of seenBlocks.values()) {
        if (b.tenant !== tenant) continue;
        if (b.spans === undefined) unread++;
        else if (b.level === 0) spans += b.spans;
      }
      return { spans, unread };
    };
    const blocksGone = (tenant: string): number => [...seenBlocks.values()].filter((b) => b.tenant === tenant && b.goneS !== undefined).length;
    const progress = (): Record<string, unknown> => {
      const f = figures;
      const cpu = (() => {
        try {
          return procCpuSeconds(pid) - cpuAtStart;
        } catch {
          return NaN;
        }
      })();
      const entry = {
        atSeconds: Math.round(since()),
        spansSent: sent.spans,
        spansAcked: sent.ackedSpans,
        spansRejected: sent.rejected + sent.errors,
        blocksByState: f.blocksByState,
        blocksFlushed: f.blocksFlushed,
        compactionJobs: f.compactionJobs ?? null,
        expired: f.transitions['expire:committed'] ?? 0,
        planned: f.transitions['plan:committed'] ?? 0,
        gcBlocksDeleted: f.gcBlocksDeleted,
        lagSeconds: f.compactionLagSeconds,
        verifiedRun: verified.run,
        misses: missCount,
        wrong: wrongCount,
        resurrections: resurrectionCount,
        oldSeenExpired,
        storeFiles: store.files,
        storeBytes: store.bytes,
        cpuSeconds: cpu,
        rssBytes: rssMax,
      };
      const states = Object.entries(f.blocksByState).map(([k, v]) => `${k} ${v}`).join(', ') || 'none yet';
      const jobs = f.compactionJobs === undefined ? 'n/a (metric not exported)' : Object.entries(f.compactionJobs).map(([k, v]) => `${k} ${v}`).join(', ') || '0';
      const gc = Object.entries(f.gcBlocksDeleted).map(([k, v]) => `${k} ${v}`).join(', ') || '0';
      log(
        `[${String(entry.atSeconds).padStart(4)} s] spans sent ${fmt(sent.spans)} acked ${fmt(sent.ackedSpans)} failed ${fmt(sent.rejected + sent.errors)} skipped ${fmt(sent.skipped)}` +
          ` | blocks: ${states}; flushed ${fmt(f.blocksFlushed)}, compaction jobs ${jobs}, planned ${fmt(entry.planned)}, expired ${fmt(entry.expired)}, GC ${gc}, lag ${f.compactionLagSeconds.toFixed(0)} s` +
          ` | verified ${fmt(verified.run)}: misses ${missCount}, wrong ${wrongCount}, resurrections ${resurrectionCount}, old seen expired ${fmt(oldSeenExpired)}` +
          ` | store ${fmt(store.files)} files ${mib(store.bytes)} | cpu ${cpu.toFixed(1)} s, rss ${mib(rssMax)}`,
      );
      timeline.push(entry);
      return entry;
    };
    let stopSampling = false;
    const sampler = async (): Promise<void> => {
      let nextProgress = t0 + PROGRESS_MS;
      for (let k = 1; !stopSampling; k++) {
        await sleep(t0 + k * SAMPLE_MS - Date.now());
        if (stopSampling || childExited) break;
        await sampleOnce();
        if (Date.now() >= nextProgress) {
          progress();
          nextProgress += PROGRESS_MS;
        }
      }
    };

    // ---- run
    const samplerDone = sampler();
    const verifiers = Array.from({ length: VERIFY_WORKERS }, (_, w) => verifyWorker(w));
    const senderDone = sender();
    while (Date.now() < t0 + runMs && !childExited) await sleep(Math.min(1000, t0 + runMs - Date.now()));
    stopSending = true;
    await senderDone;
    stopVerifying = true;
    await Promise.all(verifiers);
    const sendSeconds = since();
    const cpuIngest = (() => {
      try {
        return procCpuSeconds(pid) - cpuAtStart;
      } catch {
        return NaN;
      }
    })();
    log(`soak: sending stopped after ${sendSeconds.toFixed(0)} s; final check (≤ ${o.finalSeconds} s)`);

    // ---- final check: current traces in random order (all of them if the budget allows), then the
    // old ones (every one seen expired again for resurrection, the rest for whether they expired)
    const finalStart = Date.now();
    const shuffled = <T>(xs: readonly T[]): T[] => {
      const a = [...xs];
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [a[i], a[j]] = [a[j]!, a[i]!];
      }
      return a;
    };
    /**
     * Runs `fn` over `items` in order, FINAL_CONCURRENCY at once, until `deadline()` passes. The
     * deadline is read before each item, so it may move while this runs.
     */
    const runBounded = async <T>(items: readonly T[], deadline: () => number, fn: (x: T) => Promise<void>): Promise<number> => {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < items.length && Date.now() < deadline() && !childExited) await fn(items[next++]!);
      };
      await Promise.all(Array.from({ length: FINAL_CONCURRENCY }, worker));
      return Math.min(next, items.length);
    };
    // Current traces get three quarters of the budget. After RATE_PROBE_MS the measured query rate
    // decides: if checking all of them would take at most twice their share, the share is stretched
    // to cover all; otherwise the random order makes what fits a uniform sample.
    const currentBudgetMs = o.finalSeconds * 1000 * 0.75;
    let currentDeadline = finalStart + currentBudgetMs;
    let choice = 'not measured';
    let currentDone = 0;
    const probe = setTimeout(() => {
      const rate = currentDone / ((Date.now() - finalStart) / 1000);
      const needMs = (current.length / Math.max(rate, 1e-9)) * 1000;
      if (needMs <= 2 * currentBudgetMs) {
        currentDeadline = Math.max(currentDeadline, finalStart + needMs * 1.2 + 5000);
        choice = `all (${fmt(rate)} q/s predicted ${(needMs / 1000).toFixed(0)} s)`;
      } else {
        choice = `sample (${fmt(rate)} q/s predicted ${(needMs / 1000).toFixed(0)} s for all, over twice the ${(currentBudgetMs / 1000).toFixed(0)} s share)`;
      }
      log(`soak: final check of current traces: ${choice}`);
    }, RATE_PROBE_MS);
    const currentChecked = childExited
      ? 0
      : await runBounded(shuffled(current), () => currentDeadline, async (t) => {
          await checkCurrent(t, 'final');
          currentDone++;
        });
    clearTimeout(probe);
    if (choice === 'not measured' && currentChecked === current.length) choice = `all, within ${RATE_PROBE_MS / 1000} s`;
    const currentSeconds = (Date.now() - finalStart) / 1000;
    const oldStart = Date.now();
    const oldOrder = [...shuffled(old.filter((t) => t.expiredAtMs !== undefined)), ...shuffled(old.filter((t) => t.expiredAtMs === undefined))];
    // The old traces get the rest of the budget, at least a quarter of it.
    const oldDeadline = Math.max(finalStart + o.finalSeconds * 1000, Date.now() + o.finalSeconds * 250);
    const oldChecked = childExited ? 0 : await runBounded(oldOrder, () => oldDeadline, (t) => checkOld(t, 'final'));
    const oldSeconds = (Date.now() - oldStart) / 1000;
    // Old traces acknowledged more than a minute before sending stopped should all have expired by now.
    const stillServed = old.filter((t) => t.servedAtEnd === true && t.ackedAtMs < t0 + sendSeconds * 1000 - 60_000).length;
    if (!childExited) await sampleOnce();
    stopSampling = true;
    await samplerDone;
    const last = progress();

    // ---- the child's cost, then stop it
    let cpuSeconds = NaN;
    let rssHwm = rssMax;
    try {
      cpuSeconds = procCpuSeconds(pid) - cpuAtStart;
      rssHwm = Math.max(rssMax, procRss(pid).hwm);
    } catch {
      // exited early: reported below
    }
    const childLogLines = skein.logs.length;
    const warnings = skein.logs.filter((l) => /"level":(40|50|60)/.test(l));
    const exitedEarly = childExited;
    // Every block lives on disk at least the GC grace (15 s) after it stops being visible and the
    // store is scanned every 5 s, so each level-0 block was seen; after the graceful stop has cut
    // every head, their spans must add up to what was acknowledged (a shortfall is a lost span,
    // whether or not a query would have noticed; for old spans it is the only way to tell loss
    // from expiry).
    await scanBlocks();
    const childStop = await stopChild();
    await scanBlocks();
    const cleanStop = childStop === 'exit code 0 after SIGTERM';
    const l0Old = level0(OLD_TENANT);
    const l0Current = level0(CURRENT_TENANT);
    await cleanup();

    // ---- verdict
    const f = figures;
    const committedJobs = f.compactionJobs?.['committed'] ?? 0;
    const expiredBlocks = f.transitions['expire:committed'] ?? 0;
    const gcExpired = f.gcBlocksDeleted['expired'] ?? 0;
    const gcCompacted = f.gcBlocksDeleted['compacted'] ?? 0;
    const failures: string[] = [];
    if (exitedEarly) failures.push('skein exited during the run');
    if (!cleanStop) failures.push(`skein did not stop cleanly on SIGTERM (${childStop})`);
    for (const [stream, l0, acked] of [['old', l0Old, sent.ackedOldSpans], ['current', l0Current, sent.ackedCurrentSpans]] as const) {
      if (l0.unread > 0) failures.push(`${l0.unread} ${stream} block directories without a readable meta.json: span accounting incomplete`);
      else if (cleanStop && l0.spans < acked) failures.push(`${acked - l0.spans} acknowledged ${stream} spans never reached a level-0 block`);
    }
    if (missCount > 0) failures.push(`${missCount} misses (acknowledged spans not returned)`);
    if (wrongCount > 0) failures.push(`${wrongCount} wrong answers (duplicate, unknown or changed spans)`);
    if (resurrectionCount > 0) failures.push(`${resurrectionCount} resurrections (old spans returned after a query found them gone)`);
    if (sent.ackedSpans === 0) failures.push('no span was acknowledged');
    if (f.blocksFlushed === 0) failures.push('no block was flushed');
    if (f.compactionJobs === undefined) failures.push('compaction never ran: skein_ingester_compaction_jobs_total is not exported (the compactor is not running in the ingesters)');
    else if (committedJobs === 0) failures.push('no compaction job was committed');
    if (expiredBlocks === 0) failures.push('no block was expired');
    if (oldSeenExpired === 0) failures.push('no old trace was ever seen expired by a query');
    if (gcExpired === 0) failures.push('GC deleted no expired block');
    if (f.compactionJobs !== undefined && committedJobs > 0 && gcCompacted === 0) failures.push('GC deleted no compacted block');

    const date = new Date().toISOString().slice(0, 10);
    const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
    const machine = `${os.hostname()} — ${os.cpus().length} × ${cpuModel}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
    const revision = sourceRevision();
    const tracesCurrent = current.length;
    const currentAll = currentChecked === tracesCurrent;
    const finalQps = currentSeconds > 0 ? currentChecked / currentSeconds : 0;
    const seenOld = [...seenBlocks.values()].filter((b) => b.tenant === OLD_TENANT).length;
    const seenCurrent = [...seenBlocks.values()].filter((b) => b.tenant === CURRENT_TENANT).length;
    const row = (k: string, v: string, want = ''): string => `| ${k} | ${v} | ${want} |`;
    const jobs = f.compactionJobs === undefined ? 'not exported (compactor not running)' : Object.entries(f.compactionJobs).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || '0';
    const md = [
      `# Soak run ${date}${o.quick ? ' (quick: a smoke check, not a result)' : ''}`,
      '',
      `Machine: ${machine}`,
      `Build: ${revision}`,
      '',
      `\`skein all-in-one\` (${SKEIN_ARGS.join(' ')}) as a child process in a temp data dir; ${fmt(o.rate)} spans/s open loop in ${TICK_MS} ms ticks, ${SPANS_PER_TRACE} spans per trace, ${Math.round(o.oldShare * 100)} % with timestamps 2–3 h in the past (tenant \`${OLD_TENANT}\`), the rest now (tenant \`${CURRENT_TENANT}\`); a verifier at ${o.verifyQps} q/s during the run, then a final check of ≤ ${o.finalSeconds} s.`,
      '',
      `**Verdict: ${failures.length === 0 ? 'PASS' : 'FAIL — ' + failures.join('; ')}**`,
      '',
      '| figure | value | required |',
      '|---|---|---|',
      row('duration of ingest', `${sendSeconds.toFixed(0)} s (+ ${((Date.now() - finalStart) / 1000).toFixed(0)} s final check)`, o.quick ? '' : '≥ 600 s'),
      row('rate (target / achieved acknowledged)', `${fmt(o.rate)} / ${fmt(sent.ackedSpans / sendSeconds)} spans/s`),
      row('spans sent / acknowledged', `${fmt(sent.spans)} / ${fmt(sent.ackedSpans)} (current ${fmt(sent.ackedCurrentSpans)}, old ${fmt(sent.ackedOldSpans)})`),
      row('spans refused / failed / not sent (client in-flight cap)', `${fmt(sent.rejected)} / ${fmt(sent.errors)} / ${fmt(sent.skipped)}`),
      row('traces verified during the run', `${fmt(verified.runCurrent)} current, ${fmt(verified.runOld)} old`),
      row('current traces verified at the end', `${fmt(currentChecked)} of ${fmt(tracesCurrent)} (${currentAll ? 'all' : 'uniform random sample'}; ${fmt(finalQps)} queries/s with ${FINAL_CONCURRENCY} in flight; choice: ${choice})`),
      row('old traces re-queried at the end', `${fmt(oldChecked)} of ${fmt(old.length)} in ${oldSeconds.toFixed(0)} s`),
      row('misses', fmt(missCount), '0'),
      row('wrong answers (duplicate, unknown or changed spans)', fmt(wrongCount), '0'),
      row('resurrections', fmt(resurrectionCount), '0'),
      row('old traces returned by some query before they expired / seen expired', `${fmt(oldSeenServed)} / ${fmt(oldSeenExpired)} of ${fmt(old.length)}`, 'expired > 0'),
      row('old traces still served at the end (acked ≥ 60 s before the stop)', fmt(stillServed)),
      row('spans in level-0 blocks vs acknowledged (old; current)', `${fmt(l0Old.spans)} vs ${fmt(sent.ackedOldSpans)}; ${fmt(l0Current.spans)} vs ${fmt(sent.ackedCurrentSpans)}`, 'not fewer'),
      row('skein stop', childStop, 'exit code 0'),
      row('blocks flushed', fmt(f.blocksFlushed), '> 0'),
      row('flush failures', fmt(f.flushFailures)),
      row('compaction jobs (ingesters, by outcome)', jobs, 'committed > 0'),
      row('compaction jobs planned (controller)', fmt(f.transitions['plan:committed'] ?? 0)),
      row('jobs abandoned (controller)', fmt(f.transitions['abandon:committed'] ?? 0)),
      row('blocks expired', fmt(expiredBlocks), '> 0'),
      row('blocks in the manifest at the end', Object.entries(f.blocksByState).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || 'none'),
      row('blocks GC\'d (expired / compacted), orphans, bytes', `${fmt(gcExpired)} / ${fmt(gcCompacted)}, ${fmt(f.gcOrphansDeleted)}, ${mib(f.gcBytesDeleted)}`, 'expired > 0'),
      row('GC failures', fmt(f.gcFailures)),
      row('block directories seen on disk / removed later (old tenant)', `${fmt(seenOld)} / ${fmt(blocksGone(OLD_TENANT))}`),
      row('block directories seen on disk / removed later (current tenant)', `${fmt(seenCurrent)} / ${fmt(blocksGone(CURRENT_TENANT))}`),
      row('block store at the end (max)', `${fmt(store.files)} files, ${mib(store.bytes)} (${fmt(store.filesMax)} files, ${mib(store.bytesMax)})`),
      row('compaction lag max (sampled every 5 s)', `${lagMaxSeconds.toFixed(0)} s`),
      row('skein CPU (utime+stime, /proc): ingest phase / whole run', `${cpuIngest.toFixed(1)} s (${(cpuIngest / sendSeconds).toFixed(2)} of a core; ${fmt(sent.ackedSpans / cpuIngest)} spans per CPU-s, lifecycle and run-time queries included) / ${cpuSeconds.toFixed(1)} s`),
      row('skein RSS max (VmHWM)', mib(rssHwm)),
      row('skein warn/error log lines', `${fmt(warnings.length)} of ${fmt(childLogLines)}`),
      '',
    ];
    if (misses.length + wrong.length + resurrections.length > 0) {
      md.push('First failures (all in the .json):', '');
      for (const m of [...misses, ...wrong, ...resurrections].slice(0, 10)) md.push(`- ${m.stream} ${m.traceId} at ${m.atSeconds.toFixed(0)} s (${m.phase}, ${m.ackAgeMs} ms after ack): ${m.what}`);
      md.push('');
    }
    const json = {
      date,
      machine,
      revision,
      options: o,
      skeinArgs: SKEIN_ARGS,
      verdict: failures.length === 0 ? 'pass' : 'fail',
      failures,
      sendSeconds,
      finalSeconds: (Date.now() - finalStart) / 1000,
      sent,
      tracesAcked: { current: current.length, old: old.length },
      verified: { ...verified, finalCurrent: currentChecked, finalCurrentAll: currentAll, finalChoice: choice, finalQueriesPerSecond: finalQps, finalOld: oldChecked },
      misses: { count: missCount, first: misses },
      wrong: { count: wrongCount, first: wrong },
      resurrections: { count: resurrectionCount, first: resurrections },
      old: { seenServed: oldSeenServed, seenExpired: oldSeenExpired, stillServedAtEnd: stillServed },
      figures: f,
      lagMaxSeconds,
      level0Spans: { old: l0Old, current: l0Current },
      childStop,
      blockDirectories: { old: { seen: seenOld, removed: blocksGone(OLD_TENANT) }, current: { seen: seenCurrent, removed: blocksGone(CURRENT_TENANT) } },
      store,
      skein: { cpuSeconds, cpuSecondsIngest: cpuIngest, rssMaxBytes: rssHwm, logLines: childLogLines, warnings: warnings.slice(0, 50), exitedEarly },
      metricsErrors,
      last,
      timeline,
    };
    const outDir = path.join(repo, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const base = path.join(outDir, `${date}-${os.hostname()}-soak${o.quick ? '-quick' : ''}`);
    writeFileSync(base + '.md', md.join('\n'));
    writeFileSync(base + '.json', JSON.stringify(json, null, 2));
    process.stdout.write(md.join('\n') + `\nwritten: ${base}.md\n`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    // Also on a throw: the child must not outlive the soak, nor its temp dir.
    await cleanup();
    clearTimeout(watchdog);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`soak failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
