// common/coord — the Coordinator: a narrow, revisioned KV + txn + lease + watch interface over etcd
// (DESIGN.md §5), with an etcd implementation (etcd3 package, no silent retries, re-list on watch
// reconnect, paginated ranges), an in-memory twin for all-in-one and tests, local lease deadlines
// for fencing, and leader election for controllers. The conformance suite both implementations pass
// lives in testing/conformance.ts (it imports vitest, so it stays out of the build).
export {
  ifAbsent,
  ifCreateRevision,
  ifModRevision,
  ifValue,
  ifLease,
  put,
  del,
  get,
  toBytes,
  valueText,
  type Coordinator,
  type Compare,
  type CompareOp,
  type GetResult,
  type GrantLeaseOptions,
  type KeyValue,
  type Lease,
  type LeaseId,
  type LeaseState,
  type Op,
  type OpResult,
  type RangeOptions,
  type RangeResult,
  type TxnRequest,
  type TxnResult,
  type Watch,
  type WatchEvent,
  type WatchUpdate,
} from './coordinator.js';
export { systemClock, ManualClock, sleep, type Clock } from './clock.js';
export { MemoryStore, type MemoryStoreOptions, type MemoryPersistence } from './memory.js';
export { openFileBackedStore, type FileBackedStore, type FileBackedStoreOptions } from './file-store.js';
export { createEtcdCoordinator, type EtcdCoordinatorOptions } from './etcd.js';
export { campaign, type CampaignOptions, type Leadership } from './election.js';
export {
  createKeyspace,
  encodeValue,
  decodeValue,
  MemberValue,
  PartitionValue,
  AssignmentValue,
  OwnerValue,
  HolderValue,
  PolicyValue,
  BlockMeta,
  BlockState,
  BlockValue,
  JobValue,
  JobClaimValue,
  OrphanValue,
  UploadValue,
  type Keyspace,
} from './keyspace.js';
