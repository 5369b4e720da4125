// Unary gRPC calls to the agent's ingest endpoint — Export (exporter.ts) and AgentPolicy/Get
// (cluster-policy.ts) — spoken directly on node:http2 (grpc/doc/PROTOCOL-HTTP2.md): the client half
// of common/grpc's server (ADR 0004), instead of @grpc/grpc-js.
//
// Why not grpc-js: per call it cost ~1 ms of CPU (interceptors, filters and HTTP/2 framing in
// JavaScript) against ~0.3 ms here, it compresses only at zlib's default level (exporter.ts picks
// BEST_SPEED), and it adds ~3 MB to the V8 heap that every full GC marks again. A unary call is
// small enough to speak directly:
//   request  = HEADERS (:method POST, :path, content-type application/grpc, te trailers,
//              grpc-timeout, grpc-encoding?) + DATA: 1 byte compressed flag, 4 bytes big-endian
//              length, the message
//   response = HEADERS (:status 200) + DATA (one message, maybe gzip-compressed: grpc-go servers
//              answer in the request's encoding) + trailers (grpc-status, percent-encoded
//              grpc-message, base64 grpc-status-details-bin), or one HEADERS frame with the status
//              ("Trailers-Only").
// Calls never reject: a failure is a value with a gRPC status code, as the server sent it or as
// gRPC defines it for what went wrong on the way (no connection: UNAVAILABLE; no answer in time:
// DEADLINE_EXCEEDED; an HTTP status without grpc-status: http-grpc-status-mapping.md).
//
// Connections: one HTTP/2 session at a time, opened at the first call; one that went away (GOAWAY,
// close, a connect error) is replaced at the next call, which also resolves DNS again. There are no
// keepalive pings; instead a call that reaches its deadline retires its session (see retire()), so a
// black-holed or half-dead connection costs one deadline, not one per call.
import http2 from 'node:http2';
import net from 'node:net';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { SkeinError } from '../common/errors/index.js';

/** The canonical gRPC status codes (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const STATUS_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(GrpcStatus).map(([name, code]) => [code, name]));

/** `UNAVAILABLE` for 14; the number itself for codes outside the canonical set. */
export function grpcStatusName(code: number): string {
  return STATUS_NAMES.get(code) ?? String(code);
}

/** A failed call: its gRPC status, message and status details. */
export interface GrpcFailure {
  readonly code: number;
  readonly details?: string;
  readonly message?: string;
  /** The `grpc-status-details-bin` trailer (a google.rpc.Status), when the server sent one. */
  readonly statusDetails?: Uint8Array;
}

export type UnaryResult = { readonly ok: true; readonly message: Uint8Array } | { readonly ok: false; readonly failure: GrpcFailure & { readonly details: string } };

export interface UnaryCallOptions {
  /** `message` is already gzip-compressed (sent with grpc-encoding gzip). */
  readonly compressed?: boolean;
  /** Extra request headers (lowercase names), e.g. the tenant. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The call's deadline, ms from now (also sent as grpc-timeout). */
  readonly timeoutMs: number;
  /** Cancels the call (answered CANCELLED). */
  readonly signal?: AbortSignal | undefined;
}

export interface UnaryChannel {
  /** One unary call on `path` (`/package.Service/Method`). Never rejects. */
  call(path: string, message: Uint8Array, options: UnaryCallOptions): Promise<UnaryResult>;
  /** Closes the connection; calls in flight end CANCELLED, later ones UNAVAILABLE. */
  close(): void;
}

export interface UnaryChannelOptions {
  /** As --ingest-endpoint (parseEndpoint). */
  readonly endpoint: string;
  /** Largest response message accepted (default 64 MiB). */
  readonly maxResponseBytes?: number;
}

export interface EndpointTarget {
  /** gRPC target: `host:port`, or a `dns:`, `unix:`, `ipv4:` or `ipv6:` URI (grpc/doc/naming.md). */
  readonly target: string;
  readonly tls: boolean;
}

/**
 * `--ingest-endpoint` → a gRPC target. The OTLP/gRPC port 4317 is assumed when none is given
 * (443 for https). Throws SkeinError('INVALID_ARGUMENT') naming the accepted forms.
 */
export function parseEndpoint(endpoint: string): EndpointTarget {
  const text = endpoint.trim();
  const bad = (why: string): SkeinError =>
    new SkeinError('INVALID_ARGUMENT', `ingest endpoint ${JSON.stringify(endpoint)}: ${why}; use host:port, http://host:port or https://host:port`);
  if (/^(dns|unix|ipv4|ipv6):/.test(text)) return { target: text, tls: false };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw bad('not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`scheme ${url.protocol} is not supported`);
    if (url.pathname !== '/' && url.pathname !== '') throw bad('OTLP/gRPC takes no path');
    if (url.hostname === '') throw bad('no host');
    const tls = url.protocol === 'https:';
    return { target: `${url.hostname}:${url.port === '' ? (tls ? 443 : 4317) : url.port}`, tls };
  }
  if (text === '' || /[\s/]/.test(text)) throw bad('not a host:port');
  // host, host:port, [v6]:port
  const hasPort = /:\d+$/.test(text) && (!text.includes('::') || text.startsWith('['));
  return { target: hasPort ? text : `${text}:4317`, tls: false };
}

/** How to reach the endpoint: an origin for http2.connect (its :authority too), maybe over a Unix socket. */
export interface Connection {
  /** `http://host:port` or `https://host:port`. */
  readonly url: string;
  readonly socketPath?: string;
}

/**
 * A target → where to connect: `host:port`, `dns:[//authority/]host[:port]` (the system resolver is
 * used, at each connect), `unix:path` / `unix:///abs/path`, and the address lists
 * `ipv4:a:p,b:p` / `ipv6:[a]:p,…`, tried in order — one per connection, moving on after a failed
 * connect (grpc-js's default, pick_first).
 */
export function computeConnections(target: EndpointTarget): Connection[] {
  const scheme = target.tls ? 'https' : 'http';
  const hostPort = (text: string): string => (/:\d+$/.test(text) && (!text.includes('::') || text.startsWith('[')) ? text : `${text}:4317`);
  const t = target.target;
  if (t.startsWith('unix:')) {
    const path = t.startsWith('unix://') ? t.slice('unix://'.length) : t.slice('unix:'.length);
    return [{ url: `${scheme}://localhost`, socketPath: path }];
  }
  if (t.startsWith('dns:')) {
    const rest = t.slice('dns:'.length);
    const name = rest.startsWith('//') ? rest.slice(rest.indexOf('/', 2) + 1) : rest;
    return [{ url: `${scheme}://${hostPort(name)}` }];
  }
  if (t.startsWith('ipv4:') || t.startsWith('ipv6:')) {
    return t
      .slice(5)
      .split(',')
      .filter((a) => a !== '')
      .map((a) => ({ url: `${scheme}://${hostPort(a)}` }));
  }
  return [{ url: `${scheme}://${t}` }];
}

/** grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md); malformed escapes are kept as they are. */
export function decodeGrpcMessage(text: string): string {
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else bytes.push(...Buffer.from(text[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** gRPC's status for an HTTP answer without grpc-status (grpc/doc/http-grpc-status-mapping.md). */
export function statusOfHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

const gunzip = promisify(zlib.gunzip);

/** The 5-byte gRPC message prefix: compressed flag and big-endian length. */
function messagePrefix(compressed: boolean, length: number): Buffer {
  const prefix = Buffer.allocUnsafe(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(length, 1);
  return prefix;
}

const failed = (code: number, details: string, statusDetails?: Uint8Array): UnaryResult => ({
  ok: false,
  failure: statusDetails === undefined ? { code, details } : { code, details, statusDetails },
});

/** The response message of an OK call (empty when the server sent none). */
async function responseMessage(body: Buffer, encoding: string, maxResponseBytes: number): Promise<UnaryResult> {
  if (body.length < 5) return { ok: true, message: new Uint8Array(0) };
  const length = body.readUInt32BE(1);
  if (length !== body.length - 5) return failed(GrpcStatus.INTERNAL, `malformed response framing: prefix says ${length} bytes, body has ${body.length - 5}`);
  const message = body.subarray(5);
  if (body[0] !== 1) return { ok: true, message };
  if (encoding !== 'gzip') return failed(GrpcStatus.INTERNAL, `response compressed with unsupported grpc-encoding ${JSON.stringify(encoding)}`);
  try {
    return { ok: true, message: await gunzip(message, { maxOutputLength: maxResponseBytes }) };
  } catch (e) {
    return failed(GrpcStatus.INTERNAL, `gzip-compressed response does not decompress: ${(e as Error).message}`);
  }
}

export function createUnaryChannel(options: UnaryChannelOptions): UnaryChannel {
  const { endpoint } = options;
  const connections = computeConnections(parseEndpoint(endpoint));
  const maxResponseBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
  const inflight = new Set<http2.ClientHttp2Stream>();
  let closed = false;
  let session: http2.ClientHttp2Session | undefined;
  let next = 0;

  /** The session new calls go to; a new one after the last closed, failed or went away. */
  const current = (): http2.ClientHttp2Session => {
    if (session !== undefined && !session.closed && !session.destroyed) return session;
    const { url, socketPath } = connections[next % connections.length]!;
    const s = http2.connect(url, {
      ...(socketPath === undefined ? {} : { createConnection: () => net.connect(socketPath) }),
      settings: { enablePush: false },
    });
    let connected = false;
    s.once('connect', () => (connected = true));
    const forget = (): void => {
      if (session === s) session = undefined;
    };
    // Errors reach the streams (each call settles with its own); a connection that could not be
    // made moves on to the next address, if there are several.
    s.on('error', () => {
      if (!connected) next++;
      forget();
    });
    s.once('goaway', forget);
    s.once('close', forget);
    session = s;
    return s;
  };

  /**
   * A call that hit its deadline leaves its session: on a black-holed or half-dead connection every
   * later call would wait out its deadline too. The session is closed gracefully (calls still on it
   * finish or reach their own deadlines) and the next call connects afresh.
   */
  const retire = (s: http2.ClientHttp2Session): void => {
    if (session === s) session = undefined;
    if (!s.closed && !s.destroyed) s.close();
  };

  const call = (path: string, message: Uint8Array, callOptions: UnaryCallOptions): Promise<UnaryResult> =>
    new Promise<UnaryResult>((resolve) => {
      const { signal } = callOptions;
      if (closed) return resolve(failed(GrpcStatus.UNAVAILABLE, 'the channel is closed'));
      if (signal?.aborted === true) return resolve(failed(GrpcStatus.CANCELLED, 'call cancelled'));
      const compressed = callOptions.compressed === true;
      const timeoutMs = Math.max(1, Math.ceil(callOptions.timeoutMs));
      const headers: http2.OutgoingHttpHeaders = {
        ...callOptions.headers,
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${timeoutMs}m`,
        'grpc-accept-encoding': 'identity,gzip',
        'user-agent': 'skein-agent',
      };
      if (compressed) headers['grpc-encoding'] = 'gzip';
      let s: http2.ClientHttp2Session;
      let stream: http2.ClientHttp2Stream;
      try {
        s = current();
        stream = s.request(headers, { endStream: false });
      } catch (e) {
        // The session closed meanwhile, or http2 refused a header: UNAVAILABLE is retried, and the
        // retry starts a new session.
        resolve(failed(GrpcStatus.UNAVAILABLE, `cannot start a call: ${(e as Error).message}`));
        return;
      }
      inflight.add(stream);
      let httpStatus: number | undefined;
      let grpcStatus: number | undefined;
      let grpcMessage = '';
      let statusDetails: Uint8Array | undefined;
      let responseEncoding = 'identity';
      let streamError: string | undefined;
      let ended: 'deadline' | 'cancelled' | 'too-large' | undefined;
      const chunks: Buffer[] = [];
      let received = 0;

      const readStatus = (h: http2.IncomingHttpHeaders): void => {
        const code = h['grpc-status'];
        if (code === undefined) return;
        grpcStatus = Number(code);
        grpcMessage = decodeGrpcMessage(String(h['grpc-message'] ?? ''));
        const details = h['grpc-status-details-bin'];
        if (typeof details === 'string') statusDetails = Buffer.from(details, 'base64');
      };
      const end = (why: 'deadline' | 'cancelled' | 'too-large'): void => {
        ended ??= why;
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      const timer = setTimeout(() => {
        end('deadline');
        retire(s);
      }, timeoutMs);
      const onAbort = (): void => end('cancelled');
      signal?.addEventListener('abort', onAbort, { once: true });

      stream.on('response', (h) => {
        httpStatus = Number(h[':status']);
        responseEncoding = String(h['grpc-encoding'] ?? 'identity');
        readStatus(h); // a Trailers-Only answer carries the status in the headers
      });
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxResponseBytes + 5) end('too-large');
        else chunks.push(chunk);
      });
      stream.on('trailers', readStatus);
      stream.on('error', (e: Error) => {
        streamError ??= e.message;
      });
      stream.once('close', () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        inflight.delete(stream);
        if (ended === 'deadline') resolve(failed(GrpcStatus.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`));
        else if (ended === 'cancelled') resolve(failed(GrpcStatus.CANCELLED, 'call cancelled'));
        else if (ended === 'too-large') resolve(failed(GrpcStatus.INTERNAL, `response exceeds ${maxResponseBytes} bytes`));
        else if (grpcStatus === GrpcStatus.OK) void responseMessage(Buffer.concat(chunks, received), responseEncoding, maxResponseBytes).then(resolve);
        else if (grpcStatus !== undefined) resolve(failed(grpcStatus, grpcMessage, statusDetails));
        else if (httpStatus !== undefined && httpStatus !== 200) resolve(failed(statusOfHttp(httpStatus), `HTTP status ${httpStatus}`));
        else resolve(failed(closed ? GrpcStatus.CANCELLED : GrpcStatus.UNAVAILABLE, streamError ?? 'the connection closed before an answer'));
      });
      stream.write(messagePrefix(compressed, message.length));
      stream.end(message);
    });

  return {
    call,
    close() {
      closed = true;
      for (const stream of inflight) if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      inflight.clear();
      session?.destroy();
      session = undefined;
    },
  };
}
