// recoverBlockData: the spans of a block read from its `data` object alone (FORMAT.md §Repair).
// The data object is self-describing — a header, then pages back to back, each with its own
// header and CRC32C — and holds everything a block is made of: the groups page (resources and
// scopes) and span pages carrying every span's bytes and group. So when the index, the bloom or
// meta.json is damaged or lost, the block can be rebuilt (buildBlock over the recovered batches)
// with nothing lost; when pages are damaged, only their spans are. Pure: bytes in, batches out.
import type { SpanBatch, SpanGroup } from '../../common/model/index.js';
import { ByteReader, MalformedError } from './bytes.js';
import { DATA_HEADER_BYTES, DATA_MAGIC, decodePage, FORMAT_VERSION, PAGE_HEADER_BYTES, PageType } from './format.js';
import { decodeGroups, decodeSpanPage, type GroupRecord, type SpanPage } from './pages.js';

export interface DamagedRange {
  /** Byte offset in `data` and length of a stretch that could not be used. */
  readonly offset: number;
  readonly length: number;
  readonly reason: string;
}

export interface RecoveredData {
  /** Every readable span, in block order, grouped by (resource, scope) runs: buildBlock's input. */
  readonly batches: SpanBatch[];
  readonly spans: number;
  readonly spanPages: number;
  readonly damaged: DamagedRange[];
}

/** A page at `pos` whose header is plausible and whose checksum holds, or undefined. */
function pageAt(data: Uint8Array, pos: number): { type: number; raw: Uint8Array; next: number } | { error: string; next: number } | undefined {
  if (pos + PAGE_HEADER_BYTES > data.length) return undefined;
  if (data[pos] !== FORMAT_VERSION || data[pos + 1]! > 1 || data[pos + 2]! < PageType.SPAN || data[pos + 2]! > PageType.GROUPS || data[pos + 3] !== 0) return undefined;
  const view = new DataView(data.buffer, data.byteOffset + pos, PAGE_HEADER_BYTES);
  const length = PAGE_HEADER_BYTES + view.getUint32(8, true);
  if (pos + length > data.length) return undefined;
  const type = data[pos + 2]!;
  const check = decodePage(data.subarray(pos, pos + length), length, type as PageType);
  if (check.ok) return { type, raw: check.raw, next: pos + length };
  // The checksum held but the payload did not decode: the page is known, its content lost.
  if (check.kind !== 'checksum') return { error: check.reason, next: pos + length };
  return undefined;
}

export function recoverBlockData(data: Uint8Array, tenant: string, fallbackGroups?: readonly GroupRecord[]): RecoveredData {
  const damaged: DamagedRange[] = [];
  let pos = DATA_HEADER_BYTES;
  const headerOk = data.length >= DATA_HEADER_BYTES && new DataView(data.buffer, data.byteOffset, DATA_HEADER_BYTES).getUint32(0, true) === DATA_MAGIC && data[4] === FORMAT_VERSION;
  if (!headerOk) {
    damaged.push({ offset: 0, length: Math.min(DATA_HEADER_BYTES, data.length), reason: 'data header is not SKBD version 1' });
    pos = 0;
  }
  let groups: GroupRecord[] | undefined;
  const spanPages: { offset: number; page: SpanPage }[] = [];
  while (pos < data.length) {
    const found = pageAt(data, pos);
    if (found === undefined) {
      // Not a page: resynchronise on the next offset where a page header's checksum holds.
      let next = pos + 1;
      while (next < data.length && pageAt(data, next) === undefined) next++;
      damaged.push({ offset: pos, length: next - pos, reason: 'no intact page here (checksum or header damaged)' });
      pos = next;
      continue;
    }
    if ('error' in found) {
      damaged.push({ offset: pos, length: found.next - pos, reason: found.error });
    } else if (found.type === PageType.GROUPS) {
      try {
        const r = new ByteReader(found.raw);
        groups = decodeGroups(r);
        if (r.remaining !== 0) throw new MalformedError('bytes after the last group');
      } catch (e) {
        damaged.push({ offset: pos, length: found.next - pos, reason: `groups page: ${e instanceof Error ? e.message : String(e)}` });
      }
    } else if (found.type === PageType.SPAN) {
      try {
        spanPages.push({ offset: pos, page: decodeSpanPage(found.raw) });
      } catch (e) {
        damaged.push({ offset: pos, length: found.next - pos, reason: `span page: ${e instanceof Error ? e.message : String(e)}` });
      }
    }
    pos = found.next;
  }

  const table = groups ?? fallbackGroups;
  const out: SpanGroup[] = [];
  let spans = 0;
  if (table === undefined) {
    if (spanPages.length > 0) damaged.push({ offset: spanPages[0]!.offset, length: 0, reason: `no readable groups page: the spans of ${spanPages.length} span pages cannot be given their resources` });
    return { batches: [], spans: 0, spanPages: spanPages.length, damaged };
  }
  for (const { offset, page } of spanPages) {
    let bad = false;
    for (let i = 0; i < page.count; i++) if (page.groups[i]! >= table.length) bad = true;
    if (bad) {
      damaged.push({ offset, length: 0, reason: `span page refers to a group beyond the ${table.length} known` });
      continue;
    }
    for (let i = 0; i < page.count; ) {
      const g = page.groups[i]!;
      let j = i;
      const list: Uint8Array[] = [];
      while (j < page.count && page.groups[j] === g) {
        list.push(page.raw.subarray(page.offsets[j]!, page.offsets[j + 1]!));
        j++;
      }
      const info = table[g]!;
      out.push({ resource: info.resource, resourceSchemaUrl: info.resourceSchemaUrl, scope: info.scope, scopeSchemaUrl: info.scopeSchemaUrl, spans: list });
      spans += list.length;
      i = j;
    }
  }
  return { batches: out.length === 0 ? [] : [{ tenant, groups: out }], spans, spanPages: spanPages.length, damaged };
}
