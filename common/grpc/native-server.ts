// A minimal gRPC server for unary calls on Node's native HTTP/2 (nghttp2), used for OTLP/gRPC
// Export. grpc-js frames HTTP/2 in JavaScript, which measured ~1.1 µs per span more than the HTTP
// receiver on 1000-span requests; unary gRPC is small enough to speak directly
// (github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
//   request  = HEADERS (:method POST, :path /pkg.Service/Method, content-type application/grpc[+proto],
//              grpc-encoding?, grpc-timeout?) + DATA: one Length-Prefixed-Message
//              (1 byte compressed flag, 4 bytes big-endian length, message)
//   response = HEADERS (:status 200, content-type application/grpc) + DATA (one message)
//              + trailers (grpc-status, grpc-message percent-encoded, grpc-status-details-bin base64)
//              or, for errors, "Trailers-Only": one HEADERS frame carrying the status fields.
import http2 from 'node:http2';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { ErrorCode } from '../errors/index.js';

const gunzip = promisify(zlib.gunzip);

/** gRPC status codes used here. */
export const GrpcStatus = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DEADLINE_EXCEEDED: 4,
  CANCELLED: 1,
  UNAUTHENTICATED: 16,
} as const;

export class GrpcCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: Uint8Array,
    /** Extra metadata sent with the status (lowercase ASCII keys), e.g. a hint where to retry. */
    readonly trailers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

/** A successful answer with extra trailing metadata (lowercase ASCII keys) sent beside grpc-status 0. */
export interface UnaryResponse {
  readonly body: Uint8Array;
  readonly trailers: Readonly<Record<string, string>>;
}

export type UnaryHandler = (request: Buffer, metadata: http2.IncomingHttpHeaders) => Promise<Uint8Array | UnaryResponse>;

export interface NativeGrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxRequestBytes: number;
  /** Path (`/package.Service/Method`) → handler. */
  readonly handlers: ReadonlyMap<string, UnaryHandler>;
  /** Called for errors the server answers itself (bad framing, size, unknown method). */
  /** Requests the server refuses itself, with the catalogue code that names why (for metrics). */
  readonly onRefused?: (code: ErrorCode, message: string) => void;
}

export interface NativeGrpcServer {
  readonly port: number;
  /** Stops accepting; waits for open sessions to finish, or destroys them when `signal` aborts. */
  close(signal?: AbortSignal): Promise<void>;
}

/** Percent-encoding of grpc-message: bytes outside printable ASCII and '%' become %XX. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

const WINDOW = 8 * 1024 * 1024;

export async function startNativeGrpcServer(options: NativeGrpcServerOptions): Promise<NativeGrpcServer> {
  const server = http2.createServer({
    settings: { initialWindowSize: WINDOW, maxHeaderListSize: 64 * 1024 },
    maxSessionMemory: 64,
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    // A large connection window lets 1 MB requests arrive without waiting for WINDOW_UPDATEs.
    session.once('connect', () => session.setLocalWindowSize(WINDOW));
    if (!session.connecting) session.setLocalWindowSize(WINDOW);
  });

  const refuse = (stream: http2.ServerHttp2Stream, code: ErrorCode, status: number, message: string): void => {
    options.onRefused?.(code, message);
    fail(stream, status, message);
  };
  const fail = (stream: http2.ServerHttp2Stream, status: number, message: string, details?: Uint8Array, trailers?: Readonly<Record<string, string>>): void => {
    if (stream.destroyed || stream.closed) return;
    const headers: http2.OutgoingHttpHeaders = {
      ':status': 200,
      'content-type': 'application/grpc',
      ...trailers,
      'grpc-status': String(status),
      'grpc-message': encodeGrpcMessage(message),
    };
    if (details !== undefined) headers['grpc-status-details-bin'] = Buffer.from(details).toString('base64').replace(/=+$/, '');
    if (stream.headersSent) {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    stream.respond(headers, { endStream: true });
    // The client may still be sending a body we will not read: tell it to stop.
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  };

  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined); // resets by the peer are normal; nothing to report
    const path = headers[':path'] ?? '';
    const handler = options.handlers.get(path);
    if (headers[':method'] !== 'POST' || !String(headers['content-type'] ?? '').startsWith('application/grpc')) {
      stream.resume(); // drain and discard whatever body was sent
      stream.respond({ ':status': 415, 'content-type': 'text/plain' }, { endStream: false });
      stream.end('gRPC endpoint: send POST with content-type application/grpc (OTLP/HTTP is on its own port)\n');
      return;
    }
    if (handler === undefined) {
      refuse(stream, 'NOT_FOUND', GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let refused = false;
    stream.on('data', (chunk: Buffer) => {
      if (refused) return;
      received += chunk.length;
      if (received > options.maxRequestBytes + 5) {
        refused = true;
        chunks.length = 0;
        refuse(stream, 'PAYLOAD_TOO_LARGE', GrpcStatus.RESOURCE_EXHAUSTED, `request exceeds ${options.maxRequestBytes} bytes; send smaller batches`);
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (refused) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      void handle(stream, headers, body, handler);
    });
  });

  async function handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer, handler: UnaryHandler): Promise<void> {
    if (body.length < 5) {
      refuse(stream, 'BAD_PAYLOAD', GrpcStatus.INVALID_ARGUMENT, 'missing gRPC message: expected a 5-byte length prefix and one message');
      return;
    }
    const compressed = body[0]!;
    const length = body.readUInt32BE(1);
    if (length !== body.length - 5 || compressed > 1) {
      refuse(stream, 'BAD_PAYLOAD', GrpcStatus.INVALID_ARGUMENT, `malformed gRPC framing: prefix says ${length} bytes, body has ${body.length - 5}`);
      return;
    }
    let message = body.subarray(5);
    if (compressed === 1) {
      const encoding = String(headers['grpc-encoding'] ?? 'identity');
      if (encoding !== 'gzip') {
        refuse(stream, 'UNSUPPORTED_MEDIA_TYPE', GrpcStatus.UNIMPLEMENTED, `unsupported grpc-encoding ${JSON.stringify(encoding)}; use gzip or identity`);
        return;
      }
      try {
        message = await gunzip(message, { maxOutputLength: options.maxRequestBytes });
      } catch (e) {
        if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
          refuse(stream, 'PAYLOAD_TOO_LARGE', GrpcStatus.RESOURCE_EXHAUSTED, `decompressed request exceeds ${options.maxRequestBytes} bytes`);
        else refuse(stream, 'BAD_PAYLOAD', GrpcStatus.INVALID_ARGUMENT, `gzip-compressed message does not decompress: ${(e as Error).message}`);
        return;
      }
    }
    let response: Uint8Array;
    let trailers: Readonly<Record<string, string>> | undefined;
    try {
      const answer = await handler(message, headers);
      if (answer instanceof Uint8Array) response = answer;
      else {
        response = answer.body;
        trailers = answer.trailers;
      }
    } catch (e) {
      if (e instanceof GrpcCallError) fail(stream, e.status, e.message, e.details, e.trailers);
      else fail(stream, GrpcStatus.INTERNAL, 'internal error');
      return;
    }
    if (stream.destroyed || stream.closed) return;
    const frame = Buffer.allocUnsafe(5 + response.length);
    frame[0] = 0;
    frame.writeUInt32BE(response.length, 1);
    frame.set(response, 5);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity,gzip' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ ...trailers, 'grpc-status': '0' }));
    stream.end(frame);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    port,
    async close(signal) {
      await new Promise<void>((resolve) => {
        const force = (): void => {
          for (const s of sessions) s.destroy();
        };
        if (signal?.aborted) force();
        else signal?.addEventListener('abort', force, { once: true });
        server.close(() => {
          signal?.removeEventListener('abort', force);
          resolve();
        });
        // Ask clients to finish: GOAWAY lets in-flight streams complete, refuses new ones.
        for (const s of sessions) s.close();
      });
    },
  };
}
