// One control-plane child process (etcd, kube-apiserver, …): stdout and stderr go to a log file in the
// environment's temp dir (no JS work per log line; the tail goes into failure messages), and it is
// stopped by its own PID only — SIGTERM, then SIGKILL after a bound.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface KubeProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** The child exited (crashed, or after stop()). */
  exited(): boolean;
  /** Exit code or signal once exited. */
  exitStatus(): string | undefined;
  /** Last `lines` lines of its log. */
  tail(lines?: number): string;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export function startKubeProcess(options: { name: string; binary: string; args: readonly string[]; cwd: string; logFile: string }): KubeProcess {
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.binary, [...options.args], { cwd: options.cwd, stdio: ['ignore', fd, fd], env: { ...process.env, KUBECONFIG: undefined } });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${options.name}: could not start ${options.binary}`);
  const pid = child.pid;
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Without a listener a failed spawn (ENOENT) would be an unhandled 'error' event.
  child.once('error', () => undefined);
  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    name: options.name,
    pid,
    logFile: options.logFile,
    exited: hasExited,
    exitStatus: () => (hasExited() ? String(child.exitCode ?? child.signalCode) : undefined),
    tail(lines = 40) {
      let text: string;
      try {
        text = readFileSync(options.logFile, 'utf8');
      } catch {
        return '(no log)';
      }
      return text.split('\n').slice(-lines - 1).join('\n');
    },
    async stop(graceMs = 10_000) {
      if (hasExited()) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (!hasExited()) child.kill('SIGKILL');
          resolve();
        }, graceMs);
      });
      await Promise.race([exit, killed]);
      clearTimeout(timer);
      await exit;
    },
  };
}
