// operator/api — the TracingCluster API (tracing.skein.dev/v1alpha1, short name tc). One zod schema
// yields the TypeScript types, the runtime validator the operator parses objects with, and the CRD
// (structural openAPIV3Schema with defaults and CEL rules, status and scale subresources, printer
// columns) that `make gen` writes to crds/ and charts/skein/crds/. Every CEL rule is written beside
// its TypeScript twin (cel.ts), so the apiserver and the operator reject the same specs with the same
// message. Also the one list of status condition types and reasons. Pure: no I/O.
export {
  API_VERSION,
  CATEGORIES,
  GROUP,
  KIND,
  MAX_CLUSTER_NAME_LENGTH,
  MAX_SHARDS,
  MIN_SHARDS,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
  TracingClusterSchema,
  TracingClusterSpecSchema,
  TracingClusterStatusSchema,
  validateTracingCluster,
  validateTracingClusterSpec,
  validateTracingClusterUpdate,
  type TracingCluster,
  type TracingClusterSpec,
  type TracingClusterSpecInput,
  type TracingClusterStatus,
  type ValidationIssue,
  type ValidationResult,
} from './tracing-cluster.js';
export { CONDITION_TYPES, CONDITION_REASON_PATTERN, ConditionReasons, ConditionSchema, type Condition, type ConditionReason, type ConditionType } from './conditions.js';
export { buildCrd, buildOpenApiSchema, renderCrdFiles, CRD_FILE_NAME, CRD_NAME, PRINTER_COLUMNS, type CustomResourceDefinition, type CrdVersion, type GeneratedFile, type PrinterColumn } from './crd.js';
export { toStructural, NonStructuralSchemaError, type JsonSchemaProps } from './structural.js';
export { withCel, type CelRule, type CelTransitionRule, type CelReason, type ValidationRule } from './cel.js';
export { DURATION_PATTERN, QUANTITY_PATTERN, parseDuration, parseQuantity } from './units.js';
