import { describe, expect, it } from 'vitest';
import { createMemoryObjectStore } from './memory.js';
import { describeObjectStoreConformance, expectCode } from './testing/conformance.js';

describeObjectStoreConformance('memory', () => ({
  store: createMemoryObjectStore(),
  open: () => createMemoryObjectStore(),
  close: () => {},
}));

describe('memory twin', () => {
  it('rejects a key that is also the directory of other keys, either way round, as the filesystem must', async () => {
    const store = createMemoryObjectStore();
    await store.put('a/b', new Uint8Array(1));
    await expectCode(store.put('a', new Uint8Array(1)), 'INVALID_ARGUMENT');
    await store.put('c', new Uint8Array(1));
    await expectCode(store.put('c/d', new Uint8Array(1)), 'INVALID_ARGUMENT');
    // Once the keys below are gone the name is free again.
    await store.delete('a/b');
    await store.put('a', new Uint8Array(1));
    expect((await store.list('')).map((o) => o.key)).toEqual(['a', 'c']);
  });

  it('setReachable(false) fails every call with UNAVAILABLE (retryable) until healed', async () => {
    const store = createMemoryObjectStore();
    await store.put('k', new Uint8Array(2));
    store.setReachable(false);
    const e = await expectCode(store.get('k'), 'UNAVAILABLE');
    expect(e.retryable).toBe(true);
    await expectCode(store.put('k2', new Uint8Array(1)), 'UNAVAILABLE');
    await expectCode(store.list(''), 'UNAVAILABLE');
    store.setReachable(true);
    expect(await store.list('')).toEqual([{ key: 'k', size: 2 }]);
  });
});
