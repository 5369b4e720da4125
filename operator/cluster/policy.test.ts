import { describe, expect, it } from 'vitest';
import { createKeyspace, decodeValue, MemoryStore, PolicyValue, put, toBytes, ManualClock, type Coordinator } from '../../common/coord/index.js';
import { computePolicyUpdate, writePolicy, type PolicyContent } from './index.js';

const ks = createKeyspace('default', 'policy-test');
const content = (keepPercent: number): PolicyContent => ({
  retention: { tracesMs: 72 * 3_600_000 },
  compaction: { enabled: true, windowMs: 3_600_000, maxBlockBytes: 4 * 2 ** 30 },
  sampling: { keepPercent, keepErrors: true },
});

async function stored(coord: Coordinator): Promise<PolicyValue> {
  const { kv } = await coord.get(ks.policy);
  if (kv === undefined) throw new Error('no policy key');
  const d = decodeValue(PolicyValue, kv.value);
  if (!d.ok) throw new Error(d.error);
  return d.value;
}

describe('computePolicyUpdate', () => {
  it.each([
    { name: 'first write is version 1', current: undefined, desired: content(100), floor: 0, want: 1 },
    { name: 'same content → nothing to write', current: { ...content(100), version: 4 }, desired: content(100), floor: 0, want: undefined },
    { name: 'changed content → version + 1', current: { ...content(100), version: 4 }, desired: content(50), floor: 0, want: 5 },
    { name: 'an optional field appearing is a change', current: { ...content(100), version: 2 }, desired: { ...content(100), sampling: { keepPercent: 100, keepErrors: true, keepSlowerThanMs: 2000 } }, floor: 0, want: 3 },
    { name: 'unreadable value: above the floor', current: undefined, desired: content(100), floor: 7, want: 8 },
  ])('$name', ({ current, desired, floor, want }) => {
    expect(computePolicyUpdate(current, desired, floor)?.version).toBe(want);
  });

  it('key order does not make equal content look different', () => {
    const reordered = { sampling: { keepErrors: true, keepPercent: 100 }, compaction: { maxBlockBytes: 4 * 2 ** 30, windowMs: 3_600_000, enabled: true }, retention: { tracesMs: 72 * 3_600_000 } };
    expect(computePolicyUpdate({ ...content(100), version: 1 }, reordered)).toBeUndefined();
  });
});

describe('writePolicy on the coordinator twin', () => {
  const setup = () => new MemoryStore({ clock: new ManualClock() }).connect();

  it('writes, leaves equal content alone, bumps on change', async () => {
    const coord = setup();
    expect((await writePolicy(coord, ks, content(100))).kind).toBe('written');
    const rev = (await coord.get(ks.policy)).kv!.modRevision;
    expect(await writePolicy(coord, ks, content(100))).toMatchObject({ kind: 'unchanged', value: { version: 1 } });
    expect((await coord.get(ks.policy)).kv!.modRevision).toBe(rev);
    await writePolicy(coord, ks, content(20));
    expect(await stored(coord)).toEqual({ ...content(20), version: 2 });
  });

  it('replaces an unreadable value with a version above every earlier one', async () => {
    const coord = setup();
    await writePolicy(coord, ks, content(100));
    await writePolicy(coord, ks, content(90));
    await coord.txn({ compare: [], success: [put(ks.policy, toBytes('{"version":'))] });
    await writePolicy(coord, ks, content(80));
    const v = await stored(coord);
    expect(v.sampling.keepPercent).toBe(80);
    expect(v.version).toBeGreaterThan(2);
  });

  it('concurrent writers never make the version go down and end on one of their contents', async () => {
    const coord = setup();
    const versions: number[] = [];
    const watch = coord.watchPrefix(ks.policy, (u) => {
      if (u.kind !== 'events') return;
      for (const e of u.events) if (e.type === 'put') {
        const d = decodeValue(PolicyValue, e.kv.value);
        if (d.ok) versions.push(d.value.version);
      }
    });
    await Promise.all([10, 20, 30, 40].map((p) => writePolicy(coord, ks, content(p))));
    await new Promise((r) => setTimeout(r, 10));
    watch.close();
    const final = await stored(coord);
    expect([10, 20, 30, 40]).toContain(final.sampling.keepPercent);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
  });
});
