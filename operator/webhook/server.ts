// The admission webhook's HTTPS server: POST /mutate takes an admission.k8s.io/v1 AdmissionReview
// and answers one; GET /healthz. It never denies and never fails a pod (DESIGN.md §9): a mutate
// that throws, answers nonsense or outlives its budget admits the pod unchanged with a warning the
// user sees in kubectl, and the operator reports the pod later. Only what is not an AdmissionReview
// at all gets a 4xx — the apiserver never sends that, and with failurePolicy Ignore it would still
// admit the pod.
//
// The serving certificate is re-read (options.tls) on every new connection and swapped with
// setSecureContext when it changed: a rotation (cert-manager.ts) needs no restart, connections in
// flight keep the certificate they started with, and new ones get the new one.
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../../common/log/index.js';
import { counter, histogram, type Registry } from '../../common/metrics/index.js';
import type { KubeObject } from '../kube/index.js';

/** The `request` of an admission.k8s.io/v1 AdmissionReview (the fields the webhook reads). */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind?: { readonly group: string; readonly version: string; readonly kind: string };
  readonly resource?: { readonly group: string; readonly version: string; readonly resource: string };
  readonly subResource?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  readonly userInfo?: { readonly username?: string; readonly groups?: readonly string[] };
  /** The object as it would be stored (for pods at CREATE, `metadata.name` may still be empty). */
  readonly object?: KubeObject;
  readonly oldObject?: KubeObject;
  readonly dryRun?: boolean;
}

export interface AdmissionOutcome {
  /** RFC 6902 operations; absent or empty when the object stays as it is. */
  readonly patch?: readonly object[];
  readonly warnings?: readonly string[];
}

/** Decides the patch. `signal` aborts when the budget is spent (the answer is then ignored). */
export type MutateFn = (request: AdmissionRequest, signal: AbortSignal) => Promise<AdmissionOutcome>;

export interface TlsMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface WebhookServerOptions {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** The serving material now; undefined while there is none (handshakes then fail, so probes fail). */
  readonly tls: () => TlsMaterial | undefined;
  readonly mutate: MutateFn;
  readonly logger: Logger;
  readonly registry: Registry;
  /** How long mutate may take (default 2 s; the webhook's timeoutSeconds is 5). */
  readonly budgetMs?: number;
  readonly maxBodyBytes?: number;
}

export interface WebhookServer {
  readonly port: number;
  /** Stops accepting, lets requests in flight finish (at most their budget), then resolves. */
  close(): Promise<void>;
}

export const WEBHOOK_SERVER_DEFAULTS = Object.freeze({
  budgetMs: 2_000,
  /** Pods can be large (many containers, big env and annotations), not this large. */
  maxBodyBytes: 4 * 1024 * 1024,
  path: '/mutate',
  /** Kubernetes keeps warnings short; longer ones are truncated by clients. */
  maxWarningChars: 120,
});

const REVIEW_API_VERSION = 'admission.k8s.io/v1';
const WARNING_PREFIX = 'skein: sidecar not injected: ';

type Outcome = 'patched' | 'unchanged' | 'failed_open' | 'bad_request';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const oneLine = (s: string, max: number): string => {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** Parses and checks an AdmissionReview body; throws HttpError(400) with what is wrong. */
function parseReview(body: Buffer): AdmissionRequest {
  let review: unknown;
  try {
    review = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `body is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(review)) throw new HttpError(400, 'body is not a JSON object');
  if (review['kind'] !== 'AdmissionReview' || review['apiVersion'] !== REVIEW_API_VERSION) {
    throw new HttpError(400, `expected kind AdmissionReview, apiVersion ${REVIEW_API_VERSION}; got kind ${String(review['kind'])}, apiVersion ${String(review['apiVersion'])}`);
  }
  const request = review['request'];
  if (!isObject(request)) throw new HttpError(400, 'AdmissionReview has no request');
  if (typeof request['uid'] !== 'string' || request['uid'] === '') throw new HttpError(400, 'AdmissionReview request has no uid');
  return request as unknown as AdmissionRequest;
}

/** The apiserver appends `?timeout=<n>s` (the webhook's timeoutSeconds); stay well inside it. */
function budgetFor(url: URL, budgetMs: number): number {
  const m = /^(\d+)s$/.exec(url.searchParams.get('timeout') ?? '');
  if (m === null) return budgetMs;
  const timeoutMs = Number(m[1]) * 1000;
  return Math.max(1, Math.min(budgetMs, Math.max(timeoutMs / 2, timeoutMs - 1000)));
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    const tooLarge = (): HttpError => new HttpError(413, `AdmissionReview larger than ${limit} bytes`);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume(); // discard; the response closes the connection
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
      done = true;
    });
    req.on('error', (e) => {
      if (!done) reject(e);
      done = true;
    });
  });
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const budgetMs = options.budgetMs ?? WEBHOOK_SERVER_DEFAULTS.budgetMs;
  const maxBodyBytes = options.maxBodyBytes ?? WEBHOOK_SERVER_DEFAULTS.maxBodyBytes;
  const { logger } = options;
  const requests = counter(options.registry, 'skein_webhook_requests_total', 'Admission requests by outcome.', ['outcome']);
  const duration = histogram(options.registry, 'skein_webhook_duration_seconds', 'Time to answer an admission request.', ['outcome']);
  /** Aborts the mutations in flight when the server closes. */
  const closing = new AbortController();

  // --- TLS material: loaded lazily, swapped when it changes -------------------------------------
  let loaded: TlsMaterial | undefined;
  let rejectedCert: string | undefined;

  function refreshTls(): void {
    let material: TlsMaterial | undefined;
    try {
      material = options.tls();
    } catch (e) {
      logger.warn({ err: e }, 'webhook: reading the serving certificate failed; keeping the current one');
      return;
    }
    if (material === undefined) return;
    if (loaded !== undefined && material.certPem === loaded.certPem && material.keyPem === loaded.keyPem) return;
    if (material.certPem === rejectedCert) return; // already reported
    try {
      // Validated first: setSecureContext stores key and cert on the server before it fails.
      createSecureContext({ cert: material.certPem, key: material.keyPem });
      server.setSecureContext({ cert: material.certPem, key: material.keyPem });
      loaded = material;
      rejectedCert = undefined;
      const cert = new X509Certificate(material.certPem);
      logger.info({ serialNumber: cert.serialNumber, notAfter: cert.validTo }, 'webhook: serving certificate loaded');
    } catch (e) {
      rejectedCert = material.certPem;
      logger.warn({ err: e }, 'webhook: serving certificate unusable; keeping the current one');
    }
  }

  // --- Requests ----------------------------------------------------------------------------------
  function send(res: ServerResponse, status: number, body: unknown, extraHeaders: Record<string, string> = {}): void {
    const text = typeof body === 'string' ? `${body}\n` : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
      'content-length': Buffer.byteLength(text),
      ...extraHeaders,
    });
    res.end(text);
  }

  async function admit(request: AdmissionRequest, budget: number): Promise<{ outcome: Outcome; response: Record<string, unknown> }> {
    const failOpen = (reason: string, err?: unknown): { outcome: Outcome; response: Record<string, unknown> } => {
      logger.warn({ uid: request.uid, namespace: request.namespace, reason, err }, 'webhook: admitting pod unchanged');
      return {
        outcome: 'failed_open',
        response: { uid: request.uid, allowed: true, warnings: [oneLine(`${WARNING_PREFIX}${reason}`, WEBHOOK_SERVER_DEFAULTS.maxWarningChars)] },
      };
    };
    const controller = new AbortController();
    const onClose = (): void => controller.abort(closing.signal.reason);
    closing.signal.addEventListener('abort', onClose, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), budget);
    });
    const attempt = options.mutate(request, controller.signal).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    try {
      const result = await Promise.race([attempt, deadline]);
      if (result === 'timeout') {
        controller.abort(new Error('admission budget spent'));
        return failOpen(`mutation took longer than ${budget} ms`);
      }
      if (!result.ok) return failOpen(result.error instanceof Error ? result.error.message : String(result.error), result.error);
      const { patch, warnings } = result.value ?? {};
      if (patch !== undefined && (!Array.isArray(patch) || !patch.every(isObject))) return failOpen('the mutation produced an invalid JSON patch');
      const response: Record<string, unknown> = { uid: request.uid, allowed: true };
      const lines = (warnings ?? []).filter((w) => typeof w === 'string' && w !== '').map((w) => oneLine(w, WEBHOOK_SERVER_DEFAULTS.maxWarningChars));
      if (lines.length > 0) response['warnings'] = lines;
      if (patch === undefined || patch.length === 0) return { outcome: 'unchanged', response };
      response['patchType'] = 'JSONPatch';
      response['patch'] = Buffer.from(JSON.stringify(patch)).toString('base64');
      return { outcome: 'patched', response };
    } finally {
      clearTimeout(timer);
      closing.signal.removeEventListener('abort', onClose);
    }
  }

  async function handleMutate(req: IncomingMessage, res: ServerResponse, url: URL): Promise<Outcome> {
    if (req.method !== 'POST') {
      send(res, 405, `${req.method ?? '?'} not allowed; POST an AdmissionReview`, { allow: 'POST' });
      return 'bad_request';
    }
    let request: AdmissionRequest;
    try {
      request = parseReview(await readBody(req, maxBodyBytes));
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      // After a 413 the rest of the body is not read: close rather than keep the connection.
      send(res, e.status, e.message, e.status === 413 ? { connection: 'close' } : {});
      return 'bad_request';
    }
    const { outcome, response } = await admit(request, budgetFor(url, budgetMs));
    send(res, 200, { apiVersion: REVIEW_API_VERSION, kind: 'AdmissionReview', response });
    return outcome;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://webhook');
    if (url.pathname === '/healthz') {
      send(res, 200, 'ok');
      return;
    }
    if (url.pathname !== WEBHOOK_SERVER_DEFAULTS.path) {
      send(res, 404, `no such path ${url.pathname}; POST ${WEBHOOK_SERVER_DEFAULTS.path}`);
      return;
    }
    const end = duration.startTimer();
    let outcome: Outcome = 'failed_open';
    try {
      outcome = await handleMutate(req, res, url);
    } finally {
      requests.inc({ outcome });
      end({ outcome });
    }
  }

  const server: Server = createServer(
    {
      minVersion: 'TLSv1.2',
      // The apiserver gives up after timeoutSeconds (≤ 30); nothing legitimate takes longer.
      requestTimeout: 30_000,
      headersTimeout: 10_000,
    },
    (req, res) => {
      handle(req, res).catch((e: unknown) => {
        // Only a broken connection gets here (body stream error); there is no one left to answer.
        logger.warn({ err: e }, 'webhook: request failed');
        if (!res.headersSent) send(res, 400, 'request could not be read');
        else res.destroy();
      });
    },
  );
  // Before tls.Server's own listener wraps the socket with the current context.
  server.prependListener('connection', refreshTls);
  server.on('tlsClientError', (e: Error) => logger.debug({ err: e }, 'webhook: TLS handshake failed'));
  refreshTls();

  const listening = server;
  await new Promise<void>((resolve, reject) => {
    listening.once('error', reject);
    listening.listen(options.port, options.host, () => {
      listening.off('error', reject);
      resolve();
    });
  });
  const port = (listening.address() as AddressInfo).port;
  logger.info({ host: options.host, port }, 'webhook: listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        // Requests in flight end within their budget; then nothing holds the server open.
        const hard = setTimeout(() => {
          closing.abort(new Error('webhook server closing'));
          listening.closeAllConnections();
        }, budgetMs + 1_000);
        listening.close(() => {
          clearTimeout(hard);
          resolve();
        });
        listening.closeIdleConnections();
      })),
  };
}
