// Test helpers for blocks (this module's tests, and later compaction's): build a block into an
// in-memory store and open it; canonical views of span groups for order-insensitive comparison.
import type { SpanBatch, SpanGroup } from '../../../common/model/index.js';
import type { AttrInput } from '../../head/testing/index.js';
import { createMemoryObjectStore, type MemoryObjectStore } from '../../../common/storage/index.js';
import { buildBlock, openBlock, writeBlock, type BlockReader, type BuildBlockOptions, type BuiltBlock, type OpenBlockOptions } from '../index.js';

export interface OpenedBlock {
  readonly store: MemoryObjectStore;
  readonly built: BuiltBlock;
  readonly reader: BlockReader;
}

export async function buildAndOpen(
  batches: readonly SpanBatch[],
  options: BuildBlockOptions = {},
  ids: { tenant?: string; shard?: number; blockId?: string } = {},
  open: OpenBlockOptions = {},
): Promise<OpenedBlock> {
  const tenant = ids.tenant ?? batches[0]?.tenant ?? 't';
  const shard = ids.shard ?? 3;
  const blockId = ids.blockId ?? 'b-0001';
  const built = buildBlock({ blockId, tenant, shard, level: 0, batches, options });
  const store = createMemoryObjectStore();
  await writeBlock(store, built);
  const reader = await openBlock(store, tenant, shard, blockId, open);
  return { store, built, reader };
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Every span as `resource|resourceSchema|scope|scopeSchema|span` hex, sorted: equal iff the same spans under the same groups. */
export function canonicalSpans(groups: readonly SpanGroup[] | null): string[] {
  if (groups === null) return [];
  return groups.flatMap((g) => g.spans.map((s) => `${hex(g.resource)}|${g.resourceSchemaUrl}|${hex(g.scope)}|${g.scopeSchemaUrl}|${hex(s)}`)).sort();
}

/** The `index`-th object of the block with one byte XORed (the store's copy is replaced). */
export async function flipByte(store: MemoryObjectStore, key: string, at: number, mask = 0xff): Promise<void> {
  const body = new Uint8Array(await store.get(key));
  body[at] = body[at]! ^ mask;
  await store.put(key, body);
}

// ---- span fixtures of the block property tests (oracle, merge) -------------------------------------------

/** Services of the generated spans ('' = a resource without service.name). */
export const FIXTURE_SERVICES = ['frontend', 'cart', 'pay', ''] as const;
/** Resource attributes are a function of the service, so a duplicate span always comes with its first copy's resource. */
export const FIXTURE_RESOURCE_ATTRS: Record<string, Record<string, AttrInput>> = {
  frontend: { env: 'prod', 'k8s.pod': 'fe-1', region: 3n },
  cart: { env: 'dev', region: 3n, weight: 0.5 },
  pay: { env: 'prod', flags: [true, 'x'], 'k8s.pod': 'pay-0' },
  '': { env: '5' },
};
/** Span names, with the empty and a non-ASCII one. */
export const FIXTURE_NAMES = ['GET /', 'db.query', '', 'ünï', 'x'];
