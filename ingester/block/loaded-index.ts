// A decoded index plus the lookups queries need, built once per open block: service names of the
// groups, key and name dictionaries by their bytes, and (lazily) form → ID maps per key and the
// attributes of every group's resource.
import type { KeyValue, SpanGroup } from '../../common/model/index.js';
import { decodeResource, forEachAttribute, readServiceName } from '../../common/otlp/index.js';
import { compareIds, keyHashes, type BlockIndex } from './index-codec.js';
import { createForm, formBytes, formOf, latin1 } from './forms.js';

export interface LoadedIndex {
  readonly ix: BlockIndex;
  /** Service name of each group ('' when its resource has none). */
  readonly serviceNames: string[];
  /** Key ID by the key's bytes (latin1). */
  readonly keyIds: Map<string, number>;
  /** Name ID by the name's bytes (latin1). */
  readonly nameIds: Map<string, number>;
  /** Murmur hashes of each key (the first half of its attribute hashes). */
  readonly keyHash: [number, number][];
  /** Index of the trace with this ID, or −1. */
  findTrace(id: Uint8Array): number;
  /** Dictionary ID of a form (latin1 of its bytes) in an indexed key, or −1. */
  formId(keyId: number, form: string): number;
  /** Per group: key bytes (latin1) → forms (latin1) of its resource's attributes. */
  groupAttributes(): Map<string, Set<string>>[];
  /** A SpanGroup of group `g` holding `spans`. */
  spanGroup(g: number, spans: Uint8Array[]): SpanGroup;
}

export function createLoadedIndex(ix: BlockIndex): LoadedIndex {
  const serviceNames = ix.groups.map((g) => {
    try {
      return readServiceName(g.resource);
    } catch {
      return '';
    }
  });
  const keyIds = new Map<string, number>();
  ix.keys.forEach((k, i) => keyIds.set(latin1(k.bytes), i));
  const nameIds = new Map<string, number>();
  ix.names.forEach((n, i) => nameIds.set(latin1(n), i));
  const keyHash = ix.keys.map((k) => keyHashes(k.bytes));
  const formMaps: (Map<string, number> | undefined)[] = new Array<Map<string, number> | undefined>(ix.keys.length).fill(undefined);
  let groupAttrs: Map<string, Set<string>>[] | undefined;
  const ids = ix.traces.ids;
  const count = ix.traces.count;
  return {
    ix,
    serviceNames,
    keyIds,
    nameIds,
    keyHash,
    findTrace(id: Uint8Array): number {
      let lo = 0;
      let hi = count - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const c = compareIds(ids, mid * 16, id, 0);
        if (c === 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
      }
      return -1;
    },
    formId(keyId: number, form: string): number {
      const k = ix.keys[keyId]!;
      if (!k.indexed) return -1;
      let m = formMaps[keyId];
      if (m === undefined) {
        m = new Map();
        k.forms.forEach((f, i) => m!.set(latin1(f), i));
        formMaps[keyId] = m;
      }
      return m.get(form) ?? -1;
    },
    groupAttributes(): Map<string, Set<string>>[] {
      groupAttrs ??= ix.groups.map((g) => resourceAttributes(g.resource));
      return groupAttrs;
    },
    spanGroup(g: number, spans: Uint8Array[]): SpanGroup {
      const info = ix.groups[g]!;
      return { resource: info.resource, resourceSchemaUrl: info.resourceSchemaUrl, scope: info.scope, scopeSchemaUrl: info.scopeSchemaUrl, spans };
    },
  };
}

function resourceAttributes(resource: Uint8Array): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const form = createForm();
  let position = 0;
  let decoded: readonly KeyValue[] | undefined | null = null;
  const list = (): readonly KeyValue[] | undefined => {
    if (decoded === null) {
      try {
        decoded = decodeResource(resource).attributes;
      } catch {
        decoded = undefined;
      }
    }
    return decoded;
  };
  try {
    forEachAttribute(resource, 0, resource.length, 1, (buf, keyOffset, keyLength, type, valueOffset, valueLength) => {
      const index = position++;
      if (!formOf(buf, type, valueOffset, valueLength, (i) => list()?.[i]?.value, index, form)) return;
      const key = latin1(buf.subarray(keyOffset, keyOffset + keyLength));
      let set = out.get(key);
      if (set === undefined) {
        set = new Set();
        out.set(key, set);
      }
      set.add(latin1(formBytes(form)));
    });
  } catch {
    // A malformed resource: the attributes read so far count (as at build time).
  }
  return out;
}
