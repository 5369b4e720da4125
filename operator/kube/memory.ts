// The in-memory twin of the Kubernetes API (STYLE.md rule 6): the same KubeClient verbs over a Map,
// modelling only what the conformance suite checks on a real apiserver — server-set metadata, one
// global resourceVersion counter, generation, optimistic concurrency, server-side apply per field
// manager, finalizers, owner-reference garbage collection and watches with a bounded history.
//
// Simplifications (each one a place where the twin is *kinder* than the apiserver, never stricter):
// - every kind is treated as having a status subresource: status changes only through applyStatus;
// - server-side apply is a three-way merge per field manager (fields this manager applied before and
//   omits now are removed; maps merge; lists are atomic) — no cross-manager conflicts, `force` is
//   accepted and ignored;
// - Foreground propagation behaves like Background; garbage collection is synchronous;
// - no schema validation, no namespace existence check, no managedFields.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { matchesLabelSelector, parseLabelSelector, type LabelRequirement } from './label-selector.js';
import {
  KubeApiError,
  type ApplyOptions,
  type DeleteOptions,
  type KindRef,
  type KubeClient,
  type KubeObject,
  type ListOptions,
  type ObjectList,
  type ObjectMeta,
  type ObjectRef,
  type WatchEvent,
  type WatchEventType,
  type WatchOptions,
} from './types.js';

export type MemoryKubeVerb = 'get' | 'list' | 'create' | 'replace' | 'apply' | 'applyStatus' | 'mergePatch' | 'delete' | 'watch';

export interface MemoryKubeOptions {
  /** Watch events kept for watches that start from an older resourceVersion (default 1000). */
  readonly historyLimit?: number;
  /** Clock for creation/deletion timestamps (epoch ms; default Date.now). */
  readonly now?: () => number;
}

/** A KubeClient plus the controls tests use to provoke what a real cluster does on its own. */
export interface MemoryKube extends KubeClient {
  /** Forgets the watch history: a watch from any resourceVersion before now fails with 410 Expired. */
  expireHistory(): void;
  /** Open watches reject with `error` (default a 500 InternalError), as when a connection breaks. */
  failWatches(error?: unknown): void;
  /** Open watches resolve, as when the apiserver ends a watch at its timeout. */
  endWatches(): void;
  /** The next `times` calls of `verb` reject with `error` (checked before anything else happens). */
  failNext(verb: MemoryKubeVerb, error: unknown, times?: number): void;
  /** How many watches are open. */
  openWatches(): number;
  /** The current (latest) resourceVersion. */
  currentResourceVersion(): string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Json = Record<string, unknown>;
interface Draft {
  apiVersion: string;
  kind: string;
  metadata: Mutable<ObjectMeta>;
  status?: unknown;
  [field: string]: unknown;
}

interface Stored {
  object: Draft;
  /** The last configuration each field manager applied (key `main:<m>` or `status:<m>`). */
  readonly applied: Map<string, Json>;
  /** Propagation policy of a pending (finalizer-blocked) deletion. */
  propagation?: DeleteOptions['propagationPolicy'];
}

interface HistoryEntry {
  readonly rv: number;
  readonly group: string;
  readonly kind: string;
  readonly type: WatchEventType;
  readonly object: Draft;
}

interface Watcher {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly selector: readonly LabelRequirement[];
  readonly queue: WatchEvent[];
  scheduled: boolean;
  closed: boolean;
  deliver(): void;
  finish(error?: unknown): void;
}

const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');
const keyOf = (apiVersion: string, kind: string, namespace: string | undefined, name: string): string =>
  JSON.stringify([groupOf(apiVersion), kind, namespace ?? '', name]);
const clone = <T>(value: T): T => structuredClone(value);
const isPlainObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const toError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** What generation tracks: everything but metadata and status. */
function contentOf(o: Draft): Json {
  const { metadata: _m, status: _s, ...rest } = o;
  return rest;
}

/** RFC 7386 JSON merge patch. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const result: Json = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = applyMergePatch(result[k], v);
  }
  return result;
}

/** Removes from `target` what `previous` (the manager's last applied config) had and `next` no longer has. */
function removeDropped(target: Json, previous: Json, next: Json): void {
  for (const [k, prev] of Object.entries(previous)) {
    if (!Object.hasOwn(next, k)) delete target[k];
    else if (isPlainObject(prev) && isPlainObject(next[k]) && isPlainObject(target[k])) removeDropped(target[k], prev, next[k]);
  }
}

/** Merges an applied config into `target`: maps recursively, everything else (lists too) replaced. */
function mergeApplied(target: Json, applied: Json): void {
  for (const [k, v] of Object.entries(applied)) {
    const t = target[k];
    if (isPlainObject(v) && isPlainObject(t)) mergeApplied(t, v);
    else target[k] = clone(v);
  }
}

/** The parts of metadata a client may set; the server owns the rest. */
function clientMetadata(meta: ObjectMeta): Mutable<ObjectMeta> {
  const { uid: _u, resourceVersion: _r, generation: _g, creationTimestamp: _c, deletionTimestamp: _d, ...rest } = meta as ObjectMeta & { managedFields?: unknown };
  const { managedFields: _mf, ...clientOwned } = rest as typeof rest & { managedFields?: unknown };
  return clone(clientOwned);
}

export function createMemoryKube(options: MemoryKubeOptions = {}): MemoryKube {
  const historyLimit = options.historyLimit ?? 1000;
  const now = options.now ?? Date.now;
  const store = new Map<string, Stored>();
  const watchers = new Set<Watcher>();
  const faults = new Map<MemoryKubeVerb, { error: unknown; times: number }[]>();
  let history: HistoryEntry[] = [];
  let revision = 0;
  /** Watches from a resourceVersion below this have missed events: 410. */
  let compactedRevision = 0;

  const timestamp = (): string => new Date(now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const notFound = (kind: string, name: string): KubeApiError => new KubeApiError(404, 'NotFound', `${kind} "${name}" not found`);
  const conflict = (kind: string, name: string): KubeApiError =>
    new KubeApiError(409, 'Conflict', `Operation cannot be fulfilled on ${kind} "${name}": the object has been modified; please apply your changes to the latest version and try again`);

  /** Runs one verb: a pending fault first, then `fn` synchronously (so concurrent calls interleave only between verbs). */
  function run<T>(verb: MemoryKubeVerb, fn: () => T): Promise<T> {
    try {
      const pending = faults.get(verb);
      const fault = pending?.[0];
      if (fault !== undefined) {
        if (--fault.times <= 0) pending!.shift();
        throw fault.error;
      }
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(toError(e));
    }
  }

  function emit(type: WatchEventType, object: Draft): void {
    const entry: HistoryEntry = { rv: Number(object.metadata.resourceVersion), group: groupOf(object.apiVersion), kind: object.kind, type, object: clone(object) };
    history.push(entry);
    while (history.length > historyLimit) compactedRevision = history.shift()!.rv;
    for (const w of watchers) offer(w, entry);
  }

  function offer(w: Watcher, e: HistoryEntry): void {
    if (w.closed || w.group !== e.group || w.kind !== e.kind) return;
    if (w.namespace !== undefined && e.object.metadata.namespace !== w.namespace) return;
    if (!matchesLabelSelector(w.selector, e.object.metadata.labels)) return;
    w.queue.push({ type: e.type, object: clone(e.object) as KubeObject });
    w.deliver();
  }

  const find = (ref: ObjectRef): Stored | undefined => store.get(keyOf(ref.apiVersion, ref.kind, ref.namespace, ref.name));
  const uidExists = (uid: string): boolean => [...store.values()].some((s) => s.object.metadata.uid === uid);

  function insert(draft: Draft): Draft {
    const meta = draft.metadata;
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp();
    meta.generation = 1;
    meta.resourceVersion = String(++revision);
    delete meta.deletionTimestamp;
    delete draft.status;
    const stored: Stored = { object: draft, applied: new Map() };
    store.set(keyOf(draft.apiVersion, draft.kind, meta.namespace, meta.name), stored);
    emit('ADDED', draft);
    return draft;
  }

  /** Writes `draft` over `s`: server-owned metadata kept, generation and resourceVersion as the apiserver sets them. */
  function update(s: Stored, draft: Draft): Draft {
    const old = s.object;
    const meta = draft.metadata;
    meta.name = old.metadata.name;
    if (old.metadata.namespace === undefined) delete meta.namespace;
    else meta.namespace = old.metadata.namespace;
    meta.uid = old.metadata.uid;
    meta.creationTimestamp = old.metadata.creationTimestamp;
    if (old.metadata.deletionTimestamp === undefined) delete meta.deletionTimestamp;
    else meta.deletionTimestamp = old.metadata.deletionTimestamp;
    meta.generation = old.metadata.generation;
    meta.resourceVersion = old.metadata.resourceVersion;
    if (meta.finalizers?.length === 0) delete meta.finalizers;
    if (meta.labels !== undefined && Object.keys(meta.labels).length === 0) delete meta.labels;
    if (!isDeepStrictEqual(contentOf(old), contentOf(draft))) meta.generation = (old.metadata.generation ?? 0) + 1;
    // A write that changes nothing is not a write: no new resourceVersion, no event.
    if (isDeepStrictEqual(old, draft)) return old;
    meta.resourceVersion = String(++revision);
    s.object = draft;
    if (meta.deletionTimestamp !== undefined && (meta.finalizers?.length ?? 0) === 0) {
      // The last finalizer is gone from an object being deleted: the update is the deletion.
      finalize(s, s.propagation);
      return draft;
    }
    emit('MODIFIED', draft);
    return draft;
  }

  function finalize(s: Stored, policy: DeleteOptions['propagationPolicy']): void {
    const o = s.object;
    store.delete(keyOf(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name));
    const last = clone(o);
    last.metadata.resourceVersion = String(++revision);
    emit('DELETED', last);
    collectGarbage(o.metadata.uid!, policy);
  }

  /** kube-controller-manager's garbage collector, synchronously: dependents go with their last owner. */
  function collectGarbage(ownerUid: string, policy: DeleteOptions['propagationPolicy']): void {
    for (const s of [...store.values()]) {
      const refs = s.object.metadata.ownerReferences ?? [];
      if (!refs.some((r) => r.uid === ownerUid)) continue;
      const remaining = refs.filter((r) => r.uid !== ownerUid);
      if (policy === 'Orphan' || remaining.some((r) => uidExists(r.uid))) {
        const draft = clone(s.object);
        if (remaining.length === 0) delete draft.metadata.ownerReferences;
        else draft.metadata.ownerReferences = remaining;
        update(s, draft);
      } else if (store.has(keyOf(s.object.apiVersion, s.object.kind, s.object.metadata.namespace, s.object.metadata.name))) {
        remove(s, 'Background');
      }
    }
  }

  function remove(s: Stored, policy: DeleteOptions['propagationPolicy']): void {
    if ((s.object.metadata.finalizers?.length ?? 0) > 0) {
      s.propagation = policy;
      if (s.object.metadata.deletionTimestamp === undefined) {
        const draft = clone(s.object);
        draft.metadata.deletionTimestamp = timestamp();
        draft.metadata.resourceVersion = String(++revision);
        s.object = draft;
        emit('MODIFIED', draft);
      }
      return;
    }
    finalize(s, policy);
  }

  function requireName(o: KubeObject): void {
    if (typeof o.metadata?.name !== 'string' || o.metadata.name === '') throw new KubeApiError(422, 'Invalid', `${o.kind}: metadata.name: Required value`);
  }

  function checkResourceVersion(s: Stored, requested: string | undefined): void {
    if (requested !== undefined && requested !== s.object.metadata.resourceVersion) throw conflict(s.object.kind, s.object.metadata.name);
  }

  function openWatch(kind: KindRef, options: WatchOptions, onEvent: (event: WatchEvent) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (options.signal.aborted) {
        resolve();
        return;
      }
      const from = options.resourceVersion === '' ? revision : Number(options.resourceVersion);
      if (!Number.isFinite(from)) throw new KubeApiError(400, 'BadRequest', `invalid resourceVersion '${options.resourceVersion}'`);
      if (from < compactedRevision) throw new KubeApiError(410, 'Expired', `too old resource version: ${from} (${compactedRevision})`);
      const onAbort = (): void => w.finish();
      const w: Watcher = {
        group: groupOf(kind.apiVersion),
        kind: kind.kind,
        namespace: options.namespace,
        selector: parseLabelSelector(options.labelSelector),
        queue: [],
        scheduled: false,
        closed: false,
        // Events are delivered from a microtask, never inside the verb that caused them (like the
        // real watch stream, and so a handler may call the client without re-entering a write).
        deliver() {
          if (w.scheduled || w.closed) return;
          w.scheduled = true;
          queueMicrotask(() => {
            w.scheduled = false;
            while (!w.closed && w.queue.length > 0) {
              const event = w.queue.shift()!;
              try {
                onEvent(event);
              } catch (e) {
                w.finish(e);
              }
            }
          });
        },
        finish(error?: unknown) {
          if (w.closed) return;
          w.closed = true;
          w.queue.length = 0;
          watchers.delete(w);
          options.signal.removeEventListener('abort', onAbort);
          if (error === undefined) resolve();
          else reject(toError(error));
        },
      };
      options.signal.addEventListener('abort', onAbort, { once: true });
      watchers.add(w);
      for (const e of history) if (e.rv > from) offer(w, e);
    });
  }

  return {
    get: (ref) => run('get', () => clone(find(ref)?.object) as KubeObject | undefined),

    list: (kind: KindRef, opts: ListOptions = {}) =>
      run('list', (): ObjectList => {
        const selector = parseLabelSelector(opts.labelSelector);
        const group = groupOf(kind.apiVersion);
        const items = [...store.values()]
          .map((s) => s.object)
          .filter((o) => groupOf(o.apiVersion) === group && o.kind === kind.kind)
          .filter((o) => opts.namespace === undefined || o.metadata.namespace === opts.namespace)
          .filter((o) => matchesLabelSelector(selector, o.metadata.labels))
          .sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
        return { items: clone(items) as KubeObject[], resourceVersion: String(revision) };
      }),

    create: (object) =>
      run('create', () => {
        requireName(object);
        if (find({ ...object, name: object.metadata.name, namespace: object.metadata.namespace }) !== undefined) {
          throw new KubeApiError(409, 'AlreadyExists', `${object.kind} "${object.metadata.name}" already exists`);
        }
        const draft = clone(object) as Draft;
        draft.metadata = { ...clientMetadata(object.metadata), name: object.metadata.name };
        return clone(insert(draft)) as KubeObject;
      }),

    replace: (object) =>
      run('replace', () => {
        requireName(object);
        const s = find({ ...object, name: object.metadata.name, namespace: object.metadata.namespace });
        if (s === undefined) throw notFound(object.kind, object.metadata.name);
        checkResourceVersion(s, object.metadata.resourceVersion);
        const draft = clone(object) as Draft;
        if (s.object.status === undefined) delete draft.status;
        else draft.status = clone(s.object.status);
        return clone(update(s, draft)) as KubeObject;
      }),

    apply: (object, opts: ApplyOptions) =>
      run('apply', () => {
        requireName(object);
        const { status: _ignored, ...rest } = clone(object) as Draft;
        const config: Json = { ...rest, metadata: clientMetadata(object.metadata) };
        const managerKey = `main:${opts.fieldManager}`;
        const s = find({ ...object, name: object.metadata.name, namespace: object.metadata.namespace });
        if (s === undefined) {
          const created = insert(clone(config) as Draft);
          store.get(keyOf(created.apiVersion, created.kind, created.metadata.namespace, created.metadata.name))!.applied.set(managerKey, config);
          return clone(created) as KubeObject;
        }
        checkResourceVersion(s, object.metadata.resourceVersion);
        const draft = clone(s.object) as unknown as Json;
        removeDropped(draft, s.applied.get(managerKey) ?? {}, config);
        mergeApplied(draft, config);
        s.applied.set(managerKey, config);
        return clone(update(s, draft as Draft)) as KubeObject;
      }),

    applyStatus: (object, opts: ApplyOptions) =>
      run('applyStatus', () => {
        requireName(object);
        const s = find({ ...object, name: object.metadata.name, namespace: object.metadata.namespace });
        if (s === undefined) throw notFound(object.kind, object.metadata.name);
        checkResourceVersion(s, object.metadata.resourceVersion);
        const config: Json = isPlainObject(object.status) ? clone(object.status) : {};
        const managerKey = `status:${opts.fieldManager}`;
        const draft = clone(s.object);
        const status: Json = isPlainObject(draft.status) ? draft.status : {};
        removeDropped(status, s.applied.get(managerKey) ?? {}, config);
        mergeApplied(status, config);
        draft.status = status;
        s.applied.set(managerKey, config);
        return clone(update(s, draft)) as KubeObject;
      }),

    mergePatch: (ref, patch) =>
      run('mergePatch', () => {
        const s = find(ref);
        if (s === undefined) throw notFound(ref.kind, ref.name);
        const requested = isPlainObject(patch) && isPlainObject(patch['metadata']) ? patch['metadata']['resourceVersion'] : undefined;
        checkResourceVersion(s, typeof requested === 'string' ? requested : undefined);
        const draft = applyMergePatch(clone(s.object), patch) as Draft;
        if (!isPlainObject(draft.metadata)) draft.metadata = clone(s.object.metadata);
        if (s.object.status === undefined) delete draft.status;
        else draft.status = clone(s.object.status);
        return clone(update(s, draft)) as KubeObject;
      }),

    delete: (ref, opts: DeleteOptions = {}) =>
      run('delete', () => {
        const s = find(ref);
        if (s === undefined) return false;
        if (opts.uid !== undefined && opts.uid !== s.object.metadata.uid) {
          throw new KubeApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${opts.uid}, UID in object meta: ${s.object.metadata.uid}`);
        }
        remove(s, opts.propagationPolicy ?? 'Background');
        return true;
      }),

    watch: (kind, opts, onEvent) => {
      const pending = faults.get('watch')?.[0];
      if (pending !== undefined) return run('watch', () => undefined);
      return openWatch(kind, opts, onEvent);
    },

    close: () => {
      for (const w of [...watchers]) w.finish();
    },

    expireHistory: () => {
      history = [];
      compactedRevision = revision;
    },
    failWatches: (error = new KubeApiError(500, 'InternalError', 'watch failed (injected)')) => {
      for (const w of [...watchers]) w.finish(error);
    },
    endWatches: () => {
      for (const w of [...watchers]) w.finish();
    },
    failNext: (verb, error, times = 1) => {
      const list = faults.get(verb) ?? [];
      list.push({ error, times });
      faults.set(verb, list);
    },
    openWatches: () => watchers.size,
    currentResourceVersion: () => String(revision),
  };
}
