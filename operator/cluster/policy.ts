// The `policy` key (DESIGN.md §5 table): retention, compaction and tail sampling as the controller
// derived them from the spec. The content is compared, not the version: writing the same content
// again is a no-op, and a change bumps the version by exactly one in a CAS on the key's revision, so
// versions never go down and two writers (an old and a new operator leader) cannot interleave.
import { decodeValue, encodeValue, ifAbsent, ifModRevision, put, PolicyValue, type Coordinator, type Keyspace } from '../../common/coord/index.js';

export type PolicyContent = Omit<PolicyValue, 'version'>;

/**
 * The value to write for `desired` over `current`, or undefined when the content is already there.
 * The new version is above both the current one and `floor` (used when the stored value is
 * unreadable: the key's own version count bounds any policy version written through here).
 */
export function computePolicyUpdate(current: PolicyValue | undefined, desired: PolicyContent, floor = 0): PolicyValue | undefined {
  if (current !== undefined && samePolicy(current, desired)) return undefined;
  return PolicyValue.parse({ ...desired, version: Math.max(current?.version ?? 0, floor) + 1 });
}

function samePolicy(current: PolicyValue, desired: PolicyContent): boolean {
  const { version: _version, ...content } = current;
  return canonical(content) === canonical(PolicyValue.omit({ version: true }).parse(desired));
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

export type PolicyWriteResult = { readonly kind: 'unchanged' | 'written'; readonly value: PolicyValue };

const MAX_ATTEMPTS = 5;

/**
 * Makes the stored policy carry `desired`. A stored value that does not parse is replaced by one
 * whose version is above the key's modification count (so above any version a reader saw).
 * Rejects after repeated lost races, for the caller's retry.
 */
export async function writePolicy(coord: Coordinator, keyspace: Keyspace, desired: PolicyContent): Promise<PolicyWriteResult> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { kv } = await coord.get(keyspace.policy);
    const decoded = kv === undefined ? undefined : decodeValue(PolicyValue, kv.value);
    const current = decoded?.ok === true ? decoded.value : undefined;
    const next = computePolicyUpdate(current, desired, kv?.version ?? 0);
    if (next === undefined) return { kind: 'unchanged', value: current! };
    const guard = kv === undefined ? ifAbsent(keyspace.policy) : ifModRevision(keyspace.policy, kv.modRevision);
    const result = await coord.txn({ compare: [guard], success: [put(keyspace.policy, encodeValue(PolicyValue, next))], failure: [] });
    if (result.kind === 'committed') return { kind: 'written', value: next };
  }
  throw new Error(`could not write ${keyspace.policy}: lost ${MAX_ATTEMPTS} compare-and-swap races in a row; retrying`);
}
