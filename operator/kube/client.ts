// KubeClient over @kubernetes/client-node: KubeConfig for configuration and authentication (client
// certificates, tokens, exec plugins, in-cluster service account), the library's HTTP layer for
// requests and its Watch for streams.
//
// Why not KubernetesObjectApi for the verbs: it (de)serializes built-in kinds through the generated
// model classes, so timestamps come back as Date objects (a Lease's MicroTime loses its
// microseconds), unknown fields are dropped on the way out, and it has no subresources (/status).
// types.ts promises plain JSON as the apiserver sends it, so every verb goes through one small
// request function instead: RequestContext + KubeConfig.applySecurityAuthentication (headers and the
// TLS dispatcher) + IsomorphicFetchHttpLibrary — the same pieces KubernetesObjectApi uses inside.
import { HttpMethod, IsomorphicFetchHttpLibrary, KubeConfig, RequestContext, Watch } from '@kubernetes/client-node';
import {
  KubeApiError,
  type ApplyOptions,
  type DeleteOptions,
  type KindRef,
  type KubeClient,
  type KubeObject,
  type ListOptions,
  type ObjectList,
  type ObjectRef,
  type WatchEvent,
  type WatchOptions,
} from './types.js';

export type CreateKubeClientOptions =
  | {
      /** Path of a kubeconfig file; else KUBECONFIG, ~/.kube/config, then the in-cluster service account. */
      readonly kubeconfig?: string;
      /** Use the in-cluster service account only. */
      readonly inCluster?: boolean;
      /** Bound on one request (not on watches; default 30 s). */
      readonly requestTimeoutMs?: number;
    }
  | { readonly config: KubeConfig; readonly requestTimeoutMs?: number };

interface Resource {
  readonly plural: string;
  readonly namespaced: boolean;
}

/** `<group>/<Kind>` → REST resource, for the kinds the operator uses (core group is ''). Others are discovered. */
const KNOWN_RESOURCES: Readonly<Record<string, Resource>> = {
  '/ConfigMap': { plural: 'configmaps', namespaced: true },
  '/Service': { plural: 'services', namespaced: true },
  '/Secret': { plural: 'secrets', namespaced: true },
  '/Pod': { plural: 'pods', namespaced: true },
  '/Event': { plural: 'events', namespaced: true },
  '/ServiceAccount': { plural: 'serviceaccounts', namespaced: true },
  '/PersistentVolumeClaim': { plural: 'persistentvolumeclaims', namespaced: true },
  '/Namespace': { plural: 'namespaces', namespaced: false },
  '/Node': { plural: 'nodes', namespaced: false },
  'apps/StatefulSet': { plural: 'statefulsets', namespaced: true },
  'apps/Deployment': { plural: 'deployments', namespaced: true },
  'policy/PodDisruptionBudget': { plural: 'poddisruptionbudgets', namespaced: true },
  'coordination.k8s.io/Lease': { plural: 'leases', namespaced: true },
  'events.k8s.io/Event': { plural: 'events', namespaced: true },
  'networking.k8s.io/Ingress': { plural: 'ingresses', namespaced: true },
  'admissionregistration.k8s.io/MutatingWebhookConfiguration': { plural: 'mutatingwebhookconfigurations', namespaced: false },
  'apiextensions.k8s.io/CustomResourceDefinition': { plural: 'customresourcedefinitions', namespaced: false },
  // operator/api's GROUP; not imported so kube/ stays below every other operator module.
  'tracing.skein.dev/TracingCluster': { plural: 'tracingclusters', namespaced: true },
};

/** Watches are ended by the server before client-node's 30 s inactivity timer would abort them. */
const WATCH_TIMEOUT_SECONDS = 25;

const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');
const apiRoot = (apiVersion: string): string => (apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`);

export function loadKubeConfig(options: CreateKubeClientOptions): KubeConfig {
  if ('config' in options) return options.config;
  const kc = new KubeConfig();
  if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig);
  else if (options.inCluster === true) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

/** The Status an error response carries, as a KubeApiError. */
function statusError(status: number, body: unknown, fallback: string): KubeApiError {
  const s = typeof body === 'object' && body !== null ? (body as { reason?: unknown; message?: unknown; code?: unknown }) : {};
  const code = typeof s.code === 'number' && s.code > 0 ? s.code : status;
  const reason = typeof s.reason === 'string' ? s.reason : code === 410 ? 'Expired' : '';
  const message = typeof s.message === 'string' ? s.message : typeof body === 'string' && body !== '' ? body : fallback;
  return new KubeApiError(code, reason, message);
}

/** Maps an error thrown by client-node (ApiException `.code`/`.body`, Watch's `.statusCode`) to KubeApiError; others pass through. */
export function toKubeApiError(e: unknown): unknown {
  if (e instanceof KubeApiError || typeof e !== 'object' || e === null) return e;
  const x = e as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown };
  const status = typeof x.statusCode === 'number' ? x.statusCode : typeof x.code === 'number' ? x.code : undefined;
  if (status === undefined) return e;
  let body = x.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body) as unknown;
    } catch {
      // not JSON: keep the text
    }
  }
  const err = statusError(status, body, typeof x.message === 'string' ? x.message : `HTTP ${status}`);
  return new KubeApiError(err.status, err.reason, err.message, { cause: e });
}

export function createKubeClient(options: CreateKubeClientOptions = {}): KubeClient {
  const kc = loadKubeConfig(options);
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const http = new IsomorphicFetchHttpLibrary();
  const discovered = new Map<string, Promise<Resource>>();
  type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
  const dispatchers = new Set<Dispatcher>();
  const closing = new AbortController();

  const server = (): string => {
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error('kubeconfig has no current cluster');
    return cluster.server.replace(/\/+$/, '');
  };

  async function request(
    method: HttpMethod,
    path: string,
    init: { query?: Record<string, string | undefined>; body?: unknown; contentType?: string } = {},
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(server() + path);
    for (const [k, v] of Object.entries(init.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const ctx = new RequestContext(url.toString(), method);
    ctx.setHeaderParam('Accept', 'application/json');
    if (init.body !== undefined) {
      ctx.setHeaderParam('Content-Type', init.contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(init.body));
    }
    ctx.setSignal(AbortSignal.any([AbortSignal.timeout(requestTimeoutMs), closing.signal]));
    await kc.applySecurityAuthentication(ctx);
    const dispatcher = ctx.getDispatcher();
    if (dispatcher !== undefined) dispatchers.add(dispatcher);
    const response = await http.send(ctx).toPromise();
    const text = await response.body.text();
    let body: unknown = text;
    try {
      body = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      // not JSON (a proxy's error page): keep the text for the message
    }
    return { status: response.httpStatusCode, body };
  }

  async function call(method: HttpMethod, path: string, init?: Parameters<typeof request>[2]): Promise<unknown> {
    const res = await request(method, path, init);
    if (res.status < 200 || res.status > 299) throw statusError(res.status, res.body, `${method} ${path} → HTTP ${res.status}`);
    return res.body;
  }

  function resource(kind: KindRef): Promise<Resource> {
    const known = KNOWN_RESOURCES[`${groupOf(kind.apiVersion)}/${kind.kind}`];
    if (known !== undefined) return Promise.resolve(known);
    const key = `${kind.apiVersion}/${kind.kind}`;
    let found = discovered.get(key);
    if (found === undefined) {
      found = (async () => {
        const list = (await call(HttpMethod.GET, apiRoot(kind.apiVersion))) as { resources?: { name: string; kind: string; namespaced: boolean }[] };
        const r = list.resources?.find((x) => x.kind === kind.kind && !x.name.includes('/'));
        if (r === undefined) throw new KubeApiError(404, 'NotFound', `the server has no resource for ${kind.apiVersion} ${kind.kind}`);
        return { plural: r.name, namespaced: r.namespaced };
      })();
      discovered.set(key, found);
      // A failed discovery is retried next time rather than cached.
      found.catch(() => discovered.delete(key));
    }
    return found;
  }

  async function collectionPath(kind: KindRef, namespace: string | undefined): Promise<string> {
    const r = await resource(kind);
    const ns = r.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${apiRoot(kind.apiVersion)}${ns}/${r.plural}`;
  }
  const objectPath = async (ref: ObjectRef): Promise<string> => `${await collectionPath(ref, ref.namespace)}/${encodeURIComponent(ref.name)}`;
  const refOf = (o: KubeObject): ObjectRef => ({ apiVersion: o.apiVersion, kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name });
  const applyQuery = (o: ApplyOptions) => ({ fieldManager: o.fieldManager, force: o.force === true ? 'true' : undefined });

  async function watch(kind: KindRef, opts: WatchOptions, onEvent: (event: WatchEvent) => void): Promise<void> {
    if (opts.signal.aborted) return;
    const path = await collectionPath(kind, opts.namespace);
    const watcher = new Watch(kc);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let connected: AbortController | undefined;
      const finish = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        opts.signal.removeEventListener('abort', onAbort);
        closing.signal.removeEventListener('abort', onAbort);
        connected?.abort();
        if (error === undefined) resolve();
        else reject(error instanceof Error ? error : new Error('watch failed', { cause: error }));
      };
      const onAbort = (): void => finish();
      opts.signal.addEventListener('abort', onAbort, { once: true });
      closing.signal.addEventListener('abort', onAbort, { once: true });
      const query = {
        resourceVersion: opts.resourceVersion,
        labelSelector: opts.labelSelector,
        allowWatchBookmarks: true,
        timeoutSeconds: WATCH_TIMEOUT_SECONDS,
      };
      const onLine = (type: string, object: unknown): void => {
        if (settled) return;
        if (type === 'ERROR') {
          // e.g. {kind: Status, code: 410, reason: Expired}: the resourceVersion is too old — list again.
          finish(statusError(500, object, 'watch error'));
          return;
        }
        if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED' && type !== 'BOOKMARK') return;
        try {
          onEvent({ type, object: object as KubeObject });
        } catch (e) {
          finish(e);
        }
      };
      const onDone = (err: unknown): void => {
        if (settled) return;
        if (err === null || err === undefined) {
          finish();
          return;
        }
        // After the stream opened, client-node's inactivity timer ends a quiet watch: that is a
        // normal end (the caller re-watches from its last resourceVersion), not a failure.
        if (connected !== undefined && err instanceof Error && err.name === 'TimeoutError') {
          finish();
          return;
        }
        finish(toKubeApiError(err));
      };
      watcher.watch(path, query, onLine, onDone).then(
        (controller) => {
          connected = controller;
          if (settled) controller.abort();
        },
        (e: unknown) => finish(toKubeApiError(e)),
      );
    });
  }

  return {
    async get(ref) {
      const res = await request(HttpMethod.GET, await objectPath(ref));
      if (res.status === 404) return undefined;
      if (res.status < 200 || res.status > 299) throw statusError(res.status, res.body, `GET ${ref.kind} ${ref.name} → HTTP ${res.status}`);
      return res.body as KubeObject;
    },

    async list(kind, opts: ListOptions = {}): Promise<ObjectList> {
      const body = (await call(HttpMethod.GET, await collectionPath(kind, opts.namespace), { query: { labelSelector: opts.labelSelector } })) as {
        items?: KubeObject[];
        metadata?: { resourceVersion?: string };
      };
      // List items carry no apiVersion/kind of their own.
      const items = (body.items ?? []).map((o) => ({ ...o, apiVersion: kind.apiVersion, kind: kind.kind }));
      return { items, resourceVersion: body.metadata?.resourceVersion ?? '' };
    },

    async create(object) {
      return (await call(HttpMethod.POST, await collectionPath(object, object.metadata.namespace), { body: object })) as KubeObject;
    },

    async replace(object) {
      return (await call(HttpMethod.PUT, await objectPath(refOf(object)), { body: object })) as KubeObject;
    },

    async apply(object, opts) {
      return (await call(HttpMethod.PATCH, await objectPath(refOf(object)), {
        body: object,
        contentType: 'application/apply-patch+yaml',
        query: applyQuery(opts),
      })) as KubeObject;
    },

    async applyStatus(object, opts) {
      return (await call(HttpMethod.PATCH, `${await objectPath(refOf(object))}/status`, {
        body: object,
        contentType: 'application/apply-patch+yaml',
        query: applyQuery(opts),
      })) as KubeObject;
    },

    async mergePatch(ref, patch) {
      return (await call(HttpMethod.PATCH, await objectPath(ref), { body: patch, contentType: 'application/merge-patch+json' })) as KubeObject;
    },

    async delete(ref, opts: DeleteOptions = {}) {
      const body = {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        ...(opts.propagationPolicy !== undefined ? { propagationPolicy: opts.propagationPolicy } : {}),
        ...(opts.uid !== undefined ? { preconditions: { uid: opts.uid } } : {}),
      };
      const res = await request(HttpMethod.DELETE, await objectPath(ref), { body });
      if (res.status === 404) return false;
      if (res.status < 200 || res.status > 299) throw statusError(res.status, res.body, `DELETE ${ref.kind} ${ref.name} → HTTP ${res.status}`);
      return true;
    },

    watch,

    close() {
      closing.abort();
      for (const d of dispatchers) {
        d.close().catch(() => {
          // already closed
        });
      }
      dispatchers.clear();
    },
  };
}
