// Server side of the internal service: a handler map for common/grpc's native server. It checks
// metadata (tenant, shard, partition version) and bodies, calls the member's forward/query
// handlers, and turns SkeinErrors into gRPC statuses with the catalogue code leading the message
// (`NOT_OWNER: ...`), which the client maps back.
import { SkeinError, toSkeinError } from '../errors/index.js';
import { GrpcCallError, type UnaryHandler } from '../grpc/index.js';
import { encodeTracesData } from '../otlp/index.js';
import { parseTraceIdHex, resolveTenant, TENANT_HEADER, type QueryBackend, type SearchRequest } from '../model/index.js';
import { FLUSHED_REVISION_TRAILER, FORWARD_METADATA, RPC_PATHS, decodeJson, encodeJson, type ForwardRequest } from './protocol.js';
import type { UnaryResponse } from '../grpc/index.js';

/** The body, with the flushed-revision trailer when the answer carries one. */
function withFlushed(body: Uint8Array, flushedRevision: number | undefined): Uint8Array | UnaryResponse {
  return flushedRevision === undefined ? body : { body, trailers: { [FLUSHED_REVISION_TRAILER]: String(flushedRevision) } };
}

/** This member does not own the shard; `ownerHint` (`member@address`) says who does, as far as it knows. */
export class NotOwnerError extends SkeinError {
  constructor(
    message: string,
    readonly ownerHint?: string,
  ) {
    super('NOT_OWNER', message);
    this.name = 'NotOwnerError';
  }
}

export interface IngesterRpcHandlers {
  /** Resolves once the spans are durable and acknowledged at this owner; throws SkeinError (NotOwnerError, UNAVAILABLE, HEAD_FULL, ...) otherwise. */
  forward(request: ForwardRequest): Promise<void>;
  /** The member's local query backend (every head it holds). */
  readonly query: QueryBackend;
}

const EMPTY = new Uint8Array(0);

function header(metadata: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = metadata[name];
  return Array.isArray(v) ? v[0] : v;
}

function nonNegativeInt(text: string | undefined, name: string): number {
  const n = text === undefined || !/^\d{1,9}$/.test(text) ? NaN : Number(text);
  if (!Number.isSafeInteger(n)) throw new SkeinError('INVALID_ARGUMENT', `metadata ${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return n;
}

function tenantOf(value: unknown): string {
  const r = resolveTenant(typeof value === 'string' ? value : undefined, true);
  if (!r.ok) throw new SkeinError('INVALID_ARGUMENT', `tenant: ${r.message}`);
  return r.tenant;
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

function stringField(body: unknown, name: string): string {
  const v = field(body, name);
  if (typeof v !== 'string') throw new SkeinError('INVALID_ARGUMENT', `request field ${name} must be a string`);
  return v;
}

function toGrpcError(e: unknown): GrpcCallError {
  const err = toSkeinError(e);
  const trailers = err instanceof NotOwnerError && err.ownerHint !== undefined ? { [FORWARD_METADATA.owner]: err.ownerHint } : undefined;
  return new GrpcCallError(err.grpcStatus, `${err.code}: ${err.message}`, undefined, trailers);
}

function wrap(fn: UnaryHandler): UnaryHandler {
  return async (request, metadata) => {
    try {
      return await fn(request, metadata);
    } catch (e) {
      throw toGrpcError(e);
    }
  };
}

export function buildIngesterRpcHandlers(handlers: IngesterRpcHandlers): Map<string, UnaryHandler> {
  const q = handlers.query;
  const json = (what: string, answer: (body: unknown, tenant: string) => Promise<unknown>): UnaryHandler =>
    wrap(async (request) => {
      const body = decodeJson(request, what);
      return encodeJson(await answer(body, tenantOf(field(body, 'tenant'))));
    });
  return new Map<string, UnaryHandler>([
    [
      RPC_PATHS.forward,
      wrap(async (request, metadata) => {
        const tenant = tenantOf(header(metadata, TENANT_HEADER));
        const shard = nonNegativeInt(header(metadata, FORWARD_METADATA.shard), FORWARD_METADATA.shard);
        const partitionVersion = nonNegativeInt(header(metadata, FORWARD_METADATA.partitionVersion), FORWARD_METADATA.partitionVersion);
        const from = header(metadata, FORWARD_METADATA.from) ?? '';
        await handlers.forward({ tenant, shard, partitionVersion, from, body: request });
        return EMPTY;
      }),
    ],
    [
      RPC_PATHS.findTrace,
      wrap(async (request) => {
        const body = decodeJson(request, 'FindTrace');
        const tenant = tenantOf(field(body, 'tenant'));
        const traceId = parseTraceIdHex(stringField(body, 'traceId'));
        if (traceId === undefined) throw new SkeinError('INVALID_ARGUMENT', 'traceId must be 1-32 hex characters, not all zero');
        const found = await q.findTrace(tenant, traceId);
        return withFlushed(found === null || found.groups.length === 0 ? EMPTY : encodeTracesData(found.groups), found?.flushedRevision);
      }),
    ],
    [
      RPC_PATHS.search,
      wrap(async (request) => {
        const body = decodeJson(request, 'Search');
        const tenant = tenantOf(field(body, 'tenant'));
        const search = field(body, 'request');
        if (typeof search !== 'object' || search === null) throw new SkeinError('INVALID_ARGUMENT', 'request field request must be an object');
        const r = await q.search(tenant, search as SearchRequest);
        return withFlushed(encodeJson({ traces: r.traces, inspectedTraces: r.inspectedTraces }), r.flushedRevision);
      }),
    ],
    [RPC_PATHS.tagNames, json('TagNames', (_body, tenant) => q.tagNames(tenant))],
    [RPC_PATHS.tagValues, json('TagValues', (body, tenant) => q.tagValues(tenant, stringField(body, 'tag')))],
    [RPC_PATHS.services, json('Services', (_body, tenant) => q.services(tenant))],
    [RPC_PATHS.operations, json('Operations', (body, tenant) => q.operations(tenant, stringField(body, 'service')))],
  ]);
}
