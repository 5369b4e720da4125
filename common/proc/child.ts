// Starting Skein processes as children and waiting for their structured "ready" log line — shared
// by the e2e harness and the benchmarks. Stops only the child it started, by PID.
import { spawn, type ChildProcess } from 'node:child_process';

export interface StartedChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Fields of the ready log line (e.g. listener addresses). */
  readonly ready: Record<string, string>;
  /** Every stdout line and stderr chunk so far (keeps growing). */
  readonly logs: string[];
  readonly exited: Promise<number | null>;
  /** Sends `signal` (default SIGTERM) unless already exited; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Spawns `node <args>` and resolves once a JSON stdout line has `msg === readyMessage`. Rejects,
 * killing the child, if it exits first or `timeoutMs` passes; the error carries the logs.
 */
export async function startChild(options: { args: readonly string[]; readyMessage: string; timeoutMs: number; execPath?: string; env?: NodeJS.ProcessEnv }): Promise<StartedChild> {
  const child = spawn(options.execPath ?? process.execPath, [...options.args], { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env === undefined ? {} : { env: options.env }) });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let timer: NodeJS.Timeout | undefined;
  const ready = await new Promise<Record<string, string>>((resolve, reject) => {
    let buffer = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        if (!line.startsWith('{')) continue;
        try {
          const entry = JSON.parse(line) as Record<string, string>;
          if (entry['msg'] === options.readyMessage) resolve(entry);
        } catch {
          // not a JSON line
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => logs.push(chunk));
    void exited.then((code) => reject(new Error(`process exited with ${code} before it was ready:\n${logs.join('\n')}`)));
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process not ready after ${options.timeoutMs} ms:\n${logs.join('\n')}`));
    }, options.timeoutMs);
  }).finally(() => clearTimeout(timer));
  return {
    child,
    pid: child.pid!,
    ready,
    logs,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
