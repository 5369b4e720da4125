// What both API families share: the fastify instance setup, request metrics, tenant resolution,
// the error mapping (SkeinError → HTTP status, never a stack trace) and /metrics. Each family only
// says how an error body looks.
import { fastify, LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../../common/log/index.js';
import { counter, histogram, type Registry } from '../../common/metrics/index.js';
import { SkeinError, isSkeinError } from '../../common/errors/index.js';
import { resolveTenant, TENANT_HEADER, type PartialAnswer, type QueryBackend } from '../../common/model/index.js';
import type { Parsed, Query } from './params.js';

export interface QueryApiDeps {
  readonly backend: QueryBackend;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly tenancy: { readonly required: boolean };
  readonly search?: { readonly defaultLimit: number; readonly maxLimit: number };
}

/** Defaults live here only (STYLE.md rule 8). */
const DEFAULT_SEARCH_LIMITS = { defaultLimit: 20, maxLimit: 1000 } as const;

export type ApiName = 'tempo' | 'jaeger';

export interface ErrorRenderer {
  (reply: FastifyReply, status: number, message: string): FastifyReply;
}

export interface ApiContext {
  readonly deps: QueryApiDeps;
  readonly limits: { readonly defaultLimit: number; readonly maxLimit: number };
  /** The request's tenant; throws SkeinError (401 missing when required, 400 malformed). */
  tenantOf(request: FastifyRequest): string;
}

/** Unwraps a parse result, turning a failure into a 400 that carries the parser's message. */
export function need<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw new SkeinError('INVALID_ARGUMENT', parsed.message);
  return parsed.value;
}

export function queryOf(request: FastifyRequest): Query {
  return (request.query ?? {}) as Query;
}

const INTERNAL_MESSAGE = 'internal error; the querier log has the details';

/** Status and client-safe message for anything a handler threw. */
function describeError(error: unknown): { status: number; message: string; retryAfterSeconds?: number } {
  if (isSkeinError(error)) {
    const status = error.httpStatus;
    // INTERNAL messages may name files or peers; those stay in the log.
    const message = error.code === 'INTERNAL' ? INTERNAL_MESSAGE : error.message;
    return error.retryAfterSeconds === undefined ? { status, message } : { status, message, retryAfterSeconds: error.retryAfterSeconds };
  }
  const statusCode = (error as Partial<FastifyError> | null)?.statusCode;
  // Fastify's own client errors (bad URL encoding, unsupported content type, body too large).
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return { status: statusCode, message: (error as Error).message };
  }
  return { status: 500, message: INTERNAL_MESSAGE };
}

/**
 * Creates a fastify instance with the shared plumbing; the caller adds its routes. Not listening:
 * the composition root decides where (STYLE.md: buildApp(deps) apart from listen).
 */
export function createApiApp(deps: QueryApiDeps, api: ApiName, renderError: ErrorRenderer): { app: FastifyInstance; ctx: ApiContext } {
  const logger = deps.logger.child({ api: `${api}-query` });
  const app = fastify({
    loggerInstance: logger,
    // Per-request info lines would drown the log under Grafana's polling; completed requests are
    // logged at debug below and counted in metrics.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true },
    return503OnClosing: true,
    // Errors raised before routing (undecodable URL) get the family's error body too.
    frameworkErrors: (error, _request, reply) => {
      void renderError(reply, error.statusCode !== undefined && error.statusCode < 500 ? error.statusCode : 400, error.message);
    },
  }) as unknown as FastifyInstance;

  const requests = counter(deps.registry, 'skein_querier_requests_total', 'Query API requests by API family, route and HTTP status.', [
    'api',
    'route',
    'status',
  ]);
  const durations = histogram(deps.registry, 'skein_querier_request_duration_seconds', 'Query API request latency by API family and route.', [
    'api',
    'route',
  ]);

  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
  });

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the URL, keeps label cardinality bounded.
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ api, route, status: String(reply.statusCode) });
    durations.observe({ api, route }, reply.elapsedTime / 1000);
    request.log.debug({ method: request.method, route, status: reply.statusCode, ms: reply.elapsedTime }, 'request completed');
  });

  app.setErrorHandler((error, request, reply) => {
    const d = describeError(error);
    if (d.status >= 500) request.log.error({ err: error, url: request.url }, 'query request failed');
    else request.log.debug({ status: d.status, msg: d.message, url: request.url }, 'query request rejected');
    if (d.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.ceil(d.retryAfterSeconds)));
    return renderError(reply, d.status, d.message);
  });

  app.setNotFoundHandler((request, reply) => {
    return renderError(reply, 404, `404 page not found: no route for ${request.method} ${request.url.split('?')[0] ?? ''}`);
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await deps.registry.metrics();
    return reply.type(deps.registry.contentType).send(body);
  });

  const ctx: ApiContext = {
    deps,
    limits: deps.search ?? DEFAULT_SEARCH_LIMITS,
    tenantOf(request) {
      const outcome = resolveTenant(request.headers[TENANT_HEADER], deps.tenancy.required);
      if (outcome.ok) return outcome.tenant;
      // Missing is an authentication problem (401); a malformed ID is a bad request (400).
      throw new SkeinError(outcome.reason === 'missing' ? 'TENANT_REQUIRED' : 'INVALID_ARGUMENT', outcome.message);
    },
  };
  return { app, ctx };
}

/** Response header naming why an answer is partial (both API families; absent on complete answers). */
export const PARTIAL_HEADER = 'x-skein-partial';
/** Header values are kept short: proxies commonly refuse headers beyond 4–8 KiB. */
const MAX_PARTIAL_HEADER_CHARS = 1024;

/**
 * The reasons as one header value, joined by '; '. Reasons quote member error messages, so
 * anything outside printable ASCII (which Node refuses in headers, and which could split a header)
 * becomes '?'; long lists are cut with '...'.
 */
export function partialHeaderValue(partial: PartialAnswer): string {
  const text = partial.reasons.join('; ').replace(/[^\x20-\x7e]/g, '?');
  return text.length <= MAX_PARTIAL_HEADER_CHARS ? text : text.slice(0, MAX_PARTIAL_HEADER_CHARS - 3) + '...';
}

/** Sets the partial header when the answer is partial. */
export function markPartial(reply: FastifyReply, partial: PartialAnswer | undefined): void {
  if (partial !== undefined && partial.reasons.length > 0) reply.header(PARTIAL_HEADER, partialHeaderValue(partial));
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
