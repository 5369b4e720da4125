// Label selectors in the API's string form (`a=b,c!=d,e,!f,g in (h,i),j notin (k)`), parsed once
// and matched in memory: the twin filters list/watch with it and the informer could too. The
// apiserver's grammar is larger (it validates keys and values); this accepts what we send.

export type LabelRequirement =
  | { readonly op: 'eq'; readonly key: string; readonly value: string }
  | { readonly op: 'neq'; readonly key: string; readonly value: string }
  | { readonly op: 'exists'; readonly key: string }
  | { readonly op: 'notExists'; readonly key: string }
  | { readonly op: 'in'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'notIn'; readonly key: string; readonly values: readonly string[] };

/** Splits on commas outside parentheses (the values of `in (a,b)` contain commas). */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

/** Parses a selector; throws on a term it does not understand. An empty selector matches everything. */
export function parseLabelSelector(selector: string | undefined): LabelRequirement[] {
  if (selector === undefined) return [];
  return splitTerms(selector).map((term): LabelRequirement => {
    const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set !== null) {
      const values = set[3]!.split(',').map((v) => v.trim()).filter((v) => v !== '');
      return set[2] === 'in' ? { op: 'in', key: set[1]!, values } : { op: 'notIn', key: set[1]!, values };
    }
    const neq = /^([^=!\s]+)\s*!=\s*(\S*)$/.exec(term);
    if (neq !== null) return { op: 'neq', key: neq[1]!, value: neq[2]! };
    const eq = /^([^=!\s]+)\s*==?\s*(\S*)$/.exec(term);
    if (eq !== null) return { op: 'eq', key: eq[1]!, value: eq[2]! };
    const notExists = /^!\s*([^=!\s]+)$/.exec(term);
    if (notExists !== null) return { op: 'notExists', key: notExists[1]! };
    if (/^[^=!\s()]+$/.test(term)) return { op: 'exists', key: term };
    throw new Error(`unsupported label selector term '${term}'`);
  });
}

export function matchesLabelSelector(requirements: readonly LabelRequirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case 'eq':
        return has && l[r.key] === r.value;
      case 'neq':
        return !has || l[r.key] !== r.value;
      case 'exists':
        return has;
      case 'notExists':
        return !has;
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notIn':
        return !has || !r.values.includes(l[r.key]!);
    }
  });
}
