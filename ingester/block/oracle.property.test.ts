// The strongest oracle there is for a block: a ShardHead loaded with the same batches. Whatever the
// spans, duplicates, batching and page/dictionary sizes, the block must give back every span
// byte-identical, find every trace with exactly its (deduplicated) spans, and answer search, tags,
// services and operations exactly as the head does.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SearchRequest, SpanBatch, TagFilter } from '../../common/model/index.js';
import { anyValueToString } from '../../common/otlp/index.js';
import { createShardHead } from '../head/index.js';
import { group, span, spanId, toAnyValue, traceId, type AttrInput } from '../head/testing/index.js';
import { createPageCache, type BuildBlockOptions } from './index.js';
import { buildAndOpen, canonicalSpans, FIXTURE_NAMES as NAMES, FIXTURE_RESOURCE_ATTRS as RESOURCE_ATTRS, FIXTURE_SERVICES as SERVICES } from './testing/index.js';

const BASE = 1_700_000_000_000_000_000n;
const TENANT = 'acme';

const KEYS = ['k', 'n', 'http.method', 'env', 'region', 'arr', 'b', 'd'];
const valueArb: fc.Arbitrary<AttrInput> = fc.oneof(
  fc.constantFrom<AttrInput>('v1', 'v2', '5', 'true', '', 'prod', 'x'.repeat(300)),
  fc.constantFrom<AttrInput>(5n, -1n, 3n, 2n ** 40n),
  fc.constantFrom<AttrInput>(5, 0.5, -0, Number.NaN, 1e21),
  fc.boolean(),
  fc.constant<AttrInput>(null),
  fc.constantFrom<AttrInput>(new Uint8Array([1, 2]), ['a', 1n], [true, ['x']]),
);

interface SpanSpec {
  trace: number;
  id: number;
  parent: number;
  name: number;
  kind: number;
  status: number;
  start: number;
  duration: number;
  attrs: [string, AttrInput][];
}

const spanSpec: fc.Arbitrary<SpanSpec> = fc.record({
  trace: fc.integer({ min: 1, max: 12 }),
  id: fc.integer({ min: 1, max: 40 }),
  parent: fc.integer({ min: 0, max: 40 }),
  name: fc.integer({ min: 0, max: NAMES.length - 1 }),
  kind: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(9)),
  status: fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constant(34)),
  // Few distinct starts: traces often tie on start time, which exercises the trace-ID tie-break.
  start: fc.integer({ min: 0, max: 40 }),
  duration: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constant(-50)),
  attrs: fc.array(fc.tuple(fc.constantFrom(...KEYS), valueArb), { maxLength: 4 }),
});

function toBatches(specs: readonly SpanSpec[], sizes: readonly number[]): SpanBatch[] {
  const batches: SpanBatch[] = [];
  let i = 0;
  let b = 0;
  while (i < specs.length) {
    const slice = specs.slice(i, i + sizes[b % sizes.length]!);
    const groups = slice.map((s) => {
      const service = SERVICES[(s.trace * 7 + s.id) % SERVICES.length]!;
      const start = BASE + BigInt(s.start) * 1000n;
      return group(
        service === '' ? undefined : service,
        [
          span({
            trace: traceId(s.trace, 0x10 + (s.trace % 3) * 0x70),
            id: spanId(s.id),
            ...(s.parent === 0 ? {} : { parent: spanId(s.parent) }),
            name: NAMES[s.name]!,
            kind: s.kind,
            status: s.status,
            start,
            end: start + BigInt(s.duration) * 1000n,
            attributes: Object.fromEntries(s.attrs),
          }),
        ],
        RESOURCE_ATTRS[service]!,
      );
    });
    batches.push({ tenant: TENANT, groups });
    i += slice.length;
    b++;
  }
  return batches;
}

const tagArb = fc.oneof(
  fc.record({ key: fc.constantFrom('service.name', 'root.service.name'), value: fc.constantFrom(...SERVICES, 'nope') }),
  fc.record({ key: fc.constantFrom('name', 'root.name'), value: fc.constantFrom(...NAMES, 'nope') }),
  fc.record({ key: fc.constantFrom('status', 'status.code'), value: fc.constantFrom('error', 'ok', 'unset', 'STATUS_CODE_ERROR', '2', 'bogus') }),
  fc.record({ key: fc.constantFrom('kind', 'span.kind'), value: fc.constantFrom('server', 'client', 'internal', 'unspecified', '3', 'SPAN_KIND_PRODUCER') }),
  fc.record({
    key: fc.constantFrom(...KEYS, 'missing'),
    value: fc.constantFrom('v1', 'v2', '5', 'true', 'false', '', 'prod', 'dev', '3', '-1', '0.5', '0', 'NaN', '1e+21', '1099511627776', 'AQI=', '["a",1]', 'x'.repeat(300), 'fe-1'),
  }),
);

const requestArb: fc.Arbitrary<SearchRequest> = fc
  .record({
    tags: fc.array(tagArb, { maxLength: 3 }),
    limit: fc.integer({ min: 1, max: 30 }),
    minDurationNs: fc.option(fc.integer({ min: 0, max: 3_000_000 }), { nil: undefined }),
    maxDurationNs: fc.option(fc.integer({ min: 0, max: 3_000_000 }), { nil: undefined }),
    minSpanDurationNs: fc.option(fc.integer({ min: -100_000, max: 3_000_000 }), { nil: undefined }),
    maxSpanDurationNs: fc.option(fc.integer({ min: 0, max: 3_000_000 }), { nil: undefined }),
    startNs: fc.option(fc.integer({ min: 0, max: 8_000_000 }).map((x) => Number(BASE) + x), { nil: undefined }),
    endNs: fc.option(fc.integer({ min: 0, max: 8_000_000 }).map((x) => Number(BASE) + x), { nil: undefined }),
  })
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as SearchRequest);

/** A request built from one generated span, so that filters hit: a subset of its own fields, perturbed a little. */
interface Template {
  pick: number;
  fields: string[];
  attr: number;
  limit: number;
  window: number | undefined;
  spanDuration: number | undefined;
  extra: TagFilter[];
}

const KIND_TEXT = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_TEXT = ['unset', 'ok', 'error'];

const templateArb: fc.Arbitrary<Template> = fc.record({
  pick: fc.nat(),
  fields: fc.subarray(['service', 'name', 'kind', 'status', 'attr', 'attr', 'resource', 'root.service', 'root.name'], { maxLength: 2 }),
  attr: fc.nat(),
  limit: fc.integer({ min: 1, max: 12 }),
  window: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined, freq: 3 }),
  spanDuration: fc.option(fc.integer({ min: -100, max: 3000 }), { nil: undefined, freq: 4 }),
  extra: fc.oneof({ weight: 4, arbitrary: fc.constant<TagFilter[]>([]) }, { weight: 1, arbitrary: fc.array<TagFilter>(tagArb, { minLength: 1, maxLength: 1 }) }),
});

function render(v: AttrInput): string {
  return anyValueToString(toAnyValue(v));
}

function fromTemplate(t: Template, specs: readonly SpanSpec[]): SearchRequest {
  const s = specs[t.pick % specs.length]!;
  const service = SERVICES[(s.trace * 7 + s.id) % SERVICES.length]!;
  const tags: TagFilter[] = [...t.extra];
  for (const f of t.fields) {
    if (f === 'service') tags.push({ key: 'service.name', value: service });
    if (f === 'name') tags.push({ key: 'name', value: NAMES[s.name]! });
    if (f === 'kind') tags.push({ key: 'span.kind', value: KIND_TEXT[s.kind] ?? String(s.kind) });
    if (f === 'status') tags.push({ key: 'status', value: STATUS_TEXT[s.status] ?? String(s.status) });
    if (f === 'attr' && s.attrs.length > 0) {
      const [key, value] = s.attrs[t.attr % s.attrs.length]!;
      tags.push({ key, value: render(value) });
    }
    if (f === 'resource') {
      const entries = Object.entries(RESOURCE_ATTRS[service]!);
      const [key, value] = entries[t.attr % entries.length]!;
      tags.push({ key, value: render(value) });
    }
    if (f === 'root.service') tags.push({ key: 'root.service.name', value: service });
    if (f === 'root.name') tags.push({ key: 'root.name', value: NAMES[s.name]! });
  }
  const start = Number(BASE) + s.start * 1000;
  return {
    tags,
    limit: t.limit,
    ...(t.window === undefined ? {} : { startNs: start - t.window * 1000, endNs: start + t.window * 1000 }),
    ...(t.spanDuration === undefined ? {} : { minSpanDurationNs: t.spanDuration * 1000 }),
  };
}

const optionsArb: fc.Arbitrary<BuildBlockOptions> = fc.record({
  spanPageBytes: fc.constantFrom(150, 600, 5000, 256 * 1024),
  rowsPerColumnPage: fc.constantFrom(1, 3, 8, 8192),
  maxDictionaryValues: fc.constantFrom(1, 3, 65536),
  codec: fc.constantFrom('zstd' as const, 'none' as const),
});

describe('block vs head (property)', () => {
  it('gives back every span byte-identical and answers like a head loaded with the same batches', async () => {
    const stats = { searches: 0, nonEmpty: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(spanSpec, { minLength: 1, maxLength: 70 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 }),
        optionsArb,
        fc.array(requestArb, { minLength: 1, maxLength: 3 }),
        fc.array(templateArb, { minLength: 6, maxLength: 12 }),
        fc.constantFrom(0, 600, 1 << 20),
        async (specs, sizes, options, randomRequests, templates, cacheBytes) => {
          const batches = toBatches(specs, sizes);
          const head = createShardHead({ maxBytes: 1 << 30 });
          for (const b of batches) head.insert(b);
          // Readers with a page cache (tiny: constant eviction; large: everything hits) answer the same.
          const { reader, built } = await buildAndOpen(batches, options, {}, cacheBytes === 0 ? {} : { pageCache: createPageCache({ maxBytes: cacheBytes }) });

          expect(built.meta.spanCount).toBe(head.spanCount());
          expect(built.meta.traceCount).toBe(head.traceCount());
          expect(built.meta.bytes).toBe(built.objects.reduce((n, o) => n + o.body.length, 0));

          // Trace by ID: exactly the head's spans, byte for byte, under the same groups.
          const traces = new Set(specs.map((s) => s.trace));
          for (const t of traces) {
            const id = traceId(t, 0x10 + (t % 3) * 0x70);
            expect(canonicalSpans(await reader.findTrace(id))).toEqual(canonicalSpans(head.findTrace(TENANT, id)));
          }
          expect(await reader.findTrace(traceId(999, 0x10))).toBeNull();

          // Scan: every trace once, ascending, each exactly as findTrace gives it.
          let previous = '';
          let scanned = 0;
          for await (const bt of reader.scan()) {
            const hex = Buffer.from(bt.traceId).toString('hex');
            expect(hex > previous).toBe(true);
            previous = hex;
            expect(canonicalSpans(bt.groups)).toEqual(canonicalSpans(head.findTrace(TENANT, bt.traceId)));
            scanned += bt.groups.reduce((n, g) => n + g.spans.length, 0);
          }
          expect(scanned).toBe(head.spanCount());

          for (const request of [...randomRequests, ...templates.map((t) => fromTemplate(t, specs))]) {
            const got = await reader.search(request);
            const want = head.search(TENANT, request);
            expect(got.traces, JSON.stringify(request)).toEqual(want);
            // Asked again (now from the cache, when there is one): the same answer.
            if (cacheBytes > 0) expect((await reader.search(request)).traces).toEqual(want);
            stats.searches++;
            if (want.length > 0) stats.nonEmpty++;
          }
          expect(await reader.tagNames()).toEqual(head.tagNames(TENANT));
          expect(await reader.services()).toEqual(head.services(TENANT));
          for (const tag of [...KEYS, 'missing', 'service.name', 'name', 'status', 'kind', 'span.kind', 'root.name', 'root.service.name']) {
            expect(await reader.tagValues(tag), tag).toEqual(head.tagValues(TENANT, tag));
          }
          for (const s of [...SERVICES, 'nope']) expect(await reader.operations(s)).toEqual(head.operations(TENANT, s));
        },
      ),
      { numRuns: 120 },
    );
    // The comparison only means something if searches find things.
    expect(stats.nonEmpty / stats.searches).toBeGreaterThan(0.15);
  });
});
