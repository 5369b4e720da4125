// The ObjectStore conformance suite (STYLE.md rule 6): one set of vitest tests that the memory twin
// (memory.test.ts), the filesystem backend (filesystem.test.ts) and a real S3-compatible server
// (s3.int.test.ts) must all pass. Each test works under its own key namespace, so one store serves
// the whole suite. It lives under testing/ because it imports vitest and must stay out of the build.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SkeinError, type ErrorCode } from '../../errors/index.js';
import type { ObjectStore } from '../object-store.js';

export interface ObjectStoreTarget {
  /** The store under test; the suite closes it at the end. */
  readonly store: ObjectStore;
  /** Another store on the backend (for memory: a new twin), for the close() test. */
  open(): ObjectStore | Promise<ObjectStore>;
  /** Stops whatever setup started (server, temp dir). */
  close(): void | Promise<void>;
}

/** Calls `fn` for every item with at most `limit` in flight. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual.length).toBe(expected.length);
  // One comparison instead of a per-element deep equal: bodies are megabytes.
  expect(Buffer.compare(actual, expected)).toBe(0);
}

export async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<SkeinError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a SkeinError ${code}`).toBeInstanceOf(SkeinError);
  expect((error as SkeinError).code).toBe(code);
  return error as SkeinError;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** 0, 1, …, n-1 mod 251 (a prime, so a shifted or misaligned range never matches by accident). */
function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = i % 251;
  return out;
}

export const INVALID_KEYS: readonly string[] = [
  '',
  '/a',
  'a/',
  'a//b',
  '.',
  '..',
  'a/./b',
  'a/../b',
  '../a',
  './a',
  'a b',
  'a\\b',
  'a\0b',
  'ä',
  'a~',
  'a:b',
  'a?b',
  'x'.repeat(256),
  `${'y'.repeat(200)}/`.repeat(6) + 'z',
];
export const VALID_ODD_KEYS: readonly string[] = ['..a', 'a..', '.hidden', '-', '_', 'A-Z_a.z-09', `${'s'.repeat(255)}`];

export function describeObjectStoreConformance(name: string, setup: () => ObjectStoreTarget | Promise<ObjectStoreTarget>): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    let target: ObjectStoreTarget;
    let store: ObjectStore;
    const run = randomBytes(4).toString('hex');
    let namespaces = 0;
    /** A fresh key namespace per test, so tests never see each other's objects. */
    const ns = (): string => `conf-${run}-${namespaces++}/`;

    beforeAll(async () => {
      target = await setup();
      store = target.store;
    });
    afterAll(async () => {
      await store?.close();
      await target?.close();
    });

    it('describes its location', () => {
      expect(store.description).toMatch(/\S/);
    });

    it('round-trips small, empty, binary and multi-MiB bodies', async () => {
      const p = ns();
      const bodies: Array<[string, Uint8Array]> = [
        ['small', text('hello, blocks')],
        ['empty', new Uint8Array(0)],
        ['every-byte', Uint8Array.from({ length: 256 }, (_, i) => i)],
        ['big', randomBytes(5 * 1024 * 1024 + 17)],
      ];
      for (const [k, body] of bodies) await store.put(p + k, body);
      for (const [k, body] of bodies) {
        expectBytes(await store.get(p + k), body);
        expect(await store.stat(p + k)).toEqual({ key: p + k, size: body.length });
      }
    });

    it('owns its copy: changing the buffer after put or the result of get changes nothing stored', async () => {
      const k = ns() + 'copy';
      const body = text('original');
      await store.put(k, body);
      body.fill(0x21);
      const got = await store.get(k);
      expectBytes(got, text('original'));
      got.fill(0x21);
      expectBytes(await store.get(k), text('original'));
    });

    it('overwrite replaces the whole body (longer and shorter)', async () => {
      const k = ns() + 'obj';
      await store.put(k, text('first version'));
      await store.put(k, text('a much longer second version of it'));
      expectBytes(await store.get(k), text('a much longer second version of it'));
      await store.put(k, text('3rd'));
      expectBytes(await store.get(k), text('3rd'));
      expect(await store.stat(k)).toEqual({ key: k, size: 3 });
    });

    describe('getRange', () => {
      const body = pattern(100_000);
      let k = '';
      let empty = '';
      beforeAll(async () => {
        const p = ns();
        k = p + 'ranged';
        empty = p + 'empty';
        await store.put(k, body);
        await store.put(empty, new Uint8Array(0));
      });

      const cases: Array<[string, number, number, number, number]> = [
        // name, offset, length, expected start, expected end
        ['from the start', 0, 10, 0, 10],
        ['the middle', 4_321, 1_000, 4_321, 5_321],
        ['the whole object', 0, 100_000, 0, 100_000],
        ['the last byte', 99_999, 1, 99_999, 100_000],
        ['clamped at the end', 99_990, 500, 99_990, 100_000],
        ['longer than the object', 0, 1_000_000, 0, 100_000],
        ['empty, inside', 50, 0, 50, 50],
        ['empty, exactly at the end', 100_000, 10, 100_000, 100_000],
      ];
      it.each(cases)('%s', async (_name, offset, length, from, to) => {
        expectBytes(await store.getRange(k, offset, length), body.subarray(from, to));
      });

      it('of an empty object at offset 0 is empty', async () => {
        expectBytes(await store.getRange(empty, 0, 10), new Uint8Array(0));
      });

      it('starting past the end is INVALID_ARGUMENT', async () => {
        await expectCode(store.getRange(k, 100_001, 10), 'INVALID_ARGUMENT');
        await expectCode(store.getRange(k, 1 << 30, 1), 'INVALID_ARGUMENT');
        await expectCode(store.getRange(empty, 1, 1), 'INVALID_ARGUMENT');
      });

      it('rejects negative or fractional offsets and lengths with INVALID_ARGUMENT', async () => {
        await expectCode(store.getRange(k, -1, 10), 'INVALID_ARGUMENT');
        await expectCode(store.getRange(k, 0, -1), 'INVALID_ARGUMENT');
        await expectCode(store.getRange(k, 1.5, 10), 'INVALID_ARGUMENT');
        await expectCode(store.getRange(k, 0, Number.NaN), 'INVALID_ARGUMENT');
      });

      it('reads deep inside a multi-MiB object', async () => {
        const big = randomBytes(3 * 1024 * 1024);
        const bk = ns() + 'big';
        await store.put(bk, big);
        expectBytes(await store.getRange(bk, 2 * 1024 * 1024 + 3, 65_536), big.subarray(2 * 1024 * 1024 + 3, 2 * 1024 * 1024 + 3 + 65_536));
      });
    });

    it('stat: size of present objects, undefined for missing ones', async () => {
      const p = ns();
      await store.put(p + 'a', text('12345'));
      await store.put(p + 'z', new Uint8Array(0));
      expect(await store.stat(p + 'a')).toEqual({ key: p + 'a', size: 5 });
      expect(await store.stat(p + 'z')).toEqual({ key: p + 'z', size: 0 });
      expect(await store.stat(p + 'missing')).toBeUndefined();
      expect(await store.stat(p + 'missing/deeper')).toBeUndefined();
      // A "directory" (the path of other keys) is no object.
      await store.put(p + 'dir/child', text('c'));
      expect(await store.stat(p + 'dir')).toBeUndefined();
    });

    it('a missing key is NOT_FOUND (not retryable, naming the key) for get and getRange', async () => {
      const p = ns();
      for (const k of [p + 'never', p + 'no/such/path']) {
        const e = await expectCode(store.get(k), 'NOT_FOUND');
        expect(e.retryable).toBe(false);
        expect(e.message).toContain(k);
        await expectCode(store.getRange(k, 0, 1), 'NOT_FOUND');
        await expectCode(store.getRange(k, 0, 0), 'NOT_FOUND');
      }
      await store.put(p + 'dir/child', text('c'));
      await expectCode(store.get(p + 'dir'), 'NOT_FOUND');
      await expectCode(store.get(p + 'dir/child/below'), 'NOT_FOUND');
    });

    describe('list', () => {
      it('returns every key under the prefix in byte order, with sizes', async () => {
        const p = ns();
        // '-' < '.' < '/' < '0' < 'A' < '_' < 'a' in bytes: a directory walk in name order gets this wrong.
        const keys = ['a-b', 'a.b', 'a/c', 'a/c0', 'a/d/e', 'a0', 'aA', 'a_', 'ab', 'b', 'B', '_'];
        await forEachLimit(keys, 8, (k, i) => store.put(p + k, pattern(i)));
        const want = keys.map((k, i) => ({ key: p + k, size: i })).sort((x, y) => Buffer.compare(Buffer.from(x.key), Buffer.from(y.key)));
        expect(await store.list(p)).toEqual(want);
        // Prefixes ending in a segment, inside one, and matching nothing.
        expect((await store.list(p + 'a/')).map((o) => o.key)).toEqual([p + 'a/c', p + 'a/c0', p + 'a/d/e']);
        expect((await store.list(p + 'a/c')).map((o) => o.key)).toEqual([p + 'a/c', p + 'a/c0']);
        expect((await store.list(p + 'a')).map((o) => o.key)).toEqual(want.filter((o) => o.key.startsWith(p + 'a')).map((o) => o.key));
        expect(await store.list(p + 'zz')).toEqual([]);
        expect(await store.list(ns())).toEqual([]);
        // The empty prefix lists everything, this test's keys included, still in order.
        const all = (await store.list('')).map((o) => o.key);
        expect(all).toEqual([...all].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
        for (const o of want) expect(all).toContain(o.key);
      });

      it('pages through more than 1000 keys (S3 returns at most 1000 per request)', { timeout: 120_000 }, async () => {
        const p = ns();
        const keys = Array.from({ length: 1_234 }, (_, i) => `${p}k${String(i).padStart(5, '0')}`);
        await forEachLimit(keys, 32, (k) => store.put(k, text('x')));
        const listed = await store.list(p);
        expect(listed.length).toBe(keys.length);
        expect(listed.map((o) => o.key)).toEqual(keys);
        expect(listed.every((o) => o.size === 1)).toBe(true);
        // A prefix that cuts the set in the middle of a page.
        expect((await store.list(`${p}k010`)).map((o) => o.key)).toEqual(keys.slice(1000, 1100));
      });

      it('rejects invalid prefixes with INVALID_ARGUMENT', async () => {
        for (const prefix of ['/a', 'a//', '../', 'a/../b', './', 'a b', 'ä']) await expectCode(store.list(prefix), 'INVALID_ARGUMENT');
      });
    });

    it('delete removes the object and is idempotent', async () => {
      const p = ns();
      await store.put(p + 'd/x', text('x'));
      await store.put(p + 'd/y', text('y'));
      await store.delete(p + 'd/x');
      await expectCode(store.get(p + 'd/x'), 'NOT_FOUND');
      expect(await store.stat(p + 'd/x')).toBeUndefined();
      expect((await store.list(p)).map((o) => o.key)).toEqual([p + 'd/y']);
      await store.delete(p + 'd/x'); // again
      await store.delete(p + 'never/existed'); // never there
      await store.delete(p + 'd/y');
      expect(await store.list(p)).toEqual([]);
      // The key (and its directory) can be written again.
      await store.put(p + 'd/x', text('again'));
      expectBytes(await store.get(p + 'd/x'), text('again'));
    });

    it('rejects invalid keys with INVALID_ARGUMENT in every call, and accepts odd valid ones', async () => {
      for (const k of INVALID_KEYS) {
        await expectCode(store.put(k, text('x')), 'INVALID_ARGUMENT');
        await expectCode(store.get(k), 'INVALID_ARGUMENT');
        await expectCode(store.getRange(k, 0, 1), 'INVALID_ARGUMENT');
        await expectCode(store.stat(k), 'INVALID_ARGUMENT');
        await expectCode(store.delete(k), 'INVALID_ARGUMENT');
      }
      const p = ns();
      for (const k of VALID_ODD_KEYS) {
        await store.put(p + k, text(k.slice(0, 8)));
        expectBytes(await store.get(p + k), text(k.slice(0, 8)));
      }
      expect((await store.list(p)).map((o) => o.key)).toEqual(VALID_ODD_KEYS.map((k) => p + k).sort());
      // Nothing escaped the namespace: a traversal attempt created nothing anywhere.
      expect((await store.list('')).filter((o) => !o.key.startsWith('conf-'))).toEqual([]);
    });

    it('concurrent puts to different keys all land', async () => {
      const p = ns();
      const bodies = Array.from({ length: 48 }, (_, i) => randomBytes(1_000 + i * 997));
      await Promise.all(bodies.map((b, i) => store.put(`${p}c/${i}`, b)));
      for (const [i, b] of bodies.entries()) expectBytes(await store.get(`${p}c/${i}`), b);
      expect((await store.list(p)).length).toBe(bodies.length);
    });

    it('overwrite is atomic: concurrent readers see the old or the new body, never a mix or a prefix', async () => {
      const k = ns() + 'hot';
      const size = 1024 * 1024;
      const versions = [0x41, 0x42, 0x43, 0x44].map((b) => new Uint8Array(size).fill(b));
      await store.put(k, versions[0]!);
      let writing = true;
      const seen = new Set<number>();
      const reader = async (): Promise<void> => {
        while (writing) {
          const got = await store.get(k);
          expect(got.length).toBe(size);
          const first = got[0]!;
          expect(got.every((b) => b === first)).toBe(true);
          seen.add(first);
        }
      };
      const readers = [reader(), reader()];
      try {
        for (const v of versions.slice(1)) await store.put(k, v);
      } finally {
        writing = false;
        await Promise.allSettled(readers);
      }
      await Promise.all(readers);
      expectBytes(await store.get(k), versions[3]!);
      expect(seen.size).toBeGreaterThanOrEqual(1);
    });

    describe('abort signal', () => {
      it('a call whose signal is already aborted rejects with its reason and changes nothing', async () => {
        const p = ns();
        await store.put(p + 'kept', text('kept'));
        const reason = new Error('shutting down');
        const signal = AbortSignal.abort(reason);
        const calls: Array<[string, () => Promise<unknown>]> = [
          ['put', () => store.put(p + 'new', text('x'), { signal })],
          ['get', () => store.get(p + 'kept', { signal })],
          ['getRange', () => store.getRange(p + 'kept', 0, 1, { signal })],
          ['stat', () => store.stat(p + 'kept', { signal })],
          ['list', () => store.list(p, { signal })],
          ['delete', () => store.delete(p + 'kept', { signal })],
        ];
        for (const [call, fn] of calls) await expect(fn(), call).rejects.toBe(reason);
        expect((await store.list(p)).map((o) => o.key)).toEqual([p + 'kept']);
      });

      it('aborting an in-flight call rejects it with the reason', async () => {
        const k = ns() + 'big';
        const big = randomBytes(8 * 1024 * 1024);
        const reason = new Error('deadline');
        const putting = new AbortController();
        const put = store.put(k, big, { signal: putting.signal });
        putting.abort(reason);
        await expect(put).rejects.toBe(reason);
        // The contract lets an aborted put land or not; a later put must work either way.
        await store.put(k, big);
        const getting = new AbortController();
        const get = store.get(k, { signal: getting.signal });
        getting.abort(reason);
        await expect(get).rejects.toBe(reason);
        const listing = new AbortController();
        const list = store.list('', { signal: listing.signal });
        listing.abort(reason);
        await expect(list).rejects.toBe(reason);
      });
    });

    it('a closed store rejects every call with UNAVAILABLE', async () => {
      const k = ns() + 'closing';
      const other = await target.open();
      await other.put(k, text('before close'));
      expectBytes(await other.get(k), text('before close'));
      await other.close();
      await expectCode(other.get(k), 'UNAVAILABLE');
      await expectCode(other.put(k, text('late')), 'UNAVAILABLE');
      await expectCode(other.list(''), 'UNAVAILABLE');
      await expectCode(other.delete(k), 'UNAVAILABLE');
    });
  });
}
