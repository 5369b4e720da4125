// The ports of every Skein process and of etcd as the pods expose them. The Skein values are the
// flag defaults in common/config/flags.ts, which the pods never override, so a Service, a probe and
// the process agree without passing ports through the ConfigMap.
export const PORTS = {
  otlpGrpc: 4317,
  otlpHttp: 4318,
  internal: 9095,
  admin: 9096,
  tempo: 3200,
  jaeger: 16686,
  etcdClient: 2379,
  etcdPeer: 2380,
} as const;

/** Container port names (≤ 15 characters, IANA_SVC_NAME): Services target ports by these names. */
export const PORT_NAMES = {
  otlpGrpc: 'otlp-grpc',
  otlpHttp: 'otlp-http',
  internal: 'grpc-internal',
  admin: 'http-admin',
  tempo: 'http-tempo',
  jaeger: 'http-jaeger',
  etcdClient: 'client',
  etcdPeer: 'peer',
} as const;
