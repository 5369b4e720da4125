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
  type AttributeVisitor,
} from '../common/otlp/index.js';
import { SkeinError } from '../common/errors/index.js';
import { buildScrubRules, type ScrubAction, type ScrubConfig, type ScrubRule } from './scrub-config.js';
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
}

const HASH_HEX_DIGITS = 32;
const MAX_CACHED_KEYS = 10_000;
const MAX_VALUE_ROUNDS = 4;
const encoder = new TextEncoder();

function tooDeep(): SkeinError {
  return new SkeinError('BAD_PAYLOAD', `attribute values nested deeper than ${MAX_NESTING_DEPTH}`);
}

export function createScrubber(config: ScrubConfig): Scrubber {
  const rules = buildScrubRules(config);
  const hashKey = config.hashKey;
  if (hashKey === undefined && rules.some((r) => r.action === 'hash')) {
    throw new SkeinError('INVALID_ARGUMENT', 'a scrub rule hashes values but no hashKey is configured');
  }
  const wholeRules = rules.filter((r) => r.value === undefined);
  const valueRules = rules.filter((r) => r.value !== undefined);
  const plans = new Map<string, KeyPlan>();
  const noPlan: KeyPlan = { whole: undefined, values: [] };

  const planFor = (key: string): KeyPlan => {
    let plan = plans.get(key);
    if (plan === undefined) {
      const whole = wholeRules.find((r) => r.key!.test(key));
      const values = valueRules.filter((r) => r.key === undefined || r.key.test(key));
      plan = whole === undefined && values.length === 0 ? noPlan : { whole, values };
      // Keys are few in practice; the bound only protects against unbounded key cardinality.
      if (plans.size >= MAX_CACHED_KEYS) plans.clear();
      plans.set(key, plan);
    }
    return plan;
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
        if (plan.values.length === 0) return false;
        const s = utf8At(buf, offset, length);
        return plan.values.some((r) => matches(r, s));
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

  const attributesNeedScrub = (buf: Uint8Array, start: number, end: number, fieldNumber: number, depth: number): boolean => {
    let found = false;
    const visit: AttributeVisitor = (b, keyOffset, keyLength, type, valueOffset, valueLength) => {
      const plan = planFor(utf8At(b, keyOffset, keyLength));
      const whole = plan.whole;
      if (whole !== undefined) {
        // Over-approximates for stringsOnly rules over arrays/kvlists of numbers: pass 2 decides.
        const text = type === AnyValueType.STRING || type === AnyValueType.BYTES || type === AnyValueType.ARRAY || type === AnyValueType.KVLIST;
        const redacted = whole.action === 'redact' && type === AnyValueType.STRING && utf8At(b, valueOffset, valueLength) === REDACTED;
        found = !redacted && (whole.stringsOnly ? text : whole.action === 'drop' || type !== AnyValueType.EMPTY);
      } else {
        found = valueNeedsScrub(b, plan, type, valueOffset, valueLength, depth);
      }
      return !found;
    };
    forEachAttribute(buf, start, end, fieldNumber, visit);
    return found;
  };

  const spanNeedsScrub = (span: Uint8Array): boolean => {
    if (attributesNeedScrub(span, 0, span.length, 9, 0)) return true;
    let found = false;
    forEachField(span, 0, span.length, (field, wire, start, end) => {
      if (wire !== WireTypes.LEN) return true;
      // Event attributes are Event field 3, link attributes Link field 4.
      found = (field === 11 && attributesNeedScrub(span, start, end, 3, 0)) || (field === 13 && attributesNeedScrub(span, start, end, 4, 0));
      return !found;
    });
    return found;
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
