// Every name of an object owned by a TracingCluster, derived from the cluster's name here and
// nowhere else (STYLE.md rule 3): the builders, the controller's pruning and the status endpoints
// must agree, and a rename is an object recreate. The longest results fit MAX_CLUSTER_NAME_LENGTH's
// budget (naming.test.ts holds them to 63 characters).
import { PORTS } from './ports.js';

export interface ResourceNames {
  /** ConfigMap with the SKEIN_* env shared by ingesters and queriers. */
  readonly config: string;
  /** Ingester StatefulSet (its pods are `<ingester>-<ordinal>`). */
  readonly ingester: string;
  /** Governing headless Service of the ingesters: stable per-pod DNS for forwarding between members. */
  readonly ingesterHeadless: string;
  /** ClusterIP Service applications and agents send OTLP to. */
  readonly ingest: string;
  readonly querier: string;
  /** ClusterIP Service of the query APIs (same name as the querier StatefulSet). */
  readonly querierService: string;
  readonly querierHeadless: string;
  /** Managed etcd StatefulSet. */
  readonly etcd: string;
  /** Peer Service of the etcd members (publishes not-ready addresses so members find each other before quorum). */
  readonly etcdHeadless: string;
  readonly etcdClient: string;
  readonly ingesterPdb: string;
  readonly querierPdb: string;
  readonly etcdPdb: string;
  /** The ReadWriteMany volume claim of filesystem block storage, mounted by every ingester and querier. */
  readonly blocks: string;
}

export function resourceNames(clusterName: string): ResourceNames {
  return {
    config: `${clusterName}-config`,
    ingester: `${clusterName}-ingester`,
    ingesterHeadless: `${clusterName}-ingester-headless`,
    ingest: `${clusterName}-ingest`,
    querier: `${clusterName}-querier`,
    querierService: `${clusterName}-querier`,
    querierHeadless: `${clusterName}-querier-headless`,
    etcd: `${clusterName}-etcd`,
    etcdHeadless: `${clusterName}-etcd-headless`,
    etcdClient: `${clusterName}-etcd-client`,
    ingesterPdb: `${clusterName}-ingester`,
    querierPdb: `${clusterName}-querier`,
    etcdPdb: `${clusterName}-etcd`,
    blocks: `${clusterName}-blocks`,
  };
}

export interface ClusterEndpoints {
  /** OTLP/gRPC receiver, host:port (what OTLP exporters take). */
  readonly otlpGrpc: string;
  readonly otlpHttp: string;
  /** Tempo-compatible query API. */
  readonly query: string;
}

/** In-cluster addresses of the cluster's Services, as status.endpoints reports them. */
export function clusterEndpoints(clusterName: string, namespace: string): ClusterEndpoints {
  const names = resourceNames(clusterName);
  return {
    otlpGrpc: `${names.ingest}.${namespace}.svc:${PORTS.otlpGrpc}`,
    otlpHttp: `http://${names.ingest}.${namespace}.svc:${PORTS.otlpHttp}`,
    query: `http://${names.querierService}.${namespace}.svc:${PORTS.tempo}`,
  };
}

/** Client URLs of a managed etcd: one Service in front of every ready member. */
export function managedEtcdEndpoints(clusterName: string, namespace: string): string[] {
  return [`http://${resourceNames(clusterName).etcdClient}.${namespace}.svc:${PORTS.etcdClient}`];
}

/** DNS name of a StatefulSet pod through its governing headless Service. */
export function podHostname(pod: string, headlessService: string, namespace: string): string {
  return `${pod}.${headlessService}.${namespace}.svc`;
}
