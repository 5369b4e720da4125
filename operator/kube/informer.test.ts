import { afterEach, describe, expect, it, vi } from 'vitest';
import { createInformer, type InformerChange } from './informer.js';
import { createMemoryKube, type MemoryKube } from './memory.js';
import { backoffDelay } from './sleep.js';
import { KubeApiError, type KubeObject } from './types.js';

const CM = { apiVersion: 'v1', kind: 'ConfigMap' } as const;
const NS = 'ns';
const cm = (name: string, data: Record<string, string> = {}): KubeObject => ({ ...CM, metadata: { name, namespace: NS }, data });
const ref = (name: string) => ({ ...CM, namespace: NS, name });

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function setup(kube: MemoryKube = createMemoryKube()) {
  const abort = new AbortController();
  const changes: [InformerChange, string][] = [];
  const errors: unknown[] = [];
  const informer = createInformer({
    client: kube,
    kind: CM,
    namespace: NS,
    onChange: (o, type) => changes.push([type, o.metadata.name]),
    onError: (e) => errors.push(e),
    backoff: { initialMs: 20, maxMs: 100 },
    signal: abort.signal,
  });
  const names = () =>
    informer
      .list()
      .map((o) => o.metadata.name)
      .sort();
  return { kube, abort, changes, errors, informer, names };
}

describe('createInformer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('start() resolves after the first list with the cache filled', async () => {
    const kube = createMemoryKube();
    await kube.create(cm('a'));
    await kube.create(cm('b'));
    await kube.create({ ...cm('elsewhere'), metadata: { name: 'elsewhere', namespace: 'other' } });
    const t = setup(kube);
    expect(t.informer.synced()).toBe(false);
    await t.informer.start();
    expect(t.informer.synced()).toBe(true);
    expect(t.names()).toEqual(['a', 'b']);
    expect(t.informer.get(NS, 'a')?.metadata.uid).toEqual(expect.any(String));
    expect(t.changes).toEqual([
      ['ADDED', 'a'],
      ['ADDED', 'b'],
    ]);
    t.abort.abort();
    await t.informer.stopped();
  });

  it('watch events reach the cache and onChange', async () => {
    const t = setup();
    await t.kube.create(cm('a'));
    await t.informer.start();
    await t.kube.create(cm('b'));
    await t.kube.mergePatch(ref('a'), { data: { v: '2' } });
    await t.kube.delete(ref('b'));
    await until('three changes', () => t.changes.length === 4);
    expect(t.changes).toEqual([
      ['ADDED', 'a'],
      ['ADDED', 'b'],
      ['MODIFIED', 'a'],
      ['DELETED', 'b'],
    ]);
    expect(t.names()).toEqual(['a']);
    expect(t.informer.get(NS, 'a')?.['data']).toEqual({ v: '2' });
    t.abort.abort();
    await t.informer.stopped();
  });

  it('a watch the server ends is resumed from the last resourceVersion', async () => {
    const t = setup();
    await t.informer.start();
    await t.kube.create(cm('a'));
    await until('a', () => t.names().includes('a'));
    t.kube.endWatches();
    await t.kube.create(cm('b'));
    await until('b', () => t.names().includes('b'));
    expect(t.changes).toEqual([
      ['ADDED', 'a'],
      ['ADDED', 'b'],
    ]);
    expect(t.errors).toEqual([]);
    t.abort.abort();
    await t.informer.stopped();
  });

  it('410 Expired: lists again and reports what vanished meanwhile as DELETED', async () => {
    const t = setup();
    await t.kube.create(cm('a'));
    await t.kube.create(cm('b'));
    await t.informer.start();
    // Break the watch; while the informer backs off, b goes and the history that recorded it too.
    t.kube.failWatches(new KubeApiError(500, 'InternalError', 'connection reset'));
    await t.kube.delete(ref('b'));
    await t.kube.mergePatch(ref('a'), { data: { v: '2' } });
    await t.kube.create(cm('c'));
    t.kube.expireHistory();
    await until('the re-list', () => t.names().join() === 'a,c');
    expect(t.changes.slice(2)).toEqual(
      expect.arrayContaining([
        ['DELETED', 'b'],
        ['MODIFIED', 'a'],
        ['ADDED', 'c'],
      ]),
    );
    expect(t.changes).toHaveLength(5);
    // The broken connection is an error; the 410 is routine and not reported.
    expect(t.errors.map((e) => (e as KubeApiError).status)).toEqual([500]);
    // And the informer is watching again.
    await t.kube.create(cm('d'));
    await until('d', () => t.names().includes('d'));
    t.abort.abort();
    await t.informer.stopped();
  });

  it('failing watches and lists are retried with back-off, forever, and the cache catches up', async () => {
    const t = setup();
    await t.informer.start();
    const down = new KubeApiError(503, 'ServiceUnavailable', 'apiserver down');
    t.kube.failNext('watch', down, 4);
    t.kube.failWatches(down);
    await t.kube.create(cm('during-outage'));
    await until('the outage to pass', () => t.names().includes('during-outage'));
    expect(t.errors.length).toBe(5);
    expect(t.informer.synced()).toBe(true);
    t.abort.abort();
    await t.informer.stopped();
  });

  it('a first list that fails is retried; start() waits for it', async () => {
    const kube = createMemoryKube();
    await kube.create(cm('a'));
    kube.failNext('list', new KubeApiError(500, 'InternalError', 'boom'), 2);
    const t = setup(kube);
    await t.informer.start();
    expect(t.names()).toEqual(['a']);
    expect(t.errors).toHaveLength(2);
    t.abort.abort();
    await t.informer.stopped();
  });

  it('abort stops the loop: the watch closes and no timer is left', async () => {
    vi.useFakeTimers();
    const t = setup();
    const started = t.informer.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    expect(t.kube.openWatches()).toBe(1);
    t.kube.failWatches(new KubeApiError(500, 'InternalError', 'boom'));
    await vi.advanceTimersByTimeAsync(1);
    expect(vi.getTimerCount()).toBe(1); // the back-off
    t.abort.abort();
    await t.informer.stopped();
    expect(vi.getTimerCount()).toBe(0);
    expect(t.kube.openWatches()).toBe(0);
    // Aborting while a watch is open ends it too.
    const u = setup();
    await u.informer.start();
    expect(u.kube.openWatches()).toBe(1);
    u.abort.abort();
    await u.informer.stopped();
    expect(u.kube.openWatches()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('backoffDelay', () => {
  it.each([
    // attempt, random, expected
    [1, 0, 50],
    [1, 0.999999, 99.99995],
    [2, 0, 100],
    [3, 0, 200],
    [10, 0, 500],
    [10, 0.5, 750],
  ])('attempt %i, random %d → %d ms', (attempt, r, expected) => {
    expect(backoffDelay({ initialMs: 100, maxMs: 1000 }, attempt, () => r)).toBeCloseTo(expected);
  });
});
