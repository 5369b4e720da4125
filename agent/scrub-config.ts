// Attribute-scrubbing rules: the configurable ones (zod schema) and the built-in ones for common
// secrets, compiled into one ordered list for the scrubber.
//
// A rule has a key pattern, a value pattern, or both:
// - key only ("whole-value" rule): the value of every attribute whose key matches is redacted,
//   hashed, or the attribute dropped;
// - value (optionally scoped by key): every match inside string values (at any depth of arrays and
//   kvlists) is replaced by "[REDACTED]" or by its hash, or the attribute holding it is dropped.
//   Anchor the pattern (^…$) to act on whole values only.
// For one attribute, a matching whole-value rule wins (the first one, configured rules before
// built-ins); otherwise every applicable value rule applies, in the same order. Keys inside kvlist
// values are keys too. Patterns are trusted configuration (no ReDoS guard beyond that).
import { z } from 'zod';

export type ScrubAction = 'redact' | 'hash' | 'drop';

const pattern = z.string().refine(
  (source) => {
    try {
      new RegExp(source);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid JavaScript regular expression' },
);

export const ScrubRuleSchema = z
  .object({
    /** Metric label value: lower-case letters, digits, '-' and '_'. */
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'use 1–64 of a-z, 0-9, "-" and "_", starting with a letter or digit'),
    key: pattern.optional(),
    value: pattern.optional(),
    ignoreCase: z.boolean().default(false),
    action: z.enum(['redact', 'hash', 'drop']),
  })
  .strict()
  .refine((r) => r.key !== undefined || r.value !== undefined, { message: 'a rule needs a key or a value pattern (or both)' });

/** A compiled rule. Built-ins may validate candidate matches and may ignore non-string values. */
export interface ScrubRule {
  readonly name: string;
  readonly action: ScrubAction;
  readonly key?: RegExp;
  /** Global regex over string values. */
  readonly value?: RegExp;
  /** Extra check on a value match (e.g. Luhn); a match failing it is left alone. */
  readonly accept?: (match: string) => boolean;
  /** Whole-value rules only: leave int, double and bool values alone (e.g. `llm.usage.tokens`). */
  readonly stringsOnly: boolean;
}

/** Luhn checksum over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * A payment-card number: 13–19 digits (separators removed) passing Luhn, with an issuer prefix of a
 * major network (3 Amex/Diners/JCB, 4 Visa, 5 Mastercard/Maestro, 6 Discover/UnionPay/Maestro,
 * 2221–2720 Mastercard). The prefix check keeps Luhn's 1-in-10 false positives off common digit
 * runs such as nanosecond timestamps (which start with 1).
 */
export function isCardNumber(candidate: string): boolean {
  const digits = candidate.replace(/[ -]/g, '');
  if (digits.length < 13 || digits.length > 19) return false;
  const first = digits.charCodeAt(0) - 48;
  const prefix4 = Number(digits.slice(0, 4));
  if (!(first >= 3 && first <= 6) && !(prefix4 >= 2221 && prefix4 <= 2720)) return false;
  return luhnValid(digits);
}

/** "Basic <base64 of user:password>": the credential must decode to text containing ':'. */
function isBasicCredential(match: string): boolean {
  const token = match.replace(/^basic\s+/i, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token) || token.length % 4 === 1) return false;
  const decoded = Buffer.from(token, 'base64').toString('latin1');
  return decoded.includes(':') && /^[\x20-\x7e]+$/.test(decoded);
}

/** Built-in rules, in evaluation order (after configured rules). All redact. */
export const BUILTIN_SCRUB_RULES: readonly ScrubRule[] = [
  {
    name: 'http-credential-header',
    action: 'redact',
    key: /^http\.(?:request|response)\.header\.(?:authorization|proxy-authorization|cookie|set-cookie)$/i,
    stringsOnly: true,
  },
  { name: 'secret-key', action: 'redact', key: /password|passwd|secret|token|api[-_.]?key|private[-_.]?key/i, stringsOnly: true },
  { name: 'bearer-token', action: 'redact', value: /\bbearer\s+[A-Za-z0-9\-._~+/]{16,}=*/gi, stringsOnly: false },
  { name: 'basic-credentials', action: 'redact', value: /\bbasic\s+[A-Za-z0-9+/]{4,}={0,2}/gi, accept: isBasicCredential, stringsOnly: false },
  { name: 'jwt', action: 'redact', value: /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, stringsOnly: false },
  { name: 'private-key-pem', action: 'redact', value: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, stringsOnly: false },
  { name: 'aws-access-key-id', action: 'redact', value: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, stringsOnly: false },
  { name: 'url-password', action: 'redact', value: /(?<=\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]+(?=@)/gi, stringsOnly: false },
  { name: 'credit-card', action: 'redact', value: /(?<![\d.])\d(?:[ -]?\d){12,18}(?!\.?\d)/g, accept: isCardNumber, stringsOnly: false },
];

const BUILTIN_NAMES = new Set(BUILTIN_SCRUB_RULES.map((r) => r.name));

export const ScrubConfigSchema = z
  .object({
    /** Built-in rules to turn off, by name; "*" turns them all off. */
    disableBuiltins: z.array(z.string()).default([]),
    rules: z.array(ScrubRuleSchema).default([]),
    /**
     * Secret key of the `hash` action (HMAC-SHA256). Agents sharing it hash equal values equally,
     * so values can be correlated across pods but not read, nor guessed without the key.
     */
    hashKey: z.string().min(16).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const name of c.disableBuiltins) {
      if (name !== '*' && !BUILTIN_NAMES.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['disableBuiltins'], message: `unknown built-in rule ${JSON.stringify(name)}; known: ${[...BUILTIN_NAMES].join(', ')}` });
      }
    }
    const seen = new Set<string>();
    c.rules.forEach((r, i) => {
      if (BUILTIN_NAMES.has(r.name) || seen.has(r.name)) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `rule name ${JSON.stringify(r.name)} is already used` });
      }
      seen.add(r.name);
      if (r.action === 'hash' && c.hashKey === undefined) {
        ctx.addIssue({ code: 'custom', path: ['hashKey'], message: `rule ${JSON.stringify(r.name)} hashes values: set hashKey (16+ characters, kept secret)` });
      }
    });
  });

export type ScrubConfig = z.output<typeof ScrubConfigSchema>;
export type ScrubConfigInput = z.input<typeof ScrubConfigSchema>;

/** Configured rules (in order), then the enabled built-ins. */
export function buildScrubRules(config: ScrubConfig): ScrubRule[] {
  const rules: ScrubRule[] = config.rules.map((r) => {
    const flags = r.ignoreCase ? 'i' : '';
    return {
      name: r.name,
      action: r.action,
      ...(r.key === undefined ? {} : { key: new RegExp(r.key, flags) }),
      ...(r.value === undefined ? {} : { value: new RegExp(r.value, 'g' + flags) }),
      stringsOnly: false,
    };
  });
  if (!config.disableBuiltins.includes('*')) {
    for (const b of BUILTIN_SCRUB_RULES) {
      if (config.disableBuiltins.includes(b.name)) continue;
      // Global regexes carry lastIndex: each scrubber gets its own copies.
      rules.push(b.value === undefined ? b : { ...b, value: new RegExp(b.value.source, b.value.flags) });
    }
  }
  return rules;
}
