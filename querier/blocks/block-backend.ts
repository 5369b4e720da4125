// Queries over the blocks in object storage (DESIGN.md §8): a watched view of the manifest (no
// polling lag; one view per query, so a compaction commit is seen entirely or not at all), block
// readers opened on demand and kept in a bounded cache, and the pruning each query allows —
// trace-by-ID by tenant and min/max trace ID before any read (the reader's bloom next), search by
// tenant and time range, newest blocks first, stopping once no older block can beat the results.
//
// A block that fails its checks (BlockCorruptError) is marked unreadable: it is skipped from then
// on, counted in skein_querier_blocks_unreadable, logged once, and every answer it could have
// contributed to is marked partial with its name. Other blocks are still served. A store that is
// unreachable makes the answer partial too, but marks nothing.
import type { Coordinator, Keyspace } from '../../common/coord/index.js';
import { SkeinError, isSkeinError } from '../../common/errors/index.js';
import type { Logger } from '../../common/log/index.js';
import { counter, gauge, histogram, type Registry } from '../../common/metrics/index.js';
import { toHex, type OperationInfo, type SearchRequest, type SearchResult, type SpanGroup, type TraceResult, type TraceSummary } from '../../common/model/index.js';
import type { ObjectStore } from '../../common/storage/index.js';
import { isBlockCorruptError, openBlock, type BlockReader } from '../../ingester/block/index.js';
import { isVisible, watchManifest, type ManifestView, type ManifestWatch, type ObservedBlock } from '../../ingester/lifecycle/index.js';
import { mergeOperations, mergePartial, mergeSearchSummaries, mergeSortedUnique, mergeTraceGroups } from '../combine/index.js';

export interface BlockBackendOptions {
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  readonly store: ObjectStore;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Block readers kept open (each holds its index in memory). Default 512. */
  readonly maxOpenBlocks?: number;
  /** Blocks read at once by one query. Default 8. */
  readonly concurrency?: number;
  /** Tag, service and operation lists look at this many newest blocks of the tenant. Default 64. */
  readonly maxListBlocks?: number;
}

export interface BlockBackend {
  /** Starts watching the manifest; resolves after the first snapshot. */
  start(): Promise<void>;
  stop(): void;
  /** Revision of the manifest view queries use now. */
  revision(): number;
  /** Resolves true once the view is at least `revision` (at once when it is), false after `timeoutMs`. */
  waitForRevision(revision: number, timeoutMs: number): Promise<boolean>;
  findTrace(tenant: string, traceId: Uint8Array): Promise<TraceResult | null>;
  search(tenant: string, request: SearchRequest): Promise<SearchResult>;
  tagNames(tenant: string): Promise<{ values: string[]; partial?: readonly string[] }>;
  tagValues(tenant: string, tag: string): Promise<{ values: string[]; partial?: readonly string[] }>;
  services(tenant: string): Promise<{ values: string[]; partial?: readonly string[] }>;
  operations(tenant: string, service: string): Promise<{ values: OperationInfo[]; partial?: readonly string[] }>;
}

export const BLOCK_BACKEND_DEFAULTS = { maxOpenBlocks: 512, concurrency: 8, maxListBlocks: 64 } as const;

const readerKey = (b: ObservedBlock): string => `${b.value.meta.tenant}/${b.shard}/${b.blockId}`;

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** `gone`: the block left the manifest while the query ran (collected after compaction or expiry): nothing lost, its spans are in the view's other blocks. */
type Attempt<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string; readonly gone?: boolean };

export function createBlockBackend(options: BlockBackendOptions): BlockBackend {
  const log = options.logger.child({ component: 'block-backend' });
  const maxOpen = options.maxOpenBlocks ?? BLOCK_BACKEND_DEFAULTS.maxOpenBlocks;
  const concurrency = options.concurrency ?? BLOCK_BACKEND_DEFAULTS.concurrency;
  const maxListBlocks = options.maxListBlocks ?? BLOCK_BACKEND_DEFAULTS.maxListBlocks;
  const registry = options.registry;
  const unreadableGauge = gauge(registry, 'skein_querier_blocks_unreadable', 'Blocks that failed their checksums or format checks and are skipped by queries.');
  const blocksRead = counter(registry, 'skein_querier_block_reads_total', 'Block queries by query method and outcome (ok, corrupt, unavailable).', ['method', 'outcome']);
  const blocksPruned = counter(registry, 'skein_querier_blocks_pruned_total', 'Blocks skipped without a read by min/max trace ID or time range, by query method.', ['method']);
  const openSeconds = histogram(registry, 'skein_querier_block_open_duration_seconds', 'Time to open a block (meta + index) not in the reader cache.', [], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]);
  const viewBlocks = gauge(registry, 'skein_querier_manifest_blocks', 'Blocks in the querier\'s manifest view that queries read (live and compacting).');
  const viewRevision = gauge(registry, 'skein_querier_manifest_revision', 'Coordinator revision of the querier\'s manifest view.');

  let watch: ManifestWatch | undefined;
  let waiters: { revision: number; resolve: (ok: boolean) => void }[] = [];
  /** Reader cache in LRU order (a hit moves the entry to the end). */
  const readers = new Map<string, Promise<BlockReader>>();
  /** Block key → why it is unreadable. */
  const unreadable = new Map<string, string>();

  const view = (): ManifestView => watch?.view() ?? { revision: 0, blocks: new Map(), corrupt: new Map() };

  function onView(v: ManifestView): void {
    let visible = 0;
    for (const b of v.blocks.values()) if (isVisible(b.value.state)) visible++;
    viewBlocks.set(visible);
    viewRevision.set(v.revision);
    // Forget readers and marks of blocks that left the manifest (collected after compaction or expiry).
    for (const key of unreadable.keys()) if (!v.blocks.has(key)) unreadable.delete(key);
    unreadableGauge.set(unreadable.size);
    if (readers.size > 0) {
      const live = new Set<string>();
      for (const b of v.blocks.values()) live.add(readerKey(b));
      for (const key of readers.keys()) if (!live.has(key)) readers.delete(key);
    }
    const still: typeof waiters = [];
    for (const w of waiters) {
      if (v.revision >= w.revision) w.resolve(true);
      else still.push(w);
    }
    waiters = still;
  }

  function reader(b: ObservedBlock): Promise<BlockReader> {
    const key = readerKey(b);
    const hit = readers.get(key);
    if (hit !== undefined) {
      readers.delete(key);
      readers.set(key, hit);
      return hit;
    }
    const started = performance.now();
    const opening = openBlock(options.store, b.value.meta.tenant, b.shard, b.blockId).then((r) => {
      openSeconds.observe((performance.now() - started) / 1000);
      return r;
    });
    // A failed open is not cached: the next query tries again (or skips it once marked unreadable).
    opening.catch(() => readers.delete(key));
    readers.set(key, opening);
    while (readers.size > maxOpen) readers.delete(readers.keys().next().value!);
    return opening;
  }

  const isVisibleNow = (b: ObservedBlock): boolean => {
    const now = view().blocks.get(b.key);
    return now !== undefined && isVisible(now.value.state);
  };

  /** One block query; corrupt → marked unreadable; unreachable → a partial reason; collected meanwhile → gone. */
  async function attempt<T>(method: string, b: ObservedBlock, fn: (r: BlockReader) => Promise<T>): Promise<Attempt<T>> {
    try {
      const value = await fn(await reader(b));
      blocksRead.inc({ method, outcome: 'ok' });
      return { ok: true, value };
    } catch (e) {
      if (isSkeinError(e) && e.code === 'NOT_FOUND' && !isVisibleNow(b)) {
        readers.delete(readerKey(b));
        blocksRead.inc({ method, outcome: 'gone' });
        return { ok: false, reason: `block ${b.blockId} was collected during the query`, gone: true };
      }
      if (isBlockCorruptError(e) || (isSkeinError(e) && e.code === 'NOT_FOUND')) {
        // A block the manifest says is visible but whose objects are missing or damaged.
        const reason = `block ${b.blockId} (tenant ${b.value.meta.tenant}, shard ${b.shard}) is unreadable: ${(e as Error).message}`;
        if (!unreadable.has(b.key)) {
          unreadable.set(b.key, reason);
          unreadableGauge.set(unreadable.size);
          log.error({ block: b.blockId, shard: b.shard, tenant: b.value.meta.tenant, err: (e as Error).message }, 'block unreadable; queries skip it and report partial answers (restore its objects or let compaction/retention replace it)');
        }
        readers.delete(readerKey(b));
        blocksRead.inc({ method, outcome: 'corrupt' });
        return { ok: false, reason };
      }
      blocksRead.inc({ method, outcome: 'unavailable' });
      return { ok: false, reason: `block ${b.blockId} (shard ${b.shard}) could not be read: ${(e as Error).message}` };
    }
  }

  /** Visible blocks of the tenant in the view, minus those marked unreadable (their reasons returned). */
  function tenantBlocks(v: ManifestView, tenant: string): { blocks: ObservedBlock[]; skipped: Map<string, ObservedBlock> } {
    const blocks: ObservedBlock[] = [];
    const skipped = new Map<string, ObservedBlock>();
    for (const b of v.blocks.values()) {
      if (!isVisible(b.value.state) || b.value.meta.tenant !== tenant) continue;
      if (unreadable.has(b.key)) skipped.set(b.key, b);
      else blocks.push(b);
    }
    return { blocks, skipped };
  }

  const newestFirst = (a: ObservedBlock, b: ObservedBlock): number => b.value.meta.maxEndMs - a.value.meta.maxEndMs || (a.blockId < b.blockId ? 1 : -1);

  async function list<T>(method: string, tenant: string, fn: (r: BlockReader) => Promise<T[]>, merge: (lists: T[][]) => T[]): Promise<{ values: T[]; partial?: readonly string[] }> {
    const { blocks, skipped } = tenantBlocks(view(), tenant);
    const chosen = blocks.sort(newestFirst).slice(0, maxListBlocks);
    const results = await mapLimited(chosen, concurrency, (b) => attempt(method, b, fn));
    const reasons = [...[...skipped.keys()].map((k) => unreadable.get(k)!), ...results.filter((r): r is { ok: false; reason: string } => !r.ok && r.gone !== true).map((r) => r.reason)];
    const values = merge(results.filter((r): r is { ok: true; value: T[] } => r.ok).map((r) => r.value));
    return reasons.length === 0 ? { values } : { values, partial: reasons };
  }

  return {
    async start() {
      if (watch !== undefined) return;
      watch = watchManifest(options.coord, options.keyspace, onView, {
        onDisconnected: (error) => log.warn({ err: error.message }, 'manifest watch disconnected; queries use the last view until it re-lists'),
      });
      await watch.ready;
      onView(watch.view());
      log.info({ blocks: watch.view().blocks.size, revision: watch.view().revision, store: options.store.description }, 'watching the block manifest');
    },

    stop() {
      watch?.close();
      watch = undefined;
      for (const w of waiters) w.resolve(false);
      waiters = [];
      readers.clear();
    },

    revision: () => view().revision,

    waitForRevision(revision, timeoutMs) {
      if (view().revision >= revision) return Promise.resolve(true);
      if (watch === undefined) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const entry = { revision, resolve: (ok: boolean) => (clearTimeout(timer), resolve(ok)) };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== entry);
          resolve(false);
        }, timeoutMs);
        waiters.push(entry);
      });
    },

    async findTrace(tenant, traceId) {
      if (traceId.length !== 16) throw new SkeinError('INVALID_ARGUMENT', `trace ID must be 16 bytes, got ${traceId.length}`);
      const hex = toHex(traceId);
      const { blocks, skipped } = tenantBlocks(view(), tenant);
      const inRange = (b: ObservedBlock): boolean => b.value.meta.minTraceId <= hex && hex <= b.value.meta.maxTraceId;
      const candidates = blocks.filter(inRange);
      blocksPruned.inc({ method: 'findTrace' }, blocks.length - candidates.length);
      const results = await mapLimited(candidates, concurrency, (b) => attempt('findTrace', b, (r) => r.findTrace(traceId)));
      const reasons: string[] = [];
      for (const b of skipped.values()) if (inRange(b)) reasons.push(unreadable.get(b.key)!);
      const parts: SpanGroup[][] = [];
      for (const r of results) {
        if (!r.ok) {
          if (r.gone !== true) reasons.push(r.reason);
        } else if (r.value !== null) parts.push(r.value);
      }
      const partial = mergePartial(reasons);
      if (parts.length === 0) return partial === undefined ? null : { groups: [], partial };
      const groups = mergeTraceGroups(parts);
      return partial === undefined ? { groups } : { groups, partial };
    },

    async search(tenant, request) {
      const { blocks, skipped } = tenantBlocks(view(), tenant);
      const startMs = request.startNs === undefined ? -Infinity : request.startNs / 1e6;
      const endMs = request.endNs === undefined ? Infinity : request.endNs / 1e6;
      const overlaps = (b: ObservedBlock): boolean => b.value.meta.maxEndMs >= Math.floor(startMs) && b.value.meta.minStartMs <= Math.ceil(endMs);
      const candidates = blocks.filter(overlaps).sort(newestFirst);
      const reasons: string[] = [];
      for (const b of skipped.values()) if (overlaps(b)) reasons.push(unreadable.get(b.key)!);
      let top: TraceSummary[] = [];
      let inspected = 0;
      let read = 0;
      for (let i = 0; i < candidates.length; i += concurrency) {
        // Newest first: once the results are full and the oldest of them started after the newest
        // end of every remaining block, nothing further can enter them.
        if (top.length >= request.limit) {
          const oldestKeptMs = Number(BigInt(top[top.length - 1]!.startTimeUnixNano) / 1_000_000n);
          if (oldestKeptMs > candidates[i]!.value.meta.maxEndMs) break;
        }
        const batch = candidates.slice(i, i + concurrency);
        const results = await Promise.all(batch.map((b) => attempt('search', b, (r) => r.search(request))));
        read += batch.length;
        const lists: TraceSummary[][] = [top];
        for (const r of results) {
          if (!r.ok) {
            if (r.gone !== true) reasons.push(r.reason);
          } else {
            lists.push(r.value.traces);
            inspected += r.value.inspectedTraces;
          }
        }
        top = mergeSearchSummaries(lists, request.limit);
      }
      blocksPruned.inc({ method: 'search' }, blocks.length - read);
      const partial = mergePartial(reasons);
      return partial === undefined ? { traces: top, inspectedTraces: inspected } : { traces: top, inspectedTraces: inspected, partial };
    },

    tagNames: (tenant) => list('tagNames', tenant, (r) => r.tagNames(), mergeSortedUnique),
    tagValues: (tenant, tag) => list('tagValues', tenant, (r) => r.tagValues(tag), mergeSortedUnique),
    services: (tenant) => list('services', tenant, (r) => r.services(), mergeSortedUnique),
    operations: (tenant, service) => list('operations', tenant, (r) => r.operations(service), mergeOperations),
  };
}
