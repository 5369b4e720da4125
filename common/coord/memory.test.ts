import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { del, ifAbsent, ifModRevision, put, type Lease, type Op } from './coordinator.js';
import { MemoryStore } from './memory.js';
import { describeCoordinatorConformance, summarize, WatchMirror } from './testing/conformance.js';

describeCoordinatorConformance('memory', () => {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock });
  return {
    connect: () => store.connect(),
    sleep: (ms) => clock.advance(ms),
    pause: () => store.setReachable(false),
    resume: () => store.setReachable(true),
    restart: () => store.restart(),
    ttlSeconds: 1,
    close: () => {},
  };
});

describe('memory twin, driven by a manual clock', () => {
  it('expires an unkept lease exactly at its TTL and deletes its keys in one revision', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ clock });
    const c = store.connect();
    const lease = await c.grantLease(5);
    await c.txn({ compare: [], success: [put('/m/a', '1', lease.id), put('/m/b', '1', lease.id), put('/m/c', 'unbound')] });
    lease.abandon();
    const before = store.revision;
    await clock.advance(4999);
    expect((await c.range('/m/')).entries.map((kv) => kv.key)).toEqual(['/m/a', '/m/b', '/m/c']);
    await clock.advance(2);
    expect((await c.range('/m/')).entries.map((kv) => kv.key)).toEqual(['/m/c']);
    expect(store.revision).toBe(before + 1);
  });

  it('local deadline = send time of the last acknowledged keep-alive + TTL − margin', async () => {
    const clock = new ManualClock(0);
    const store = new MemoryStore({ clock });
    const c = store.connect();
    const lease = await c.grantLease(3, { marginMs: 100, keepAliveIntervalMs: 1000 });
    expect(lease.deadline()).toBe(2900);
    await clock.advance(1000); // keep-alive sent and acknowledged at t=1000
    expect(lease.deadline()).toBe(3900);
    store.setReachable(false);
    await clock.advance(2899); // t=3899, keep-alives at 2000 and 3000 failed
    expect(lease.state).toBe('alive');
    await clock.advance(1);
    expect(lease.state).toBe('expired');
    store.setReachable(true);
    await clock.advance(5000); // the server lease lapses too; the local state stays terminal
    expect(lease.state).toBe('expired');
  });
});

type Command =
  | { kind: 'put'; key: number; value: number; leased: boolean }
  | { kind: 'delete'; key: number }
  | { kind: 'create'; key: number }
  | { kind: 'cas'; key: number; staleBy: number }
  | { kind: 'grant' }
  | { kind: 'abandon'; which: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'restart' }
  | { kind: 'partition'; ms: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: fc.nat(5), value: fc.nat(9), leased: fc.boolean() }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.nat(5) }),
  fc.record({ kind: fc.constant('create' as const), key: fc.nat(5) }),
  fc.record({ kind: fc.constant('cas' as const), key: fc.nat(5), staleBy: fc.nat(2) }),
  fc.record({ kind: fc.constant('grant' as const) }),
  fc.record({ kind: fc.constant('abandon' as const), which: fc.nat(3) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 2500 }) }),
  fc.record({ kind: fc.constant('restart' as const) }),
  fc.record({ kind: fc.constant('partition' as const), ms: fc.integer({ min: 1, max: 1500 }) }),
);

describe('memory twin properties', () => {
  it('revisions only grow, recreated keys get larger create revisions, and a watcher reconstructs the store', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 40 }), async (commands) => {
        const clock = new ManualClock();
        const store = new MemoryStore({ clock });
        const c = store.connect();
        const mirror = new WatchMirror();
        const watch = c.watchPrefix('/p/', mirror.handler);
        await clock.advance(0);
        const leases: Lease[] = [];
        const incarnations = new Map<string, { createRevision: number; gone: number | undefined }>();
        let lastRevision = store.revision;
        for (const cmd of commands) {
          const key = 'key' in cmd ? `/p/${cmd.key}` : '';
          let ops: Op[] | undefined;
          switch (cmd.kind) {
            case 'put': {
              const lease = cmd.leased ? leases.find((l) => l.valid()) : undefined;
              ops = [put(key, String(cmd.value), lease?.id)];
              break;
            }
            case 'delete':
              ops = [del(key)];
              break;
            case 'create':
              await c.txn({ compare: [ifAbsent(key)], success: [put(key, 'created')] });
              break;
            case 'cas': {
              const current = (await c.get(key)).kv;
              if (current !== undefined) await c.txn({ compare: [ifModRevision(key, current.modRevision - cmd.staleBy)], success: [put(key, 'cas')] });
              break;
            }
            case 'grant':
              leases.push(await c.grantLease(1 + (leases.length % 3)));
              break;
            case 'abandon':
              leases[cmd.which]?.abandon();
              break;
            case 'advance':
              await clock.advance(cmd.ms);
              break;
            case 'restart':
              store.restart();
              break;
            case 'partition':
              store.setReachable(false);
              await clock.advance(cmd.ms);
              store.setReachable(true);
              break;
          }
          if (ops !== undefined && store.reachable) await c.txn({ compare: [], success: ops });
          expect(store.revision).toBeGreaterThanOrEqual(lastRevision);
          lastRevision = store.revision;
          const present = new Map(store.dump().map((kv) => [kv.key, kv]));
          for (const kv of present.values()) {
            expect(kv.modRevision).toBeLessThanOrEqual(store.revision);
            const seen = incarnations.get(kv.key);
            // A key that came back must have a create revision above the revision at which it was seen gone.
            if (seen?.gone !== undefined) expect(kv.createRevision).toBeGreaterThan(seen.gone);
            else if (seen !== undefined) expect(kv.createRevision).toBeGreaterThanOrEqual(seen.createRevision);
            incarnations.set(kv.key, { createRevision: kv.createRevision, gone: undefined });
          }
          for (const [k, seen] of incarnations) if (!present.has(k) && seen.gone === undefined) seen.gone = store.revision;
        }
        await clock.advance(500); // lets a disconnected watcher re-list
        expect(mirror.violations).toEqual([]);
        expect(mirror.summary()).toEqual(summarize(store.dump()));
        watch.close();
        await c.close();
      }),
      { numRuns: 150 },
    );
  });
});
