// Process configuration from command-line flags and SKEIN_* environment variables, validated by
// zod. One table of flags produces the parser, the validator and `--help` (STYLE.md rule 4).
import { z } from 'zod';
import { APP_VERSION } from './version.js';

export interface FlagSpec {
  /** kebab-case flag name, used as `--name`; env var is SKEIN_NAME_WITH_UNDERSCORES. */
  readonly name: string;
  readonly description: string;
  readonly schema: z.ZodType;
  /** Shown in --help; the schema's default is authoritative. */
  readonly defaultText: string;
  readonly boolean?: boolean;
}

const port = z.coerce.number().int().min(0).max(65535);
const bytes = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : parseBytes(v);
  if (n === undefined || !Number.isFinite(n) || n <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a byte size like 1048576, 512KiB, 64MiB or 2GiB, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return Math.floor(n);
});

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = UNITS[m[2]!.toLowerCase()];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}

const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0'])]).transform((v) => v === true || v === 'true' || v === '1');

const DURATION_PART = /([0-9]+)(ms|s|m|h|d)/g;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds of a duration written like the TracingCluster spec's (`72h`, `1h30m`, `500ms`: whole
 * numbers, units h, m, s, ms) or in days (`14d`); undefined when it is not one. The spec's own
 * parser lives in operator/api, which common/ may not import.
 */
export function parseDuration(text: string): number | undefined {
  if (!/^([0-9]{1,6}(ms|s|m|h|d))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(DURATION_PART)) total += Number(m[1]) * DURATION_MS[m[2]!]!;
  return total;
}

/** A duration flag in milliseconds (text like 336h or 14d; a bare number is milliseconds); defaults are given in ms. */
const duration = (minMs: number, minText: string) =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : /^[0-9]+$/.test(v) ? Number(v) : parseDuration(v);
    if (ms === undefined || !Number.isSafeInteger(ms)) {
      ctx.addIssue({ code: 'custom', message: `expected a duration like 336h, 14d, 90m or 1h30m, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    if (ms < minMs) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${minText}` });
      return z.NEVER;
    }
    return ms;
  });

export const FLAGS = {
  'data-dir': { name: 'data-dir', description: 'Directory for WALs (and later blocks).', schema: z.string().min(1).default('./data'), defaultText: './data' },
  host: {
    name: 'host',
    description: 'Address every listener binds to (use 0.0.0.0 in containers).',
    schema: z.string().min(1).default('127.0.0.1'),
    defaultText: '127.0.0.1',
  },
  'otlp-grpc-port': { name: 'otlp-grpc-port', description: 'OTLP/gRPC receiver port (0 = pick a free port).', schema: port.default(4317), defaultText: '4317' },
  'otlp-http-port': { name: 'otlp-http-port', description: 'OTLP/HTTP receiver port (POST /v1/traces).', schema: port.default(4318), defaultText: '4318' },
  'tempo-port': { name: 'tempo-port', description: 'Tempo-compatible query API port.', schema: port.default(3200), defaultText: '3200' },
  'jaeger-port': { name: 'jaeger-port', description: 'Jaeger-compatible query API port.', schema: port.default(16686), defaultText: '16686' },
  'metrics-port': {
    name: 'metrics-port',
    description: 'Extra port serving only /metrics and /ready (0 = none; /metrics is also on every HTTP port).',
    schema: port.default(0),
    defaultText: '0',
  },
  shards: { name: 'shards', description: 'Number of shards of the trace-ID space.', schema: z.coerce.number().int().min(1).max(4096).default(4), defaultText: '4' },
  fsync: {
    name: 'fsync',
    description: 'WAL durability before acknowledging: always (fsync every group commit), batch (group up to --fsync-delay-ms, then fsync), none (page cache only).',
    schema: z.enum(['always', 'batch', 'none']).default('batch'),
    defaultText: 'batch',
  },
  'fsync-delay-ms': { name: 'fsync-delay-ms', description: 'Longest wait to group WAL appends under --fsync=batch.', schema: z.coerce.number().min(0).max(1000).default(5), defaultText: '5' },
  'wal-segment-bytes': { name: 'wal-segment-bytes', description: 'WAL segment size before rotation.', schema: bytes.default(64 * 1024 * 1024), defaultText: '64MiB' },
  'head-max-bytes': {
    name: 'head-max-bytes',
    description: 'Memory budget of the in-memory head over all shards; when full, ingest answers 429/RESOURCE_EXHAUSTED.',
    schema: bytes.default(1024 * 1024 * 1024),
    defaultText: '1GiB',
  },
  'max-span-bytes': { name: 'max-span-bytes', description: 'Largest accepted encoded span.', schema: bytes.default(256 * 1024), defaultText: '256KiB' },
  'max-attributes': { name: 'max-attributes', description: 'Most attributes accepted on one span.', schema: z.coerce.number().int().min(1).default(1024), defaultText: '1024' },
  'max-request-bytes': {
    name: 'max-request-bytes',
    description: 'Largest accepted request body (after gzip decompression).',
    schema: bytes.default(16 * 1024 * 1024),
    defaultText: '16MiB',
  },
  'tenancy-required': {
    name: 'tenancy-required',
    description: 'Reject requests without an X-Scope-OrgID header (else they belong to tenant "single-tenant").',
    schema: bool.default(false),
    defaultText: 'false',
    boolean: true,
  },
  ingesters: {
    name: 'ingesters',
    description: 'local-cluster: number of ingester processes to start.',
    schema: z.coerce.number().int().min(1).max(9).default(3),
    defaultText: '3',
  },
  'etcd-endpoints': {
    name: 'etcd-endpoints',
    description: 'Comma-separated etcd client URLs of the cluster coordinator.',
    schema: z
      .string()
      .default('http://127.0.0.1:2379')
      .transform((v) => v.split(',').map((e) => e.trim()).filter((e) => e !== ''))
      .refine((list) => list.length > 0 && list.every((e) => /^https?:\/\/[^/]+$/.test(e)), 'expected URLs like http://127.0.0.1:2379'),
    defaultText: 'http://127.0.0.1:2379',
  },
  namespace: {
    name: 'namespace',
    description: 'Namespace part of the coordinator key prefix /skein/<namespace>/<cluster>/ (the Kubernetes namespace under the operator).',
    schema: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a DNS-1123 name').default('default'),
    defaultText: 'default',
  },
  cluster: {
    name: 'cluster',
    description: 'Cluster name part of the coordinator key prefix (the TracingCluster name under the operator).',
    schema: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a DNS-1123 name').default('skein'),
    defaultText: 'skein',
  },
  'member-id': {
    name: 'member-id',
    description: 'Stable identity of this process in the cluster (pod name under Kubernetes). Empty = the host name.',
    schema: z.string().regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$|^$/, 'expected letters, digits, - _ .').default(''),
    defaultText: '(host name)',
  },
  'advertise-host': {
    name: 'advertise-host',
    description: 'Host other members and queriers use to reach this one. Empty = --host (or the host name when --host is 0.0.0.0).',
    schema: z.string().default(''),
    defaultText: '(--host)',
  },
  'internal-port': { name: 'internal-port', description: 'Internal gRPC port: forwarding between ingesters, queries from queriers.', schema: port.default(9095), defaultText: '9095' },
  'admin-port': {
    name: 'admin-port',
    description: 'Admin HTTP port of an ingester or controller (/ready, /metrics, /debug/ownership), or of the agent (/healthz, /readyz, /metrics).',
    schema: port.default(9096),
    defaultText: '9096',
  },
  'admin-host': {
    name: 'admin-host',
    description: 'Agent: address the admin port binds to (0.0.0.0 in a pod, so kubelet probes and Prometheus reach it). Empty = --host.',
    schema: z.string().default(''),
    defaultText: '(--host)',
  },
  'ingest-endpoint': {
    name: 'ingest-endpoint',
    description:
      'Agent: OTLP/gRPC endpoint spans are forwarded to — the ingester Service in a cluster, any Skein ingester or all-in-one elsewhere: host:port, http://host:port, or https://host:port for TLS.',
    schema: z.string().min(1).default('skein-ingester:4317'),
    defaultText: 'skein-ingester:4317',
  },
  'ingest-compression': {
    name: 'ingest-compression',
    description: 'Agent: compression of exports to the ingest endpoint: gzip or none.',
    schema: z.enum(['gzip', 'none']).default('gzip'),
    defaultText: 'gzip',
  },
  'ingest-timeout-ms': {
    name: 'ingest-timeout-ms',
    description: 'Agent: deadline of one export call; a call past it counts as a retryable failure.',
    schema: z.coerce.number().int().min(1).default(10_000),
    defaultText: '10000',
  },
  tenant: {
    name: 'tenant',
    description: "Agent: X-Scope-OrgID sent with every export (the pod's tenant). Empty = pass on the tenant the app sent, if any.",
    schema: z.string().regex(/^[A-Za-z0-9!_.*'()-]{1,150}$|^$/, "expected 1-150 characters of A-Z a-z 0-9 ! _ . * ' ( ) -").default(''),
    defaultText: '(the app\'s)',
  },
  'agent-config': {
    name: 'agent-config',
    description: 'Agent: JSON file with the sampling, scrubbing, retry and headSampler sections (README "Agent"), or that JSON itself when it starts with "{" (how injected sidecars get it); a file\'s sampling and scrubbing are re-read on SIGHUP. Empty = defaults (keep every span, built-in scrub rules).',
    schema: z.string().default(''),
    defaultText: '(none)',
  },
  'jaeger-sampling-port': {
    name: 'jaeger-sampling-port',
    description: 'Agent: Jaeger remote-sampling port (GET /sampling?service=) on --host; 0 turns it off.',
    schema: port.default(5778),
    defaultText: '5778',
  },
  'queue-max-bytes': {
    name: 'queue-max-bytes',
    description: 'Agent: memory bound of the export queue; when full, new spans are dropped and counted (the app is never made to wait).',
    schema: bytes.default(32 * 1024 * 1024),
    defaultText: '32MiB',
  },
  'batch-max-bytes': { name: 'batch-max-bytes', description: 'Agent: export batch size, bytes (before gzip).', schema: bytes.default(512 * 1024), defaultText: '512KiB' },
  'batch-max-spans': { name: 'batch-max-spans', description: 'Agent: export batch size, spans.', schema: z.coerce.number().int().min(1).default(8192), defaultText: '8192' },
  'batch-max-delay-ms': {
    name: 'batch-max-delay-ms',
    description: 'Agent: longest a span waits for its batch to fill before the batch is sent anyway.',
    schema: z.coerce.number().int().min(0).default(1000),
    defaultText: '1000',
  },
  'cluster-policy-interval-ms': {
    name: 'cluster-policy-interval-ms',
    description: 'Agent: how often to ask the ingest endpoint for the cluster\'s sampling and scrubbing (spec.agent of its TracingCluster), which then replace the local ones. 0 = never: local configuration only.',
    schema: z.coerce.number().int().min(0).default(30_000),
    defaultText: '30000',
  },
  'export-concurrency': {
    name: 'export-concurrency',
    description: 'Agent: most batches being exported (or waiting to be retried) at once.',
    schema: z.coerce.number().int().min(1).max(64).default(4),
    defaultText: '4',
  },
  'lease-ttl-seconds': {
    name: 'lease-ttl-seconds',
    description: 'TTL of the lease that holds ownership: an ingester\'s shards (an owner stops acknowledging before it passes), a controller\'s or operator\'s leadership. Failover takes about this long.',
    schema: z.coerce.number().int().min(1).max(300).default(10),
    defaultText: '10',
  },
  'forward-timeout-ms': {
    name: 'forward-timeout-ms',
    description: 'How long a write may wait for a shard owner (forwarding retries, failover) before the client gets UNAVAILABLE.',
    schema: z.coerce.number().int().min(100).default(5000),
    defaultText: '5000',
  },
  'query-timeout-ms': {
    name: 'query-timeout-ms',
    description: 'Deadline of one query fan-out to the members; members that miss it make the answer partial.',
    schema: z.coerce.number().int().min(100).default(10_000),
    defaultText: '10000',
  },
  'max-concurrent-handoffs': {
    name: 'max-concurrent-handoffs',
    description: 'Controller: most graceful handoffs (rebalance moves) in progress at once.',
    schema: z.coerce.number().int().min(1).default(1),
    defaultText: '1',
  },
  'rebalance-interval-ms': {
    name: 'rebalance-interval-ms',
    description: 'Controller: least time between two rebalance rounds.',
    schema: z.coerce.number().int().min(0).default(1000),
    defaultText: '1000',
  },
  kubeconfig: {
    name: 'kubeconfig',
    description: 'Operator: kubeconfig file of the cluster to manage. Empty = $KUBECONFIG, else the in-cluster service account.',
    schema: z.string().default(''),
    defaultText: '($KUBECONFIG or in-cluster)',
  },
  'watch-namespace': {
    name: 'watch-namespace',
    description: 'Operator: comma-separated namespaces whose TracingClusters it manages. Empty = every namespace.',
    schema: z
      .string()
      .default('')
      .transform((v) => v.split(',').map((n) => n.trim()).filter((n) => n !== ''))
      .refine((list) => list.every((n) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n)), 'expected namespace names like default,tracing'),
    defaultText: '(all)',
  },
  'lease-namespace': {
    name: 'lease-namespace',
    description: 'Operator: namespace of the coordination.k8s.io Lease the operator replicas elect their leader with (the operator\'s own namespace).',
    schema: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a namespace name').default('default'),
    defaultText: 'default',
  },
  'lease-name': {
    name: 'lease-name',
    description: 'Operator: name of that Lease (one per operator installation).',
    schema: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a DNS-1123 name').default('skein-operator'),
    defaultText: 'skein-operator',
  },
  'component-image': {
    name: 'component-image',
    description: 'Operator: image of the ingesters and queriers of a TracingCluster without spec.image (normally the operator\'s own image).',
    schema: z.string().min(1).default(`ghcr.io/skein-dev/skein:${APP_VERSION}`),
    defaultText: `ghcr.io/skein-dev/skein:${APP_VERSION}`,
  },
  'etcd-image': {
    name: 'etcd-image',
    description: 'Operator: image of the managed etcd members.',
    schema: z.string().min(1).default('quay.io/coreos/etcd:v3.6.16'),
    defaultText: 'quay.io/coreos/etcd:v3.6.16',
  },
  'webhook-port': {
    name: 'webhook-port',
    description: 'Operator: HTTPS port of the sidecar-injection admission webhook (every replica serves it). 0 = no injection.',
    schema: port.default(9443),
    defaultText: '9443',
  },
  'webhook-secret': {
    name: 'webhook-secret',
    description: 'Operator: Secret (in --lease-namespace) holding the webhook\'s own CA and serving certificate, created and rotated by the leader.',
    schema: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a DNS-1123 name').default('skein-operator-webhook-tls'),
    defaultText: 'skein-operator-webhook-tls',
  },
  'webhook-config-name': {
    name: 'webhook-config-name',
    description: 'Operator: name of the MutatingWebhookConfiguration it manages (cluster-scoped: one per installation).',
    schema: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a DNS-1123 name').default('skein-operator'),
    defaultText: 'skein-operator',
  },
  'webhook-service': {
    name: 'webhook-service',
    description: 'Operator: Service (in --lease-namespace, port 443) in front of the webhook port.',
    schema: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a DNS-1123 label').default('skein-operator-webhook'),
    defaultText: 'skein-operator-webhook',
  },
  'webhook-url': {
    name: 'webhook-url',
    description: 'Operator: URL the API server calls instead of the Service (an operator run outside the cluster, tests), e.g. https://127.0.0.1:9443/mutate.',
    schema: z.string().regex(/^$|^https:\/\/[^/\s]+\/\S*$/, 'expected an https:// URL with a path').default(''),
    defaultText: '(the Service)',
  },
  'webhook-certificate': {
    name: 'webhook-certificate',
    description: 'Operator: name of a cert-manager Certificate (in --lease-namespace) that writes --webhook-secret; cert-manager then rotates it and injects the caBundle. Empty = the operator runs its own CA (no cert-manager needed).',
    schema: z.string().regex(/^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a DNS-1123 name').default(''),
    defaultText: '(own CA)',
  },
  'webhook-timeout-seconds': {
    name: 'webhook-timeout-seconds',
    description: 'Operator: how long the API server waits for the webhook before admitting the pod without a sidecar (it fails open; such pods are reported).',
    schema: z.coerce.number().int().min(1).max(30).default(5),
    defaultText: '5',
  },
  'native-sidecars': {
    name: 'native-sidecars',
    description: 'Operator: inject the agent as a native sidecar (init container with restartPolicy Always): auto = when the API server is Kubernetes 1.29 or newer; true; false = a regular container.',
    schema: z.enum(['auto', 'true', 'false']).default('auto'),
    defaultText: 'auto',
  },
  'storage-backend': {
    name: 'storage-backend',
    description: 'Where blocks are stored: filesystem (--storage-dir; in a cluster a volume every ingester and querier mounts) or s3 (--s3-*; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the SDK\'s default chain).',
    schema: z.enum(['filesystem', 's3']).default('filesystem'),
    defaultText: 'filesystem',
  },
  'storage-dir': {
    name: 'storage-dir',
    description: 'Filesystem block storage directory. Empty = <data-dir>/blocks.',
    schema: z.string().default(''),
    defaultText: '(<data-dir>/blocks)',
  },
  's3-bucket': { name: 's3-bucket', description: 'S3 block storage: bucket (must exist).', schema: z.string().default(''), defaultText: '(none)' },
  's3-endpoint': {
    name: 's3-endpoint',
    description: 'S3 block storage: endpoint URL of an S3-compatible service (http://minio:9000). Empty = AWS S3 for --s3-region.',
    schema: z.string().regex(/^$|^https?:\/\/[^/\s]+$/, 'expected a URL without a path, like http://127.0.0.1:9000').default(''),
    defaultText: '(AWS)',
  },
  's3-region': { name: 's3-region', description: 'S3 block storage: region.', schema: z.string().min(1).default('us-east-1'), defaultText: 'us-east-1' },
  's3-prefix': {
    name: 's3-prefix',
    description: 'S3 block storage: key prefix for every object, so clusters can share a bucket.',
    schema: z.string().regex(/^$|^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'expected a relative path like skein/prod').default(''),
    defaultText: '(none)',
  },
  's3-force-path-style': {
    name: 's3-force-path-style',
    description: 'S3 block storage: address the bucket as endpoint/bucket (MinIO and most on-premises stores). Default: on when --s3-endpoint is set.',
    schema: z.enum(['auto', 'true', 'false']).default('auto'),
    defaultText: 'auto',
  },
  'cut-max-age-ms': {
    name: 'cut-max-age-ms',
    description: 'Cut a shard\'s head into a block once it is this old (ms). Shorter: less memory and replay time, more small blocks for compaction.',
    schema: z.coerce.number().int().min(1000).default(300_000),
    defaultText: '300000',
  },
  'cut-max-bytes': {
    name: 'cut-max-bytes',
    description: 'Cut a shard\'s head into a block once it holds this many bytes. 0 = half of the shard\'s share of --head-max-bytes.',
    schema: z.union([z.literal(0), z.literal('0'), bytes]).transform((v) => Number(v)).default(0),
    defaultText: '0',
  },
  'trace-idle-ms': {
    name: 'trace-idle-ms',
    description: 'A trace with no new span for this long goes into the next block; busier traces are carried into the new head (decided whole by tail sampling).',
    schema: z.coerce.number().int().min(0).default(10_000),
    defaultText: '10000',
  },
  'block-gc-grace-ms': {
    name: 'block-gc-grace-ms',
    description:
      'Ingesters delete the objects of compacted and expired blocks and of orphans (in the shards they own) this long after the block became invisible (ms). Must exceed the longest query plus a querier\'s manifest-watch lag and the clock skew between members: a query that listed a block while it was visible may still be reading it.',
    schema: z.coerce.number().int().min(1000).default(600_000),
    defaultText: '600000',
  },
  'upload-timeout-ms': {
    name: 'upload-timeout-ms',
    description:
      'A shard owner\'s own block upload that has not committed after this long (ms) is given up and its objects collected (a failed flush leaves one; the cut is retried under a new block id). Must exceed the slowest block build and write.',
    schema: z.coerce.number().int().min(1000).default(900_000),
    defaultText: '900000',
  },
  retention: {
    name: 'retention',
    description: 'Controller: how long spans are kept: blocks that ended longer ago are expired (and then deleted by the ingesters). Written to the cluster policy while the controller leads. Units d, h, m, s, ms (14d, 336h).',
    schema: duration(3_600_000, '1h').default(14 * 86_400_000),
    defaultText: '14d',
  },
  'compaction-enabled': {
    name: 'compaction-enabled',
    description: 'Controller: merge small blocks of the same shard and time window into larger ones (true or false).',
    schema: bool.default(true),
    defaultText: 'true',
  },
  'compaction-window': {
    name: 'compaction-window',
    description: 'Controller: blocks whose spans end within the same window of this length are merged together (5m to 24h).',
    schema: duration(5 * 60_000, '5m')
      .refine((ms) => ms <= 86_400_000, 'must be at most 24h')
      .default(3_600_000),
    defaultText: '1h',
  },
  'compaction-max-block-bytes': {
    name: 'compaction-max-block-bytes',
    description: 'Controller: largest block compaction writes (the sum of a job\'s inputs).',
    schema: bytes.default(4 * 1024 ** 3),
    defaultText: '4GiB',
  },
  'tail-keep-percent': {
    name: 'tail-keep-percent',
    description: 'Controller: tail sampling at the shard owners — share of traces kept (by trace ID) among those no keep rule below keeps.',
    schema: z.coerce.number().int().min(0).max(100).default(100),
    defaultText: '100',
  },
  'tail-keep-errors': {
    name: 'tail-keep-errors',
    description: 'Controller: tail sampling keeps every trace with a span whose status is error (true or false).',
    schema: bool.default(true),
    defaultText: 'true',
  },
  'tail-keep-slower-than-ms': {
    name: 'tail-keep-slower-than-ms',
    description: 'Controller: tail sampling keeps every trace with a span at least this long (ms). Empty = no latency rule.',
    schema: z
      .union([z.number(), z.string()])
      .default('')
      .transform((v, ctx) => {
        if (v === '') return undefined;
        const n = Number(v);
        if (!Number.isSafeInteger(n) || n < 0) {
          ctx.addIssue({ code: 'custom', message: `expected a whole number of milliseconds or nothing, got ${JSON.stringify(v)}` });
          return z.NEVER;
        }
        return n;
      }),
    defaultText: '(none)',
  },
  'lifecycle-interval-ms': {
    name: 'lifecycle-interval-ms',
    description: 'Controller: the lifecycle controller plans compaction and applies retention on every manifest change and at least this often.',
    schema: z.coerce.number().int().min(100).default(30_000),
    defaultText: '30000',
  },
  'log-level': {
    name: 'log-level',
    description: 'Log level: fatal, error, warn, info, debug, trace, silent.',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    defaultText: 'info',
  },
  'shutdown-timeout-ms': {
    name: 'shutdown-timeout-ms',
    description: 'Longest graceful shutdown on SIGTERM/SIGINT before exiting anyway.',
    schema: z.coerce.number().int().min(0).default(25_000),
    defaultText: '25000',
  },
} satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;
export type FlagValues<N extends FlagName> = { [K in N]: z.output<(typeof FLAGS)[K]['schema']> };

export function envName(flag: string): string {
  return 'SKEIN_' + flag.toUpperCase().replace(/-/g, '_');
}
