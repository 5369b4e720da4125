// common/metrics — prom-client registry helpers; one registry per process, passed down.
export * from './metrics.js';
