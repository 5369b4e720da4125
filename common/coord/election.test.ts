import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import type { Coordinator } from './coordinator.js';
import { campaign, type Leadership } from './election.js';
import { MemoryStore } from './memory.js';

/** Counts txns through a coordinator without changing what it does. */
function countingTxns(c: Coordinator): { coord: Coordinator; txns: () => number } {
  let n = 0;
  const coord = new Proxy(c, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'txn' && typeof v === 'function')
        return (...args: unknown[]) => {
          n++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { coord, txns: () => n };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('campaign', () => {
  it('backs off while the coordinator is unreachable instead of spinning, and leads once it heals', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ clock });
    const { coord, txns } = countingTxns(store.connect());
    const lease = await coord.grantLease(60);
    store.setReachable(false);
    let leader: Leadership | undefined;
    const pending = campaign(coord, { key: '/e/leader', value: 'me', lease, clock }).then((l) => (leader = l));
    await settle();
    expect(txns()).toBe(1); // waiting on the back-off timer, not retrying at once
    await clock.advance(49);
    expect(txns()).toBe(1);
    await clock.advance(1);
    expect(txns()).toBe(2);
    await clock.advance(100); // doubled
    expect(txns()).toBe(3);
    await clock.advance(5_000); // 200 + 400 + 800 + 1000 + 1000 + 1000 ...: capped at 1 s
    expect(txns()).toBeGreaterThanOrEqual(7);
    expect(txns()).toBeLessThanOrEqual(9);
    store.setReachable(true);
    await clock.advance(1_000);
    await pending;
    expect(leader?.token).toBeGreaterThan(0);
    await leader!.resign();
    await lease.revoke();
    await coord.close();
  });
});
