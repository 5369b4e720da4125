import { describe, expect, it } from 'vitest';
import { AssignmentValue, OwnerValue, encodeValue, type KeyValue } from '../../common/coord/index.js';
import { ShardsView } from './view.js';

const P = '/skein/t/c/shards/';

function kv(key: string, value: Uint8Array, createRevision: number, modRevision = createRevision, lease?: string): KeyValue {
  return { key, value, createRevision, modRevision, version: 1, lease };
}
const assignment = (member: string) => encodeValue(AssignmentValue, { member, generation: 1, state: 'active' });
const owner = (member: string) => encodeValue(OwnerValue, { member, address: `${member}:1` });

describe('ShardsView', () => {
  it('replays a snapshot and events into per-shard assignment and owner, ignoring other keys', () => {
    const view = new ShardsView(P);
    const change = view.apply({
      kind: 'snapshot',
      revision: 10,
      entries: [kv(`${P}0/assignment`, assignment('a'), 3), kv(`${P}0/owner`, owner('a'), 4, 4, '77'), kv(`${P}1/assignment`, assignment('b'), 5), kv(`${P}1/other`, owner('x'), 6)],
    });
    expect(change?.shards).toBe('all');
    expect(view.revision).toBe(10);
    expect(view.get(0)).toEqual({
      assignment: { value: { member: 'a', generation: 1, state: 'active' }, modRevision: 3 },
      owner: { value: { member: 'a', address: 'a:1' }, createRevision: 4, modRevision: 4, lease: '77' },
      generation: expect.any(Number),
    });
    expect(view.get(1)?.owner).toBeUndefined();

    const g0 = view.generation(0);
    const g1 = view.generation(1);
    const events = view.apply({ kind: 'events', revision: 12, events: [{ type: 'delete', key: `${P}0/owner`, modRevision: 12 }] });
    expect([...(events?.shards as Set<number>)]).toEqual([0]);
    expect(view.get(0)?.owner).toBeUndefined();
    expect(view.generation(0)).not.toBe(g0);
    expect(view.generation(1)).toBe(g1);
    expect(view.revision).toBe(12);

    // disconnected changes nothing; the next snapshot replaces everything and moves every generation
    expect(view.apply({ kind: 'disconnected', error: new Error('x') })).toBeUndefined();
    view.apply({ kind: 'snapshot', revision: 20, entries: [kv(`${P}2/owner`, owner('c'), 18)] });
    expect([...view.shards()]).toEqual([2]);
    expect(view.get(1)).toBeUndefined();
    expect(view.generation(1)).not.toBe(g1);
  });

  it('reports malformed values and keeps them as present-but-unreadable', () => {
    const view = new ShardsView(P);
    const change = view.apply({ kind: 'snapshot', revision: 5, entries: [kv(`${P}3/owner`, new TextEncoder().encode('{"member":1}'), 4)] });
    expect(change?.malformed.map((m) => m.key)).toEqual([`${P}3/owner`]);
    expect(view.get(3)?.owner).toMatchObject({ value: undefined, createRevision: 4 });
  });
});
