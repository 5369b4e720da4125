// Measurement hooks for bench/block.ts that need the block's internals (docs/adr/0010):
// - compareCodecs: the same block's raw page payloads compressed with each candidate codec
//   (zstd levels, lz4, deflate) — bytes, compress and decompress CPU;
// - compareParquet: the same spans (block order, deduplicated) as a Parquet file written with
//   hyparquet-writer (span bytes plus the search columns, zstd) and read with hyparquet —
//   bytes, write CPU, trace-by-ID and a service + attribute column scan.
// Dev-only libraries (lz4-napi, hyparquet, hyparquet-writer) are imported lazily.
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import zlib from 'node:zlib';
import type { AnyValue, SpanBatch } from '../../common/model/index.js';
import { createSpanFields, forEachAttribute, readServiceName, readSpanFields } from '../../common/otlp/index.js';
import { buildBlock, type BuildBlockOptions } from './build.js';
import { INDEX_HEADER_BYTES, PAGE_HEADER_BYTES } from './format.js';
import { createForm, formBytes, formOf } from './forms.js';
import { decodeIndex, unframeIndex } from './index-codec.js';
import type { BlockReader } from './reader.js';

export interface CodecResult {
  readonly codec: string;
  /** Whole block (pages with this codec, index/bloom/meta as built) ÷ OTLP span bytes. */
  readonly ratio: number;
  readonly bytesPerSpan: number;
  /** MB of raw page payload per CPU-second. */
  readonly compressMBps: number;
  readonly decompressMBps: number;
  /** Median CPU to decompress one span page (what a trace-by-ID pays per page). */
  readonly spanPageDecompressUs: number;
}

interface Codec {
  readonly name: string;
  readonly compress: (b: Buffer) => Buffer;
  readonly decompress: (b: Buffer, rawLength: number) => Buffer;
}

function cpuNow(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function codecs(): Promise<Codec[]> {
  const lz4 = await import('lz4-napi');
  const zstd = (level: number): Codec => ({
    name: `zstd-${level}`,
    compress: (b) => zlib.zstdCompressSync(b, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }),
    decompress: (b) => zlib.zstdDecompressSync(b),
  });
  const deflate = (level: number): Codec => ({ name: `deflate-${level}`, compress: (b) => zlib.deflateRawSync(b, { level }), decompress: (b) => zlib.inflateRawSync(b) });
  return [
    { name: 'none', compress: (b) => b, decompress: (b) => b },
    { name: 'lz4', compress: (b) => lz4.compressSync(b), decompress: (b) => lz4.uncompressSync(b) },
    zstd(1),
    zstd(3),
    zstd(6),
    zstd(9),
    deflate(1),
    deflate(6),
  ];
}

/** Builds the batches once uncompressed and recompresses every page with each codec. */
export async function compareCodecs(batches: readonly SpanBatch[], otlpBytes: number, options: BuildBlockOptions = {}): Promise<CodecResult[]> {
  const built = buildBlock({ blockId: 'codecs', tenant: batches[0]!.tenant, shard: 0, level: 0, batches, options: { ...options, codec: 'none' } });
  const framed = unframeIndex(built.objects[1]!.body);
  if (!framed.ok) throw new Error(framed.reason);
  const ix = decodeIndex(framed.raw);
  const data = built.objects[0]!.body;
  const pages: { raw: Buffer; span: boolean }[] = [];
  for (const c of ix.columns) for (const p of c.pages) pages.push({ raw: Buffer.from(data.subarray(p.offset + PAGE_HEADER_BYTES, p.offset + p.length)), span: c.type === 1 });
  const rawTotal = pages.reduce((n, p) => n + p.raw.length, 0);
  const spans = ix.spanCount;
  // Everything but page payloads: data header, page headers, the index (zstd-3, as built by default), bloom, meta.
  const indexZstd = zlib.zstdCompressSync(framed.raw, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } }).length + INDEX_HEADER_BYTES;
  const rest = data.length - rawTotal + indexZstd + built.objects[2]!.body.length + built.objects[3]!.body.length;
  const out: CodecResult[] = [];
  for (const codec of await codecs()) {
    // Warm-up on a few pages, then one timed pass each way.
    for (const p of pages.slice(0, 8)) codec.decompress(codec.compress(p.raw), p.raw.length);
    let t0 = cpuNow();
    const compressed = pages.map((p) => codec.compress(p.raw));
    const compressCpu = cpuNow() - t0;
    const spanPageUs: number[] = [];
    t0 = cpuNow();
    compressed.forEach((c, i) => {
      const t = performance.now();
      codec.decompress(c, pages[i]!.raw.length);
      if (pages[i]!.span) spanPageUs.push((performance.now() - t) * 1000);
    });
    const decompressCpu = cpuNow() - t0;
    const stored = compressed.reduce((n, c) => n + c.length, 0);
    out.push({
      codec: codec.name,
      ratio: (stored + rest) / otlpBytes,
      bytesPerSpan: (stored + rest) / spans,
      compressMBps: rawTotal / 1e6 / Math.max(compressCpu, 1e-6),
      decompressMBps: rawTotal / 1e6 / Math.max(decompressCpu, 1e-6),
      spanPageDecompressUs: median(spanPageUs),
    });
  }
  return out;
}

// ---- Parquet ------------------------------------------------------------------------------------------

export interface ParquetSearch {
  readonly service: string;
  readonly key: string;
  readonly value: string;
}

export interface ParquetResult {
  readonly rows: number;
  readonly rowGroupRows: number;
  readonly bytes: number;
  readonly ratio: number;
  readonly bytesPerSpan: number;
  /** hyparquet-writer CPU only (columns already extracted), MB of OTLP per CPU-second. */
  readonly writeMBPerCpuSecond: number;
  /** Extracting the columns from the span bytes (what a Parquet block writer pays on top). */
  readonly extractMBPerCpuSecond: number;
  readonly lookupP50Ms: number;
  readonly lookupP99Ms: number;
  readonly searchP50Ms: number;
  readonly searchP99Ms: number;
  readonly attributeColumns: number;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/**
 * The block's spans as a Parquet file (one row per span, block order): trace_id, span_id, span
 * bytes, service, name, kind, status, duration and one optional string column per span attribute
 * key (its match form, dictionary-encoded by the writer), zstd-3, row groups of `rowGroupRows`,
 * 256 KiB pages. Read back through a file handle: trace-by-ID finds the row group by its
 * trace_id min/max statistics, reads its trace_id column, then the span column of the matching
 * rows; search reads service + attribute + trace_id over every row group.
 */
export async function compareParquet(params: {
  reader: BlockReader;
  otlpBytes: number;
  lookups: readonly Uint8Array[];
  searches: readonly ParquetSearch[];
  searchRepeats: number;
  dir: string;
  rowGroupRows?: number;
}): Promise<ParquetResult> {
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  const { parquetMetadataAsync, parquetRead } = await import('hyparquet');
  const rowGroupRows = params.rowGroupRows ?? 16384;

  // Columns from the block's own scan (so the rows are exactly the block's, in its order).
  const cpu0 = cpuNow();
  const traceIds: Uint8Array[] = [];
  const spanIds: Uint8Array[] = [];
  const spanBytes: Uint8Array[] = [];
  const services: string[] = [];
  const names: string[] = [];
  const kinds: number[] = [];
  const statuses: number[] = [];
  const durations: bigint[] = [];
  const attributes = new Map<string, (string | null)[]>();
  const serviceOf = new Map<Uint8Array, string>();
  const fields = createSpanFields();
  const form = createForm();
  const noDecode = (): AnyValue | undefined => undefined;
  let row = 0;
  for await (const t of params.reader.scan()) {
    for (const g of t.groups) {
      let service = serviceOf.get(g.resource);
      if (service === undefined) {
        service = readServiceName(g.resource);
        serviceOf.set(g.resource, service);
      }
      for (const s of g.spans) {
        readSpanFields(s, fields);
        traceIds.push(t.traceId);
        spanIds.push(s.subarray(fields.spanIdOffset, fields.spanIdOffset + 8));
        spanBytes.push(s);
        services.push(service);
        names.push(Buffer.from(s.buffer, s.byteOffset + fields.nameOffset, fields.nameLength).toString('utf8'));
        kinds.push(fields.kind);
        statuses.push(fields.statusCode);
        durations.push(BigInt((fields.endHi - fields.startHi) * 4294967296 + (fields.endLo - fields.startLo)));
        forEachAttribute(s, 0, s.length, 9, (buf, ko, kl, type, vo, vl) => {
          if (!formOf(buf, type, vo, vl, noDecode, 0, form)) return;
          const key = Buffer.from(buf.buffer, buf.byteOffset + ko, kl).toString('utf8');
          let col = attributes.get(key);
          if (col === undefined) {
            col = [];
            attributes.set(key, col);
          }
          while (col.length < row) col.push(null);
          if (col.length === row) col.push(Buffer.from(formBytes(form)).toString('utf8'));
        });
        row++;
      }
    }
  }
  for (const col of attributes.values()) while (col.length < row) col.push(null);
  const extractCpu = cpuNow() - cpu0;

  const attrNames = [...attributes.keys()];
  const schema = [
    { name: 'root', num_children: 8 + attrNames.length },
    { name: 'trace_id', type: 'FIXED_LEN_BYTE_ARRAY' as const, type_length: 16, repetition_type: 'REQUIRED' as const },
    { name: 'span_id', type: 'FIXED_LEN_BYTE_ARRAY' as const, type_length: 8, repetition_type: 'REQUIRED' as const },
    { name: 'span', type: 'BYTE_ARRAY' as const, repetition_type: 'REQUIRED' as const },
    { name: 'service', type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'REQUIRED' as const },
    { name: 'name', type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'REQUIRED' as const },
    { name: 'kind', type: 'INT32' as const, repetition_type: 'REQUIRED' as const },
    { name: 'status', type: 'INT32' as const, repetition_type: 'REQUIRED' as const },
    { name: 'duration', type: 'INT64' as const, repetition_type: 'REQUIRED' as const },
    ...attrNames.map((n) => ({ name: `a.${n}`, type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'OPTIONAL' as const })),
  ];
  const columnData = [
    { name: 'trace_id', data: traceIds },
    { name: 'span_id', data: spanIds },
    { name: 'span', data: spanBytes },
    { name: 'service', data: services },
    { name: 'name', data: names },
    { name: 'kind', data: kinds },
    { name: 'status', data: statuses },
    { name: 'duration', data: durations },
    ...attrNames.map((n) => ({ name: `a.${n}`, data: attributes.get(n)! })),
  ];
  const zstd = (b: Uint8Array): Uint8Array => zlib.zstdCompressSync(b, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } });
  const cpu1 = cpuNow();
  const buffer = parquetWriteBuffer({ schema, columnData, codec: 'ZSTD', compressors: { ZSTD: zstd }, rowGroupSize: rowGroupRows, pageSize: 256 * 1024 } as Parameters<typeof parquetWriteBuffer>[0]);
  const writeCpu = cpuNow() - cpu1;
  const file = path.join(params.dir, 'spans.parquet');
  await writeFile(file, new Uint8Array(buffer));

  const handle = await open(file, 'r');
  try {
    const asyncBuffer = {
      byteLength: buffer.byteLength,
      async slice(start: number, end?: number): Promise<ArrayBuffer> {
        const stop = end ?? buffer.byteLength;
        const out = new Uint8Array(stop - start);
        await handle.read(out, 0, out.length, start);
        return out.buffer;
      },
    };
    const decompressors = { ZSTD: (input: Uint8Array): Uint8Array => zlib.zstdDecompressSync(input) };
    const metadata = await parquetMetadataAsync(asyncBuffer);
    const groups = metadata.row_groups.map((g, i) => {
      const stats = g.columns[0]!.meta_data!.statistics!;
      let start = 0;
      for (let k = 0; k < i; k++) start += Number(metadata.row_groups[k]!.num_rows);
      return { start, rows: Number(g.num_rows), min: stats.min_value as Uint8Array, max: stats.max_value as Uint8Array };
    });
    const read = (columns: string[], rowStart: number, rowEnd: number): Promise<unknown[][]> =>
      new Promise((resolve, reject) => {
        parquetRead({ file: asyncBuffer, metadata, columns, rowStart, rowEnd, compressors: decompressors, onComplete: (rows: unknown[][]) => resolve(rows) }).catch(reject);
      });

    const lookupMs: number[] = [];
    for (const id of params.lookups) {
      const t0 = performance.now();
      let found = 0;
      for (const g of groups) {
        if (compareBytes(g.min, id) > 0 || compareBytes(g.max, id) < 0) continue;
        const ids = await read(['trace_id'], g.start, g.start + g.rows);
        let first = -1;
        let last = -1;
        ids.forEach((r, i) => {
          if (compareBytes(r[0] as Uint8Array, id) === 0) {
            if (first < 0) first = i;
            last = i;
          }
        });
        if (first >= 0) found += (await read(['span'], g.start + first, g.start + last + 1)).length;
      }
      lookupMs.push(performance.now() - t0);
      if (found === 0) throw new Error('parquet lookup found nothing');
    }

    const searchMs: number[] = [];
    for (let r = 0; r < params.searchRepeats; r++) {
      for (const s of params.searches) {
        const t0 = performance.now();
        const matched = new Set<string>();
        if (attributes.has(s.key)) {
          const rows = await read(['trace_id', 'service', `a.${s.key}`], 0, row);
          for (const x of rows) if (x[1] === s.service && x[2] === s.value) matched.add(Buffer.from(x[0] as Uint8Array).toString('hex'));
        }
        searchMs.push(performance.now() - t0);
      }
    }
    return {
      rows: row,
      rowGroupRows,
      bytes: buffer.byteLength,
      ratio: buffer.byteLength / params.otlpBytes,
      bytesPerSpan: buffer.byteLength / row,
      writeMBPerCpuSecond: params.otlpBytes / 1e6 / writeCpu,
      extractMBPerCpuSecond: params.otlpBytes / 1e6 / extractCpu,
      lookupP50Ms: percentile(lookupMs, 50),
      lookupP99Ms: percentile(lookupMs, 99),
      searchP50Ms: percentile(searchMs, 50),
      searchP99Ms: percentile(searchMs, 99),
      attributeColumns: attrNames.length,
    };
  } finally {
    await handle.close();
  }
}
