// operator/cluster/testing — test helpers for code that drives the shard protocol: a cluster member
// reduced to its coordination steps (no ingester), for unit tests on the coordinator twin and
// integration tests on real etcd.
export { startFakeMember, type FakeMember, type FakeMemberOptions } from './fake-member.js';
