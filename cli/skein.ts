#!/usr/bin/env node
// The one CLI entry: `skein <target> [flags]`. Each target is a process role of DESIGN.md §2.
// Targets are imported when chosen, so a process loads only its own code: the agent sidecar, for
// one, never loads the ingester's storage, the querier or etcd3 (a smaller heap per pod).
type Run = (argv: readonly string[]) => Promise<number>;

const TARGETS: Record<string, { summary: string; load: () => Promise<Run> }> = {
  'all-in-one': { summary: 'ingest + storage + query APIs in one process, on local disk (for laptops and tests)', load: async () => (await import('./all-in-one.js')).runAllInOne },
  ingester: { summary: 'a cluster member: receives spans, owns shards (WAL + head) through etcd leases, forwards the rest', load: async () => (await import('./ingester.js')).runIngester },
  querier: { summary: 'Tempo- and Jaeger-compatible query APIs fanning out to every ingester', load: async () => (await import('./querier.js')).runQuerier },
  controller: { summary: 'shard and lifecycle controllers: assigns shards to ingesters, plans compaction, expires blocks (leader-elected; run several for standby)', load: async () => (await import('./controller.js')).runController },
  operator: { summary: 'the Kubernetes operator: TracingCluster → StatefulSets, shard controllers, status (leader-elected)', load: async () => (await import('./operator.js')).runOperator },
  agent: { summary: 'the sidecar: OTLP in on localhost, head sampling, scrubbing, bounded queue, OTLP/gRPC out to the ingesters', load: async () => (await import('./agent.js')).runAgent },
  'local-cluster': { summary: 'etcd + controller + N ingesters + querier as local processes (`make cluster`)', load: async () => (await import('./local-cluster.js')).runLocalCluster },
};

function usage(): string {
  const lines = ['Usage: skein <target> [flags]', '', 'Targets:'];
  for (const [name, t] of Object.entries(TARGETS)) lines.push(`  ${name.padEnd(12)} ${t.summary}`);
  lines.push('', 'Run `skein <target> --help` for the flags of a target.');
  return lines.join('\n') + '\n';
}

async function main(argv: readonly string[]): Promise<number> {
  const [target, ...rest] = argv;
  if (target === undefined || target === '--help' || target === '-h' || target === 'help') {
    process.stdout.write(usage());
    return target === undefined ? 2 : 0;
  }
  const t = TARGETS[target];
  if (t === undefined) {
    process.stderr.write(`skein: unknown target ${JSON.stringify(target)}\n\n${usage()}`);
    return 2;
  }
  return (await t.load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Anything still holding the loop after a clean stop is a bug; don't hang the caller on it.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    process.stderr.write(`skein: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
