// CEL validation rules (`x-kubernetes-validations`) written once beside the schema they guard, each
// paired with the same check in TypeScript: the apiserver evaluates `rule`, the runtime validator
// evaluates `holds`, and both report `message` — so an invalid TracingCluster reads the same whether
// kubectl or the operator rejects it. The shared table in testing/ proves the pairs agree.
import type { z } from 'zod';

/** Reasons the apiserver accepts on a rule (apiextensions.k8s.io/v1 ValidationRule.reason). */
export type CelReason = 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';

export interface CelRule<T> {
  /** CEL over `self` (the value the rule is attached to). */
  readonly rule: string;
  readonly message: string;
  /** Where the error points, relative to `self` (`.secretRef.name`); default: at `self`. */
  readonly fieldPath?: string;
  readonly reason?: CelReason;
  /** The same rule for the runtime validator, over the parsed (defaulted) value. */
  readonly holds: (self: T) => boolean;
}

/** A rule over `self` and `oldSelf`: the apiserver checks it on update only. */
export interface CelTransitionRule<T> extends Omit<CelRule<T>, 'holds'> {
  readonly holds: (self: T, oldSelf: T) => boolean;
}

/** The wire form of one rule inside the CRD. */
export interface ValidationRule {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath?: string;
  readonly reason?: CelReason;
}

function toValidationRule(r: ValidationRule): ValidationRule {
  return { rule: r.rule, message: r.message, ...(r.fieldPath === undefined ? {} : { fieldPath: r.fieldPath }), ...(r.reason === undefined ? {} : { reason: r.reason }) };
}

/** `.secretRef.name` → ['secretRef', 'name'] (the subset of fieldPath syntax used here). */
export function fieldPathSegments(fieldPath: string | undefined): string[] {
  return fieldPath === undefined ? [] : fieldPath.split('.').filter((s) => s !== '');
}

/**
 * Attaches rules to a schema: as `x-kubernetes-validations` metadata (read by the CRD generator) and
 * as a refinement (run by zod). A check that throws is treated as not applicable: it can only throw
 * on a value that already failed the schema, and that failure is reported instead.
 */
export function withCel<S extends z.ZodType>(schema: S, rules: readonly CelRule<z.output<S>>[], transitions: readonly CelTransitionRule<z.output<S>>[] = []): S {
  const refined = schema.superRefine((value, ctx) => {
    for (const r of rules) {
      let ok: boolean;
      try {
        ok = r.holds(value);
      } catch {
        continue;
      }
      if (!ok) ctx.addIssue({ code: 'custom', message: r.message, path: fieldPathSegments(r.fieldPath) });
    }
  });
  const all = [...rules, ...transitions].map(toValidationRule);
  return (all.length === 0 ? refined : refined.meta({ 'x-kubernetes-validations': all })) as S;
}
