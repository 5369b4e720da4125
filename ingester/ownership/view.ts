// What this member knows about `shards/<n>/assignment` and `shards/<n>/owner`, rebuilt from one
// prefix watch (pure: no I/O). Decisions read it; the coordinator's CAS guards make a stale view
// harmless (a txn built on it is rejected), so the view only has to be eventually right.
import { AssignmentValue, OwnerValue, decodeValue, type KeyValue, type LeaseId, type WatchUpdate } from '../../common/coord/index.js';

export interface AssignmentView {
  /** undefined when the stored value is malformed (treated like "not assigned to me"). */
  readonly value: AssignmentValue | undefined;
  readonly modRevision: number;
}

export interface OwnerView {
  /** undefined when the stored value is malformed (treated like "owned by someone else"). */
  readonly value: OwnerValue | undefined;
  /** The owner's fencing token. */
  readonly createRevision: number;
  readonly modRevision: number;
  readonly lease: LeaseId | undefined;
}

export interface ShardView {
  readonly assignment: AssignmentView | undefined;
  readonly owner: OwnerView | undefined;
}

export interface Malformed {
  readonly key: string;
  readonly error: string;
}

/** Shards touched by one update ('all' after a snapshot), and values that failed to parse. */
export interface ViewChange {
  readonly shards: 'all' | ReadonlySet<number>;
  readonly malformed: readonly Malformed[];
}

interface Entry {
  assignment: AssignmentView | undefined;
  owner: OwnerView | undefined;
  generation: number;
}

const SHARD_KEY = /^(\d+)\/(assignment|owner)$/;

export class ShardsView {
  readonly #prefix: string;
  readonly #entries = new Map<number, Entry>();
  #revision = 0;
  // One counter for all shards, so a shard's generation never repeats after a snapshot drops it.
  #counter = 0;
  #snapshotGeneration = 0;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** Revision of the last update applied: every write up to it is reflected. */
  get revision(): number {
    return this.#revision;
  }

  get(shard: number): ShardView | undefined {
    return this.#entries.get(shard);
  }

  /** Changes whenever anything about the shard may have changed (an event for it, any snapshot). */
  generation(shard: number): number {
    return this.#entries.get(shard)?.generation ?? this.#snapshotGeneration;
  }

  shards(): IterableIterator<number> {
    return this.#entries.keys();
  }

  /** Applies one watch update; `undefined` for `disconnected` (the view stays as it was until the re-list). */
  apply(update: WatchUpdate): ViewChange | undefined {
    const malformed: Malformed[] = [];
    switch (update.kind) {
      case 'disconnected':
        return undefined;
      case 'snapshot': {
        // A snapshot replaces everything: events may have been missed before it.
        this.#entries.clear();
        this.#snapshotGeneration = ++this.#counter;
        for (const kv of update.entries) this.#put(kv, malformed);
        this.#revision = update.revision;
        return { shards: 'all', malformed };
      }
      case 'events': {
        const touched = new Set<number>();
        for (const event of update.events) {
          const shard = event.type === 'put' ? this.#put(event.kv, malformed) : this.#delete(event.key);
          if (shard !== undefined) touched.add(shard);
        }
        this.#revision = update.revision;
        return { shards: touched, malformed };
      }
    }
  }

  #parse(key: string): { shard: number; which: 'assignment' | 'owner' } | undefined {
    if (!key.startsWith(this.#prefix)) return undefined;
    const m = SHARD_KEY.exec(key.slice(this.#prefix.length));
    if (m === null) return undefined;
    const shard = Number(m[1]);
    return Number.isSafeInteger(shard) ? { shard, which: m[2] as 'assignment' | 'owner' } : undefined;
  }

  #entry(shard: number): Entry {
    let entry = this.#entries.get(shard);
    if (entry === undefined) {
      entry = { assignment: undefined, owner: undefined, generation: 0 };
      this.#entries.set(shard, entry);
    }
    entry.generation = ++this.#counter;
    return entry;
  }

  #put(kv: KeyValue, malformed: Malformed[]): number | undefined {
    const parsed = this.#parse(kv.key);
    if (parsed === undefined) return undefined;
    const entry = this.#entry(parsed.shard);
    if (parsed.which === 'assignment') {
      const decoded = decodeValue(AssignmentValue, kv.value);
      if (!decoded.ok) malformed.push({ key: kv.key, error: decoded.error });
      entry.assignment = { value: decoded.ok ? decoded.value : undefined, modRevision: kv.modRevision };
    } else {
      const decoded = decodeValue(OwnerValue, kv.value);
      if (!decoded.ok) malformed.push({ key: kv.key, error: decoded.error });
      entry.owner = { value: decoded.ok ? decoded.value : undefined, createRevision: kv.createRevision, modRevision: kv.modRevision, lease: kv.lease };
    }
    return parsed.shard;
  }

  #delete(key: string): number | undefined {
    const parsed = this.#parse(key);
    if (parsed === undefined) return undefined;
    // The entry stays (possibly empty) so the shard's generation keeps moving forward.
    const entry = this.#entry(parsed.shard);
    if (parsed.which === 'assignment') entry.assignment = undefined;
    else entry.owner = undefined;
    return parsed.shard;
  }
}
