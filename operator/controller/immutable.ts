// Which fields of a StatefulSet an update may not change (the apiserver rejects them with 422):
// detected before applying so the controller can handle them on purpose (STYLE.md rule 3) instead of
// failing every reconcile. Compared on normalised values: the apiserver fills defaults into what it
// stores (volumeMode, status of claim templates) that the desired object leaves out.
import { parseQuantity } from '../api/index.js';
import type { KubeObject } from '../kube/index.js';

export interface ImmutableChanges {
  /** Human-readable names of the fields that differ, e.g. `volumeClaimTemplates[wal] size 10Gi → 20Gi`. */
  readonly fields: readonly string[];
  /** Claim templates whose only change is a larger size: existing claims can be grown in place. */
  readonly growClaims: readonly { readonly template: string; readonly size: string }[];
}

interface ClaimTemplate {
  metadata?: { name?: string };
  spec?: { accessModes?: string[]; storageClassName?: string; resources?: { requests?: { storage?: string | number } } };
}

interface StatefulSetSpec {
  selector?: unknown;
  serviceName?: string;
  podManagementPolicy?: string;
  volumeClaimTemplates?: ClaimTemplate[];
}

export function computeImmutableChanges(existing: KubeObject, desired: KubeObject): ImmutableChanges {
  const a = (existing.spec ?? {}) as StatefulSetSpec;
  const b = (desired.spec ?? {}) as StatefulSetSpec;
  const fields: string[] = [];
  const growClaims: { template: string; size: string }[] = [];
  if (canonical(a.selector) !== canonical(b.selector)) fields.push('selector');
  if ((a.serviceName ?? '') !== (b.serviceName ?? '')) fields.push(`serviceName ${a.serviceName ?? '""'} → ${b.serviceName ?? '""'}`);
  if ((a.podManagementPolicy ?? 'OrderedReady') !== (b.podManagementPolicy ?? 'OrderedReady')) fields.push(`podManagementPolicy ${a.podManagementPolicy ?? 'OrderedReady'} → ${b.podManagementPolicy ?? 'OrderedReady'}`);

  const before = new Map((a.volumeClaimTemplates ?? []).map((t) => [t.metadata?.name ?? '', t]));
  const after = new Map((b.volumeClaimTemplates ?? []).map((t) => [t.metadata?.name ?? '', t]));
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const x = before.get(name);
    const y = after.get(name);
    if (x === undefined || y === undefined) {
      fields.push(`volumeClaimTemplates[${name}] ${x === undefined ? 'added' : 'removed'}`);
      continue;
    }
    const sizeX = x.spec?.resources?.requests?.storage;
    const sizeY = y.spec?.resources?.requests?.storage;
    const bytesX = sizeX === undefined ? undefined : parseQuantity(sizeX);
    const bytesY = sizeY === undefined ? undefined : parseQuantity(sizeY);
    const classChanged = (x.spec?.storageClassName ?? '') !== (y.spec?.storageClassName ?? '') && y.spec?.storageClassName !== undefined;
    const modesChanged = canonical([...(x.spec?.accessModes ?? [])].sort()) !== canonical([...(y.spec?.accessModes ?? [])].sort());
    if (classChanged) fields.push(`volumeClaimTemplates[${name}] storageClassName ${x.spec?.storageClassName ?? '(default)'} → ${y.spec?.storageClassName}`);
    if (modesChanged) fields.push(`volumeClaimTemplates[${name}] accessModes`);
    if (bytesX !== bytesY) {
      fields.push(`volumeClaimTemplates[${name}] size ${String(sizeX)} → ${String(sizeY)}`);
      if (!classChanged && !modesChanged && bytesX !== undefined && bytesY !== undefined && bytesY > bytesX) growClaims.push({ template: name, size: String(sizeY) });
    }
  }
  return { fields, growClaims };
}

function canonical(value: unknown): string {
  return JSON.stringify(value ?? null, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))) : v,
  );
}
