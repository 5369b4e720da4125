// mergeBlocks against its definition: for random inputs — each built by buildBlock with its own
// random options (tiny pages, keys dictionary-coded in some inputs and not in others), the same
// traces in several inputs, the same (trace ID, span ID) in several inputs with other bytes — the
// merged block must answer every query as buildBlock over the union of the inputs' spans (first
// copy in input order kept) answers it. Key IDs, name IDs and dictionary order may differ, so the
// comparison goes through the reader, never byte for byte. Where merge-blocks.ts documents a
// superset (groups and root names/groups of the inputs are carried over whole), the expected
// answer is computed from the inputs instead; see the comments at each such check.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyValue, SearchRequest, SpanBatch, TagFilter } from '../../common/model/index.js';
import { anyValueToString, decodeSpan, encodeSpan } from '../../common/otlp/index.js';
import { createMemoryObjectStore, type MemoryObjectStore } from '../../common/storage/index.js';
import { group, span, spanId, toAnyValue, traceId, type AttrInput } from '../head/testing/index.js';
import { decodeIndex, unframeIndex, type BlockIndex } from './index-codec.js';
import { buildBlock, mergeBlocks, openBlock, writeBlock, type BlockReader, type BuildBlockOptions, type BuiltBlock } from './index.js';
import { canonicalSpans, FIXTURE_NAMES as NAMES, FIXTURE_RESOURCE_ATTRS as RESOURCE_ATTRS, FIXTURE_SERVICES as SERVICES } from './testing/index.js';

const BASE = 1_700_000_000_000_000_000n;
const TENANT = 'acme';
const SHARD = 2;

const RESOURCE_KEYS = [...new Set(Object.values(RESOURCE_ATTRS).flatMap((r) => Object.keys(r)))];
const KEYS = ['k', 'n', 'http.method', 'env', 'region', 'arr', 'b', 'd', 'ключ'];
// Strings equal to the text of a bytes / array value ('AQI=', '["a",1]') share its match form but
// not its listing (tagValues lists strings, never bytes or arrays).
const valueArb: fc.Arbitrary<AttrInput> = fc.oneof(
  fc.constantFrom<AttrInput>('v1', 'v2', '5', 'true', '', 'prod', 'AQI=', '["a",1]', 'x'.repeat(300), 'ü'),
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
  /** A list, not a record: a key may repeat within a span. */
  attrs: [string, AttrInput][];
  /** Usually 0; otherwise this copy of the span comes under another service (another group). */
  shift: number;
}

const spanSpecArb = (traces: number, ids: number): fc.Arbitrary<SpanSpec> =>
  fc.record({
    trace: fc.integer({ min: 1, max: traces }),
    id: fc.integer({ min: 1, max: ids }),
    parent: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: ids })),
    name: fc.integer({ min: 0, max: NAMES.length - 1 }),
    kind: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(9)),
    status: fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constant(34)),
    // Few distinct starts: traces tie on start time (the trace-ID tie-break of search order).
    start: fc.integer({ min: 0, max: 40 }),
    duration: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constant(-50)),
    attrs: fc.array(fc.tuple(fc.constantFrom(...KEYS), valueArb), { maxLength: 4 }),
    shift: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
  });

const serviceOf = (s: SpanSpec): string => SERVICES[(s.trace * 7 + s.id + s.shift) % SERVICES.length]!;
const traceIdOf = (t: number): Uint8Array => traceId(t, 0x10 + (t % 3) * 0x70);

function toBatches(specs: readonly SpanSpec[], sizes: readonly number[]): SpanBatch[] {
  const batches: SpanBatch[] = [];
  let i = 0;
  let b = 0;
  while (i < specs.length) {
    const slice = specs.slice(i, i + sizes[b % sizes.length]!);
    const groups = slice.map((s) => {
      const service = serviceOf(s);
      const start = BASE + BigInt(s.start) * 1000n;
      const sp = span({
        trace: traceIdOf(s.trace),
        id: spanId(s.id),
        ...(s.parent === 0 ? {} : { parent: spanId(s.parent) }),
        name: NAMES[s.name]!,
        kind: s.kind,
        status: s.status,
        start,
        end: start + BigInt(s.duration) * 1000n,
      });
      const attributes: KeyValue[] = s.attrs.map(([key, value]) => ({ key, value: toAnyValue(value) }));
      const g = group(service === '' ? undefined : service, [], RESOURCE_ATTRS[service]!);
      return { ...g, spans: [encodeSpan({ ...sp, attributes })] };
    });
    batches.push({ tenant: TENANT, groups });
    i += slice.length;
    b++;
  }
  return batches;
}

// Small pages (traces cross span-page boundaries, columns have many pages), tiny dictionaries (keys
// not dictionary-coded in some inputs, un-indexed mid-build), few bloom bits (false positives).
const optionsArb: fc.Arbitrary<BuildBlockOptions> = fc.record(
  {
    spanPageBytes: fc.constantFrom(100, 150, 600, 5000, 256 * 1024),
    rowsPerColumnPage: fc.constantFrom(1, 2, 3, 8, 8192),
    maxDictionaryValues: fc.constantFrom(1, 2, 3, 4, 65536),
    maxDictionaryBytes: fc.constantFrom(8, 64, 4 * 1024 * 1024),
    tagValueSample: fc.constantFrom(0, 1, 2, 3, 1000),
    pageBloomBitsPerValue: fc.constantFrom(1, 10),
    traceBloomBitsPerTrace: fc.constantFrom(1, 16),
    codec: fc.constantFrom('zstd' as const, 'none' as const),
  },
  { requiredKeys: [] },
);

// Few traces and span IDs per case: the same trace in several inputs, and the same (trace, span)
// with other bytes, are the rule rather than the exception.
const caseArb = fc.tuple(fc.integer({ min: 2, max: 14 }), fc.integer({ min: 2, max: 14 })).chain(([traces, ids]) =>
  fc.record({
    inputs: fc.array(
      fc.record({
        specs: fc.array(spanSpecArb(traces, ids), { minLength: 1, maxLength: 30 }),
        sizes: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 }),
        options: optionsArb,
        level: fc.integer({ min: 0, max: 2 }),
        // Spans of earlier inputs sent again with other bytes (a retried export, a replica).
        echoes: fc.array(fc.tuple(fc.nat(), spanSpecArb(traces, ids)), { maxLength: 8 }),
      }),
      { minLength: 1, maxLength: 5 },
    ),
    output: optionsArb,
    templates: fc.array(fc.record({ pick: fc.nat(), fields: fc.subarray(['service', 'name', 'kind', 'status', 'attr', 'attr', 'resource', 'root.service', 'root.name']), attr: fc.nat(), limit: fc.integer({ min: 1, max: 12 }) }), { minLength: 4, maxLength: 8 }),
  }),
);

const KIND_TEXT = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_TEXT = ['unset', 'ok', 'error'];

const render = (v: AttrInput): string => anyValueToString(toAnyValue(v));

/** A request built from one generated span (so that its filters hit something). */
function fromTemplate(t: { pick: number; fields: string[]; attr: number; limit: number }, specs: readonly SpanSpec[]): SearchRequest {
  const s = specs[t.pick % specs.length]!;
  const service = serviceOf(s);
  const tags: TagFilter[] = [];
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
  return { tags, limit: t.limit };
}

/** Requests every case asks: one filter of each kind, each with a limit that returns all and a small one. */
function fixedRequests(specs: readonly SpanSpec[]): SearchRequest[] {
  const filters: TagFilter[][] = [[]];
  for (const s of SERVICES) filters.push([{ key: 'service.name', value: s }]);
  for (const n of NAMES) filters.push([{ key: 'name', value: n }]);
  filters.push([{ key: 'status', value: 'error' }], [{ key: 'status.code', value: '2' }], [{ key: 'span.kind', value: 'server' }]);
  for (const [key, value] of Object.entries(RESOURCE_ATTRS).flatMap(([, r]) => Object.entries(r))) filters.push([{ key, value: render(value) }]);
  const pairs = new Set<string>();
  for (const s of specs) for (const [key, value] of s.attrs) pairs.add(JSON.stringify([key, render(value)]));
  for (const p of [...pairs].slice(0, 24)) {
    const [key, value] = JSON.parse(p) as [string, string];
    filters.push([{ key, value }]);
  }
  filters.push([{ key: 'k', value: 'nope' }], [{ key: 'missing', value: 'v1' }]);
  const out: SearchRequest[] = [];
  for (const tags of filters) out.push({ tags, limit: 10_000 }, { tags, limit: 2 });
  out.push({ tags: [], limit: 10_000, minDurationNs: 1_000_000 }, { tags: [], limit: 10_000, maxDurationNs: 500_000 }, { tags: [{ key: 'status', value: 'error' }], limit: 10_000, minSpanDurationNs: 1_500_000 });
  out.push({ tags: [], limit: 10_000, maxSpanDurationNs: 0 }, { tags: [], limit: 10_000, startNs: Number(BASE) + 20_000, endNs: Number(BASE) + 30_000 });
  return out;
}

const TAGS = [...new Set([...KEYS, ...RESOURCE_KEYS, 'missing', 'service.name', 'name', 'status', 'status.code', 'kind', 'span.kind', 'root.name', 'root.service.name'])];

function objectBody(b: BuiltBlock, name: string): Uint8Array {
  const o = b.objects.find((x) => x.key.endsWith(`/${name}`));
  if (o === undefined) throw new Error(`no ${name} object`);
  return o.body;
}

function indexOf(b: BuiltBlock): BlockIndex {
  const framed = unframeIndex(objectBody(b, 'index'));
  if (!framed.ok) throw new Error(framed.reason);
  return decodeIndex(framed.raw);
}

async function store(s: MemoryObjectStore, b: BuiltBlock): Promise<BlockReader> {
  await writeBlock(s, b);
  return openBlock(s, b.meta.tenant, b.meta.shard, b.meta.blockId);
}

async function scanAll(r: BlockReader): Promise<[string, string[]][]> {
  const out: [string, string[]][] = [];
  for await (const t of r.scan()) out.push([Buffer.from(t.traceId).toString('hex'), canonicalSpans(t.groups)]);
  return out;
}

/** Attribute keys of the span copies the merge drops: spans whose (trace ID, span ID) an earlier input holds. */
function keysOfDroppedCopies(inputs: readonly SpanBatch[][]): Set<string> {
  const seen = new Set<string>();
  const keys = new Set<string>();
  for (const batches of inputs) {
    const mine: string[] = [];
    for (const b of batches) {
      for (const g of b.groups) {
        for (const bytes of g.spans) {
          const sp = decodeSpan(bytes);
          const id = `${Buffer.from(sp.traceId).toString('hex')}/${Buffer.from(sp.spanId).toString('hex')}`;
          if (seen.has(id)) for (const a of sp.attributes) keys.add(a.key);
          mine.push(id);
        }
      }
    }
    for (const id of mine) seen.add(id);
  }
  return keys;
}

const groupKey = (g: BlockIndex['groups'][number]): string => `${Buffer.from(g.resource).toString('hex')}|${g.resourceSchemaUrl}|${Buffer.from(g.scope).toString('hex')}|${g.scopeSchemaUrl}`;

/** The trace table by meaning (IDs of names and groups resolved): one line per trace. */
function traceTable(ix: BlockIndex): string[] {
  const tr = ix.traces;
  return Array.from({ length: tr.count }, (_, t) =>
    JSON.stringify([
      Buffer.from(tr.ids.subarray(t * 16, t * 16 + 16)).toString('hex'),
      tr.firstRow[t + 1]! - tr.firstRow[t]!,
      [tr.startHi[t], tr.startLo[t], tr.endHi[t], tr.endLo[t]],
      tr.flags[t],
      tr.rootName[t] === 0 ? null : Buffer.from(ix.names[tr.rootName[t]! - 1]!).toString('hex'),
      groupKey(ix.groups[tr.rootGroup[t]!]!),
    ]),
  );
}

const sortedUnion = (lists: readonly string[][]): string[] => [...new Set(lists.flat())].sort();
const groupKeys = (ix: BlockIndex): string[] => ix.groups.map(groupKey).sort();

describe('mergeBlocks vs buildBlock over the union (property)', () => {
  it('answers every query as buildBlock over the inputs’ spans, first copy kept, does', { timeout: 60_000 }, async () => {
    const stats = { runs: 0, shared: 0, duplicates: 0, searches: 0, nonEmpty: 0, unindexedOut: 0, extraTagNames: 0, extraValues: 0, codedByOracleOnly: 0 };
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ inputs, output, templates }) => {
        const s = createMemoryObjectStore();
        const built: BuiltBlock[] = [];
        const readers: BlockReader[] = [];
        const sent: SpanSpec[] = [];
        for (const [i, input] of inputs.entries()) {
          const echoes = sent.length === 0 ? [] : input.echoes.map(([n, variant]) => ({ ...variant, trace: sent[n % sent.length]!.trace, id: sent[n % sent.length]!.id }));
          // (Generated values are never mutated: fast-check replays them while shrinking.)
          const specs = [...input.specs, ...echoes];
          sent.push(...specs);
          const b = buildBlock({ blockId: `in-${i}`, tenant: TENANT, shard: SHARD, level: input.level, batches: toBatches(specs, input.sizes), options: input.options });
          built.push(b);
          readers.push(await store(s, b));
        }
        const level = Math.max(...inputs.map((x) => x.level)) + 1;

        // The oracle: buildBlock over the spans as the inputs hold them (each input deduplicated
        // itself), in input order, with the output's options — and once fully dictionary-coded,
        // for the complete tagValues of every key. Each input fully coded too: upper bounds.
        const stored: SpanBatch[][] = [];
        const traceInputs = new Map<string, number>();
        for (const r of readers) {
          const batches: SpanBatch[] = [];
          for await (const t of r.scan()) {
            batches.push({ tenant: TENANT, groups: t.groups });
            const hex = Buffer.from(t.traceId).toString('hex');
            traceInputs.set(hex, (traceInputs.get(hex) ?? 0) + 1);
          }
          stored.push(batches);
        }
        const all = stored.flat();
        const oracleBuilt = buildBlock({ blockId: 'oracle', tenant: TENANT, shard: SHARD, level, batches: all, options: output });
        const oracle = await store(s, oracleBuilt);
        const full = await store(s, buildBlock({ blockId: 'oracle-full', tenant: TENANT, shard: SHARD, level, batches: all }));
        const inputsFull = await Promise.all(stored.map((batches, i) => store(s, buildBlock({ blockId: `in-${i}-full`, tenant: TENANT, shard: SHARD, level: 0, batches }))));

        const merged = mergeBlocks({
          blockId: 'out',
          tenant: TENANT,
          shard: SHARD,
          level,
          inputs: built.map((b, i) => ({ blockId: `in-${i}`, index: objectBody(b, 'index'), data: objectBody(b, 'data') })),
          options: output,
        });
        const out = await store(s, merged);

        // Counters and meta.
        const inputSpans = built.reduce((n, b) => n + b.meta.spanCount, 0);
        expect(merged.inputSpans).toBe(inputSpans);
        expect(merged.duplicateSpans).toBe(inputSpans - merged.meta.spanCount);
        expect(merged.skippedSpans).toBe(0);
        expect(merged.sharedTraces).toBe([...traceInputs.values()].filter((n) => n > 1).length);
        expect(merged.meta.bytes).toBe(merged.objects.reduce((n, o) => n + o.body.length, 0));
        const { blockId: _o, bytes: _ob, ...wantMeta } = oracle.meta;
        const { blockId: _m, bytes: _mb, ...gotMeta } = out.meta;
        expect(gotMeta).toEqual(wantMeta);
        expect(out.meta.level).toBe(level);
        stats.runs++;
        stats.shared += merged.sharedTraces;
        stats.duplicates += merged.duplicateSpans;

        // Every trace by ID, and the whole scan: the same spans, bytes, resources and scopes.
        for (let t = 1; t <= 15; t++) expect(canonicalSpans(await out.findTrace(traceIdOf(t))), `trace ${t}`).toEqual(canonicalSpans(await oracle.findTrace(traceIdOf(t))));
        expect(await scanAll(out)).toEqual(await scanAll(oracle));
        // The trace table by meaning (name and group IDs resolved): bounds, span counts, root name
        // and group, and the error flag — which no query reads today, so the reader would not
        // show it wrong.
        const outIx = indexOf(merged);
        const oracleIx = indexOf(oracleBuilt);
        const inputIx = built.map(indexOf);
        expect(traceTable(outIx)).toEqual(traceTable(oracleIx));

        // Search: the summaries (root service and name, start, duration, span count) and the
        // order (start, then trace ID) are functions of the kept spans, so the answers are equal.
        for (const request of [...fixedRequests(sent), ...templates.map((t) => fromTemplate(t, sent))]) {
          const want = await oracle.search(request);
          expect(await out.search(request), JSON.stringify(request)).toEqual(want);
          stats.searches++;
          if (want.traces.length > 0) stats.nonEmpty++;
        }

        // Services, operations, tag names and values.
        //  - groups: the union of the inputs' groups (merge-blocks.ts: a group only dropped
        //    duplicates carried stays), so services, root.service.name and the resource keys are
        //    the inputs' union; the oracle's answers are a subset of them;
        //  - root names: the union of the inputs' root names (same reason); names the kept
        //    spans' names plus those;
        //  - operations, status and kind come from the kept spans only: equal.
        expect(groupKeys(outIx)).toEqual(sortedUnion(inputIx.map(groupKeys)));
        const exactGroups = JSON.stringify(groupKeys(outIx)) === JSON.stringify(groupKeys(oracleIx));

        const services = await out.services();
        expect(services).toEqual(sortedUnion(await Promise.all(readers.map((r) => r.services()))));
        expect(services).toEqual(expect.arrayContaining(await oracle.services()));
        if (exactGroups) expect(services).toEqual(await oracle.services());
        for (const service of [...SERVICES, 'nope']) expect(await out.operations(service), service).toEqual(await oracle.operations(service));

        // Tag names: the oracle's, plus keys only dropped duplicates (or, with other groups, their
        // resources) carry — the inputs' keys are all carried over, like their groups.
        const droppedKeys = keysOfDroppedCopies(stored);
        const tagNames = await out.tagNames();
        const oracleTagNames = await oracle.tagNames();
        expect(sortedUnion(await Promise.all(readers.map((r) => r.tagNames())))).toEqual(expect.arrayContaining(tagNames));
        expect(tagNames).toEqual(expect.arrayContaining(oracleTagNames));
        for (const extra of tagNames.filter((n) => !oracleTagNames.includes(n))) {
          expect(droppedKeys.has(extra) || !exactGroups, extra).toBe(true);
          stats.extraTagNames++;
        }

        // Attribute keys. The output codes a key only if buildBlock over the kept spans would
        // (its dictionary holds at least their forms); it may code fewer: merge-blocks.ts decides
        // before the first row from the distinct forms of the inputs' dictionaries — forms only
        // dropped duplicates carry included — and leaves a key uncoded when an input did not code
        // it. Listed values:
        //  - coded: every value the kept spans and the output's groups list, and nothing no input
        //    lists; exactly the fully coded oracle's when the groups are the same and no dropped
        //    duplicate carries the key (an input's dictionary marks a form listable if any of its
        //    spans had it as a string, so a form a dropped copy had as a string and a kept one as
        //    bytes stays listed — like a group only dropped copies carry);
        //  - not coded: a sample of at most tagValueSample values (the first ones in the order the
        //    dictionary met them, which differs between the two builds), never one no input lists.
        const outKeys = new Map(outIx.keys.map((k) => [Buffer.from(k.bytes).toString('utf8'), k]));
        const oracleKeys = new Map(oracleIx.keys.map((k) => [Buffer.from(k.bytes).toString('utf8'), k]));
        if (outIx.keys.some((k) => !k.indexed)) stats.unindexedOut++;
        const sample = Math.max(0, output.tagValueSample ?? 1000);
        for (const tag of TAGS) {
          const got = await out.tagValues(tag);
          const want = await oracle.tagValues(tag);
          const inputsUnion = sortedUnion(await Promise.all(readers.map((r) => r.tagValues(tag))));
          switch (tag) {
            case 'status':
            case 'status.code':
            case 'kind':
            case 'span.kind':
              expect(got, tag).toEqual(want);
              break;
            case 'service.name':
              expect(got).toEqual(services);
              break;
            case 'root.name':
            case 'root.service.name':
              expect(got, tag).toEqual(inputsUnion);
              expect(got, tag).toEqual(expect.arrayContaining(want));
              break;
            case 'name':
              expect(got).toEqual(sortedUnion([want, ...(await Promise.all(readers.map((r) => r.tagValues('root.name'))))]));
              break;
            default: {
              const key = outKeys.get(tag);
              const complete = await full.tagValues(tag);
              const upper = sortedUnion([complete, ...(await Promise.all(inputsFull.map((r) => r.tagValues(tag))))]);
              expect(upper, tag).toEqual(expect.arrayContaining(got));
              if (key === undefined) {
                expect(got, tag).toEqual([]);
                expect(oracleKeys.has(tag), tag).toBe(false);
              } else if (key.indexed) {
                // (A key only dropped duplicates carry is listed with no value: the oracle lacks it.)
                if (oracleKeys.has(tag)) expect(oracleKeys.get(tag)!.indexed, tag).toBe(true);
                expect(got, tag).toEqual(expect.arrayContaining(complete));
                if (exactGroups && !droppedKeys.has(tag)) expect(got, tag).toEqual(complete);
                if (got.length !== complete.length) stats.extraValues++;
              } else {
                expect(got.length, tag).toBeLessThanOrEqual(sample);
                if (oracleKeys.get(tag)?.indexed === true) stats.codedByOracleOnly++;
              }
            }
          }
        }
      }),
      // 100 runs take ~5 s; the limit bounds a failing run's shrinking, so the counterexample is
      // reported before the test's timeout.
      { numRuns: 100, interruptAfterTimeLimit: 40_000, markInterruptAsFailure: true },
    );
    // The comparison only means something if the cases hit what the merge must get right.
    expect(stats.shared).toBeGreaterThan(stats.runs);
    expect(stats.duplicates).toBeGreaterThan(stats.runs);
    expect(stats.nonEmpty / stats.searches).toBeGreaterThan(0.2);
    expect(stats.unindexedOut).toBeGreaterThan(10);
    if (process.env['MERGE_STATS'] !== undefined) console.log(stats);
  });
});
