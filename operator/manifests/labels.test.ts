import { describe, expect, it } from 'vitest';
import { commonLabels, MANAGED_BY, ownedObjectsSelector, selectorLabels } from './index.js';

describe('labels', () => {
  it('selects by name, instance and component only', () => {
    expect(selectorLabels('traces', 'ingester')).toEqual({
      'app.kubernetes.io/name': 'skein',
      'app.kubernetes.io/instance': 'traces',
      'app.kubernetes.io/component': 'ingester',
    });
  });

  it('labels objects with the recommended set', () => {
    expect(commonLabels('traces', 'config', '0.1.0')).toEqual({
      'app.kubernetes.io/name': 'skein',
      'app.kubernetes.io/instance': 'traces',
      'app.kubernetes.io/component': 'config',
      'app.kubernetes.io/part-of': 'skein',
      'app.kubernetes.io/managed-by': 'skein-operator',
      'app.kubernetes.io/version': '0.1.0',
    });
  });

  it.each([
    { version: '0.1.0', label: '0.1.0' },
    { version: '1.2.0+build.7', label: '1.2.0-build.7' },
    { version: 'v1.0.0-rc.1', label: 'v1.0.0-rc.1' },
    { version: `1.${'9'.repeat(80)}`, label: `1.${'9'.repeat(61)}` },
    { version: '+dirty', label: 'dirty' },
  ])('makes version $version the valid label value $label', ({ version, label }) => {
    const value = commonLabels('traces', 'querier', version)['app.kubernetes.io/version']!;
    expect(value).toBe(label);
    expect(value.length).toBeLessThanOrEqual(63);
    expect(value).toMatch(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/);
  });

  it('selects the owned objects of one cluster for pruning', () => {
    expect(MANAGED_BY).toBe('skein-operator');
    expect(ownedObjectsSelector('traces')).toBe('app.kubernetes.io/managed-by=skein-operator,app.kubernetes.io/instance=traces');
  });
});
