// Head sampling in the agent: decides per (service, trace) whether the spans the app sends leave the
// pod. The decision is made once, from the first batch in which the agent sees the trace, and
// remembered for `decisionTtlMs` so later spans of the trace follow it:
//
// 1. debug — the trace carries the debug attribute (SamplingConfig.debugAttribute) on a span of the
//    batch: keep, without consuming rate-limit tokens;
// 2. probabilistic — keep iff R ≥ T for p = computeProbability(service, operation) (trace-ratio.ts):
//    a pure function of trace ID and rate, so every agent decides alike;
// 3. rate limit — of the probabilistically kept traces, at most maxTracesPerSecond per service
//    (token bucket on the injected clock, 1 s burst). This step is local to one agent.
//
// The operation is the name of the trace's "best" span in that first batch: its root span, else a
// SERVER/CONSUMER span (the service's entry point), else the first span. SDKs export children
// before parents, but one request's spans usually share an export batch, so the entry span is
// usually there; when it is not, the rate of the first span's name applies. A drop decision is
// upgraded to debug when a later batch brings the debug attribute; spans already dropped are gone.
//
// Span bytes are read lazily: trace ID, parent, kind and name through readSpanFields, the service
// from the resource, and span attributes only for traces about to be dropped (the debug check).
import type { Clock } from '../common/coord/index.js';
import type { SpanGroup } from '../common/model/index.js';
import {
  AnyValueType,
  createSpanFields,
  forEachAttribute,
  readDoubleAt,
  readServiceName,
  readSpanFields,
  readVarintAt,
  utf8At,
} from '../common/otlp/index.js';
import { computeKeepsEverything, computeProbability, serviceSampling, type SamplingConfig } from './sampling-config.js';
import { computeRejectionThreshold, keepsTrace } from './trace-ratio.js';

export type SampleDropReason = 'probabilistic' | 'rate-limited' | 'malformed';

export interface HeadSamplerOptions {
  readonly config: SamplingConfig;
  readonly clock: Clock;
  /** Most (service, trace) decisions remembered; the oldest is forgotten first. */
  readonly maxTrackedTraces: number;
  /** How long a decision is remembered after it is made. */
  readonly decisionTtlMs: number;
}

export interface SampleResult {
  /** Input groups with dropped spans removed; untouched groups are passed through as they are. */
  readonly groups: SpanGroup[];
  readonly keptSpans: number;
  /** Of keptSpans, those kept only because their trace is marked debug. */
  readonly debugSpans: number;
  /**
   * Dropped spans by reason. 'malformed': no 16-byte trace ID could be read — checked only when the
   * policy samples at all; the receivers' edge validation rejects such spans before this anyway.
   */
  readonly dropped: Readonly<Record<SampleDropReason, number>>;
}

export interface HeadSampler {
  sample(groups: readonly SpanGroup[]): SampleResult;
  /** Replaces the policy (config file reload or cluster policy); remembered decisions stay. */
  setConfig(config: SamplingConfig): void;
  /** Decisions currently remembered. */
  readonly trackedTraces: number;
}

const Decision = { KEEP: 0, KEEP_DEBUG: 1, DROP_PROBABILISTIC: 2, DROP_RATE_LIMITED: 3 } as const;
type Decision = (typeof Decision)[keyof typeof Decision];

interface Remembered {
  decision: Decision;
  readonly expiresAt: number;
}

/** The spans of one (service, trace) in the batch being sampled. */
interface BatchTrace {
  readonly key: string;
  readonly service: string;
  /** Bytes and offset of a 16-byte trace ID of this trace. */
  readonly idBytes: Uint8Array;
  readonly idOffset: number;
  /** Rank of the span naming the operation (0 root, 1 entry span, 2 other); lower wins. */
  rank: number;
  nameBytes: Uint8Array;
  nameOffset: number;
  nameLength: number;
  readonly spans: Uint8Array[];
  decision: Decision;
}

interface Bucket {
  tokens: number;
  last: number;
  readonly rate: number;
  readonly capacity: number;
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CONSUMER = 5;

/** (service, trace ID) as a map key: the ID's bytes as latin1 chars, one per byte (injective). */
function keyOf(service: string, b: Uint8Array, o: number): string {
  return (
    service +
    '\u0000' +
    String.fromCharCode(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!, b[o + 4]!, b[o + 5]!, b[o + 6]!, b[o + 7]!) +
    String.fromCharCode(b[o + 8]!, b[o + 9]!, b[o + 10]!, b[o + 11]!, b[o + 12]!, b[o + 13]!, b[o + 14]!, b[o + 15]!)
  );
}

function serviceOf(resource: Uint8Array): string {
  try {
    return readServiceName(resource);
  } catch {
    return ''; // scanExportRequest already rejected malformed resources; '' is the default policy
  }
}

export function createHeadSampler(options: HeadSamplerOptions): HeadSampler {
  const { clock, maxTrackedTraces, decisionTtlMs } = options;
  let config = options.config;
  let keepsEverything = computeKeepsEverything(config);
  let debugKey = new TextEncoder().encode(config.debugAttribute);
  const remembered = new Map<string, Remembered>();
  let buckets = new Map<string, Bucket>();
  const fields = createSpanFields();

  const isDebugValue = (buf: Uint8Array, type: AnyValueType, offset: number, length: number): boolean => {
    switch (type) {
      case AnyValueType.INT:
        return readVarintAt(buf, offset) > 0;
      case AnyValueType.DOUBLE:
        return readDoubleAt(buf, offset) > 0;
      case AnyValueType.STRING:
        return Number(utf8At(buf, offset, length)) > 0;
      default:
        return false;
    }
  };

  /** True when a span of `spans` carries the debug attribute with a positive value. */
  const hasDebugSpan = (spans: readonly Uint8Array[]): boolean => {
    let found = false;
    for (const span of spans) {
      try {
        forEachAttribute(span, 0, span.length, 9, (buf, keyOffset, keyLength, type, valueOffset, valueLength) => {
          if (keyLength !== debugKey.length) return;
          for (let i = 0; i < keyLength; i++) if (buf[keyOffset + i] !== debugKey[i]) return;
          found = isDebugValue(buf, type, valueOffset, valueLength);
          return false; // attribute keys are unique
        });
      } catch {
        // Malformed attributes: not debug. (Edge validation normally rejected such spans.)
      }
      if (found) return true;
    }
    return false;
  };

  /** Takes a token from `service`'s bucket if it has a rate limit; true when the trace may pass. */
  const admit = (service: string, now: number): boolean => {
    let bucket = buckets.get(service);
    if (bucket === undefined) {
      const rate = serviceSampling(config, service)?.maxTracesPerSecond;
      if (rate === undefined) return true;
      const capacity = Math.max(1, rate);
      // Services are few; the bound only protects against a flood of distinct service names.
      if (buckets.size >= 10_000) buckets.clear();
      bucket = { tokens: capacity, last: now, rate, capacity };
      buckets.set(service, bucket);
    }
    bucket.tokens = Math.min(bucket.capacity, bucket.tokens + ((now - bucket.last) / 1000) * bucket.rate);
    bucket.last = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };

  const decide = (t: BatchTrace, now: number): Decision => {
    const operation = utf8At(t.nameBytes, t.nameOffset, t.nameLength);
    const p = computeProbability(config, t.service, operation);
    if (!keepsTrace(t.idBytes, t.idOffset, computeRejectionThreshold(p))) {
      return hasDebugSpan(t.spans) ? Decision.KEEP_DEBUG : Decision.DROP_PROBABILISTIC;
    }
    if (serviceSampling(config, t.service)?.maxTracesPerSecond === undefined) return Decision.KEEP;
    if (hasDebugSpan(t.spans)) return Decision.KEEP_DEBUG;
    return admit(t.service, now) ? Decision.KEEP : Decision.DROP_RATE_LIMITED;
  };

  const remember = (key: string, decision: Decision, now: number): void => {
    if (remembered.size >= maxTrackedTraces) {
      const oldest = remembered.keys().next();
      if (oldest.done !== true) remembered.delete(oldest.value);
    }
    remembered.set(key, { decision, expiresAt: now + decisionTtlMs });
  };

  /** Forgets expired decisions; insertion order is expiry order, so only the front is looked at. */
  const expire = (now: number): void => {
    for (const [key, r] of remembered) {
      if (r.expiresAt > now) break;
      remembered.delete(key);
    }
  };

  return {
    sample(groups) {
      const now = clock.now();
      expire(now);
      // Keep-everything policy (the default): pass through without reading a byte — once no earlier
      // decision (from a stricter policy) is still remembered, so no trace is kept in part.
      if (keepsEverything && remembered.size === 0) {
        let keptSpans = 0;
        for (const g of groups) keptSpans += g.spans.length;
        return { groups: [...groups], keptSpans, debugSpans: 0, dropped: { probabilistic: 0, 'rate-limited': 0, malformed: 0 } };
      }

      // Pass 1: spans → traces of this batch, and each trace's operation-naming span.
      const traces = new Map<string, BatchTrace>();
      const traceOfSpan: (BatchTrace | undefined)[][] = [];
      const services = new Map<Uint8Array, string>(); // the groups of one request share resource bytes
      for (const g of groups) {
        let service = services.get(g.resource);
        if (service === undefined) {
          service = serviceOf(g.resource);
          services.set(g.resource, service);
        }
        const row: (BatchTrace | undefined)[] = new Array<BatchTrace | undefined>(g.spans.length);
        traceOfSpan.push(row);
        for (let i = 0; i < g.spans.length; i++) {
          const span = g.spans[i]!;
          if (!readSpanFields(span, fields) || fields.traceIdLength !== 16) continue;
          const key = keyOf(service, span, fields.traceIdOffset);
          let t = traces.get(key);
          if (t === undefined) {
            t = {
              key,
              service,
              idBytes: span,
              idOffset: fields.traceIdOffset,
              rank: 3,
              nameBytes: span,
              nameOffset: 0,
              nameLength: 0,
              spans: [],
              decision: Decision.KEEP as Decision,
            };
            traces.set(key, t);
          }
          t.spans.push(span);
          row[i] = t;
          const rank = fields.parentSpanIdLength === 0 ? 0 : fields.kind === SPAN_KIND_SERVER || fields.kind === SPAN_KIND_CONSUMER ? 1 : 2;
          if (rank < t.rank) {
            t.rank = rank;
            t.nameBytes = span;
            t.nameOffset = fields.nameOffset;
            t.nameLength = fields.nameLength;
          }
        }
      }

      // Decide each trace: a remembered decision stands (a drop may become debug), else decide now.
      for (const t of traces.values()) {
        const r = remembered.get(t.key);
        if (r !== undefined && r.expiresAt > now) {
          if (r.decision >= Decision.DROP_PROBABILISTIC && hasDebugSpan(t.spans)) r.decision = Decision.KEEP_DEBUG;
          t.decision = r.decision;
        } else {
          if (r !== undefined) remembered.delete(t.key);
          t.decision = decide(t, now);
          // Under a keep-everything policy a decision needs no memory; not storing it lets the
          // remembered set drain, and the fast path above resume.
          if (!keepsEverything) remember(t.key, t.decision, now);
        }
      }

      // Pass 2: filter.
      const out: SpanGroup[] = [];
      let keptSpans = 0;
      let debugSpans = 0;
      const dropped = { probabilistic: 0, 'rate-limited': 0, malformed: 0 };
      for (let gi = 0; gi < groups.length; gi++) {
        const g = groups[gi]!;
        const row = traceOfSpan[gi]!;
        const kept: Uint8Array[] = [];
        for (let i = 0; i < g.spans.length; i++) {
          const t = row[i];
          if (t === undefined) dropped.malformed++;
          else if (t.decision === Decision.KEEP) kept.push(g.spans[i]!);
          else if (t.decision === Decision.KEEP_DEBUG) {
            kept.push(g.spans[i]!);
            debugSpans++;
          } else if (t.decision === Decision.DROP_PROBABILISTIC) dropped.probabilistic++;
          else dropped['rate-limited']++;
        }
        keptSpans += kept.length;
        if (kept.length === g.spans.length) out.push(g);
        else if (kept.length > 0) out.push({ ...g, spans: kept });
      }
      return { groups: out, keptSpans, debugSpans, dropped };
    },

    setConfig(next) {
      config = next;
      keepsEverything = computeKeepsEverything(next);
      debugKey = new TextEncoder().encode(next.debugAttribute);
      buckets = new Map();
    },

    get trackedTraces() {
      return remembered.size;
    },
  };
}
