// The TracingCluster CustomResourceDefinition, built from the zod schema (pure; crds/ and the chart's
// crds/ hold its rendering, written by `make gen` and checked by `make gen-check`).
import { z } from 'zod';
import { toStructural, type JsonSchemaProps } from './structural.js';
import { CATEGORIES, GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, TracingClusterSchema, VERSION } from './tracing-cluster.js';

export const CRD_NAME = `${PLURAL}.${GROUP}`;
/** kubebuilder's naming: <group>_<plural>; JSON because the repo has no YAML library (kubectl and Helm read JSON manifests). */
export const CRD_FILE_NAME = `${GROUP}_${PLURAL}.json`;

export interface CustomResourceDefinition {
  readonly apiVersion: 'apiextensions.k8s.io/v1';
  readonly kind: 'CustomResourceDefinition';
  readonly metadata: { readonly name: string; readonly annotations: Record<string, string> };
  readonly spec: {
    readonly group: string;
    readonly names: { readonly kind: string; readonly listKind: string; readonly plural: string; readonly singular: string; readonly shortNames: readonly string[]; readonly categories: readonly string[] };
    readonly scope: 'Namespaced';
    readonly versions: readonly CrdVersion[];
  };
}

export interface CrdVersion {
  readonly name: string;
  readonly served: boolean;
  readonly storage: boolean;
  readonly schema: { readonly openAPIV3Schema: JsonSchemaProps };
  readonly subresources: { readonly status: Record<string, never>; readonly scale: { readonly specReplicasPath: string; readonly statusReplicasPath: string } };
  readonly additionalPrinterColumns: readonly PrinterColumn[];
}

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'integer' | 'number' | 'string' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description: string;
  readonly priority?: number;
}

const READY = '.status.conditions[?(@.type=="Ready")]';

/** `kubectl get tc` (priority 0) and `kubectl get tc -o wide` (priority 1). */
export const PRINTER_COLUMNS: readonly PrinterColumn[] = [
  { name: 'Shards', type: 'integer', jsonPath: '.spec.shards', description: 'Desired shards of the trace-ID space.' },
  { name: 'Owned', type: 'integer', jsonPath: '.status.shards.owned', description: 'Shards of the current partition map that have an owner.' },
  { name: 'Ingesters', type: 'integer', jsonPath: '.status.ingesters.ready', description: 'Ready ingester pods.' },
  { name: 'Queriers', type: 'integer', jsonPath: '.status.queriers.ready', description: 'Ready querier pods.' },
  { name: 'Ready', type: 'string', jsonPath: `${READY}.status`, description: 'The Ready condition.' },
  { name: 'Reason', type: 'string', jsonPath: `${READY}.reason`, description: 'Why the cluster is (not) ready.', priority: 1 },
  { name: 'Map', type: 'integer', jsonPath: '.status.shards.mapVersion', description: 'Partition map version.', priority: 1 },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
];

/** The CRD's openAPIV3Schema: the whole-object zod schema made structural. */
export function buildOpenApiSchema(): JsonSchemaProps {
  const json = z.toJSONSchema(TracingClusterSchema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw', cycles: 'throw', reused: 'inline' }) as JsonSchemaProps;
  const props = json['properties'] as JsonSchemaProps;
  // apiVersion, kind and metadata belong to the apiserver: only their types may be stated (it
  // validates metadata itself and allows no schema inside it beyond name/generateName). metadata.name
  // is declared so the root's name-length rule may point its fieldPath at it.
  const typeOnly = (key: string, type: string): JsonSchemaProps => {
    const description = (props[key] as JsonSchemaProps)['description'];
    return description === undefined ? { type } : { description, type };
  };
  // The root's `required` goes too: zod requires the literal apiVersion and kind; the apiserver sets both.
  const { required: _required, ...root } = json;
  return toStructural({ ...root, properties: { ...props, apiVersion: typeOnly('apiVersion', 'string'), kind: typeOnly('kind', 'string'), metadata: { type: 'object', properties: { name: { type: 'string' } } } } });
}

export function buildCrd(): CustomResourceDefinition {
  const schema = buildOpenApiSchema();
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      annotations: { 'tracing.skein.dev/generated-from': 'operator/api (make gen); do not edit' },
    },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: [...SHORT_NAMES], categories: [...CATEGORIES] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: { status: {}, scale: { specReplicasPath: '.spec.shards', statusReplicasPath: '.status.shards.owned' } },
          additionalPrinterColumns: PRINTER_COLUMNS,
        },
      ],
    },
  };
}

export interface GeneratedFile {
  readonly name: string;
  readonly content: string;
}

/** The generated files, byte for byte; the same set goes to crds/ and charts/skein/crds/. */
export function renderCrdFiles(): readonly GeneratedFile[] {
  return [{ name: CRD_FILE_NAME, content: `${JSON.stringify(buildCrd(), null, 2)}\n` }];
}
