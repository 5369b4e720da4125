// The default object store: one file per object under a root directory, key segments as path
// segments.
//
// put: write to a temp file in the object's own directory, fsync it, rename it over the final name,
// fsync the directory. rename(2) within one directory is atomic, so a reader opens either the old
// file or the complete new one, never a prefix; the two fsyncs make the object durable before put
// returns (the contents first, then the directory entry that names them). Directories created for
// the object are fsynced into their parents too.
//
// Temp files are named `.~skein-<random>.tmp`: '~' is outside the key alphabet, so no key can
// collide with one and list() skips them by the same rule that skips any foreign file. A crash
// mid-put leaves such a file behind; opening the store removes those older than a grace period
// (younger ones may belong to another process writing into the same root right now).
//
// delete unlinks, fsyncs the directory (a GC delete that a crash undid would leak the object) and
// removes directories left empty so the tree does not fill with empty block folders. A concurrent
// put into a directory that delete just removed retries its mkdir.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SkeinError } from '../errors/index.js';
import { compareKeys, isValidKey, objectNotFound, ownBytes, rangePastEnd, validateKey, validatePrefix, validateRange } from './object-key.js';
import type { ObjectCallOptions, ObjectInfo, ObjectStore } from './object-store.js';

export interface FilesystemObjectStoreOptions {
  /** Directory holding the objects; created if missing. */
  readonly root: string;
  /**
   * Temp files (from a put interrupted by a crash) older than this are removed when the store is
   * opened. Default 10 minutes: far longer than writing one block takes.
   */
  readonly tempFileGraceMs?: number;
}

export const DEFAULT_TEMP_FILE_GRACE_MS = 10 * 60_000;

const TEMP_FILE = /^\.~skein-[0-9a-f]{16}\.tmp$/;
/** Attempts at "create the directory, open a temp file in it" racing a delete that prunes it. */
const MKDIR_ATTEMPTS = 5;
/** Parallel stat() calls while listing one directory. */
const STAT_CONCURRENCY = 32;

/** Opens (creating if needed) the store at `root` and sweeps temp files left by crashed puts. */
export async function createFilesystemObjectStore(options: FilesystemObjectStoreOptions): Promise<ObjectStore> {
  const root = path.resolve(options.root);
  const description = pathToFileURL(root).href;
  try {
    await mkdir(root, { recursive: true });
    const info = await stat(root);
    if (!info.isDirectory()) throw new SkeinError('INVALID_ARGUMENT', `object store root ${root} is not a directory: point --storage-dir at a directory`);
  } catch (error) {
    if (error instanceof SkeinError) throw error;
    const code = errno(error);
    if (code === 'ENOTDIR' || code === 'EEXIST') throw new SkeinError('INVALID_ARGUMENT', `object store root ${root} cannot be created: a part of the path is a file; point --storage-dir at a directory`, { cause: error });
    throw fsError(error, `open object store at ${root}`, root);
  }
  await sweepTempFiles(root, options.tempFileGraceMs ?? DEFAULT_TEMP_FILE_GRACE_MS);
  return new FilesystemStore(root, description);
}

class FilesystemStore implements ObjectStore {
  readonly description: string;
  readonly #root: string;
  #closed = false;

  constructor(root: string, description: string) {
    this.#root = root;
    this.description = description;
  }

  async put(key: string, body: Uint8Array, options?: ObjectCallOptions): Promise<void> {
    const file = this.#path(key);
    const signal = options?.signal;
    this.#enter(signal);
    const dir = path.dirname(file);
    let handle: FileHandle | undefined;
    let temp = '';
    try {
      for (let attempt = 1; handle === undefined; attempt++) {
        try {
          await this.#ensureDir(key, dir);
          const name = path.join(dir, `.~skein-${randomBytes(8).toString('hex')}.tmp`);
          handle = await open(name, 'wx', 0o644);
          temp = name;
        } catch (error) {
          // ENOENT: a delete pruned the directory after our mkdir (before the open or the fsync of
          // a new directory's parent); make it again.
          if (errno(error) !== 'ENOENT' || attempt >= MKDIR_ATTEMPTS) throw error;
        }
      }
      try {
        await handle.writeFile(body, { signal });
        await handle.sync();
      } finally {
        await handle.close();
      }
      signal?.throwIfAborted();
      try {
        await rename(temp, file);
      } catch (error) {
        const code = errno(error);
        if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') throw conflict(key, `${file} is a directory (it holds other keys)`);
        throw error;
      }
      temp = '';
      await syncDir(dir);
    } catch (error) {
      if (temp !== '') await unlink(temp).catch(() => {});
      throw this.#mapError(error, signal, `put ${key}`);
    }
  }

  async get(key: string, options?: ObjectCallOptions): Promise<Uint8Array> {
    const file = this.#path(key);
    const signal = options?.signal;
    this.#enter(signal);
    try {
      return ownBytes(await readFile(file, { signal }));
    } catch (error) {
      if (isMissing(error)) throw objectNotFound(key, this.description);
      throw this.#mapError(error, signal, `get ${key}`);
    }
  }

  async getRange(key: string, offset: number, length: number, options?: ObjectCallOptions): Promise<Uint8Array> {
    const file = this.#path(key);
    validateRange(key, offset, length);
    const signal = options?.signal;
    this.#enter(signal);
    let handle: FileHandle | undefined;
    try {
      handle = await open(file, 'r');
      const info = await handle.stat();
      if (!info.isFile()) throw objectNotFound(key, this.description); // a directory holding other keys
      const size = info.size;
      if (offset > size) throw rangePastEnd(key, offset, size);
      const want = Math.min(length, size - offset);
      // Only the range is read: one positioned read, repeated if the kernel returns it short.
      const out = new Uint8Array(want);
      let filled = 0;
      while (filled < want) {
        signal?.throwIfAborted();
        const { bytesRead } = await handle.read(out, filled, want - filled, offset + filled);
        if (bytesRead === 0) break; // cannot happen for a file replaced only by rename; be safe
        filled += bytesRead;
      }
      signal?.throwIfAborted();
      return filled === want ? out : out.subarray(0, filled);
    } catch (error) {
      if (error instanceof SkeinError) throw error;
      if (isMissing(error)) throw objectNotFound(key, this.description);
      throw this.#mapError(error, signal, `getRange ${key}`);
    } finally {
      await handle?.close();
    }
  }

  async stat(key: string, options?: ObjectCallOptions): Promise<ObjectInfo | undefined> {
    const file = this.#path(key);
    const signal = options?.signal;
    this.#enter(signal);
    try {
      const info = await stat(file);
      signal?.throwIfAborted();
      return info.isFile() ? { key, size: info.size } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw this.#mapError(error, signal, `stat ${key}`);
    }
  }

  async list(prefix: string, options?: ObjectCallOptions): Promise<ObjectInfo[]> {
    validatePrefix(prefix);
    const signal = options?.signal;
    this.#enter(signal);
    // `blocks/01H` → walk `blocks/`, keeping entries whose names start with `01H`.
    const cut = prefix.lastIndexOf('/');
    const dirKey = cut < 0 ? '' : prefix.slice(0, cut);
    const partial = prefix.slice(cut + 1);
    const out: ObjectInfo[] = [];
    try {
      await this.#walk(dirKey, partial, out, signal);
    } catch (error) {
      throw this.#mapError(error, signal, `list ${prefix}`);
    }
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async delete(key: string, options?: ObjectCallOptions): Promise<void> {
    const file = this.#path(key);
    const signal = options?.signal;
    this.#enter(signal);
    try {
      try {
        await unlink(file);
      } catch (error) {
        // Missing, or a directory (which is no object): nothing to delete.
        const code = errno(error);
        if (isMissing(error) || code === 'EISDIR') return;
        throw error;
      }
      try {
        await syncDir(path.dirname(file));
      } catch (error) {
        // A concurrent delete of the directory's last other object removed the (now empty)
        // directory: the unlink is then as durable as that rmdir, nothing left to sync.
        if (!isMissing(error)) throw error;
        return;
      }
      // Prune directories the delete left empty, up to (not including) the root. rmdir fails on a
      // non-empty directory, so a concurrent put's directory (holding its temp file) survives.
      for (let dir = path.dirname(file); dir !== this.#root; dir = path.dirname(dir)) {
        try {
          await rmdir(dir);
        } catch {
          break;
        }
      }
    } catch (error) {
      throw this.#mapError(error, signal, `delete ${key}`);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.resolve();
  }

  /** Validates the key and maps it below the root; validation rules out traversal (`..`, absolute paths). */
  #path(key: string): string {
    return path.join(this.#root, ...validateKey(key));
  }

  #enter(signal: AbortSignal | undefined): void {
    signal?.throwIfAborted();
    if (this.#closed) throw new SkeinError('UNAVAILABLE', `object store ${this.description} is closed`);
  }

  /** mkdir -p, then fsync each new directory's parent so the new entries survive a crash. */
  async #ensureDir(key: string, dir: string): Promise<void> {
    if (dir === this.#root) return;
    let first: string | undefined;
    try {
      first = await mkdir(dir, { recursive: true });
    } catch (error) {
      const code = errno(error);
      if (code === 'ENOTDIR' || code === 'EEXIST') throw conflict(key, `a directory on its path is an object`);
      throw error;
    }
    if (first === undefined) return;
    for (let d = dir; ; d = path.dirname(d)) {
      await syncDir(path.dirname(d));
      if (d === first) break;
    }
  }

  async #walk(dirKey: string, partial: string, out: ObjectInfo[], signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    const dir = dirKey === '' ? this.#root : path.join(this.#root, ...dirKey.split('/'));
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return; // no such prefix, or pruned by a concurrent delete
      throw error;
    }
    const files: string[] = [];
    for (const entry of entries) {
      if (!entry.name.startsWith(partial)) continue;
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
      // Temp files, symlinks and anything else that is not a valid key are not objects.
      if (!isValidKey(key)) continue;
      if (entry.isDirectory()) await this.#walk(key, '', out, signal);
      else if (entry.isFile()) files.push(key);
    }
    for (let i = 0; i < files.length; i += STAT_CONCURRENCY) {
      signal?.throwIfAborted();
      const batch = files.slice(i, i + STAT_CONCURRENCY);
      const sizes = await Promise.all(
        batch.map((key) =>
          stat(path.join(this.#root, ...key.split('/'))).then(
            (s) => s.size,
            (error: unknown) => {
              if (isMissing(error)) return undefined; // deleted since readdir
              throw error;
            },
          ),
        ),
      );
      batch.forEach((key, j) => {
        const size = sizes[j];
        if (size !== undefined) out.push({ key, size });
      });
    }
  }

  #mapError(error: unknown, signal: AbortSignal | undefined, what: string): unknown {
    if (signal?.aborted) return signal.reason;
    if (error instanceof SkeinError) return error;
    return fsError(error, what, this.#root);
  }
}

/** An fs failure that is not part of the contract (disk full, I/O error, permissions) as UNAVAILABLE, naming the fix. */
function fsError(error: unknown, what: string, root: string): unknown {
  const code = errno(error);
  if (code === undefined) return error; // not an fs error: a bug, let it surface as is
  const hint =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? `free space on the filesystem of ${root}`
      : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? `make ${root} writable by this process`
        : `check the disk holding ${root}`;
  return new SkeinError('UNAVAILABLE', `object store: ${what} failed (${code}): ${hint}`, { cause: error });
}

function conflict(key: string, why: string): SkeinError {
  return new SkeinError('INVALID_ARGUMENT', `cannot put object ${JSON.stringify(key)}: ${why}; a filesystem cannot hold a key and keys below it, so choose a layout without that`);
}

function errno(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** ENOENT: no such file; ENOTDIR: a path component is a file (so the key cannot exist); EISDIR: the key names a directory. */
function isMissing(error: unknown): boolean {
  const code = errno(error);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes temp files older than `graceMs` anywhere under `root` (left by puts that crashed). */
async function sweepTempFiles(root: string, graceMs: number): Promise<void> {
  const cutoff = Date.now() - graceMs;
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw fsError(error, `sweep temp files in ${dir}`, root);
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && TEMP_FILE.test(entry.name)) {
        try {
          if ((await stat(full)).mtimeMs <= cutoff) await unlink(full);
        } catch (error) {
          if (!isMissing(error)) throw fsError(error, `remove temp file ${full}`, root);
        }
      }
    }
  };
  await walk(root);
}
