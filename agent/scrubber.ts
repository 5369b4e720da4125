// Attribute scrubbing before spans leave the pod (rules: scrub-config.ts). Applies to span, event,
// link, resource and instrumentation-scope attributes, at any depth of array and kvlist values.
//
// Two passes keep clean data cheap: a read-only walk over the encoded bytes (keys are decided once
// per distinct key and cached; string values are decoded only when a value rule could apply) finds
// what needs changing; only those spans, resources and scopes are decoded, rewritten and
// re-encoded, and every other span keeps its original bytes. The first pass may over-approximate;
// a rewrite that changes nothing keeps the original bytes too.
//
// Actions: `redact` replaces a value (whole-value rules) or each match (value rules) by
// "[REDACTED]"; `hash` by "hash:" + the first 32 hex digits of HMAC-SHA256(hashKey, value), where
// non-string values are hashed in their text form (int in decimal, bytes raw); `drop` removes the
// attribute (the nearest enclosing key/value) and counts it in the holder's droppedAttributesCount.
// Redacted and hashed values become strings. Span names, status messages and trace state are not
// scrubbed. Counts are per rule and never include values.
//
// A span, resource or scope whose bytes cannot be parsed cannot be shown clean, so it is dropped
// (counted as malformed) rather than forwarded.
import { createHmac } from 'node:crypto';
import type { AnyValue, KeyValue, SpanGroup } from '../common/model/index.js';
import {
  AnyValueType,
  MAX_NESTING_DEPTH,
  decodeResource,
  decodeScope,
  decodeSpan,
  encodeResource,
  encodeScope,
  encodeSpan,
  forEachAttribute,
  utf8At,
  visitKeyValue,
  type AttributeVisitor,
} from '../common/otlp/index.js';
import { SkeinError } from '../common/errors/index.js';
import { BUILTIN_SCRUB_RULES, buildScrubRules, type ScrubAction, type ScrubConfig, type ScrubRule } from './scrub-config.js';
import { WireTypes, forEachField, readAnyValue } from './wire-walk.js';

export const REDACTED = '[REDACTED]';

export interface ScrubCount {
  readonly rule: string;
  readonly action: ScrubAction;
  /** Values replaced plus attributes dropped by this rule. */
  readonly values: number;
}

export interface ScrubResult {
  /** Input groups with scrubbed bytes; groups nothing was done to are passed through as they are. */
  readonly groups: SpanGroup[];
  /** Spans re-encoded because a rule changed them. */
  readonly changedSpans: number;
  /** Spans dropped because their span, resource or scope bytes could not be parsed. */
  readonly malformedSpans: number;
  /** Rules that changed something in this call. */
  readonly counts: readonly ScrubCount[];
}

export interface Scrubber {
  scrub(groups: readonly SpanGroup[]): ScrubResult;
  /** The rules in evaluation order (for metrics: name → action). */
  readonly rules: readonly { readonly name: string; readonly action: ScrubAction }[];
}

interface KeyPlan {
  /** The first whole-value rule whose key pattern matches. */
  readonly whole: ScrubRule | undefined;
  /** Value rules applicable under this key (unscoped, or scoped to a matching key), in order. */
  readonly values: readonly ScrubRule[];
  /** Pre-check bit of each of `values` (precheckBit); 0 for a rule without one. */
  readonly bits: readonly number[];
  /** The pre-checks worth running: all of `bits`, or 0 when some rule has none (always decode). */
  readonly wanted: number;
}

/** A key plan cached by the key's bytes (chained on hash collisions). */
interface KeyEntry {
  readonly key: Uint8Array;
  readonly plan: KeyPlan;
  next: KeyEntry | undefined;
  /** The entry looked up right after this one last time: spans of one app repeat their keys in order. */
  follow: KeyEntry | undefined;
}

/** FNV-1a over buf[off, off + len), as a small integer (collisions only chain table entries). */
function hashBytes(buf: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = off, end = off + len; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h & 0x3fffffff;
}

function sameBytes(a: Uint8Array, buf: Uint8Array, off: number, len: number): boolean {
  if (a.length !== len) return false;
  for (let i = 0; i < len; i++) if (a[i] !== buf[off + i]) return false;
  return true;
}

const REDACTED_BYTES = new TextEncoder().encode('[REDACTED]');
const NO_BYTES = new Uint8Array(0);

const HASH_HEX_DIGITS = 32;
const MAX_CACHED_KEYS = 10_000;
const KEY_SLOTS = 16_384; // a power of two above MAX_CACHED_KEYS
const MAX_CHAIN = 8;
const MAX_VALUE_ROUNDS = 4;
const encoder = new TextEncoder();

function tooDeep(): SkeinError {
  return new SkeinError('BAD_PAYLOAD', `attribute values nested deeper than ${MAX_NESTING_DEPTH}`);
}

// ---- byte-level pre-checks for the built-in value rules ------------------------------------------
//
// Each is a necessary condition for its rule's regex to match anywhere in the UTF-8 decoding of the
// bytes, so a value none of its rules may match is never decoded. Sound because every pre-check
// looks only for ASCII (the built-in patterns need ASCII text to match: `\d` and non-unicode `i`
// case folding never match non-ASCII characters), and ASCII bytes decode to exactly those
// characters and nothing else decodes to ASCII (invalid sequences become U+FFFD). The checks are
// tied to the exact regex (source and flags), never to a rule's name.

const MAY_BEARER = 1 << 0; // /\bbearer\s+…/i needs "bearer" (any case)
const MAY_BASIC = 1 << 1; // /\bbasic\s+…/i needs "basic" (any case)
const MAY_JWT = 1 << 2; // /\beyJ…\.eyJ…/ needs "eyJ"
const MAY_PEM = 1 << 3; // /-----BEGIN …/ needs "-----BEGIN "
const MAY_AWS = 1 << 4; // /\b(?:AKIA|ASIA)…/ needs "AKIA" or "ASIA"
const MAY_URL_PASSWORD = 1 << 5; // /(?<=…:\/\/…:)…(?=@)/i needs "://" and a later "@"
const MAY_CARD = 1 << 6; // /\d(?:[ -]?\d){12,18}/ needs 13 ASCII digits joined by at most one ' ' or '-'
const MAY_ANY = (1 << 7) - 1;

/** Pre-check bit of each built-in value regex, by `source/flags`. */
const PRECHECK_BITS: ReadonlyMap<string, number> = (() => {
  const bits: Record<string, number> = {
    'bearer-token': MAY_BEARER,
    'basic-credentials': MAY_BASIC,
    jwt: MAY_JWT,
    'private-key-pem': MAY_PEM,
    'aws-access-key-id': MAY_AWS,
    'url-password': MAY_URL_PASSWORD,
    'credit-card': MAY_CARD,
  };
  const out = new Map<string, number>();
  for (const r of BUILTIN_SCRUB_RULES) {
    if (r.value !== undefined && bits[r.name] !== undefined) out.set(r.value.source + '/' + r.value.flags, bits[r.name]!);
  }
  return out;
})();

/** The pre-check bit of `re`, or 0 when it has none (configured rules: always decode and test). */
export function precheckBit(re: RegExp): number {
  return PRECHECK_BITS.get(re.source + '/' + re.flags) ?? 0;
}

const lower = (c: number): number => c | 0x20; // ASCII letters only; callers compare against letters

/** Bytes mayMatch must look at: 1 digits, 2 ' ' and '-', 3 a byte where a pattern's anchor is checked. */
const BYTE_CLASS = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  t[0x20] = 2;
  t[0x2d] = 2;
  // "eyJ" is found at its 'J' (rare in text) rather than its 'e' (the commonest letter).
  for (const c of 'bBJA:@') t[c.charCodeAt(0)] = 3;
  return t;
})();

/**
 * The pre-check bits whose patterns can match somewhere in `len` bytes: each needs at least as many
 * ASCII characters, hence bytes (url-password "a://:x@" 7, basic 10, card 13, jwt 16, AWS 20,
 * bearer 23, PEM 27). Most attribute values are shorter than most of these.
 */
function possibleByLength(len: number): number {
  if (len < 7) return 0;
  let bits = MAY_URL_PASSWORD;
  if (len >= 10) bits |= MAY_BASIC;
  if (len >= 13) bits |= MAY_CARD;
  if (len >= 16) bits |= MAY_JWT;
  if (len >= 20) bits |= MAY_AWS;
  if (len >= 23) bits |= MAY_BEARER;
  if (len >= 27) bits |= MAY_PEM;
  return bits;
}

/**
 * Bits of the built-in value rules that may match the UTF-8 text in buf[off, off + len), limited to
 * `wanted`; 0 means none can. Over-approximates, never under-approximates.
 */
export function mayMatch(buf: Uint8Array, off: number, len: number, wanted: number): number {
  wanted &= possibleByLength(len);
  if (wanted === 0) return 0;
  let found = 0;
  const end = off + len;
  let digits = 0; // ASCII digits in the current run (digits joined by at most one ' ' or '-')
  let sep = false; // the previous byte was a ' ' or '-' right after a digit of the run
  let sawScheme = false; // "://" seen (url-password then needs a later '@')
  for (let i = off; i < end; i++) {
    const c = buf[i]!;
    const k = BYTE_CLASS[c]!;
    if (k === 0) {
      digits = 0;
      sep = false;
      continue;
    }
    if (k === 1) {
      // Any byte other than a digit or one separator after a digit has reset the run.
      if (++digits >= 13) found |= MAY_CARD;
      sep = false;
      continue;
    }
    if (k === 2 && digits > 0 && !sep) {
      sep = true;
    } else {
      digits = 0;
      sep = false;
    }
    if (c === 0x20) continue;
    const l = lower(c);
    if (l === 0x62 /* b */ && i + 4 < end) {
      if (i + 5 < end && lower(buf[i + 1]!) === 0x65 && lower(buf[i + 2]!) === 0x61 && lower(buf[i + 3]!) === 0x72 && lower(buf[i + 4]!) === 0x65 && lower(buf[i + 5]!) === 0x72) {
        found |= MAY_BEARER;
      } else if (lower(buf[i + 1]!) === 0x61 && lower(buf[i + 2]!) === 0x73 && lower(buf[i + 3]!) === 0x69 && lower(buf[i + 4]!) === 0x63) {
        found |= MAY_BASIC;
      }
    } else if (c === 0x4a /* J of "eyJ" */ && i - 2 >= off && buf[i - 2] === 0x65 && buf[i - 1] === 0x79) {
      found |= MAY_JWT;
    } else if (c === 0x2d /* - */ && i + 10 < end && buf[i + 1] === 0x2d && buf[i + 2] === 0x2d && buf[i + 3] === 0x2d && buf[i + 4] === 0x2d && buf[i + 5] === 0x42 && buf[i + 6] === 0x45 && buf[i + 7] === 0x47 && buf[i + 8] === 0x49 && buf[i + 9] === 0x4e && buf[i + 10] === 0x20) {
      found |= MAY_PEM;
    } else if (c === 0x41 /* A */ && i + 3 < end && buf[i + 2] === 0x49 && buf[i + 3] === 0x41 && (buf[i + 1] === 0x4b || buf[i + 1] === 0x53)) {
      found |= MAY_AWS;
    } else if (c === 0x3a /* : */ && i + 2 < end && buf[i + 1] === 0x2f && buf[i + 2] === 0x2f) {
      sawScheme = true;
    } else if (c === 0x40 /* @ */ && sawScheme) {
      found |= MAY_URL_PASSWORD;
    }
    if ((found & wanted) === wanted) break;
  }
  return found & wanted;
}

export interface ScrubberOptions {
  /**
   * Byte-level shortcuts of the first pass (key plans looked up by key bytes, value pre-checks);
   * default true. Off, every key and string value is decoded: the reference the tests compare with.
   */
  readonly byteShortcuts?: boolean;
}

export function createScrubber(config: ScrubConfig, options: ScrubberOptions = {}): Scrubber {
  const shortcuts = options.byteShortcuts ?? true;
  const rules = buildScrubRules(config);
  const hashKey = config.hashKey;
  if (hashKey === undefined && rules.some((r) => r.action === 'hash')) {
    throw new SkeinError('INVALID_ARGUMENT', 'a scrub rule hashes values but no hashKey is configured');
  }
  const wholeRules = rules.filter((r) => r.value === undefined);
  const valueRules = rules.filter((r) => r.value !== undefined);
  const plans = new Map<string, KeyPlan>();
  const noPlan: KeyPlan = { whole: undefined, values: [], bits: [], wanted: 0 };

  const planFor = (key: string): KeyPlan => {
    let plan = plans.get(key);
    if (plan === undefined) {
      const whole = wholeRules.find((r) => r.key!.test(key));
      const values = valueRules.filter((r) => r.key === undefined || r.key.test(key));
      const bits = values.map((r) => (shortcuts ? precheckBit(r.value!) : 0));
      const wanted = bits.includes(0) ? 0 : bits.reduce((a, b) => a | b, 0);
      plan = whole === undefined && values.length === 0 ? noPlan : { whole, values, bits, wanted };
      // Keys are few in practice; the bound only protects against unbounded key cardinality.
      if (plans.size >= MAX_CACHED_KEYS) plans.clear();
      plans.set(key, plan);
    }
    return plan;
  };

  // The first pass looks keys up by their bytes, so a known key costs no string.
  // A chained hash table (slots indexed by the hash's low bits: no Map, no heap numbers).
  const plansByBytes = new Array<KeyEntry | undefined>(KEY_SLOTS).fill(undefined);
  let plansByBytesSize = 0;
  // The key before this one: its `follow` is compared first, which spares hashing the key when an
  // app's spans repeat their attributes in the same order (they nearly always do).
  let previous: KeyEntry | undefined;
  const entryAt = (buf: Uint8Array, off: number, len: number): KeyEntry => {
    const slot = hashBytes(buf, off, len) & (KEY_SLOTS - 1);
    let chain = 0;
    for (let e = plansByBytes[slot]; e !== undefined; e = e.next, chain++) if (sameBytes(e.key, buf, off, len)) return e;
    const plan = planFor(utf8At(buf, off, len));
    if (plansByBytesSize >= MAX_CACHED_KEYS) {
      plansByBytes.fill(undefined);
      plansByBytesSize = 0;
      previous = undefined; // let the old entries go
    }
    // Chains stay short whatever the keys: a long one is started afresh.
    const entry: KeyEntry = { key: buf.slice(off, off + len), plan, next: chain >= MAX_CHAIN ? undefined : plansByBytes[slot], follow: undefined };
    plansByBytes[slot] = entry;
    plansByBytesSize++;
    return entry;
  };
  const planAt = (buf: Uint8Array, off: number, len: number): KeyPlan => {
    if (!shortcuts) return planFor(utf8At(buf, off, len));
    const predicted = previous?.follow;
    let entry: KeyEntry;
    if (predicted !== undefined && sameBytes(predicted.key, buf, off, len)) entry = predicted;
    else {
      entry = entryAt(buf, off, len);
      if (previous !== undefined) previous.follow = entry;
    }
    previous = entry;
    return entry.plan;
  };

  /**
   * Whether `rule` acts on this match: never on empty matches (a pattern like `a*` would otherwise
   * insert text everywhere) nor on a previous redaction (scrubbing twice changes nothing more).
   */
  const acts = (rule: ScrubRule, match: string): boolean => match.length > 0 && match !== REDACTED && (rule.accept === undefined || rule.accept(match));

  /** True when `s` contains a match `rule` acts on. */
  const matches = (rule: ScrubRule, s: string): boolean => {
    const re = rule.value!;
    re.lastIndex = 0;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      if (acts(rule, m[0])) {
        re.lastIndex = 0;
        return true;
      }
      if (m[0].length === 0) re.lastIndex++;
    }
    return false;
  };

  const hashOf = (data: string | Uint8Array): string => {
    const mac = createHmac('sha256', hashKey!);
    mac.update(typeof data === 'string' ? encoder.encode(data) : data);
    return 'hash:' + mac.digest('hex').slice(0, HASH_HEX_DIGITS);
  };

  // ---- pass 1: does anything in these bytes need scrubbing? ------------------------------------

  const valueNeedsScrub = (buf: Uint8Array, plan: KeyPlan, type: AnyValueType, offset: number, length: number, depth: number): boolean => {
    switch (type) {
      case AnyValueType.STRING: {
        const values = plan.values;
        if (values.length === 0) return false;
        // Decode only when some rule may match: one without a pre-check, or one whose pre-check passes.
        const may = plan.wanted === 0 ? MAY_ANY : mayMatch(buf, offset, length, plan.wanted);
        if (may === 0) return false;
        const s = utf8At(buf, offset, length);
        for (let i = 0; i < values.length; i++) {
          const bit = plan.bits[i]!;
          if ((bit === 0 || (bit & may) !== 0) && matches(values[i]!, s)) return true;
        }
        return false;
      }
      case AnyValueType.ARRAY: {
        if (depth >= MAX_NESTING_DEPTH) throw tooDeep();
        let found = false;
        forEachField(buf, offset, offset + length, (field, wire, start, end) => {
          if (field !== 1 || wire !== WireTypes.LEN) return true;
          const item = readAnyValue(buf, start, end);
          found = valueNeedsScrub(buf, plan, item.type, item.offset, item.length, depth + 1);
          return !found;
        });
        return found;
      }
      case AnyValueType.KVLIST: {
        if (depth >= MAX_NESTING_DEPTH) throw tooDeep();
        return attributesNeedScrub(buf, offset, offset + length, 1, depth + 1);
      }
      default:
        return false;
    }
  };

  // The visitors below are created once: their state lives in these variables (saved around the
  // nested walks of kvlist values) so the walk over every span allocates nothing.
  let visitDepth = 0;
  let visitFound = false;
  const visitAttribute: AttributeVisitor = (b, keyOffset, keyLength, type, valueOffset, valueLength) => {
    const plan = planAt(b, keyOffset, keyLength);
    const whole = plan.whole;
    let found: boolean;
    if (whole !== undefined) {
      // Over-approximates for stringsOnly rules over arrays/kvlists of numbers: pass 2 decides.
      const text = type === AnyValueType.STRING || type === AnyValueType.BYTES || type === AnyValueType.ARRAY || type === AnyValueType.KVLIST;
      // Only the bytes of "[REDACTED]" decode to it (invalid UTF-8 decodes to U+FFFD, never ASCII).
      const redacted =
        whole.action === 'redact' &&
        type === AnyValueType.STRING &&
        (shortcuts ? sameBytes(REDACTED_BYTES, b, valueOffset, valueLength) : utf8At(b, valueOffset, valueLength) === REDACTED);
      found = !redacted && (whole.stringsOnly ? text : whole.action === 'drop' || type !== AnyValueType.EMPTY);
    } else {
      found = valueNeedsScrub(b, plan, type, valueOffset, valueLength, visitDepth);
    }
    visitFound = found;
    return !found;
  };

  const attributesNeedScrub = (buf: Uint8Array, start: number, end: number, fieldNumber: number, depth: number): boolean => {
    const savedDepth = visitDepth;
    visitDepth = depth;
    visitFound = false;
    try {
      forEachAttribute(buf, start, end, fieldNumber, visitAttribute);
      return visitFound;
    } finally {
      visitDepth = savedDepth;
    }
  };

  // One walk over the span's fields reaches its attributes (9), events (11) and links (13).
  let fieldSpan: Uint8Array = NO_BYTES;
  let fieldFound = false;
  const visitSpanField = (field: number, wire: number, start: number, end: number): boolean => {
    if (field === 9) {
      // As forEachAttribute: an attributes field of another wire type is malformed.
      if (wire !== WireTypes.LEN) throw new SkeinError('BAD_PAYLOAD', `field 9 has wire type ${wire}, expected 2, at byte ${start}`);
      visitDepth = 0;
      visitFound = false;
      visitKeyValue(fieldSpan, start, end, visitAttribute);
      fieldFound = visitFound;
    } else if (wire === WireTypes.LEN) {
      // Event attributes are Event field 3, link attributes Link field 4.
      fieldFound = (field === 11 && attributesNeedScrub(fieldSpan, start, end, 3, 0)) || (field === 13 && attributesNeedScrub(fieldSpan, start, end, 4, 0));
    }
    return !fieldFound;
  };

  const spanNeedsScrub = (span: Uint8Array): boolean => {
    fieldSpan = span;
    fieldFound = false;
    try {
      forEachField(span, 0, span.length, visitSpanField);
      return fieldFound;
    } finally {
      fieldSpan = NO_BYTES; // hold no request buffer between calls
    }
  };

  // ---- pass 2: rewrite decoded attributes -------------------------------------------------------

  let counts = new Map<ScrubRule, number>();
  const count = (rule: ScrubRule): void => {
    counts.set(rule, (counts.get(rule) ?? 0) + 1);
  };

  const replacement = (rule: ScrubRule, data: string | Uint8Array): AnyValue => {
    count(rule);
    return { kind: 'string', value: rule.action === 'hash' ? hashOf(data) : REDACTED };
  };

  /** Whole-value redaction of a string; already-redacted values stay as they are (idempotence). */
  const redactString = (v: AnyValue & { kind: 'string' }, rule: ScrubRule): AnyValue =>
    rule.action === 'redact' && v.value === REDACTED ? v : replacement(rule, v.value);

  const hasText = (v: AnyValue): boolean => {
    switch (v.kind) {
      case 'string':
      case 'bytes':
        return true;
      case 'array':
        return v.value.some(hasText);
      case 'kvlist':
        return v.value.some((kv) => hasText(kv.value));
      default:
        return false;
    }
  };

  /** A whole-value rule (redact or hash) applied to every leaf of `v`; `v` itself when unchanged. */
  const rewriteWhole = (v: AnyValue, rule: ScrubRule): AnyValue => {
    switch (v.kind) {
      case 'string':
        return redactString(v, rule);
      case 'bytes':
        return replacement(rule, v.value);
      case 'int':
      case 'double':
      case 'bool':
        return rule.stringsOnly ? v : replacement(rule, String(v.value));
      case 'empty':
        return v;
      case 'array': {
        const items = v.value.map((item) => rewriteWhole(item, rule));
        return items.every((item, i) => item === v.value[i]) ? v : { kind: 'array', value: items };
      }
      case 'kvlist': {
        const kvs = v.value.map((kv) => {
          const value = rewriteWhole(kv.value, rule);
          return value === kv.value ? kv : { key: kv.key, value };
        });
        return kvs.every((kv, i) => kv === v.value[i]) ? v : { kind: 'kvlist', value: kvs };
      }
    }
  };

  /** Value rules applied to `v`; null when a `drop` rule matched (drop the enclosing attribute). */
  const rewriteValue = (v: AnyValue, plan: KeyPlan): AnyValue | null => {
    switch (v.kind) {
      case 'string': {
        let s = v.value;
        // A replacement can create a match for an earlier rule (a word boundary appears next to
        // "[REDACTED]"), so rules run until nothing changes: scrubbed output scrubs to itself.
        for (let round = 0, before = ''; round < MAX_VALUE_ROUNDS && s !== before; round++) {
          before = s;
          for (const rule of plan.values) {
            if (!matches(rule, s)) continue;
            count(rule);
            if (rule.action === 'drop') return null;
            s = s.replace(rule.value!, (m) => (!acts(rule, m) ? m : rule.action === 'hash' ? hashOf(m) : REDACTED));
          }
        }
        return s === v.value ? v : { kind: 'string', value: s };
      }
      case 'array': {
        const items: AnyValue[] = [];
        for (const item of v.value) {
          const next = rewriteValue(item, plan);
          if (next === null) return null;
          items.push(next);
        }
        return items.every((item, i) => item === v.value[i]) ? v : { kind: 'array', value: items };
      }
      case 'kvlist': {
        const next = rewriteAttributes(v.value);
        return next === undefined ? v : { kind: 'kvlist', value: next.attributes };
      }
      default:
        return v;
    }
  };

  /** Scrubbed attributes and how many were dropped; undefined when nothing changed. */
  const rewriteAttributes = (attributes: readonly KeyValue[]): { attributes: KeyValue[]; dropped: number } | undefined => {
    let out: KeyValue[] | undefined;
    let dropped = 0;
    for (let i = 0; i < attributes.length; i++) {
      const kv = attributes[i]!;
      const plan = planFor(kv.key);
      let next: KeyValue | null = kv;
      const whole = plan.whole;
      if (whole !== undefined) {
        if (whole.action === 'drop') {
          if (!whole.stringsOnly || hasText(kv.value)) {
            count(whole);
            next = null;
          }
        } else {
          const value = rewriteWhole(kv.value, whole);
          if (value !== kv.value) next = { key: kv.key, value };
        }
      } else {
        const value = rewriteValue(kv.value, plan);
        if (value === null) next = null;
        else if (value !== kv.value) next = { key: kv.key, value };
      }
      if (next !== kv && out === undefined) out = attributes.slice(0, i);
      if (next === null) dropped++;
      else if (out !== undefined) out.push(next);
    }
    return out === undefined ? undefined : { attributes: out, dropped };
  };

  /** Scrubbed span bytes, or the input when nothing changed. Throws on malformed bytes. */
  const scrubSpan = (bytes: Uint8Array): Uint8Array => {
    if (!spanNeedsScrub(bytes)) return bytes;
    const span = decodeSpan(bytes);
    let changed = false;
    const attrs = rewriteAttributes(span.attributes);
    if (attrs !== undefined) changed = true;
    const events = span.events.map((e) => {
      const next = rewriteAttributes(e.attributes);
      if (next === undefined) return e;
      changed = true;
      return { ...e, attributes: next.attributes, droppedAttributesCount: e.droppedAttributesCount + next.dropped };
    });
    const links = span.links.map((l) => {
      const next = rewriteAttributes(l.attributes);
      if (next === undefined) return l;
      changed = true;
      return { ...l, attributes: next.attributes, droppedAttributesCount: l.droppedAttributesCount + next.dropped };
    });
    if (!changed) return bytes;
    return encodeSpan({
      ...span,
      attributes: attrs?.attributes ?? span.attributes,
      droppedAttributesCount: span.droppedAttributesCount + (attrs?.dropped ?? 0),
      events,
      links,
    });
  };

  const scrubResource = (bytes: Uint8Array): Uint8Array => {
    if (!attributesNeedScrub(bytes, 0, bytes.length, 1, 0)) return bytes;
    const resource = decodeResource(bytes);
    const next = rewriteAttributes(resource.attributes);
    if (next === undefined) return bytes;
    return encodeResource({ attributes: next.attributes, droppedAttributesCount: resource.droppedAttributesCount + next.dropped });
  };

  const scrubScope = (bytes: Uint8Array): Uint8Array => {
    if (!attributesNeedScrub(bytes, 0, bytes.length, 3, 0)) return bytes;
    const scope = decodeScope(bytes);
    const next = rewriteAttributes(scope.attributes);
    if (next === undefined) return bytes;
    return encodeScope({ ...scope, attributes: next.attributes, droppedAttributesCount: scope.droppedAttributesCount + next.dropped });
  };

  /** Memoised by identity: the groups of one request share their resource and scope bytes. */
  const cached = (cache: Map<Uint8Array, Uint8Array | null>, bytes: Uint8Array, scrub: (b: Uint8Array) => Uint8Array): Uint8Array | null => {
    let result = cache.get(bytes);
    if (result === undefined) {
      try {
        result = scrub(bytes);
      } catch {
        result = null;
      }
      cache.set(bytes, result);
    }
    return result;
  };

  return {
    rules: rules.map((r) => ({ name: r.name, action: r.action })),

    scrub(groups) {
      if (rules.length === 0) return { groups: [...groups], changedSpans: 0, malformedSpans: 0, counts: [] };
      counts = new Map();
      const resources = new Map<Uint8Array, Uint8Array | null>();
      const scopes = new Map<Uint8Array, Uint8Array | null>();
      const out: SpanGroup[] = [];
      let changedSpans = 0;
      let malformedSpans = 0;
      for (const g of groups) {
        const resource = cached(resources, g.resource, scrubResource);
        const scope = cached(scopes, g.scope, scrubScope);
        if (resource === null || scope === null) {
          malformedSpans += g.spans.length;
          continue;
        }
        let spans: Uint8Array[] | undefined;
        for (let i = 0; i < g.spans.length; i++) {
          const bytes = g.spans[i]!;
          let next: Uint8Array | null;
          try {
            next = scrubSpan(bytes);
          } catch {
            next = null;
          }
          if (next !== bytes && spans === undefined) spans = g.spans.slice(0, i);
          if (next === null) malformedSpans++;
          else {
            if (next !== bytes) changedSpans++;
            spans?.push(next);
          }
        }
        if (spans === undefined && resource === g.resource && scope === g.scope) out.push(g);
        else if (spans === undefined || spans.length > 0) out.push({ ...g, resource, scope, spans: spans ?? g.spans });
      }
      const result: ScrubCount[] = [];
      for (const [rule, values] of counts) result.push({ rule: rule.name, action: rule.action, values });
      return { groups: out, changedSpans, malformedSpans, counts: result };
    },
  };
}
