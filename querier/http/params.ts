// Pure parsers for query-string parameters of both API families. Each returns a Parsed<T> so the
// route code decides how to answer; messages always name the parameter and say what to send
// instead, because these answers are read by people typing URLs and by Grafana/Jaeger UI users.
import type { TagFilter } from '../../common/model/index.js';

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** Fastify's default query-string parser yields a string, or an array for repeated keys. */
export type QueryValue = string | readonly string[] | undefined;
export type Query = Readonly<Record<string, QueryValue>>;

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail<T = never>(message: string): Parsed<T> {
  return { ok: false, message };
}

/** A parameter that may appear at most once. Empty values count as absent (UIs send `minDuration=`). */
export function single(query: Query, name: string): Parsed<string | undefined> {
  const raw = query[name];
  if (raw === undefined) return ok(undefined);
  if (typeof raw !== 'string') {
    const present = raw.filter((v) => v !== '');
    if (present.length > 1) return fail(`parameter '${name}' was given ${present.length} times; send it once`);
    return ok(present[0]);
  }
  return ok(raw === '' ? undefined : raw);
}

/** All values of a repeatable parameter, empty ones dropped. */
export function multi(query: Query, name: string): string[] {
  const raw = query[name];
  if (raw === undefined) return [];
  return (typeof raw === 'string' ? [raw] : [...raw]).filter((v) => v !== '');
}

// Go's time.ParseDuration units, in nanoseconds. Both micro signs are accepted, as Go does.
const DURATION_UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 MICRO SIGN
  'μs': 1_000n, // U+03BC GREEK SMALL LETTER MU
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const DURATION_PART = /^(\d+)?(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;
const DURATION_HINT = 'send a Go duration such as 100ms, 1.5s, 2m or 1h30m';

/**
 * Parses a Go duration (`time.ParseDuration`): an optional sign, then one or more decimal numbers
 * each with a unit (`300ms`, `1.5h`, `2h45m`); a bare `0` is allowed. Fractions are truncated to
 * whole nanoseconds, as Go does. Returns nanoseconds.
 */
export function parseGoDuration(text: string): Parsed<number> {
  let rest = text;
  let sign = 1n;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1n;
    rest = rest.slice(1);
  }
  if (rest === '0') return ok(0);
  if (rest === '') return fail(`'${text}' is not a duration`);
  let total = 0n;
  while (rest !== '') {
    const m = DURATION_PART.exec(rest);
    const intDigits = m?.[1];
    const fracDigits = m?.[2];
    if (m === null || (intDigits === undefined && (fracDigits === undefined || fracDigits === ''))) {
      const unitless = /^[\d.]+$/.test(rest);
      return fail(unitless ? `'${text}' has a number without a unit (ns, us, ms, s, m, h)` : `'${text}' is not a duration`);
    }
    const unit = DURATION_UNITS[m[3]];
    total += BigInt(intDigits ?? '0') * unit;
    if (fracDigits !== undefined && fracDigits !== '') {
      total += (BigInt(fracDigits) * unit) / 10n ** BigInt(fracDigits.length);
    }
    rest = rest.slice(m[0].length);
  }
  total *= sign;
  if (total > BigInt(Number.MAX_SAFE_INTEGER) || total < -BigInt(Number.MAX_SAFE_INTEGER)) {
    return fail(`'${text}' is too large`);
  }
  return ok(Number(total));
}

/** A non-negative duration parameter (min/maxDuration), in nanoseconds. */
export function durationParam(query: Query, name: string): Parsed<number | undefined> {
  const raw = single(query, name);
  if (!raw.ok) return raw;
  if (raw.value === undefined) return ok(undefined);
  const d = parseGoDuration(raw.value);
  if (!d.ok) return fail(`parameter '${name}': ${d.message}; ${DURATION_HINT}`);
  if (d.value < 0) return fail(`parameter '${name}': '${raw.value}' is negative; ${DURATION_HINT}`);
  return d;
}

/** A pair of optional bounds (minDuration/maxDuration, start/end), each read by `parse`, checked min ≤ max. */
export function boundsParam(
  query: Query,
  minName: string,
  maxName: string,
  parse: (query: Query, name: string) => Parsed<number | undefined>,
): Parsed<{ readonly min: number | undefined; readonly max: number | undefined }> {
  const min = parse(query, minName);
  if (!min.ok) return min;
  const max = parse(query, maxName);
  if (!max.ok) return max;
  if (min.value !== undefined && max.value !== undefined && min.value > max.value) {
    return fail(`parameter '${minName}' is greater than '${maxName}'; send ${minName} ≤ ${maxName}`);
  }
  return ok({ min: min.value, max: max.value });
}

/** A non-negative decimal integer parameter, returned as bigint so callers can scale without loss. */
export function integerParam(query: Query, name: string, what: string): Parsed<bigint | undefined> {
  const raw = single(query, name);
  if (!raw.ok) return raw;
  if (raw.value === undefined) return ok(undefined);
  if (!/^\d{1,20}$/.test(raw.value)) return fail(`parameter '${name}': '${raw.value}' is not ${what}; send a non-negative whole number`);
  return ok(BigInt(raw.value));
}

/** Unix seconds (Tempo's start/end) → unix nanoseconds. */
export function unixSecondsParam(query: Query, name: string): Parsed<number | undefined> {
  const v = integerParam(query, name, 'unix epoch seconds');
  if (!v.ok || v.value === undefined) return v as Parsed<undefined>;
  return scaled(name, v.value * 1_000_000_000n, 'unix epoch seconds');
}

/** Unix microseconds (Jaeger's start/end) → unix nanoseconds. */
export function unixMicrosParam(query: Query, name: string): Parsed<number | undefined> {
  const v = integerParam(query, name, 'unix epoch microseconds');
  if (!v.ok || v.value === undefined) return v as Parsed<undefined>;
  return scaled(name, v.value * 1_000n, 'unix epoch microseconds');
}

/** Unix milliseconds (Jaeger's endTs) → unix nanoseconds. */
export function unixMillisParam(query: Query, name: string): Parsed<number | undefined> {
  const v = integerParam(query, name, 'unix epoch milliseconds');
  if (!v.ok || v.value === undefined) return v as Parsed<undefined>;
  return scaled(name, v.value * 1_000_000n, 'unix epoch milliseconds');
}

function scaled(name: string, ns: bigint, what: string): Parsed<number> {
  // Far past any real timestamp (year ~2262 in ns); also keeps the number meaningful.
  if (ns > 9_223_372_036_854_775_807n) return fail(`parameter '${name}' is too large; send ${what}`);
  return ok(Number(ns));
}

/**
 * The `limit` parameter: a positive integer, defaulted when absent (or 0, which Jaeger clients send
 * to mean "default"), capped silently at `max` as Tempo and Jaeger do.
 */
export function limitParam(query: Query, name: string, defaults: { defaultLimit: number; maxLimit: number }): Parsed<number> {
  const raw = single(query, name);
  if (!raw.ok) return raw;
  if (raw.value === undefined) return ok(Math.min(defaults.defaultLimit, defaults.maxLimit));
  if (!/^\d{1,9}$/.test(raw.value)) return fail(`parameter '${name}': '${raw.value}' is not a positive whole number; send e.g. ${name}=20`);
  const n = Number(raw.value);
  if (n === 0) return ok(Math.min(defaults.defaultLimit, defaults.maxLimit));
  return ok(Math.min(n, defaults.maxLimit));
}

const LOGFMT_HINT = `send space-separated key=value pairs, quoting values with spaces: service.name=api name="GET /users"`;

/**
 * Parses Tempo's `tags` parameter: logfmt `key=value` pairs separated by spaces; values may be
 * double-quoted (with `\"`, `\\`, `\n`, `\t`, `\r`, `\uXXXX` escapes) to hold spaces. Keys are bare
 * (no spaces, `=` or `"`). Unquoted values run to the next space and may contain `=`
 * (`http.url=/x?a=b`); empty values are rejected because they are almost always a typo.
 */
export function parseLogfmtTags(text: string, param = 'tags'): Parsed<TagFilter[]> {
  const out: TagFilter[] = [];
  let i = 0;
  const n = text.length;
  const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (true) {
    while (i < n && isSpace(text[i])) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && !isSpace(text[i]) && text[i] !== '=' && text[i] !== '"') i++;
    const key = text.slice(keyStart, i);
    if (key === '') {
      return fail(`parameter '${param}': expected a key at position ${i + 1} of '${text}'; ${LOGFMT_HINT}`);
    }
    if (i >= n || text[i] !== '=') {
      if (text[i] === '"') return fail(`parameter '${param}': unexpected '"' in key '${key}'; ${LOGFMT_HINT}`);
      return fail(`parameter '${param}': tag '${key}' has no value; ${LOGFMT_HINT}`);
    }
    i++; // '='
    let value = '';
    if (text[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i];
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === '\\') {
          const esc = text[i + 1];
          const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };
          if (esc !== undefined && esc in simple) {
            value += simple[esc];
            i += 2;
            continue;
          }
          if (esc === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            value += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
            i += 6;
            continue;
          }
          return fail(`parameter '${param}': bad escape '\\${esc ?? ''}' in the value of '${key}'; escape only \\" and \\\\ inside quotes`);
        }
        value += c;
        i++;
      }
      if (!closed) return fail(`parameter '${param}': the value of '${key}' has no closing '"'; ${LOGFMT_HINT}`);
      if (i < n && !isSpace(text[i])) {
        return fail(`parameter '${param}': expected a space after the quoted value of '${key}'; ${LOGFMT_HINT}`);
      }
    } else {
      const valueStart = i;
      while (i < n && !isSpace(text[i])) {
        if (text[i] === '"') return fail(`parameter '${param}': unexpected '"' inside the value of '${key}'; quote the whole value: ${key}="..."`);
        i++;
      }
      value = text.slice(valueStart, i);
    }
    if (value === '') return fail(`parameter '${param}': tag '${key}' has an empty value; ${LOGFMT_HINT}`);
    out.push({ key, value });
  }
  return ok(out);
}

const JAEGER_TAGS_HINT = `send a JSON object of strings, e.g. tags={"http.status_code":"500","error":"true"}`;

/**
 * Parses Jaeger's `tags` parameter (a JSON object `{"key":"value"}`, as the Jaeger UI sends) and
 * the older repeated `tag=key:value` form. Numbers and booleans are accepted and rendered as text,
 * since the backend compares values as strings.
 */
export function parseJaegerTags(query: Query): Parsed<TagFilter[]> {
  const out: TagFilter[] = [];
  for (const raw of multi(query, 'tags')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return fail(`parameter 'tags': '${raw}' is not valid JSON; ${JAEGER_TAGS_HINT}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return fail(`parameter 'tags': expected a JSON object; ${JAEGER_TAGS_HINT}`);
    }
    for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof value === 'string') out.push({ key, value });
      else if (typeof value === 'number' || typeof value === 'boolean') out.push({ key, value: String(value) });
      else return fail(`parameter 'tags': the value of '${key}' must be a string; ${JAEGER_TAGS_HINT}`);
    }
  }
  for (const raw of multi(query, 'tag')) {
    const colon = raw.indexOf(':');
    if (colon <= 0) return fail(`parameter 'tag': '${raw}' is not key:value; send tag=http.status_code:500`);
    out.push({ key: raw.slice(0, colon), value: raw.slice(colon + 1) });
  }
  return ok(out);
}
