// Grafana Tempo-compatible query API (served on 3200). Shapes follow Tempo's HTTP API docs and
// tempopb; what Grafana's Tempo data source needs is the contract (see README.md in this folder).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SkeinError } from '../../common/errors/index.js';
import { parseTraceIdHex, type TagFilter, type TraceResult } from '../../common/model/index.js';
import { encodeTracesData, groupsToResourceSpans, toOtlpJson } from '../../common/otlp/index.js';
import { createApiApp, markPartial, need, queryOf, type ApiContext, type QueryApiDeps } from './app-common.js';
import { boundsParam, durationParam, limitParam, parseLogfmtTags, single, unixSecondsParam, type Query } from './params.js';
import {
  filterTagNames,
  parseTagScope,
  toScopedTags,
  toTempoSearchResponse,
  traceqlTagLookup,
  wrapTraceByIdResponse,
  type TagScope,
} from './tempo-model.js';

const PROTOBUF = 'application/protobuf';

/** Tempo answers errors as plain text (Go's http.Error); so do we. */
function renderTempoError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('text/plain; charset=utf-8').send(message);
}

/**
 * True when the client prefers protobuf: the first media range with q > 0 is
 * application/protobuf (or the older application/x-protobuf). Grafana sends exactly
 * `Accept: application/protobuf`.
 */
export function wantsProtobuf(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (type === undefined || type === '') continue;
    if (params.some((p) => /^q=0(\.0*)?$/.test(p))) continue;
    return type === PROTOBUF || type === 'application/x-protobuf';
  }
  return false;
}

function traceIdParam(raw: string): Uint8Array {
  const id = parseTraceIdHex(raw);
  if (id === undefined) {
    throw new SkeinError(
      'INVALID_ARGUMENT',
      `trace ID '${raw.length > 64 ? raw.slice(0, 64) + '…' : raw}' is not valid; send 1–32 hex characters (not all zeros), e.g. /api/traces/4bf92f3577b34da6a3ce929d0e0e4736`,
    );
  }
  return id;
}

/** Tempo accepts start/end on trace-by-ID to narrow block search; heads hold everything, so they are checked and ignored. */
function checkTimeRange(query: Query): void {
  need(boundsParam(query, 'start', 'end', unixSecondsParam));
}

async function findTrace(ctx: ApiContext, request: FastifyRequest<{ Params: { traceId: string } }>): Promise<TraceResult> {
  const tenant = ctx.tenantOf(request);
  const id = traceIdParam(request.params.traceId);
  checkTimeRange(queryOf(request));
  const result = await ctx.deps.backend.findTrace(tenant, id);
  if (result === null || result.groups.every((g) => g.spans.length === 0)) {
    throw new SkeinError('NOT_FOUND', 'trace not found');
  }
  return result;
}

/** A TraceQL query that selects every trace: what Grafana's search builder sends before any filter is set. */
function isMatchAllTraceQL(q: string): boolean {
  return /^\{\s*(true\s*)?\}$/.test(q.trim());
}

function parseSearchTags(query: Query): TagFilter[] {
  const q = need(single(query, 'q'));
  if (q !== undefined && !isMatchAllTraceQL(q)) {
    throw new SkeinError(
      'INVALID_ARGUMENT',
      `parameter 'q': TraceQL is not supported yet; use tags= with logfmt key=value pairs instead, e.g. tags=service.name=api http.status_code=500`,
    );
  }
  const tags = need(single(query, 'tags'));
  return tags === undefined ? [] : need(parseLogfmtTags(tags, 'tags'));
}

function scopeParam(query: Query): TagScope | 'all' | 'none' {
  const raw = need(single(query, 'scope'));
  // Valid Tempo scopes we keep nothing for: answer empty rather than 400.
  if (raw === 'event' || raw === 'link' || raw === 'instrumentation') return 'none';
  const scope = parseTagScope(raw);
  if (scope === undefined) {
    throw new SkeinError('INVALID_ARGUMENT', `parameter 'scope': '${raw ?? ''}' is not a scope; send resource, span, intrinsic or all`);
  }
  return scope;
}

export function buildTempoApp(deps: QueryApiDeps): FastifyInstance {
  const { app, ctx } = createApiApp(deps, 'tempo', renderTempoError);
  const backend = deps.backend;

  app.get('/ready', async (_request, reply) => {
    if (backend.ready()) return reply.type('text/plain; charset=utf-8').send('ready');
    return reply.code(503).type('text/plain; charset=utf-8').send('not ready: the query backend cannot answer yet (replaying its log, or no ingesters registered)');
  });

  app.get('/api/echo', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('echo'));

  app.get<{ Params: { traceId: string } }>('/api/traces/:traceId', async (request, reply) => {
    const { groups, partial } = await findTrace(ctx, request);
    // tempopb.Trace has no room for a status, so v1 says "partial" only in the header.
    markPartial(reply, partial);
    if (wantsProtobuf(request.headers.accept)) {
      // tempopb.Trace: field 1 repeated ResourceSpans — byte-identical to OTLP TracesData.
      return reply.type(PROTOBUF).send(Buffer.from(encodeTracesData(groups)));
    }
    // Tempo's v1 JSON calls the list `batches`; OTLP JSON (and the issue that asked for this API)
    // calls it `resourceSpans`. Both keys are sent, serialized once, so either kind of client reads it.
    const list = JSON.stringify(toOtlpJson(groupsToResourceSpans(groups)).resourceSpans);
    return reply.type('application/json; charset=utf-8').send(`{"batches":${list},"resourceSpans":${list}}`);
  });

  app.get<{ Params: { traceId: string } }>('/api/v2/traces/:traceId', async (request, reply) => {
    const { groups, partial } = await findTrace(ctx, request);
    markPartial(reply, partial);
    const message = partial === undefined ? undefined : partial.reasons.join('; ');
    if (wantsProtobuf(request.headers.accept)) {
      // tempopb.TraceByIDResponse — what Grafana decodes from this route; PARTIAL status + message when partial.
      return reply.type(PROTOBUF).send(Buffer.from(wrapTraceByIdResponse(encodeTracesData(groups), message)));
    }
    // Status COMPLETE is the proto3 default, which Tempo's JSON omits; a partial answer carries
    // `"status":"PARTIAL"` and a message, as Tempo's own partial answers do.
    const trace = toOtlpJson(groupsToResourceSpans(groups));
    return reply.type('application/json; charset=utf-8').send(message === undefined ? { trace } : { trace, status: 'PARTIAL', message });
  });

  app.get('/api/search', async (request, reply) => {
    const tenant = ctx.tenantOf(request);
    const query = queryOf(request);
    const tags = parseSearchTags(query);
    const { min: minDurationNs, max: maxDurationNs } = need(boundsParam(query, 'minDuration', 'maxDuration', durationParam));
    const { min: startNs, max: endNs } = need(boundsParam(query, 'start', 'end', unixSecondsParam));
    const limit = need(limitParam(query, 'limit', ctx.limits));
    const result = await backend.search(tenant, {
      tags,
      limit,
      ...(minDurationNs === undefined ? {} : { minDurationNs }),
      ...(maxDurationNs === undefined ? {} : { maxDurationNs }),
      ...(startNs === undefined ? {} : { startNs }),
      ...(endNs === undefined ? {} : { endNs }),
    });
    markPartial(reply, result.partial);
    return toTempoSearchResponse(result);
  });

  app.get('/api/search/tags', async (request) => {
    const tenant = ctx.tenantOf(request);
    const scope = scopeParam(queryOf(request));
    if (scope === 'none') return { tagNames: [] };
    return { tagNames: filterTagNames(await backend.tagNames(tenant), scope) };
  });

  app.get('/api/v2/search/tags', async (request) => {
    const tenant = ctx.tenantOf(request);
    const scope = scopeParam(queryOf(request));
    if (scope === 'none') return { scopes: [] };
    return toScopedTags(await backend.tagNames(tenant), scope);
  });

  app.get<{ Params: { tag: string } }>('/api/search/tag/:tag/values', async (request) => {
    const tenant = ctx.tenantOf(request);
    return { tagValues: await backend.tagValues(tenant, request.params.tag) };
  });

  app.get<{ Params: { tag: string } }>('/api/v2/search/tag/:tag/values', async (request) => {
    const tenant = ctx.tenantOf(request);
    const lookup = traceqlTagLookup(request.params.tag);
    const values = lookup.tag === null ? [] : await backend.tagValues(tenant, lookup.tag);
    return { tagValues: values.map((value) => ({ type: lookup.type, value })) };
  });

  return app;
}
