// The Coordinator conformance suite (STYLE.md rule 6): one set of vitest tests that both the memory
// twin (memory.test.ts) and real etcd (etcd.int.test.ts) must pass. It lives under testing/ because
// it imports vitest and must stay out of the build.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  del,
  get,
  ifAbsent,
  ifCreateRevision,
  ifLease,
  ifModRevision,
  ifValue,
  put,
  valueText,
  type Coordinator,
  type KeyValue,
  type TxnResult,
  type WatchUpdate,
} from '../coordinator.js';
import { campaign, type Leadership } from '../election.js';

export interface ConformanceTarget {
  /** A new client of the same store. */
  connect(): Coordinator | Promise<Coordinator>;
  /** Lets `ms` of time pass (a manual clock advances; a real one is waited for). */
  sleep(ms: number): Promise<void>;
  /** Makes the server unreachable without losing state (SIGSTOP for etcd). */
  pause(): void | Promise<void>;
  resume(): void | Promise<void>;
  /** Restarts the server: state survives, every stream breaks. */
  restart(): void | Promise<void>;
  /** TTL for lease tests: the store's minimum. */
  readonly ttlSeconds: number;
  close(): void | Promise<void>;
}

/** Replays watch updates into a key → KeyValue map, checking the ordering guarantees as it goes. */
export class WatchMirror {
  readonly state = new Map<string, KeyValue>();
  readonly updates: WatchUpdate[] = [];
  snapshots = 0;
  disconnects = 0;
  lastRevision = 0;
  readonly violations: string[] = [];

  readonly handler = (update: WatchUpdate): void => {
    this.updates.push(update);
    switch (update.kind) {
      case 'snapshot':
        this.snapshots++;
        if (update.revision < this.lastRevision) this.violations.push(`snapshot at ${update.revision} after revision ${this.lastRevision}`);
        this.lastRevision = update.revision;
        this.state.clear();
        for (const kv of update.entries) this.state.set(kv.key, kv);
        return;
      case 'events':
        if (update.revision <= this.lastRevision) this.violations.push(`events at ${update.revision} not after ${this.lastRevision}`);
        this.lastRevision = update.revision;
        for (const e of update.events) {
          if (e.type === 'put') this.state.set(e.kv.key, e.kv);
          else this.state.delete(e.key);
        }
        return;
      case 'disconnected':
        this.disconnects++;
        return;
    }
  };

  summary(): Array<[string, string, number]> {
    return [...this.state.values()].map((kv) => [kv.key, valueText(kv), kv.modRevision] as [string, string, number]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }
}

export function summarize(entries: readonly KeyValue[]): Array<[string, string, number]> {
  return entries.map((kv) => [kv.key, valueText(kv), kv.modRevision] as [string, string, number]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

function committed(result: TxnResult): Extract<TxnResult, { kind: 'committed' }> {
  if (result.kind !== 'committed') throw new Error(`expected committed, got ${result.kind}`);
  return result;
}

export function describeCoordinatorConformance(name: string, setup: () => ConformanceTarget | Promise<ConformanceTarget>): void {
  describe(`Coordinator conformance: ${name}`, () => {
    let target: ConformanceTarget;
    let c: Coordinator;
    let n = 0;
    const prefix = (): string => `/skein-test/${++n}/`;

    async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
      for (let waited = 0; ; waited += 25) {
        if (await condition()) return;
        if (waited > timeoutMs) throw new Error(`timed out waiting for ${what}`);
        await target.sleep(25);
      }
    }

    beforeAll(async () => {
      target = await setup();
      c = await target.connect();
    });
    afterAll(async () => {
      await c?.close();
      await target?.close();
    });

    it('put, get and range keep create/mod revisions and versions', async () => {
      const p = prefix();
      const r1 = committed(await c.txn({ compare: [], success: [put(`${p}b`, 'b1'), put(`${p}a`, 'a1')] }));
      const r2 = committed(await c.txn({ compare: [], success: [put(`${p}b`, 'b2'), put(`${p}c`, 'c1')] }));
      expect(r2.revision).toBeGreaterThan(r1.revision);
      const b = (await c.get(`${p}b`)).kv!;
      expect([valueText(b), b.createRevision, b.modRevision, b.version, b.lease]).toEqual(['b2', r1.revision, r2.revision, 2, undefined]);
      expect((await c.get(`${p}missing`)).kv).toBeUndefined();
      const all = await c.range(p);
      expect(all.revision).toBeGreaterThanOrEqual(r2.revision);
      expect(all.entries.map((kv) => [kv.key, valueText(kv)])).toEqual([[`${p}a`, 'a1'], [`${p}b`, 'b2'], [`${p}c`, 'c1']]);
      const page1 = await c.range(p, { limit: 2 });
      expect([page1.entries.map((kv) => kv.key), page1.more]).toEqual([[`${p}a`, `${p}b`], true]);
      const page2 = await c.range(p, { limit: 2, startAfter: page1.entries[1]!.key });
      expect([page2.entries.map((kv) => kv.key), page2.more]).toEqual([[`${p}c`], false]);
      const everything = await c.range('');
      expect(everything.entries.filter((kv) => kv.key.startsWith(p)).map((kv) => kv.key)).toEqual([`${p}a`, `${p}b`, `${p}c`]);
      // A prefix must not match its siblings.
      committed(await c.txn({ compare: [], success: [put(`${p.slice(0, -1)}x/k`, 'other')] }));
      expect((await c.range(p)).entries).toHaveLength(3);
      const d = committed(await c.txn({ compare: [], success: [del(`${p}a`), del(`${p}nothing`)] }));
      expect(d.results).toEqual([{ op: 'delete', deleted: 1 }, { op: 'delete', deleted: 0 }]);
      const a = committed(await c.txn({ compare: [], success: [put(`${p}a`, 'again')] }));
      expect((await c.get(`${p}a`)).kv).toMatchObject({ createRevision: a.revision, version: 1 });
    });

    it('paginates ranges whose values add up to more than 4 MiB', async () => {
      const p = prefix();
      const count = 40;
      const size = 160 * 1024; // 40 × 160 KiB = 6.25 MiB, over grpc's 4 MiB receive limit
      for (let i = 0; i < count; i += 4) {
        const ops = [0, 1, 2, 3].map((j) => put(`${p}${String(i + j).padStart(3, '0')}`, new Uint8Array(size).fill((i + j) % 251)));
        committed(await c.txn({ compare: [], success: ops }));
      }
      const all = await c.range(p);
      expect(all.entries).toHaveLength(count);
      expect(all.more).toBe(false);
      all.entries.forEach((kv, i) => {
        expect(kv.key).toBe(`${p}${String(i).padStart(3, '0')}`);
        expect(kv.value.length).toBe(size);
        expect(kv.value.every((byte) => byte === i % 251)).toBe(true);
      });
      const limited = await c.range(p, { limit: 30 });
      expect([limited.entries.length, limited.more]).toEqual([30, true]);
    });

    it('txn compares: create-if-absent, CAS on mod revision, value, version, lease; failure ops run on rejection', async () => {
      const p = prefix();
      const k = `${p}assignment`;
      const first = committed(await c.txn({ compare: [ifAbsent(k)], success: [put(k, 'm1')] }));
      const second = await c.txn({ compare: [ifAbsent(k)], success: [put(k, 'm2')], failure: [get(k)] });
      expect(second.kind).toBe('rejected');
      if (second.kind !== 'rejected') return;
      const seen = second.results[0]!;
      expect(seen.op === 'get' && seen.kv !== undefined ? [valueText(seen.kv), seen.kv.modRevision] : undefined).toEqual(['m1', first.revision]);
      // CAS on the previous assignment's revision: the first writer wins, a stale one loses.
      const cas = committed(await c.txn({ compare: [ifModRevision(k, first.revision)], success: [put(k, 'm3')] }));
      expect((await c.txn({ compare: [ifModRevision(k, first.revision)], success: [put(k, 'stale')] })).kind).toBe('rejected');
      expect(valueText((await c.get(k)).kv!)).toBe('m3');
      expect((await c.txn({ compare: [ifValue(k, 'm3')], success: [] })).kind).toBe('committed');
      expect((await c.txn({ compare: [ifValue(k, 'nope')], success: [] })).kind).toBe('rejected');
      // A value compare on a missing key is false whatever the operator (etcd semantics).
      expect((await c.txn({ compare: [{ key: `${p}none`, target: 'value', op: '!=', value: 'x' }], success: [] })).kind).toBe('rejected');
      expect((await c.txn({ compare: [{ key: k, target: 'version', op: '==', value: 2 }], success: [] })).kind).toBe('committed');
      expect((await c.txn({ compare: [{ key: k, target: 'modRevision', op: '<', value: cas.revision }], success: [] })).kind).toBe('rejected');
      expect((await c.txn({ compare: [{ key: k, target: 'createRevision', op: '>', value: 0 }], success: [] })).kind).toBe('committed');
      expect((await c.txn({ compare: [ifLease(k, undefined)], success: [] })).kind).toBe('committed');
      // All compares must hold; nothing of the success branch applies otherwise.
      const multi = await c.txn({ compare: [ifValue(k, 'm3'), ifAbsent(k)], success: [put(`${p}side`, 'x')] });
      expect(multi.kind).toBe('rejected');
      expect((await c.get(`${p}side`)).kv).toBeUndefined();
    });

    it('a multi-key txn is one revision', async () => {
      const p = prefix();
      const r = committed(await c.txn({ compare: [], success: [put(`${p}x`, '1'), put(`${p}y`, '2'), del(`${p}z`)] }));
      const range = await c.range(p);
      expect(range.entries.map((kv) => kv.modRevision)).toEqual([r.revision, r.revision]);
      const reads = committed(await c.txn({ compare: [], success: [get(`${p}x`)] }));
      expect(reads.revision).toBe(r.revision); // a read-only txn does not advance the store
    });

    it('fencing: a stale create-revision token is rejected after the owner key is recreated', async () => {
      const p = prefix();
      const owner = `${p}shards/3/owner`;
      const block = `${p}blocks/3/b1`;
      const lease1 = await c.grantLease(target.ttlSeconds * 5);
      const acquired = committed(await c.txn({ compare: [ifAbsent(owner)], success: [put(owner, 'member-a', lease1.id)] }));
      const token1 = (await c.get(owner)).kv!.createRevision;
      expect(token1).toBe(acquired.revision);
      committed(await c.txn({ compare: [ifCreateRevision(owner, token1), ifAbsent(block)], success: [put(block, 'live')] }));
      await lease1.revoke();
      expect((await c.get(owner)).kv).toBeUndefined();
      const lease2 = await c.grantLease(target.ttlSeconds * 5);
      committed(await c.txn({ compare: [ifAbsent(owner)], success: [put(owner, 'member-b', lease2.id)] }));
      const token2 = (await c.get(owner)).kv!.createRevision;
      expect(token2).toBeGreaterThan(token1);
      const stale = await c.txn({ compare: [ifCreateRevision(owner, token1)], success: [put(block, 'compacted-by-stale-owner')] });
      expect(stale.kind).toBe('rejected');
      expect(valueText((await c.get(block)).kv!)).toBe('live');
      committed(await c.txn({ compare: [ifCreateRevision(owner, token2)], success: [put(block, 'expired')] }));
      await lease2.revoke();
    });

    it('leases: keys bound to a lease vanish on revoke and after expiry; puts on a dead lease fail', async () => {
      const p = prefix();
      const a = await c.grantLease(target.ttlSeconds);
      expect(a.ttlSeconds).toBeGreaterThanOrEqual(target.ttlSeconds);
      committed(await c.txn({ compare: [], success: [put(`${p}m1`, 'x', a.id), put(`${p}m2`, 'y', a.id)] }));
      expect((await c.get(`${p}m1`)).kv?.lease).toBe(a.id);
      await a.revoke();
      expect(a.state).toBe('revoked');
      expect((await c.range(p)).entries).toHaveLength(0);
      expect(await c.txn({ compare: [], success: [put(`${p}m3`, 'z', a.id)] })).toEqual({ kind: 'lease-not-found', lease: a.id });

      // Kept alive, a lease outlives several TTLs.
      const kept = await c.grantLease(target.ttlSeconds);
      committed(await c.txn({ compare: [], success: [put(`${p}kept`, 'x', kept.id)] }));
      const firstDeadline = kept.deadline();
      await target.sleep(kept.ttlSeconds * 2500);
      expect((await c.get(`${p}kept`)).kv).toBeDefined();
      expect(kept.valid()).toBe(true);
      expect(kept.deadline()).toBeGreaterThan(firstDeadline);
      // Without keep-alives it lapses on the server.
      kept.abandon();
      await waitFor('abandoned lease to expire', async () => (await c.get(`${p}kept`)).kv === undefined, kept.ttlSeconds * 1000 + 5000);
    });

    it('lease deadline: expires from the local clock when keep-alives stop being acknowledged', async () => {
      const p = prefix();
      const lease = await c.grantLease(target.ttlSeconds);
      committed(await c.txn({ compare: [], success: [put(`${p}owner`, 'me', lease.id)] }));
      let expiredAt: number | undefined;
      lease.onExpired(() => (expiredAt = c.now()));
      await target.sleep(lease.ttlSeconds * 1000);
      expect(lease.state).toBe('alive');
      const lastDeadline = lease.deadline();
      await target.pause();
      const pausedAt = c.now();
      try {
        await waitFor('local expiry', () => expiredAt !== undefined, lease.ttlSeconds * 1000 + 2000);
        expect(lease.state).toBe('expired');
        expect(lease.valid()).toBe(false);
        // Safety does not hang on timers firing on time: the deadline only ever rests on keep-alives
        // sent before the server went silent, and validity is judged against the clock.
        expect(lastDeadline).toBeLessThanOrEqual(pausedAt + lease.ttlSeconds * 1000);
        expect(lease.deadline()).toBeLessThanOrEqual(pausedAt + lease.ttlSeconds * 1000);
        expect(expiredAt!).toBeGreaterThanOrEqual(lease.deadline());
      } finally {
        await target.resume();
      }
      // Expiry is terminal locally even though the server never saw the lease lapse.
      await target.sleep(lease.ttlSeconds * 500);
      expect(lease.state).toBe('expired');
      await lease.revoke();
      await waitFor('owner key gone after revoke', async () => (await c.get(`${p}owner`)).kv === undefined);
    });

    it('an unreachable server gives txn outcome unknown (never a silent retry)', async () => {
      const p = prefix();
      await target.pause();
      let result: TxnResult;
      try {
        result = await c.txn({ compare: [ifAbsent(`${p}k`)], success: [put(`${p}k`, 'v')] });
      } finally {
        await target.resume();
      }
      expect(result.kind).toBe('unknown');
      // The caller re-reads to learn what happened; either answer is legal, but it must be one of them.
      const after = (await c.get(`${p}k`)).kv;
      expect(after === undefined || valueText(after) === 'v').toBe(true);
    });

    it('watch: snapshot first, then events in revision order; state equals the store', async () => {
      const p = prefix();
      committed(await c.txn({ compare: [], success: [put(`${p}a`, '1'), put(`${p}b`, '1')] }));
      const mirror = new WatchMirror();
      const watch = c.watchPrefix(p, mirror.handler);
      await watch.ready;
      expect(mirror.updates[0]?.kind).toBe('snapshot');
      expect(mirror.summary()).toEqual(summarize((await c.range(p)).entries));
      const multi = committed(await c.txn({ compare: [], success: [put(`${p}c`, '1'), del(`${p}a`)] }));
      committed(await c.txn({ compare: [], success: [put(`${p}b`, '2')] }));
      committed(await c.txn({ compare: [], success: [put(`${p.slice(0, -1)}-sibling`, 'no')] }));
      const last = committed(await c.txn({ compare: [], success: [put(`${p}d`, '1')] }));
      await waitFor('watch catch-up', () => mirror.lastRevision >= last.revision);
      expect(mirror.violations).toEqual([]);
      expect(mirror.summary()).toEqual(summarize((await c.range(p)).entries));
      const multiUpdate = mirror.updates.find((u) => u.kind === 'events' && u.revision === multi.revision);
      expect(multiUpdate?.kind === 'events' ? multiUpdate.events.map((e) => e.type).sort() : undefined).toEqual(['delete', 'put']);
      watch.close();
      committed(await c.txn({ compare: [], success: [put(`${p}after-close`, '1')] }));
      await target.sleep(100);
      expect(mirror.state.has(`${p}after-close`)).toBe(false);
    });

    it('watch: survives a server restart with a fresh snapshot and no lost state', async () => {
      const p = prefix();
      const mirror = new WatchMirror();
      const watch = c.watchPrefix(p, mirror.handler);
      await watch.ready;
      committed(await c.txn({ compare: [], success: [put(`${p}before`, '1')] }));
      await waitFor('event before restart', () => mirror.state.has(`${p}before`));
      await target.restart();
      // Written while the watcher is (probably) still reconnecting: only a re-list can bring these.
      committed(await c.txn({ compare: [], success: [put(`${p}after`, '1'), del(`${p}before`)] }));
      const last = committed(await c.txn({ compare: [], success: [put(`${p}after2`, '1')] }));
      await waitFor('watch to catch up after restart', () => mirror.lastRevision >= last.revision && mirror.snapshots >= 2, 15_000);
      expect(mirror.disconnects).toBeGreaterThanOrEqual(1);
      expect(mirror.violations).toEqual([]);
      expect(mirror.summary()).toEqual(summarize((await c.range(p)).entries));
      expect([...mirror.state.keys()].sort()).toEqual([`${p}after`, `${p}after2`]);
      watch.close();
    });

    it('election: one leader; a follower takes over with a higher token after the leader lease ends', async () => {
      const p = prefix();
      const key = `${p}controller/leader`;
      const c2 = await target.connect();
      try {
        const l1 = await c.grantLease(target.ttlSeconds);
        const l2 = await c2.grantLease(target.ttlSeconds * 3);
        const leader1 = await campaign(c, { key, value: 'one', lease: l1 });
        let leader2: Leadership | undefined;
        const pending = campaign(c2, { key, value: 'two', lease: l2 }).then((l) => (leader2 = l));
        await target.sleep(l1.ttlSeconds * 1500);
        expect(leader2).toBeUndefined();
        expect(valueText((await c.get(key)).kv!)).toBe('one');
        let lost = false;
        leader1.onLost(() => (lost = true));
        l1.abandon(); // the leader's process hangs: keep-alives stop, the server lets the lease lapse
        await waitFor('takeover', () => leader2 !== undefined, l1.ttlSeconds * 1000 + 8000);
        await pending;
        expect(leader2!.token).toBeGreaterThan(leader1.token);
        expect(valueText((await c.get(key)).kv!)).toBe('two');
        await waitFor('old leader notices', () => lost);
        expect(leader1.lost).toBe(true);
        await leader2!.resign();
        expect((await c.get(key)).kv).toBeUndefined();
        const again = await campaign(c2, { key, value: 'three', lease: l2 });
        expect(again.token).toBeGreaterThan(leader2!.token);
        await again.resign();
        await l2.revoke();
      } finally {
        await c2.close();
      }
    });
  });
}
