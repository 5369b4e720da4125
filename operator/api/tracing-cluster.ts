// The TracingCluster API (tracing.skein.dev/v1alpha1) as one zod schema. From it come the TypeScript
// types (z.output), the runtime validator (validateTracingCluster*) and, through crd.ts, the CRD's
// structural openAPIV3Schema with its defaults and CEL rules (STYLE.md rule 4). Field names and
// shapes follow the Kubernetes API conventions and the operators people already know (Tempo's
// TempoStack, the Jaeger and OpenTelemetry operators): camelCase, quantities as int-or-string,
// durations as Go duration strings, resources in the core ResourceRequirements shape, optional
// fields with defaults so `spec: {}` is a working cluster.
//
// Defaults are written with `.default()` on leaves and `.prefault({})` on objects: prefault makes zod
// parse the default through the object's own schema, which is what the apiserver does (a defaulted
// `{}` gets its fields' defaults in turn), so a spec parsed here equals the spec the apiserver stores.
//
// CEL rules guard every defaulted field they read with has(): when the apiserver accepts the CRD it
// checks each `default` value against the rules *without* filling nested defaults (a rule reading
// `self.compaction.window` fails on spec's default `{}`). On real objects defaults are applied before
// validation, so the guards never skip a check there; the TypeScript twins see defaulted values.
import { z } from 'zod';
import { withCel, type CelRule, type CelTransitionRule } from './cel.js';
import { ConditionSchema } from './conditions.js';
import { DURATION_PATTERN, parseDuration, parseQuantity, QUANTITY_PATTERN } from './units.js';

export const GROUP = 'tracing.skein.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'TracingCluster';
export const PLURAL = 'tracingclusters';
export const SINGULAR = 'tracingcluster';
export const SHORT_NAMES = ['tc'] as const;
export const CATEGORIES = ['skein'] as const;

export const MIN_SHARDS = 1;
export const MAX_SHARDS = 4096;
/**
 * Longest TracingCluster name. Owned objects are named `<name>-<component>[-<suffix>]`; a StatefulSet
 * name must leave room for its pods' `controller-revision-hash` label (≤ 63 characters with an
 * 11-character hash suffix), and `<name>-ingester-headless` must stay a DNS label.
 */
export const MAX_CLUSTER_NAME_LENGTH = 40;

// ---------------------------------------------------------------------------------------------
// Building blocks

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dnsSubdomain = (description: string) =>
  z.string().min(1).max(253).regex(DNS_SUBDOMAIN, 'must be a lowercase DNS subdomain name (a-z, 0-9, "-", ".")').describe(description);

const quantity = () => z.union([z.number().int(), z.string().max(64).regex(new RegExp(QUANTITY_PATTERN), 'must be a quantity such as 10Gi, 512Mi or 500m')]);

// CEL that converts a string (duration(), quantity()) first checks that it converts: a value whose
// format is already reported (by a pattern or a format rule) would otherwise be reported again as an
// opaque evaluation error. The TypeScript twins skip unparsable values the same way.
const celIsDuration = (expr: string): string => `${expr}.matches('${DURATION_PATTERN}')`;
const celIsQuantity = (expr: string): string => `isQuantity(string(${expr}))`;

const positiveQuantity: CelRule<number | string> = {
  rule: `!${celIsQuantity('self')} || quantity(string(self)).isGreaterThan(quantity('0'))`,
  message: 'must be a positive quantity such as 10Gi',
  holds: (v) => (parseQuantity(v) ?? 1) > 0,
};

/** A volume size: int-or-string quantity, greater than zero. */
const volumeSize = (description: string, defaultSize: string) => withCel(quantity().describe(description), [positiveQuantity]).default(defaultSize);

interface DurationBounds {
  /** Inclusive bounds, written as durations (`1h`). */
  readonly min?: string;
  readonly max?: string;
}

/**
 * A Go duration string (`72h`, `1h30m`) with optional inclusive bounds. The format is a CEL rule
 * rather than a `pattern`: the apiserver's pattern error quotes the regex, the rule says what to write.
 */
const duration = (description: string, bounds: DurationBounds = {}) => {
  const rules: CelRule<string>[] = [
    { rule: celIsDuration('self'), message: 'must be a duration such as 72h, 90m or 1h30m (units h, m, s, ms)', holds: (v) => parseDuration(v) !== undefined },
  ];
  if (bounds.min !== undefined) {
    const min = parseDuration(bounds.min)!;
    rules.push({ rule: `!${celIsDuration('self')} || duration(self) >= duration('${bounds.min}')`, message: `must be at least ${bounds.min}`, holds: (v) => (parseDuration(v) ?? min) >= min });
  }
  if (bounds.max !== undefined) {
    const max = parseDuration(bounds.max)!;
    rules.push({ rule: `!${celIsDuration('self')} || duration(self) <= duration('${bounds.max}')`, message: `must be at most ${bounds.max}`, holds: (v) => (parseDuration(v) ?? max) <= max });
  }
  return withCel(z.string().max(32).describe(description), rules);
};

/** A map of resource name → quantity, bounded so CEL can cost rules over it. */
const resourceList = (description: string) => {
  const maxProperties = 16;
  return z
    .record(z.string(), quantity())
    .superRefine((map, ctx) => {
      if (Object.keys(map).length > maxProperties) ctx.addIssue({ code: 'custom', message: `must have at most ${maxProperties} entries` });
    })
    .meta({ maxProperties })
    .describe(description);
};

/** corev1.ResourceRequirements (without DRA `claims`). */
const resources = (component: string) =>
  withCel(
    z
      .object({
        limits: resourceList('Most compute resources allowed (e.g. cpu: "2", memory: 4Gi).').optional(),
        requests: resourceList('Compute resources the scheduler reserves; each must not exceed its limit.').optional(),
      })
      .describe(`Compute resources of each ${component} container, as in a Pod's resources.`),
    [
      {
        rule: `!has(self.limits) || !has(self.requests) || self.requests.all(k, !(k in self.limits) || !${celIsQuantity('self.requests[k]')} || !${celIsQuantity('self.limits[k]')} || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)`,
        message: 'every request must be less than or equal to its limit',
        holds: (r) =>
          Object.entries(r.requests ?? {}).every(([k, v]) => {
            const request = parseQuantity(v);
            const limit = r.limits?.[k] === undefined ? undefined : parseQuantity(r.limits[k]);
            return request === undefined || limit === undefined || request <= limit;
          }),
      },
    ],
  );

const storageClassName = () =>
  dnsSubdomain('StorageClass of the volume claim. Default: the cluster\'s default StorageClass.').optional();

// ---------------------------------------------------------------------------------------------
// spec

const WalSchema = z
  .object({
    size: volumeSize('Size of each ingester\'s WAL volume claim.', '10Gi'),
    storageClassName: storageClassName(),
    fsync: z
      .enum(['always', 'batch', 'none'])
      .default('batch')
      .describe('When an append is durable before the client is acknowledged: always (fsync every group commit), batch (group appends for up to fsyncMaxDelay, then fsync), none (page cache only: a node crash loses acknowledged spans).'),
    fsyncMaxDelay: duration('Longest an append waits to be grouped with others under fsync: batch.', { max: '1s' }).default('5ms'),
  })
  .describe('Write-ahead log: one persistent volume per ingester.');

const IngesterSchema = z
  .object({
    replicas: z.number().int().min(1).max(MAX_SHARDS).default(3).describe('Ingester pods. Each owns several shards; more ingesters than shards leaves the rest as standbys.'),
    resources: resources('ingester').optional(),
    wal: WalSchema.prefault({}),
  })
  .describe('Ingesters receive spans, own shards, write the WAL and cut blocks (a StatefulSet).');

const QuerierSchema = z
  .object({
    replicas: z.number().int().min(1).max(256).default(2).describe('Querier pods (stateless).'),
    resources: resources('querier').optional(),
  })
  .describe('Queriers serve the Tempo- and Jaeger-compatible query APIs.');

const FilesystemStorageSchema = z
  .object({
    size: volumeSize('Size of the shared volume claim.', '50Gi'),
    storageClassName: storageClassName(),
  })
  .describe('Blocks on one ReadWriteMany volume claim shared by ingesters and queriers.');

const SecretKeyRefsSchema = z
  .object({
    name: dnsSubdomain('Name of a Secret in the TracingCluster\'s namespace.'),
    accessKeyIdKey: z.string().min(1).max(253).default('AWS_ACCESS_KEY_ID').describe('Key of the access key ID in the Secret.'),
    secretAccessKeyKey: z.string().min(1).max(253).default('AWS_SECRET_ACCESS_KEY').describe('Key of the secret access key in the Secret.'),
  })
  .describe('The Secret holding the S3 credentials.');

const S3StorageSchema = z
  .object({
    bucket: z
      .string()
      .min(3)
      .max(63)
      .regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, 'must be an S3 bucket name (3-63 of a-z, 0-9, ".", "-")')
      .describe('Bucket name.'),
    endpoint: z
      .string()
      .max(256)
      .regex(new RegExp('^https?://[^/\\s]+$'), 'must be a URL without a path, such as https://s3.eu-west-1.amazonaws.com or http://minio.minio:9000')
      .optional()
      .describe('Endpoint URL of an S3-compatible service. Default: AWS S3 for the region.'),
    region: z.string().min(1).max(64).optional().describe('Region of the bucket.'),
    prefix: z
      .string()
      .max(256)
      .regex(new RegExp('^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$'), 'must be a relative path of letters, digits, ".", "_", "-" (no leading or trailing "/")')
      .optional()
      .describe('Key prefix for every object, so clusters can share a bucket.'),
    forcePathStyle: z.boolean().default(false).describe('Address the bucket as endpoint/bucket rather than bucket.endpoint (MinIO, most on-premises stores).'),
    secretRef: SecretKeyRefsSchema,
  })
  .describe('Blocks in an S3-compatible object store.');

const storageBackendFixed: CelTransitionRule<{ s3?: unknown }> = {
  rule: 'has(self.s3) == has(oldSelf.s3)',
  message: 'cannot switch between filesystem and s3 storage: blocks are not migrated; create a new TracingCluster instead',
  holds: (s, old) => (s.s3 === undefined) === (old.s3 === undefined),
};

const StorageSchema = withCel(
  z
    .object({
      filesystem: FilesystemStorageSchema.optional(),
      s3: S3StorageSchema.optional(),
    })
    .describe('Where blocks are stored: exactly one of filesystem or s3. Default: filesystem.'),
  [
    {
      rule: 'has(self.filesystem) != has(self.s3)',
      message: 'exactly one of filesystem or s3 must be set',
      holds: (s) => (s.filesystem === undefined) !== (s.s3 === undefined),
    },
  ],
  [storageBackendFixed],
);

const ETCD_ENDPOINT = new RegExp('^https?://[^/\\s]+$');

const ManagedEtcdSchema = z
  .object({
    replicas: withCel(z.number().int().min(1).max(7).describe('etcd members: 1, 3, 5 or 7.'), [
      { rule: 'self % 2 == 1', message: 'must be odd (1, 3, 5 or 7): an even member count tolerates no more failures than one fewer', holds: (n) => n % 2 === 1 },
    ]).default(3),
    size: volumeSize('Size of each member\'s data volume claim.', '2Gi'),
    storageClassName: storageClassName(),
    resources: resources('etcd').optional(),
  })
  .describe('An etcd StatefulSet run by the operator for this cluster.');

const ExternalEtcdSchema = z
  .object({
    endpoints: z
      .array(z.string().max(256).regex(ETCD_ENDPOINT, 'must be a client URL such as https://etcd-0.etcd:2379'))
      .min(1)
      .max(16)
      .superRefine((list, ctx) => {
        list.forEach((e, i) => {
          if (list.indexOf(e) !== i) ctx.addIssue({ code: 'custom', message: `duplicate endpoint ${JSON.stringify(e)}`, path: [i] });
        });
      })
      .meta({ 'x-kubernetes-list-type': 'set' })
      .describe('Client URLs of the etcd cluster.'),
    tlsSecretRef: z
      .object({ name: dnsSubdomain('Name of a Secret in the TracingCluster\'s namespace.') })
      .optional()
      .describe('A Secret with ca.crt, tls.crt and tls.key for client TLS. Default: no client certificate.'),
  })
  .describe('An etcd cluster run elsewhere.');

const etcdModeFixed: CelTransitionRule<{ managed?: unknown }> = {
  rule: 'has(self.managed) == has(oldSelf.managed)',
  message: 'cannot switch between managed and external etcd: the partition map and block manifest live there; create a new TracingCluster instead',
  holds: (e, old) => (e.managed === undefined) === (old.managed === undefined),
};

const EtcdSchema = withCel(
  z
    .object({
      managed: ManagedEtcdSchema.optional(),
      external: ExternalEtcdSchema.optional(),
    })
    .describe('The coordinator holding shard ownership, the partition map and the block manifest: exactly one of managed or external. Default: managed.'),
  [
    {
      rule: 'has(self.managed) != has(self.external)',
      message: 'exactly one of managed or external must be set',
      holds: (e) => (e.managed === undefined) !== (e.external === undefined),
    },
  ],
  [etcdModeFixed],
);

const RetentionSchema = z
  .object({
    traces: duration('How long spans are kept after they are written to a block.', { min: '1h' }).default('72h'),
  })
  .describe('How long data is kept.');

const CompactionSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Merge small blocks of the same shard and time window into larger ones.'),
    window: duration('Blocks whose time ranges fall in the same window of this length are merged together.', { min: '5m', max: '24h' }).default('1h'),
    maxBlockSize: withCel(quantity().describe('Largest block compaction writes.'), [positiveQuantity]).default('4Gi'),
  })
  .describe('Block compaction, planned by the operator and run by ingesters.');

const SamplingSchema = withCel(
  z
    .object({
      keepPercent: z.number().int().min(0).max(100).default(100).describe('Share of the remaining traces kept, by trace ID (consistent across shards).'),
      keepErrors: z.boolean().default(true).describe('Keep every trace with a span whose status is error.'),
      keepSlowerThan: duration('Keep every trace with a span at least this long.').optional(),
    })
    .describe('Tail sampling at the shard owner, which sees every span of a trace when it cuts a block. Default: keep everything.'),
  [
    {
      rule: '!has(self.keepPercent) || !has(self.keepErrors) || self.keepPercent > 0 || self.keepErrors || has(self.keepSlowerThan)',
      message: 'keeps no traces: set keepPercent above 0, keepErrors, or keepSlowerThan',
      holds: (s) => s.keepPercent > 0 || s.keepErrors || s.keepSlowerThan !== undefined,
    },
  ],
);

const probability = (description: string) => z.number().min(0).max(1).describe(description);
const listKeyName = (description: string) => z.string().min(1).max(253).describe(description);

/** A list keyed by `name` (Kubernetes API conventions prefer lists with merge keys over maps). */
function uniqueNames<T extends { name: string }>(max: number) {
  return (list: readonly T[], ctx: z.RefinementCtx) => {
    if (list.length > max) return;
    const seen = new Set<string>();
    list.forEach((item, i) => {
      if (seen.has(item.name)) ctx.addIssue({ code: 'custom', message: `duplicate name ${JSON.stringify(item.name)}`, path: [i, 'name'] });
      seen.add(item.name);
    });
  };
}

const jsRegex = (description: string) =>
  z
    .string()
    .min(1)
    .max(1024)
    .refine(
      (source) => {
        try {
          new RegExp(source);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'must be a valid regular expression (JavaScript syntax)' },
    )
    .describe(description);

const AgentSamplingSchema = z
  .object({
    probability: probability('Share of traces the agents keep (by trace ID, the same decision in every pod), for services without their own rate.').default(1),
    services: z
      .array(
        z.object({
          name: listKeyName('service.name as the application reports it.'),
          probability: probability('Share of this service\'s traces kept. Default: spec.agent.sampling.probability.').optional(),
          maxTracesPerSecond: z.number().positive().max(1e9).optional().describe('Most traces kept per second per agent for this service.'),
          operations: z
            .array(z.object({ name: listKeyName('Span name of the trace\'s root as the agent sees it.'), probability: probability('Share of these traces kept.') }))
            .max(64)
            .superRefine(uniqueNames(64))
            .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
            .optional()
            .describe('Rates by operation; the most specific rate wins.'),
        }),
      )
      .max(256)
      .superRefine(uniqueNames(256))
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
      .optional()
      .describe('Rates by service.'),
  })
  .describe('Head sampling in the agents. Traces marked debug are always kept. Changes reach running agents through the ingesters, without restarting pods.');

const AgentScrubbingSchema = z
  .object({
    disableBuiltins: z
      .array(z.string().min(1).max(64))
      .max(32)
      .meta({ 'x-kubernetes-list-type': 'set' })
      .optional()
      .describe('Built-in rules to turn off by name ("*" for all): authorization headers, passwords, tokens, API keys, card numbers.'),
    rules: z
      .array(
        withCel(
          z.object({
            name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'use 1-64 of a-z, 0-9, "-" and "_", starting with a letter or digit').describe('Rule name (a metric label).'),
            key: jsRegex('Attribute keys this rule applies to.').optional(),
            value: jsRegex('String values (or parts of them) this rule applies to.').optional(),
            ignoreCase: z.boolean().default(false).describe('Match key and value case-insensitively.'),
            // `hash` (keyed HMAC, agent --agent-config) is not offered here yet: its key would have to
            // reach every injected agent without appearing in pod specs.
            action: z.enum(['redact', 'drop']).describe('redact: replace the match with [REDACTED]; drop: remove the attribute.'),
          }),
          [{ rule: 'has(self.key) || has(self.value)', message: 'a rule needs a key or a value pattern (or both)', holds: (r) => r.key !== undefined || r.value !== undefined }],
        ),
      )
      .max(64)
      .superRefine(uniqueNames(64))
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
      .optional()
      .describe('Extra rules, applied after the built-ins.'),
  })
  .describe('Attribute scrubbing in the agents, before anything leaves the pod.');

const AgentSchema = z
  .object({
    image: z.string().min(1).max(512).optional().describe('Image of the injected agent. Default: the cluster\'s image.'),
    resources: resources('agent sidecar').optional(),
    queueMaxBytes: withCel(quantity().describe('Bound on spans an agent holds while the ingesters are away; beyond it new spans are dropped and counted.'), [positiveQuantity]).default('32Mi'),
    sampling: AgentSamplingSchema.prefault({}),
    scrubbing: AgentScrubbingSchema.prefault({}),
  })
  .describe('The agent sidecar injected into annotated pods (tracing.skein.dev/inject).');

export const TracingClusterSpecSchema = withCel(
  z
    .object({
      image: z.string().min(1).max(512).optional().describe('Container image of every Skein component. Default: the image matching the operator\'s version.'),
      imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional().describe('Pull policy of that image. Default: Kubernetes\' (Always for :latest, else IfNotPresent).'),
      shards: z
        .number()
        .int()
        .min(MIN_SHARDS)
        .max(MAX_SHARDS)
        .default(6)
        .describe(`Shards of the trace-ID space (${MIN_SHARDS}-${MAX_SHARDS}), spread over the ingesters. Can grow or shrink at any time (kubectl scale); only the traces of moved shards change owner.`),
      ingester: IngesterSchema.prefault({}),
      querier: QuerierSchema.prefault({}),
      storage: StorageSchema.prefault({ filesystem: {} }),
      etcd: EtcdSchema.prefault({ managed: {} }),
      retention: RetentionSchema.prefault({}),
      compaction: CompactionSchema.prefault({}),
      sampling: SamplingSchema.prefault({}),
      agent: AgentSchema.prefault({}),
    })
    .describe('Desired state of the tracing cluster.'),
  [
    {
      rule: [
        '!has(self.compaction) || !has(self.retention) || !has(self.compaction.window) || !has(self.retention.traces)',
        '(has(self.compaction.enabled) && !self.compaction.enabled)',
        `!${celIsDuration('self.compaction.window')} || !${celIsDuration('self.retention.traces')}`,
        'duration(self.compaction.window) < duration(self.retention.traces)',
      ].join(' || '),
      message: 'compaction.window must be shorter than retention.traces',
      fieldPath: '.compaction.window',
      holds: (s) => {
        const window = parseDuration(s.compaction.window);
        const retention = parseDuration(s.retention.traces);
        return !s.compaction.enabled || window === undefined || retention === undefined || window < retention;
      },
    },
  ],
);

// ---------------------------------------------------------------------------------------------
// status

const count = (description: string) => z.number().int().min(0).optional().describe(description);
const time = (description: string) => z.iso.datetime({ offset: true }).optional().describe(description);

export const TracingClusterStatusSchema = z
  .object({
    observedGeneration: count('The .metadata.generation this status was computed from.'),
    conditions: z
      .array(ConditionSchema)
      .max(16)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
      .describe('Ready, Progressing and Degraded, with reasons and messages.'),
    shards: z
      .object({
        desired: count('spec.shards as last applied to the partition map.'),
        owned: count('Shards of the current map that have an owner.'),
        mapVersion: count('Version of the partition map in etcd.'),
      })
      .optional()
      .describe('Shard ownership, read from etcd.'),
    ingesters: z.object({ replicas: count('Ingester pods desired.'), ready: count('Ingester pods ready.') }).optional().describe('Ingester pods.'),
    queriers: z.object({ replicas: count('Querier pods desired.'), ready: count('Querier pods ready.') }).optional().describe('Querier pods.'),
    etcd: z.object({ replicas: count('etcd members desired (managed only).'), ready: count('etcd members ready.') }).optional().describe('The coordinator.'),
    endpoints: z
      .object({
        otlpGrpc: z.string().max(512).optional().describe('OTLP/gRPC receiver (host:port).'),
        otlpHttp: z.string().max(512).optional().describe('OTLP/HTTP receiver URL.'),
        query: z.string().max(512).optional().describe('Query API URL (Tempo- and Jaeger-compatible).'),
      })
      .optional()
      .describe('In-cluster addresses of the Services.'),
    blocks: z
      .object({
        count: count('Live blocks in the manifest.'),
        bytes: count('Total size of live blocks.'),
        lastCompactionTime: time('When the last compaction job committed.'),
        lastRetentionTime: time('When blocks were last expired by retention.'),
      })
      .optional()
      .describe('Block manifest summary.'),
    injection: z
      .object({ missedPods: count('Pods that asked for a sidecar but were created without one (the webhook was unreachable).') })
      .optional()
      .describe('Sidecar injection.'),
  })
  .describe('Observed state, written by the operator through the status subresource.');

// ---------------------------------------------------------------------------------------------
// the resource

const nameLength: CelRule<{ metadata: { name?: string | undefined } }> = {
  rule: `self.metadata.name.size() <= ${MAX_CLUSTER_NAME_LENGTH}`,
  fieldPath: '.metadata.name',
  message: `metadata.name must be at most ${MAX_CLUSTER_NAME_LENGTH} characters: the names of the StatefulSets, Services and volume claims of the cluster are derived from it`,
  holds: (o) => (o.metadata.name ?? '').length <= MAX_CLUSTER_NAME_LENGTH,
};

export const TracingClusterSchema = withCel(
  z
    .object({
      apiVersion: z.literal(API_VERSION).describe('APIVersion defines the versioned schema of this representation of an object.'),
      kind: z.literal(KIND).describe('Kind is a string value representing the REST resource this object represents.'),
      metadata: z.looseObject({ name: z.string().optional(), namespace: z.string().optional() }),
      spec: TracingClusterSpecSchema.prefault({}),
      status: TracingClusterStatusSchema.optional(),
    })
    .describe('A sharded Skein tracing cluster: ingesters, queriers, block storage and etcd, reconciled by the Skein operator.'),
  [nameLength],
);

export type TracingCluster = z.output<typeof TracingClusterSchema>;
/** A spec with every default filled in (what the apiserver stores and the operator reads). */
export type TracingClusterSpec = z.output<typeof TracingClusterSpecSchema>;
/** A spec as a person writes it: everything with a default may be left out. */
export type TracingClusterSpecInput = z.input<typeof TracingClusterSpecSchema>;
export type TracingClusterStatus = z.output<typeof TracingClusterStatusSchema>;

// ---------------------------------------------------------------------------------------------
// runtime validation

export interface ValidationIssue {
  /** Kubernetes field path, e.g. `spec.storage.s3.secretRef.name` or `spec.etcd.external.endpoints[1]`. */
  readonly path: string;
  readonly message: string;
}

export type ValidationResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly ValidationIssue[] };

function fieldPath(prefix: string, segments: readonly PropertyKey[]): string {
  let out = prefix;
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : `${out === '' ? '' : '.'}${String(s)}`;
  return out;
}

function validateWith<S extends z.ZodType>(schema: S, value: unknown, prefix: string): ValidationResult<z.output<S>> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, issues: result.error.issues.map((i) => ({ path: fieldPath(prefix, i.path), message: i.message })) };
}

/** Parses a whole TracingCluster (as read from the apiserver), filling defaults. */
export function validateTracingCluster(object: unknown): ValidationResult<TracingCluster> {
  return validateWith(TracingClusterSchema, object, '');
}

/** Parses a spec, filling defaults; issue paths start with `spec.`. */
export function validateTracingClusterSpec(spec: unknown): ValidationResult<TracingClusterSpec> {
  return validateWith(TracingClusterSpecSchema, spec, 'spec');
}

/** The CRD's transition rules (the same objects attached to the schema above) and where they sit. */
const TRANSITIONS: readonly { readonly path: string; readonly rule: CelTransitionRule<never>; readonly pick: (s: TracingClusterSpec) => unknown }[] = [
  { path: 'spec.storage', rule: storageBackendFixed, pick: (s) => s.storage },
  { path: 'spec.etcd', rule: etcdModeFixed, pick: (s) => s.etcd },
];

/**
 * Update rules the apiserver enforces with `oldSelf` (which a single-object validator cannot see):
 * the issues an update from `oldSpec` to `newSpec` would be refused for. Both specs are parsed
 * (defaulted) specs.
 */
export function validateTracingClusterUpdate(oldSpec: TracingClusterSpec, newSpec: TracingClusterSpec): readonly ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const t of TRANSITIONS) {
    const holds = t.rule.holds as (self: unknown, oldSelf: unknown) => boolean;
    if (!holds(t.pick(newSpec), t.pick(oldSpec))) issues.push({ path: t.path, message: t.rule.message });
  }
  return issues;
}
