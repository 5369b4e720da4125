import { describe, expect, it } from 'vitest';
import { describeKubeClientConformance } from './conformance.js';
import { createMemoryKube } from './memory.js';
import { KubeApiError, type WatchEvent } from './types.js';

describeKubeClientConformance('memory', () => {
  const client = createMemoryKube();
  return Promise.resolve({ client, namespace: 'conformance', cleanup: () => Promise.resolve(client.close()) });
});

describe('memory twin controls', () => {
  const CM = { apiVersion: 'v1', kind: 'ConfigMap' } as const;
  const cm = (name: string) => ({ ...CM, metadata: { name, namespace: 'ns' }, data: {} });

  it('expireHistory makes a watch from an older resourceVersion fail with 410 Expired', async () => {
    const kube = createMemoryKube();
    const { resourceVersion } = await kube.list(CM);
    await kube.create(cm('a'));
    kube.expireHistory();
    const e = await kube.watch(CM, { resourceVersion, signal: new AbortController().signal }, () => {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KubeApiError);
    expect([(e as KubeApiError).status, (e as KubeApiError).reason]).toEqual([410, 'Expired']);
    // From the current resourceVersion nothing was missed.
    const abort = new AbortController();
    const ok = kube.watch(CM, { resourceVersion: kube.currentResourceVersion(), signal: abort.signal }, () => {});
    abort.abort();
    await expect(ok).resolves.toBeUndefined();
  });

  it('a bounded history expires old resourceVersions on its own', async () => {
    const kube = createMemoryKube({ historyLimit: 2 });
    const { resourceVersion } = await kube.list(CM);
    for (const n of ['a', 'b', 'c']) await kube.create(cm(n));
    await expect(kube.watch(CM, { resourceVersion, signal: new AbortController().signal }, () => {})).rejects.toMatchObject({ status: 410 });
  });

  it('failWatches rejects open watches; endWatches resolves them; failNext fails the next calls', async () => {
    const kube = createMemoryKube();
    const rv = kube.currentResourceVersion();
    const signal = new AbortController().signal;
    const failing = kube.watch(CM, { resourceVersion: rv, signal }, () => {});
    expect(kube.openWatches()).toBe(1);
    kube.failWatches(new Error('broken'));
    await expect(failing).rejects.toThrow('broken');
    const ending = kube.watch(CM, { resourceVersion: rv, signal }, () => {});
    kube.endWatches();
    await expect(ending).resolves.toBeUndefined();
    expect(kube.openWatches()).toBe(0);
    kube.failNext('list', new KubeApiError(503, 'ServiceUnavailable', 'down'), 2);
    await expect(kube.list(CM)).rejects.toMatchObject({ status: 503 });
    await expect(kube.list(CM)).rejects.toMatchObject({ status: 503 });
    await expect(kube.list(CM)).resolves.toMatchObject({ items: [] });
  });

  it('replays history after the requested resourceVersion, filtered by kind, namespace and labels', async () => {
    const kube = createMemoryKube();
    const rv = kube.currentResourceVersion();
    await kube.create({ ...cm('a'), metadata: { name: 'a', namespace: 'ns', labels: { x: '1' } } });
    await kube.create({ ...cm('b'), metadata: { name: 'b', namespace: 'other', labels: { x: '1' } } });
    await kube.create({ ...cm('c'), metadata: { name: 'c', namespace: 'ns' } });
    await kube.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'a', namespace: 'ns', labels: { x: '1' } } });
    const events: WatchEvent[] = [];
    const abort = new AbortController();
    const w = kube.watch(CM, { resourceVersion: rv, namespace: 'ns', labelSelector: 'x=1', signal: abort.signal }, (e) => events.push(e));
    await Promise.resolve();
    abort.abort();
    await w;
    expect(events.map((e) => e.object.metadata.name)).toEqual(['a']);
  });

  it('apply keeps fields another manager set and drops only what this manager stopped applying', async () => {
    const kube = createMemoryKube();
    await kube.create({ ...cm('a'), data: { other: 'x' } });
    await kube.apply({ ...cm('a'), data: { mine: '1', gone: '2' } }, { fieldManager: 'op' });
    const after = await kube.apply({ ...cm('a'), data: { mine: '1' } }, { fieldManager: 'op' });
    expect(after.data).toEqual({ other: 'x', mine: '1' });
  });
});
