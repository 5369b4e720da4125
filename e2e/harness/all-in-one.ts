// Starts a real `skein all-in-one` child process (from dist/) on 127.0.0.1 with OS-assigned ports,
// waits for its "skein ready" log line, and stops it by PID. Used by the integration suites.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild } from '../../common/proc/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SKEIN_BIN = path.join(ROOT, 'dist', 'cli', 'skein.js');

export interface RunningSkein {
  readonly pid: number;
  readonly dataDir: string;
  readonly otlpGrpc: string;
  readonly otlpHttp: string;
  readonly tempo: string;
  readonly jaeger: string;
  readonly logs: string[];
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

export function makeDataDir(prefix = 'skein-e2e-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startSkein(options: { dataDir: string; args?: readonly string[]; timeoutMs?: number }): Promise<RunningSkein> {
  const args = [
    SKEIN_BIN,
    'all-in-one',
    '--data-dir',
    options.dataDir,
    '--host',
    '127.0.0.1',
    '--otlp-grpc-port',
    '0',
    '--otlp-http-port',
    '0',
    '--tempo-port',
    '0',
    '--jaeger-port',
    '0',
    ...(options.args ?? []),
  ];
  const started = await startChild({ args, readyMessage: 'skein ready', timeoutMs: options.timeoutMs ?? 60_000 });
  const entry = started.ready;
  const pid = started.pid;
  const { logs, exited } = started;
  return {
    pid,
    dataDir: options.dataDir,
    otlpGrpc: entry['otlpGrpc']!,
    otlpHttp: entry['otlpHttp']!,
    tempo: entry['tempo']!,
    jaeger: entry['jaeger']!,
    logs,
    exited,
    stop: () => started.stop('SIGTERM'),
    async kill() {
      await started.stop('SIGKILL');
    },
  };
}
