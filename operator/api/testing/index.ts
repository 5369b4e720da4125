// operator/api/testing — the one table of valid and invalid TracingCluster specs. The unit test feeds
// it to the runtime validator and e2e/operator-api.int.test.ts feeds it to a real apiserver with the
// generated CRD installed, so the two can only disagree by failing a test. Test-only (kept out of the
// build with every testing/ folder).
import { MAX_CLUSTER_NAME_LENGTH, type TracingClusterSpec, type TracingClusterSpecInput } from '../index.js';

export interface ValidSpecCase {
  readonly title: string;
  readonly spec: TracingClusterSpecInput;
  /** Fields of the defaulted spec worth asserting on beyond "equals the validator's output". */
  readonly expect?: (spec: TracingClusterSpec) => void;
}

export interface InvalidSpecCase {
  readonly title: string;
  /** Written as a user would (wrong types included), hence unknown. */
  readonly spec: unknown;
  /** metadata.name, when the case is about the name; default: a short per-case name. */
  readonly name?: string;
  /** The field path both the apiserver and the runtime validator report. */
  readonly field: string;
  /** The apiserver's message (its schema wording, or a CEL rule's message). */
  readonly apiserver: RegExp;
  /** The runtime validator's message at `field` (the same text as the apiserver's for a CEL rule). */
  readonly validator: RegExp;
}

export interface InvalidUpdateCase {
  readonly title: string;
  readonly from: TracingClusterSpecInput;
  readonly to: TracingClusterSpecInput;
  readonly field: string;
  readonly message: RegExp;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A CEL rule's message: both sides report exactly this text. */
const cel = (message: string): { apiserver: RegExp; validator: RegExp } => ({ apiserver: new RegExp(escape(message)), validator: new RegExp(`^${escape(message)}$`) });

const DURATION_FORMAT = 'must be a duration such as 72h, 90m or 1h30m (units h, m, s, ms)';
const S3 = { bucket: 'traces', endpoint: 'http://minio.minio:9000', forcePathStyle: true, secretRef: { name: 'skein-s3' } };

export const VALID_SPECS: readonly ValidSpecCase[] = [
  {
    title: 'an empty spec is a working cluster: every default filled',
    spec: {},
    expect: (s) => {
      if (s.shards !== 6 || s.ingester.replicas !== 3 || s.querier.replicas !== 2) throw new Error('replica defaults');
      if (s.storage.filesystem?.size !== '50Gi' || s.storage.s3 !== undefined) throw new Error('storage defaults to filesystem');
      if (s.etcd.managed?.replicas !== 3 || s.etcd.external !== undefined) throw new Error('etcd defaults to managed');
      if (s.ingester.wal.size !== '10Gi' || s.ingester.wal.fsync !== 'batch' || s.ingester.wal.fsyncMaxDelay !== '5ms') throw new Error('wal defaults');
      if (s.retention.traces !== '72h' || !s.compaction.enabled || s.sampling.keepPercent !== 100) throw new Error('lifecycle defaults');
    },
  },
  {
    title: 'S3 with a secret and external etcd; nested defaults still apply',
    spec: { shards: 64, storage: { s3: { ...S3, prefix: 'prod/eu-1' } }, etcd: { external: { endpoints: ['https://etcd-0.etcd:2379', 'https://etcd-1.etcd:2379'], tlsSecretRef: { name: 'etcd-client' } } } },
    expect: (s) => {
      if (s.storage.s3?.secretRef.accessKeyIdKey !== 'AWS_ACCESS_KEY_ID' || s.storage.filesystem !== undefined) throw new Error('s3 defaults');
      if (s.etcd.managed !== undefined) throw new Error('no managed etcd when external is set');
    },
  },
  {
    title: 'agent sampling by service and operation, scrub rules, a queue bound',
    spec: {
      agent: {
        queueMaxBytes: '64Mi',
        resources: { limits: { memory: '256Mi' } },
        sampling: { probability: 0.25, services: [{ name: 'checkout', probability: 1, operations: [{ name: 'GET /health', probability: 0 }] }, { name: 'search', maxTracesPerSecond: 50 }] },
        scrubbing: { disableBuiltins: ['credit-card'], rules: [{ name: 'session-ids', key: '^session\\.id$', action: 'drop' }, { name: 'emails', value: '[^@\\s]+@[^@\\s]+', ignoreCase: true, action: 'redact' }] },
      },
    },
    expect: (s) => {
      if (s.agent.sampling.probability !== 0.25 || s.agent.scrubbing.rules?.[0]?.ignoreCase !== false) throw new Error('agent defaults');
    },
  },
  {
    title: 'shard bounds 1 and 4096',
    spec: { shards: 1 },
  },
  {
    title: 'the largest shard count',
    spec: { shards: 4096, ingester: { replicas: 64 } },
  },
  {
    title: 'quantities as integers and strings, resources with requests within limits',
    spec: {
      ingester: {
        resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: 1, memory: '1Gi' } },
        wal: { size: 1073741824, storageClassName: 'fast-ssd', fsync: 'always' },
      },
      querier: { replicas: 1, resources: { requests: { cpu: '250m' } } },
      etcd: { managed: { replicas: 5, size: '8Gi', resources: { limits: { memory: '2Gi' } } } },
    },
  },
  {
    title: 'compound durations, the minimum retention and sampling that keeps only slow traces',
    spec: { retention: { traces: '1h' }, compaction: { window: '30m' }, sampling: { keepPercent: 0, keepErrors: false, keepSlowerThan: '1500ms' }, ingester: { wal: { fsync: 'none', fsyncMaxDelay: '1s' } } },
  },
  {
    title: 'compaction off lifts the window-below-retention rule',
    spec: { retention: { traces: '1h' }, compaction: { enabled: false, window: '2h' } },
  },
];

export const INVALID_SPECS: readonly InvalidSpecCase[] = [
  { title: 'zero shards', spec: { shards: 0 }, field: 'spec.shards', apiserver: /should be greater than or equal to 1/, validator: />=1/ },
  { title: 'huge shard count', spec: { shards: 100_000 }, field: 'spec.shards', apiserver: /should be less than or equal to 4096/, validator: /<=4096/ },
  { title: 'fractional shards', spec: { shards: 2.5 }, field: 'spec.shards', apiserver: /must be of type integer/, validator: /expected int/ },
  { title: 'shards as a string', spec: { shards: '8' }, field: 'spec.shards', apiserver: /must be of type integer/, validator: /expected number/ },
  { title: 'retention below 1h', spec: { retention: { traces: '30m' } }, field: 'spec.retention.traces', ...cel('must be at least 1h') },
  { title: 'retention in days', spec: { retention: { traces: '7d' } }, field: 'spec.retention.traces', ...cel(DURATION_FORMAT) },
  { title: 'retention not a duration', spec: { retention: { traces: 'forever' } }, field: 'spec.retention.traces', ...cel(DURATION_FORMAT) },
  { title: 'a fractional duration', spec: { sampling: { keepSlowerThan: '1.5s' } }, field: 'spec.sampling.keepSlowerThan', ...cel(DURATION_FORMAT) },
  { title: 'no ingesters', spec: { ingester: { replicas: 0 } }, field: 'spec.ingester.replicas', apiserver: /should be greater than or equal to 1/, validator: />=1/ },
  { title: 'unknown fsync policy', spec: { ingester: { wal: { fsync: 'sometimes' } } }, field: 'spec.ingester.wal.fsync', apiserver: /Unsupported value: "sometimes": supported values: "always", "batch", "none"/, validator: /"always"\|"batch"\|"none"/ },
  { title: 'fsync delay above 1s', spec: { ingester: { wal: { fsyncMaxDelay: '2s' } } }, field: 'spec.ingester.wal.fsyncMaxDelay', ...cel('must be at most 1s') },
  { title: 'zero WAL size', spec: { ingester: { wal: { size: '0Gi' } } }, field: 'spec.ingester.wal.size', ...cel('must be a positive quantity such as 10Gi') },
  { title: 'WAL size not a quantity', spec: { ingester: { wal: { size: '10 gigs' } } }, field: 'spec.ingester.wal.size', apiserver: /should match/, validator: /must be a quantity such as 10Gi/ },
  {
    title: 'a request above its limit',
    spec: { querier: { resources: { requests: { memory: '2Gi' }, limits: { memory: '1Gi' } } } },
    field: 'spec.querier.resources',
    ...cel('every request must be less than or equal to its limit'),
  },
  { title: 'both storage backends', spec: { storage: { filesystem: {}, s3: S3 } }, field: 'spec.storage', ...cel('exactly one of filesystem or s3 must be set') },
  { title: 'no storage backend', spec: { storage: {} }, field: 'spec.storage', ...cel('exactly one of filesystem or s3 must be set') },
  { title: 'S3 without a secret', spec: { storage: { s3: { bucket: 'traces' } } }, field: 'spec.storage.s3.secretRef', apiserver: /Required value/, validator: /expected object, received undefined/ },
  { title: 'S3 secret without a name', spec: { storage: { s3: { bucket: 'traces', secretRef: {} } } }, field: 'spec.storage.s3.secretRef.name', apiserver: /Required value/, validator: /expected string, received undefined/ },
  { title: 'S3 bucket name with capitals', spec: { storage: { s3: { ...S3, bucket: 'My_Traces' } } }, field: 'spec.storage.s3.bucket', apiserver: /should match/, validator: /must be an S3 bucket name/ },
  { title: 'S3 endpoint without a scheme', spec: { storage: { s3: { ...S3, endpoint: 'minio:9000' } } }, field: 'spec.storage.s3.endpoint', apiserver: /should match/, validator: /must be a URL without a path/ },
  { title: 'managed and external etcd', spec: { etcd: { managed: {}, external: { endpoints: ['http://etcd:2379'] } } }, field: 'spec.etcd', ...cel('exactly one of managed or external must be set') },
  { title: 'external etcd without endpoints', spec: { etcd: { external: { endpoints: [] } } }, field: 'spec.etcd.external.endpoints', apiserver: /should have at least 1 items/, validator: />=1 items/ },
  { title: 'external etcd endpoint without a scheme', spec: { etcd: { external: { endpoints: ['etcd:2379'] } } }, field: 'spec.etcd.external.endpoints[0]', apiserver: /should match/, validator: /must be a client URL/ },
  {
    title: 'the same etcd endpoint twice',
    spec: { etcd: { external: { endpoints: ['http://etcd:2379', 'http://etcd:2379'] } } },
    field: 'spec.etcd.external.endpoints[1]',
    apiserver: /Duplicate value: "http:\/\/etcd:2379"/,
    validator: /duplicate endpoint "http:\/\/etcd:2379"/,
  },
  {
    title: 'an even etcd member count',
    spec: { etcd: { managed: { replicas: 4 } } },
    field: 'spec.etcd.managed.replicas',
    ...cel('must be odd (1, 3, 5 or 7): an even member count tolerates no more failures than one fewer'),
  },
  { title: 'too many etcd members', spec: { etcd: { managed: { replicas: 9 } } }, field: 'spec.etcd.managed.replicas', apiserver: /should be less than or equal to 7/, validator: /<=7/ },
  {
    title: 'compaction window not below retention',
    spec: { retention: { traces: '2h' }, compaction: { window: '2h' } },
    field: 'spec.compaction.window',
    ...cel('compaction.window must be shorter than retention.traces'),
  },
  { title: 'compaction window over 24h', spec: { compaction: { window: '48h' } }, field: 'spec.compaction.window', ...cel('must be at most 24h') },
  { title: 'compaction window under 5m', spec: { compaction: { window: '1m' } }, field: 'spec.compaction.window', ...cel('must be at least 5m') },
  {
    title: 'sampling that keeps nothing',
    spec: { sampling: { keepPercent: 0, keepErrors: false } },
    field: 'spec.sampling',
    ...cel('keeps no traces: set keepPercent above 0, keepErrors, or keepSlowerThan'),
  },
  {
    title: 'a scrub rule with neither key nor value',
    spec: { agent: { scrubbing: { rules: [{ name: 'nothing', action: 'drop' }] } } },
    field: 'spec.agent.scrubbing.rules[0]',
    ...cel('a rule needs a key or a value pattern (or both)'),
  },
  { title: 'an agent sampling probability above 1', spec: { agent: { sampling: { probability: 1.5 } } }, field: 'spec.agent.sampling.probability', apiserver: /should be less than or equal to 1/, validator: /<=1/ },
  { title: 'sampling above 100%', spec: { sampling: { keepPercent: 101 } }, field: 'spec.sampling.keepPercent', apiserver: /should be less than or equal to 100/, validator: /<=100/ },
  { title: 'an empty image', spec: { image: '' }, field: 'spec.image', apiserver: /should be at least 1 chars long/, validator: />=1 characters/ },
  {
    title: 'a name too long for the derived object names',
    name: 'x'.repeat(MAX_CLUSTER_NAME_LENGTH + 1),
    spec: {},
    field: 'metadata.name',
    ...cel(`metadata.name must be at most ${MAX_CLUSTER_NAME_LENGTH} characters: the names of the StatefulSets, Services and volume claims of the cluster are derived from it`),
  },
];

export const INVALID_UPDATES: readonly InvalidUpdateCase[] = [
  {
    title: 'filesystem → s3',
    from: {},
    to: { storage: { s3: S3 } },
    field: 'spec.storage',
    message: /cannot switch between filesystem and s3 storage/,
  },
  {
    title: 'managed → external etcd',
    from: {},
    to: { etcd: { external: { endpoints: ['http://etcd:2379'] } } },
    field: 'spec.etcd',
    message: /cannot switch between managed and external etcd/,
  },
];
