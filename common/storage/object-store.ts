// The object store interface (DESIGN.md §7): what blocks need from storage and nothing more.
// Implementations: filesystem.ts (default; atomic renames), s3.ts (any S3-compatible server) and
// memory.ts (the unit-test twin). All three pass one conformance suite (testing/conformance.ts).
//
// Semantics every implementation keeps:
// - `put` is atomic: a reader sees either no object or the whole new body, never a prefix.
//   Overwriting a key replaces it atomically (blocks never overwrite; the manifest relies on
//   "objects first, then the manifest key", not on overwrite).
// - `get`/`getRange` of a missing key throws SkeinError code NOT_FOUND, never returns an empty
//   body. `getRange` beyond the end returns what exists (possibly fewer bytes; none when `offset`
//   equals the size); a range starting past the end (`offset` > size) throws INVALID_ARGUMENT.
// - `delete` of a missing key succeeds (idempotent), so garbage collection can be re-run.
// - `list` returns every key under the prefix in byte order of the key, paginated internally.
//   Objects whose names are not valid keys (another tool's objects, a backend's temp files) are
//   not listed. A prefix is '' or the start of a key, and may end inside a segment (`blocks/01H`).
// - Keys are relative `/`-separated paths of [A-Za-z0-9._-] segments; no empty, `.` or `..` segment;
//   at most 1024 bytes, 255 per segment. Implementations reject anything else with INVALID_ARGUMENT
//   (no path traversal on filesystems).
// - A key is never also the "directory" of other keys (`a` and `a/b`): a filesystem cannot hold
//   both, so the filesystem backend and the memory twin reject the second with INVALID_ARGUMENT
//   (S3 would accept it; layouts must not rely on that).
// - A call whose `signal` is aborted rejects with `signal.reason`. An aborted (or otherwise failed)
//   `put` may or may not have taken effect, exactly as a put whose reply was lost.
// - Transient failures (network, 5xx, throttling, timeouts) surface as SkeinError code UNAVAILABLE
//   (retryable); the caller decides whether to retry. Implementations do not retry on their own.

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
}

export interface ObjectCallOptions {
  readonly signal?: AbortSignal;
}

export interface ObjectStore {
  /** Human-readable location for logs and errors, e.g. `file:///var/lib/skein/blocks` or `s3://bucket/prefix`. */
  readonly description: string;
  put(key: string, body: Uint8Array, options?: ObjectCallOptions): Promise<void>;
  get(key: string, options?: ObjectCallOptions): Promise<Uint8Array>;
  /** `length` bytes from `offset` (fewer at the end of the object). */
  getRange(key: string, offset: number, length: number, options?: ObjectCallOptions): Promise<Uint8Array>;
  /** Size of the object, or undefined when it does not exist. */
  stat(key: string, options?: ObjectCallOptions): Promise<ObjectInfo | undefined>;
  list(prefix: string, options?: ObjectCallOptions): Promise<ObjectInfo[]>;
  delete(key: string, options?: ObjectCallOptions): Promise<void>;
  close(): Promise<void>;
}
