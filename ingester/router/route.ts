// Validation and routing of one export request: every span is checked at the edge (DESIGN.md §6.1)
// and grouped by shard (§6.2) without decoding more than its IDs, times and attribute count. Valid
// spans of a request are kept even when others in it are rejected (OTLP partial success).
import { createSpanFields, readSpanFields, validateSpan, describeRejectReason, type ScannedRequest, type SpanLimits, type RejectReason } from '../../common/otlp/index.js';
import type { ShardFunction } from '../../common/shard/index.js';
import type { SpanBatch, SpanGroup } from '../../common/model/index.js';

export interface RouteResult {
  /** Index = shard; undefined where the request has no span for that shard. */
  readonly batches: (SpanBatch | undefined)[];
  readonly accepted: number;
  readonly rejected: number;
  readonly rejectedByReason: ReadonlyMap<RejectReason, number>;
  /** Human summary for OTLP partial_success.error_message ('' when nothing was rejected). */
  readonly message: string;
}

export interface Router {
  route(tenant: string, request: ScannedRequest): RouteResult;
}

export interface RouterOptions {
  readonly shards: ShardFunction;
  readonly shardCount: number;
  readonly limits: SpanLimits;
}

interface MutableGroup {
  resource: Uint8Array;
  resourceSchemaUrl: string;
  scope: Uint8Array;
  scopeSchemaUrl: string;
  spans: Uint8Array[];
}

export function createRouter(options: RouterOptions): Router {
  const { shards, shardCount, limits } = options;
  const fields = createSpanFields();
  return {
    route(tenant, request) {
      const groupsByShard: (MutableGroup[] | undefined)[] = new Array<MutableGroup[] | undefined>(shardCount);
      const rejectedByReason = new Map<RejectReason, number>();
      let accepted = 0;
      let rejected = 0;
      const examples: string[] = [];
      for (const rs of request.resourceSpans) {
        for (const ss of rs.scopeSpans) {
          // Spans of one trace usually arrive together: remember the last trace's shard.
          let lastSpan: Uint8Array | undefined;
          let lastOffset = -1;
          let lastShard = -1;
          // Per-shard group for this (resource, scope), created on first use.
          const current: (MutableGroup | undefined)[] = new Array<MutableGroup | undefined>(shardCount);
          for (const span of ss.spans) {
            const ok = readSpanFields(span, fields);
            const reason: RejectReason | null = ok ? validateSpan(span, fields, limits) : 'malformed_span';
            if (reason !== null) {
              rejected++;
              rejectedByReason.set(reason, (rejectedByReason.get(reason) ?? 0) + 1);
              if (examples.length < 3) examples.push(describeRejectReason(reason));
              continue;
            }
            let shard: number;
            if (lastSpan !== undefined && sameTraceId(lastSpan, lastOffset, span, fields.traceIdOffset)) {
              shard = lastShard;
            } else {
              shard = shardCount === 1 ? 0 : shards.shardOf(tenant, span, fields.traceIdOffset, shardCount);
              lastSpan = span;
              lastOffset = fields.traceIdOffset;
              lastShard = shard;
            }
            let group = current[shard];
            if (group === undefined) {
              group = { resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, spans: [] };
              current[shard] = group;
              (groupsByShard[shard] ??= []).push(group);
            }
            group.spans.push(span);
            accepted++;
          }
        }
      }
      const batches: (SpanBatch | undefined)[] = groupsByShard.map((groups) => (groups === undefined ? undefined : { tenant, groups: groups as SpanGroup[] }));
      let message = '';
      if (rejected > 0) {
        const parts = [...rejectedByReason].map(([r, n]) => `${n} ${r}`).join(', ');
        message = `rejected ${rejected} of ${accepted + rejected} spans (${parts}); e.g. ${examples.join('; ')}`;
      }
      return { batches, accepted, rejected, rejectedByReason, message };
    },
  };
}

function sameTraceId(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}
