// querier/http — the query HTTP APIs as fastify apps built by pure factories (no listen here):
// a Grafana Tempo-compatible API (port 3200) and a Jaeger query-service-compatible API (port
// 16686), both over the QueryBackend contract of common/model. Compatibility decisions are in
// README.md beside this file.
export { type QueryApiDeps } from './app-common.js';
export { buildTempoApp } from './tempo-app.js';
export { buildJaegerApp } from './jaeger-app.js';
