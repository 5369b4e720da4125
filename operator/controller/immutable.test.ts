import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/index.js';
import { computeImmutableChanges } from './immutable.js';

const sts = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'tc-ingester', namespace: 'ns' }, spec });
const claim = (size: string, extra: Record<string, unknown> = {}) => ({ metadata: { name: 'wal' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, ...extra } });
const base = { selector: { matchLabels: { a: '1' } }, serviceName: 'tc-ingester-headless', podManagementPolicy: 'Parallel', volumeClaimTemplates: [claim('10Gi')] };

describe('computeImmutableChanges', () => {
  it.each([
    { name: 'identical', change: {}, fields: [], grow: [] },
    // The apiserver stores defaults the desired object leaves out; those are not changes.
    { name: 'apiserver defaults only', existing: { ...base, volumeClaimTemplates: [{ ...claim('10Gi', { volumeMode: 'Filesystem' }), status: { phase: 'Pending' } }] }, change: {}, fields: [], grow: [] },
    { name: 'same size spelled differently', change: { volumeClaimTemplates: [claim('10240Mi')] }, fields: [], grow: [] },
    { name: 'selector', change: { selector: { matchLabels: { a: '2' } } }, fields: ['selector'], grow: [] },
    { name: 'serviceName', change: { serviceName: 'other' }, fields: ['serviceName tc-ingester-headless → other'], grow: [] },
    { name: 'WAL grows: claims can grow in place', change: { volumeClaimTemplates: [claim('20Gi')] }, fields: ['volumeClaimTemplates[wal] size 10Gi → 20Gi'], grow: [{ template: 'wal', size: '20Gi' }] },
    { name: 'WAL shrinks: no growing', change: { volumeClaimTemplates: [claim('5Gi')] }, fields: ['volumeClaimTemplates[wal] size 10Gi → 5Gi'], grow: [] },
    {
      name: 'new storage class with a new size: nothing grown in place',
      change: { volumeClaimTemplates: [claim('20Gi', { storageClassName: 'fast' })] },
      fields: ['volumeClaimTemplates[wal] storageClassName (default) → fast', 'volumeClaimTemplates[wal] size 10Gi → 20Gi'],
      grow: [],
    },
    { name: 'template added', change: { volumeClaimTemplates: [claim('10Gi'), { metadata: { name: 'blocks' }, spec: {} }] }, fields: ['volumeClaimTemplates[blocks] added'], grow: [] },
  ])('$name', ({ existing, change, fields, grow }) => {
    const r = computeImmutableChanges(sts(existing ?? base), sts({ ...base, ...change }));
    expect(r.fields).toEqual(fields);
    expect(r.growClaims).toEqual(grow);
  });

  it('a missing podManagementPolicy is the default OrderedReady', () => {
    const { podManagementPolicy: _p, ...rest } = base;
    expect(computeImmutableChanges(sts(rest), sts(base)).fields).toEqual(['podManagementPolicy OrderedReady → Parallel']);
  });
});
