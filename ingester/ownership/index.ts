// ingester/ownership — this member's part of the cluster protocol (ADR 0006 "Ingester ownership"):
// one lease per process with the member key on it; owner keys for the shards the controller assigns
// here, acquired with fencing tokens (the owner key's create revision) and released on handoff,
// shard-count decrease and shutdown; every shard lost the moment the local lease deadline passes.
// The ingester plugs in through onAcquire/onRelease (open the WAL / stop acking and drain) and gates
// every acknowledgement on ownedToken(). Nothing here touches WALs or heads.
export { createOwnership, type Ownership, type OwnershipOptions, type OwnerInfo, type OwnershipDebug, type ReleaseReason } from './ownership.js';
export type { AckWindow } from './ack-journal.js';
