import { describe, expect, it } from 'vitest';
import { MAX_CLUSTER_NAME_LENGTH } from '../api/index.js';
import { clusterEndpoints, managedEtcdEndpoints, resourceNames } from './index.js';

describe('resourceNames', () => {
  it('derives every object name from the cluster name', () => {
    expect(resourceNames('traces')).toEqual({
      config: 'traces-config',
      ingester: 'traces-ingester',
      ingesterHeadless: 'traces-ingester-headless',
      ingest: 'traces-ingest',
      querier: 'traces-querier',
      querierService: 'traces-querier',
      querierHeadless: 'traces-querier-headless',
      etcd: 'traces-etcd',
      etcdHeadless: 'traces-etcd-headless',
      etcdClient: 'traces-etcd-client',
      ingesterPdb: 'traces-ingester',
      querierPdb: 'traces-querier',
      etcdPdb: 'traces-etcd',
      blocks: 'traces-blocks',
    });
  });

  it.each([1, 20, MAX_CLUSTER_NAME_LENGTH])('keeps every name a DNS label for a %i-character cluster name', (length) => {
    for (const [key, name] of Object.entries(resourceNames('x'.repeat(length)))) {
      expect(name.length, key).toBeLessThanOrEqual(63);
      expect(name, key).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });
});

describe('endpoints', () => {
  it.each([
    { name: 'traces', namespace: 'observability', otlpGrpc: 'traces-ingest.observability.svc:4317', otlpHttp: 'http://traces-ingest.observability.svc:4318', query: 'http://traces-querier.observability.svc:3200' },
    { name: 'a', namespace: 'default', otlpGrpc: 'a-ingest.default.svc:4317', otlpHttp: 'http://a-ingest.default.svc:4318', query: 'http://a-querier.default.svc:3200' },
  ])('clusterEndpoints($name, $namespace)', ({ name, namespace, ...expected }) => {
    expect(clusterEndpoints(name, namespace)).toEqual(expected);
  });

  it('points a managed etcd client at the client Service', () => {
    expect(managedEtcdEndpoints('traces', 'observability')).toEqual(['http://traces-etcd-client.observability.svc:2379']);
  });
});
