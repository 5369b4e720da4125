// A MemoryStore that survives restarts of its process: the coordinator of `skein all-in-one`.
// Without it a restart would start a new cluster with an empty manifest, and every block on disk
// would become invisible. State is one JSON-lines file: a header line, then one line per change
// (puts with their revisions, deletes), appended and fdatasync'ed before the change is visible
// to any client — the same "committed means durable" promise etcd makes. On open the file is
// replayed, then rewritten compacted (one snapshot line) through a temp file and a rename.
//
// Keys bound to leases are never restored (the lease died with the process; etcd would drop them
// after the TTL), so a put bound to a lease is journaled as a delete of that key.
// A torn last line (crash mid-append) is dropped: that change was never acknowledged. A corrupt
// line anywhere else is an error naming the file and line, since silently skipping it could
// resurrect or lose manifest entries.
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { SkeinError } from '../errors/index.js';
import type { KeyValue, WatchEvent } from './coordinator.js';
import { MemoryStore, type MemoryStoreOptions } from './memory.js';

const HEADER = { skeinCoordinatorState: 1 };

interface PutRecord {
  readonly k: string;
  /** Value, base64. */
  readonly v: string;
  readonly c: number;
  readonly m: number;
  readonly n: number;
}
interface ChangeRecord {
  readonly r: number;
  readonly put?: readonly PutRecord[];
  readonly del?: readonly string[];
}

export interface FileBackedStore {
  readonly store: MemoryStore;
  /** What opening found: keys restored, changes replayed, whether a torn tail was dropped. */
  readonly report: { readonly keys: number; readonly revision: number; readonly changes: number; readonly droppedTornTail: boolean };
  /** Closes the journal file; later changes are not journaled, so close after every client. */
  close(): void;
}

export interface FileBackedStoreOptions extends Omit<MemoryStoreOptions, 'persistence'> {
  /** The state file, e.g. `<data-dir>/coordinator.jsonl`. Its directory is created if missing. */
  readonly file: string;
}

function load(file: string): { revision: number; entries: Map<string, KeyValue>; changes: number; droppedTornTail: boolean } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { revision: 1, entries: new Map(), changes: 0, droppedTornTail: false };
    throw new SkeinError('INTERNAL', `cannot read coordinator state ${file}: ${(e as Error).message}`, { cause: e });
  }
  const lines = text.split('\n');
  const complete = text.endsWith('\n');
  if (complete) lines.pop();
  const entries = new Map<string, KeyValue>();
  let revision = 1;
  let changes = 0;
  let droppedTornTail = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const last = i === lines.length - 1;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (e) {
      if (last && !complete) {
        droppedTornTail = true;
        break;
      }
      throw new SkeinError(
        'INTERNAL',
        `coordinator state ${file} is corrupt at line ${i + 1}; restore it from a backup, or move it aside to start a new cluster (blocks on disk then stay invisible until re-registered)`,
        { cause: e },
      );
    }
    if (i === 0) {
      if ((record as Partial<typeof HEADER> | null)?.skeinCoordinatorState !== 1) throw new SkeinError('INTERNAL', `${file} is not a Skein coordinator state file (version 1)`);
      continue;
    }
    const change = record as ChangeRecord;
    if (change === null || typeof change !== 'object' || !Number.isSafeInteger(change.r)) throw new SkeinError('INTERNAL', `coordinator state ${file}: line ${i + 1} has no revision`);
    for (const k of change.del ?? []) entries.delete(k);
    for (const p of change.put ?? []) {
      entries.set(p.k, { key: p.k, value: new Uint8Array(Buffer.from(p.v, 'base64')), createRevision: p.c, modRevision: p.m, version: p.n, lease: undefined });
    }
    revision = Math.max(revision, change.r);
    changes++;
  }
  return { revision, entries, changes, droppedTornTail };
}

const putRecord = (kv: KeyValue): PutRecord => ({ k: kv.key, v: Buffer.from(kv.value).toString('base64'), c: kv.createRevision, m: kv.modRevision, n: kv.version });

/** Opens (creating if missing) the state file and returns a MemoryStore that journals into it. */
export function openFileBackedStore(options: FileBackedStoreOptions): FileBackedStore {
  const { file, ...storeOptions } = options;
  mkdirSync(path.dirname(file), { recursive: true });
  const loaded = load(file);

  // Compact: the snapshot replaces the journal atomically, so a crash here leaves the old file.
  const tmp = `${file}.tmp`;
  const snapshot: ChangeRecord = { r: loaded.revision, put: [...loaded.entries.values()].map(putRecord) };
  const tfd = openSync(tmp, 'w');
  try {
    writeSync(tfd, `${JSON.stringify(HEADER)}\n${JSON.stringify(snapshot)}\n`);
    fsyncSync(tfd);
  } finally {
    closeSync(tfd);
  }
  renameSync(tmp, file);
  const dfd = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }

  const fd = openSync(file, 'a');
  let closed = false;
  const store = new MemoryStore({
    ...storeOptions,
    persistence: {
      initial: { revision: loaded.revision, entries: [...loaded.entries.values()] },
      onCommit(revision: number, events: readonly WatchEvent[]) {
        // After close only lease expiries can still fire (timers of leases the process no longer
        // keeps alive); their keys were journaled as deletes when they were put.
        if (closed) return;
        const put: PutRecord[] = [];
        const del: string[] = [];
        for (const e of events) {
          if (e.type === 'delete') del.push(e.key);
          else if (e.kv.lease === undefined) put.push(putRecord(e.kv));
          else del.push(e.kv.key);
        }
        const record: ChangeRecord = { r: revision, ...(put.length > 0 ? { put } : {}), ...(del.length > 0 ? { del } : {}) };
        writeSync(fd, `${JSON.stringify(record)}\n`);
        fdatasyncSync(fd);
      },
    },
  });
  return {
    store,
    report: { keys: loaded.entries.size, revision: loaded.revision, changes: loaded.changes, droppedTornTail: loaded.droppedTornTail },
    close() {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}
