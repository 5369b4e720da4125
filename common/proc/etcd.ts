// A real single-member etcd on 127.0.0.1, started as a child process and stopped by PID: by the
// tests (free ports, temp data dir; DESIGN.md §11) and by `skein local-cluster` (fixed port, kept
// data dir). Fault helpers pause (SIGSTOP), resume and restart it on the same ports and data. A
// missing binary is an error naming the fix, never a skip.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface EtcdServer {
  readonly endpoint: string;
  readonly dataDir: string;
  pid(): number;
  /** SIGSTOP: the process keeps its sockets but answers nothing, like a hung node. */
  pause(): void;
  resume(): void;
  /** Kills (SIGKILL) and starts again on the same ports and data dir; resolves when healthy. */
  restart(): Promise<void>;
  /** Stops it (and removes the data dir unless it was given). */
  stop(): Promise<void>;
  logs(): string;
}

function findBinary(): string {
  const pinned = process.env['ETCD_BIN'];
  const candidates = pinned !== undefined && pinned !== '' ? [pinned] : ['/usr/bin/etcd', '/usr/local/bin/etcd', ...(process.env['PATH'] ?? '').split(':').map((d) => path.join(d, 'etcd'))];
  for (const c of candidates) if (c !== undefined && c !== '' && existsSync(c)) return c;
  throw new Error(`etcd binary not found (looked at ${candidates.join(', ')}): install etcd-server (apt-get install etcd-server) or set ETCD_BIN`);
}

async function waitHealthy(endpoint: string, child: ChildProcess, logs: string[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${logs.join('')}`);
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) });
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`etcd not healthy after ${timeoutMs} ms:\n${logs.join('')}`);
}

export interface StartEtcdOptions {
  readonly timeoutMs?: number;
  /** Data directory to use and keep (default: a temp dir removed by stop()). */
  readonly dataDir?: string;
  /** Client and peer ports (default: free ones). Keep both fixed when reusing a data dir. */
  readonly clientPort?: number;
  readonly peerPort?: number;
}

export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const binary = findBinary();
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'skein-etcd-')));
  const clientPort = options.clientPort ?? (await freePort());
  const peerPort = options.peerPort ?? (await freePort());
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'skein-test',
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `skein-test=${peer}`,
    // Short election timings make the minimum lease TTL 1 s, so lease tests stay fast.
    '--heartbeat-interval', '50',
    '--election-timeout', '250',
  ];
  const logs: string[] = [];
  const timeoutMs = options.timeoutMs ?? 15_000;
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8').on('data', (c: string) => logs.push(c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => logs.push(c));
    await waitHealthy(endpoint, child, logs, timeoutMs);
  };
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGCONT');
    child.kill(signal);
    await exited;
  };
  try {
    await launch();
  } catch (error) {
    await kill('SIGKILL');
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    endpoint,
    dataDir,
    pid: () => child.pid!,
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async restart() {
      await kill('SIGKILL');
      await launch();
    },
    async stop() {
      // A test's etcd holds nothing worth a clean shutdown; a kept data dir gets one.
      await kill(ownDir ? 'SIGKILL' : 'SIGTERM');
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
    logs: () => logs.join(''),
  };
}
