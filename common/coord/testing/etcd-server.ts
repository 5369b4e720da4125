// Tests start etcd through common/proc (shared with `skein local-cluster`); this path stays so the
// suites' imports read as test harness imports.
export { startEtcd, type EtcdServer } from '../../proc/index.js';
