import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { InstrumentationScope, Resource, ResourceSpans, Span, SpanGroup } from '../model/index.js';
import {
  decodeExportRequest,
  decodeExportResponse,
  encodeExportResponse,
  encodeResource,
  encodeScope,
  encodeSpan,
  encodeTracesData,
  groupsToResourceSpans,
  scanExportRequest,
} from './index.js';
import { resourceArb, scopeArb, spanArb, text } from './testing/arbitraries.js';
import { ref, referenceDecode } from './testing/reference.js';

interface ModelGroup {
  resource: Resource;
  resourceSchemaUrl: string;
  scope: InstrumentationScope;
  scopeSchemaUrl: string;
  spans: Span[];
}

/** Independent statement of the merge rule over the model: same encoded bytes + schema → one entry. */
function expectedMerge(groups: ModelGroup[]): ResourceSpans[] {
  const out: { key: string; rs: { resource: Resource; schemaUrl: string; scopeSpans: { key: string; scope: InstrumentationScope; schemaUrl: string; spans: Span[] }[] } }[] = [];
  for (const g of groups) {
    const rKey = `${g.resourceSchemaUrl}|${Buffer.from(encodeResource(g.resource)).toString('hex')}`;
    let r = out.find((x) => x.key === rKey);
    if (!r) {
      r = { key: rKey, rs: { resource: g.resource, schemaUrl: g.resourceSchemaUrl, scopeSpans: [] } };
      out.push(r);
    }
    const sKey = `${g.scopeSchemaUrl}|${Buffer.from(encodeScope(g.scope)).toString('hex')}`;
    let s = r.rs.scopeSpans.find((x) => x.key === sKey);
    if (!s) {
      s = { key: sKey, scope: g.scope, schemaUrl: g.scopeSchemaUrl, spans: [] };
      r.rs.scopeSpans.push(s);
    }
    s.spans.push(...g.spans);
  }
  return out.map(({ rs }) => ({
    resource: rs.resource,
    schemaUrl: rs.schemaUrl,
    scopeSpans: rs.scopeSpans.map(({ scope, schemaUrl, spans }) => ({ scope, schemaUrl, spans })),
  }));
}

function toSpanGroup(g: ModelGroup): SpanGroup {
  return {
    resource: encodeResource(g.resource),
    resourceSchemaUrl: g.resourceSchemaUrl,
    scope: encodeScope(g.scope),
    scopeSchemaUrl: g.scopeSchemaUrl,
    spans: g.spans.map(encodeSpan),
  };
}

// Small pools so that generated groups often share a resource or scope and must be merged.
const groupsArb = fc
  .record({
    resources: fc.array(resourceArb, { minLength: 1, maxLength: 3 }),
    scopes: fc.array(scopeArb, { minLength: 1, maxLength: 3 }),
    urls: fc.array(text, { minLength: 1, maxLength: 2 }),
  })
  .chain(({ resources, scopes, urls }) =>
    fc.array(
      fc.record({
        resource: fc.constantFrom(...resources),
        resourceSchemaUrl: fc.constantFrom(...urls),
        scope: fc.constantFrom(...scopes),
        scopeSchemaUrl: fc.constantFrom(...urls),
        spans: fc.array(spanArb, { maxLength: 3 }),
      }),
      { maxLength: 6 },
    ),
  );

describe('encodeTracesData / groupsToResourceSpans (property)', () => {
  it('merges identical resource+schema and scope+schema, keeping order, without decoding spans', () => {
    fc.assert(
      fc.property(groupsArb, (groups) => {
        const spanGroups = groups.map(toSpanGroup);
        const expected = expectedMerge(groups);
        const bytes = encodeTracesData(spanGroups);
        expect(referenceDecode(bytes)).toEqual(expected);
        expect(decodeExportRequest(bytes)).toEqual(expected);
        expect(groupsToResourceSpans(spanGroups)).toEqual(expected);
        // Span bytes are carried verbatim.
        const scanned = scanExportRequest(bytes).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
        expect(scanned.map((b) => Buffer.from(b).toString('hex'))).toEqual(
          expectedMerge(groups).flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((sp) => Buffer.from(encodeSpan(sp)).toString('hex')))),
        );
      }),
      { numRuns: 150 },
    );
  });

  it('does not merge groups whose resources differ only in schema URL', () => {
    const resource = encodeResource({ attributes: [{ key: 'service.name', value: { kind: 'string', value: 'a' } }], droppedAttributesCount: 0 });
    const g = (url: string): SpanGroup => ({ resource, resourceSchemaUrl: url, scope: new Uint8Array(0), scopeSchemaUrl: '', spans: [Uint8Array.from([0x2a, 0x01, 0x78])] });
    expect(scanExportRequest(encodeTracesData([g('u1'), g('u2'), g('u1')])).resourceSpans.map((r) => [r.schemaUrl, r.scopeSpans[0]!.spans.length])).toEqual([
      ['u1', 2],
      ['u2', 1],
    ]);
  });

  it('encodes no groups as the empty message', () => {
    expect(encodeTracesData([])).toEqual(new Uint8Array(0));
  });
});

describe('ExportTraceServiceResponse', () => {
  it('encodes full success as the empty message', () => {
    expect(encodeExportResponse({ rejectedSpans: 0, errorMessage: '' })).toEqual(new Uint8Array(0));
    expect(decodeExportResponse(new Uint8Array(0))).toEqual({ rejectedSpans: 0, errorMessage: '' });
  });

  it.each([
    { rejectedSpans: 3, errorMessage: 'span 2: trace ID must be exactly 16 bytes' },
    { rejectedSpans: 0, errorMessage: 'warning: clock skew' },
    { rejectedSpans: 2 ** 40, errorMessage: '' },
    { rejectedSpans: 1, errorMessage: 'ünïcode ☃' },
  ])('round-trips $rejectedSpans / "$errorMessage" and agrees with the reference', (r) => {
    const bytes = encodeExportResponse(r);
    expect(decodeExportResponse(bytes)).toEqual(r);
    const o = ref.ExportResponse.toObject(ref.ExportResponse.decode(bytes), { longs: Number, defaults: true }) as {
      partialSuccess: { rejectedSpans: number; errorMessage: string };
    };
    expect(o.partialSuccess).toEqual(r);
    // And decodes what the reference writes.
    const refBytes = ref.ExportResponse.encode(ref.ExportResponse.fromObject({ partialSuccess: r })).finish();
    expect(decodeExportResponse(refBytes)).toEqual(r);
  });

  it('rejects malformed bytes with BAD_PAYLOAD', () => {
    expect(() => decodeExportResponse(Uint8Array.from([0x0a, 0x05, 0x08]))).toThrow(/runs past the end/);
  });
});
