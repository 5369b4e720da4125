import { describe, it, expect } from 'vitest';
import { createKeyspace, encodeValue, decodeValue, AssignmentValue, PartitionValue, MemberValue } from './index.js';

describe('keyspace', () => {
  const ks = createKeyspace('tracing', 'main');
  it.each([
    [ks.member('ingester-0'), '/skein/tracing/main/members/ingester-0'],
    [ks.partition, '/skein/tracing/main/partition'],
    [ks.assignment(3), '/skein/tracing/main/shards/3/assignment'],
    [ks.owner(3), '/skein/tracing/main/shards/3/owner'],
    [ks.block(2, '01J'), '/skein/tracing/main/blocks/2/01J'],
    [ks.job('j1'), '/skein/tracing/main/jobs/j1'],
  ])('%s', (got, want) => expect(got).toBe(want));

  it('keeps shard keys of one shard apart from another shard with a longer number', () => {
    expect(ks.assignment(1).startsWith(ks.shardsPrefix)).toBe(true);
    expect(ks.owner(11).startsWith('/skein/tracing/main/shards/1/')).toBe(false);
  });

  it.each([['Bad'], ['-x'], [''], ['a/b']])('rejects names that are not DNS-1123: %j', (name) => {
    expect(() => createKeyspace(name, 'main')).toThrow(RangeError);
    expect(() => createKeyspace('ns', name)).toThrow(RangeError);
  });

  it('round-trips values and reports malformed ones without throwing', () => {
    const a = { member: 'ingester-1', generation: 4, state: 'handoff' as const, to: 'ingester-2' };
    expect(decodeValue(AssignmentValue, encodeValue(AssignmentValue, a))).toEqual({ ok: true, value: a });
    expect(decodeValue(PartitionValue, new TextEncoder().encode('{"version":0,"shardCount":4}'))).toMatchObject({ ok: false, error: /version/ });
    expect(decodeValue(MemberValue, new TextEncoder().encode('nope'))).toMatchObject({ ok: false, error: /not JSON/ });
    expect(() => encodeValue(PartitionValue, { version: 1, shardCount: 0 })).toThrow();
  });
});
