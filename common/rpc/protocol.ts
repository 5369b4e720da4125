// Method paths and metadata names of the internal service; request/response bodies: Forward takes
// OTLP ExportTraceServiceRequest bytes and answers an empty message; FindTrace answers OTLP
// TracesData bytes (zero bytes = not found); the other queries take and answer JSON.
import { SkeinError } from '../errors/index.js';
import type { SearchRequest, SpanGroup } from '../model/index.js';
import { scanExportRequest } from '../otlp/index.js';

export const INGESTER_SERVICE = 'skein.internal.v1.Ingester';

export const RPC_PATHS = {
  forward: `/${INGESTER_SERVICE}/Forward`,
  findTrace: `/${INGESTER_SERVICE}/FindTrace`,
  search: `/${INGESTER_SERVICE}/Search`,
  tagNames: `/${INGESTER_SERVICE}/TagNames`,
  tagValues: `/${INGESTER_SERVICE}/TagValues`,
  services: `/${INGESTER_SERVICE}/Services`,
  operations: `/${INGESTER_SERVICE}/Operations`,
} as const;

export const FORWARD_METADATA = {
  shard: 'skein-shard',
  partitionVersion: 'skein-partition-version',
  from: 'skein-from',
  /** Trailer of a NOT_OWNER answer: `member@address` of the owner as the answering member sees it. */
  owner: 'skein-owner',
} as const;

/** Trailer of FindTrace and Search answers: the answer's `flushedRevision` (decimal), when set. */
export const FLUSHED_REVISION_TRAILER = 'skein-flushed-revision';

export interface ForwardRequest {
  readonly tenant: string;
  readonly shard: number;
  readonly partitionVersion: number;
  /** Member ID of the sender (logs, metrics). */
  readonly from: string;
  /** OTLP ExportTraceServiceRequest bytes holding spans of one shard. */
  readonly body: Uint8Array;
}

/** JSON bodies of the query methods. */
export type QueryRequest =
  | { readonly method: 'findTrace'; readonly tenant: string; readonly traceId: string }
  | { readonly method: 'search'; readonly tenant: string; readonly request: SearchRequest }
  | { readonly method: 'tagNames'; readonly tenant: string }
  | { readonly method: 'tagValues'; readonly tenant: string; readonly tag: string }
  | { readonly method: 'services'; readonly tenant: string }
  | { readonly method: 'operations'; readonly tenant: string; readonly service: string };

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

export const encodeJson = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

export function decodeJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw new SkeinError('BAD_PAYLOAD', `${what}: body is not JSON: ${(e as Error).message}`);
  }
}

/** TracesData bytes (as FindTrace answers) → span groups; the bytes must outlive the groups (views). */
export function groupsFromTracesData(bytes: Uint8Array): SpanGroup[] {
  const groups: SpanGroup[] = [];
  for (const rs of scanExportRequest(bytes).resourceSpans)
    for (const ss of rs.scopeSpans)
      if (ss.spans.length > 0) groups.push({ resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, spans: ss.spans });
  return groups;
}
