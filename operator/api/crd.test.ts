import { describe, expect, it } from 'vitest';
import { buildCrd, CONDITION_REASON_PATTERN, CONDITION_TYPES, ConditionReasons, CRD_FILE_NAME, MAX_SHARDS, renderCrdFiles, type JsonSchemaProps } from './index.js';
import { INVALID_SPECS, INVALID_UPDATES } from './testing/index.js';

const crd = buildCrd();
const version = crd.spec.versions[0]!;
const root = version.schema.openAPIV3Schema;

/** Every node of the schema with its path (`.spec.shards`, `.status.conditions[]`, `.spec.ingester.resources.limits{}`). */
function nodes(node: JsonSchemaProps, path = ''): [string, JsonSchemaProps][] {
  const out: [string, JsonSchemaProps][] = [[path, node]];
  for (const [k, child] of Object.entries((node['properties'] ?? {}) as Record<string, JsonSchemaProps>)) out.push(...nodes(child, `${path}.${k}`));
  if (node['items'] !== undefined) out.push(...nodes(node['items'] as JsonSchemaProps, `${path}[]`));
  if (typeof node['additionalProperties'] === 'object') out.push(...nodes(node['additionalProperties'] as JsonSchemaProps, `${path}{}`));
  return out;
}

/** The node at a simple JSONPath such as `.spec.shards`. */
const at = (jsonPath: string): JsonSchemaProps | undefined =>
  jsonPath
    .split('.')
    .slice(1)
    .reduce<JsonSchemaProps | undefined>((n, k) => (n?.['properties'] as Record<string, JsonSchemaProps> | undefined)?.[k], root);

describe('TracingCluster CRD', () => {
  it('names the resource as users type it', () => {
    expect(crd.metadata.name).toBe('tracingclusters.tracing.skein.dev');
    expect(crd.spec.names).toEqual({ kind: 'TracingCluster', listKind: 'TracingClusterList', plural: 'tracingclusters', singular: 'tracingcluster', shortNames: ['tc'], categories: ['skein'] });
    expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([['v1alpha1', true, true]]);
    expect(CRD_FILE_NAME).toBe('tracing.skein.dev_tracingclusters.json');
  });

  it('is structural: every node typed, no refs or unions beyond int-or-string, no additionalProperties next to properties', () => {
    for (const [path, node] of nodes(root)) {
      const intOrString = node['x-kubernetes-int-or-string'] === true;
      expect(node['type'] !== undefined || intOrString, `${path} has a type`).toBe(true);
      if (intOrString) expect(node['anyOf'], path).toEqual([{ type: 'integer' }, { type: 'string' }]);
      else expect(node['anyOf'], path).toBeUndefined();
      for (const banned of ['$ref', '$defs', 'definitions', 'oneOf', 'allOf', 'not', 'const', '$schema', 'propertyNames']) expect(node[banned], `${path} ${banned}`).toBeUndefined();
      expect(node['properties'] !== undefined && node['additionalProperties'] !== undefined, `${path} properties xor additionalProperties`).toBe(false);
      expect(node['additionalProperties'], path).not.toBe(false);
    }
    expect(root['anyOf']).toBeUndefined();
    expect(at('.metadata')).toEqual({ type: 'object', properties: { name: { type: 'string' } } });
  });

  it('states the shard bounds, defaults and the list types the apiserver merges by', () => {
    expect(at('.spec.shards')).toMatchObject({ type: 'integer', minimum: 1, maximum: MAX_SHARDS, default: 6 });
    expect(at('.spec')!['default']).toEqual({});
    expect(at('.spec.storage')!['default']).toEqual({ filesystem: {} });
    expect(at('.spec.etcd')!['default']).toEqual({ managed: {} });
    expect(at('.spec.ingester.wal.size')).toMatchObject({ 'x-kubernetes-int-or-string': true, default: '10Gi' });
    expect(at('.status.conditions')).toMatchObject({ type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
    expect((at('.status.conditions')!['items'] as JsonSchemaProps)['required']).toEqual(['type', 'status', 'lastTransitionTime', 'reason', 'message']);
    expect(at('.spec.etcd.external.endpoints')).toMatchObject({ 'x-kubernetes-list-type': 'set', minItems: 1 });
    expect(at('.spec.storage.s3')!['required']).toEqual(['bucket', 'secretRef']);
  });

  it('has status and scale subresources whose paths exist in the schema', () => {
    expect(version.subresources).toEqual({ status: {}, scale: { specReplicasPath: '.spec.shards', statusReplicasPath: '.status.shards.owned' } });
    expect(at(version.subresources.scale.specReplicasPath)!['type']).toBe('integer');
    expect(at(version.subresources.scale.statusReplicasPath)!['type']).toBe('integer');
  });

  it('prints shards owned/desired, ready ingesters and queriers, Ready and age, each column reading a declared field', () => {
    expect(version.additionalPrinterColumns.filter((c) => (c.priority ?? 0) === 0).map((c) => c.name)).toEqual(['Shards', 'Owned', 'Ingesters', 'Queriers', 'Ready', 'Age']);
    for (const column of version.additionalPrinterColumns) {
      if (column.jsonPath.startsWith('.metadata.')) continue;
      const plain = column.jsonPath.replace(/\[\?\(@\.type=="Ready"\)\]/, '');
      const node = plain.startsWith('.status.conditions.') ? (at('.status.conditions')!['items'] as JsonSchemaProps)['properties'] as Record<string, JsonSchemaProps> : undefined;
      const target = node === undefined ? at(plain) : node[plain.slice('.status.conditions.'.length)];
      expect(target, column.jsonPath).toBeDefined();
      expect(target!['type'], column.jsonPath).toBe(column.type);
    }
  });

  it('every CEL rule has a message and is exercised by the shared invalid table', () => {
    const rules = nodes(root).flatMap(([path, n]) => ((n['x-kubernetes-validations'] ?? []) as { rule: string; message: string }[]).map((r) => ({ path, ...r })));
    expect(rules.length).toBeGreaterThan(10);
    const tested = [...INVALID_SPECS.map((c) => c.apiserver), ...INVALID_UPDATES.map((c) => c.message)];
    for (const r of rules) {
      expect(r.message, r.rule).not.toBe('');
      expect(tested.some((re) => re.test(r.message)), `rule at ${r.path} (${r.message}) has a case in operator/api/testing`).toBe(true);
    }
  });

  it('renders deterministically as one JSON file per CRD', () => {
    const [a, b] = [renderCrdFiles(), renderCrdFiles()];
    expect(a).toEqual(b);
    expect(a.map((f) => f.name)).toEqual([CRD_FILE_NAME]);
    expect(JSON.parse(a[0]!.content)).toEqual(JSON.parse(JSON.stringify(crd)));
    expect(a[0]!.content.endsWith('}\n')).toBe(true);
  });
});

describe('condition types and reasons', () => {
  it('are CamelCase words the metav1.Condition schema accepts, one set per type', () => {
    expect(Object.keys(ConditionReasons)).toEqual([...CONDITION_TYPES]);
    for (const [type, reasons] of Object.entries(ConditionReasons)) {
      expect(Object.keys(reasons).length, type).toBeGreaterThan(1);
      for (const [key, reason] of Object.entries(reasons)) {
        expect(reason).toBe(key);
        expect(reason).toMatch(CONDITION_REASON_PATTERN);
        expect(reason).toMatch(/^[A-Z][A-Za-z]+$/);
      }
    }
  });
});
