// Polling for Kubernetes tests: controllers converge eventually, so tests wait for a state, bounded,
// and a timeout says what was awaited, what was last seen, and (for a local cluster) the component
// logs that explain why.
import type { KubeEnvironment } from './environment.js';

export interface EventuallyOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** Adds the tail of this environment's component logs to a timeout error; stops waiting when one of its components crashed. */
  readonly env?: Pick<KubeEnvironment, 'logs' | 'crashed'>;
  /** Checked before each try: a string is a reason to stop waiting at once (e.g. a process died). */
  readonly failFast?: () => string | undefined;
}

/**
 * Calls `check` until it returns something other than undefined and returns that. `check` may call
 * `why(reason)` to record what it saw; a thrown error is recorded the same way and retried.
 */
export async function eventually<T>(what: string, check: (why: (reason: string) => void) => Promise<T | undefined>, options: EventuallyOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const until = Date.now() + timeoutMs;
  let last = '';
  const why = (reason: string): void => {
    last = reason;
  };
  const fail = (message: string): Error => {
    const logs = options.env?.logs(20) ?? '';
    return new Error(logs === '' ? message : `${message}\n${logs}`);
  };
  for (;;) {
    const fatal = options.failFast?.() ?? options.env?.crashed();
    if (fatal !== undefined) throw fail(`${fatal} while waiting for ${what}`);
    try {
      const value = await check(why);
      if (value !== undefined) return value;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > until) throw fail(`timed out after ${timeoutMs} ms waiting for ${what}${last === '' ? '' : ` (last: ${last})`}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}
