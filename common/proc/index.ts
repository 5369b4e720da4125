// common/proc — start child processes: a Skein process waiting for its structured ready log line,
// and a real etcd (tests, benchmarks, `skein local-cluster`).
export { startChild, type StartedChild } from './child.js';
export { startEtcd, type EtcdServer, type StartEtcdOptions } from './etcd.js';
export { startLocalCluster, FIXED_PORTS, type LocalCluster, type LocalClusterOptions, type ClusterProcess } from './local-cluster.js';
export { freePort, startBlackHole, type BlackHole } from './ports.js';
