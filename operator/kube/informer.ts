// A supervised informer: list → cache → watch from the list's resourceVersion → apply events →
// re-watch from the last resourceVersion seen when the server ends the watch → on 410 Expired list
// again and reconcile the cache (objects that vanished meanwhile are reported as DELETED) → on any
// other failure back off exponentially with jitter and try again, for as long as the signal lives.
// client-node's own informer stops on errors other than 410; an operator must not silently go deaf.
import { backoffDelay, sleep, type Backoff } from './sleep.js';
import { KubeApiError, type KindRef, type KubeClient, type KubeObject, type WatchEvent, type WatchEventType } from './types.js';

export type InformerChange = Exclude<WatchEventType, 'BOOKMARK'>;

export interface InformerOptions {
  readonly client: KubeClient;
  readonly kind: KindRef;
  /** Omit for all namespaces (or a cluster-scoped kind). */
  readonly namespace?: string;
  readonly labelSelector?: string;
  /** Every change to the cache: ADDED / MODIFIED / DELETED (also those found by a re-list). */
  onChange(object: KubeObject, type: InformerChange): void;
  /** A failed list or watch (it is retried); also a throwing onChange. */
  onError?(error: unknown): void;
  readonly backoff: Backoff;
  /** Stops the informer: the watch ends, timers are cleared, stopped() resolves. */
  readonly signal: AbortSignal;
  /** Jitter source in [0, 1) (tests). */
  readonly random?: () => number;
}

export interface Informer {
  /** Starts the loop (once); resolves after the first successful list (or when the signal aborts first). */
  start(): Promise<void>;
  /** True once the first list has filled the cache. */
  synced(): boolean;
  /** The cached objects. */
  list(): KubeObject[];
  get(namespace: string | undefined, name: string): KubeObject | undefined;
  /** Resolves when the loop has ended after the signal aborted. */
  stopped(): Promise<void>;
}

const cacheKey = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;

export function createInformer(options: InformerOptions): Informer {
  const { client, kind, signal } = options;
  const cache = new Map<string, KubeObject>();
  let isSynced = false;
  let loop: Promise<void> | undefined;
  let resolveFirstSync!: () => void;
  const firstSync = new Promise<void>((resolve) => {
    resolveFirstSync = resolve;
  });
  signal.addEventListener('abort', () => resolveFirstSync(), { once: true });

  const report = (error: unknown): void => {
    try {
      options.onError?.(error);
    } catch {
      // an error handler that throws must not stop the loop
    }
  };
  const notify = (object: KubeObject, type: InformerChange): void => {
    try {
      options.onChange(object, type);
    } catch (e) {
      report(e);
    }
  };

  /** Replaces the cache with a fresh list, reporting the difference. */
  function reconcile(items: readonly KubeObject[]): void {
    const fresh = new Map(items.map((o) => [cacheKey(o.metadata.namespace, o.metadata.name), o]));
    for (const [key, old] of cache) {
      if (!fresh.has(key)) {
        cache.delete(key);
        notify(old, 'DELETED');
      }
    }
    for (const [key, o] of fresh) {
      const old = cache.get(key);
      cache.set(key, o);
      if (old === undefined) notify(o, 'ADDED');
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) notify(o, 'MODIFIED');
    }
  }

  function apply(event: WatchEvent): void {
    const key = cacheKey(event.object.metadata.namespace, event.object.metadata.name);
    if (event.type === 'DELETED') {
      cache.delete(key);
      notify(event.object, 'DELETED');
    } else if (event.type === 'ADDED' || event.type === 'MODIFIED') {
      cache.set(key, event.object);
      notify(event.object, event.type);
    }
  }

  async function run(): Promise<void> {
    const query = {
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
    };
    /** Where the next watch starts; undefined = list first. */
    let resourceVersion: string | undefined;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (resourceVersion === undefined) {
          const listed = await client.list(kind, query);
          if (signal.aborted) return;
          reconcile(listed.items);
          resourceVersion = listed.resourceVersion;
          isSynced = true;
          resolveFirstSync();
        }
        const started = Date.now();
        let delivered = false;
        await client.watch(kind, { ...query, resourceVersion, signal }, (event) => {
          delivered = true;
          const rv = event.object.metadata.resourceVersion;
          if (rv !== undefined && rv !== '') resourceVersion = rv;
          apply(event);
        });
        failures = 0;
        // The server ended the watch: pick up where it stopped. A server that ends watches at once
        // and says nothing would make this a hot loop, so such an end waits like a failure.
        if (!delivered && Date.now() - started < options.backoff.initialMs) await sleep(options.backoff.initialMs, signal);
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof KubeApiError && error.status === 410) {
          // Our resourceVersion is older than the server's history: what happened meanwhile is
          // only knowable by listing again.
          resourceVersion = undefined;
          continue;
        }
        failures++;
        report(error);
        await sleep(backoffDelay(options.backoff, failures, options.random), signal);
      }
    }
  }

  return {
    start() {
      loop ??= run().catch(report);
      return firstSync;
    },
    synced: () => isSynced,
    list: () => [...cache.values()],
    get: (namespace, name) => cache.get(cacheKey(namespace, name)),
    stopped: () => loop ?? Promise.resolve(),
  };
}
