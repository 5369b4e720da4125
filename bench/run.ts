// `make bench`: runs every benchmark, prints a summary and records it in bench/results/ with the
// date and machine. Medians over several interleaved runs; CPU-seconds where the cost is a server's;
// ratios against a baseline measured in the same run (never timing assertions in tests).
import os from 'node:os';
import path from 'node:path';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runIngest, type IngestRun } from './ingest.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const binDir = path.resolve(here, '..');
const repo = path.resolve(binDir, '..');

const quick = process.argv.includes('--quick');
const RUNS = quick ? 1 : 3;
const SECONDS = quick ? 3 : 8;

// `--suite=cluster` (or `--suite=scan,ingest`) runs only those suites (default: all of them); an
// unknown name is an error rather than a silently empty run.
const SUITES = ['scan', 'head', 'ingest', 'cluster', 'agent', 'webhook', 'block', 'compaction'] as const;
type Suite = (typeof SUITES)[number];
const suiteArg = process.argv.find((a) => a.startsWith('--suite='));
const selected: readonly Suite[] = (() => {
  if (suiteArg === undefined) return SUITES;
  const names = suiteArg.slice('--suite='.length).split(',').filter((x) => x !== '');
  const unknown = names.filter((x) => !(SUITES as readonly string[]).includes(x));
  if (names.length === 0 || unknown.length > 0) {
    process.stderr.write(`bench: unknown suite ${unknown.join(', ') || '(none)'}; choose from ${SUITES.join(', ')} (comma-separated)\n`);
    process.exit(2);
  }
  return SUITES.filter((x) => names.includes(x));
})();

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function log(line: string): void {
  process.stderr.write(line + '\n');
}

async function ingestSuite(): Promise<{ rows: string[]; json: unknown }> {
  const runs: IngestRun[] = [];
  for (let r = 0; r < RUNS; r++) {
    for (const transport of ['grpc', 'http'] as const) {
      for (const server of ['sink', 'skein'] as const) {
        log(`ingest: run ${r + 1}/${RUNS} ${server} over ${transport} (${SECONDS}s)…`);
        const run = await runIngest({ server, transport, binDir, warmupSeconds: 2, seconds: SECONDS, concurrency: 8 });
        log(`  ${Math.round(run.spansPerSecond)} spans/s, ${Math.round(run.spansPerCpuSecond)} spans/server-CPU-s, errors ${run.errors}`);
        runs.push(run);
      }
    }
  }
  const rows = ['| transport | server | spans/s (wall, median) | spans per server CPU-s (median) | skein CPU/span ÷ sink CPU/span | errors |', '|---|---|---|---|---|---|'];
  const summary: Record<string, unknown> = {};
  for (const transport of ['grpc', 'http'] as const) {
    const sink = runs.filter((x) => x.transport === transport && x.server === 'sink');
    const skein = runs.filter((x) => x.transport === transport && x.server === 'skein');
    const sinkCpu = median(sink.map((x) => x.spansPerCpuSecond));
    const skeinCpu = median(skein.map((x) => x.spansPerCpuSecond));
    for (const [name, xs] of [['sink (baseline)', sink] as const, ['skein all-in-one', skein] as const]) {
      const perCpu = median(xs.map((x) => x.spansPerCpuSecond));
      rows.push(
        `| ${transport} | ${name} | ${Math.round(median(xs.map((x) => x.spansPerSecond))).toLocaleString('en-US')} | ${Math.round(perCpu).toLocaleString('en-US')} | ${name.startsWith('skein') ? (sinkCpu / skeinCpu).toFixed(2) + '×' : '1.00×'} | ${xs.reduce((n, x) => n + x.errors, 0)} |`,
      );
    }
    summary[transport] = { sinkSpansPerCpuSecond: sinkCpu, skeinSpansPerCpuSecond: skeinCpu, runs: runs.filter((x) => x.transport === transport) };
  }
  return { rows, json: summary };
}

async function headSuite(): Promise<{ rows: string[]; json: unknown }> {
  const { benchHead } = await import('../ingester/head/head.bench.js');
  const results: Awaited<ReturnType<typeof benchHead>>[] = [];
  for (let r = 0; r < RUNS; r++) {
    log(`head: run ${r + 1}/${RUNS} (1M spans)…`);
    results.push(await benchHead({ spans: quick ? 200_000 : 1_000_000 }));
  }
  const m = (k: string): number => median(results.map((x) => (x as unknown as Record<string, number>)[k]!));
  const rows = [
    '| metric | median | target |',
    '|---|---|---|',
    `| head bytes per span (process heap delta) | ${m('bytesPerSpan').toFixed(0)} | ≤ 1.5 × encoded |`,
    `| encoded bytes per span | ${m('encodedBytesPerSpan').toFixed(0)} | |`,
    `| ratio | ${m('ratio').toFixed(2)} | ≤ 1.5 |`,
    `| head insert, spans/s (one core) | ${Math.round(m('ingestSpansPerSec')).toLocaleString('en-US')} | |`,
    `| trace-by-ID p50 | ${m('findTraceP50Ms').toFixed(3)} ms | |`,
    `| trace-by-ID p99 | ${m('findTraceP99Ms').toFixed(3)} ms | ≤ 5 ms |`,
    `| search p50 | ${m('searchP50Ms').toFixed(2)} ms | |`,
  ];
  return { rows, json: results };
}

async function scanSuite(): Promise<{ rows: string[]; json: unknown }> {
  const { benchScan } = await import('../common/otlp/scan.bench.js');
  const results = [];
  for (let r = 0; r < RUNS; r++) results.push(benchScan(quick ? 50 : 300));
  const json = results as unknown as Record<string, number>[];
  const keys = Object.keys(json[0]!).filter((k) => typeof json[0]![k] === 'number');
  const rows = ['| metric | median |', '|---|---|', ...keys.map((k) => `| ${k} | ${Math.round(median(json.map((x) => x[k]!))).toLocaleString('en-US')} |`)];
  return { rows, json: results };
}

async function main(): Promise<void> {
  const date = new Date().toISOString().slice(0, 10);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const machine = `${os.hostname()} — ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
  const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string };
  const sections: string[] = [`# Benchmark results ${date}`, '', `Machine: ${machine}`, `Skein ${pkg.version}; ${RUNS} runs per configuration${quick ? ' (quick mode)' : ''}; medians.`, ''];
  const json: Record<string, unknown> = { date, machine, runs: RUNS };

  const all = selected.length === SUITES.length;
  if (!all) sections.push(`Suites: ${selected.join(', ')} (\`--suite\`).`, '');
  json['suites'] = selected;

  if (selected.includes('scan')) {
    const scan = await scanSuite();
    sections.push('## OTLP lazy reader (one core, in-process)', '', ...scan.rows, '');
    json['scan'] = scan.json;
  }

  if (selected.includes('head')) {
    const head = await headSuite();
    sections.push('## Head (in-process, one shard head)', '', ...head.rows, '');
    json['head'] = head.json;
  }

  if (selected.includes('ingest')) {
    const ingest = await ingestSuite();
    sections.push(
      '## Ingest (server child process, load client in the bench process, 1000-span requests, ~10 attributes, fsync=batch, 8 in flight)',
      '',
      ...ingest.rows,
      '',
      'Baseline "sink" = the same transports and libraries acknowledging without any work, so the ratio is Skein\'s cost over the floor set by the receiver transports (native-HTTP/2 gRPC server, fastify) on this machine. Target: ≥ 200,000 spans per server CPU-second.',
      '',
    );
    json['ingest'] = ingest.json;
  }

  if (selected.includes('cluster')) {
    const { runClusterSuite } = await import('./cluster.js');
    const cluster = await runClusterSuite({ binDir, runs: RUNS, seconds: SECONDS, quick, log });
    sections.push(
      '## Cluster (etcd + controller + 3 ingesters + querier as child processes on this machine, load client in the bench process)',
      '',
      ...cluster.rows,
      '',
      'All processes share this machine\'s cores with the load client. Targets (sharded-cluster issue): failover ≤ lease TTL + 1 s; handoff on SIGTERM ≤ 1 s with no failed client request. Per-run details (victim, its shards, failure texts, log timelines) are in the .json.',
      '',
    );
    json['cluster'] = cluster.json;
  }

  if (selected.includes('agent')) {
    const { runAgentSuite } = await import('./agent.js');
    const agent = await runAgentSuite({ binDir, runs: RUNS, seconds: SECONDS, quick, log });
    sections.push(
      '## Agent (`skein agent` as a child process forwarding to a no-op OTLP sink; load and the OpenTelemetry SDK in the bench process)',
      '',
      ...agent.rows,
      '',
      'Targets (issue 6): agent CPU ≤ 10 % of a core per 10,000 spans/s; the app\'s exporter call answered at once whether or not the ingest endpoint is there. "Added p99" is the agent\'s p99 minus the direct-to-sink p99 measured in the same run. With ingest down or black-holed the agent runs with `--queue-max-bytes 8MiB`, so its queue fills during the run and the rest is dropped (counted). Per-run details in the .json.',
      '',
    );
    json['agent'] = agent.json;
  }

  if (selected.includes('webhook')) {
    const { runWebhookSuite } = await import('./webhook.js');
    const webhook = await runWebhookSuite({ binDir, runs: RUNS, quick, log });
    sections.push(
      '## Sidecar-injection webhook (`skein operator` as a child process serving the webhook to a local kube-apiserver; pods created one at a time by the bench process)',
      '',
      ...webhook.rows,
      '',
      'Client create = POST → 201 of a one-container pod, timed in the bench process; "added" = that phase minus the excluded-namespace phase (the namespaceSelector keeps the API server from calling the webhook there) in the same run. Webhook own time from `skein_webhook_duration_seconds` bucket deltas (interpolated inside a bucket; buckets 5, 10, 25 ms). Operator CPU-ms per pod = utime+stime (`/proc`) over the phase ÷ pods, including its other work in the window (lease renewal, a pod list every 15 s). Every process (etcd, kube-apiserver, controller-manager, scheduler, KWOK, operator, bench) shares this machine\'s cores. Target (injection issue): p99 ≤ 20 ms. Per-run details in the .json.',
      '',
    );
    json['webhook'] = webhook.json;
  }

  if (selected.includes('block')) {
    const { runBlockSuite } = await import('./block.js');
    const block = await runBlockSuite({ runs: RUNS, quick, log });
    sections.push(
      '## Blocks (buildBlock → filesystem object store on local disk → openBlock; spans from the head benchmark\'s generator)',
      '',
      ...block.rows,
      '',
      'Targets (issue 5): stored bytes ≤ 20 % of the OTLP protobuf size; with 10M spans in blocks, trace-by-ID p99 ≤ 50 ms and search p99 ≤ 500 ms. `--block-spans=N` and `--block-size=N` set the span counts (docs/adr/0010 has the codec and Parquet decision). Per-run details in the .json.',
      '',
    );
    json['block'] = block.json;
  }

  if (selected.includes('compaction')) {
    const { runCompactionSuite } = await import('./compaction.js');
    // The ingest rate to compare with: this run's when the ingest suite ran too (same machine, same load), else the newest recorded one.
    const sameRun = (json['ingest'] as { grpc?: { skeinSpansPerCpuSecond?: number } } | undefined)?.grpc?.skeinSpansPerCpuSecond;
    const compaction = await runCompactionSuite({ runs: RUNS, quick, resultsDir: path.join(repo, 'bench', 'results'), log, ...(sameRun === undefined ? {} : { ingestSpansPerCpuSecond: sameRun }) });
    sections.push(
      '## Compaction (8 level-0 blocks → 1 through the real compactor: claim, read the inputs, columnar merge (mergeBlocks) on the block worker pool, write to a filesystem store on local disk, commit; in-memory coordinator)',
      '',
      ...compaction.rows,
      '',
      'Target (issue 5): compaction keeps up with the ingest benchmark rate — the last row compares spans compacted per CPU-second with spans ingested per server CPU-second. `--compaction-spans=N` and `--compaction-blocks=N` set the sizes. Per-run details in the .json.',
      '',
    );
    json['compaction'] = compaction.json;
  }

  const outDir = path.join(repo, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  // A run of some suites only gets their names in the file name, so it never replaces the day's full run.
  const base = path.join(outDir, `${date}-${os.hostname()}${all ? '' : '-' + selected.join('-')}${quick ? '-quick' : ''}`);
  writeFileSync(base + '.md', sections.join('\n'));
  writeFileSync(base + '.json', JSON.stringify(json, null, 2));
  process.stdout.write(sections.join('\n') + `\nwritten: ${base}.md\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
