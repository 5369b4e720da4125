// The head-sampling policy: one zod schema (STYLE.md rule 4) shared by the agent's config file, the
// cluster policy the ingesters relay from the coordinator, the head sampler and the Jaeger
// remote-sampling endpoint, so the app's SDK and the agent are told the same rates.
//
// Resolution is most-specific-wins: operation rate > service rate > default rate (rates are not
// multiplied). A service's `maxTracesPerSecond` caps the traces kept after the probabilistic step.
import { z } from 'zod';

const Probability = z.number().min(0).max(1);

export const ServiceSamplingSchema = z
  .object({
    /** Keep-probability for this service's traces; the default rate when absent. */
    probability: Probability.optional(),
    /** Cap on traces kept per second for this service (token bucket, 1 s burst); none when absent. */
    maxTracesPerSecond: z.number().positive().max(1e9).optional(),
    /** Keep-probability by operation (span name of the trace's first span the agent sees). */
    operations: z.record(z.string().min(1), Probability).default({}),
  })
  .strict();

export const SamplingConfigSchema = z
  .object({
    defaultProbability: Probability.default(1),
    /**
     * Span attribute that marks a trace as debug (always kept, never rate-limited): OpenTracing's
     * `sampling.priority`, debug when its value is a number > 0 (int, double or numeric string).
     * W3C trace flag 0x02 cannot serve: Jaeger used it for debug, Trace Context Level 2 for "random".
     */
    debugAttribute: z.string().min(1).default('sampling.priority'),
    services: z.record(z.string(), ServiceSamplingSchema).default({}),
  })
  .strict();

export type ServiceSampling = z.output<typeof ServiceSamplingSchema>;
export type SamplingConfig = z.output<typeof SamplingConfigSchema>;
export type SamplingConfigInput = z.input<typeof SamplingConfigSchema>;

/** Own entry of a config record: service and operation names come from the wire, and must never
 * resolve to Object.prototype members ("constructor", "__proto__"). */
function own<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** The config of `service`, undefined when it has none of its own. */
export function serviceSampling(config: SamplingConfig, service: string): ServiceSampling | undefined {
  return own(config.services, service);
}

/** Keep-probability for a trace of `service` whose deciding span is named `operation`. */
export function computeProbability(config: SamplingConfig, service: string, operation: string): number {
  const s = own(config.services, service);
  if (s === undefined) return config.defaultProbability;
  return own(s.operations, operation) ?? s.probability ?? config.defaultProbability;
}

/** True when the config keeps every trace (the sampler can then pass batches through untouched). */
export function computeKeepsEverything(config: SamplingConfig): boolean {
  if (config.defaultProbability < 1) return false;
  for (const s of Object.values(config.services)) {
    if ((s.probability ?? 1) < 1 || s.maxTracesPerSecond !== undefined) return false;
    for (const p of Object.values(s.operations)) if (p < 1) return false;
  }
  return true;
}

/** Jaeger remote-sampling answer (jaeger-idl proto/api_v2/sampling.proto, JSON field names). */
export interface JaegerSamplingStrategy {
  readonly strategyType: 'PROBABILISTIC' | 'RATE_LIMITING';
  readonly probabilisticSampling?: { readonly samplingRate: number };
  readonly rateLimitingSampling?: { readonly maxTracesPerSecond: number };
  readonly operationSampling?: {
    readonly defaultSamplingProbability: number;
    readonly defaultLowerBoundTracesPerSecond: number;
    readonly perOperationStrategies: readonly {
      readonly operation: string;
      readonly probabilisticSampling: { readonly samplingRate: number };
    }[];
  };
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * The strategy `GET /sampling?service=` answers, from the same config the agent samples with. The
 * SDK's sampling should never be stricter than the agent's (the agent applies its own rates again,
 * and agrees with a conforming SDK's R ≥ T decisions), hence:
 * - a service with a probability < 1, or with per-operation rates, gets PROBABILISTIC (plus
 *   `operationSampling` for the operations); its rate cap, if any, is enforced by the agent only,
 *   since Jaeger cannot express "p, at most n/s" and RATE_LIMITING alone would drop more than p;
 * - a service kept at 1 with a rate cap gets RATE_LIMITING with the cap rounded up to an integer
 *   (the proto field is int32);
 * - anything else gets PROBABILISTIC at its rate.
 * `defaultLowerBoundTracesPerSecond` is 0: the agent guarantees no minimum rate per operation.
 * Operations are sorted so answers are byte-stable for caching clients.
 */
export function computeJaegerStrategy(config: SamplingConfig, service: string): JaegerSamplingStrategy {
  const s = own(config.services, service);
  const probability = s?.probability ?? config.defaultProbability;
  const operations = Object.keys(s?.operations ?? {}).sort();
  if (s !== undefined && operations.length > 0) {
    return {
      strategyType: 'PROBABILISTIC',
      probabilisticSampling: { samplingRate: probability },
      operationSampling: {
        defaultSamplingProbability: probability,
        defaultLowerBoundTracesPerSecond: 0,
        perOperationStrategies: operations.map((operation) => ({ operation, probabilisticSampling: { samplingRate: s.operations[operation]! } })),
      },
    };
  }
  if (s?.maxTracesPerSecond !== undefined && probability === 1) {
    return { strategyType: 'RATE_LIMITING', rateLimitingSampling: { maxTracesPerSecond: Math.min(INT32_MAX, Math.ceil(s.maxTracesPerSecond)) } };
  }
  return { strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: probability } };
}
