// common/storage — object storage for blocks (DESIGN.md §7): the narrow ObjectStore interface
// (put/get/getRange/stat/list/delete with atomic puts, NOT_FOUND for missing keys, byte-ordered
// lists and one key grammar), a filesystem backend (the default: temp file + fsync + rename),
// an S3-compatible backend (@aws-sdk/client-s3, no hidden retries, bounded waits) and an in-memory
// twin for unit tests. All three pass the conformance suite in testing/conformance.ts (it imports
// vitest, so it stays out of the build). Callers count and log; this module does neither.
export type { ObjectCallOptions, ObjectInfo, ObjectStore } from './object-store.js';
export { MAX_KEY_BYTES, MAX_SEGMENT_BYTES, isValidKey, validateKey, validatePrefix } from './object-key.js';
export { createMemoryObjectStore, type MemoryObjectStore, type MemoryObjectStoreOptions } from './memory.js';
export { createFilesystemObjectStore, DEFAULT_TEMP_FILE_GRACE_MS, type FilesystemObjectStoreOptions } from './filesystem.js';
export { createS3ObjectStore, S3_DEFAULTS, type S3ObjectStoreOptions } from './s3.js';
