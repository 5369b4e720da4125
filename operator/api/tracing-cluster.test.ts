import { describe, expect, it } from 'vitest';
import { API_VERSION, KIND, validateTracingCluster, validateTracingClusterSpec, validateTracingClusterUpdate, type TracingClusterSpec } from './index.js';
import { INVALID_SPECS, INVALID_UPDATES, VALID_SPECS } from './testing/index.js';

const object = (spec: unknown, name = 'tc-1', extra: object = {}): object => ({ apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace: 'default' }, spec, ...extra });

const parsed = (spec: unknown): TracingClusterSpec => {
  const r = validateTracingClusterSpec(spec);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
};

describe('TracingCluster runtime validator', () => {
  it.each(VALID_SPECS)('accepts $title', ({ spec, expect: check }) => {
    const r = validateTracingClusterSpec(spec);
    expect(r.ok ? [] : r.issues).toEqual([]);
    const value = parsed(spec);
    check?.(value);
    // Defaulting is idempotent, as the apiserver's is on every read.
    expect(parsed(value)).toEqual(value);
    expect(validateTracingCluster(object(spec)).ok).toBe(true);
  });

  it.each(INVALID_SPECS)('rejects $title at $field', ({ spec, name, field, validator }) => {
    const r = validateTracingCluster(object(spec, name));
    expect(r.ok).toBe(false);
    const issues = r.ok ? [] : r.issues;
    const at = issues.filter((i) => i.path === field);
    expect(at.map((i) => i.message), `issues: ${JSON.stringify(issues)}`).toContainEqual(expect.stringMatching(validator));
  });

  it('fills a whole object the way the apiserver does: spec defaulted, unknown fields dropped', () => {
    const r = validateTracingCluster({ ...object(undefined), spec: undefined, extra: 1 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.spec).toEqual(parsed({}));
    expect(r.value).not.toHaveProperty('extra');
    expect(r.value.metadata).toEqual({ name: 'tc-1', namespace: 'default' });
    // Typos are dropped like the apiserver's pruning drops them (kubectl's strict field validation is what flags them).
    expect(parsed({ shard: 9 }).shards).toBe(6);
  });

  it('rejects another kind or version', () => {
    expect(validateTracingCluster({ ...object({}), apiVersion: 'tracing.skein.dev/v1' }).ok).toBe(false);
    expect(validateTracingCluster({ ...object({}), kind: 'TempoStack' }).ok).toBe(false);
  });

  it('validates status conditions in the metav1.Condition shape', () => {
    const condition = { type: 'Ready', status: 'True', reason: 'AllReady', message: '', lastTransitionTime: '2026-01-02T03:04:05Z', observedGeneration: 2 };
    const good = validateTracingCluster(object({}, 'tc-1', { status: { observedGeneration: 2, conditions: [condition], shards: { owned: 6, desired: 6, mapVersion: 3 } } }));
    expect(good.ok ? [] : good.issues).toEqual([]);
    const bad = validateTracingCluster(object({}, 'tc-1', { status: { conditions: [{ ...condition, status: 'Yes', reason: 'not a reason!' }] } }));
    expect(bad.ok ? [] : bad.issues.map((i) => i.path)).toEqual(['status.conditions[0].status', 'status.conditions[0].reason']);
  });

  it.each(INVALID_UPDATES)('refuses the update $title', ({ from, to, field, message }) => {
    const issues = validateTracingClusterUpdate(parsed(from), parsed(to));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe(field);
    expect(issues[0]!.message).toMatch(message);
    // The reverse switch is refused too, and staying put is fine.
    expect(validateTracingClusterUpdate(parsed(to), parsed(from))).toHaveLength(1);
    expect(validateTracingClusterUpdate(parsed(to), parsed(to))).toEqual([]);
  });

  it('allows every other update, shards down included', () => {
    const from = parsed({ shards: 64, storage: { s3: { bucket: 'a-bucket', secretRef: { name: 's' } } } });
    const to = parsed({ shards: 1, ingester: { replicas: 1, wal: { size: '1Gi' } }, storage: { s3: { bucket: 'b-bucket', secretRef: { name: 't' } } }, retention: { traces: '24h' } });
    expect(validateTracingClusterUpdate(from, to)).toEqual([]);
  });
});
