// Ownership under faults on the local multi-process cluster (issue: sharded cluster, fault tests
// b, e, f): a paused owner stops acknowledging before the next owner starts (invariant 3, checked
// from the owners' own acknowledgement journals), scaling moves shards without losing anything,
// a SIGTERM hands shards off without failed requests, and a killed leading controller is replaced.
import { describe, it, expect, afterEach } from 'vitest';
import { startTestCluster, startLoad, waitFor, missingSpans, ownershipOf, type TestCluster, type OwnershipDebug } from './harness/index.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.destroy();
  cluster = undefined;
});

async function allReady(c: TestCluster): Promise<boolean> {
  for (const p of c.ingesters.filter((i) => i.running())) {
    const res = await fetch(`http://${p.ready()['admin']}/ready`, { signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
    if (res?.status !== 200) return false;
  }
  return true;
}

/** shard → member owning it, from the running ingesters' own view. */
async function ownersByShard(c: TestCluster, skip?: unknown): Promise<Map<number, string>> {
  const owners = new Map<number, string>();
  for (const p of c.ingesters.filter((i) => i.running() && i !== skip)) {
    const d = await ownershipOf(p.ready()['admin']!);
    for (const shard of ownedShards(d)) owners.set(shard, d.ownership.memberId);
  }
  return owners;
}

function ownedShards(d: OwnershipDebug): number[] {
  return d.ownership.owned.map((o) => o.shard);
}

describe('ownership faults', () => {
  it('(b) a SIGSTOPped owner stops acknowledging before the new owner starts; its fenced writes are rejected', async () => {
    cluster = await startTestCluster({ leaseTtlSeconds: 2 });
    const c = cluster;
    await waitFor('every ingester ready', () => allReady(c));
    // Ready only says "owns what it was assigned"; wait until the controller has spread all 4 shards.
    await waitFor('every shard owned, every ingester owning one', async () => {
      const owners = await ownersByShard(c);
      return owners.size === 4 && new Set(owners.values()).size === c.ingesters.length;
    }, 30_000);
    const victim = c.ingesters[0]!;
    const victimAdmin = victim.ready()['admin']!;
    const victimShards = ownedShards(await ownershipOf(victimAdmin));
    expect(victimShards.length).toBeGreaterThan(0);
    let paused = false;
    const load = startLoad({ targets: () => c.liveHttpTargets().filter((t) => !(paused && t.endsWith(victim.ready()['otlpHttp']!))) });
    await waitFor('some acknowledged writes', () => load.record.acked >= 40, 60_000);
    paused = true;
    victim.pause();
    // Longer than the TTL: the others take the victim's shards over.
    await waitFor('another member owns the paused owner\u2019s shards', async () => {
      const owners = await ownersByShard(c, victim); // a paused process does not answer
      return victimShards.every((s) => owners.has(s) && owners.get(s) !== 'ingester-0');
    }, 30_000);
    const ackedAfterTakeover = load.record.acked;
    await waitFor('writes acknowledged by the new owners', () => load.record.acked >= ackedAfterTakeover + 30, 60_000);
    victim.resume();
    paused = false;
    await waitFor('the resumed member is back and ready', () => allReady(c), 30_000);
    await waitFor('more writes', () => load.record.acked >= ackedAfterTakeover + 80, 60_000);
    const record = await load.stop();

    // Every (shard, token) acknowledgement interval, from every member's own journal.
    const journal = new Map<number, { member: string; token: number; first: number; last: number }[]>();
    let fencedRejected = 0;
    for (const p of c.ingesters) {
      const d = await ownershipOf(p.ready()['admin']!);
      if (p === victim) fencedRejected = d.ownership.fencedWritesRejected;
      for (const a of d.ownership.acks) {
        const list = journal.get(a.shard) ?? [];
        list.push({ member: d.ownership.memberId, token: a.token, first: a.firstAckMs, last: a.lastAckMs });
        journal.set(a.shard, list);
      }
    }
    for (const shard of victimShards) {
      const list = (journal.get(shard) ?? []).sort((a, b) => a.token - b.token);
      expect(new Set(list.map((l) => l.token)).size).toBe(list.length); // tokens unique per shard
      expect(list.length).toBeGreaterThanOrEqual(2); // the victim's token and the successor's
      for (let i = 1; i < list.length; i++) expect(list[i - 1]!.last, `shard ${shard}: ${JSON.stringify(list)}`).toBeLessThan(list[i]!.first);
    }
    // The resumed victim tried to release its shards with stale tokens: etcd refused.
    expect(fencedRejected).toBeGreaterThan(0);
    const { missing } = await missingSpans(c.querier.ready()['tempo']!, record);
    expect(missing).toEqual([]);
  });

  it('(e) scale ingesters 3 → 4 → 2: shards rebalance, SIGTERM hands off without failed requests, nothing lost', async () => {
    cluster = await startTestCluster({ shards: 8 });
    const c = cluster;
    await waitFor('every ingester ready', () => allReady(c));
    const load = startLoad({ targets: () => c.liveHttpTargets().slice(0, 2) }); // ingesters 0 and 1 stay up throughout
    await waitFor('some acknowledged writes', () => load.record.acked >= 40, 60_000);
    const fourth = await c.addIngester();
    await waitFor('the new ingester owns shards', async () => [...(await ownersByShard(c)).values()].includes(fourth.name), 60_000);
    await waitFor('balanced 2/2/2/2', async () => {
      const counts = new Map<string, number>();
      for (const m of (await ownersByShard(c)).values()) counts.set(m, (counts.get(m) ?? 0) + 1);
      return counts.size === 4 && [...counts.values()].every((n) => n === 2);
    }, 60_000);
    const failedBefore = load.record.failed;
    // Graceful scale-in: SIGTERM exits 0 after handing off and draining.
    expect(await c.ingesters[2]!.stop('SIGTERM')).toBe(0);
    expect(await c.ingesters[3]!.stop('SIGTERM')).toBe(0);
    await waitFor('the two remaining ingesters own all 8 shards', async () => (await ownersByShard(c)).size === 8, 60_000);
    const ackedAfter = load.record.acked;
    await waitFor('writes after scale-in', () => load.record.acked >= ackedAfter + 40, 60_000);
    const record = await load.stop();
    expect(record.failed - failedBefore, JSON.stringify([...record.failures])).toBe(0);
    const { missing, partialAnswers, partialReasons } = await missingSpans(c.querier.ready()['tempo']!, record);
    expect(missing).toEqual([]);
    expect(partialAnswers, partialReasons.join(' | ')).toBe(0); // the two that left drained everything and said so (holder keys gone)
  });

  it('(f) SIGKILL the leading controller: owners keep acknowledging, the standby takes over and the next failover happens', async () => {
    cluster = await startTestCluster({ controllers: 2 });
    const c = cluster;
    await waitFor('every ingester ready', () => allReady(c));
    const leader = c.controllers.find((p) => p.ready()['leader'] === 'true' || (p.ready() as Record<string, unknown>)['leader'] === true) ?? c.controllers[0]!;
    const load = startLoad({ targets: () => c.liveHttpTargets() });
    await waitFor('some acknowledged writes', () => load.record.acked >= 30, 60_000);
    await leader.kill();
    const ackedAtKill = load.record.acked;
    await waitFor('owners keep acknowledging without a controller', () => load.record.acked >= ackedAtKill + 40, 30_000);
    // A failover now needs the standby controller.
    const victim = c.ingesters[2]!;
    const victimShards = ownedShards(await ownershipOf(victim.ready()['admin']!));
    await victim.kill();
    await waitFor('the standby reassigned the dead member\u2019s shards', async () => {
      const owners = await ownersByShard(c, victim); // a paused process does not answer
      return victimShards.every((s) => owners.has(s) && owners.get(s) !== victim.name);
    }, 60_000);
    const ackedAfter = load.record.acked;
    await waitFor('writes after the failover', () => load.record.acked >= ackedAfter + 40, 60_000);
    const record = await load.stop();
    await victim.start();
    await waitFor('the restarted member drained its data', async () => (await ownershipOf(victim.ready()['admin']!)).shards.every((s) => s.state === 'open'), 60_000);
    const { missing } = await missingSpans(c.querier.ready()['tempo']!, record);
    expect(missing).toEqual([]);
  });
});
