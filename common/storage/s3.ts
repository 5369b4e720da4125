// The object store on any S3-compatible server (AWS S3, SeaweedFS, MinIO, Ceph RGW…) through
// @aws-sdk/client-s3. Key `k` is stored as object `<prefix>/k` in the bucket.
//
// Choices:
// - No SDK retries (maxAttempts 1). The interface leaves retrying to the caller, which knows its
//   deadline and its AbortSignal; the SDK's standard mode would add up to two more attempts with
//   back-off behind the caller's back and stretch an outage into a slow call. Every transient
//   failure comes back at once as UNAVAILABLE (retryable).
// - Bounded waits instead of the SDK's unbounded defaults: a connect timeout and a socket idle
//   timeout (no bytes moving either way), so a black-holed endpoint or a stalled transfer fails
//   within seconds; no total-request timeout, because a multi-GiB block may legitimately take long
//   while bytes keep flowing. The caller's AbortSignal ends any call at once.
// - Checksums only when the operation requires them. SDK defaults since 2025 add CRC32 headers or
//   aws-chunked trailers to every PutObject, which several S3-compatible servers reject; block
//   files carry their own checksums (ingester/block/FORMAT.md), and a GetObject body is checked
//   against its Content-Length so a cut connection never yields a prefix.
// - HEAD cannot tell a missing object from a missing bucket (404 without a body), so stat()'s 404s
//   check the bucket (HeadBucket) until it has been seen once; a missing bucket is a configuration
//   error and must not read as "object absent". A 403 gets the same check, since some servers
//   refuse rather than report a write into a missing bucket.
// - Configuration errors (missing bucket, refused credentials) are UNAVAILABLE, not fatal codes:
//   nothing a caller holds (a block not yet uploaded) should be dropped because the operator has
//   yet to fix the bucket; the message says what to fix.
import { addAbortSignal, type Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { SkeinError } from '../errors/index.js';
import { compareKeys, isValidKey, objectNotFound, ownBytes, rangePastEnd, validateKey, validatePrefix, validateRange } from './object-key.js';
import type { ObjectCallOptions, ObjectInfo, ObjectStore } from './object-store.js';

export interface S3ObjectStoreOptions {
  /** e.g. `http://127.0.0.1:8333`; omitted for AWS S3 itself (resolved from the region). */
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  /** Key prefix inside the bucket (`skein/prod` → objects `skein/prod/<key>`); same rules as a key. */
  readonly prefix?: string;
  /** Path-style URLs (`endpoint/bucket/key`). Default: true when `endpoint` is set (most S3-compatible servers need it), false for AWS. */
  readonly forcePathStyle?: boolean;
  /** Static credentials; omitted → the SDK's default chain (env, shared config, web identity, IMDS). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Longest wait for a TCP/TLS connection. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Longest a request may sit with no bytes moving either way. Default 30 s. */
  readonly idleTimeoutMs?: number;
}

export const S3_DEFAULTS = { connectTimeoutMs: 5_000, idleTimeoutMs: 30_000 } as const;

/** S3 error names that mean "try again later". */
const TRANSIENT_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'InternalError', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeoutException']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);
const ACCESS_NAMES = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden', 'ExpiredToken', 'InvalidToken']);

export function createS3ObjectStore(options: S3ObjectStoreOptions): ObjectStore {
  if (options.bucket === '') throw new SkeinError('INVALID_ARGUMENT', 'S3 object store: bucket is empty: set the bucket to store blocks in (--s3-bucket)');
  const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix !== '') {
    try {
      validateKey(prefix);
    } catch (error) {
      throw new SkeinError('INVALID_ARGUMENT', `S3 object store: prefix ${JSON.stringify(options.prefix)} is invalid: use /-separated [A-Za-z0-9._-] segments (--s3-prefix)`, { cause: error });
    }
  }
  const client = new S3Client({
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    credentials: options.credentials,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? S3_DEFAULTS.connectTimeoutMs,
      socketTimeout: options.idleTimeoutMs ?? S3_DEFAULTS.idleTimeoutMs,
      httpAgent: { keepAlive: true },
      httpsAgent: { keepAlive: true },
      // Library code does not log (STYLE.md rule 9); the handler would otherwise warn on console.
      logger: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    },
  });
  return new S3Store(client, options, prefix);
}

class S3Store implements ObjectStore {
  readonly description: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #endpoint: string;
  #bucketChecked = false;
  #closed = false;

  constructor(client: S3Client, options: S3ObjectStoreOptions, prefix: string) {
    this.#client = client;
    this.#bucket = options.bucket;
    this.#prefix = prefix === '' ? '' : `${prefix}/`;
    this.#endpoint = options.endpoint ?? `AWS S3 (${options.region})`;
    this.description = `s3://${options.bucket}/${prefix}${options.endpoint === undefined ? '' : ` at ${options.endpoint}`}`;
  }

  async put(key: string, body: Uint8Array, options?: ObjectCallOptions): Promise<void> {
    validateKey(key);
    const signal = this.#enter(options);
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key, Body: body, ContentLength: body.byteLength }), { abortSignal: signal });
    } catch (error) {
      throw await this.#failure(error, signal, `put ${key}`);
    }
  }

  async get(key: string, options?: ObjectCallOptions): Promise<Uint8Array> {
    validateKey(key);
    const signal = this.#enter(options);
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }), { abortSignal: signal });
      return await readBody(out, signal);
    } catch (error) {
      if (isNotFound(error)) throw objectNotFound(key, this.description);
      throw await this.#failure(error, signal, `get ${key}`);
    }
  }

  async getRange(key: string, offset: number, length: number, options?: ObjectCallOptions): Promise<Uint8Array> {
    validateKey(key);
    validateRange(key, offset, length);
    const signal = this.#enter(options);
    // An empty range has no HTTP Range form; the object's size answers it (and whether it exists).
    if (length === 0) return this.#emptyRange(key, offset, signal);
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key, Range: `bytes=${offset}-${offset + length - 1}` }),
        { abortSignal: signal },
      );
      const body = await readBody(out, signal);
      // A server that ignores Range answers 200 with the whole object: cut the range out ourselves.
      if (out.ContentRange === undefined && out.$metadata.httpStatusCode === 200) {
        if (offset > body.length) throw rangePastEnd(key, offset, body.length);
        return body.subarray(offset, offset + length);
      }
      return body;
    } catch (error) {
      if (error instanceof SkeinError) throw error;
      if (isNotFound(error)) throw objectNotFound(key, this.description);
      // 416: the range starts at or past the end (S3 also answers 416 for any range of an empty object).
      if (statusOf(error) === 416 || nameOf(error) === 'InvalidRange') return this.#emptyRange(key, offset, signal);
      throw await this.#failure(error, signal, `getRange ${key}`);
    }
  }

  async stat(key: string, options?: ObjectCallOptions): Promise<ObjectInfo | undefined> {
    validateKey(key);
    const signal = this.#enter(options);
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }), { abortSignal: signal });
      return { key, size: out.ContentLength ?? 0 };
    } catch (error) {
      if (!isNotFound(error)) throw await this.#failure(error, signal, `stat ${key}`);
    }
    if (!this.#bucketChecked && (await this.#bucketExists(signal)) === false) throw this.#bucketMissing();
    return undefined;
  }

  async list(prefix: string, options?: ObjectCallOptions): Promise<ObjectInfo[]> {
    validatePrefix(prefix);
    const signal = this.#enter(options);
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix + prefix, ContinuationToken: token }),
          { abortSignal: signal },
        );
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined) continue;
          const key = object.Key.slice(this.#prefix.length);
          // Directory markers (`a/`) and other tools' objects are not objects of this store.
          if (!isValidKey(key)) continue;
          out.push({ key, size: object.Size ?? 0 });
        }
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw await this.#failure(error, signal, `list ${prefix}`);
    }
    // S3 lists in UTF-8 byte order already; not every compatible server does.
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async delete(key: string, options?: ObjectCallOptions): Promise<void> {
    validateKey(key);
    const signal = this.#enter(options);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }), { abortSignal: signal });
    } catch (error) {
      if (isNotFound(error)) return; // S3 answers 204; some servers 404
      throw await this.#failure(error, signal, `delete ${key}`);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#client.destroy();
    await Promise.resolve();
  }

  #enter(options: ObjectCallOptions | undefined): AbortSignal | undefined {
    const signal = options?.signal;
    signal?.throwIfAborted();
    if (this.#closed) throw new SkeinError('UNAVAILABLE', `object store ${this.description} is closed`);
    return signal;
  }

  async #emptyRange(key: string, offset: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
    const info = await this.stat(key, { signal });
    if (info === undefined) throw objectNotFound(key, this.description);
    if (offset > info.size) throw rangePastEnd(key, offset, info.size);
    return new Uint8Array(0);
  }

  /** HeadBucket: true/false, or undefined when the server will not say (no permission to ask). */
  async #bucketExists(signal: AbortSignal | undefined): Promise<boolean | undefined> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }), { abortSignal: signal });
      this.#bucketChecked = true;
      return true;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (isNotFound(error)) return false;
      if (isAccessError(error)) return undefined;
      throw this.#mapError(error, signal, 'check bucket');
    }
  }

  /**
   * Maps a failed call; a refusal (403) is double-checked against the bucket's existence, because
   * some servers (SeaweedFS) refuse a put into a missing bucket that they would auto-create for an
   * admin, and "create the bucket" is the fix the message must name then.
   */
  async #failure(error: unknown, signal: AbortSignal | undefined, what: string): Promise<unknown> {
    if (!signal?.aborted && isAccessError(error) && !this.#bucketChecked) {
      const exists = await this.#bucketExists(signal).catch(() => undefined);
      if (exists === false) return this.#bucketMissing(error);
    }
    return this.#mapError(error, signal, what);
  }

  #bucketMissing(cause?: unknown): SkeinError {
    return new SkeinError('UNAVAILABLE', `S3 bucket ${JSON.stringify(this.#bucket)} not found at ${this.#endpoint}: create it, or fix the bucket name (--s3-bucket) or the endpoint (--s3-endpoint)`, { cause });
  }

  #mapError(error: unknown, signal: AbortSignal | undefined, what: string): unknown {
    if (signal?.aborted) return signal.reason;
    if (error instanceof SkeinError) return error;
    const name = nameOf(error);
    const status = statusOf(error);
    const detail = error instanceof Error ? error.message : String(error);
    const where = this.description;
    if (name === 'NoSuchBucket') return this.#bucketMissing(error);
    if (isAccessError(error)) {
      return new SkeinError('UNAVAILABLE', `S3 ${what} on ${where} refused (HTTP ${status ?? '?'} ${name ?? ''}): check the access key (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the SDK's default chain) and its permissions on bucket ${JSON.stringify(this.#bucket)}`, { cause: error });
    }
    if (name === 'CredentialsProviderError') {
      return new SkeinError('UNAVAILABLE', `S3 ${what} on ${where}: no credentials found: set the S3 access key and secret, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a role the SDK's default chain finds (${detail})`, { cause: error });
    }
    const code = codeOf(error);
    if (code !== undefined && NETWORK_CODES.has(code)) {
      return new SkeinError('UNAVAILABLE', `S3 ${what}: cannot reach ${this.#endpoint} (${code}): check the endpoint (--s3-endpoint) and that the server is up`, { cause: error });
    }
    // No HTTP status means the request got no answer: a network-level failure (unless it is a bug).
    const unanswered = status === undefined && !(error instanceof TypeError || error instanceof RangeError);
    if ((name !== undefined && TRANSIENT_NAMES.has(name)) || (status !== undefined && (status >= 500 || status === 429 || status === 408)) || unanswered) {
      return new SkeinError('UNAVAILABLE', `S3 ${what} on ${where} failed${status === undefined ? '' : ` (HTTP ${status})`}: ${name ?? 'error'}: ${detail}`, { cause: error });
    }
    return new SkeinError('INTERNAL', `S3 ${what} on ${where} failed (HTTP ${status}, ${name ?? 'error'}): ${detail}`, { cause: error });
  }
}

/** Reads a GetObject body in full, honouring the signal, and refuses a body shorter than announced. */
async function readBody(out: GetObjectCommandOutput, signal: AbortSignal | undefined): Promise<Uint8Array> {
  const stream = out.Body as Readable | undefined;
  if (stream === undefined) return new Uint8Array(0);
  if (signal !== undefined) addAbortSignal(signal, stream);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    chunks.push(buffer);
    total += buffer.length;
  }
  if (out.ContentLength !== undefined && total !== out.ContentLength) {
    throw new SkeinError('UNAVAILABLE', `S3 response body cut short: ${total} of ${out.ContentLength} bytes`);
  }
  return ownBytes(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
}

function nameOf(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const meta = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return meta?.httpStatusCode;
}

function codeOf(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    if (typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/** Refused credentials or permissions. A HEAD answer has no body, so its 403 carries no error name. */
function isAccessError(error: unknown): boolean {
  const name = nameOf(error);
  const status = statusOf(error);
  return (name !== undefined && ACCESS_NAMES.has(name)) || status === 401 || status === 403;
}

/** The object (not the bucket) is missing. A HEAD 404 has no body to tell which; stat() checks the bucket. */
function isNotFound(error: unknown): boolean {
  const name = nameOf(error);
  if (name === 'NoSuchBucket') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404;
}
