// The shard controller's view of the cluster, parsed from the raw keys under the cluster root
// (pure: the I/O shell hands in whatever its watch mirrors). A value that does not parse is kept
// as "present but unreadable" — its key still exists, which matters for guards such as
// ifAbsent(owner) — and is reported, never thrown: one bad key must not stop the controller.
import type { ZodType } from 'zod';
import {
  AssignmentValue,
  decodeValue,
  MemberValue,
  OwnerValue,
  PartitionValue,
  type KeyValue,
  type Keyspace,
  type LeaseId,
} from '../../common/coord/index.js';

/** A key as the controller sees it; `value` is undefined when the stored bytes did not parse. */
export interface KeyState<T> {
  readonly key: string;
  readonly value: T | undefined;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly lease: LeaseId | undefined;
}

export interface ShardKeys {
  readonly assignment?: KeyState<AssignmentValue>;
  readonly owner?: KeyState<OwnerValue>;
}

export interface MalformedKey {
  readonly key: string;
  readonly error: string;
}

export interface ClusterState {
  /** By member id (the key suffix under members/). */
  readonly members: ReadonlyMap<string, KeyState<MemberValue>>;
  readonly partition: KeyState<PartitionValue> | undefined;
  /** Every shard number that has an assignment or an owner key, whatever the shard count. */
  readonly shards: ReadonlyMap<number, ShardKeys>;
  /** Keys whose value did not parse, or whose name fits no key of the key space. */
  readonly malformed: readonly MalformedKey[];
}

const SHARD_KEY = /^(0|[1-9][0-9]{0,8})\/(assignment|owner)$/;

/** Builds the controller's view from the keys under `keyspace.root`; keys it does not manage (blocks, jobs, policy, the election) are skipped. */
export function buildClusterState(keyspace: Keyspace, entries: Iterable<KeyValue>): ClusterState {
  const members = new Map<string, KeyState<MemberValue>>();
  const shards = new Map<number, { assignment?: KeyState<AssignmentValue>; owner?: KeyState<OwnerValue> }>();
  const malformed: MalformedKey[] = [];
  let partition: KeyState<PartitionValue> | undefined;

  const parse = <T>(schema: ZodType<T>, kv: KeyValue): KeyState<T> => {
    const decoded = decodeValue(schema, kv.value);
    if (!decoded.ok) malformed.push({ key: kv.key, error: decoded.error });
    return { key: kv.key, value: decoded.ok ? decoded.value : undefined, createRevision: kv.createRevision, modRevision: kv.modRevision, lease: kv.lease };
  };

  for (const kv of entries) {
    if (kv.key === keyspace.partition) {
      partition = parse(PartitionValue, kv);
    } else if (kv.key.startsWith(keyspace.membersPrefix)) {
      const id = kv.key.slice(keyspace.membersPrefix.length);
      if (id === '' || id.includes('/')) malformed.push({ key: kv.key, error: 'not a member key (members/<id>)' });
      else members.set(id, parse(MemberValue, kv));
    } else if (kv.key.startsWith(keyspace.shardsPrefix)) {
      const m = SHARD_KEY.exec(kv.key.slice(keyspace.shardsPrefix.length));
      if (m === null) {
        malformed.push({ key: kv.key, error: 'not a shard key (shards/<n>/assignment or shards/<n>/owner)' });
        continue;
      }
      const n = Number(m[1]);
      const slot = shards.get(n) ?? {};
      if (m[2] === 'assignment') slot.assignment = parse(AssignmentValue, kv);
      else slot.owner = parse(OwnerValue, kv);
      shards.set(n, slot);
    }
  }
  malformed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { members, partition, shards, malformed };
}
