// ingester/router — validates the spans of an export request and groups the valid ones by shard.
// Pure: forwarding to remote owners (the sharded-cluster issue) builds on this grouping.
export { createRouter, type Router, type RouterOptions, type RouteResult } from './route.js';
