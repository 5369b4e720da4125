// Composition root of an ingester that is a member of a sharded cluster (ADR 0006): the shard set
// (WAL + head per shard it holds data for), the ownership module (lease, acquire, release, fencing),
// the write path (append locally for shards it owns, forward the rest to their owners with bounded
// retries), the internal RPC handlers (forwarded writes and queries from queriers), and drains that
// move the data of shards it no longer owns to their owners. No transport code lives here.
import { createShardFunction } from '../common/shard/index.js';
import { SkeinError, toSkeinError } from '../common/errors/index.js';
import { counter, gauge, histogram, type Registry } from '../common/metrics/index.js';
import { encodeTracesData, scanExportRequest, type ScannedRequest, type SpanLimits } from '../common/otlp/index.js';
import type { Logger } from '../common/log/index.js';
import type { QueryBackend, SpanBatch, SpanGroup } from '../common/model/index.js';
import { HolderValue, del, encodeValue, put, type Coordinator, type Keyspace } from '../common/coord/index.js';
import { NotOwnerError, type ForwardRequest, type IngesterClientPool, type IngesterRpcHandlers } from '../common/rpc/index.js';
import { createRouter, type Router, type RouteResult } from './router/index.js';
import { CUT_DEFAULTS, createHeadQueryBackend, type CutPolicy } from './head/index.js';
import { createCollector, createCompactor, createFlusher, createManifestStore } from './lifecycle/index.js';
import { createBlockWorkerPool } from './block-worker/index.js';
import { createPolicyRelay } from './policy-relay.js';
import type { UnaryHandler } from '../common/grpc/index.js';
import type { ObjectStore } from '../common/storage/index.js';
import { createOwnership, type Ownership, type ReleaseReason } from './ownership/index.js';
import type { ExportService } from './receivers/index.js';
import { createExportPipeline, type WriteOutcome } from './export-pipeline.js';
import { openShardSet, type ShardSet } from './shard-set.js';
import type { FsyncPolicy } from './wal/index.js';

export interface ClusterIngesterOptions {
  readonly dataDir: string;
  readonly fsync: FsyncPolicy;
  readonly fsyncDelayMs: number;
  readonly walSegmentBytes: number;
  readonly headMaxBytes: number;
  readonly limits: SpanLimits;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  readonly memberId: string;
  readonly version: string;
  readonly leaseTtlSeconds: number;
  /** How long one write may wait for its shards' owners (retries, failover) before UNAVAILABLE. */
  readonly forwardTimeoutMs: number;
  readonly clients: Pick<IngesterClientPool, 'get'>;
  /** Block storage and the cut: absent = heads and WALs only (no blocks are cut). */
  readonly blocks?: BlockOptions;
}

export interface BlockOptions {
  readonly store: ObjectStore;
  /** Cut a head this old (ms). */
  readonly cutMaxAgeMs: number;
  /** Cut a head holding this many bytes; 0 = half of the shard's head budget. */
  readonly cutMaxBytes: number;
  /** Traces idle this long go into the block; busier ones are carried over. */
  readonly traceIdleMs: number;
  /** How often each owned shard is checked for a due cut. Default 1000. */
  readonly checkIntervalMs?: number;
  /** Objects of compacted/expired blocks and orphans are deleted this long after they left queries (longer than any query). */
  readonly gcGraceMs: number;
  /** An upload intent of this member older than this is given up (its objects become an orphan). */
  readonly uploadTimeoutMs: number;
}

export interface ClusterIngester {
  readonly service: ExportService;
  /** Answers from every head this member holds (owned, held or draining shards). */
  readonly backend: QueryBackend;
  readonly rpc: IngesterRpcHandlers;
  /** AgentPolicy/Get for agents (served on the OTLP gRPC port): the cluster's agent policy. */
  readonly agentPolicyHandler: UnaryHandler;
  /** Registers in the cluster once the listeners are up (their addresses go into the member key). */
  join(address: string, ports: Readonly<Record<string, number>>): Promise<void>;
  /** Joined, lease valid, a partition map known, not leaving, and every shard assigned here owned. */
  ready(): boolean;
  debug(): unknown;
  /**
   * Graceful leave (SIGTERM): not ready, release every shard, keep forwarding incoming writes to
   * the new owners, drain local data to them, then stop. Data that could not be drained in time
   * stays on disk for the next start.
   */
  leave(signal: AbortSignal): Promise<void>;
  /**
   * Shutdown without handoff, for a member that has nobody to hand to (all-in-one): stop taking
   * writes, wait for those in flight, flush and close the WALs, release the lease. The next start
   * replays the WALs and owns the shards again.
   */
  close(): Promise<void>;
}

const BACKOFF_MIN_MS = 25;
const BACKOFF_MAX_MS = 400;
/** Longest a forwarded write waits at its new owner for the shard's WAL to open (normally milliseconds). */
const OPENING_WAIT_MS = 1000;
/** Largest forwarded request built by a drain (bytes of span data). */
const DRAIN_CHUNK_BYTES = 1024 * 1024;

function toScanned(batch: SpanBatch): ScannedRequest {
  return {
    resourceSpans: batch.groups.map((g) => ({
      resource: g.resource,
      schemaUrl: g.resourceSchemaUrl,
      scopeSpans: [{ scope: g.scope, schemaUrl: g.scopeSchemaUrl, spans: [...g.spans] }],
    })),
  };
}

function fromScanned(tenant: string, scanned: ScannedRequest): SpanBatch {
  const groups: SpanGroup[] = [];
  for (const rs of scanned.resourceSpans)
    for (const ss of rs.scopeSpans)
      if (ss.spans.length > 0) groups.push({ resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, spans: ss.spans });
  return { tenant, groups };
}

function countSpans(batch: SpanBatch): number {
  let n = 0;
  for (const g of batch.groups) n += g.spans.length;
  return n;
}

export async function createClusterIngester(options: ClusterIngesterOptions): Promise<ClusterIngester> {
  const { logger, registry, memberId } = options;
  const log = logger.child({ module: 'ingester', member: memberId });

  const spansLocal = counter(registry, 'skein_ingester_spans_local_total', 'Spans appended on this member because it owns their shard.');
  const spansForwarded = counter(registry, 'skein_ingester_spans_forwarded_total', 'Spans forwarded to the owner of their shard, by outcome.', ['outcome']);
  const forwardRetries = counter(registry, 'skein_ingester_forward_retries_total', 'Forwarding attempts that had to be retried, by reason.', ['reason']);
  const forwardSeconds = histogram(registry, 'skein_ingester_forward_duration_seconds', 'Time to get one shard part of a write acknowledged by its owner (incl. retries).');
  const spansReceivedForwarded = counter(registry, 'skein_ingester_forwarded_spans_received_total', 'Spans received from other members as their shard owner, by outcome.', ['outcome']);
  const drainedSpans = counter(registry, 'skein_ingester_drained_spans_total', 'Spans of shards no longer owned here, sent on to their owners.');
  const heldShards = gauge(registry, 'skein_ingester_held_shards', 'Shards this member holds data for, by state.', ['state']);

  let partitionShardCount = 1;
  log.info({ dataDir: options.dataDir, fsync: options.fsync }, 'opening the shard WALs found on disk (replaying)');
  const started = performance.now();
  let replayed = 0;
  const shards: ShardSet = await openShardSet({
    dataDir: options.dataDir,
    fsync: options.fsync,
    fsyncDelayMs: options.fsyncDelayMs,
    walSegmentBytes: options.walSegmentBytes,
    registry,
    headBytesPerShard: () => Math.max(1, Math.floor(options.headMaxBytes / Math.max(1, partitionShardCount))),
    onReplayed(shard, report, millis) {
      replayed += report.records;
      const fields = { shard, records: report.records, bytes: report.bytes, segments: report.segments, millis: Math.round(millis) };
      if (report.corruption) log.error({ ...fields, corruption: report.corruption }, 'WAL corruption: replay stopped at a corrupt record; the dropped data was quarantined');
      if (report.tornTail) log.warn({ ...fields, tornTail: report.tornTail }, 'WAL had a torn tail (normal after a crash); truncated');
      log.info(fields, 'shard replayed');
    },
  });
  log.info({ shards: shards.shards(), records: replayed, millis: Math.round(performance.now() - started) }, 'replayed local shards; they are served to queries and wait for ownership');

  const shardFunction = createShardFunction();
  const routers = new Map<number, Router>();
  const routerFor = (shardCount: number): Router => {
    let r = routers.get(shardCount);
    if (r === undefined) {
      r = createRouter({ shards: shardFunction, shardCount, limits: options.limits });
      routers.set(shardCount, r);
    }
    return r;
  };

  let joined = false;
  let leaving = false;
  const stop = new AbortController();

  const ownership: Ownership = createOwnership({
    coord: options.coord,
    keyspace: options.keyspace,
    memberId,
    address: '', // replaced in join(); ownership is created here so handlers can refer to it
    ports: {},
    version: options.version,
    leaseTtlSeconds: options.leaseTtlSeconds,
    logger,
    registry,
    onAcquire: async (shard, token) => {
      await shards.open(shard);
      log.info({ shard, token }, 'acquired shard; accepting writes');
      updateGauges();
    },
    onRelease: async (shard, token, reason) => {
      await shards.quiesce(shard);
      if (stop.signal.aborted) log.info({ shard, token, reason }, 'released shard; its data stays on disk for the next start');
      else log.info({ shard, token, reason }, 'released shard; its local data will be drained to the next owner');
      updateGauges();
      // The owner key goes away after this resolves; the drain waits for the next owner itself.
      queueMicrotask(() => startDrain(shard, reason));
    },
  });

  function updateGauges(): void {
    const counts = { open: 0, held: 0, draining: 0 };
    for (const s of shards.shards()) {
      const st = shards.state(s);
      if (st !== undefined) counts[st]++;
    }
    for (const [state, n] of Object.entries(counts)) heldShards.set({ state }, n);
  }

  // --- Writes -------------------------------------------------------------------------------

  /** Waits for the next ownership change or `ms`, whichever is first. */
  function waitForChange(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      const off = ownership.onChange(finish);
      signal?.addEventListener('abort', finish, { once: true });
    });
  }

  /**
   * Gets one shard's part of a write acknowledged by the shard's owner: appended here when this
   * member owns the shard (and still does after the append), else forwarded. Retries while the
   * shard has no reachable owner, until `deadline` (or forever when undefined, for drains, until
   * `signal` aborts).
   */
  async function writeShard(shard: number, batch: SpanBatch, deadline: number | undefined, signal: AbortSignal | undefined): Promise<WriteOutcome> {
    let backoff = BACKOFF_MIN_MS;
    let lastReason = 'no owner';
    let body: Uint8Array | undefined;
    const timer = forwardSeconds.startTimer();
    try {
      for (;;) {
        signal?.throwIfAborted();
        const token = ownership.ownedToken(shard);
        if (token !== undefined && shards.state(shard) === 'open') {
          try {
            const r = await shards.append(shard, batch);
            // The ack gate: the lease deadline may have passed (or the shard moved) during the append.
            if (ownership.ownedToken(shard) === token) {
              ownership.recordAck(shard, token);
              spansLocal.inc(r.stored);
              return r;
            }
            lastReason = `lost shard ${shard} during the append`;
          } catch (e) {
            const err = toSkeinError(e);
            if (err.code !== 'NOT_OWNER') throw err;
            lastReason = err.message;
          }
          forwardRetries.inc({ reason: 'ownership-moved' });
        } else {
          const owner = ownership.owner(shard);
          if (owner !== undefined && owner.member !== memberId) {
            body ??= encodeTracesData(batch.groups);
            const remaining = deadline === undefined ? 5000 : Math.max(1, deadline - Date.now());
            const outcome = await options.clients.get(owner.address).forward(
              { tenant: batch.tenant, shard, partitionVersion: ownership.partition()?.version ?? 0, from: memberId, body },
              { deadlineMs: Math.min(remaining, 5000), ...(signal === undefined ? {} : { signal }) },
            );
            if (outcome.kind === 'ok') {
              spansForwarded.inc({ outcome: 'ok' }, countSpans(batch));
              return { stored: countSpans(batch), duplicates: 0 };
            }
            if (outcome.kind === 'failed') {
              spansForwarded.inc({ outcome: 'failed' }, countSpans(batch));
              throw outcome.error;
            }
            lastReason = `${owner.member}: ${outcome.message}`;
            forwardRetries.inc({ reason: outcome.kind });
          } else {
            lastReason = owner === undefined ? `shard ${shard} has no owner` : `shard ${shard} is being acquired by this member`;
            forwardRetries.inc({ reason: 'no-owner' });
          }
        }
        if (deadline !== undefined && Date.now() + backoff > deadline) {
          spansForwarded.inc({ outcome: 'timeout' }, countSpans(batch));
          throw new SkeinError('UNAVAILABLE', `no owner of shard ${shard} took the spans within ${options.forwardTimeoutMs} ms (last: ${lastReason}); retry`, {
            retryAfterSeconds: 1,
          });
        }
        await waitForChange(backoff, signal);
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
      }
    } finally {
      timer();
    }
  }

  async function writeRouted(routed: RouteResult, deadline: number | undefined, signal: AbortSignal | undefined): Promise<WriteOutcome> {
    const parts: Promise<WriteOutcome>[] = [];
    routed.batches.forEach((batch, shard) => {
      if (batch !== undefined) parts.push(writeShard(shard, batch, deadline, signal));
    });
    const results = await Promise.allSettled(parts);
    let stored = 0;
    let duplicates = 0;
    for (const r of results) {
      if (r.status === 'rejected') throw toSkeinError(r.reason);
      stored += r.value.stored;
      duplicates += r.value.duplicates;
    }
    return { stored, duplicates };
  }

  const currentRouter = (): Router => {
    const p = ownership.partition();
    if (p === undefined) throw new SkeinError('UNAVAILABLE', 'the cluster has no partition map yet; is the shard controller (`skein controller`) running?', { retryAfterSeconds: 1 });
    return routerFor(p.shardCount);
  };

  const pipeline = createExportPipeline({
    logger,
    registry,
    router: currentRouter,
    write: (_tenant, routed) => writeRouted(routed, Date.now() + options.forwardTimeoutMs, undefined),
  });

  // --- Drains -------------------------------------------------------------------------------

  const drains = new Map<number, Promise<void>>();

  function startDrain(shard: number, why: ReleaseReason | 'recovered' | 'retired'): void {
    if (stop.signal.aborted) return; // closing: releases from the lease revocation keep their data
    if (drains.has(shard) || shards.state(shard) === undefined || shards.state(shard) === 'open') return;
    log.info(
      { shard, why },
      why === 'retired'
        ? 'draining a retired shard (the shard count decreased): sending its spans to the owners of their current shards'
        : 'draining shard: sending its local spans to their current owners',
    );
    let chunk: SpanBatch | undefined;
    let chunkBytes = 0;
    const flush = async (signal: AbortSignal): Promise<void> => {
      if (chunk === undefined) return;
      const batch = chunk;
      chunk = undefined;
      chunkBytes = 0;
      const routed = currentRouter().route(batch.tenant, toScanned(batch));
      await writeRouted(routed, undefined, signal);
      drainedSpans.inc(routed.accepted);
    };
    const run = shards
      .drain(shard, {
        batch: async (batch, signal) => {
          // Batches of one tenant are gathered into ~1 MB forwards; a new tenant flushes first.
          if (chunk !== undefined && chunk.tenant !== batch.tenant) await flush(signal);
          let bytes = 0;
          for (const g of batch.groups) for (const s of g.spans) bytes += s.length;
          chunk = chunk === undefined ? { tenant: batch.tenant, groups: [...batch.groups] } : { tenant: chunk.tenant, groups: [...chunk.groups, ...batch.groups] };
          chunkBytes += bytes;
          if (chunkBytes >= DRAIN_CHUNK_BYTES) await flush(signal);
        },
        end: flush,
      })
      .then(
        (outcome) => {
          if (outcome.kind === 'drained') log.info({ shard, records: outcome.records, spans: outcome.spans }, 'drained shard; deleted its local WAL');
          else log.info({ shard }, 'drain stopped (shard acquired again, or shutting down); local data kept');
        },
        (e: unknown) => log.error({ err: e, shard }, 'drain failed; local data kept, will retry'),
      )
      .finally(() => {
        drains.delete(shard);
        updateGauges();
      });
    drains.set(shard, run);
    updateGauges();
  }

  /** Shards with local data that are owned elsewhere (or beyond the map) start draining. */
  function reconcileHeld(): void {
    const p = ownership.partition();
    if (p === undefined) return;
    partitionShardCount = p.shardCount;
    for (const shard of shards.shards()) {
      if (shards.state(shard) !== 'held' || drains.has(shard)) continue;
      if (shard >= p.shardCount) {
        startDrain(shard, 'retired');
        continue;
      }
      const owner = ownership.owner(shard);
      if (owner !== undefined && owner.member !== memberId) startDrain(shard, 'recovered');
    }
  }

  // --- Cut and flush ------------------------------------------------------------------------

  const policyRelay = createPolicyRelay({ coord: options.coord, keyspace: options.keyspace, logger: log });
  /** Highest manifest revision of a block whose frozen head was (or is about to be) dropped here. */
  let flushedRevision: number | undefined;
  // Garbage collection of the blocks of the shards this member owns (it has the object store; the
  // lifecycle controller, which may not, only changes the manifest).
  const collector =
    options.blocks === undefined
      ? undefined
      : createCollector({
          coord: options.coord,
          keyspace: options.keyspace,
          store: options.blocks.store,
          member: memberId,
          ownedShards: () => ownership.ownedShards(),
          graceMs: options.blocks.gcGraceMs,
          uploadTimeoutMs: options.blocks.uploadTimeoutMs,
          logger: log,
          registry,
        });
  collector?.start();
  // Block building (flush and compaction) runs in a worker thread, off the ingest path's event loop.
  const pool = options.blocks === undefined ? undefined : createBlockWorkerPool({ size: 1 });
  // Compaction jobs the lifecycle controller planned for the shards this member owns.
  const compactor =
    options.blocks === undefined || pool === undefined
      ? undefined
      : createCompactor({
          coord: options.coord,
          keyspace: options.keyspace,
          store: options.blocks.store,
          member: memberId,
          lease: () => ownership.leaseId(),
          ownedShards: () => ownership.ownedShards(),
          pool,
          logger: log,
          registry,
          intervalMs: 10_000,
        });
  compactor?.start();
  const cutLoopDone =
    options.blocks === undefined ? Promise.resolve() : runCutLoop(options.blocks, stop.signal).catch((e: unknown) => log.error({ err: e }, 'the cut loop stopped; heads are no longer cut into blocks'));

  async function runCutLoop(blocks: BlockOptions, signal: AbortSignal): Promise<void> {
    const manifest = createManifestStore({ coord: options.coord, keyspace: options.keyspace });
    const flusher = createFlusher({
      store: blocks.store,
      manifest,
      member: memberId,
      tailPolicy: () => policyRelay.policy()?.sampling,
      logger: log,
      registry,
      ...(pool === undefined ? {} : { build: (p: Parameters<typeof pool.build>[0]) => pool.build(p) }),
    });
    const interval = blocks.checkIntervalMs ?? 1000;
    log.info({ store: blocks.store.description, cutMaxAgeMs: blocks.cutMaxAgeMs, cutMaxBytes: blocks.cutMaxBytes, traceIdleMs: blocks.traceIdleMs }, 'cutting heads into blocks');
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, interval);
        signal.addEventListener('abort', done, { once: true });
      });
      for (const [shard, token] of ownership.ownedShards()) {
        if (signal.aborted) break;
        if (shards.state(shard) !== 'open') continue;
        const budget = Math.max(1, Math.floor(options.headMaxBytes / Math.max(1, partitionShardCount)));
        const policy: CutPolicy = {
          maxHeadBytes: blocks.cutMaxBytes > 0 ? blocks.cutMaxBytes : Math.floor(budget * CUT_DEFAULTS.headFraction),
          maxHeadAgeMs: blocks.cutMaxAgeMs,
          traceIdleMs: blocks.traceIdleMs,
          maxTraceAgeMs: Math.max(CUT_DEFAULTS.maxTraceAgeMs, blocks.cutMaxAgeMs * 2),
          maxCarryFraction: CUT_DEFAULTS.maxCarryFraction,
        };
        try {
          const out = await shards.cut(shard, { policy, headBudgetBytes: budget, nowMs: Date.now() }, async (cut) => {
            const r = await flusher.flush(cut, token);
            if (r.kind !== 'committed') return r;
            // Before the shard set drops the frozen head: an answer without it must already name the revision.
            if (r.revision > 0) flushedRevision = Math.max(flushedRevision ?? 0, r.revision);
            return { kind: 'committed', revision: r.revision };
          });
          if (out.kind === 'committed') {
            log.info({ shard, reason: out.reason, traces: out.traces, spans: out.spans, carried: out.carried, revision: out.revision }, 'head cut into blocks; its WAL segments deleted');
          }
        } catch (e) {
          log.error({ err: e, shard }, 'cut failed; the head keeps its spans and the cut is retried');
        }
      }
    }
  }

  // --- Internal RPC -------------------------------------------------------------------------

  const backend = createHeadQueryBackend(
    () => shards.heads(),
    () => true,
    () => flushedRevision,
  );

  async function receiveForward(request: ForwardRequest): Promise<void> {
    if (ownership.opening(request.shard)) {
      // The owner key is ours and the WAL is opening (a handoff or failover just happened): a
      // NOT_OWNER now would send the forwarder into its back-off for hundreds of milliseconds.
      const until = Date.now() + OPENING_WAIT_MS;
      while (ownership.opening(request.shard) && Date.now() < until) await waitForChange(Math.max(1, until - Date.now()), undefined);
    }
    const token = ownership.ownedToken(request.shard);
    if (token === undefined || shards.state(request.shard) !== 'open') {
      const owner = ownership.owner(request.shard);
      spansReceivedForwarded.inc({ outcome: 'not-owner' });
      throw new NotOwnerError(
        `shard ${request.shard} is not owned by ${memberId}${owner === undefined ? ' (no owner right now)' : `; ${owner.member} owns it`}`,
        owner === undefined ? undefined : `${owner.member}@${owner.address}`,
      );
    }
    const batch = fromScanned(request.tenant, scanExportRequest(request.body));
    const r = await shards.append(request.shard, batch);
    if (ownership.ownedToken(request.shard) !== token) {
      spansReceivedForwarded.inc({ outcome: 'lost' });
      throw new SkeinError('UNAVAILABLE', `shard ${request.shard} moved away from ${memberId} during the append; retry at the new owner`);
    }
    ownership.recordAck(request.shard, token);
    spansReceivedForwarded.inc({ outcome: 'ok' }, r.stored);
  }

  let offChange: (() => void) | undefined;
  let joinedAddress: string | undefined;

  /** Runs one unconditional write on the holder key until the coordinator confirms it (its outcome can be unknown). */
  async function writeHolder(what: 'put' | 'delete', address: string, signal: AbortSignal | undefined): Promise<void> {
    const key = options.keyspace.holder(memberId);
    const op = what === 'put' ? put(key, encodeValue(HolderValue, { address, joinedAt: Date.now() })) : del(key);
    let backoff = BACKOFF_MIN_MS;
    for (;;) {
      const r = await options.coord.txn({ compare: [], success: [op] }).catch((e: unknown) => ({ kind: 'unknown' as const, error: e }));
      if (r.kind === 'committed') return;
      // Idempotent either way: retrying an unknown outcome is safe.
      signal?.throwIfAborted();
      log.warn({ what, key, outcome: r.kind }, 'holder key write not confirmed; retrying');
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(BACKOFF_MAX_MS * 4, backoff * 2);
    }
  }

  return {
    service: pipeline.service,
    backend,
    rpc: { forward: receiveForward, query: backend },
    agentPolicyHandler: policyRelay.handler,

    async join(address, ports) {
      // Before anything can be acknowledged here: queriers learn that this disk may hold spans.
      await writeHolder('put', address, AbortSignal.timeout(options.forwardTimeoutMs * 2));
      joinedAddress = address;
      ownership.setAddress(address, ports);
      await ownership.start();
      offChange = ownership.onChange(() => {
        reconcileHeld();
        updateGauges();
      });
      reconcileHeld();
      await ownership.setReady(true);
      joined = true;
      log.info({ address, held: shards.shards() }, 'joined the cluster');
    },

    ready() {
      if (!joined || leaving || ownership.partition() === undefined) return false;
      for (const shard of ownership.assignedShards()) if (ownership.ownedToken(shard) === undefined) return false;
      return true;
    },

    debug() {
      return { ownership: ownership.debug(), shards: shards.shards().map((s) => ({ shard: s, state: shards.state(s), draining: drains.has(s) })) };
    },

    async leave(signal) {
      leaving = true;
      log.info('leaving the cluster: releasing shards, draining local data to the next owners');
      await ownership.releaseAll();
      // Writes still arriving are forwarded to the new owners; drains move what is stored here.
      for (const shard of shards.shards()) startDrain(shard, 'shutdown');
      const all = Promise.allSettled([...drains.values()]);
      await Promise.race([all, new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]);
      if (signal.aborted) log.warn({ left: shards.shards() }, 'leave timed out; undrained shards stay on disk and are drained at the next start');
      await pipeline.drainRequests();
      if (joinedAddress !== undefined && shards.shards().length === 0) {
        // Nothing acknowledged is left on this disk: queriers need not wait for it any more.
        await writeHolder('delete', joinedAddress, AbortSignal.timeout(2000)).catch((e: unknown) =>
          log.warn({ err: e }, 'could not delete the holder key; queriers mark answers partial until this member joins again or the key is deleted'),
        );
      }
      stop.abort();
      offChange?.();
      await cutLoopDone;
      await compactor?.stop();
      await collector?.stop();
      await pool?.close();
      policyRelay.close();
      await shards.close();
      await ownership.stop();
      log.info('left the cluster');
    },

    async close() {
      leaving = true;
      await pipeline.drainRequests();
      stop.abort();
      offChange?.();
      await cutLoopDone;
      await compactor?.stop();
      await collector?.stop();
      await pool?.close();
      policyRelay.close();
      await shards.close();
      await ownership.stop();
      log.info('closed; WALs flushed');
    },
  };
}
