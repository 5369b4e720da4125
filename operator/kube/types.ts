// The narrow Kubernetes surface the operator uses (STYLE.md rule 6): a handful of verbs over plain
// JSON objects, implemented over @kubernetes/client-node (client.ts) and by an in-memory twin
// (memory.ts); both pass one conformance suite (conformance.ts). Objects are plain JSON as the API
// server sends them — no generated model classes — so builders, status computation and tests work
// on the same shapes the apiserver stores.

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
  readonly finalizers?: readonly string[];
}

/** Any Kubernetes object: apiVersion, kind, metadata, and whatever else the kind carries. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

/** Which kind: `apps/v1` + `StatefulSet`. The implementation maps it to a REST path. */
export interface KindRef {
  readonly apiVersion: string;
  readonly kind: string;
}

/** One object: kind + namespace (omit for cluster-scoped kinds) + name. */
export interface ObjectRef extends KindRef {
  readonly namespace?: string;
  readonly name: string;
}

export interface ListOptions {
  /** Omit for all namespaces (or a cluster-scoped kind). */
  readonly namespace?: string;
  /** A label selector in the API's string form: `a=b,c in (d,e),!f`. Equality and existence forms are enough here. */
  readonly labelSelector?: string;
}

export interface ObjectList {
  readonly items: readonly KubeObject[];
  /** The list's resourceVersion: a watch from here misses nothing. */
  readonly resourceVersion: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: KubeObject;
}

export interface WatchOptions extends ListOptions {
  /** Start after this resourceVersion (from a list). */
  readonly resourceVersion: string;
  /** Ends the watch; the returned promise then resolves. */
  readonly signal: AbortSignal;
}

export interface ApplyOptions {
  /** The one field manager of the operator (server-side apply). */
  readonly fieldManager: string;
  /** Take over fields another manager set (the operator's objects are the operator's). */
  readonly force?: boolean;
}

export interface DeleteOptions {
  /** Background (default), Foreground or Orphan (keep the dependents, e.g. a StatefulSet's pods). */
  readonly propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  /** Delete only if the object still has this uid (not a newer object of the same name). */
  readonly uid?: string;
}

/**
 * Errors from the API carry the HTTP status and the Status reason so callers can branch on
 * NotFound (404), Conflict (409), Invalid (422), Gone (410) without parsing messages.
 */
export class KubeApiError extends Error {
  readonly code = 'KUBE_API_ERROR';
  readonly retryable: boolean;
  constructor(
    readonly status: number,
    /** The Status `reason` (NotFound, AlreadyExists, Conflict, Invalid, Expired, Forbidden, …) or '' */
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubeApiError';
    this.retryable = status === 429 || status >= 500 || status === 409;
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof KubeApiError && e.status === 404;
}

export function isConflict(e: unknown): boolean {
  return e instanceof KubeApiError && e.status === 409;
}

export interface KubeClient {
  /** The object, or undefined when it does not exist. */
  get(ref: ObjectRef): Promise<KubeObject | undefined>;
  list(kind: KindRef, options?: ListOptions): Promise<ObjectList>;
  /** Creates; 409 AlreadyExists if present. */
  create(object: KubeObject): Promise<KubeObject>;
  /** Replaces (PUT) with optimistic concurrency: metadata.resourceVersion must match, else 409. */
  replace(object: KubeObject): Promise<KubeObject>;
  /** Server-side apply of the whole desired object under one field manager; returns the stored object. */
  apply(object: KubeObject, options: ApplyOptions): Promise<KubeObject>;
  /** Server-side apply to the status subresource (object carries apiVersion, kind, metadata.name/namespace, status). */
  applyStatus(object: KubeObject, options: ApplyOptions): Promise<KubeObject>;
  /** JSON merge patch (RFC 7386), e.g. to remove a finalizer. */
  mergePatch(ref: ObjectRef, patch: unknown): Promise<KubeObject>;
  /** True when deleted (or deletion started), false when it did not exist. */
  delete(ref: ObjectRef, options?: DeleteOptions): Promise<boolean>;
  /**
   * Streams changes after options.resourceVersion until the signal aborts (resolves) or the
   * watch fails (rejects; a KubeApiError with status 410 means the resourceVersion is too old:
   * list again). A watch the server ends normally also resolves: callers re-watch from the last
   * resourceVersion they saw.
   */
  watch(kind: KindRef, options: WatchOptions, onEvent: (event: WatchEvent) => void): Promise<void>;
  /** Releases connections. */
  close(): void;
}
