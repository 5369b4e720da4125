// The Services of a cluster. Every port targets a container port by name, so a port can move in the
// pod without touching the Service.
import type { KubeObject } from './kube-types.js';
import { selectorLabels, type Component } from './labels.js';
import { resourceNames } from './naming.js';
import { buildObjectMeta } from './object-meta.js';
import type { BuildParams } from './params.js';
import { PORT_NAMES, PORTS } from './ports.js';

interface ServicePort {
  readonly name: string;
  readonly port: number;
  readonly targetPort: string;
  readonly appProtocol?: string;
}

type Kind = 'clusterIP' | 'headless' | 'peers';

function buildService(params: BuildParams, name: string, component: Component, kind: Kind, ports: readonly ServicePort[]): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: buildObjectMeta(params, name, component),
    spec: {
      type: 'ClusterIP',
      ...(kind === 'clusterIP' ? {} : { clusterIP: 'None' }),
      // Peers must resolve each other before they are ready: ingesters join by forwarding to one
      // another and etcd members cannot become ready until they have formed quorum.
      ...(kind === 'peers' ? { publishNotReadyAddresses: true } : {}),
      selector: selectorLabels(params.cluster.name, component),
      ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: 'TCP', ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }) })),
    },
  };
}

/** Ingester, querier and (when managed) etcd Services, in apply order. */
export function buildServices(params: BuildParams): KubeObject[] {
  const names = resourceNames(params.cluster.name);
  const queryPorts: ServicePort[] = [
    { name: PORT_NAMES.tempo, port: PORTS.tempo, targetPort: PORT_NAMES.tempo, appProtocol: 'http' },
    { name: PORT_NAMES.jaeger, port: PORTS.jaeger, targetPort: PORT_NAMES.jaeger, appProtocol: 'http' },
  ];
  const services = [
    buildService(params, names.ingesterHeadless, 'ingester', 'peers', [
      { name: PORT_NAMES.internal, port: PORTS.internal, targetPort: PORT_NAMES.internal, appProtocol: 'grpc' },
    ]),
    buildService(params, names.ingest, 'ingester', 'clusterIP', [
      { name: 'grpc-otlp', port: PORTS.otlpGrpc, targetPort: PORT_NAMES.otlpGrpc, appProtocol: 'grpc' },
      { name: 'http-otlp', port: PORTS.otlpHttp, targetPort: PORT_NAMES.otlpHttp, appProtocol: 'http' },
    ]),
    buildService(params, names.querierService, 'querier', 'clusterIP', queryPorts),
    buildService(params, names.querierHeadless, 'querier', 'headless', queryPorts),
  ];
  if (params.cluster.spec.etcd.managed !== undefined) {
    services.push(
      buildService(params, names.etcdHeadless, 'etcd', 'peers', [
        { name: PORT_NAMES.etcdClient, port: PORTS.etcdClient, targetPort: PORT_NAMES.etcdClient },
        { name: PORT_NAMES.etcdPeer, port: PORTS.etcdPeer, targetPort: PORT_NAMES.etcdPeer },
      ]),
      buildService(params, names.etcdClient, 'etcd', 'clusterIP', [{ name: PORT_NAMES.etcdClient, port: PORTS.etcdClient, targetPort: PORT_NAMES.etcdClient }]),
    );
  }
  return services;
}
