// e2e/harness — starts real Skein processes for integration suites and stops them by PID.
export { startSkein, makeDataDir, SKEIN_BIN, type RunningSkein } from './all-in-one.js';
export { makeSpan, makeRequest, makeBatch, str, int, val } from './spans.js';
export { grpcExport, EXPORT_PATH } from './grpc.js';
export { startTestCluster, startLoad, waitFor, waitSettled, missingSpans, ownershipOf, type TestCluster, type OwnershipDebug } from './cluster.js';
