// SpanGroup[] (spans kept as encoded bytes, see common/model) → TracesData bytes or decoded
// ResourceSpans. Query answers are assembled from stored span bytes without decoding them:
// TracesData, ExportTraceServiceRequest and Tempo's tempopb.Trace all carry ResourceSpans as field
// 1, so the same bytes serve all three.
import type { ResourceSpans, ScopeSpans, SpanGroup } from '../model/index.js';
import { decodeResource, decodeScope, decodeSpan } from './decode.js';
import { utf8Length, writeUtf8 } from './encode.js';
import { WireType, varintSize, writeVarintInto } from './wire.js';

interface MergedScope {
  readonly scope: Uint8Array;
  readonly schemaUrl: string;
  readonly spans: Uint8Array[];
}

interface MergedResource {
  readonly resource: Uint8Array;
  readonly schemaUrl: string;
  readonly scopes: MergedScope[];
  readonly scopeIndex: Map<string, MergedScope>;
}

/** Identity of (bytes, schema URL) as a string key; latin1 maps each byte to one char, injectively. */
function keyOf(bytes: Uint8Array, schemaUrl: string): string {
  return `${schemaUrl}\u0000${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')}`;
}

/**
 * Merges groups whose resource bytes and schema URL are identical, and within them groups whose
 * scope bytes and schema URL are identical, keeping first-seen order throughout.
 */
function mergeGroups(groups: readonly SpanGroup[]): MergedResource[] {
  const resources: MergedResource[] = [];
  const index = new Map<string, MergedResource>();
  for (const g of groups) {
    const rKey = keyOf(g.resource, g.resourceSchemaUrl);
    let r = index.get(rKey);
    if (r === undefined) {
      r = { resource: g.resource, schemaUrl: g.resourceSchemaUrl, scopes: [], scopeIndex: new Map() };
      index.set(rKey, r);
      resources.push(r);
    }
    const sKey = keyOf(g.scope, g.scopeSchemaUrl);
    let s = r.scopeIndex.get(sKey);
    if (s === undefined) {
      s = { scope: g.scope, schemaUrl: g.scopeSchemaUrl, spans: [] };
      r.scopeIndex.set(sKey, s);
      r.scopes.push(s);
    }
    for (const span of g.spans) s.spans.push(span);
  }
  return resources;
}

function lenFieldSize(payload: number): number {
  return 1 + varintSize(payload) + payload; // every tag used here is a single byte
}

function stringFieldSize(s: string): number {
  return s.length === 0 ? 0 : lenFieldSize(utf8Length(s));
}

/**
 * TracesData bytes holding every span of `groups`, span bytes copied verbatim. Sizes are computed
 * first so the output is written once into an exactly-sized buffer.
 */
export function encodeTracesData(groups: readonly SpanGroup[]): Uint8Array {
  const merged = mergeGroups(groups);
  const rsSizes: number[] = [];
  const ssSizes: number[] = [];
  let total = 0;
  for (const r of merged) {
    let rsSize = r.resource.length > 0 ? lenFieldSize(r.resource.length) : 0;
    for (const s of r.scopes) {
      let ssSize = s.scope.length > 0 ? lenFieldSize(s.scope.length) : 0;
      for (const span of s.spans) ssSize += lenFieldSize(span.length);
      ssSize += stringFieldSize(s.schemaUrl);
      ssSizes.push(ssSize);
      rsSize += lenFieldSize(ssSize);
    }
    rsSize += stringFieldSize(r.schemaUrl);
    rsSizes.push(rsSize);
    total += lenFieldSize(rsSize);
  }

  const out = new Uint8Array(total);
  let pos = 0;
  const tagLen = (field: number): void => {
    out[pos++] = (field << 3) | WireType.LEN;
  };
  const bytes = (field: number, b: Uint8Array): void => {
    tagLen(field);
    pos = writeVarintInto(out, pos, b.length);
    out.set(b, pos);
    pos += b.length;
  };
  const str = (field: number, s: string): void => {
    if (s.length === 0) return;
    tagLen(field);
    pos = writeVarintInto(out, pos, utf8Length(s));
    pos = writeUtf8(out, pos, s);
  };
  let ri = 0;
  let si = 0;
  for (const r of merged) {
    tagLen(1);
    pos = writeVarintInto(out, pos, rsSizes[ri++]!);
    if (r.resource.length > 0) bytes(1, r.resource);
    for (const s of r.scopes) {
      tagLen(2);
      pos = writeVarintInto(out, pos, ssSizes[si++]!);
      if (s.scope.length > 0) bytes(1, s.scope);
      for (const span of s.spans) bytes(2, span);
      str(3, s.schemaUrl);
    }
    str(3, r.schemaUrl);
  }
  return out;
}

/** Decodes `groups` into the model, with the same merging as encodeTracesData. Throws BAD_PAYLOAD. */
export function groupsToResourceSpans(groups: readonly SpanGroup[]): ResourceSpans[] {
  return mergeGroups(groups).map((r) => ({
    resource: decodeResource(r.resource),
    schemaUrl: r.schemaUrl,
    scopeSpans: r.scopes.map(
      (s): ScopeSpans => ({
        scope: decodeScope(s.scope),
        schemaUrl: s.schemaUrl,
        spans: s.spans.map(decodeSpan),
      }),
    ),
  }));
}
