// zod schema → a structural openAPIV3Schema (apiextensions.k8s.io/v1 JSONSchemaProps).
//
// zod's own z.toJSONSchema (target openapi-3.0, io input, so defaulted fields are optional and carry
// `default`) does the bulk; this pass turns its output into what the apiserver calls *structural*
// (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema)
// and refuses anything else rather than emit a CRD the apiserver would reject or prune wrongly:
//   - every node has a `type`, except int-or-string nodes, which become the controller-gen form
//     `anyOf: [{type: integer}, {type: string}]` + `x-kubernetes-int-or-string: true`, with the
//     branches' value checks (pattern, maxLength) lifted onto the node;
//   - no $ref/$defs, no other anyOf/oneOf/allOf/not, no `additionalProperties: false` (pruning
//     already drops unknown fields), never both properties and additionalProperties;
//   - only keywords JSONSchemaProps knows (metadata keys such as x-kubernetes-validations pass);
//   - zod's ±MAX_SAFE_INTEGER bounds on .int() and its regex for ISO date-times are dropped
//     (`format: date-time` says it); `\/` in patterns (RegExp#source's escaping) becomes `/`.
// Keys come out in one fixed order so the generated file reads well and diffs stay small.

export type JsonSchemaProps = { [key: string]: unknown };

const KEY_ORDER = [
  'description',
  'type',
  'format',
  'anyOf',
  'x-kubernetes-int-or-string',
  'enum',
  'default',
  'minimum',
  'exclusiveMinimum',
  'maximum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'nullable',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'items',
  'properties',
  'additionalProperties',
  'required',
  'x-kubernetes-validations',
];
const ALLOWED = new Set(KEY_ORDER);
const INT_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

export class NonStructuralSchemaError extends Error {
  readonly code = 'NON_STRUCTURAL_SCHEMA';
  readonly retryable = false;
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

function isObject(v: unknown): v is JsonSchemaProps {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An anyOf of exactly one integer and one string branch: zod's z.union([z.number().int(), z.string()]). */
function intOrStringBranches(node: JsonSchemaProps): [JsonSchemaProps, JsonSchemaProps] | undefined {
  const anyOf = node['anyOf'];
  if (!Array.isArray(anyOf) || anyOf.length !== 2 || !anyOf.every(isObject)) return undefined;
  const int = anyOf.find((b) => b['type'] === 'integer');
  const str = anyOf.find((b) => b['type'] === 'string');
  return int !== undefined && str !== undefined ? [int, str] : undefined;
}

function ordered(node: JsonSchemaProps): JsonSchemaProps {
  const out: JsonSchemaProps = {};
  for (const k of KEY_ORDER) if (node[k] !== undefined) out[k] = node[k];
  return out;
}

/** Converts one node (and its children), throwing NonStructuralSchemaError at the first violation. */
export function toStructural(input: JsonSchemaProps, path = '<root>'): JsonSchemaProps {
  const node: JsonSchemaProps = { ...input };
  delete node['$schema'];

  const branches = intOrStringBranches(node);
  if (branches !== undefined) {
    delete node['anyOf'];
    for (const branch of branches) {
      for (const [k, v] of Object.entries(branch)) {
        if (k === 'type' || ((k === 'maximum' || k === 'minimum') && INT_BOUNDS.has(v as number))) continue;
        if (node[k] !== undefined) throw new NonStructuralSchemaError(path, `int-or-string branch keyword ${k} clashes with the node's own`);
        node[k] = v;
      }
    }
    node['anyOf'] = [{ type: 'integer' }, { type: 'string' }];
    node['x-kubernetes-int-or-string'] = true;
  }

  for (const k of ['minimum', 'maximum']) if (INT_BOUNDS.has(node[k] as number)) delete node[k];
  if (node['format'] === 'date-time') delete node['pattern'];
  // RegExp#source escapes "/" (`\/`); the same character unescaped reads better and means the same.
  if (typeof node['pattern'] === 'string') node['pattern'] = node['pattern'].replace(/(?<!\\)((?:\\\\)*)\\\//g, '$1/');
  if (node['additionalProperties'] === false) delete node['additionalProperties'];

  for (const k of ['oneOf', 'allOf', 'not']) {
    if (node[k] !== undefined) throw new NonStructuralSchemaError(path, `${k} is not supported (model the choice as optional fields plus a CEL rule)`);
  }
  for (const k of Object.keys(node)) {
    if (!ALLOWED.has(k)) throw new NonStructuralSchemaError(path, `keyword ${k} has no place in a structural schema`);
  }
  if (node['anyOf'] !== undefined && node['x-kubernetes-int-or-string'] !== true) {
    throw new NonStructuralSchemaError(path, 'anyOf is only allowed for int-or-string (z.union([z.number().int(), z.string()]))');
  }
  if (node['type'] === undefined && node['x-kubernetes-int-or-string'] !== true && node['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new NonStructuralSchemaError(path, 'every node needs a type (is this a union, z.any() or z.unknown()?)');
  }
  if (node['type'] === 'object' && node['properties'] !== undefined && node['additionalProperties'] !== undefined) {
    throw new NonStructuralSchemaError(path, 'properties and additionalProperties are mutually exclusive');
  }

  if (isObject(node['properties'])) {
    const props: JsonSchemaProps = {};
    for (const [name, child] of Object.entries(node['properties'])) {
      if (!isObject(child)) throw new NonStructuralSchemaError(`${path}.${name}`, 'not a schema');
      props[name] = toStructural(child, `${path}.${name}`);
    }
    node['properties'] = props;
  }
  if (node['items'] !== undefined) {
    if (!isObject(node['items'])) throw new NonStructuralSchemaError(`${path}[]`, 'items must be one schema (no tuples)');
    node['items'] = toStructural(node['items'], `${path}[]`);
  }
  if (isObject(node['additionalProperties'])) node['additionalProperties'] = toStructural(node['additionalProperties'], `${path}{}`);
  if (Array.isArray(node['required']) && node['required'].length === 0) delete node['required'];
  return ordered(node);
}
