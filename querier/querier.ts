// The cluster querier's QueryBackend (ADR 0006 "Querier", DESIGN.md §8): it keeps a view of the
// cluster from three coordinator watches (members, shard owners, partition map), fans every query
// out to every registered member with one deadline, merges the answers (querier/combine) and marks
// an answer partial when a member did not answer in time or a shard has no owner.
//
// Every member is asked, not just the owner of the trace's shard: a trace can sit in shards of an
// older partition map, and a member still draining a shard it no longer owns holds data too.
import type { ZodType } from 'zod';
import { SkeinError } from '../common/errors/index.js';
import type { Coordinator, KeyValue, Keyspace, Watch, WatchUpdate } from '../common/coord/index.js';
import { HolderValue, MemberValue, OwnerValue, PartitionValue, decodeValue } from '../common/coord/index.js';
import type { Logger } from '../common/log/index.js';
import { counter, histogram, type Registry } from '../common/metrics/index.js';
import type { OperationInfo, QueryBackend, SearchRequest, SearchResult, TraceResult } from '../common/model/index.js';
import { combineSearchResults, combineTraceResults, mergeOperations, mergeSortedUnique } from './combine/index.js';
import { fanOut } from './fanout/index.js';

/** Per-call options of a member client (the shape common/rpc's IngesterClient takes). */
export interface MemberCallOptions {
  /** Time the call may take, ms from now. */
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
}

/** The query half of a member's internal RPC client; common/rpc's IngesterClient satisfies it. */
export interface MemberQueryClient {
  findTrace(tenant: string, traceId: Uint8Array, options: MemberCallOptions): Promise<TraceResult | null>;
  search(tenant: string, request: SearchRequest, options: MemberCallOptions): Promise<SearchResult>;
  tagNames(tenant: string, options: MemberCallOptions): Promise<string[]>;
  tagValues(tenant: string, tag: string, options: MemberCallOptions): Promise<string[]>;
  services(tenant: string, options: MemberCallOptions): Promise<string[]>;
  operations(tenant: string, service: string, options: MemberCallOptions): Promise<OperationInfo[]>;
}

/** Clients by member address; common/rpc's IngesterClientPool satisfies it. */
export interface MemberClientSource {
  get(address: string): MemberQueryClient;
  /** Called with the current addresses whenever they change, so clients of departed members can be closed. */
  retain(addresses: ReadonlySet<string>): void;
}

export interface ClusterBackendOptions {
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  readonly clients: MemberClientSource;
  /** Deadline of one fan-out; members that miss it make the answer partial. */
  readonly queryTimeoutMs: number;
  readonly logger: Logger;
  readonly registry: Registry;
}

export interface ClusterBackend extends QueryBackend {
  /** Opens the watches; resolves once each delivered its first snapshot (or stop() was called). */
  start(): Promise<void>;
  /** Closes the watches and cancels queries in flight (they reject with UNAVAILABLE). Idempotent. */
  stop(): Promise<void>;
}

type Method = 'findTrace' | 'search' | 'tagNames' | 'tagValues' | 'services' | 'operations';

/** How many member failures are spelled out in one partial answer; the rest are counted. */
const MAX_MEMBER_REASONS = 5;
/** How many unowned shards are listed by number. */
const MAX_LISTED_SHARDS = 10;

const NO_MEMBERS = 'no ingesters registered; is the cluster running?';

/** What the watches say about the cluster. Snapshots replace a watch's part wholesale. */
interface ClusterView {
  /** Member id → value (malformed values are left out). */
  members: Map<string, MemberValue>;
  /** Shard → owner, for every owner key present; `undefined` when its value is malformed (the shard still counts as owned). */
  owners: Map<number, OwnerValue | undefined>;
  partition: PartitionValue | undefined;
  /** Member id → holder key: members that may hold acknowledged spans on their own disk. */
  holders: Map<string, HolderValue>;
}

const OWNER_KEY = /^(\d+)\/owner$/;

export function createClusterBackend(options: ClusterBackendOptions): ClusterBackend {
  const { coord, keyspace, clients, queryTimeoutMs, registry } = options;
  const logger = options.logger.child({ component: 'cluster-querier' });
  if (!(queryTimeoutMs > 0)) throw new RangeError(`queryTimeoutMs must be > 0, got ${queryTimeoutMs}`);

  const requests = counter(registry, 'skein_querier_fanout_requests_total', 'Requests from the querier to cluster members, by query method and outcome (ok, error, timeout).', [
    'method',
    'outcome',
  ]);
  const durations = histogram(
    registry,
    'skein_querier_fanout_duration_seconds',
    'Time from the start of a fan-out to its merged answer, by query method.',
    ['method'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  const partials = counter(registry, 'skein_querier_partial_responses_total', 'Answers marked partial (a member did not answer, or a shard had no owner), by query method.', ['method']);

  const view: ClusterView = { members: new Map(), owners: new Map(), partition: undefined, holders: new Map() };
  const synced = { members: false, shards: false, partition: false, holders: false };
  /** Sorted addresses every query goes to; recomputed on every view change. */
  let targets: readonly string[] = [];
  /** Address → member ids at that address, for readable reasons. */
  let idsByAddress = new Map<string, string[]>();
  const disconnected = new Set<string>();
  const watches: Watch[] = [];
  const stopping = new AbortController();
  let started = false;
  let stopped = false;
  let resolveStopped: () => void = () => {};
  const stoppedPromise = new Promise<void>((resolve) => (resolveStopped = resolve));

  function decodeOrWarn<T>(schema: ZodType<T>, kv: KeyValue): T | undefined {
    const decoded = decodeValue(schema, kv.value);
    if (decoded.ok) return decoded.value;
    logger.warn({ key: kv.key, modRevision: kv.modRevision, error: decoded.error }, 'ignoring a malformed coordinator value');
    return undefined;
  }

  function putMember(kv: KeyValue): void {
    const id = kv.key.slice(keyspace.membersPrefix.length);
    const value = decodeOrWarn(MemberValue, kv);
    if (value === undefined) view.members.delete(id);
    else view.members.set(id, value);
  }

  function putHolder(kv: KeyValue): void {
    const id = kv.key.slice(keyspace.holdersPrefix.length);
    const value = decodeOrWarn(HolderValue, kv);
    if (value === undefined) view.holders.delete(id);
    else view.holders.set(id, value);
  }

  /**
   * Members that hold acknowledged spans on their disk but are not registered (crashed or killed,
   * not yet back). They are not asked (their address may black-hole every query until the
   * deadline); the answer says what it may lack instead.
   */
  function computeHolderReasons(): string[] {
    const live = new Set(view.members.keys());
    for (const owner of view.owners.values()) if (owner !== undefined) live.add(owner.member);
    const down = [...view.holders.keys()].filter((id) => !live.has(id)).sort();
    if (down.length === 0) return [];
    const listed = down.slice(0, MAX_MEMBER_REASONS).join(', ') + (down.length > MAX_MEMBER_REASONS ? `, and ${down.length - MAX_MEMBER_REASONS} more` : '');
    return [`ingester ${listed} left without handing off; the acknowledged spans on its disk are not visible until it restarts`];
  }
  /** computeHolderReasons() of the current view, recomputed on view changes rather than per query. */
  let holderReasons: readonly string[] = [];

  function shardOf(key: string): number | undefined {
    const m = OWNER_KEY.exec(key.slice(keyspace.shardsPrefix.length));
    return m === null ? undefined : Number(m[1]);
  }

  function putShardKey(kv: KeyValue): void {
    const shard = shardOf(kv.key);
    // Assignments live under the same prefix; only owner keys say who holds data now.
    if (shard !== undefined) view.owners.set(shard, decodeOrWarn(OwnerValue, kv));
  }

  function putPartition(kv: KeyValue): void {
    // A prefix watch on the partition key would also match longer keys; only the key itself counts.
    if (kv.key === keyspace.partition) view.partition = decodeOrWarn(PartitionValue, kv);
  }

  function recompute(): void {
    const byAddress = new Map<string, string[]>();
    const add = (address: string, id: string): void => {
      const ids = byAddress.get(address) ?? [];
      if (!ids.includes(id)) ids.push(id);
      byAddress.set(address, ids);
    };
    for (const [id, member] of view.members) add(member.address, id);
    // An owner is a member (same lease), but its key carries the address too: asking it costs
    // nothing when the member key is also there, and covers a member key that failed to parse.
    for (const owner of view.owners.values()) if (owner !== undefined) add(owner.address, owner.member);
    const next = [...byAddress.keys()].sort();
    idsByAddress = byAddress;
    holderReasons = computeHolderReasons();
    const changed = next.length !== targets.length || next.some((a, i) => a !== targets[i]);
    targets = next;
    if (changed) {
      clients.retain(new Set(next));
      logger.info({ members: next.length, addresses: next, shardCount: view.partition?.shardCount, unownedShards: unownedShards().length }, 'cluster members changed');
    }
  }

  /** Applies one watch update to one part of the view; never throws (a watch handler must not). */
  function handler(part: keyof typeof synced, prefix: string, put: (kv: KeyValue) => void, clear: () => void, remove: (key: string) => void) {
    return (update: WatchUpdate): void => {
      try {
        switch (update.kind) {
          case 'snapshot':
            clear();
            for (const kv of update.entries) if (kv.key.startsWith(prefix)) put(kv);
            synced[part] = true;
            if (disconnected.delete(part)) logger.info({ watch: part }, 'coordinator watch reconnected');
            break;
          case 'events':
            for (const e of update.events) {
              if (e.type === 'put') put(e.kv);
              else remove(e.key);
            }
            break;
          case 'disconnected':
            // Keep answering from the last known view: members do not vanish because etcd is unreachable.
            disconnected.add(part);
            logger.warn({ watch: part, err: update.error }, 'coordinator watch disconnected; answering from the last known cluster view');
            return;
        }
        recompute();
      } catch (e) {
        logger.error({ err: e, watch: part }, 'could not apply a coordinator watch update');
      }
    };
  }

  function unownedShards(): number[] {
    const count = view.partition?.shardCount ?? 0;
    const missing: number[] = [];
    for (let n = 0; n < count; n++) if (!view.owners.has(n)) missing.push(n);
    return missing;
  }

  function describeTarget(address: string): string {
    const ids = idsByAddress.get(address);
    return ids === undefined || ids.length === 0 ? `ingester at ${address}` : `ingester ${ids.join('/')} at ${address}`;
  }

  /** Partial-answer reasons that come from the view: shards < shardCount without an owner key. */
  function shardReasons(): string[] {
    // Without a partition map nothing can have been acknowledged (no shard can have an owner), so
    // there is nothing to be missing.
    const missing = unownedShards();
    if (missing.length === 0) return [];
    const listed = missing.slice(0, MAX_LISTED_SHARDS).join(', ') + (missing.length > MAX_LISTED_SHARDS ? ', …' : '');
    const count = view.partition!.shardCount;
    return [`${missing.length} of ${count} shards have no owner (${listed}); their recent spans are not visible until a member takes them over`];
  }

  async function ask<T>(method: Method, call: (client: MemberQueryClient, options: MemberCallOptions) => Promise<T>): Promise<{ answers: T[]; reasons: string[] }> {
    if (stopped) throw new SkeinError('UNAVAILABLE', 'querier is stopping');
    const asked = targets;
    if (asked.length === 0) throw new SkeinError('UNAVAILABLE', NO_MEMBERS);
    const fromView = [...shardReasons(), ...holderReasons];
    const startedAt = performance.now();
    try {
      const out = await fanOut(asked, (address, signal) => call(clients.get(address), { deadlineMs: queryTimeoutMs, signal }), {
        deadlineMs: queryTimeoutMs,
        signal: stopping.signal,
      });
      const answers: T[] = [];
      const memberReasons: string[] = [];
      for (const address of asked) {
        if (out.results.has(address)) {
          answers.push(out.results.get(address)!);
          requests.inc({ method, outcome: 'ok' });
          continue;
        }
        const error = out.failures.get(address)!;
        const timedOut = out.timedOut.has(address);
        requests.inc({ method, outcome: timedOut ? 'timeout' : 'error' });
        memberReasons.push(timedOut ? `${describeTarget(address)}: no answer within ${queryTimeoutMs} ms` : `${describeTarget(address)}: ${error.message}`);
      }
      if (memberReasons.length > MAX_MEMBER_REASONS) {
        const rest = memberReasons.length - MAX_MEMBER_REASONS;
        memberReasons.splice(MAX_MEMBER_REASONS, rest, `${rest} more ingesters did not answer`);
      }
      if (answers.length === 0) {
        throw new SkeinError('UNAVAILABLE', `no ingester answered: ${memberReasons.join('; ')}`, { cause: out.failures.values().next().value });
      }
      const reasons = [...memberReasons, ...fromView];
      if (reasons.length > 0) partials.inc({ method });
      return { answers, reasons };
    } finally {
      durations.observe({ method }, (performance.now() - startedAt) / 1000);
    }
  }

  return {
    async start(): Promise<void> {
      if (started) throw new Error('cluster backend already started');
      started = true;
      if (stopped) return;
      const open = (part: keyof typeof synced, prefix: string, put: (kv: KeyValue) => void, clear: () => void, remove: (key: string) => void): Watch => {
        const watch = coord.watchPrefix(prefix, handler(part, prefix, put, clear, remove));
        watches.push(watch);
        return watch;
      };
      const opened = [
        open(
          'members',
          keyspace.membersPrefix,
          putMember,
          () => view.members.clear(),
          (key) => view.members.delete(key.slice(keyspace.membersPrefix.length)),
        ),
        open(
          'shards',
          keyspace.shardsPrefix,
          putShardKey,
          () => view.owners.clear(),
          (key) => {
            const shard = shardOf(key);
            if (shard !== undefined) view.owners.delete(shard);
          },
        ),
        open(
          'holders',
          keyspace.holdersPrefix,
          putHolder,
          () => view.holders.clear(),
          (key) => view.holders.delete(key.slice(keyspace.holdersPrefix.length)),
        ),
        open(
          'partition',
          keyspace.partition,
          putPartition,
          () => (view.partition = undefined),
          (key) => {
            if (key === keyspace.partition) view.partition = undefined;
          },
        ),
      ];
      // An etcd watch closed before its first snapshot never becomes ready; stop() must still end the wait.
      await Promise.race([Promise.all(opened.map((w) => w.ready)), stoppedPromise]);
    },

    stop(): Promise<void> {
      if (!stopped) {
        stopped = true;
        stopping.abort(new SkeinError('UNAVAILABLE', 'querier is stopping'));
        for (const w of watches.splice(0)) w.close();
        resolveStopped();
      }
      return Promise.resolve();
    },

    ready(): boolean {
      return !stopped && synced.members && synced.shards && synced.partition && synced.holders && targets.length > 0;
    },

    async findTrace(tenant, traceId) {
      const { answers, reasons } = await ask('findTrace', (c, o) => c.findTrace(tenant, traceId, o));
      const result = combineTraceResults(answers, reasons);
      if ((result === null || result.groups.length === 0) && reasons.length > 0) {
        // "Not found" would claim more than we know: the trace may be on whoever did not answer.
        throw new SkeinError('UNAVAILABLE', `trace not found on the ingesters that answered, but the answer is incomplete (${reasons.join('; ')}); retry shortly`);
      }
      return result;
    },

    async search(tenant, request) {
      const { answers, reasons } = await ask('search', (c, o) => c.search(tenant, request, o));
      return combineSearchResults(answers, request.limit, reasons);
    },

    async tagNames(tenant) {
      const { answers } = await ask('tagNames', (c, o) => c.tagNames(tenant, o));
      return mergeSortedUnique(answers);
    },

    async tagValues(tenant, tag) {
      const { answers } = await ask('tagValues', (c, o) => c.tagValues(tenant, tag, o));
      return mergeSortedUnique(answers);
    },

    async services(tenant) {
      const { answers } = await ask('services', (c, o) => c.services(tenant, o));
      return mergeSortedUnique(answers);
    },

    async operations(tenant, service) {
      const { answers } = await ask('operations', (c, o) => c.operations(tenant, service, o));
      return mergeOperations(answers);
    },
  };
}
