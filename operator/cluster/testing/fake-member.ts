// Test helper: a cluster member reduced to its coordination protocol (ADR 0006 "Ingester
// ownership"), so the shard controller can be tested against the real key protocol without an
// ingester: it registers on its lease with the stored partition version, acquires the shards
// assigned to it, releases on handoff and on a shard-count decrease. Shared by the unit tests
// (MemoryStore) and the integration tests (real etcd).
import {
  MemberValue,
  OwnerValue,
  del,
  encodeValue,
  ifAbsent,
  ifCreateRevision,
  ifModRevision,
  put,
  type Coordinator,
  type Keyspace,
  type Lease,
  type Watch,
} from '../../../common/coord/index.js';
import { buildClusterState } from '../cluster-state.js';

export interface FakeMemberOptions {
  readonly coord: Coordinator;
  readonly keyspace: Keyspace;
  readonly id: string;
  readonly ttlSeconds: number;
  /** Registers as not ready when false (never eligible). Default true. */
  readonly ready?: boolean;
}

export interface FakeMember {
  readonly id: string;
  readonly lease: Lease;
  /** Stops reacting to the cluster; its keys and lease stay as they are (a hung process). */
  freeze(): void;
  /** Revokes its lease: its member key and owner keys vanish in one revision (a dead process). */
  kill(): Promise<void>;
  /** Errors its protocol steps hit (a test can assert there were none). */
  readonly errors: readonly unknown[];
}

export async function startFakeMember(options: FakeMemberOptions): Promise<FakeMember> {
  const { coord, keyspace, id } = options;
  const lease = await coord.grantLease(options.ttlSeconds);
  const address = `${id}.test:9095`;
  const errors: unknown[] = [];
  let registered: number | undefined;
  let frozen = false;
  let chain: Promise<void> = Promise.resolve();

  const reconcile = async (): Promise<void> => {
    if (frozen || !lease.valid()) return;
    const state = buildClusterState(keyspace, (await coord.range(keyspace.root)).entries);
    const partition = state.partition?.value;
    if (partition === undefined) return;
    if (registered !== partition.version) {
      const value = encodeValue(MemberValue, { address, ports: { internal: 9095 }, version: 'test', ready: options.ready ?? true, partitionVersion: partition.version });
      const r = await coord.txn({ compare: [], success: [put(keyspace.member(id), value, lease.id)] });
      if (r.kind === 'committed') registered = partition.version;
      return; // our own put shows up in the watch and runs the next step
    }
    for (const [n, { assignment, owner }] of state.shards) {
      const mine = owner !== undefined && owner.lease === lease.id;
      const release = async (): Promise<void> => {
        await coord.txn({ compare: [ifCreateRevision(keyspace.owner(n), owner!.createRevision)], success: [del(keyspace.owner(n))] });
      };
      if (n >= partition.shardCount) {
        if (mine) await release();
        continue;
      }
      const a = assignment?.value;
      if (a === undefined || a.member !== id) continue;
      if (a.state === 'active' && owner === undefined) {
        await coord.txn({
          compare: [ifModRevision(keyspace.assignment(n), assignment!.modRevision), ifAbsent(keyspace.owner(n))],
          success: [put(keyspace.owner(n), encodeValue(OwnerValue, { member: id, address }), lease.id)],
        });
      } else if (a.state === 'handoff' && mine) {
        await release();
      }
    }
  };

  const kick = (): void => {
    chain = chain.then(reconcile).catch((e: unknown) => void errors.push(e));
  };
  const watch: Watch = coord.watchPrefix(keyspace.root, (update) => {
    if (update.kind !== 'disconnected') kick();
  });

  const freeze = (): void => {
    frozen = true;
    watch.close();
  };
  return {
    id,
    lease,
    errors,
    freeze,
    async kill() {
      freeze();
      await chain;
      await lease.revoke();
    },
  };
}
