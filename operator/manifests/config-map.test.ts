import { describe, expect, it } from 'vitest';
import { BLOCK_STORAGE_FLAGS } from '../../cli/block-storage.js';
import { INGESTER_FLAGS } from '../../cli/ingester.js';
import { QUERIER_FLAGS } from '../../cli/querier.js';
import { envName, FLAGS, type FlagName } from '../../common/config/index.js';
import type { TracingClusterSpecInput } from '../api/index.js';
import type { KubeObject } from './kube-types.js';
import { buildAll, computeConfigChecksum, computeConfigData } from './index.js';
import { paramsFor } from './testing/index.js';

const flagOfEnv = new Map(Object.keys(FLAGS).map((f) => [envName(f), f as FlagName]));
// The storage flags count as read through openBlockStorage (cli/block-storage.ts), which every
// process that touches blocks calls with BLOCK_STORAGE_FLAGS.
const READ_BY_SOME_PROCESS = new Set<FlagName>([...INGESTER_FLAGS, ...QUERIER_FLAGS, ...BLOCK_STORAGE_FLAGS]);

describe('computeConfigData', () => {
  it.each([
    {
      title: 'defaults: managed etcd',
      spec: {},
      data: {
        SKEIN_CLUSTER: 'traces',
        SKEIN_ETCD_ENDPOINTS: 'http://traces-etcd-client.observability.svc:2379',
        SKEIN_FSYNC: 'batch',
        SKEIN_FSYNC_DELAY_MS: '5',
        SKEIN_LOG_LEVEL: 'info',
        SKEIN_NAMESPACE: 'observability',
        SKEIN_STORAGE_BACKEND: 'filesystem',
        SKEIN_STORAGE_DIR: '/var/lib/skein/blocks',
      },
    },
    {
      title: 'external etcd, fsync always, 1s delay',
      spec: { etcd: { external: { endpoints: ['https://e1:2379', 'https://e2:2379'] } }, ingester: { wal: { fsync: 'always', fsyncMaxDelay: '1s' } } },
      data: {
        SKEIN_CLUSTER: 'traces',
        SKEIN_ETCD_ENDPOINTS: 'https://e1:2379,https://e2:2379',
        SKEIN_FSYNC: 'always',
        SKEIN_FSYNC_DELAY_MS: '1000',
        SKEIN_LOG_LEVEL: 'info',
        SKEIN_NAMESPACE: 'observability',
        SKEIN_STORAGE_BACKEND: 'filesystem',
        SKEIN_STORAGE_DIR: '/var/lib/skein/blocks',
      },
    },
    {
      title: 'policy fields stay out (policy goes to etcd); s3 flags in, credentials out',
      spec: { retention: { traces: '24h' }, compaction: { window: '30m' }, sampling: { keepPercent: 10 }, storage: { s3: { bucket: 'b-1', secretRef: { name: 's' } } }, ingester: { wal: { fsync: 'none' } } },
      data: {
        SKEIN_CLUSTER: 'traces',
        SKEIN_ETCD_ENDPOINTS: 'http://traces-etcd-client.observability.svc:2379',
        SKEIN_FSYNC: 'none',
        SKEIN_FSYNC_DELAY_MS: '5',
        SKEIN_LOG_LEVEL: 'info',
        SKEIN_NAMESPACE: 'observability',
        SKEIN_S3_BUCKET: 'b-1',
        SKEIN_S3_FORCE_PATH_STYLE: 'false',
        SKEIN_STORAGE_BACKEND: 's3',
      },
    },
  ] satisfies { title: string; spec: TracingClusterSpecInput; data: Record<string, string> }[])('$title', ({ spec, data }) => {
    const actual = computeConfigData(paramsFor(spec));
    expect(actual).toEqual(data);
    expect(Object.keys(actual)).toEqual(Object.keys(actual).sort());
  });
});

describe('the env the pods get', () => {
  const cases: { title: string; spec: TracingClusterSpecInput }[] = [
    { title: 'defaults', spec: {} },
    { title: 'external etcd', spec: { etcd: { external: { endpoints: ['https://e1:2379'] } }, ingester: { wal: { fsync: 'always', fsyncMaxDelay: '1s' } } } },
    { title: 'filesystem storage on a class', spec: { storage: { filesystem: { size: '1Ti', storageClassName: 'nfs' } } } },
    {
      title: 's3 with every field',
      spec: { storage: { s3: { bucket: 'traces', endpoint: 'https://s3.eu-west-1.amazonaws.com', region: 'eu-west-1', prefix: 'a/b', forcePathStyle: true, secretRef: { name: 's3' } } } },
    },
  ];
  it.each(cases)('$title: every SKEIN_* value is a flag a process reads, and its schema accepts the value', ({ spec }) => {
    const objects = buildAll(paramsFor(spec));
    const env: [string, string][] = Object.entries((objects.find((o) => o.kind === 'ConfigMap')!['data'] ?? {}) as Record<string, string>);
    const ingester = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'traces-ingester') as KubeObject;
    for (const e of (ingester['spec'] as any).template.spec.containers[0].env as { name: string; value?: string }[]) {
      // The kubelet expands $(POD_NAME) to the pod's name.
      if (e.name.startsWith('SKEIN_')) env.push([e.name, e.value!.replaceAll('$(POD_NAME)', 'traces-ingester-0')]);
    }
    for (const [key, value] of env) {
      const flag = flagOfEnv.get(key);
      expect(flag, key).toBeDefined();
      expect(READ_BY_SOME_PROCESS.has(flag!), key).toBe(true);
      expect(FLAGS[flag!].schema.safeParse(value).success, `${key}=${value}`).toBe(true);
    }
  });
});

describe('computeConfigChecksum', () => {
  it('depends on the content, not on key order', () => {
    const a = computeConfigChecksum({ A: '1', B: '2' });
    expect(computeConfigChecksum({ B: '2', A: '1' })).toBe(a);
    expect(computeConfigChecksum({ A: '1', B: '3' })).not.toBe(a);
    expect(computeConfigChecksum({ A: '12', B: '' })).not.toBe(computeConfigChecksum({ A: '1', B: '2' }));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });
});
