// The lifecycle controller against the in-memory coordinator on a manual clock, with a fake job
// holder that claims and commits jobs through the manifest store as an ingester would: compaction
// rounds that build on their outputs, lost and never-taken claims, a retention change, and a
// leader that dies mid-way.
import { afterEach, describe, expect, it } from 'vitest';
import { createKeyspace, ManualClock, MemoryStore, type Coordinator } from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry, type Registry } from '../../common/metrics/index.js';
import { createManifestStore, type ManifestRead, type ManifestStore } from '../../ingester/lifecycle/index.js';
import { createLifecycleController, lifecycleElectionKey, writePolicy, type LifecycleController, type LifecycleControllerOptions, type ManifestSummary, type PolicyContent } from './index.js';
import { createFakeHolder, seedLiveBlock } from './testing/index.js';

const ks = createKeyspace('default', 'life');
const MIN = 60_000;
const HOUR = 60 * MIN;
/** Noon: blocks ending 11:xx are in the window [11:00, 12:00), open until settleMs after noon. */
const START = Date.UTC(2025, 0, 1, 12);
const SETTLE_MS = MIN;
const CLAIM_TIMEOUT_MS = 30_000;

const policyContent = (retentionMs: number, over: Partial<PolicyContent['compaction']> = {}): PolicyContent => ({
  retention: { tracesMs: retentionMs },
  compaction: { enabled: true, windowMs: HOUR, maxBlockBytes: 2 ** 32, ...over },
  sampling: { keepPercent: 100, keepErrors: true },
});

interface Harness {
  readonly clock: ManualClock;
  readonly store: MemoryStore;
  readonly admin: Coordinator;
  readonly manifest: ManifestStore;
  readonly wall: () => number;
  controller(identity: string, extra?: Partial<LifecycleControllerOptions>): { controller: LifecycleController; coord: Coordinator; registry: Registry; summaries: ManifestSummary[] };
  connect(): Coordinator;
  read(): Promise<ManifestRead>;
  states(): Promise<Record<string, string>>;
  /** Advances the clock in 50 ms steps until `cond` holds (at most 2 simulated minutes). */
  eventually<T>(what: string, cond: () => Promise<T | undefined | false> | T | undefined | false): Promise<T>;
  run(ms: number): Promise<void>;
  close(): Promise<void>;
}

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

function createHarness(): Harness {
  const clock = new ManualClock(START);
  const store = new MemoryStore({ clock });
  const admin = store.connect();
  const wall = (): number => clock.now();
  const manifest = createManifestStore({ coord: admin, keyspace: ks, wallClock: wall });
  const controllers: LifecycleController[] = [];
  const clients: Coordinator[] = [admin];
  const h: Harness = {
    clock,
    store,
    admin,
    manifest,
    wall,
    controller(identity, extra = {}) {
      const coord = store.connect();
      clients.push(coord);
      const registry = createRegistry({ defaultMetrics: false });
      const summaries: ManifestSummary[] = [];
      const controller = createLifecycleController({
        coord,
        keyspace: ks,
        identity,
        logger: createSilentLogger(),
        registry,
        intervalMs: 1000,
        leaseTtlSeconds: 2,
        clock,
        wallClock: wall,
        plan: { settleMs: SETTLE_MS, jobClaimTimeoutMs: CLAIM_TIMEOUT_MS },
        onSummary: (s) => summaries.push(s),
        ...extra,
      });
      controllers.push(controller);
      return { controller, coord, registry, summaries };
    },
    connect() {
      const c = store.connect();
      clients.push(c);
      return c;
    },
    read: () => manifest.read(),
    async states() {
      const r = await manifest.read();
      return Object.fromEntries([...r.blocks.values()].map((b) => [b.blockId, b.value.state === 'compacting' ? `compacting(${b.value.job})` : b.value.state]));
    },
    async eventually(what, cond) {
      for (let i = 0; i < 2400; i++) {
        const v = await cond();
        if (v !== undefined && v !== false) return v;
        await clock.advance(50);
      }
      throw new Error(`not reached within 2 simulated minutes: ${what}\nmanifest: ${JSON.stringify(await h.states())}`);
    },
    async run(ms) {
      for (let t = 0; t < ms; t += 50) await clock.advance(50);
    },
    async close() {
      await Promise.all(controllers.map((c) => c.stop()));
      for (const c of clients) await c.close().catch(() => {});
    },
  };
  return h;
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const { values } = await m.get();
  return values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((n, v) => n + v.value, 0);
}

/** `n` level-0 blocks ending a minute apart from 11:10, flushed now. */
async function flush(h: Harness, n: number, prefix: string, over: { endFrom?: number; shard?: number } = {}): Promise<void> {
  for (let i = 0; i < n; i++) {
    const end = (over.endFrom ?? START - 50 * MIN) + i * MIN;
    await seedLiveBlock(h.admin, ks, { shard: over.shard ?? 0, id: `${prefix}${i}`, minStartMs: end - MIN, maxEndMs: end, nowMs: h.wall() });
  }
}

const onlyJob = async (h: Harness) => {
  const jobs = [...(await h.read()).jobs.values()];
  return jobs.length === 1 ? jobs[0] : undefined;
};

describe('lifecycle controller (memory coordinator)', () => {
  it('plans a job for a flush of 8 blocks; the holder commits; the next plan merges the output with a late block once the window closes', async () => {
    const h = (harness = createHarness());
    await writePolicy(h.admin, ks, policyContent(14 * 24 * HOUR));
    const { controller, registry, summaries } = h.controller('ctl-0');
    await controller.start();
    await flush(h, 8, 'a');

    const job1 = await h.eventually('a job over the 8 blocks', () => onlyJob(h));
    expect([...job1.value.inputs].sort()).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7']);
    expect(job1.value).toMatchObject({ shard: 0, tenant: 't1', level: 1, windowStartMs: START - HOUR, windowEndMs: START });
    expect(Object.values(await h.states())).toEqual(Array(8).fill(`compacting(${job1.id})`));
    expect(controller.leading).toBe(true);

    const holder = createFakeHolder(h.connect(), ks, 'ingester-0', await h.connect().grantLease(10), h.wall);
    const committedAt = h.wall();
    expect((await holder.run(job1.id)).kind).toBe('committed');
    const out1 = job1.value.output;
    await h.eventually('the summary shows the commit', () => controller.summary()?.blocks.compacted.count === 8 || undefined);
    expect(controller.summary()).toMatchObject({ visible: { count: 1, bytes: 8 * 1024 }, jobs: { claimed: 0, unclaimed: 0 }, lastCompactionMs: committedAt });
    expect(summaries.at(-1)).toEqual(controller.summary());

    // A late block in the same window: alone with the level-1 output, it waits while the window is open…
    await flush(h, 1, 'late', { endFrom: START - 5 * MIN });
    await h.run(5000);
    expect((await h.read()).jobs.size).toBe(0);
    // …and is merged with it once the window has settled, one level above the output.
    const job2 = await h.eventually('a closed-window job', () => onlyJob(h));
    expect(h.wall()).toBeGreaterThanOrEqual(START + SETTLE_MS);
    expect([...job2.value.inputs].sort()).toEqual(['late0', out1].sort());
    expect(job2.value.level).toBe(2);
    expect((await holder.run(job2.id)).kind).toBe('committed');
    await h.run(5000);
    const states = await h.states();
    expect(Object.entries(states).filter(([, s]) => s === 'live')).toEqual([[job2.value.output, 'live']]);
    expect((await h.read()).jobs.size).toBe(0);

    expect(await metric(registry, 'skein_lifecycle_transitions_total', { transition: 'plan', outcome: 'committed' })).toBe(2);
    expect(await metric(registry, 'skein_lifecycle_blocks', { state: 'compacted' })).toBe(10);
    expect(await metric(registry, 'skein_lifecycle_blocks', { state: 'live' })).toBe(1);
    expect(await metric(registry, 'skein_lifecycle_block_bytes', { state: 'live' })).toBe(9 * 1024);
    expect(await metric(registry, 'skein_lifecycle_leader')).toBe(1);
    expect(await metric(registry, 'skein_lifecycle_compaction_lag_seconds')).toBe(0);
    expect(await metric(registry, 'skein_lifecycle_last_retention_pass_timestamp_seconds')).toBeGreaterThan(START / 1000);
  });

  it('a lost claim is abandoned (its output an orphan) and the inputs planned again under a new job; an untaken job after the timeout', async () => {
    const h = (harness = createHarness());
    await writePolicy(h.admin, ks, policyContent(14 * 24 * HOUR));
    const { controller, registry } = h.controller('ctl-0');
    await controller.start();
    await flush(h, 4, 'a');
    const job1 = await h.eventually('a job', () => onlyJob(h));

    const lease = await h.connect().grantLease(10);
    const holder = createFakeHolder(h.connect(), ks, 'ingester-0', lease, h.wall);
    expect((await holder.claim(job1.id)).kind).toBe('committed');
    await h.run(5000);
    expect((await onlyJob(h))?.claim?.member).toBe('ingester-0'); // a held claim is left alone, however long

    await lease.revoke(); // the holder died: its claim key goes with its lease
    const job2 = await h.eventually('a new job over the same inputs', async () => {
      const j = await onlyJob(h);
      return j !== undefined && j.id !== job1.id ? j : undefined;
    });
    expect([...job2.value.inputs].sort()).toEqual([...job1.value.inputs].sort());
    expect(job2.value.output).not.toBe(job1.value.output);
    const orphan = (await h.read()).orphans.get(ks.orphan(0, job1.value.output));
    expect(orphan?.value).toMatchObject({ reason: 'abandoned', job: job1.id });
    expect(await metric(registry, 'skein_lifecycle_transitions_total', { transition: 'abandon', outcome: 'committed' })).toBe(1);

    // Nobody claims job2: after the claim timeout it is abandoned and planned once more.
    const job3 = await h.eventually('job2 given back after the claim timeout', async () => {
      const j = await onlyJob(h);
      return j !== undefined && j.id !== job2.id && j.id !== job1.id ? j : undefined;
    });
    expect(h.wall() - job2.value.createdAtMs).toBeGreaterThanOrEqual(CLAIM_TIMEOUT_MS);
    expect(await metric(registry, 'skein_lifecycle_transitions_total', { transition: 'abandon', outcome: 'committed' })).toBe(2);
    await h.run(500); // the gauges follow the watch (debounced)
    expect(await metric(registry, 'skein_lifecycle_jobs', { state: 'unclaimed' })).toBe(1);
    const next = createFakeHolder(h.connect(), ks, 'ingester-1', await h.connect().grantLease(10), h.wall);
    expect((await holder.run(job3.id)).kind).toBe('fenced'); // the dead holder's lease is gone
    expect((await next.run(job3.id)).kind).toBe('committed');
  });

  it('writes its policy when it leads; retention follows a changed policy and expires only what the new horizon allows', async () => {
    const h = (harness = createHarness());
    // Two blocks in windows of their own (nothing to compact): ended 3 h and 1 h ago.
    await seedLiveBlock(h.admin, ks, { id: 'old', minStartMs: START - 3 * HOUR - MIN, maxEndMs: START - 3 * HOUR, nowMs: START });
    await seedLiveBlock(h.admin, ks, { id: 'new', minStartMs: START - HOUR - MIN, maxEndMs: START - HOUR + MIN, nowMs: START });
    const { controller, registry } = h.controller('ctl-0', { policy: policyContent(4 * HOUR) });
    await controller.start();
    await h.eventually('the policy written', async () => (await h.read()).policy?.value.version === 1 || undefined);
    await h.eventually('a retention pass', async () => (await metric(registry, 'skein_lifecycle_last_retention_pass_timestamp_seconds')) > 0 || undefined);
    await h.run(3000);
    expect(await h.states()).toEqual({ old: 'live', new: 'live' });

    // Someone shortens retention (another controller's flags, an operator's spec).
    await writePolicy(h.admin, ks, policyContent(2 * HOUR));
    await h.eventually('old expired', async () => (await h.states()).old === 'expired' || undefined);
    await h.run(3000);
    expect(await h.states()).toEqual({ old: 'expired', new: 'live' });
    expect(await metric(registry, 'skein_lifecycle_transitions_total', { transition: 'expire', outcome: 'committed' })).toBe(1);
    expect(controller.summary()?.lastRetentionMs).toBeGreaterThan(START);
    expect((await h.read()).policy?.value.version).toBe(2); // the controller wrote its own policy once per leadership, not again
  });

  it('one leads, the other stands by with the same summary; when the leader dies the standby takes over and carries on', async () => {
    const h = (harness = createHarness());
    await writePolicy(h.admin, ks, policyContent(14 * 24 * HOUR));
    const a = h.controller('ctl-a');
    const b = h.controller('ctl-b');
    await a.controller.start();
    await h.eventually('a leads', () => a.controller.leading || undefined);
    await b.controller.start();
    await flush(h, 4, 'a');
    const job1 = await h.eventually('a job planned by a', () => onlyJob(h));
    await h.eventually('b sees it too', () => b.controller.summary()?.blocks.compacting.count === 4 || undefined);
    expect(b.controller.leading).toBe(false);
    expect(await metric(b.registry, 'skein_lifecycle_leader')).toBe(0);
    expect(await metric(b.registry, 'skein_lifecycle_blocks', { state: 'compacting' })).toBe(0); // a standby reports no manifest gauges

    // a's process dies: its client stops, its lease lapses, b campaigns and leads.
    await a.coord.close();
    await h.eventually('b leads', () => b.controller.leading || undefined);
    expect(JSON.parse(new TextDecoder().decode((await h.admin.get(lifecycleElectionKey(ks))).kv!.value))).toEqual({ identity: 'ctl-b' });
    // b carries on: it plans the new flushes of another shard (a holder runs that job), and gives
    // back the job a planned, which nobody claims, after the claim timeout — then plans it again.
    await flush(h, 4, 'c', { shard: 1 });
    const holder = createFakeHolder(h.connect(), ks, 'ingester-0', await h.connect().grantLease(30), h.wall);
    const shard1 = await h.eventually('a job for shard 1', async () => [...(await h.read()).jobs.values()].find((j) => j.value.shard === 1));
    expect((await holder.run(shard1.id)).kind).toBe('committed');
    const again = await h.eventually('job1 abandoned and planned again by b', async () => {
      const jobs = [...(await h.read()).jobs.values()];
      return jobs.length === 1 && jobs[0]!.id !== job1.id ? jobs[0] : undefined;
    });
    expect([...again.value.inputs].sort()).toEqual([...job1.value.inputs].sort());
    expect(await metric(b.registry, 'skein_lifecycle_transitions_total', { transition: 'plan', outcome: 'committed' })).toBe(2);
    expect(await metric(b.registry, 'skein_lifecycle_transitions_total', { transition: 'abandon', outcome: 'committed' })).toBe(1);
  });

  it('stop() resigns at once so a standby leads without waiting for the lease', async () => {
    const h = (harness = createHarness());
    const a = h.controller('ctl-a');
    const b = h.controller('ctl-b');
    await a.controller.start();
    await h.eventually('a leads', () => a.controller.leading || undefined);
    await b.controller.start();
    await a.controller.stop();
    expect(a.controller.ready()).toBe(false);
    await h.clock.advance(100); // far below the 2 s TTL
    await h.eventually('b leads', () => b.controller.leading || undefined);
    expect(h.wall() - START).toBeLessThan(2000);
  });

  it('refuses planner options the manifest would refuse, at construction', () => {
    const h = (harness = createHarness());
    expect(() => h.controller('ctl-0', { plan: { minInputs: 1 } })).toThrow(/minInputs/);
    expect(() => h.controller('ctl-0', { intervalMs: 0 })).toThrow(/intervalMs/);
  });

  it('compaction disabled: no jobs, retention still runs', async () => {
    const h = (harness = createHarness());
    await writePolicy(h.admin, ks, policyContent(2 * HOUR, { enabled: false }));
    await seedLiveBlock(h.admin, ks, { id: 'old', minStartMs: START - 3 * HOUR - MIN, maxEndMs: START - 3 * HOUR, nowMs: START });
    const { controller } = h.controller('ctl-0');
    await controller.start();
    await flush(h, 8, 'a');
    await h.eventually('old expired', async () => (await h.states()).old === 'expired' || undefined);
    await h.run(3000);
    expect((await h.read()).jobs.size).toBe(0);
    const states = await h.states();
    expect(Object.values(states).filter((s) => s === 'live')).toHaveLength(8);
  });
});
