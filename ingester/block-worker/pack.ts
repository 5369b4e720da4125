// The transfer codec of the block worker pool, pure: SpanBatches in, a handful of ArrayBuffers out
// (and back). A block holds up to millions of spans, each its own small Uint8Array; posting them to
// a worker as they are would structured-clone every one of them (an object each, on both sides, with
// the event loop blocked for the whole clone). Packed, the spans are copied once into large chunks
// and the chunks are TRANSFERRED (moved, not copied) with a few typed arrays of offsets:
//
//   chunks          span bytes back to back in input order; every chunk is one whole ArrayBuffer
//                   (a span never straddles two; a span larger than CHUNK_BYTES gets a chunk of its own)
//   chunkFirstSpan  index of the first span of each chunk, plus the span count at the end
//   spanEnds        end offset of each span within its chunk (its start is the previous span's end,
//                   or 0 for the first span of a chunk)
//   spanGroups      the (resource, scope) group of each span
//   groupBytes      resource and scope bytes of every group; groupEnds: their end offsets (2 per group)
//   schemaUrls      resource and scope schema URL of every group (2 per group; few, so cloned)
//
// Unpacking keeps input order and group of every span, so buildBlock on the unpacked batches makes
// the same block, byte for byte, as on the original ones (its dedup keeps the first of an identity
// in input order; group numbering follows block order, not batch structure).
import { SkeinError } from '../../common/errors/index.js';
import type { SpanBatch, SpanGroup } from '../../common/model/index.js';
import type { BuiltBlock } from '../block/index.js';

/** Target size of one span chunk. */
export const CHUNK_BYTES = 4 * 1024 * 1024;

export interface PackedBatches {
  readonly tenant: string;
  readonly spanCount: number;
  /** Sum of the span byte lengths. */
  readonly spanBytes: number;
  readonly chunks: readonly Uint8Array[];
  readonly chunkFirstSpan: Uint32Array;
  readonly spanEnds: Uint32Array;
  readonly spanGroups: Uint32Array;
  readonly groupBytes: Uint8Array;
  readonly groupEnds: Uint32Array;
  readonly schemaUrls: readonly string[];
}

/** The ArrayBuffers to transfer with `packed` (each once; the packed value is unusable afterwards on this side). */
export function packedTransferList(packed: PackedBatches): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const add = (a: ArrayBufferView): void => {
    if (a.buffer instanceof ArrayBuffer && a.buffer.byteLength > 0) out.add(a.buffer);
  };
  for (const c of packed.chunks) add(c);
  for (const a of [packed.chunkFirstSpan, packed.spanEnds, packed.spanGroups, packed.groupBytes, packed.groupEnds]) add(a);
  return [...out];
}

class U32List {
  data = new Uint32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Uint32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  /** A view of exactly `length` entries over a buffer of its own (transferable without dragging anything else along). */
  finish(): Uint32Array {
    return this.data.length === this.length ? this.data : this.data.slice(0, this.length);
  }
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

export interface BatchPacker {
  /** Appends a batch (copies its span bytes; the batch may be dropped afterwards). Throws INVALID_ARGUMENT for another tenant. */
  add(batch: SpanBatch): void;
  readonly spanCount: number;
  readonly spanBytes: number;
  /** The packed batches; the packer must not be used afterwards. */
  finish(): PackedBatches;
}

/**
 * Packs batches incrementally, so a producer (the compaction merge) can stream into it and let go
 * of each batch: the packer holds the span bytes once, in chunks, plus 8 bytes of offsets per span.
 */
export function createBatchPacker(tenant: string, chunkBytes = CHUNK_BYTES): BatchPacker {
  const chunks: Uint8Array[] = [];
  const chunkFirstSpan = new U32List();
  const spanEnds = new U32List();
  const spanGroups = new U32List();
  let chunk = new Uint8Array(0);
  let open = false;
  let at = 0;
  let spanCount = 0;
  let spanBytes = 0;

  // Groups: interned by object identity first (batches from one source share their resource and
  // scope arrays), then by content, so the table stays as small as the distinct groups.
  const groupParts: Uint8Array[] = [];
  const groupEnds = new U32List();
  let groupByteCount = 0;
  const schemaUrls: string[] = [];
  const byIdentity = new Map<Uint8Array, { scope: Uint8Array; r: string; s: string; id: number }[]>();
  const byContent = new Map<string, number>();
  let last: SpanGroup | undefined;
  let lastId = -1;

  const groupOf = (g: SpanGroup): number => {
    if (last !== undefined && g.resource === last.resource && g.scope === last.scope && g.resourceSchemaUrl === last.resourceSchemaUrl && g.scopeSchemaUrl === last.scopeSchemaUrl) return lastId;
    let list = byIdentity.get(g.resource);
    let id = list?.find((e) => e.scope === g.scope && e.r === g.resourceSchemaUrl && e.s === g.scopeSchemaUrl)?.id;
    if (id === undefined) {
      const r = latin1(g.resource);
      const s = latin1(g.scope);
      const key = `${r.length}:${g.resourceSchemaUrl.length}:${s.length}:${r}${g.resourceSchemaUrl}${s}${g.scopeSchemaUrl}`;
      id = byContent.get(key);
      if (id === undefined) {
        id = schemaUrls.length / 2;
        byContent.set(key, id);
        groupParts.push(g.resource, g.scope);
        groupByteCount += g.resource.length;
        groupEnds.push(groupByteCount);
        groupByteCount += g.scope.length;
        groupEnds.push(groupByteCount);
        schemaUrls.push(g.resourceSchemaUrl, g.scopeSchemaUrl);
      }
      if (list === undefined) {
        list = [];
        byIdentity.set(g.resource, list);
      }
      list.push({ scope: g.scope, r: g.resourceSchemaUrl, s: g.scopeSchemaUrl, id });
    }
    last = g;
    lastId = id;
    return id;
  };

  const closeChunk = (): void => {
    if (open) chunks.push(at === chunk.length ? chunk : chunk.slice(0, at)); // slice: a buffer of its own
  };

  return {
    add(batch) {
      if (batch.tenant !== tenant) throw new SkeinError('INVALID_ARGUMENT', `a block holds one tenant (${JSON.stringify(tenant)}); got a batch of ${JSON.stringify(batch.tenant)}`);
      for (const g of batch.groups) {
        if (g.spans.length === 0) continue;
        const gid = groupOf(g);
        for (const span of g.spans) {
          if (!open || at + span.length > chunk.length) {
            closeChunk();
            chunk = new Uint8Array(Math.max(chunkBytes, span.length));
            open = true;
            at = 0;
            chunkFirstSpan.push(spanCount);
          }
          chunk.set(span, at);
          at += span.length;
          spanEnds.push(at);
          spanGroups.push(gid);
          spanCount++;
          spanBytes += span.length;
        }
      }
    },
    get spanCount() {
      return spanCount;
    },
    get spanBytes() {
      return spanBytes;
    },
    finish() {
      closeChunk();
      chunkFirstSpan.push(spanCount);
      const bytes = new Uint8Array(groupByteCount);
      let o = 0;
      for (const p of groupParts) {
        bytes.set(p, o);
        o += p.length;
      }
      return {
        tenant,
        spanCount,
        spanBytes,
        chunks,
        chunkFirstSpan: chunkFirstSpan.finish(),
        spanEnds: spanEnds.finish(),
        spanGroups: spanGroups.finish(),
        groupBytes: bytes,
        groupEnds: groupEnds.finish(),
        schemaUrls,
      };
    },
  };
}

export function packBatches(tenant: string, batches: Iterable<SpanBatch>, chunkBytes = CHUNK_BYTES): PackedBatches {
  const p = createBatchPacker(tenant, chunkBytes);
  for (const b of batches) p.add(b);
  return p.finish();
}

/** Checks the structure of packed batches (they crossed a thread boundary): throws INVALID_ARGUMENT naming what is wrong. */
export function validatePacked(p: PackedBatches): void {
  const bad = (why: string): never => {
    throw new SkeinError('INVALID_ARGUMENT', `packed batches: ${why}`);
  };
  const groups = p.schemaUrls.length / 2;
  if (!Number.isInteger(groups) || p.groupEnds.length !== groups * 2) bad('group table sizes disagree');
  let prev = 0;
  for (const e of p.groupEnds) {
    if (e < prev || e > p.groupBytes.length) bad('group offsets out of order or range');
    prev = e;
  }
  if (p.chunkFirstSpan.length !== p.chunks.length + 1 || (p.chunks.length > 0 && p.chunkFirstSpan[0] !== 0)) bad('chunk table size');
  if (p.chunkFirstSpan[p.chunks.length] !== p.spanCount || p.spanEnds.length !== p.spanCount || p.spanGroups.length !== p.spanCount) bad('span count disagrees');
  for (let c = 0; c < p.chunks.length; c++) {
    const first = p.chunkFirstSpan[c]!;
    const end = p.chunkFirstSpan[c + 1]!;
    if (end <= first) bad(`chunk ${c} holds no span`);
    let start = 0;
    for (let i = first; i < end; i++) {
      const e = p.spanEnds[i]!;
      if (e < start || e > p.chunks[c]!.length) bad(`span ${i} out of its chunk`);
      start = e;
    }
  }
  for (const g of p.spanGroups) if (g >= groups) bad('span group out of range');
}

/**
 * The batches again: one batch per chunk, one SpanGroup per run of spans of the same group, span
 * bytes as views into the chunks (no copy). Group resource/scope arrays are shared by all runs of a
 * group, so buildBlock's identity shortcut applies.
 */
export function* unpackBatches(p: PackedBatches): Generator<SpanBatch, void, undefined> {
  const groupCount = p.schemaUrls.length / 2;
  const groups: Omit<SpanGroup, 'spans'>[] = [];
  for (let g = 0; g < groupCount; g++) {
    const rStart = g === 0 ? 0 : p.groupEnds[2 * g - 1]!;
    const rEnd = p.groupEnds[2 * g]!;
    const sEnd = p.groupEnds[2 * g + 1]!;
    groups.push({ resource: p.groupBytes.subarray(rStart, rEnd), resourceSchemaUrl: p.schemaUrls[2 * g]!, scope: p.groupBytes.subarray(rEnd, sEnd), scopeSchemaUrl: p.schemaUrls[2 * g + 1]! });
  }
  for (let c = 0; c < p.chunks.length; c++) {
    const chunk = p.chunks[c]!;
    const first = p.chunkFirstSpan[c]!;
    const end = p.chunkFirstSpan[c + 1]!;
    const out: SpanGroup[] = [];
    let start = 0;
    let i = first;
    while (i < end) {
      const g = p.spanGroups[i]!;
      const spans: Uint8Array[] = [];
      while (i < end && p.spanGroups[i] === g) {
        const e = p.spanEnds[i]!;
        spans.push(chunk.subarray(start, e));
        start = e;
        i++;
      }
      out.push({ ...groups[g]!, spans });
    }
    yield { tenant: p.tenant, groups: out };
  }
}

/**
 * A built block ready to post back: object bodies that own their whole ArrayBuffer are transferred;
 * any other (a view into a shared or pooled buffer, e.g. a small Buffer) is copied first, because
 * transferring its buffer would move bytes that are not ours.
 */
export function builtTransfer<B extends BuiltBlock>(built: B): { readonly built: B; readonly transfer: ArrayBuffer[] } {
  const transfer = new Set<ArrayBuffer>();
  const objects = built.objects.map((o) => {
    const b = o.body;
    const whole = b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !transfer.has(b.buffer);
    const body = whole ? b : new Uint8Array(b);
    transfer.add(body.buffer as ArrayBuffer);
    return { key: o.key, body };
  });
  return { built: { ...built, objects }, transfer: [...transfer] };
}
