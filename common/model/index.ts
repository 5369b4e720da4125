// common/model — span and trace types (OTLP is the canonical model), ID helpers, and the query
// backend contract shared by ingesters (which answer) and queriers (which ask). Pure.
export * from './span.js';
export * from './query.js';
export * from './ids.js';
export * from './tenant.js';
