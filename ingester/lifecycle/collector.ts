// Block garbage collection, run by each ingester for the shards it owns (DESIGN.md §7; MANIFEST.md
// "GC order"). The lifecycle controller only changes the manifest (plan, abandon, expire); deleting
// objects needs the object store, which every ingester has. One pass, for the owned shards:
//
//   1. uploads  — an upload intent whose token is not the shard's current owner token (its writer
//                 lost the shard and can never flush it), or this owner's own intent older than the
//                 upload timeout (its flush failed; the cut was retried under a new id), becomes an
//                 orphan (orphan-upload: the flush that needs it can never pass afterwards);
//   2. blocks   — compacted / expired blocks whose stateChangedAtMs + grace ≤ now: their objects are
//                 deleted, THEN the key (manifest-store's collect enforces the order; a crash in
//                 between leaves an invisible key the next pass finishes);
//   3. orphans  — orphan records past grace: objects first, then the record (collect-orphan);
//   4. sweep    — every `sweepEvery` passes, a backstop: block ids found in the object store under an
//                 owned shard that no block, upload, orphan or job names (a zombie writer kept writing
//                 after its intent was orphaned and collected) are recorded as `unreferenced` orphans
//                 once they stayed unreferenced for max(grace, upload timeout) (computeOrphanSweep);
//                 step 3 of a later pass deletes them, a grace later.
//
// Safety rests on the transitions' guards, not on this loop being right about ownership: a pass that
// runs on a shard this member just lost can only make transitions valid on the current state (two
// collectors on one shard delete the same objects, idempotently; one key delete wins).
//
// THE ASSUMPTION (grace): a query may have taken its manifest view while a block was still visible
// and read it afterwards. Deleting only `graceMs` after the block became invisible is safe as long as
// grace > the longest query + a querier's manifest-watch lag + wall-clock skew between the member
// that wrote stateChangedAtMs and this one. The default (10 min) is 60× the default query deadline.
//
// Work per pass is bounded (`maxPerPass` actions, oldest first across shards); what is left is done
// by later passes. Object deletes of one block run concurrently (a handful of objects), blocks one
// after the other. Errors are counted and summarised once per pass; nothing here throws out of the
// loop.
import type { Coordinator, KeyValue, Keyspace } from '../../common/coord/index.js';
import type { Logger } from '../../common/log/index.js';
import { counter, gauge, type Registry } from '../../common/metrics/index.js';
import type { ObjectStore } from '../../common/storage/index.js';
import { blockPrefix, tenantKeySegment } from '../block/index.js';
import { computeOrphanSweep, decodeManifest, isCollectable, isOrphanCollectable, type ManifestState, type ObservedOrphan, type ObservedUpload, type OrphanUploadWhy } from './manifest.js';
import { createManifestStore, type ManifestOutcome } from './manifest-store.js';

export interface CollectorOptions {
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  readonly store: ObjectStore;
  /** This member's id (for logs). */
  readonly member: string;
  /** Shards this member owns now → its fencing token (Ownership.ownedShards()). Read once per pass. */
  readonly ownedShards: () => ReadonlyMap<number, number>;
  /** Longer than the longest query plus watch lag and clock skew (see the top of this file). */
  readonly graceMs: number;
  /** This owner's own upload intents older than this are given up. Longer than the slowest flush. */
  readonly uploadTimeoutMs: number;
  /** Time between two passes. Default COLLECTOR_DEFAULTS.intervalMs. */
  readonly intervalMs?: number;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Wall-clock milliseconds (compared with times other members wrote). Default Date.now. */
  readonly wallClock?: () => number;
  /** Most manifest transitions per pass (collects, orphaned uploads, sweep records). */
  readonly maxPerPass?: number;
  /** The sweep runs on the first pass and every this many passes. */
  readonly sweepEvery?: number;
  /** Object deletes of one block in flight at once. */
  readonly deleteConcurrency?: number;
}

export const COLLECTOR_DEFAULTS = {
  /** GC is not latency-sensitive; a tenth of the default grace adds at most 10% to it. */
  intervalMs: 60_000,
  maxPerPass: 256,
  /** With the default interval: a sweep every 10 minutes (its delay is the grace, 10 minutes). */
  sweepEvery: 10,
  deleteConcurrency: 8,
} as const;

export interface CollectorPassReport {
  readonly shards: number;
  readonly uploadsOrphaned: number;
  readonly blocksDeleted: number;
  readonly orphansDeleted: number;
  readonly orphansRecorded: number;
  readonly bytesDeleted: number;
  /** Eligible work left for later passes (over `maxPerPass`). */
  readonly deferred: number;
  readonly swept: boolean;
  readonly failures: Readonly<Partial<Record<FailureReason, number>>>;
}

export interface Collector {
  /** Starts the loop (first pass after one interval). Idempotent. */
  start(): void;
  /** Stops the loop: aborts the pass in flight (what it did not finish, the next start does) and waits for it. */
  stop(): Promise<void>;
  /** Runs one pass now (passes never overlap). Never rejects. */
  runPass(signal?: AbortSignal): Promise<CollectorPassReport>;
}

type FailureReason = 'read' | 'list' | 'objects' | 'unknown' | 'conflict' | 'corrupt' | 'invalid';
const FAILURE_REASONS: readonly FailureReason[] = ['read', 'list', 'objects', 'unknown', 'conflict', 'corrupt', 'invalid'];

interface StoredBlock {
  readonly shard: number;
  readonly blockId: string;
  readonly tenant: string;
}

export function createCollector(options: CollectorOptions): Collector {
  const { coord, keyspace: ks, store, graceMs, uploadTimeoutMs } = options;
  const intervalMs = options.intervalMs ?? COLLECTOR_DEFAULTS.intervalMs;
  const maxPerPass = options.maxPerPass ?? COLLECTOR_DEFAULTS.maxPerPass;
  const sweepEvery = options.sweepEvery ?? COLLECTOR_DEFAULTS.sweepEvery;
  const deleteConcurrency = options.deleteConcurrency ?? COLLECTOR_DEFAULTS.deleteConcurrency;
  const wallClock = options.wallClock ?? Date.now;
  const log = options.logger.child({ component: 'gc', member: options.member });
  // Same clock as ours: the store's `now` is what the collect guards compare, our filter must agree.
  const manifest = createManifestStore({ coord, keyspace: ks, wallClock });

  const blocksDeleted = counter(options.registry, 'skein_ingester_gc_blocks_deleted_total', 'Compacted or expired blocks whose objects and manifest key were deleted, by state.', ['state']);
  const bytesDeleted = counter(options.registry, 'skein_ingester_gc_bytes_deleted_total', 'Bytes of block objects deleted by garbage collection (blocks and orphans).');
  const orphansDeleted = counter(options.registry, 'skein_ingester_gc_orphans_deleted_total', 'Orphan records whose objects and record were deleted.');
  const orphansRecorded = counter(
    options.registry,
    'skein_ingester_gc_orphans_recorded_total',
    'Block ids recorded as orphans by garbage collection, by reason (uncommitted: a stale or timed-out upload intent; unreferenced: found by the sweep with no record).',
    ['reason'],
  );
  const failures = counter(options.registry, 'skein_ingester_gc_failures_total', 'Garbage-collection steps that did not complete, by reason; the next pass retries.', ['reason']);
  const lastPass = gauge(options.registry, 'skein_ingester_gc_last_pass_timestamp_seconds', 'Wall-clock time the last garbage-collection pass completed (stale: GC is stuck or not running).');
  for (const state of ['compacted', 'expired']) blocksDeleted.inc({ state }, 0);
  for (const reason of ['uncommitted', 'unreferenced']) orphansRecorded.inc({ reason }, 0);
  for (const reason of FAILURE_REASONS) failures.inc({ reason }, 0);

  let passes = 0;
  /** Sweep state carried between sweeps (in memory: a restart starts the delays again). */
  let firstSeen: ReadonlyMap<string, number> = new Map();
  /** Tenant key segments seen in the store or the manifest: what the sweep lists under each owned shard. */
  const tenantSegments = new Set<string>();
  /** Shards the last sweep listed: a newly owned shard gets one full listing (its tenants may be unknown here). */
  let sweptShards = new Set<number>();
  let tail: Promise<unknown> = Promise.resolve();
  let loop: { controller: AbortController; done: Promise<void> } | undefined;

  // ------------------------------------------------------------------------------ one pass

  async function pass(signal: AbortSignal | undefined): Promise<CollectorPassReport> {
    const owned = new Map(options.ownedShards());
    const r = { uploadsOrphaned: 0, blocksDeleted: 0, orphansDeleted: 0, orphansRecorded: 0, bytesDeleted: 0, deferred: 0 };
    const failed = new Map<FailureReason, number>();
    const firstError = new Map<FailureReason, string>();
    const fail = (reason: FailureReason, message: string, fields: Record<string, unknown> = {}): void => {
      failures.inc({ reason });
      failed.set(reason, (failed.get(reason) ?? 0) + 1);
      if (!firstError.has(reason)) firstError.set(reason, message);
      log.debug({ reason, ...fields, err: message }, 'gc step failed; the next pass retries');
    };
    const passNo = passes++;
    let swept = false;

    const shards = [...owned.keys()].sort((a, b) => a - b);
    let entries: KeyValue[] = [];
    for (const shard of shards) {
      if (signal?.aborted) break;
      try {
        entries = entries.concat(await readShard(shard));
      } catch (e) {
        fail('read', errorMessage(e), { shard });
      }
    }
    const state = decodeManifest(ks, entries);
    rememberTenants(state);
    for (const c of state.corrupt) fail('corrupt', `${c.key}: ${c.error}`, { key: c.key });

    // Eligible work across the owned shards, the longest eligible first; at most maxPerPass of it.
    const nowMs = wallClock();
    const work: Array<{ since: number; run: () => Promise<void> }> = [];
    for (const u of state.uploads.values()) {
      const token = owned.get(u.shard);
      if (token === undefined) continue;
      const why = uploadVerdict(u, token, nowMs);
      if (why === undefined) continue;
      work.push({ since: why.kind === 'timed-out' ? u.value.startedAtMs + uploadTimeoutMs : u.value.startedAtMs, run: () => orphanUpload(u, why) });
    }
    for (const b of state.blocks.values()) {
      if (!owned.has(b.shard) || !isCollectable(b, nowMs, graceMs)) continue;
      work.push({
        since: b.value.stateChangedAtMs + graceMs,
        run: async () => {
          const o = await runStep(() => manifest.collect({ block: b, graceMs, deleteObjects: (x) => deleteObjects(blockPrefix(x.value.meta.tenant, x.shard, x.blockId)) }));
          if (o.kind === 'committed') {
            r.blocksDeleted++;
            blocksDeleted.inc({ state: b.value.state });
            log.debug({ shard: b.shard, block: b.blockId, state: b.value.state, tenant: b.value.meta.tenant }, 'block collected');
          } else report(o, { shard: b.shard, block: b.blockId, step: 'collect' });
        },
      });
    }
    for (const o of state.orphans.values()) {
      if (!owned.has(o.shard) || !isOrphanCollectable(o, nowMs, graceMs)) continue;
      work.push({ since: o.value.recordedAtMs + graceMs, run: () => collectOrphan(o) });
    }
    work.sort((a, b) => a.since - b.since);
    let budget = maxPerPass;
    for (const w of work) {
      if (signal?.aborted) break;
      if (budget === 0) {
        r.deferred++;
        continue;
      }
      budget--;
      await w.run();
    }

    if (passNo % sweepEvery === 0 && shards.length > 0 && !signal?.aborted) {
      swept = true;
      await sweep(owned, budget);
    }

    if (!signal?.aborted) lastPass.set(wallClock() / 1000);
    const summary = { shards: shards.length, ...r, swept, failures: Object.fromEntries(failed) as CollectorPassReport['failures'] };
    const did = r.uploadsOrphaned + r.blocksDeleted + r.orphansDeleted + r.orphansRecorded;
    if (failed.size > 0) log.warn({ ...summary, errors: Object.fromEntries(firstError) }, 'gc pass finished with failures; they are retried next pass');
    else if (did > 0 || r.deferred > 0) log.info(summary, 'gc pass');
    else log.debug(summary, 'gc pass: nothing to collect');
    return summary;

    // ---- steps (closures over this pass's report)

    async function orphanUpload(u: ObservedUpload, why: OrphanUploadWhy): Promise<void> {
      const o = await runStep(() => manifest.orphanUpload({ upload: u, why }));
      if (o.kind === 'committed') {
        r.uploadsOrphaned++;
        orphansRecorded.inc({ reason: 'uncommitted' });
        log.info({ shard: u.shard, block: u.blockId, writer: u.value.member, token: u.value.token, why: why.kind }, 'upload intent given up: recorded as an orphan');
      } else report(o, { shard: u.shard, block: u.blockId, step: 'orphan-upload' });
    }

    async function collectOrphan(orphan: ObservedOrphan): Promise<void> {
      const o = await runStep(() => manifest.collectOrphan({ orphan, graceMs, deleteObjects: (x) => deleteObjects(blockPrefix(x.value.tenant, x.shard, x.blockId)) }));
      if (o.kind === 'committed') {
        r.orphansDeleted++;
        orphansDeleted.inc();
        log.debug({ shard: orphan.shard, block: orphan.blockId, reason: orphan.value.reason, tenant: orphan.value.tenant }, 'orphan collected');
      } else report(o, { shard: orphan.shard, block: orphan.blockId, step: 'collect-orphan' });
    }

    /** Runs a transition whose deleteObjects may throw (store unreachable, aborted): counted as `objects`, the key stays. */
    async function runStep(step: () => Promise<ManifestOutcome>): Promise<ManifestOutcome | { kind: 'objects-failed' }> {
      try {
        return await step();
      } catch (e) {
        // Aborted by stop(): not a failure; the next start finishes it.
        if (!signal?.aborted) fail('objects', errorMessage(e));
        return { kind: 'objects-failed' };
      }
    }

    function report(o: ManifestOutcome | { kind: 'objects-failed' }, fields: Record<string, unknown>): void {
      switch (o.kind) {
        case 'objects-failed':
        case 'committed':
          return;
        case 'conflict':
        case 'fenced':
          // The state moved on since this pass read it (a flush won the race, another collector was
          // first): the next pass decides again on a fresh read.
          return fail('conflict', o.message, fields);
        case 'unknown':
          return fail('unknown', o.message, fields);
        case 'invalid':
          return fail('invalid', o.reason, fields);
        case 'corrupt':
          return fail('corrupt', `${o.key}: ${o.error}`, fields);
      }
    }

    /** Deletes every object under `prefix` (idempotent: a second run finds nothing), counting the bytes. */
    async function deleteObjects(prefix: string): Promise<void> {
      const call = signal === undefined ? {} : { signal };
      const objects = await store.list(prefix, call);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < objects.length) {
          const obj = objects[next++]!;
          await store.delete(obj.key, call);
          r.bytesDeleted += obj.size;
          bytesDeleted.inc(obj.size);
        }
      };
      await Promise.all(Array.from({ length: Math.min(deleteConcurrency, objects.length) }, worker));
    }

    async function sweep(ownedNow: ReadonlyMap<number, number>, left: number): Promise<void> {
      const shardsNow = [...ownedNow.keys()];
      // Listing first, the manifest after: every writer records its intent before its first object,
      // so an id listed here is named by a record read later unless that record was removed (turned
      // into a block or an orphan — then the record-orphan txn is refused — or collected).
      const full = shardsNow.some((s) => !sweptShards.has(s));
      const stored = new Map<string, StoredBlock>();
      const take = (key: string): void => {
        const b = parseObjectKey(key);
        if (b === undefined) return;
        tenantSegments.add(tenantKeySegment(b.tenant));
        if (ownedNow.has(b.shard) && !stored.has(`${b.shard}/${b.blockId}`)) stored.set(`${b.shard}/${b.blockId}`, b);
      };
      const call = signal === undefined ? {} : { signal };
      let read: ManifestState;
      try {
        if (full) {
          for (const o of await store.list('', call)) take(o.key);
        } else {
          for (const seg of tenantSegments) for (const shard of shardsNow) for (const o of await store.list(`${seg}/${shard}/`, call)) take(o.key);
        }
      } catch (e) {
        fail('list', errorMessage(e));
        return;
      }
      try {
        // A partial read would make ids of the missing shard look unreferenced: all or nothing.
        let kvs: KeyValue[] = [...(await coord.range(ks.jobsPrefix)).entries];
        for (const shard of shardsNow) kvs = kvs.concat(await readShard(shard));
        read = decodeManifest(ks, kvs);
      } catch (e) {
        fail('read', errorMessage(e));
        return;
      }
      rememberTenants(read);
      sweptShards = new Set(shardsNow);
      // The delay must outlast any upload plus its commit (SweepParams); intents precede objects, so
      // this is a second line of defence, and the grace keeps zombies' late objects in one sweep.
      const result = computeOrphanSweep({ stored: [...stored.values()], manifest: read, firstSeen, nowMs: wallClock(), delayMs: Math.max(graceMs, uploadTimeoutMs) });
      firstSeen = result.firstSeen;
      if (result.record.length > left) r.deferred += result.record.length - left;
      for (const b of result.record.slice(0, left)) {
        if (signal?.aborted) return;
        const o = await manifest.recordOrphan({ shard: b.shard, blockId: b.blockId, tenant: b.tenant, reason: 'unreferenced' });
        if (o.kind === 'committed') {
          r.orphansRecorded++;
          orphansRecorded.inc({ reason: 'unreferenced' });
          log.warn({ shard: b.shard, block: b.blockId, tenant: b.tenant }, 'objects no record names (a writer that kept writing after it lost its shard or claim): recorded as an orphan');
        } else report(o, { shard: b.shard, block: b.blockId, step: 'record-orphan' });
      }
    }
  }

  /**
   * Why an upload intent of an owned shard may be given up now, or undefined. `token` is this
   * member's token for the shard. Per MANIFEST.md: stale-owner when the intent's token is not the
   * current owner's (the txn re-checks the owner key); timed-out when it is ours and older than the
   * upload timeout. An intent with a NEWER token than ours means we are the stale one: not ours to judge.
   */
  function uploadVerdict(u: ObservedUpload, token: number, nowMs: number): OrphanUploadWhy | undefined {
    if (u.value.token > token) return undefined;
    if (u.value.token !== token) return { kind: 'stale-owner', ownerCreateRevision: token };
    if (nowMs >= u.value.startedAtMs + uploadTimeoutMs) return { kind: 'timed-out', timeoutMs: uploadTimeoutMs };
    return undefined;
  }

  async function readShard(shard: number): Promise<KeyValue[]> {
    const blocks = await coord.range(ks.blocksPrefix(shard));
    const uploads = await coord.range(ks.uploadsPrefix(shard));
    const orphans = await coord.range(ks.orphansPrefix(shard));
    return [...blocks.entries, ...uploads.entries, ...orphans.entries];
  }

  function rememberTenants(state: ManifestState): void {
    for (const b of state.blocks.values()) tenantSegments.add(tenantKeySegment(b.value.meta.tenant));
    for (const u of state.uploads.values()) tenantSegments.add(tenantKeySegment(u.value.tenant));
    for (const o of state.orphans.values()) tenantSegments.add(tenantKeySegment(o.value.tenant));
    for (const j of state.jobs.values()) tenantSegments.add(tenantKeySegment(j.value.tenant));
  }

  // ------------------------------------------------------------------------------ loop

  function runPass(signal?: AbortSignal): Promise<CollectorPassReport> {
    const run = tail.then(() => pass(signal));
    tail = run.catch(() => undefined);
    return run.catch((e: unknown) => {
      // pass() handles every expected failure; this is a bug, reported and survived.
      log.error({ err: e }, 'gc pass failed unexpectedly');
      failures.inc({ reason: 'invalid' });
      return { shards: 0, uploadsOrphaned: 0, blocksDeleted: 0, orphansDeleted: 0, orphansRecorded: 0, bytesDeleted: 0, deferred: 0, swept: false, failures: { invalid: 1 } };
    });
  }

  return {
    start() {
      if (loop !== undefined) return;
      const controller = new AbortController();
      const { signal } = controller;
      log.info({ graceMs, uploadTimeoutMs, intervalMs, maxPerPass, sweepEvery, store: store.description }, 'garbage collection of owned shards started');
      const done = (async () => {
        while (!signal.aborted) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, intervalMs);
            signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
          });
          if (signal.aborted) break;
          await runPass(signal);
        }
      })();
      loop = { controller, done };
    },

    async stop() {
      const l = loop;
      if (l === undefined) return;
      loop = undefined;
      l.controller.abort();
      await l.done;
    },

    runPass,
  };
}

// ------------------------------------------------------------------------------ object keys

const SEGMENT_KEEP = /^[A-Za-z0-9.-]$/;
const SHARD = /^(0|[1-9][0-9]{0,8})$/;
const BLOCK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The tenant a key segment was made from (the inverse of tenantKeySegment), or undefined when the
 * segment is not one tenantKeySegment produces (another tool's objects are left alone).
 */
export function parseTenantKeySegment(segment: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; ) {
    const ch = segment[i]!;
    if (ch === '_') {
      const hex = segment.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else if (SEGMENT_KEEP.test(ch)) {
      bytes.push(ch.charCodeAt(0));
      i++;
    } else {
      return undefined;
    }
  }
  let tenant: string;
  try {
    tenant = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
  return tenant !== '' && tenantKeySegment(tenant) === segment ? tenant : undefined;
}

/** `<tenant>/<shard>/<blockId>/<object>` → the block it belongs to; undefined for anything else. */
export function parseObjectKey(key: string): StoredBlock | undefined {
  const parts = key.split('/');
  if (parts.length < 4 || !SHARD.test(parts[1]!) || !BLOCK_ID.test(parts[2]!)) return undefined;
  const tenant = parseTenantKeySegment(parts[0]!);
  return tenant === undefined ? undefined : { tenant, shard: Number(parts[1]), blockId: parts[2]! };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
