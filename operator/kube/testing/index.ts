// operator/kube/testing — the test-only face of operator/kube: the KubeClient conformance suite
// (imports vitest), for e2e/kube-client.int.test.ts. Kept out of the build with every testing/ folder
// and out of operator/kube/index.ts so production code never loads vitest.
export { describeKubeClientConformance, type KubeClientConformanceContext } from '../conformance.js';
