// operator/cluster/testing — test helpers for code that drives the shard protocol: a cluster member
// reduced to its coordination steps (no ingester), and for the lifecycle controller: seeded blocks
// and a compaction job holder reduced to its manifest steps — for unit tests on the coordinator
// twin and integration tests on real etcd.
export { startFakeMember, type FakeMember, type FakeMemberOptions } from './fake-member.js';
export { blockMeta, seedBlock, seedLiveBlock, computeOutputMeta, createFakeHolder, type FakeHolder, type SeedBlock } from './lifecycle.js';
