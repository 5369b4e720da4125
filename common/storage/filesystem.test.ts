// The filesystem backend: the conformance suite in a temp dir, then what only a filesystem has —
// the on-disk layout, temp files left by crashed puts, directory pruning, conflicts between a key
// and a directory. The SIGKILL-mid-put test is in filesystem.int.test.ts (it needs a child process).
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFilesystemObjectStore } from './filesystem.js';
import { describeObjectStoreConformance, expectBytes, expectCode } from './testing/conformance.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describeObjectStoreConformance('filesystem', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'skein-fs-conformance-'));
  return {
    store: await createFilesystemObjectStore({ root }),
    open: () => createFilesystemObjectStore({ root }),
    close: () => rmSync(root, { recursive: true, force: true }),
  };
});

/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

async function dirsUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('filesystem object store', () => {
  let base: string;
  let n = 0;
  const freshRoot = (): string => path.join(base, `root-${n++}`);
  beforeAll(() => {
    base = mkdtempSync(path.join(tmpdir(), 'skein-fs-store-'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('stores key a/b/c as the file <root>/a/b/c, and a second store on the root sees it', async () => {
    const root = freshRoot();
    const store = await createFilesystemObjectStore({ root });
    expect(store.description).toBe(`file://${root}`);
    await store.put('a/b/c', text('body'));
    expect(await readFile(path.join(root, 'a', 'b', 'c'), 'utf8')).toBe('body');
    expect(await filesUnder(root)).toEqual(['a/b/c']); // no temp file left behind
    const again = await createFilesystemObjectStore({ root });
    expectBytes(await again.get('a/b/c'), text('body'));
  });

  it('temp files left by a crashed put are invisible, kept while young, and removed on open once old', async () => {
    const root = freshRoot();
    const store = await createFilesystemObjectStore({ root });
    await store.put('blocks/01/data', text('complete'));
    // What a put killed between write and rename leaves: a partial body under a temp name.
    const leftovers = [path.join(root, 'blocks', '01', '.~skein-0123456789abcdef.tmp'), path.join(root, '.~skein-fedcba9876543210.tmp')];
    for (const f of leftovers) await writeFile(f, 'partial');
    expect(await store.list('')).toEqual([{ key: 'blocks/01/data', size: 8 }]);
    expect(await store.list('blocks/01/')).toEqual([{ key: 'blocks/01/data', size: 8 }]);
    await expectCode(store.get('blocks/01/.~skein-0123456789abcdef.tmp'), 'INVALID_ARGUMENT');

    // Young temp files may belong to a writer in another process: opening keeps them.
    await createFilesystemObjectStore({ root });
    expect(await filesUnder(root)).toEqual(['.~skein-fedcba9876543210.tmp', 'blocks/01/.~skein-0123456789abcdef.tmp', 'blocks/01/data']);
    // Older than the grace period: removed on open; the object stays.
    const old = new Date(Date.now() - 11 * 60_000);
    await utimes(leftovers[0]!, old, old);
    await createFilesystemObjectStore({ root });
    expect(await filesUnder(root)).toEqual(['.~skein-fedcba9876543210.tmp', 'blocks/01/data']);
    await createFilesystemObjectStore({ root, tempFileGraceMs: 0 });
    expect(await filesUnder(root)).toEqual(['blocks/01/data']);
    // Files that merely look similar are not ours to delete.
    await writeFile(path.join(root, 'blocks', '.~skein-notours.tmp'), 'x');
    await createFilesystemObjectStore({ root, tempFileGraceMs: 0 });
    expect(await filesUnder(root)).toEqual(['blocks/.~skein-notours.tmp', 'blocks/01/data']);
  });

  it('files and links that are not valid keys are not objects', async () => {
    const root = freshRoot();
    const store = await createFilesystemObjectStore({ root });
    await store.put('ok', text('1'));
    await writeFile(path.join(root, 'has space'), 'x');
    await mkdir(path.join(root, 'bad dir'));
    await writeFile(path.join(root, 'bad dir', 'inner'), 'x');
    await symlink('/etc', path.join(root, 'link-to-etc'));
    await symlink(path.join(root, 'ok'), path.join(root, 'link-to-ok'));
    expect(await store.list('')).toEqual([{ key: 'ok', size: 1 }]);
  });

  it('a put aborted mid-write leaves neither the object nor a temp file', async () => {
    const root = freshRoot();
    const store = await createFilesystemObjectStore({ root });
    const reason = new Error('stop');
    const controller = new AbortController();
    const put = store.put('d/big', new Uint8Array(16 * 1024 * 1024), { signal: controller.signal });
    controller.abort(reason);
    await expect(put).rejects.toBe(reason);
    expect(await filesUnder(root)).toEqual([]);
    expect(await store.stat('d/big')).toBeUndefined();
  });

  it('a key cannot also be a directory of keys (either order), and the failed put leaves nothing', async () => {
    const root = freshRoot();
    const store = await createFilesystemObjectStore({ root });
    await store.put('a/b', text('1'));
    const e = await expectCode(store.put('a', text('2')), 'INVALID_ARGUMENT');
    expect(e.message).toContain('layout');
    await store.put('c', text('3'));
    await expectCode(store.put('c/d', text('4')), 'INVALID_ARGUMENT');
    expect(await filesUnder(root)).toEqual(['a/b', 'c']);
    // delete of the directory name is a no-op: it is no object.
    await store.delete('a');
    expect(await filesUnder(root)).toEqual(['a/b', 'c']);
  });

  it('delete removes directories it leaves empty, never the root or a non-empty one', async () => {
    const root = freshRoot();
    const store = await createFilesystemObjectStore({ root });
    await store.put('blocks/s1/b1/data', text('1'));
    await store.put('blocks/s1/b1/index', text('2'));
    await store.put('blocks/s1/b2/data', text('3'));
    await store.delete('blocks/s1/b1/data');
    expect(await dirsUnder(root)).toEqual(['blocks', 'blocks/s1', 'blocks/s1/b1', 'blocks/s1/b2']);
    await store.delete('blocks/s1/b1/index');
    expect(await dirsUnder(root)).toEqual(['blocks', 'blocks/s1', 'blocks/s1/b2']);
    await store.delete('blocks/s1/b2/data');
    expect(await dirsUnder(root)).toEqual([]);
    expect((await stat(root)).isDirectory()).toBe(true);
  });

  it('concurrent deletes of every object in one directory all succeed (block garbage collection)', async () => {
    const root = freshRoot();
    const store = await createFilesystemObjectStore({ root });
    for (let round = 0; round < 100; round++) {
      const keys = Array.from({ length: 8 }, (_, i) => `t/${round}/b/o${i}`);
      for (const k of keys) await store.put(k, text(k));
      await Promise.all(keys.map((k) => store.delete(k)));
      expect(await store.list(`t/${round}/`)).toEqual([]);
    }
    expect(await readdir(root)).toEqual([]);
  });

  it('puts racing deletes that prune the same directories all land', async () => {
    const root = freshRoot();
    const store = await createFilesystemObjectStore({ root });
    for (let round = 0; round < 20; round++) {
      await store.put(`r/${round}/old`, text('o'));
      await Promise.all([store.delete(`r/${round}/old`), store.put(`r/${round}/new`, text('n'))]);
      expectBytes(await store.get(`r/${round}/new`), text('n'));
    }
    expect((await store.list('r/')).length).toBe(20);
  });

  it('getRange reads only the range (a 5 GiB sparse object, more than readFile could hold)', async () => {
    const root = freshRoot();
    const store = await createFilesystemObjectStore({ root });
    await store.put('sparse', text('start'));
    const size = 5 * 1024 ** 3;
    await truncate(path.join(root, 'sparse'), size);
    expect(await store.stat('sparse')).toEqual({ key: 'sparse', size });
    expectBytes(await store.getRange('sparse', 0, 5), text('start'));
    expectBytes(await store.getRange('sparse', size - 4, 100), new Uint8Array(4));
    await expectCode(store.getRange('sparse', size + 1, 1), 'INVALID_ARGUMENT');
  });

  it('opening on a path that is a file fails with INVALID_ARGUMENT naming the path', async () => {
    const file = path.join(base, `not-a-dir-${n++}`);
    await writeFile(file, 'x');
    const e = await expectCode(createFilesystemObjectStore({ root: file }), 'INVALID_ARGUMENT');
    expect(e.message).toContain(file);
  });

  it('opening below a file fails with INVALID_ARGUMENT naming the path', async () => {
    const file = path.join(base, `plain-${n++}`);
    await writeFile(file, 'x');
    const e = await expectCode(createFilesystemObjectStore({ root: path.join(file, 'below') }), 'INVALID_ARGUMENT');
    expect(e.message).toContain(file);
  });
});
