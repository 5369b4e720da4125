// Leader election for controllers (DESIGN.md §5: "one leads through an etcd election; the others
// stand by"), built only on the Coordinator interface so both implementations share it. The leader
// key is created-if-absent and bound to the candidate's lease; followers watch it and try again when
// it disappears (lease ended or leader resigned). The leader key's create revision is a fencing token
// the leader can compare in its own txns, like a shard owner's.
import { SkeinError } from '../errors/index.js';
import { del, get, ifAbsent, ifCreateRevision, put, type Coordinator, type KeyValue, type Lease, type Watch } from './coordinator.js';
import { sleep, systemClock, type Clock } from './clock.js';

export interface CampaignOptions {
  /** Full key of the election, e.g. `/skein/ns/cluster/controller/leader`. */
  readonly key: string;
  /** What followers learn about the leader (id, address). */
  readonly value: string | Uint8Array;
  readonly lease: Lease;
  readonly signal?: AbortSignal;
  /** Timers of the back-off after unknown outcomes. Default: the system clock. */
  readonly clock?: Clock;
}

/** Back-off between attempts whose outcome could not be learned (coordinator unreachable). */
const UNKNOWN_BACKOFF_MIN_MS = 50;
const UNKNOWN_BACKOFF_MAX_MS = 1000;

export interface Leadership {
  readonly key: string;
  /** Create revision of the leader key: strictly greater for every later leader. */
  readonly token: number;
  /** True once leadership ended: the lease expired locally, or the key was deleted or replaced. */
  readonly lost: boolean;
  onLost(listener: () => void): () => void;
  /** Deletes the leader key if it is still ours; leadership then ends without `onLost` firing. */
  resign(): Promise<void>;
}

/** Resolves once this candidate leads. Rejects if the lease ends or the signal aborts first. */
export async function campaign(coord: Coordinator, options: CampaignOptions): Promise<Leadership> {
  const { key, value, lease, signal } = options;
  const clock = options.clock ?? systemClock;
  let backoff = UNKNOWN_BACKOFF_MIN_MS;
  for (;;) {
    signal?.throwIfAborted();
    if (!lease.valid()) throw new SkeinError('UNAVAILABLE', `lease ${lease.id} ended while campaigning for ${key}`);
    const result = await coord.txn({ compare: [ifAbsent(key)], success: [put(key, value, lease.id), get(key)], failure: [get(key)] });
    let current: KeyValue | undefined;
    if (result.kind !== 'unknown') backoff = UNKNOWN_BACKOFF_MIN_MS;
    switch (result.kind) {
      case 'committed': {
        const r = result.results[1]!;
        if (r.op === 'get' && r.kv !== undefined) return watchLeadership(coord, key, r.kv.createRevision, lease);
        continue; // lease vanished between put and get in the same txn: impossible in etcd; re-check
      }
      case 'rejected': {
        const r = result.results[0]!;
        current = r.op === 'get' ? r.kv : undefined;
        // Our own key from an earlier attempt whose outcome was unknown: we already lead.
        if (current !== undefined && current.lease === lease.id) return watchLeadership(coord, key, current.createRevision, lease);
        break;
      }
      case 'lease-not-found':
        throw new SkeinError('UNAVAILABLE', `lease ${lease.id} is gone; cannot campaign for ${key}`);
      case 'unknown': {
        // Never assume either way: re-read. If the put landed, the rejected branch above finds our lease.
        const read = await coord.get(key).catch(() => undefined);
        current = read?.kv;
        if (current !== undefined && current.lease === lease.id) return watchLeadership(coord, key, current.createRevision, lease);
        if (read === undefined) {
          // Unreachable: do not spin; the lease check at the top ends the campaign if it lapses.
          await sleep(clock, backoff, signal);
          backoff = Math.min(UNKNOWN_BACKOFF_MAX_MS, backoff * 2);
          continue;
        }
        break;
      }
    }
    if (current !== undefined) await waitUntilGone(coord, key, current.createRevision, lease, signal);
  }
}

/** Resolves when the leader key with `createRevision` is no longer there (or the wait must end). */
function waitUntilGone(coord: Coordinator, key: string, createRevision: number, lease: Lease, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      watch.close();
      offExpired();
      signal?.removeEventListener('abort', finish);
      resolve(); // the campaign loop re-checks signal and lease
    };
    const watch = watchCreateRevision(coord, key, (current) => {
      if (current !== createRevision) finish();
    });
    const offExpired = lease.onExpired(finish);
    signal?.addEventListener('abort', finish, { once: true });
  });
}

/**
 * Watches exactly `key` (a prefix watch also sees keys under it, which are ignored) and reports the
 * create revision of its current incarnation, undefined when absent, after every snapshot or event
 * batch. `disconnected` updates report nothing: the snapshot that follows the reconnect does.
 */
function watchCreateRevision(coord: Coordinator, key: string, onChange: (createRevision: number | undefined) => void): Watch {
  let current: number | undefined;
  return coord.watchPrefix(key, (update) => {
    if (update.kind === 'disconnected') return;
    if (update.kind === 'snapshot') current = update.entries.find((kv) => kv.key === key)?.createRevision;
    else
      for (const e of update.events) {
        if (e.type === 'put' && e.kv.key === key) current = e.kv.createRevision;
        else if (e.type === 'delete' && e.key === key) current = undefined;
      }
    onChange(current);
  });
}

function watchLeadership(coord: Coordinator, key: string, token: number, lease: Lease): Leadership {
  const listeners = new Set<() => void>();
  let lost = false;
  const end = (notify: boolean): void => {
    if (lost) return;
    lost = true;
    watch.close();
    offExpired();
    if (notify) for (const l of listeners) l();
    listeners.clear();
  };
  const watch = watchCreateRevision(coord, key, (current) => {
    if (current !== token) end(true);
  });
  const offExpired = lease.onExpired(() => end(true));
  return {
    key,
    token,
    get lost() {
      return lost;
    },
    onLost(listener) {
      if (lost) {
        queueMicrotask(listener);
        return () => {};
      }
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async resign() {
      end(false);
      const result = await coord.txn({ compare: [ifCreateRevision(key, token)], success: [del(key)] });
      if (result.kind === 'unknown') throw new SkeinError('UNAVAILABLE', `resign from ${key}: outcome unknown`, { cause: result.error });
    },
  };
}
