// Starts a real `skein all-in-one` child process (from dist/) on 127.0.0.1 with OS-assigned ports,
// waits for its "skein ready" log line, and stops it by PID. Used by the integration suites.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<Record<string, string>>((resolve, reject) => {
    let buffer = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        try {
          const entry = JSON.parse(line) as Record<string, string>;
          if (entry['msg'] === 'skein ready') resolve(entry);
        } catch {
          // not JSON: keep going
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => logs.push(chunk));
    void exited.then((code) => reject(new Error(`skein exited with ${code} before becoming ready:\n${logs.join('\n')}`)));
  });
  const timeout = options.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const entry = await Promise.race([
    ready,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`skein not ready after ${timeout} ms:\n${logs.join('\n')}`)), timeout);
    }),
  ]).finally(() => clearTimeout(timer));
  const pid = child.pid!;
  return {
    pid,
    dataDir: options.dataDir,
    otlpGrpc: entry['otlpGrpc']!,
    otlpHttp: entry['otlpHttp']!,
    tempo: entry['tempo']!,
    jaeger: entry['jaeger']!,
    logs,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
