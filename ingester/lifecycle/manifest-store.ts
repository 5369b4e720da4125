// Executes the manifest transitions of manifest.ts on a Coordinator, and keeps a watched,
// in-memory view of the blocks for queriers.
//
// Outcomes are a discriminated union; nothing here retries. An `unknown` txn result (the reply was
// lost, the deadline passed; DESIGN.md §5: the client never re-sends) is resolved by ONE atomic
// re-read of every key the txn compares plus the keys its effect shows in:
//   - the effect is there (recognise() in manifest.ts: a once-used block/job id, the writer's token,
//     the holder's lease, the timestamp written)   → `committed`, recovered;
//   - a guard fails now                             → `fenced` / `conflict`: final, because every
//     guard compares a revision (revisions are never reused) or the absence of a key only this
//     transition creates;
//   - every guard still passes                       → `unknown`: it may still apply; re-sending the
//     SAME request is safe, because each transition's success changes a key its own guards compare,
//     so at most one copy ever applies — and a re-send rejected because its twin applied is
//     recognised as `committed` too (the failure branch reads the effect keys).
// The one assumption: a txn that is in flight is applied within its request deadline plus etcd's
// apply latency or never — every grace period (GC, orphans) is set far beyond that.
import {
  get,
  type Coordinator,
  type KeyValue,
  type Keyspace,
  type OpResult,
  type TxnResult,
  type WatchUpdate,
} from '../../common/coord/index.js';
import { isSkeinError } from '../../common/errors/index.js';
import {
  buildAbandonTxn,
  buildBeginUploadTxn,
  buildClaimTxn,
  buildCollectOrphanTxn,
  buildCollectTxn,
  buildCommitTxn,
  buildExpireTxn,
  buildFlushTxn,
  buildOrphanUploadTxn,
  buildPlanTxn,
  buildRecordOrphanTxn,
  buildReleaseTxn,
  decodeBlock,
  decodeJob,
  decodeManifest,
  evaluateGuards,
  MAX_TXN_OPS,
  type AbandonParams,
  type BeginUploadParams,
  type BuildResult,
  type ClaimParams,
  type CommitParams,
  type ConflictReason,
  type CorruptKey,
  type ExpireParams,
  type FencedReason,
  type FlushParams,
  type HeldClaim,
  type ManifestState,
  type ManifestTxn,
  type ObservedBlock,
  type ObservedJob,
  type ObservedOrphan,
  type OrphanUploadParams,
  type PlanParams,
  type RecordOrphanParams,
} from './manifest.js';

export type ManifestOutcome =
  /** Applied. `recovered`: learnt by re-reading after an unknown outcome or a rejected re-send; `revision` is then the revision of the recognised mark (or of the re-read, when the mark is a deletion). */
  | { readonly kind: 'committed'; readonly revision: number; readonly recovered: boolean }
  /** Not applied: the state moved on since it was read. Re-read and decide again. */
  | { readonly kind: 'conflict'; readonly reason: ConflictReason; readonly key: string; readonly message: string }
  /** Not applied: the writer is stale (its owner token or job claim is gone). Stop acting for that shard / job. */
  | { readonly kind: 'fenced'; readonly reason: FencedReason | 'lease-gone'; readonly key: string; readonly message: string }
  /** Could not tell. It may still apply; re-sending the same request is safe. Delete nothing that depends on it. */
  | { readonly kind: 'unknown'; readonly error: Error; readonly message: string }
  /** Refused before sending: the transition is not allowed from what was observed (or is too large for one txn). */
  | { readonly kind: 'invalid'; readonly reason: string }
  /** A value the decision depends on does not parse. Reported, never treated as absent; needs a person. */
  | { readonly kind: 'corrupt'; readonly key: string; readonly error: string };

export type ClaimOutcome = Exclude<ManifestOutcome, { kind: 'committed' }> | { readonly kind: 'committed'; readonly revision: number; readonly recovered: boolean; readonly claim: HeldClaim };

/** A read of everything the lifecycle decides on (blocks, jobs with their claims, orphans, uploads, the policy). */
export interface ManifestRead extends ManifestState {
  /** Revision of the blocks range (the other ranges were read just after it). */
  readonly revision: number;
}

export interface ManifestStoreOptions {
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  /** Wall-clock milliseconds since the epoch, written into values (they are compared across processes). Default Date.now. */
  readonly wallClock?: () => number;
}

type WithoutNow<T> = Omit<T, 'nowMs'>;

export interface ManifestStore {
  read(): Promise<ManifestRead>;
  /** A job with its claim key, read atomically; undefined when absent. */
  readJob(id: string): Promise<{ readonly ok: true; readonly job: ObservedJob | undefined } | { readonly ok: false; readonly corrupt: CorruptKey }>;
  /** Blocks of one shard by id, read atomically; absent ones are left out. */
  readBlocks(shard: number, ids: readonly string[]): Promise<{ readonly ok: true; readonly blocks: ObservedBlock[] } | { readonly ok: false; readonly corrupt: CorruptKey }>;
  /** Before the first object of a block: `committed.revision` is the upload's create revision, which flush needs. */
  beginUpload(p: WithoutNow<BeginUploadParams>): Promise<ManifestOutcome>;
  flush(p: WithoutNow<FlushParams>): Promise<ManifestOutcome>;
  /** The writer gives its upload up, or the controller finds it stale: upload → orphan. */
  orphanUpload(p: WithoutNow<OrphanUploadParams>): Promise<ManifestOutcome>;
  plan(p: WithoutNow<PlanParams>): Promise<ManifestOutcome>;
  claim(p: WithoutNow<ClaimParams>): Promise<ClaimOutcome>;
  release(claim: HeldClaim): Promise<ManifestOutcome>;
  commit(p: WithoutNow<CommitParams>): Promise<ManifestOutcome>;
  abandon(p: WithoutNow<AbandonParams>): Promise<ManifestOutcome>;
  expire(p: WithoutNow<ExpireParams>): Promise<ManifestOutcome>;
  /**
   * Garbage-collects a compacted or expired block: deletes its objects FIRST (deleteObjects; must be
   * idempotent), then its key. A throw from deleteObjects propagates and leaves the key for the next
   * pass — the block is invisible either way.
   */
  collect(p: { readonly block: ObservedBlock; readonly graceMs: number; readonly deleteObjects: (block: ObservedBlock) => Promise<void> }): Promise<ManifestOutcome>;
  recordOrphan(p: WithoutNow<RecordOrphanParams>): Promise<ManifestOutcome>;
  /** Same order as collect: the orphan's objects first, then its record. */
  collectOrphan(p: { readonly orphan: ObservedOrphan; readonly graceMs: number; readonly deleteObjects: (orphan: ObservedOrphan) => Promise<void> }): Promise<ManifestOutcome>;
  /** Runs any built transition (the methods above are this plus the builder). */
  execute(built: BuildResult): Promise<ManifestOutcome>;
}

export function createManifestStore(options: ManifestStoreOptions): ManifestStore {
  const { coord, keyspace: ks } = options;
  const now = options.wallClock ?? Date.now;

  async function readKeys(keys: readonly string[]): Promise<{ revision: number; kvs: Map<string, KeyValue | undefined> }> {
    const kvs = new Map<string, KeyValue | undefined>();
    let revision = 0;
    for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
      const chunk = keys.slice(i, i + MAX_TXN_OPS);
      const r = await coord.txn({ compare: [], success: chunk.map((k) => get(k)) });
      if (r.kind !== 'committed') throw r.kind === 'unknown' ? r.error : new Error(`read-only txn answered ${r.kind}`);
      revision = Math.max(revision, r.revision);
      zipGets(chunk, r.results, kvs);
    }
    return { revision, kvs };
  }

  async function resolve(txn: ManifestTxn, error: Error): Promise<ManifestOutcome> {
    const keys = [...new Set([...txn.guards.map((g) => g.compare.key), ...txn.effectKeys])];
    let read;
    try {
      read = await readKeys(keys);
    } catch (readError) {
      return unknown(txn, error, `and the re-read failed too (${(readError as Error).message})`);
    }
    const rec = txn.recognise(read.kvs, read.revision);
    if (rec.kind === 'applied') return { kind: 'committed', revision: rec.revision, recovered: true };
    if (rec.kind === 'corrupt') return { kind: 'corrupt', key: rec.corrupt.key, error: rec.corrupt.error };
    const verdict = evaluateGuards(txn, read.kvs);
    if (verdict.kind === 'passes') return unknown(txn, error, 'its effect is not visible yet and it may still apply; re-sending it is safe');
    return explain(txn, verdict, ' (after an unknown outcome)');
  }

  async function execute(built: BuildResult): Promise<ManifestOutcome> {
    if (!built.ok) return { kind: 'invalid', reason: built.reason };
    const txn = built.txn;
    let result: TxnResult;
    try {
      result = await coord.txn(txn.request);
    } catch (error) {
      // etcd refused the request as malformed (e.g. too many operations): nothing was applied.
      if (isSkeinError(error) && error.code === 'INVALID_ARGUMENT') return { kind: 'invalid', reason: error.message };
      return resolve(txn, error as Error);
    }
    switch (result.kind) {
      case 'committed':
        return { kind: 'committed', revision: result.revision, recovered: false };
      case 'lease-not-found':
      {
        // Only claim puts with a lease: the holder's lease is gone, so it holds nothing.
        const key = txn.request.success.find((o) => o.op === 'put' && o.lease !== undefined)?.key ?? '';
        return { kind: 'fenced', reason: 'lease-gone', key, message: `${txn.transition}: lease ${result.lease} no longer exists` };
      }
      case 'unknown':
        return resolve(txn, result.error);
      case 'rejected': {
        const keys = (txn.request.failure ?? []).map((o) => o.key);
        const kvs = zipGets(keys, result.results, new Map());
        // A re-send whose twin already applied is rejected by its own guards: recognise it first.
        const rec = txn.recognise(kvs, result.revision);
        if (rec.kind === 'applied') return { kind: 'committed', revision: rec.revision, recovered: true };
        if (rec.kind === 'corrupt') return { kind: 'corrupt', key: rec.corrupt.key, error: rec.corrupt.error };
        const verdict = evaluateGuards(txn, kvs);
        if (verdict.kind === 'passes') return unknown(txn, new Error('rejected, yet every guard passes against the state it was evaluated on'), 'the store and the guards disagree');
        return explain(txn, verdict, '');
      }
    }
  }

  return {
    async read() {
      const blocks = await coord.range(ks.blocksRoot);
      const jobs = await coord.range(ks.jobsPrefix);
      const orphans = await coord.range(ks.orphansRoot);
      const uploads = await coord.range(ks.uploadsRoot);
      const policy = await coord.get(ks.policy);
      const state = decodeManifest(ks, [...blocks.entries, ...jobs.entries, ...orphans.entries, ...uploads.entries, ...(policy.kv === undefined ? [] : [policy.kv])]);
      return { ...state, revision: blocks.revision };
    },

    async readJob(id) {
      const { kvs } = await readKeys([ks.job(id), ks.jobClaim(id)]);
      const kv = kvs.get(ks.job(id));
      if (kv === undefined) return { ok: true, job: undefined };
      const d = decodeJob(ks, kv, kvs.get(ks.jobClaim(id)));
      return d.ok ? { ok: true, job: d.value } : { ok: false, corrupt: d.corrupt };
    },

    async readBlocks(shard, ids) {
      const { kvs } = await readKeys(ids.map((id) => ks.block(shard, id)));
      const blocks: ObservedBlock[] = [];
      for (const kv of kvs.values()) {
        if (kv === undefined) continue;
        const d = decodeBlock(ks, kv);
        if (!d.ok) return { ok: false, corrupt: d.corrupt };
        blocks.push(d.value);
      }
      return { ok: true, blocks };
    },

    beginUpload: (p) => execute(buildBeginUploadTxn(ks, { ...p, nowMs: now() })),
    flush: (p) => execute(buildFlushTxn(ks, { ...p, nowMs: now() })),
    orphanUpload: (p) => execute(buildOrphanUploadTxn(ks, { ...p, nowMs: now() })),
    plan: (p) => execute(buildPlanTxn(ks, { ...p, nowMs: now() })),

    async claim(p) {
      const outcome = await execute(buildClaimTxn(ks, { ...p, nowMs: now() }));
      if (outcome.kind !== 'committed') return outcome;
      // The claim key is created by this txn, so its create revision (the holder's token) is the
      // txn's revision — and recognise() reports exactly that revision for a recovered claim.
      return { ...outcome, claim: { jobId: p.job.id, member: p.member, lease: p.lease, token: outcome.revision } };
    },

    release: (claim) => execute(buildReleaseTxn(ks, claim)),
    commit: (p) => execute(buildCommitTxn(ks, { ...p, nowMs: now() })),
    abandon: (p) => execute(buildAbandonTxn(ks, { ...p, nowMs: now() })),
    expire: (p) => execute(buildExpireTxn(ks, { ...p, nowMs: now() })),

    async collect(p) {
      const built = buildCollectTxn(ks, { block: p.block, graceMs: p.graceMs, nowMs: now() });
      if (!built.ok) return { kind: 'invalid', reason: built.reason };
      // Objects first: compacted/expired are terminal and invisible, so deleting on this (possibly
      // stale) observation is safe; a crash after it leaves a key the next pass finishes.
      await p.deleteObjects(p.block);
      return execute(built);
    },

    recordOrphan: (p) => execute(buildRecordOrphanTxn(ks, { ...p, nowMs: now() })),

    async collectOrphan(p) {
      const built = buildCollectOrphanTxn(ks, { orphan: p.orphan, graceMs: p.graceMs, nowMs: now() });
      if (!built.ok) return { kind: 'invalid', reason: built.reason };
      // The record is a tombstone (no commit of this id can pass while it exists): objects first.
      await p.deleteObjects(p.orphan);
      return execute(built);
    },

    execute,
  };
}

function zipGets(keys: readonly string[], results: readonly OpResult[], into: Map<string, KeyValue | undefined>): Map<string, KeyValue | undefined> {
  keys.forEach((key, i) => {
    const r = results[i];
    into.set(key, r?.op === 'get' ? r.kv : undefined);
  });
  return into;
}

function unknown(txn: ManifestTxn, error: Error, why: string): ManifestOutcome {
  return { kind: 'unknown', error, message: `${txn.transition}: outcome unknown (${error.message}); ${why}` };
}

function explain(txn: ManifestTxn, verdict: Exclude<ReturnType<typeof evaluateGuards>, { kind: 'passes' }>, suffix: string): ManifestOutcome {
  const message = `${txn.transition} ${verdict.kind === 'fenced' ? 'fenced' : 'refused'}: ${verdict.reason} at ${verdict.key}${suffix}`;
  return verdict.kind === 'fenced' ? { kind: 'fenced', reason: verdict.reason, key: verdict.key, message } : { kind: 'conflict', reason: verdict.reason, key: verdict.key, message };
}

// ------------------------------------------------------------------------------ watched view

export interface ManifestView {
  /** Store revision the view reflects. */
  readonly revision: number;
  /** Every block by key (all states: use visibleBlocks() for what queries read). */
  readonly blocks: ReadonlyMap<string, ObservedBlock>;
  /** Block keys whose value does not parse, with why: reported, and never read. */
  readonly corrupt: ReadonlyMap<string, string>;
}

export interface ManifestWatch {
  /** Resolves after the first snapshot was applied. */
  readonly ready: Promise<void>;
  /** The current view. Views are immutable: one taken at the start of a query stays consistent. */
  view(): ManifestView;
  close(): void;
}

export interface WatchManifestOptions {
  /** The watch broke; the view is kept (possibly stale) until the re-list's snapshot replaces it. */
  readonly onDisconnected?: (error: Error) => void;
}

/**
 * Keeps a view of every shard's blocks from Coordinator.watchPrefix: a snapshot replaces the state,
 * events patch it. One update is one store revision, so a compaction commit (output live, inputs
 * compacted) flips atomically: no view shows both or neither. Each update builds a new view (copy on
 * write; manifest changes are rare next to queries), then calls onChange with it.
 */
export function watchManifest(coord: Coordinator, ks: Keyspace, onChange: (view: ManifestView) => void, options: WatchManifestOptions = {}): ManifestWatch {
  let current: ManifestView = { revision: 0, blocks: new Map(), corrupt: new Map() };

  const apply = (blocks: Map<string, ObservedBlock>, corruptKeys: Map<string, string>, kv: KeyValue): void => {
    const d = decodeBlock(ks, kv);
    if (d.ok) {
      blocks.set(kv.key, d.value);
      corruptKeys.delete(kv.key);
    } else {
      blocks.delete(kv.key);
      corruptKeys.set(kv.key, d.corrupt.error);
    }
  };

  const handler = (update: WatchUpdate): void => {
    switch (update.kind) {
      case 'snapshot': {
        const blocks = new Map<string, ObservedBlock>();
        const corruptKeys = new Map<string, string>();
        for (const kv of update.entries) apply(blocks, corruptKeys, kv);
        current = { revision: update.revision, blocks, corrupt: corruptKeys };
        break;
      }
      case 'events': {
        const blocks = new Map(current.blocks);
        const corruptKeys = new Map(current.corrupt);
        for (const e of update.events) {
          if (e.type === 'put') apply(blocks, corruptKeys, e.kv);
          else {
            blocks.delete(e.key);
            corruptKeys.delete(e.key);
          }
        }
        current = { revision: update.revision, blocks, corrupt: corruptKeys };
        break;
      }
      case 'disconnected':
        options.onDisconnected?.(update.error);
        return;
    }
    onChange(current);
  };

  const watch = coord.watchPrefix(ks.blocksRoot, handler);
  return { ready: watch.ready, view: () => current, close: () => watch.close() };
}
