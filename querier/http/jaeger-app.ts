// Jaeger-compatible query API (served on 16686): the JSON API of Jaeger's query service that the
// Jaeger UI calls. Every answer is Jaeger's envelope {data, total, limit, offset, errors}.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { SkeinError } from '../../common/errors/index.js';
import { parseTraceIdHex, type PartialAnswer, type TagFilter } from '../../common/model/index.js';
import type { ResourceSpans } from '../../common/model/index.js';
import { groupsToResourceSpans } from '../../common/otlp/index.js';
import { createApiApp, mapBounded, markPartial, need, queryOf, type ApiContext, type QueryApiDeps } from './app-common.js';
import { computeDependencies, jaegerSpanKindName, toJaegerTrace, type JaegerTrace } from './jaeger-model.js';
import {
  boundsParam,
  durationParam,
  integerParam,
  limitParam,
  multi,
  parseJaegerTags,
  single,
  unixMicrosParam,
  unixMillisParam,
  type Query,
} from './params.js';

export interface JaegerError {
  readonly code: number;
  readonly msg: string;
  readonly traceID?: string;
}

export interface JaegerEnvelope<T> {
  readonly data: T;
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
  readonly errors: JaegerError[] | null;
}

export function envelope<T>(data: T, errors: JaegerError[] | null = null): JaegerEnvelope<T> {
  return { data, total: Array.isArray(data) ? data.length : 0, limit: 0, offset: 0, errors };
}

function renderJaegerError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send(envelope(null, [{ code: status, msg: message }]));
}

/** How many traces are fetched at once when a search expands summaries into whole traces. */
const FETCH_CONCURRENCY = 8;
const DEFAULT_DEPENDENCY_LOOKBACK_MS = 24n * 3600n * 1000n;
const SPAN_KINDS = new Set(['server', 'client', 'producer', 'consumer', 'internal']);

function requiredService(query: Query): string {
  const service = need(single(query, 'service'));
  if (service === undefined) throw new SkeinError('INVALID_ARGUMENT', `parameter 'service' is required; send service=<name> (see /api/services)`);
  return service;
}

/**
 * Jaeger tag filters → backend filters. `error=true` is how Jaeger marks failed spans; OTLP says
 * it with the span status, so it becomes the `status` intrinsic. `otel.status_code` (what our
 * conversion shows as a tag) is mapped the same way. Other keys pass through as attributes.
 */
export function toBackendTags(tags: readonly TagFilter[]): TagFilter[] {
  return tags.map((t) => {
    if (t.key === 'error' && t.value.toLowerCase() === 'true') return { key: 'status', value: 'error' };
    if (t.key === 'otel.status_code') return { key: 'status', value: t.value.toLowerCase() };
    return t;
  });
}

interface Fetched {
  readonly rs: readonly ResourceSpans[];
  readonly partial: PartialAnswer | undefined;
}

async function fetchTrace(ctx: ApiContext, tenant: string, id: Uint8Array): Promise<Fetched | null> {
  const result = await ctx.deps.backend.findTrace(tenant, id);
  if (result === null) return null;
  const rs = groupsToResourceSpans(result.groups);
  return rs.some((r) => r.scopeSpans.some((s) => s.spans.length > 0)) ? { rs, partial: result.partial } : null;
}

/**
 * Collects the partial-answer reasons of everything one response was built from. Jaeger has no
 * partial flag; its envelope's errors[] is where a Jaeger client looks for "something went wrong
 * but here is what we have", so each distinct reason becomes one error (code 503: a member was
 * unavailable), without a traceID because it concerns the answer, not one trace.
 */
class PartialReasons {
  readonly #reasons = new Set<string>();

  add(partial: PartialAnswer | undefined): void {
    for (const r of partial?.reasons ?? []) this.#reasons.add(r);
  }

  get answer(): PartialAnswer | undefined {
    return this.#reasons.size === 0 ? undefined : { reasons: [...this.#reasons].sort() };
  }

  errors(): JaegerError[] {
    return [...this.#reasons].sort().map((r) => ({ code: 503, msg: `partial answer: ${r}` }));
  }
}

/** The envelope's errors: per-trace errors first, then the partial-answer reasons; null when none (as Jaeger sends). */
function errorsOf(partial: PartialReasons, perTrace: readonly JaegerError[] = []): JaegerError[] | null {
  const all = [...perTrace, ...partial.errors()];
  return all.length > 0 ? all : null;
}

function traceIdOrThrow(raw: string, param: string): Uint8Array {
  const id = parseTraceIdHex(raw);
  if (id === undefined) {
    throw new SkeinError('INVALID_ARGUMENT', `${param} '${raw.length > 64 ? raw.slice(0, 64) + '…' : raw}' is not a trace ID; send 1–32 hex characters (not all zeros)`);
  }
  return id;
}

export function buildJaegerApp(deps: QueryApiDeps): FastifyInstance {
  const { app, ctx } = createApiApp(deps, 'jaeger', renderJaegerError);
  const backend = deps.backend;

  app.get('/api/services', async (request) => {
    const tenant = ctx.tenantOf(request);
    return envelope(await backend.services(tenant));
  });

  app.get<{ Params: { service: string } }>('/api/services/:service/operations', async (request) => {
    const tenant = ctx.tenantOf(request);
    const ops = await backend.operations(tenant, request.params.service);
    return envelope([...new Set(ops.map((o) => o.name))].sort());
  });

  app.get('/api/operations', async (request) => {
    const tenant = ctx.tenantOf(request);
    const query = queryOf(request);
    const service = requiredService(query);
    const spanKind = need(single(query, 'spanKind'));
    if (spanKind !== undefined && !SPAN_KINDS.has(spanKind)) {
      throw new SkeinError('INVALID_ARGUMENT', `parameter 'spanKind': '${spanKind}' is not a span kind; send server, client, producer, consumer or internal`);
    }
    const ops = (await backend.operations(tenant, service))
      .map((o) => ({ name: o.name, spanKind: jaegerSpanKindName(o.spanKind) }))
      .filter((o) => spanKind === undefined || o.spanKind === spanKind);
    const seen = new Set<string>();
    const unique = ops.filter((o) => {
      const key = `${o.name}\u0000${o.spanKind}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    unique.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.spanKind < b.spanKind ? -1 : a.spanKind > b.spanKind ? 1 : 0));
    return envelope(unique);
  });

  app.get<{ Params: { traceId: string } }>('/api/traces/:traceId', async (request, reply) => {
    const tenant = ctx.tenantOf(request);
    const id = traceIdOrThrow(request.params.traceId, 'trace ID');
    const fetched = await fetchTrace(ctx, tenant, id);
    const trace = fetched === null ? null : toJaegerTrace(fetched.rs);
    if (trace === null) throw new SkeinError('NOT_FOUND', 'trace not found');
    const partial = new PartialReasons();
    partial.add(fetched!.partial);
    markPartial(reply, partial.answer);
    return envelope([trace], errorsOf(partial));
  });

  app.get('/api/traces', async (request, reply) => {
    const tenant = ctx.tenantOf(request);
    const query = queryOf(request);
    const partial = new PartialReasons();

    // Jaeger: traceID= (repeatable) fetches those traces and skips the search.
    const ids = multi(query, 'traceID');
    if (ids.length > 0) {
      const parsed = ids.map((raw) => ({ raw, id: traceIdOrThrow(raw, `parameter 'traceID': value`) }));
      const traces = await mapBounded(parsed, FETCH_CONCURRENCY, async ({ id }) => {
        const fetched = await fetchTrace(ctx, tenant, id);
        partial.add(fetched?.partial);
        return fetched === null ? null : toJaegerTrace(fetched.rs);
      });
      const errors: JaegerError[] = [];
      const found: JaegerTrace[] = [];
      traces.forEach((t, i) => {
        if (t === null) errors.push({ code: 404, msg: 'trace not found', traceID: parsed[i].raw });
        else found.push(t);
      });
      markPartial(reply, partial.answer);
      return envelope(found, errorsOf(partial, errors));
    }

    const service = requiredService(query);
    const operation = need(single(query, 'operation'));
    const tags = toBackendTags(need(parseJaegerTags(query)));
    const { min: minSpanDurationNs, max: maxSpanDurationNs } = need(boundsParam(query, 'minDuration', 'maxDuration', durationParam));
    const { min: startNs, max: endNs } = need(boundsParam(query, 'start', 'end', unixMicrosParam));
    const limit = need(limitParam(query, 'limit', ctx.limits));

    const filters: TagFilter[] = [{ key: 'service.name', value: service }];
    // The Jaeger UI sends operation=all for "any operation" in some versions.
    if (operation !== undefined && operation !== 'all') filters.push({ key: 'name', value: operation });
    filters.push(...tags);

    const result = await backend.search(tenant, {
      tags: filters,
      limit,
      ...(minSpanDurationNs === undefined ? {} : { minSpanDurationNs }),
      ...(maxSpanDurationNs === undefined ? {} : { maxSpanDurationNs }),
      ...(startNs === undefined ? {} : { startNs }),
      ...(endNs === undefined ? {} : { endNs }),
    });
    partial.add(result.partial);
    // A trace found by search can disappear before it is fetched (retention); it is then skipped.
    const traces = await mapBounded(result.traces, FETCH_CONCURRENCY, async (summary) => {
      const id = parseTraceIdHex(summary.traceId);
      const fetched = id === undefined ? null : await fetchTrace(ctx, tenant, id);
      partial.add(fetched?.partial);
      return fetched === null ? null : toJaegerTrace(fetched.rs);
    });
    markPartial(reply, partial.answer);
    return envelope(
      traces.filter((t): t is JaegerTrace => t !== null),
      errorsOf(partial),
    );
  });

  // Dependencies are computed on request from the newest traces in the window (at most the search
  // maxLimit of them): call counts describe that sample, not every call. Stored, precomputed
  // dependency links (as Jaeger's spark job writes) are future work.
  app.get('/api/dependencies', async (request, reply) => {
    const tenant = ctx.tenantOf(request);
    const query = queryOf(request);
    const endNs = need(unixMillisParam(query, 'endTs')) ?? Date.now() * 1_000_000;
    const lookbackMs = need(integerParam(query, 'lookback', 'a number of milliseconds')) ?? DEFAULT_DEPENDENCY_LOOKBACK_MS;
    const startNs = Math.max(0, endNs - Number(lookbackMs * 1_000_000n));
    const result = await backend.search(tenant, { tags: [], startNs, endNs, limit: ctx.limits.maxLimit });
    const partial = new PartialReasons();
    partial.add(result.partial);
    const traces = await mapBounded(result.traces, FETCH_CONCURRENCY, async (summary) => {
      const id = parseTraceIdHex(summary.traceId);
      const fetched = id === undefined ? null : await fetchTrace(ctx, tenant, id);
      partial.add(fetched?.partial);
      return fetched?.rs ?? null;
    });
    markPartial(reply, partial.answer);
    return envelope(computeDependencies(traces.filter((t): t is readonly ResourceSpans[] => t !== null)), errorsOf(partial));
  });

  return app;
}
