// computeLifecyclePlan over hand-made manifests (table-driven) and random ones (fast-check): which
// blocks are merged, expired or given back, and the bounds every plan keeps.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKeyspace, type BlockState, type BlockValue, type PolicyValue } from '../../common/coord/index.js';
import { buildAbandonTxn, buildExpireTxn, buildPlanTxn, MAX_JOB_INPUTS, type ObservedBlock, type ObservedJob, type ObservedPolicy } from '../../ingester/lifecycle/index.js';
import { blockMeta } from './testing/index.js';
import { computeLifecyclePlan, DEFAULT_LIFECYCLE_PLAN_OPTIONS, type LifecycleAction, type LifecyclePlanOptions, type PlanAction } from './index.js';

const ks = createKeyspace('ns', 'plan');
const HOUR = 3_600_000;
const MIN = 60_000;
const GIB = 2 ** 30;
/** Noon; the window [11:00, 12:00) is open until 12:15 (settle 15 min), [10:00, 11:00) is closed. */
const NOW = Date.UTC(2025, 0, 1, 12);
const OPEN = NOW - HOUR; // start of the window that ends at NOW
const CLOSED = NOW - 2 * HOUR;

let revision = 100;

interface B {
  id: string;
  shard?: number;
  tenant?: string;
  state?: BlockState;
  job?: string;
  level?: number;
  /** maxEndMs */
  end: number;
  bytes?: number;
  /** stateChangedAtMs (when it became live) */
  since?: number;
  flushed?: boolean;
}

function block(b: B): ObservedBlock {
  const shard = b.shard ?? 0;
  const state = b.state ?? 'live';
  const value: BlockValue = {
    state,
    meta: blockMeta(shard, b.id, { tenant: b.tenant ?? 't1', level: b.level ?? 0, minStartMs: b.end - MIN, maxEndMs: b.end, bytes: b.bytes ?? 1024 }),
    createdAtMs: b.since ?? b.end,
    stateChangedAtMs: b.since ?? b.end,
    ...(state === 'compacting' ? { job: b.job ?? 'j0' } : {}),
    ...(state === 'compacted' ? { compactedInto: 'out' } : {}),
    ...(b.flushed === false ? {} : { flushedBy: { member: 'm', token: 1 } }),
  };
  const rev = revision++;
  return { key: ks.block(shard, b.id), shard, blockId: b.id, value, createRevision: rev, modRevision: rev };
}

function job(id: string, inputs: readonly string[], opts: { shard?: number; createdAtMs?: number; claimKey?: boolean; claimedBefore?: boolean } = {}): ObservedJob {
  const rev = revision++;
  const claimedBefore = opts.claimedBefore ?? opts.claimKey ?? false;
  return {
    key: ks.job(id),
    id,
    value: {
      shard: opts.shard ?? 0,
      tenant: 't1',
      level: 1,
      windowStartMs: CLOSED,
      windowEndMs: CLOSED + HOUR,
      inputs: [...inputs],
      output: `${id}-out`,
      createdAtMs: opts.createdAtMs ?? NOW - MIN,
      ...(claimedBefore ? { claim: { member: 'm1', lease: '7', claimedAtMs: NOW - MIN } } : {}),
    },
    createRevision: rev,
    modRevision: rev,
    claim: opts.claimKey === true ? { key: ks.jobClaim(id), member: 'm1', lease: '7', claimedAtMs: NOW - MIN, token: rev } : undefined,
  };
}

function policy(over: { retentionMs?: number; enabled?: boolean; windowMs?: number; maxBlockBytes?: number; version?: number } = {}): ObservedPolicy {
  const value: PolicyValue = {
    version: over.version ?? 1,
    retention: { tracesMs: over.retentionMs ?? 14 * 24 * HOUR },
    compaction: { enabled: over.enabled ?? true, windowMs: over.windowMs ?? HOUR, maxBlockBytes: over.maxBlockBytes ?? 4 * GIB },
    sampling: { keepPercent: 100, keepErrors: true },
  };
  return { key: ks.policy, value, modRevision: 50 };
}

/** `n` level-`level` blocks ending in the window starting at `windowStart`, became live a minute apart. */
function many(n: number, prefix: string, windowStart: number, extra: Partial<B> = {}): B[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, end: windowStart + (i + 1) * MIN, since: windowStart + (i + 1) * MIN, ...extra }));
}

/** A readable digest of the actions: `plan L1 [a,b] open`, `expire x`, `abandon j (why)`. */
function digest(actions: readonly LifecycleAction[]): string[] {
  return actions.map((a) => {
    switch (a.kind) {
      case 'plan':
        return `plan s${a.shard}/${a.tenant} L${a.level} [${a.inputs.map((b) => b.blockId).join(',')}] ${a.why === 'open-window' ? 'open' : 'closed'}`;
      case 'expire':
        return `expire ${a.block.blockId}`;
      case 'abandon':
        return `abandon ${a.job.id} [${a.inputs.map((b) => b.blockId).join(',')}] (${a.why})`;
    }
  });
}

interface Case {
  readonly name: string;
  readonly blocks: readonly B[];
  readonly jobs?: readonly ObservedJob[];
  readonly policy?: ObservedPolicy | null;
  readonly options?: Partial<LifecyclePlanOptions>;
  readonly expected: readonly string[];
}

const cases: Case[] = [
  { name: 'no policy yet: nothing expires, nothing is compacted', blocks: many(8, 'a', CLOSED), policy: null, expected: [] },
  { name: 'open window below minInputs: waits', blocks: many(3, 'a', OPEN), expected: [] },
  { name: 'open window at minInputs: one job one level up', blocks: many(4, 'a', OPEN), expected: ['plan s0/t1 L1 [a0,a1,a2,a3] open'] },
  { name: 'a flush of 8 blocks in an open window: one job of all 8', blocks: many(8, 'a', OPEN), expected: ['plan s0/t1 L1 [a0,a1,a2,a3,a4,a5,a6,a7] open'] },
  {
    name: 'open window merges one level at a time (level-1 outputs wait for 4 of their own)',
    blocks: [...many(4, 'a', OPEN), ...many(2, 'b', OPEN, { level: 1 })],
    expected: ['plan s0/t1 L1 [a0,a1,a2,a3] open'],
  },
  {
    name: 'open window, oldest first when the size bound splits it',
    blocks: many(6, 'a', OPEN, { bytes: GIB }).reverse(),
    expected: ['plan s0/t1 L1 [a0,a1,a2,a3] open'],
  },
  { name: 'closed window: any two blocks merge, whatever the levels', blocks: [{ id: 'x', end: CLOSED + MIN, level: 2 }, { id: 'y', end: CLOSED + 2 * MIN }], expected: ['plan s0/t1 L3 [x,y] closed'] },
  { name: 'closed window with one block: done', blocks: [{ id: 'x', end: CLOSED + MIN, level: 2 }], expected: [] },
  {
    name: 'closed window, smallest first within maxBlockBytes; a block too large alone is never an input',
    blocks: [
      { id: 'big', end: CLOSED + MIN, bytes: 5 * GIB },
      { id: 'm', end: CLOSED + 2 * MIN, bytes: 2 * GIB },
      { id: 's', end: CLOSED + 3 * MIN, bytes: GIB },
      { id: 'l', end: CLOSED + 4 * MIN, bytes: 3 * GIB },
    ],
    expected: ['plan s0/t1 L1 [s,m] closed'],
  },
  {
    name: 'maxJobInputs splits a window into several jobs; a remainder below minInputs waits',
    blocks: many(10, 'a', OPEN),
    options: { maxJobInputs: 4 },
    expected: ['plan s0/t1 L1 [a0,a1,a2,a3] open', 'plan s0/t1 L1 [a4,a5,a6,a7] open'],
  },
  {
    name: 'the window is the one holding maxEndMs: a block ending exactly at its end belongs to the next',
    blocks: [...many(3, 'a', OPEN), { id: 'edge', end: OPEN + HOUR }],
    expected: [],
  },
  { name: 'a window is open until settleMs after its end', blocks: many(2, 'a', OPEN), options: { settleMs: 0 }, expected: ['plan s0/t1 L1 [a0,a1] closed'] },
  {
    name: 'shards and tenants are never mixed',
    blocks: [
      { id: 'a', end: CLOSED + MIN, shard: 0 },
      { id: 'b', end: CLOSED + MIN, shard: 1 },
      { id: 'c', end: CLOSED + MIN, shard: 0, tenant: 't2' },
      { id: 'd', end: CLOSED + 2 * MIN, shard: 1 },
    ],
    expected: ['plan s1/t1 L1 [b,d] closed'],
  },
  {
    name: 'only live blocks are inputs',
    blocks: [
      { id: 'a', end: CLOSED + MIN },
      { id: 'b', end: CLOSED + MIN, state: 'compacting', job: 'j9' },
      { id: 'c', end: CLOSED + MIN, state: 'compacted' },
      { id: 'd', end: CLOSED + MIN, state: 'expired' },
    ],
    expected: [],
  },
  { name: 'compaction disabled: no jobs', blocks: many(8, 'a', CLOSED), policy: policy({ enabled: false }), expected: [] },
  {
    name: 'retention: live blocks wholly before the horizon expire; the rest, and non-live blocks, do not; expiring blocks are not compacted',
    blocks: [
      { id: 'old', end: NOW - 2 * HOUR - 1 },
      { id: 'old2', end: NOW - 2 * HOUR - 2 },
      { id: 'edge', end: NOW - 2 * HOUR },
      { id: 'busy', end: NOW - 3 * HOUR, state: 'compacting', job: 'jx' },
      { id: 'gone', end: NOW - 3 * HOUR, state: 'compacted' },
    ],
    policy: policy({ retentionMs: 2 * HOUR }),
    expected: ['expire old', 'expire old2'],
  },
  {
    name: 'abandon: a lost claim at once, an unclaimed job after the timeout; a held claim and a young job are left',
    blocks: [
      { id: 'a', end: CLOSED + MIN, state: 'compacting', job: 'lost' },
      { id: 'b', end: CLOSED + MIN, state: 'compacting', job: 'lost' },
      { id: 'c', end: CLOSED + MIN, state: 'compacting', job: 'stale' },
      { id: 'd', end: CLOSED + MIN, state: 'compacting', job: 'held' },
      { id: 'e', end: CLOSED + MIN, state: 'compacting', job: 'young' },
    ],
    jobs: [
      job('lost', ['a', 'b'], { claimedBefore: true }),
      job('stale', ['c'], { createdAtMs: NOW - 10 * MIN }),
      job('held', ['d'], { claimKey: true, createdAtMs: NOW - HOUR }),
      job('young', ['e'], { createdAtMs: NOW - 10 * MIN + 1 }),
    ],
    expected: ['abandon lost [a,b] (claim-lost)', 'abandon stale [c] (never-claimed)'],
  },
  {
    name: 'abandon waits while an input is not seen as compacting(job)',
    blocks: [{ id: 'a', end: CLOSED + MIN, state: 'compacting', job: 'lost' }, { id: 'b', end: CLOSED + MIN }],
    jobs: [job('lost', ['a', 'b'], { claimedBefore: true })],
    expected: [],
  },
  {
    name: 'maxOpenJobs: existing jobs leave room for fewer new ones (abandoned ones free theirs)',
    blocks: [...many(4, 'a', OPEN), ...many(2, 'b', CLOSED), ...many(2, 'c', CLOSED, { shard: 1 }), { id: 'z', end: CLOSED, state: 'compacting', job: 'gone' }],
    jobs: [job('held', ['q'], { claimKey: true }), job('gone', ['z'], { claimedBefore: true })],
    options: { maxOpenJobs: 2 },
    expected: ['abandon gone [z] (claim-lost)', 'plan s0/t1 L1 [b0,b1] closed'],
  },
];

describe('computeLifecyclePlan', () => {
  it.each(cases)('$name', (c) => {
    const p = c.policy === null ? undefined : (c.policy ?? policy());
    const plan = computeLifecyclePlan({ blocks: c.blocks.map(block), jobs: c.jobs ?? [], policy: p }, NOW, c.options);
    expect(digest(plan.actions)).toEqual(c.expected);
  });

  it('reports jobs it cannot abandon, and jobs held back by maxOpenJobs', () => {
    const plan = computeLifecyclePlan(
      { blocks: [{ id: 'a', end: CLOSED + MIN, state: 'compacting', job: 'lost' } as B, ...many(2, 'b', CLOSED), ...many(2, 'c', CLOSED, { shard: 1 })].map(block), jobs: [job('lost', ['a', 'x'], { claimedBefore: true })], policy: policy() },
      NOW,
      { maxOpenJobs: 2 },
    );
    expect(plan.stuckJobs).toEqual([{ id: 'lost', why: 'inputs x are not observed as compacting(lost)' }]);
    expect(plan.deferredJobs).toBe(1);
    expect(digest(plan.actions)).toEqual(['plan s0/t1 L1 [b0,b1] closed']);
  });

  it('compaction lag: age of the oldest live block that belongs in a job, planned or held back; 0 when none', () => {
    const blocks = [...many(2, 'b', CLOSED), ...many(3, 'a', OPEN)].map(block);
    expect(computeLifecyclePlan({ blocks, jobs: [], policy: policy() }, NOW).compactionLagMs).toBe(NOW - (CLOSED + MIN));
    expect(computeLifecyclePlan({ blocks, jobs: [], policy: policy() }, NOW, { maxOpenJobs: 0 }).compactionLagMs).toBe(NOW - (CLOSED + MIN));
    // Three blocks in an open window are not due yet.
    expect(computeLifecyclePlan({ blocks: many(3, 'a', OPEN).map(block), jobs: [], policy: policy() }, NOW).compactionLagMs).toBe(0);
    expect(computeLifecyclePlan({ blocks, jobs: [], policy: policy({ enabled: false }) }, NOW).compactionLagMs).toBe(0);
  });

  it('compaction lag counts a job that was planned but never committed (its inputs are no longer live)', () => {
    const inputs = [{ id: 'a', end: CLOSED + MIN, state: 'compacting', job: 'waiting' } as B, { id: 'b', end: CLOSED + MIN, state: 'compacting', job: 'waiting' } as B].map(block);
    const plan = computeLifecyclePlan({ blocks: inputs, jobs: [job('waiting', ['a', 'b'], { createdAtMs: NOW - 7 * MIN, claimKey: true })], policy: policy() }, NOW);
    expect(plan.compactionLagMs).toBe(7 * MIN);
  });

  it('the next plan uses the output: a committed level-1 output merges with late blocks once the window closes', () => {
    const output: B = { id: 'out', end: OPEN + 8 * MIN, level: 1, flushed: false, since: NOW };
    const late = many(2, 'late', OPEN, { since: NOW });
    expect(digest(computeLifecyclePlan({ blocks: [output, ...late].map(block), jobs: [], policy: policy() }, NOW).actions)).toEqual([]);
    const later = NOW + HOUR + 15 * MIN; // [11:00, 12:00) closed at 12:15 — and still far from retention
    expect(digest(computeLifecyclePlan({ blocks: [output, ...late].map(block), jobs: [], policy: policy() }, later).actions)).toEqual(['plan s0/t1 L2 [late0,late1,out] closed']);
  });

  it('refuses options that would make plans the manifest refuses', () => {
    expect(() => computeLifecyclePlan({ blocks: [], jobs: [], policy: undefined }, NOW, { minInputs: 1 })).toThrow(/minInputs/);
    expect(() => computeLifecyclePlan({ blocks: [], jobs: [], policy: undefined }, NOW, { maxOpenJobs: -1 })).toThrow(/maxOpenJobs/);
  });
});

// ------------------------------------------------------------------------------ property

const stateArb = fc.constantFrom<BlockState>('live', 'live', 'live', 'compacting', 'compacted', 'expired');
const blockArb = fc.record({
  shard: fc.integer({ min: 0, max: 2 }),
  tenant: fc.constantFrom('t1', 't2'),
  state: stateArb,
  job: fc.constantFrom('j1', 'j2', 'j3'),
  level: fc.integer({ min: 0, max: 3 }),
  end: fc.integer({ min: NOW - 6 * HOUR, max: NOW }),
  bytes: fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: 3 * GIB })),
  since: fc.integer({ min: NOW - 6 * HOUR, max: NOW }),
});
const jobArb = fc.record({ id: fc.constantFrom('j1', 'j2', 'j3'), claimKey: fc.boolean(), claimedBefore: fc.boolean(), age: fc.integer({ min: 0, max: HOUR }) });
const inputArb = fc.record({
  blocks: fc.array(blockArb, { maxLength: 160, size: 'max' }),
  jobs: fc.uniqueArray(jobArb, { selector: (j) => j.id, maxLength: 3 }),
  policy: fc.option(fc.record({ retentionMs: fc.integer({ min: HOUR, max: 8 * HOUR }), enabled: fc.boolean(), windowMs: fc.constantFrom(5 * MIN, 30 * MIN, HOUR, 2 * HOUR), maxBlockBytes: fc.integer({ min: 1, max: 8 * GIB }) }), { nil: undefined }),
  options: fc.record({
    minInputs: fc.integer({ min: 2, max: 6 }),
    settleMs: fc.integer({ min: 0, max: HOUR }),
    jobClaimTimeoutMs: fc.integer({ min: 0, max: HOUR }),
    maxJobInputs: fc.oneof(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 2, max: MAX_JOB_INPUTS + 10 })),
    maxOpenJobs: fc.integer({ min: 0, max: 8 }),
  }),
  seed: fc.integer(),
});

describe('computeLifecyclePlan (property)', () => {
  it('plans stay within every bound, never reuse or cross blocks, and pass the manifest builders', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const blocks = input.blocks.map((b, i) => block({ ...b, id: `b${i}` }));
        const jobs = input.jobs.map((j) => job(j.id, blocks.filter((b) => b.value.job === j.id).map((b) => b.blockId).concat(blocks.some((b) => b.value.job === j.id) ? [] : ['none']), { claimKey: j.claimKey, claimedBefore: j.claimedBefore || j.claimKey, createdAtMs: NOW - j.age }));
        const p = input.policy === undefined ? undefined : policy(input.policy);
        const plan = computeLifecyclePlan({ blocks, jobs, policy: p }, NOW, input.options);
        const maxInputs = Math.min(input.options.maxJobInputs, MAX_JOB_INPUTS);
        const used = new Set<string>();
        const take = (key: string): void => {
          expect(used.has(key), `${key} used twice`).toBe(false);
          used.add(key);
        };
        const plans = plan.actions.filter((a): a is PlanAction => a.kind === 'plan');
        const abandons = plan.actions.filter((a) => a.kind === 'abandon');
        expect(plans.length).toBeLessThanOrEqual(Math.max(0, input.options.maxOpenJobs - (jobs.length - abandons.length)));
        for (const a of plan.actions) {
          switch (a.kind) {
            case 'plan': {
              expect(p?.value.compaction.enabled).toBe(true);
              expect(a.inputs.length).toBeGreaterThanOrEqual(2);
              expect(a.inputs.length).toBeLessThanOrEqual(maxInputs);
              const bytes = a.inputs.reduce((n, b) => n + b.value.meta.bytes, 0);
              expect(a.bytes).toBe(bytes);
              expect(bytes).toBeLessThanOrEqual(p!.value.compaction.maxBlockBytes);
              expect(a.level).toBe(Math.max(...a.inputs.map((b) => b.value.meta.level)) + 1);
              for (const b of a.inputs) {
                take(b.key);
                expect(b.value.state).toBe('live');
                expect([b.shard, b.value.meta.tenant]).toEqual([a.shard, a.tenant]);
                expect(b.value.meta.maxEndMs).toBeGreaterThanOrEqual(a.windowStartMs);
                expect(b.value.meta.maxEndMs).toBeLessThan(a.windowEndMs);
                expect(b.value.meta.maxEndMs).toBeGreaterThanOrEqual(NOW - p!.value.retention.tracesMs); // never an expiring block
              }
              const built = buildPlanTxn(ks, { jobId: 'job', output: 'output', inputs: a.inputs, level: a.level, windowStartMs: a.windowStartMs, windowEndMs: a.windowEndMs, nowMs: NOW });
              expect(built.ok ? 'ok' : built.reason).toBe('ok');
              break;
            }
            case 'expire': {
              take(a.block.key);
              expect(a.block.value.state).toBe('live');
              const built = buildExpireTxn(ks, { block: a.block, policy: a.policy, nowMs: NOW });
              expect(built.ok ? 'ok' : built.reason).toBe('ok');
              break;
            }
            case 'abandon': {
              expect(a.job.claim).toBeUndefined();
              for (const b of a.inputs) take(b.key);
              const built = buildAbandonTxn(ks, { job: a.job, inputs: a.inputs, nowMs: NOW, unclaimedTimeoutMs: input.options.jobClaimTimeoutMs });
              expect(built.ok ? 'ok' : built.reason).toBe('ok');
              break;
            }
          }
        }
        // The order of the observation does not matter.
        const shuffled = fc.sample(fc.shuffledSubarray(blocks, { minLength: blocks.length, maxLength: blocks.length }), { seed: input.seed, numRuns: 1 })[0]!;
        expect(digest(computeLifecyclePlan({ blocks: shuffled, jobs: [...jobs].reverse(), policy: p }, NOW, input.options).actions)).toEqual(digest(plan.actions));
      }),
      { numRuns: 300 },
    );
  });

  it('compaction of a closed window ends: applying the plans repeatedly leaves one block, or none that fit together', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ level: fc.integer({ min: 0, max: 3 }), bytes: fc.integer({ min: 1, max: 3 * GIB }) }), { minLength: 1, maxLength: 40, size: 'max' }), fc.integer({ min: GIB, max: 8 * GIB }), (specs, maxBlockBytes) => {
        let blocks = specs.map((s, i) => block({ id: `b${i}`, end: CLOSED + MIN, level: s.level, bytes: s.bytes }));
        let rounds = 0;
        for (;;) {
          const plan = computeLifecyclePlan({ blocks, jobs: [], policy: policy({ maxBlockBytes }) }, NOW, { maxOpenJobs: 1000 });
          const plans = plan.actions.filter((a): a is PlanAction => a.kind === 'plan');
          if (plans.length === 0) break;
          expect(++rounds).toBeLessThanOrEqual(specs.length);
          const merged = new Set(plans.flatMap((a) => a.inputs.map((b) => b.key)));
          blocks = [...blocks.filter((b) => !merged.has(b.key)), ...plans.map((a, i) => block({ id: `r${rounds}o${i}`, end: CLOSED + MIN, level: a.level, bytes: a.bytes, flushed: false }))];
        }
        const sizes = blocks.map((b) => b.value.meta.bytes).sort((a, b) => a - b);
        expect(sizes.length === 1 || sizes[0]! + sizes[1]! > maxBlockBytes).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('defaults', () => {
  it('are within what the manifest allows', () => {
    expect(DEFAULT_LIFECYCLE_PLAN_OPTIONS.maxJobInputs).toBeLessThanOrEqual(MAX_JOB_INPUTS);
    expect(DEFAULT_LIFECYCLE_PLAN_OPTIONS.minInputs).toBeGreaterThanOrEqual(2);
  });
});
