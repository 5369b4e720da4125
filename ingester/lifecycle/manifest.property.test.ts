// The manifest transitions as a whole (DESIGN.md §7; §10 invariants 3, 6 and 7): the real builders
// and executor (manifest.ts, manifest-store.ts) driven by fast-check schedules over the memory
// coordinator on a manual clock. Actors:
//   - shard owners, current and stale (their lease lapsed, or another incarnation owns the shard
//     now; a stale one keeps acting like a paused process that wakes up), each recording an upload
//     intent, writing a block's objects and later flushing it with its token — or crashing in
//     between, or sitting on its objects for longer than any timeout;
//   - job holders, each with its own lease: claim, merge (write the output's objects from the
//     inputs' objects), commit or release; leases lapse at any point (the holder keeps acting as
//     a zombie), holders crash after writing objects and before committing;
//   - the lifecycle controller, acting on a view it refreshes only now and then (so on stale
//     reads): plan, abandon, expire, collect (objects first, with a crash point before the key),
//     turn stale or timed-out uploads into orphans, collect orphans, sweep the object store for
//     unreferenced ids; policy changes; crashes.
// Any write txn may lose its reply (applied), lose its request, or be delayed (applied or dropped
// later, but before time moves on — an in-flight txn lives no longer than its deadline); callers
// re-send after `unknown`, as the executor says is safe.
//
// Spans are modelled abstractly: a block's objects are the set of span ids written under its id;
// a compaction output's objects are the union of its inputs' objects as read when merging.
// Checked on every committed txn (synchronously, in the store):
//   - every block key change is in the transition table;
//   - invariant 3: a stale owner's or stale holder's txn changes no block (nor job) key; a flushed
//     block names the owner token in force;
//   - invariant 6: no span is in two visible blocks (a view never shows an output and its inputs);
//     visible spans only go when their block expires and only come with a flush — a compaction
//     step leaves them exactly as they were; an output holds exactly the union of its inputs;
//   - invariant 7: a block expires only when it ended before now − retention of the policy in
//     force at that revision (and expired blocks are not visible, by definition of visibility);
//   - an operation reported `conflict`/`fenced` is never applied later (a delayed copy included).
// After every step: every visible block's objects exist (GC never deletes what queries read); the
// watched view (watchManifest) equals the store, and every view it ever delivered showed, for its
// revision, exactly the visible spans the store had. After the schedule (drain: leases lapse, the
// controller abandons, sweeps, waits out the grace period and collects): no job, claim or orphan
// key is left, every object belongs to a live block and every live block's objects exist, and the
// visible spans are exactly those flushed minus those expired — nothing leaked, nothing lost.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ManualClock,
  MemoryStore,
  PolicyValue,
  createKeyspace,
  encodeValue,
  ifAbsent,
  put,
  type Coordinator,
  type KeyValue,
  type TxnRequest,
  type TxnResult,
} from '../../common/coord/index.js';
import {
  computeOrphanSweep,
  computeRetentionHorizon,
  createManifestStore,
  decodeBlock,
  decodeManifest,
  isCollectable,
  isOrphanCollectable,
  visibleBlocks,
  watchManifest,
  type HeldClaim,
  type ManifestOutcome,
  type ManifestRead,
  type ManifestStore,
  type ManifestView,
  type ObservedBlock,
  type ObservedJob,
} from './index.js';
import { blockMeta, hex32, policyValue } from './testing.js';

const ks = createKeyspace('prop', 'lifecycle');
const SHARDS = 2;
const TENANTS = ['t1', 't2'] as const;
const WALL_BASE = 1_700_000_000_000;
const GRACE_MS = 120_000;
const UNCLAIMED_TIMEOUT_MS = 60_000;
const SWEEP_DELAY_MS = 300_000;
const UPLOAD_TIMEOUT_MS = 600_000;
const LEASE_TTL_S = 1_000_000; // leases end only when a step says so
const HOUR = 3_600_000;

// ------------------------------------------------------------------------------------ schedule

type Fault = 'none' | 'reply-lost' | 'request-lost' | 'delayed';

type Command =
  | { kind: 'acquire'; shard: number }
  | { kind: 'owner-lapse'; shard: number } // lease lapses; the process lives on, stale
  | { kind: 'owner-crash'; shard: number } // the process dies with whatever it had written
  | { kind: 'write'; owner: number; tenant: number; ageMs: number; spans: number; fault: Fault }
  | { kind: 'flush'; owner: number; fault: Fault; cleanUp: boolean }
  | { kind: 'holder-start'; slot: number }
  | { kind: 'holder-lapse'; slot: number }
  | { kind: 'holder-crash'; slot: number }
  | { kind: 'claim'; slot: number; pick: number; fault: Fault }
  | { kind: 'merge'; slot: number }
  | { kind: 'commit'; slot: number; fault: Fault } // merges first when it has not yet
  | { kind: 'release'; slot: number; fault: Fault }
  | { kind: 'read' }
  // Controller actions decide on its last read (possibly stale) unless `fresh`.
  | { kind: 'plan'; pick: number; n: number; fresh: boolean; fault: Fault }
  | { kind: 'abandon'; pick: number; fresh: boolean; fault: Fault }
  | { kind: 'expire'; pick: number; fresh: boolean; fault: Fault }
  | { kind: 'collect'; pick: number; fresh: boolean; crashAfterObjects: boolean; fault: Fault }
  | { kind: 'collect-orphan'; pick: number; fresh: boolean; crashAfterObjects: boolean; fault: Fault }
  | { kind: 'orphan-upload'; pick: number; fresh: boolean; fault: Fault }
  | { kind: 'sweep'; fault: Fault }
  | { kind: 'policy'; retentionMs: number }
  | { kind: 'controller-crash' }
  | { kind: 'deliver'; drop: boolean }
  | { kind: 'advance'; ms: number; drop: boolean };

const faultArb: fc.Arbitrary<Fault> = fc.oneof({ weight: 6, arbitrary: fc.constant('none' as const) }, { weight: 1, arbitrary: fc.constantFrom<Fault>('reply-lost', 'request-lost', 'delayed') });
const shardArb = fc.integer({ min: 0, max: SHARDS - 1 });
const slotArb = fc.integer({ min: 0, max: 2 });
const pickArb = fc.nat(1000);
const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  w(3, fc.record({ kind: fc.constant('acquire' as const), shard: shardArb })),
  w(1, fc.record({ kind: fc.constant('owner-lapse' as const), shard: shardArb })),
  w(1, fc.record({ kind: fc.constant('owner-crash' as const), shard: shardArb })),
  w(6, fc.record({ kind: fc.constant('write' as const), owner: pickArb, tenant: fc.integer({ min: 0, max: 1 }), ageMs: fc.constantFrom(0, 10 * 60_000, 2 * HOUR, 2 * 24 * HOUR), spans: fc.integer({ min: 1, max: 3 }), fault: faultArb })),
  w(6, fc.record({ kind: fc.constant('flush' as const), owner: pickArb, fault: faultArb, cleanUp: fc.boolean() })),
  w(2, fc.record({ kind: fc.constant('holder-start' as const), slot: slotArb })),
  w(2, fc.record({ kind: fc.constant('holder-lapse' as const), slot: slotArb })),
  w(1, fc.record({ kind: fc.constant('holder-crash' as const), slot: slotArb })),
  w(5, fc.record({ kind: fc.constant('claim' as const), slot: slotArb, pick: pickArb, fault: faultArb })),
  w(2, fc.record({ kind: fc.constant('merge' as const), slot: slotArb })),
  w(5, fc.record({ kind: fc.constant('commit' as const), slot: slotArb, fault: faultArb })),
  w(1, fc.record({ kind: fc.constant('release' as const), slot: slotArb, fault: faultArb })),
  w(2, fc.constant({ kind: 'read' as const })),
  w(5, fc.record({ kind: fc.constant('plan' as const), pick: pickArb, n: fc.integer({ min: 1, max: 3 }), fresh: fc.boolean(), fault: faultArb })),
  w(2, fc.record({ kind: fc.constant('abandon' as const), pick: pickArb, fresh: fc.boolean(), fault: faultArb })),
  w(3, fc.record({ kind: fc.constant('expire' as const), pick: pickArb, fresh: fc.boolean(), fault: faultArb })),
  w(2, fc.record({ kind: fc.constant('collect' as const), pick: pickArb, fresh: fc.boolean(), crashAfterObjects: fc.boolean(), fault: faultArb })),
  w(1, fc.record({ kind: fc.constant('collect-orphan' as const), pick: pickArb, fresh: fc.boolean(), crashAfterObjects: fc.boolean(), fault: faultArb })),
  w(2, fc.record({ kind: fc.constant('orphan-upload' as const), pick: pickArb, fresh: fc.boolean(), fault: faultArb })),
  w(1, fc.record({ kind: fc.constant('sweep' as const), fault: faultArb })),
  w(1, fc.record({ kind: fc.constant('policy' as const), retentionMs: fc.constantFrom(HOUR, 24 * HOUR, 7 * 24 * HOUR) })),
  w(1, fc.constant({ kind: 'controller-crash' as const })),
  w(1, fc.record({ kind: fc.constant('deliver' as const), drop: fc.boolean() })),
  w(3, fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(1_000, 30_000, 130_000, 400_000, 3 * HOUR), drop: fc.boolean() })),
);

// ------------------------------------------------------------------------------------ the world

type Sender =
  | { readonly kind: 'owner'; readonly label: string; readonly shard: number; readonly token: number }
  | { readonly kind: 'holder'; readonly label: string; readonly claim: { readonly jobId: string; readonly token: number } | undefined }
  | { readonly kind: 'controller' }
  | { readonly kind: 'test' };

interface SendContext {
  readonly sender: Sender;
  readonly op: number;
}

/** The memory twin, with a synchronous check of every committed txn against the state just before it. */
class SimStore extends MemoryStore {
  context: SendContext | undefined;
  onCommit: (request: TxnRequest, before: readonly KeyValue[], revision: number, context: SendContext | undefined) => void = () => {};

  override txn(request: TxnRequest): TxnResult {
    const before = this.dump();
    const result = super.txn(request);
    if (result.kind === 'committed' && request.success.some((o) => o.op !== 'get')) this.onCommit(request, before, result.revision, this.context);
    return result;
  }
}

interface Delayed {
  readonly request: TxnRequest;
  readonly context: SendContext;
}

/** One actor's coordinator client: the next write txn suffers the fault set for it; reads always get through. */
class ActorCoordinator implements Coordinator {
  fault: Fault = 'none';
  op = 0;
  readonly #inner: Coordinator;
  constructor(
    readonly world: World,
    public sender: Sender,
  ) {
    this.#inner = world.store.connect();
  }
  get: Coordinator['get'] = (k) => this.#inner.get(k);
  range: Coordinator['range'] = (p, o) => this.#inner.range(p, o);
  grantLease: Coordinator['grantLease'] = (t, o) => this.#inner.grantLease(t, o);
  watchPrefix: Coordinator['watchPrefix'] = (p, h) => this.#inner.watchPrefix(p, h);
  now = (): number => this.#inner.now();
  close = (): Promise<void> => this.#inner.close();

  async txn(request: TxnRequest): Promise<TxnResult> {
    await Promise.resolve();
    const write = request.success.some((o) => o.op !== 'get');
    const fault = write ? this.fault : 'none';
    if (write) this.fault = 'none';
    const context: SendContext = { sender: this.sender, op: this.op };
    const lost: TxnResult = { kind: 'unknown', error: new Error(`simulated ${fault}`) };
    switch (fault) {
      case 'none':
        return this.world.send(request, context);
      case 'reply-lost':
        this.world.send(request, context);
        return lost;
      case 'request-lost':
        return lost;
      case 'delayed':
        this.world.delayed.push({ request, context });
        return lost;
    }
  }
}

interface OwnerInc {
  readonly label: string;
  readonly shard: number;
  readonly lease: string;
  readonly token: number;
  readonly coord: ActorCoordinator;
  readonly manifest: ManifestStore;
  dead: boolean;
  pending: { blockId: string; meta: ReturnType<typeof blockMeta>; upload: number } | undefined;
}

interface HolderInc {
  readonly label: string;
  readonly lease: string;
  readonly coord: ActorCoordinator;
  readonly manifest: ManifestStore;
  dead: boolean;
  job: { observed: ObservedJob; claim: HeldClaim; inputs: ObservedBlock[]; merged: boolean } | undefined;
}

const visibleSig = (spans: ReadonlySet<number>): string => [...spans].sort((a, b) => a - b).join(',');

class World {
  readonly clock = new ManualClock(0);
  readonly store = new SimStore({ clock: this.clock });
  /** The object store: block id → span ids of its objects. */
  readonly objects = new Map<string, { shard: number; tenant: string; spans: Set<number> }>();
  /** What was ever written under each block id (objects may be deleted since). */
  readonly spansOf = new Map<string, Set<number>>();
  readonly owners: OwnerInc[] = [];
  readonly holders: Array<HolderInc | undefined> = [undefined, undefined, undefined];
  readonly zombies: HolderInc[] = [];
  readonly delayed: Delayed[] = [];
  readonly violations: string[] = [];
  readonly log: string[] = [];
  readonly flushed = new Set<number>();
  readonly expired = new Set<number>();
  /** Visible spans after each committed write, by revision (ascending). */
  readonly visibleAt: Array<{ revision: number; sig: string }> = [{ revision: 0, sig: '' }];
  readonly reportedFailed = new Set<number>();
  readonly controller: { coord: ActorCoordinator; manifest: ManifestStore; view: ManifestRead | undefined; firstSeen: Map<string, number> };
  readonly admin: Coordinator;
  views = 0;
  #seq = 0;
  #span = 0;
  #op = 0;

  constructor() {
    this.store.onCommit = (request, before, revision, context) => this.#checkCommit(request, before, revision, context);
    const coord = new ActorCoordinator(this, { kind: 'controller' });
    this.controller = { coord, manifest: this.#manifestFor(coord), view: undefined, firstSeen: new Map() };
    this.admin = this.store.connect();
  }

  wall(): number {
    return WALL_BASE + this.clock.now();
  }

  next(prefix: string): string {
    return `${prefix}${++this.#seq}`;
  }

  violate(what: string): void {
    this.violations.push(`${this.log.at(-1) ?? 'setup'}: ${what}`);
  }

  send(request: TxnRequest, context: SendContext): TxnResult {
    this.store.context = context;
    try {
      return this.store.txn(request);
    } finally {
      this.store.context = undefined;
    }
  }

  #manifestFor(coord: Coordinator): ManifestStore {
    return createManifestStore({ coord, keyspace: ks, wallClock: () => this.wall() });
  }

  /** Runs one logical operation of an actor: the first write suffers `fault`; `unknown` is answered by re-sending (as the executor allows), at most twice. */
  async operate<O extends ManifestOutcome>(coord: ActorCoordinator, fault: Fault, what: string, run: () => Promise<O>): Promise<O> {
    coord.op = ++this.#op;
    coord.fault = fault;
    let outcome = await run();
    for (let i = 0; i < 2 && outcome.kind === 'unknown'; i++) outcome = await run();
    coord.fault = 'none';
    if (outcome.kind === 'conflict' || outcome.kind === 'fenced') this.reportedFailed.add(coord.op);
    if (outcome.kind === 'corrupt') this.violate(`${what}: corrupt ${outcome.key}: ${outcome.error}`);
    this.log.push(`  → ${what}: ${outcome.kind}${'reason' in outcome ? ` (${String(outcome.reason)})` : ''}`);
    return outcome;
  }

  spanIds(n: number): Set<number> {
    return new Set(Array.from({ length: n }, () => ++this.#span));
  }

  newOwner(shard: number, lease: string, token: number): OwnerInc {
    const label = `owner${this.owners.length}@s${shard}`;
    const coord = new ActorCoordinator(this, { kind: 'owner', label, shard, token });
    const inc: OwnerInc = { label, shard, lease, token, coord, manifest: this.#manifestFor(coord), dead: false, pending: undefined };
    this.owners.push(inc);
    return inc;
  }

  newHolder(slot: number): HolderInc {
    const label = `holder${slot}.${++this.#seq}`;
    const coord = new ActorCoordinator(this, { kind: 'holder', label, claim: undefined });
    const inc: HolderInc = { label, lease: this.store.grantLease(LEASE_TTL_S).id, coord, manifest: this.#manifestFor(coord), dead: false, job: undefined };
    const old = this.holders[slot];
    if (old !== undefined) this.zombies.push(old);
    this.holders[slot] = inc;
    return inc;
  }

  /** Blocks in a dump, decoded (a corrupt one is a violation). */
  blocksIn(kvs: readonly KeyValue[]): Map<string, ObservedBlock> {
    const out = new Map<string, ObservedBlock>();
    for (const kv of kvs) {
      if (!kv.key.startsWith(ks.blocksRoot)) continue;
      const d = decodeBlock(ks, kv);
      if (d.ok) out.set(kv.key, d.value);
      else this.violate(`corrupt block ${kv.key}: ${d.corrupt.error}`);
    }
    return out;
  }

  /** Spans in visible blocks: by DESIGN.md §7's definition (live and compacting), or — for a reader's view — by the module's visibleBlocks(). */
  visibleSpans(blocks: Iterable<ObservedBlock>, where: string, reader = false): Set<number> {
    const spans = new Set<number>();
    for (const b of reader ? visibleBlocks(blocks) : [...blocks].filter((x) => x.value.state === 'live' || x.value.state === 'compacting')) {
      for (const s of this.spansOf.get(b.blockId) ?? []) {
        if (spans.has(s)) this.violate(`invariant 6: ${where}: span ${s} is visible in two blocks (an output and its input?)`);
        spans.add(s);
      }
    }
    return spans;
  }

  #checkCommit(request: TxnRequest, beforeKvs: readonly KeyValue[], revision: number, context: SendContext | undefined): void {
    const before = this.blocksIn(beforeKvs);
    const after = this.blocksIn(this.store.dump());
    const beforeByKey = new Map(beforeKvs.map((kv) => [kv.key, kv]));
    const sender = context?.sender;
    const where = `revision ${revision} (${sender?.kind ?? '?'} ${sender !== undefined && 'label' in sender ? sender.label : ''})`;

    if (context !== undefined && this.reportedFailed.has(context.op)) this.violate(`${where}: an operation reported conflict/fenced was applied later`);

    // Which block keys changed, and how.
    const phase = (b: ObservedBlock | undefined): string => (b === undefined ? 'absent' : b.value.state);
    const changed: Array<{ key: string; from: ObservedBlock | undefined; to: ObservedBlock | undefined }> = [];
    for (const key of new Set([...before.keys(), ...after.keys()])) {
      const b = before.get(key);
      const a = after.get(key);
      if (b?.modRevision !== a?.modRevision) changed.push({ key, from: b, to: a });
    }
    const ALLOWED = new Set(['absent→live', 'live→compacting', 'compacting→compacted', 'compacting→live', 'live→expired', 'compacted→absent', 'expired→absent']);
    for (const c of changed) {
      const t = `${phase(c.from)}→${phase(c.to)}`;
      if (!ALLOWED.has(t)) this.violate(`${where}: block ${c.key} went ${t}, which is not a transition`);
    }

    // Invariant 3: a stale writer changes nothing queries or jobs depend on.
    const touchesManifest = request.success.some((o) => o.op !== 'get' && (o.key.startsWith(ks.blocksRoot) || o.key.startsWith(ks.jobsPrefix)));
    if (sender?.kind === 'owner' && touchesManifest && beforeByKey.get(ks.owner(sender.shard))?.createRevision !== sender.token) {
      this.violate(`invariant 3: ${where}: a stale owner (token ${sender.token}) changed the manifest`);
    }
    if (sender?.kind === 'holder' && sender.claim !== undefined && touchesManifest && beforeByKey.get(ks.jobClaim(sender.claim.jobId))?.createRevision !== sender.claim.token) {
      this.violate(`invariant 3: ${where}: a stale job holder (claim ${sender.claim.jobId}@${sender.claim.token}) changed the manifest`);
    }
    for (const c of changed) {
      if (c.from !== undefined || c.to?.value.flushedBy === undefined) continue;
      const ownerRev = beforeByKey.get(ks.owner(c.to.shard))?.createRevision;
      if (c.to.value.flushedBy.token !== ownerRev) this.violate(`invariant 3: ${where}: block ${c.key} flushed with token ${c.to.value.flushedBy.token}, owner key at ${ownerRev ?? 'absent'}`);
    }

    // Invariant 7: only blocks wholly older than the horizon of the policy in force expire.
    const policyKv = beforeByKey.get(ks.policy);
    const policy = policyKv === undefined ? undefined : decodeManifest(ks, [policyKv]).policy;
    for (const c of changed) {
      if (c.to?.value.state !== 'expired' || c.from?.value.state === 'expired') continue;
      if (policy === undefined) this.violate(`invariant 7: ${where}: ${c.key} expired without a policy`);
      else if (!(c.to.value.meta.maxEndMs < this.wall() - policy.value.retention.tracesMs)) {
        this.violate(`invariant 7: ${where}: ${c.key} ends at ${c.to.value.meta.maxEndMs}, not before the horizon ${this.wall() - policy.value.retention.tracesMs} of policy v${policy.value.version}`);
      }
      for (const s of this.spansOf.get(c.to.blockId) ?? []) this.expired.add(s);
    }

    // Invariant 6: span conservation and exact outputs.
    const vb = this.visibleSpans(before.values(), `before ${where}`);
    const va = this.visibleSpans(after.values(), where);
    const expiring = new Set(changed.filter((c) => c.to?.value.state === 'expired' && c.from?.value.state === 'live').flatMap((c) => [...(this.spansOf.get(c.from!.blockId) ?? [])]));
    const flushing = new Set(changed.filter((c) => c.from === undefined && c.to?.value.flushedBy !== undefined).flatMap((c) => [...(this.spansOf.get(c.to!.blockId) ?? [])]));
    for (const s of vb) if (!va.has(s) && !expiring.has(s)) this.violate(`invariant 6: ${where}: span ${s} stopped being visible without its block expiring`);
    for (const s of va) if (!vb.has(s) && !flushing.has(s)) this.violate(`invariant 6: ${where}: span ${s} became visible without a flush`);
    for (const c of changed) {
      if (c.from !== undefined || c.to === undefined || c.to.value.flushedBy !== undefined) continue;
      const inputs = changed.filter((x) => x.to?.value.state === 'compacted' && x.to.value.compactedInto === c.to!.blockId);
      const union = new Set(inputs.flatMap((x) => [...(this.spansOf.get(x.to!.blockId) ?? [])]));
      if (visibleSig(union) !== visibleSig(this.spansOf.get(c.to.blockId) ?? new Set())) this.violate(`invariant 6: ${where}: output ${c.to.blockId} does not hold exactly the union of its inputs`);
    }
    for (const s of flushing) this.flushed.add(s);
    this.visibleAt.push({ revision, sig: visibleSig(va) });
  }

  /** A reader's view: no span twice, and exactly the visible spans the store had at that revision. */
  checkView(view: ManifestView): void {
    this.views++;
    const spans = this.visibleSpans(view.blocks.values(), `watched view at ${view.revision}`, true);
    let expected = '';
    for (const v of this.visibleAt) if (v.revision <= view.revision) expected = v.sig;
    if (visibleSig(spans) !== expected) this.violate(`invariant 6: the watched view at revision ${view.revision} shows [${visibleSig(spans)}], the store had [${expected}]`);
    if (view.corrupt.size > 0) this.violate(`watched view reports corrupt keys ${[...view.corrupt.keys()].join(', ')}`);
  }

  checkStep(view: ManifestView): void {
    const blocks = this.blocksIn(this.store.dump());
    for (const b of blocks.values()) if ((b.value.state === 'live' || b.value.state === 'compacting') && !this.objects.has(b.blockId)) this.violate(`visible block ${b.key} has no objects (GC deleted them, or a flush committed an id whose objects were collected)`);
    const inView = [...view.blocks.values()].map((b) => `${b.key}@${b.modRevision}`).sort();
    const inStore = [...blocks.values()].map((b) => `${b.key}@${b.modRevision}`).sort();
    if (inView.join() !== inStore.join()) this.violate(`the watched view [${inView.join(', ')}] is not the store [${inStore.join(', ')}]`);
  }

  deliverDelayed(drop: boolean, all: boolean): void {
    while (this.delayed.length > 0) {
      const d = this.delayed.shift()!;
      if (!drop) {
        const r = this.send(d.request, d.context);
        this.log.push(`  delayed txn of op ${d.context.op} delivered: ${r.kind}`);
      }
      if (!all) return;
    }
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

// ------------------------------------------------------------------------------------ actors

const at = <T>(list: readonly T[], pick: number): T | undefined => (list.length === 0 ? undefined : list[pick % list.length]);

async function acquire(world: World, shard: number): Promise<void> {
  if ((await world.admin.get(ks.owner(shard))).kv !== undefined) return;
  const lease = world.store.grantLease(LEASE_TTL_S).id;
  const r = world.send({ compare: [ifAbsent(ks.owner(shard))], success: [put(ks.owner(shard), JSON.stringify({ member: `m${world.owners.length}`, address: 'a' }), lease)] }, { sender: { kind: 'test' }, op: 0 });
  if (r.kind === 'committed') world.newOwner(shard, lease, r.revision);
}

function currentOwner(world: World, shard: number): OwnerInc | undefined {
  return world.owners.findLast((o) => o.shard === shard && !o.dead);
}

function endOwnerLease(world: World, shard: number, crash: boolean): void {
  const o = currentOwner(world, shard);
  if (o === undefined) return;
  world.store.revokeLease(o.lease);
  if (crash) o.dead = true; // its written-but-unflushed objects are left behind for the sweep
}

async function write(world: World, c: Extract<Command, { kind: 'write' }>): Promise<void> {
  const o = at(world.owners.filter((x) => !x.dead && x.pending === undefined), c.owner);
  if (o === undefined) return;
  const blockId = world.next('f');
  // The intent first; no object is written unless it is known to be recorded.
  const begun = await world.operate(o.coord, c.fault, `${o.label} begin ${blockId}`, () => o.manifest.beginUpload({ shard: o.shard, token: o.token, member: o.label, blockId, tenant: TENANTS[c.tenant]! }));
  if (begun.kind !== 'committed') return;
  const spans = world.spanIds(c.spans);
  const maxEndMs = world.wall() - c.ageMs;
  const first = Math.min(...spans);
  const meta = blockMeta(o.shard, blockId, {
    tenant: TENANTS[c.tenant]!,
    minStartMs: maxEndMs - 1000,
    maxEndMs,
    spanCount: spans.size,
    traceCount: spans.size,
    minTraceId: hex32(first),
    maxTraceId: hex32(first + spans.size),
  });
  world.objects.set(blockId, { shard: o.shard, tenant: TENANTS[c.tenant]!, spans });
  world.spansOf.set(blockId, spans);
  o.pending = { blockId, meta, upload: begun.revision };
  world.log.push(`  ${o.label} wrote the objects of ${blockId} (${visibleSig(spans)})`);
}

async function flush(world: World, c: Extract<Command, { kind: 'flush' }>): Promise<void> {
  const o = at(world.owners.filter((x) => !x.dead && x.pending !== undefined), c.owner);
  if (o === undefined) return;
  const pending = o.pending!;
  const outcome = await world.operate(o.coord, c.fault, `${o.label} flush ${pending.blockId}`, () => o.manifest.flush({ shard: o.shard, token: o.token, upload: pending.upload, member: o.label, meta: pending.meta }));
  const kv = (await world.admin.get(ks.block(o.shard, pending.blockId))).kv;
  const mine = kv !== undefined && (JSON.parse(new TextDecoder().decode(kv.value)) as { flushedBy?: { token: number } }).flushedBy?.token === o.token;
  if (outcome.kind === 'committed' && !mine) world.violate(`${o.label}: flush reported committed, but the block is not there`);
  if ((outcome.kind === 'conflict' || outcome.kind === 'fenced') && mine) world.violate(`${o.label}: flush reported ${outcome.kind}, but it applied`);
  if (outcome.kind === 'unknown') return; // keeps the block: flush again later (same id)
  o.pending = undefined; // committed: "the WAL is deleted"; otherwise the id is given up
  if (outcome.kind !== 'committed' && c.cleanUp) {
    const upload = (await o.manifest.read()).uploads.get(ks.upload(o.shard, pending.blockId));
    if (upload?.createRevision === pending.upload) {
      await world.operate(o.coord, 'none', `${o.label} gives up ${pending.blockId}`, () => o.manifest.orphanUpload({ upload, why: { kind: 'given-up' } }));
    }
  }
}

async function claim(world: World, c: Extract<Command, { kind: 'claim' }>): Promise<void> {
  const h = world.holders[c.slot];
  if (h === undefined || h.dead || h.job !== undefined) return;
  const read = await h.manifest.read();
  const job = at([...read.jobs.values()].filter((j) => j.claim === undefined && j.value.claim === undefined), c.pick);
  if (job === undefined) return;
  const inputs = [...read.blocks.values()].filter((b) => b.shard === job.value.shard && job.value.inputs.includes(b.blockId));
  const outcome = await world.operate(h.coord, c.fault, `${h.label} claim ${job.id}`, () => h.manifest.claim({ job, member: h.label, lease: h.lease }));
  if (outcome.kind !== 'committed') return;
  const claimKv = (await world.admin.get(ks.jobClaim(job.id))).kv;
  const jobKv = (await world.admin.get(ks.job(job.id))).kv;
  if (claimKv !== undefined && claimKv.createRevision !== outcome.claim.token) world.violate(`${h.label}: claim token ${outcome.claim.token}, claim key created at ${claimKv.createRevision}`);
  if (claimKv === undefined && jobKv?.modRevision !== outcome.claim.token) world.violate(`${h.label}: claim reported committed, but neither the claim key nor the job shows it`);
  const observed: ObservedJob = { ...job, value: { ...job.value, claim: { member: h.label, lease: h.lease, claimedAtMs: 0 } }, modRevision: outcome.claim.token, claim: undefined };
  h.job = { observed, claim: outcome.claim, inputs, merged: false };
  h.coord.sender = { kind: 'holder', label: h.label, claim: { jobId: job.id, token: outcome.claim.token } };
}

function merge(world: World, h: HolderInc | undefined): void {
  if (h === undefined || h.dead || h.job === undefined || h.job.merged) return;
  // Read the inputs' objects (whatever of them still exists: a zombie's inputs may be gone).
  const spans = new Set<number>();
  for (const id of h.job.observed.value.inputs) for (const s of world.objects.get(id)?.spans ?? []) spans.add(s);
  const output = h.job.observed.value.output;
  world.objects.set(output, { shard: h.job.observed.value.shard, tenant: h.job.observed.value.tenant, spans });
  world.spansOf.set(output, spans);
  h.job.merged = true;
  world.log.push(`  ${h.label} wrote the objects of ${output} (${visibleSig(spans)})`);
}

async function commit(world: World, h: HolderInc | undefined, fault: Fault): Promise<void> {
  merge(world, h);
  if (h === undefined || h.dead || h.job?.merged !== true) return;
  const job = h.job;
  const ins = job.inputs.map((b) => b.value.meta);
  const spans = world.spansOf.get(job.observed.value.output)!;
  const output = blockMeta(job.observed.value.shard, job.observed.value.output, {
    tenant: job.observed.value.tenant,
    level: job.observed.value.level,
    minStartMs: Math.min(...ins.map((m) => m.minStartMs)),
    maxEndMs: Math.max(...ins.map((m) => m.maxEndMs)),
    minTraceId: ins.map((m) => m.minTraceId).sort()[0]!,
    maxTraceId: ins.map((m) => m.maxTraceId).sort().at(-1)!,
    spanCount: spans.size,
    traceCount: spans.size,
  });
  // The inputs as the holder read them when it claimed: compacting(job) since the plan.
  const inputs = job.inputs.map((b) => ({ ...b, value: { ...b.value, state: 'compacting' as const, job: job.observed.id }, modRevision: job.observed.createRevision }));
  const outcome = await world.operate(h.coord, fault, `${h.label} commit ${job.observed.id}`, () => h.manifest.commit({ job: job.observed, claim: job.claim, inputs, output }));
  const exists = (await world.admin.get(ks.block(job.observed.value.shard, job.observed.value.output))).kv !== undefined;
  if (outcome.kind === 'committed' && !exists) world.violate(`${h.label}: commit reported committed, but the output is not there`);
  if (outcome.kind !== 'unknown') dropJob(h);
}

function dropJob(h: HolderInc): void {
  h.job = undefined;
  h.coord.sender = { kind: 'holder', label: h.label, claim: undefined };
}

async function release(world: World, h: HolderInc | undefined, fault: Fault): Promise<void> {
  if (h === undefined || h.dead || h.job === undefined) return;
  const held = h.job.claim;
  const outcome = await world.operate(h.coord, fault, `${h.label} release ${held.jobId}`, () => h.manifest.release(held));
  if (outcome.kind !== 'unknown') dropJob(h);
}

async function controllerRead(world: World): Promise<ManifestRead> {
  const view = await world.controller.manifest.read();
  if (view.corrupt.length > 0) world.violate(`controller read corrupt keys: ${view.corrupt.map((c) => c.key).join(', ')}`);
  world.controller.view = view;
  return view;
}

async function viewFor(world: World, fresh: boolean): Promise<ManifestRead | undefined> {
  return fresh ? controllerRead(world) : world.controller.view;
}

async function plan(world: World, c: Extract<Command, { kind: 'plan' }>): Promise<void> {
  const view = await viewFor(world, c.fresh);
  if (view === undefined) return;
  const groups = new Map<string, ObservedBlock[]>();
  for (const b of view.blocks.values()) {
    if (b.value.state !== 'live') continue;
    const g = `${b.shard}/${b.value.meta.tenant}`;
    groups.set(g, [...(groups.get(g) ?? []), b]);
  }
  const group = at([...groups.values()], c.pick);
  if (group === undefined) return;
  const inputs = group.slice(0, c.n);
  const { controller } = world;
  await world.operate(controller.coord, c.fault, `controller plan ${inputs.map((b) => b.blockId).join('+')}`, () =>
    controller.manifest.plan({ jobId: world.next('j'), output: world.next('c'), inputs, level: 1 + Math.max(...inputs.map((b) => b.value.meta.level)), windowStartMs: 0, windowEndMs: world.wall() }),
  );
}

async function abandon(world: World, c: Extract<Command, { kind: 'abandon' }>): Promise<void> {
  const view = await viewFor(world, c.fresh);
  if (view === undefined) return;
  const now = world.wall();
  const job = at([...view.jobs.values()].filter((j) => j.claim === undefined && (j.value.claim !== undefined || now >= j.value.createdAtMs + UNCLAIMED_TIMEOUT_MS)), c.pick);
  if (job === undefined) return;
  const inputs = [...view.blocks.values()].filter((b) => b.shard === job.value.shard && b.value.job === job.id);
  const { controller } = world;
  await world.operate(controller.coord, c.fault, `controller abandon ${job.id}`, () => controller.manifest.abandon({ job, inputs, unclaimedTimeoutMs: UNCLAIMED_TIMEOUT_MS }));
}

async function expire(world: World, c: Extract<Command, { kind: 'expire' }>): Promise<void> {
  const view = await viewFor(world, c.fresh);
  if (view?.policy === undefined) return;
  const horizon = computeRetentionHorizon(view.policy.value, world.wall());
  const block = at([...view.blocks.values()].filter((b) => b.value.state === 'live' && b.value.meta.maxEndMs < horizon), c.pick);
  if (block === undefined) return;
  const { controller } = world;
  await world.operate(controller.coord, c.fault, `controller expire ${block.blockId} (policy v${view.policy.value.version})`, () => controller.manifest.expire({ block, policy: view.policy! }));
}

async function collect(world: World, c: Extract<Command, { kind: 'collect' }>): Promise<void> {
  const view = await viewFor(world, c.fresh);
  if (view === undefined) return;
  const block = at([...view.blocks.values()].filter((b) => isCollectable(b, world.wall(), GRACE_MS)), c.pick);
  if (block === undefined) return;
  const { controller } = world;
  const deleteObjects = (b: { blockId: string }): Promise<void> => {
    world.objects.delete(b.blockId);
    return c.crashAfterObjects ? Promise.reject(new Error('controller crashed after deleting the objects')) : Promise.resolve();
  };
  try {
    await world.operate(controller.coord, c.fault, `controller collect ${block.blockId}`, () => controller.manifest.collect({ block, graceMs: GRACE_MS, deleteObjects }));
  } catch {
    world.log.push(`  controller crashed after deleting the objects of ${block.blockId}`);
    crashController(world);
  }
}

async function collectOrphan(world: World, c: Extract<Command, { kind: 'collect-orphan' }>): Promise<void> {
  const view = await viewFor(world, c.fresh);
  if (view === undefined) return;
  const orphan = at([...view.orphans.values()].filter((o) => isOrphanCollectable(o, world.wall(), GRACE_MS)), c.pick);
  if (orphan === undefined) return;
  const { controller } = world;
  const deleteObjects = (o: { blockId: string }): Promise<void> => {
    world.objects.delete(o.blockId);
    return c.crashAfterObjects ? Promise.reject(new Error('controller crashed after deleting the objects')) : Promise.resolve();
  };
  try {
    await world.operate(controller.coord, c.fault, `controller collect orphan ${orphan.blockId}`, () => controller.manifest.collectOrphan({ orphan, graceMs: GRACE_MS, deleteObjects }));
  } catch {
    crashController(world);
  }
}

async function orphanUpload(world: World, c: Extract<Command, { kind: 'orphan-upload' }>): Promise<void> {
  const view = await viewFor(world, c.fresh);
  if (view === undefined) return;
  const { controller } = world;
  const candidates = [];
  for (const u of view.uploads.values()) {
    const ownerCreateRevision = (await controller.coord.get(ks.owner(u.shard))).kv?.createRevision;
    if (ownerCreateRevision !== u.value.token) candidates.push({ upload: u, why: { kind: 'stale-owner' as const, ownerCreateRevision } });
    else if (u.value.startedAtMs + UPLOAD_TIMEOUT_MS <= world.wall()) candidates.push({ upload: u, why: { kind: 'timed-out' as const, timeoutMs: UPLOAD_TIMEOUT_MS } });
  }
  const pick = at(candidates, c.pick);
  if (pick === undefined) return;
  await world.operate(controller.coord, c.fault, `controller orphans upload ${pick.upload.blockId} (${pick.why.kind})`, () => controller.manifest.orphanUpload(pick));
}

async function sweep(world: World, fault: Fault): Promise<void> {
  const { controller } = world;
  const manifest = await controllerRead(world); // the sweep reads fresh (a stale view only delays it: recording checks the block key)
  const stored = [...world.objects].map(([blockId, o]) => ({ shard: o.shard, blockId, tenant: o.tenant }));
  const result = computeOrphanSweep({ stored, manifest, firstSeen: controller.firstSeen, nowMs: world.wall(), delayMs: SWEEP_DELAY_MS });
  controller.firstSeen = new Map(result.firstSeen);
  for (const r of result.record) {
    await world.operate(controller.coord, fault, `controller records ${r.blockId} as unreferenced`, () => controller.manifest.recordOrphan({ ...r, reason: 'unreferenced' }));
  }
}

function crashController(world: World): void {
  world.controller.view = undefined;
  world.controller.firstSeen = new Map();
}

async function setPolicy(world: World, retentionMs: number): Promise<void> {
  const kv = (await world.admin.get(ks.policy)).kv;
  const version = kv === undefined ? 1 : (JSON.parse(new TextDecoder().decode(kv.value)) as PolicyValue).version + 1;
  world.send({ compare: [], success: [put(ks.policy, encodeValue(PolicyValue, policyValue(version, retentionMs)))] }, { sender: { kind: 'test' }, op: 0 });
}

async function advance(world: World, ms: number, drop: boolean): Promise<void> {
  world.deliverDelayed(drop, true); // nothing in flight outlives time moving on
  await world.clock.advance(ms);
}

async function step(world: World, c: Command): Promise<void> {
  switch (c.kind) {
    case 'acquire':
      return acquire(world, c.shard);
    case 'owner-lapse':
      return endOwnerLease(world, c.shard, false);
    case 'owner-crash':
      return endOwnerLease(world, c.shard, true);
    case 'write':
      return write(world, c);
    case 'flush':
      return flush(world, c);
    case 'holder-start':
      world.newHolder(c.slot);
      return;
    case 'holder-lapse':
    case 'holder-crash': {
      const h = world.holders[c.slot];
      if (h === undefined || h.dead) return;
      world.store.revokeLease(h.lease);
      if (c.kind === 'holder-crash') h.dead = true;
      return;
    }
    case 'claim':
      return claim(world, c);
    case 'merge':
      return merge(world, world.holders[c.slot]);
    case 'commit':
      return commit(world, world.holders[c.slot], c.fault);
    case 'release':
      return release(world, world.holders[c.slot], c.fault);
    case 'read':
      await controllerRead(world);
      return;
    case 'plan':
      return plan(world, c);
    case 'abandon':
      return abandon(world, c);
    case 'expire':
      return expire(world, c);
    case 'collect':
      return collect(world, c);
    case 'collect-orphan':
      return collectOrphan(world, c);
    case 'sweep':
      return sweep(world, c.fault);
    case 'orphan-upload':
      return orphanUpload(world, c);
    case 'policy':
      return setPolicy(world, c.retentionMs);
    case 'controller-crash':
      return crashController(world);
    case 'deliver':
      world.deliverDelayed(c.drop, false);
      return;
    case 'advance':
      return advance(world, c.ms, c.drop);
  }
}

/** Everything stops failing: leases lapse, the controller abandons, sweeps and collects until nothing is left to clean. */
async function drain(world: World): Promise<void> {
  world.log.push('drain');
  world.deliverDelayed(false, true);
  for (const h of [...world.holders, ...world.zombies]) if (h !== undefined && !h.dead) world.store.revokeLease(h.lease);
  await world.clock.advance(UNCLAIMED_TIMEOUT_MS);
  let view = await controllerRead(world);
  for (const job of view.jobs.values()) {
    const inputs = [...view.blocks.values()].filter((b) => b.shard === job.value.shard && b.value.job === job.id);
    const o = await world.operate(world.controller.coord, 'none', `drain: abandon ${job.id}`, () => world.controller.manifest.abandon({ job, inputs, unclaimedTimeoutMs: UNCLAIMED_TIMEOUT_MS }));
    if (o.kind !== 'committed') world.violate(`drain: abandon ${job.id}: ${o.kind}`);
  }
  for (const o of world.owners) o.pending = undefined; // writers stop: their uploads time out
  await world.clock.advance(UPLOAD_TIMEOUT_MS);
  view = await controllerRead(world);
  for (const upload of view.uploads.values()) {
    const o = await world.operate(world.controller.coord, 'none', `drain: orphan upload ${upload.blockId}`, () => world.controller.manifest.orphanUpload({ upload, why: { kind: 'timed-out', timeoutMs: UPLOAD_TIMEOUT_MS } }));
    if (o.kind !== 'committed') world.violate(`drain: orphan upload ${upload.blockId}: ${o.kind}`);
  }
  await sweep(world, 'none');
  await world.clock.advance(SWEEP_DELAY_MS);
  await sweep(world, 'none');
  await world.clock.advance(GRACE_MS);
  view = await controllerRead(world);
  const del = (b: { blockId: string }): Promise<void> => Promise.resolve(void world.objects.delete(b.blockId));
  for (const b of view.blocks.values()) {
    if (b.value.state === 'compacted' || b.value.state === 'expired') {
      const o = await world.operate(world.controller.coord, 'none', `drain: collect ${b.blockId}`, () => world.controller.manifest.collect({ block: b, graceMs: GRACE_MS, deleteObjects: del }));
      if (o.kind !== 'committed') world.violate(`drain: collect ${b.blockId}: ${o.kind}`);
    }
  }
  for (const orphan of view.orphans.values()) {
    const o = await world.operate(world.controller.coord, 'none', `drain: collect orphan ${orphan.blockId}`, () => world.controller.manifest.collectOrphan({ orphan, graceMs: GRACE_MS, deleteObjects: del }));
    if (o.kind !== 'committed') world.violate(`drain: collect orphan ${orphan.blockId}: ${o.kind}`);
  }

  const final = decodeManifest(ks, world.store.dump());
  if (final.jobs.size > 0 || final.orphans.size > 0 || final.uploads.size > 0) {
    world.violate(`drain left jobs [${[...final.jobs.keys()].join(', ')}], orphans [${[...final.orphans.keys()].join(', ')}] and uploads [${[...final.uploads.keys()].join(', ')}]`);
  }
  const leftovers = world.store.dump().filter((kv) => kv.key.startsWith(ks.jobsPrefix));
  if (leftovers.length > 0) world.violate(`drain left keys under jobs/: ${leftovers.map((kv) => kv.key).join(', ')}`);
  const blocks = [...final.blocks.values()];
  const notLive = blocks.filter((b) => b.value.state !== 'live');
  if (notLive.length > 0) world.violate(`drain left blocks that are not live: ${notLive.map((b) => `${b.blockId}:${b.value.state}`).join(', ')}`);
  const ids = new Set(blocks.map((b) => b.blockId));
  const leaked = [...world.objects.keys()].filter((id) => !ids.has(id));
  const missing = [...ids].filter((id) => !world.objects.has(id));
  if (leaked.length > 0) world.violate(`objects leaked (no key points at them after the drain): ${leaked.join(', ')}`);
  if (missing.length > 0) world.violate(`live blocks without objects: ${missing.join(', ')}`);
  const visible = world.visibleSpans(blocks, 'after the drain');
  const expected = new Set([...world.flushed].filter((s) => !world.expired.has(s)));
  if (visibleSig(visible) !== visibleSig(expected)) world.violate(`after the drain the visible spans are [${visibleSig(visible)}], flushed minus expired is [${visibleSig(expected)}]`);
}

async function run(commands: readonly Command[]): Promise<World> {
  const world = new World();
  await setPolicy(world, 24 * HOUR);
  for (let s = 0; s < SHARDS; s++) await acquire(world, s);
  for (let slot = 0; slot < 3; slot++) world.newHolder(slot);
  const watch = watchManifest(world.store.connect(), ks, (v) => world.checkView(v));
  await watch.ready;
  try {
    for (const [i, c] of commands.entries()) {
      world.log.push(`step ${i}: ${JSON.stringify(c)}`);
      await step(world, c);
      await settle();
      world.checkStep(watch.view());
      if (world.violations.length > 0) break;
    }
    if (world.violations.length === 0) {
      await drain(world);
      await settle();
      world.checkStep(watch.view());
    }
  } finally {
    watch.close();
  }
  return world;
}

// ------------------------------------------------------------------------------------ properties

describe('block manifest (property: owners, holders, controller, faults, crashes, policy changes)', () => {
  it('stale writers change nothing, no view sees a compaction half-done, retention follows the policy in force, nothing leaks', async () => {
    let runs = 0;
    let views = 0;
    const kinds = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 30, maxLength: 120 }), async (commands) => {
        const world = await run(commands);
        runs++;
        views += world.views;
        for (const line of world.log) {
          const m = /→ (.+?): (\w+)/.exec(line);
          if (m !== null) {
            const k = `${m[1]!.replace(/^(\S+) (\S+).*$/, '$2')} ${m[2]}`;
            kinds.set(k, (kinds.get(k) ?? 0) + 1);
          }
        }
        if (world.violations.length > 0) {
          throw new Error(`${world.violations.slice(0, 5).join('\n')}\n--- schedule ---\n${world.log.slice(-60).join('\n')}`);
        }
      }),
      { numRuns: Number(process.env['SKEIN_PROPERTY_RUNS'] ?? 300), endOnFailure: true },
    );
    // The schedules must actually reach the interesting outcomes (a property that never gets there cannot fail).
    const seen = (k: string): number => kinds.get(k) ?? 0;
    expect(runs).toBeGreaterThan(0);
    expect(views).toBeGreaterThan(runs);
    for (const k of ['flush committed', 'flush fenced', 'commit committed', 'commit fenced', 'claim committed', 'plan committed', 'abandon committed', 'expire committed', 'collect committed', 'expire conflict']) {
      expect.soft(seen(k), `${k} (seen: ${[...kinds].map(([a, b]) => `${a}=${b}`).join(', ')})`).toBeGreaterThan(0);
    }
  }, 240_000);

  it('a stale owner and a stale holder are fenced, deterministically', async () => {
    const world = await run([
      { kind: 'write', owner: 0, tenant: 0, ageMs: 0, spans: 2, fault: 'none' },
      { kind: 'owner-lapse', shard: 0 },
      { kind: 'acquire', shard: 0 },
      { kind: 'flush', owner: 0, fault: 'none', cleanUp: true },
    ]);
    expect(world.violations).toEqual([]);
    expect(world.log.some((l) => /owner0@s0 flush f\d+: fenced \(owner-token\)/.test(l))).toBe(true);
  });

  it('retention decided under one policy does not apply after the policy changed', async () => {
    const world = await run([
      { kind: 'write', owner: 0, tenant: 0, ageMs: 2 * 24 * HOUR, spans: 1, fault: 'none' },
      { kind: 'flush', owner: 0, fault: 'none', cleanUp: false },
      { kind: 'read' }, // the controller decides under retention 1 day…
      { kind: 'policy', retentionMs: 7 * 24 * HOUR }, // …and the policy becomes 7 days before its txn
      { kind: 'expire', pick: 0, fresh: false, fault: 'none' },
      { kind: 'expire', pick: 0, fresh: true, fault: 'none' },
    ]);
    expect(world.violations).toEqual([]);
    expect(world.log.filter((l) => l.includes('controller expire'))).toEqual([expect.stringMatching(/policy v1\): conflict \(policy-changed\)$/)]);
    expect(world.expired.size).toBe(0);
  });

  it('a writer sitting on its objects past the upload timeout cannot flush them after the orphan was collected', async () => {
    const world = await run([
      { kind: 'write', owner: 0, tenant: 0, ageMs: 0, spans: 2, fault: 'none' },
      { kind: 'advance', ms: UPLOAD_TIMEOUT_MS, drop: false },
      { kind: 'orphan-upload', pick: 0, fresh: true, fault: 'none' },
      { kind: 'advance', ms: GRACE_MS, drop: false },
      { kind: 'collect-orphan', pick: 0, fresh: true, crashAfterObjects: false, fault: 'none' },
      { kind: 'flush', owner: 0, fault: 'none', cleanUp: false },
    ]);
    expect(world.violations).toEqual([]);
    expect(world.log.slice(0, world.log.indexOf('drain')).filter((l) => l.includes('→'))).toEqual([
      expect.stringMatching(/owner0@s0 begin f\d+: committed/),
      expect.stringMatching(/controller orphans upload f\d+ \(timed-out\): committed/),
      expect.stringMatching(/controller collect orphan f\d+: committed/),
      expect.stringMatching(/owner0@s0 flush f\d+: conflict \(upload-gone\)/),
    ]);
  });
});
