// Durations and quantities as the API spells them, with parsers that give the runtime validator the
// same arithmetic the apiserver's CEL uses (`duration()`, `quantity()`), so a rule can be written
// once in each language and both agree on where the boundary lies.

/**
 * Go-style durations with whole-number components (`72h`, `90m`, `1h30m`, `500ms`): what CEL's
 * `duration()` reads, minus fractions and µs/ns, which no field here needs. At most 6 digits per
 * component keeps every value far inside CEL's ±290-year range.
 */
export const DURATION_PATTERN = '^([0-9]{1,6}(ms|s|m|h))+$';
const DURATION_RE = new RegExp(DURATION_PATTERN);
const DURATION_PART = /([0-9]+)(ms|s|m|h)/g;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, or undefined when `text` does not match DURATION_PATTERN. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION_RE.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(DURATION_PART)) total += Number(m[1]) * DURATION_MS[m[2]!]!;
  return total;
}

/** resource.Quantity's serialisation, the same pattern controller-gen emits for it. */
export const QUANTITY_PATTERN = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
const QUANTITY_RE = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([KMGTPE]i)|([numkMGTPE])|[eE]([+-]?(?:\d+(?:\.\d*)?|\.\d+)))?$/;
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/**
 * The value of a quantity (`10Gi` → 10737418240, `500m` → 0.5) as a double — exact enough to
 * compare sizes and requests against limits — or undefined when it is not a quantity.
 */
export function parseQuantity(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const m = QUANTITY_RE.exec(value);
  if (m === null) return undefined;
  const [, sign, digits, binary, decimal, exponent] = m;
  const scale = binary !== undefined ? BINARY[binary]! : decimal !== undefined ? DECIMAL[decimal]! : exponent !== undefined ? 10 ** Number(exponent) : 1;
  return (sign === '-' ? -1 : 1) * Number(digits) * scale;
}
