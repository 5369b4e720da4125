// The one behaviour both KubeClient implementations must have (STYLE.md rule 6): memory.test.ts runs
// it on the twin, e2e/kube-client.int.test.ts on a real kube-apiserver with its controller-manager.
// Everything happens in the namespace `setup` provides, under per-test names, so a run on a shared
// cluster touches nothing else. Waits are polls with generous bounds (the garbage collector and watch
// delivery are asynchronous on a real cluster), never sleeps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, type KubeClient, type KubeObject, type WatchEvent } from './types.js';

export interface KubeClientConformanceContext {
  readonly client: KubeClient;
  /** An empty namespace for this run (created by setup, removed by cleanup). */
  readonly namespace: string;
  cleanup(): Promise<void>;
}

const CONFIG_MAP = { apiVersion: 'v1', kind: 'ConfigMap' } as const;
// Ingress: a kind with metadata.generation and a status subresource that no controller in the test
// cluster writes (a StatefulSet's status is rewritten by its controller, which would race the test).
const INGRESS = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' } as const;
const FIELD_MANAGER = 'skein-conformance';

async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function rejection(promise: Promise<unknown>): Promise<KubeApiError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(KubeApiError);
    return e as KubeApiError;
  }
  throw new Error('expected a rejection');
}

export function describeKubeClientConformance(name: string, setup: () => Promise<KubeClientConformanceContext>): void {
  describe(`KubeClient conformance: ${name}`, () => {
    let ctx: KubeClientConformanceContext;
    let seq = 0;
    const uniqueName = (prefix: string): string => `${prefix}-${++seq}-${Math.random().toString(36).slice(2, 7)}`;
    const configMap = (n: string, data: Record<string, string>, metadata: Partial<KubeObject['metadata']> = {}): KubeObject => ({
      ...CONFIG_MAP,
      metadata: { ...metadata, name: n, namespace: ctx.namespace },
      data,
    });
    const ref = (kind: { apiVersion: string; kind: string }, n: string) => ({ ...kind, namespace: ctx.namespace, name: n });

    beforeAll(async () => {
      ctx = await setup();
    });
    afterAll(async () => {
      await ctx?.cleanup();
    });

    it('get of a missing object is undefined', async () => {
      expect(await ctx.client.get(ref(CONFIG_MAP, uniqueName('missing')))).toBeUndefined();
    });

    it('create sets server metadata; get and list (namespace, label selector) see the object', async () => {
      const a = uniqueName('list-a');
      const b = uniqueName('list-b');
      const run = uniqueName('run');
      const created = await ctx.client.create(configMap(a, { k: 'v' }, { labels: { run, app: 'a', tier: 'x' } }));
      expect(created.metadata.uid).toEqual(expect.any(String));
      expect(created.metadata.resourceVersion).toEqual(expect.any(String));
      expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(created.data).toEqual({ k: 'v' });
      await ctx.client.create(configMap(b, { k: 'w' }, { labels: { run, app: 'b' } }));

      const got = await ctx.client.get(ref(CONFIG_MAP, a));
      expect(got).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', data: { k: 'v' }, metadata: { name: a, uid: created.metadata.uid } });

      const all = await ctx.client.list(CONFIG_MAP, { namespace: ctx.namespace, labelSelector: `run=${run}` });
      expect(all.items.map((o) => o.metadata.name).sort()).toEqual([a, b].sort());
      expect(all.items.every((o) => o.kind === 'ConfigMap' && o.apiVersion === 'v1')).toBe(true);
      expect(all.resourceVersion).toEqual(expect.any(String));
      const names = async (labelSelector: string) =>
        (await ctx.client.list(CONFIG_MAP, { namespace: ctx.namespace, labelSelector })).items.map((o) => o.metadata.name).sort();
      expect(await names(`run=${run},app=a`)).toEqual([a]);
      expect(await names(`run=${run},app!=a`)).toEqual([b]);
      expect(await names(`run=${run},tier`)).toEqual([a]);
      expect(await names(`run=${run},!tier`)).toEqual([b]);
      expect(await names(`run=${run},app=none`)).toEqual([]);
      const elsewhere = await ctx.client.list(CONFIG_MAP, { namespace: `${ctx.namespace}-other`, labelSelector: `run=${run}` });
      expect(elsewhere.items).toEqual([]);
      const everywhere = await ctx.client.list(CONFIG_MAP, { labelSelector: `run=${run}` });
      expect(everywhere.items.map((o) => o.metadata.name).sort()).toEqual([a, b].sort());
    });

    it('create of an existing object fails with 409 AlreadyExists', async () => {
      const n = uniqueName('twice');
      await ctx.client.create(configMap(n, {}));
      const e = await rejection(ctx.client.create(configMap(n, {})));
      expect([e.status, e.reason]).toEqual([409, 'AlreadyExists']);
    });

    it('replace is optimistic: the current resourceVersion succeeds, a stale one fails with 409 Conflict', async () => {
      const n = uniqueName('replace');
      const created = await ctx.client.create(configMap(n, { v: '1' }));
      const replaced = await ctx.client.replace({ ...created, data: { v: '2' } });
      expect(replaced.data).toEqual({ v: '2' });
      expect(replaced.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
      const e = await rejection(ctx.client.replace({ ...created, data: { v: '3' } }));
      expect([e.status, e.reason]).toEqual([409, 'Conflict']);
      expect((await ctx.client.get(ref(CONFIG_MAP, n)))?.data).toEqual({ v: '2' });
      const missing = await rejection(ctx.client.replace({ ...configMap(uniqueName('absent'), {}) }));
      expect(missing.status).toBe(404);
    });

    it('apply creates, then updates; fields dropped from the applied object disappear', async () => {
      const n = uniqueName('apply');
      const first = await ctx.client.apply(configMap(n, { a: '1', b: '2' }, { labels: { keep: 'y', drop: 'y' } }), { fieldManager: FIELD_MANAGER });
      expect(first.data).toEqual({ a: '1', b: '2' });
      expect(first.metadata.uid).toEqual(expect.any(String));
      const second = await ctx.client.apply(configMap(n, { a: '10' }, { labels: { keep: 'y' } }), { fieldManager: FIELD_MANAGER, force: true });
      expect(second.data).toEqual({ a: '10' });
      expect(second.metadata.labels).toEqual({ keep: 'y' });
      expect(second.metadata.uid).toBe(first.metadata.uid);
      const stored = await ctx.client.get(ref(CONFIG_MAP, n));
      expect(stored?.data).toEqual({ a: '10' });
      // Applying the same thing again is not a write.
      const third = await ctx.client.apply(configMap(n, { a: '10' }, { labels: { keep: 'y' } }), { fieldManager: FIELD_MANAGER });
      expect(third.metadata.resourceVersion).toBe(second.metadata.resourceVersion);
    });

    it('generation counts spec changes only; applyStatus changes status (not generation); apply keeps status', async () => {
      const n = uniqueName('gen');
      const ingress = (port: number, labels: Record<string, string> = {}): KubeObject => ({
        ...INGRESS,
        metadata: { name: n, namespace: ctx.namespace, labels },
        spec: { defaultBackend: { service: { name: 'backend', port: { number: port } } } },
      });
      const opts = { fieldManager: FIELD_MANAGER, force: true };
      const v1 = await ctx.client.apply(ingress(80), opts);
      expect(v1.metadata.generation).toBe(1);
      const labelled = await ctx.client.apply(ingress(80, { extra: 'label' }), opts);
      expect(labelled.metadata.generation).toBe(1);
      expect(labelled.metadata.resourceVersion).not.toBe(v1.metadata.resourceVersion);
      const v2 = await ctx.client.apply(ingress(81, { extra: 'label' }), opts);
      expect(v2.metadata.generation).toBe(2);

      const status = { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } };
      const withStatus = await ctx.client.applyStatus({ ...INGRESS, metadata: { name: n, namespace: ctx.namespace }, status }, opts);
      expect(withStatus.status).toEqual(status);
      expect(withStatus.metadata.generation).toBe(2);
      expect(withStatus.spec).toEqual(v2.spec);

      const v3 = await ctx.client.apply(ingress(82, { extra: 'label' }), opts);
      expect(v3.metadata.generation).toBe(3);
      expect(v3.status).toEqual(status);
      expect((await ctx.client.get(ref(INGRESS, n)))?.status).toEqual(status);

      const missing = await rejection(ctx.client.applyStatus({ ...INGRESS, metadata: { name: uniqueName('absent'), namespace: ctx.namespace }, status }, opts));
      expect(missing.status).toBe(404);
    });

    it('mergePatch merges maps and removes keys set to null', async () => {
      const n = uniqueName('patch');
      await ctx.client.create(configMap(n, { a: '1', b: '2' }, { labels: { x: '1' } }));
      const patched = await ctx.client.mergePatch(ref(CONFIG_MAP, n), { metadata: { labels: { y: '2' } }, data: { b: null, c: '3' } });
      expect(patched.data).toEqual({ a: '1', c: '3' });
      expect(patched.metadata.labels).toEqual({ x: '1', y: '2' });
      const missing = await rejection(ctx.client.mergePatch(ref(CONFIG_MAP, uniqueName('absent')), { data: { a: '1' } }));
      expect(missing.status).toBe(404);
    });

    it('delete returns true when it deleted, false when there was nothing; a uid precondition guards it', async () => {
      const n = uniqueName('delete');
      const created = await ctx.client.create(configMap(n, {}));
      const e = await rejection(ctx.client.delete(ref(CONFIG_MAP, n), { uid: '00000000-0000-0000-0000-000000000000' }));
      expect(e.status).toBe(409);
      expect(await ctx.client.get(ref(CONFIG_MAP, n))).toBeDefined();
      expect(await ctx.client.delete(ref(CONFIG_MAP, n), { uid: created.metadata.uid! })).toBe(true);
      expect(await ctx.client.get(ref(CONFIG_MAP, n))).toBeUndefined();
      expect(await ctx.client.delete(ref(CONFIG_MAP, n))).toBe(false);
    });

    it('delete of an object with a finalizer marks it; removing the finalizer completes the deletion', async () => {
      const n = uniqueName('final');
      await ctx.client.create(configMap(n, {}, { finalizers: ['skein.dev/test'] }));
      expect(await ctx.client.delete(ref(CONFIG_MAP, n))).toBe(true);
      const marked = await ctx.client.get(ref(CONFIG_MAP, n));
      expect(marked?.metadata.deletionTimestamp).toEqual(expect.any(String));
      expect(marked?.metadata.finalizers).toEqual(['skein.dev/test']);
      await ctx.client.mergePatch(ref(CONFIG_MAP, n), { metadata: { finalizers: null } });
      await poll('the finalized object to go', async () => ((await ctx.client.get(ref(CONFIG_MAP, n))) === undefined ? true : undefined));
    });

    it('deleting an owner deletes its dependents (background); Orphan keeps them', async () => {
      const owner = await ctx.client.create(configMap(uniqueName('owner'), {}));
      const ownerRef = { apiVersion: 'v1', kind: 'ConfigMap', name: owner.metadata.name, uid: owner.metadata.uid!, controller: true };
      const dependent = uniqueName('dependent');
      await ctx.client.create(configMap(dependent, {}, { ownerReferences: [ownerRef] }));
      expect(await ctx.client.delete(ref(CONFIG_MAP, owner.metadata.name))).toBe(true);
      await poll('the garbage collector to delete the dependent', async () => ((await ctx.client.get(ref(CONFIG_MAP, dependent))) === undefined ? true : undefined));

      const keeper = await ctx.client.create(configMap(uniqueName('keeper'), {}));
      const orphan = uniqueName('orphan');
      await ctx.client.create(configMap(orphan, {}, { ownerReferences: [{ ...ownerRef, name: keeper.metadata.name, uid: keeper.metadata.uid! }] }));
      expect(await ctx.client.delete(ref(CONFIG_MAP, keeper.metadata.name), { propagationPolicy: 'Orphan' })).toBe(true);
      await poll('the orphaning owner to go', async () => ((await ctx.client.get(ref(CONFIG_MAP, keeper.metadata.name))) === undefined ? true : undefined));
      const kept = await ctx.client.get(ref(CONFIG_MAP, orphan));
      expect(kept).toBeDefined();
      expect((kept?.metadata.ownerReferences ?? []).filter((r) => r.uid === keeper.metadata.uid)).toEqual([]);
    });

    it("watch from a list's resourceVersion sees ADDED, MODIFIED, DELETED; abort resolves it", async () => {
      const run = uniqueName('watch');
      const n = uniqueName('watched');
      const before = await ctx.client.create(configMap(uniqueName('before'), {}, { labels: { run } }));
      const listed = await ctx.client.list(CONFIG_MAP, { namespace: ctx.namespace, labelSelector: `run=${run}` });
      expect(listed.items.map((o) => o.metadata.name)).toEqual([before.metadata.name]);
      const events: WatchEvent[] = [];
      const abort = new AbortController();
      const watching = ctx.client.watch(CONFIG_MAP, { namespace: ctx.namespace, labelSelector: `run=${run}`, resourceVersion: listed.resourceVersion, signal: abort.signal }, (e) => {
        if (e.type !== 'BOOKMARK') events.push(e);
      });
      await ctx.client.create(configMap(n, { v: '1' }, { labels: { run } }));
      await ctx.client.mergePatch(ref(CONFIG_MAP, n), { data: { v: '2' } });
      await ctx.client.delete(ref(CONFIG_MAP, n));
      await poll('ADDED, MODIFIED and DELETED', () => Promise.resolve(events.length >= 3 ? true : undefined), 30_000);
      expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([
        ['ADDED', n],
        ['MODIFIED', n],
        ['DELETED', n],
      ]);
      expect(events[1]!.object.data).toEqual({ v: '2' });
      expect(events[0]!.object.kind).toBe('ConfigMap');
      abort.abort();
      await expect(watching).resolves.toBeUndefined();
    });

    it('a watch resolves when its signal aborts (before it starts, or while it is open)', async () => {
      const listed = await ctx.client.list(CONFIG_MAP, { namespace: ctx.namespace });
      const aborted = AbortSignal.abort();
      await expect(ctx.client.watch(CONFIG_MAP, { namespace: ctx.namespace, resourceVersion: listed.resourceVersion, signal: aborted }, () => {})).resolves.toBeUndefined();
      const abort = new AbortController();
      const open = ctx.client.watch(CONFIG_MAP, { namespace: ctx.namespace, resourceVersion: listed.resourceVersion, signal: abort.signal }, () => {});
      setTimeout(() => abort.abort(), 200);
      await expect(open).resolves.toBeUndefined();
    });
  });
}
