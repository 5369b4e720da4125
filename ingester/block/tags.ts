// tagNames / tagValues / services / operations of one block, as the head answers them
// (ingester/head/head.ts): intrinsic tag names first-class, values sorted, attribute values from
// span and resource attributes alike.
import type { OperationInfo } from '../../common/model/index.js';
import type { LoadedIndex } from './loaded-index.js';

/** Tags every backend accepts besides attribute keys (common/model INTRINSIC_TAGS). */
const INTRINSIC_TAG_NAMES = ['kind', 'name', 'root.name', 'root.service.name', 'service.name', 'span.kind', 'status', 'status.code'];
export const STATUS_NAMES = ['unset', 'ok', 'error'];
export const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

function utf8(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

export function listTagNames(li: LoadedIndex): string[] {
  const names = new Set<string>(INTRINSIC_TAG_NAMES);
  for (const k of li.ix.keys) names.add(utf8(k.bytes));
  return [...names].sort();
}

export function listServices(li: LoadedIndex): string[] {
  return [...new Set(li.serviceNames.filter((s) => s !== ''))].sort();
}

export function listTagValues(li: LoadedIndex, tag: string, limit: number): string[] {
  const ix = li.ix;
  const out = new Set<string>();
  switch (tag) {
    case 'service.name':
      return listServices(li);
    case 'name':
      for (const n of ix.names) out.add(utf8(n));
      break;
    case 'status':
    case 'status.code':
      STATUS_NAMES.forEach((n, i) => (ix.statusMask & (1 << i)) !== 0 && out.add(n));
      break;
    case 'kind':
    case 'span.kind':
      KIND_NAMES.forEach((n, i) => (ix.kindMask & (1 << i)) !== 0 && out.add(n));
      break;
    case 'root.service.name':
      for (const g of ix.rootGroups) if (li.serviceNames[g] !== '') out.add(li.serviceNames[g]!);
      break;
    case 'root.name':
      for (const n of ix.rootNames) out.add(utf8(ix.names[n]!));
      break;
    default: {
      const id = li.keyIds.get(Buffer.from(tag, 'utf8').toString('latin1'));
      if (id === undefined) return [];
      const k = ix.keys[id]!;
      k.forms.forEach((f, i) => k.shown[i] === 1 && out.add(utf8(f)));
    }
  }
  return [...out].sort().slice(0, limit);
}

export function listOperations(li: LoadedIndex, service: string): OperationInfo[] {
  const seen = new Set<string>();
  const out: OperationInfo[] = [];
  for (const o of li.ix.operations) {
    if (li.serviceNames[o.group] !== service) continue;
    const name = utf8(li.ix.names[o.name]!);
    const key = `${o.kind}:${name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ name, spanKind: o.kind });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.spanKind - b.spanKind));
}
