// The in-memory twin of the object store, for unit tests of the modules that write and read blocks.
// It passes the same conformance suite as the filesystem and S3 backends, and is as strict as the
// strictest of them (it rejects a key that is also another key's directory, as the filesystem
// must), so a layout that works on the twin works everywhere. `setReachable(false)` makes every
// call fail with UNAVAILABLE, for fault tests of the callers.
import { SkeinError } from '../errors/index.js';
import { compareKeys, objectNotFound, rangePastEnd, validateKey, validatePrefix, validateRange } from './object-key.js';
import type { ObjectCallOptions, ObjectInfo, ObjectStore } from './object-store.js';

export interface MemoryObjectStore extends ObjectStore {
  /** Partition the store (false: every call fails with UNAVAILABLE) or heal it (true). */
  setReachable(reachable: boolean): void;
}

export interface MemoryObjectStoreOptions {
  /** Shown in `description` and error messages. Default `memory://`. */
  readonly name?: string;
}

export function createMemoryObjectStore(options: MemoryObjectStoreOptions = {}): MemoryObjectStore {
  return new MemoryStore(options.name ?? 'memory://');
}

class MemoryStore implements MemoryObjectStore {
  readonly description: string;
  readonly #objects = new Map<string, Uint8Array>();
  /** Directory path → number of keys below it, to reject `a` next to `a/b` as a filesystem would. */
  readonly #dirs = new Map<string, number>();
  #reachable = true;
  #closed = false;

  constructor(description: string) {
    this.description = description;
  }

  setReachable(reachable: boolean): void {
    this.#reachable = reachable;
  }

  async put(key: string, body: Uint8Array, options?: ObjectCallOptions): Promise<void> {
    const segments = validateKey(key);
    // The copy is taken before the first await: the caller may reuse its buffer once put returns,
    // and a real backend has consumed the body by then too.
    const copy = Uint8Array.from(body);
    await this.#enter(options);
    if (this.#dirs.has(key)) throw conflict(key, `it is the directory of other keys (${key}/…)`);
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join('/');
      if (this.#objects.has(dir)) throw conflict(key, `its directory ${JSON.stringify(dir)} is a key`);
    }
    if (!this.#objects.has(key)) {
      for (let i = 1; i < segments.length; i++) {
        const dir = segments.slice(0, i).join('/');
        this.#dirs.set(dir, (this.#dirs.get(dir) ?? 0) + 1);
      }
    }
    this.#objects.set(key, copy);
  }

  async get(key: string, options?: ObjectCallOptions): Promise<Uint8Array> {
    validateKey(key);
    await this.#enter(options);
    return Uint8Array.from(this.#body(key));
  }

  async getRange(key: string, offset: number, length: number, options?: ObjectCallOptions): Promise<Uint8Array> {
    validateKey(key);
    validateRange(key, offset, length);
    await this.#enter(options);
    const body = this.#body(key);
    if (offset > body.length) throw rangePastEnd(key, offset, body.length);
    return body.slice(offset, offset + length);
  }

  async stat(key: string, options?: ObjectCallOptions): Promise<ObjectInfo | undefined> {
    validateKey(key);
    await this.#enter(options);
    const body = this.#objects.get(key);
    return body === undefined ? undefined : { key, size: body.length };
  }

  async list(prefix: string, options?: ObjectCallOptions): Promise<ObjectInfo[]> {
    validatePrefix(prefix);
    await this.#enter(options);
    const out: ObjectInfo[] = [];
    for (const [key, body] of this.#objects) if (key.startsWith(prefix)) out.push({ key, size: body.length });
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async delete(key: string, options?: ObjectCallOptions): Promise<void> {
    const segments = validateKey(key);
    await this.#enter(options);
    if (!this.#objects.delete(key)) return;
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join('/');
      const n = (this.#dirs.get(dir) ?? 0) - 1;
      if (n > 0) this.#dirs.set(dir, n);
      else this.#dirs.delete(dir);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.resolve();
  }

  /** Every call is asynchronous, as with a real backend, so callers cannot come to rely on synchronous completion. */
  async #enter(options: ObjectCallOptions | undefined): Promise<void> {
    options?.signal?.throwIfAborted();
    await Promise.resolve();
    options?.signal?.throwIfAborted();
    if (this.#closed) throw new SkeinError('UNAVAILABLE', `object store ${this.description} is closed`);
    if (!this.#reachable) throw new SkeinError('UNAVAILABLE', `object store ${this.description} unreachable (memory twin partitioned)`);
  }

  #body(key: string): Uint8Array {
    const body = this.#objects.get(key);
    if (body === undefined) throw objectNotFound(key, this.description);
    return body;
  }
}

function conflict(key: string, why: string): SkeinError {
  return new SkeinError('INVALID_ARGUMENT', `cannot put object ${JSON.stringify(key)}: ${why}; a filesystem cannot hold a key and keys below it, so choose a layout without that`);
}
