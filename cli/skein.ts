#!/usr/bin/env node
// The one CLI entry: `skein <target> [flags]`. Each target is a process role of DESIGN.md §2.
import { runAllInOne } from './all-in-one.js';

const TARGETS: Record<string, { summary: string; run?: (argv: readonly string[]) => Promise<number> }> = {
  'all-in-one': { summary: 'ingest + storage + query APIs in one process, on local disk (for laptops and tests)', run: runAllInOne },
  ingester: {
    summary: 'receives spans, holds shards (WAL + head), serves its heads over the query APIs',
    run: runAllInOne, // until the sharded-cluster work: an ingester is the all-in-one without coordination
  },
  querier: { summary: 'query APIs fanning out to shard owners (arrives with the sharded cluster)' },
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
  if (t.run === undefined) {
    process.stderr.write(`skein ${target}: not available yet in this version — it needs the sharded cluster (coordinator + fan-out). Use \`skein all-in-one\`.\n`);
    return 2;
  }
  return t.run(rest);
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
