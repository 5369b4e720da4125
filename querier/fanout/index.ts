// querier/fanout — one deadline-aware, cancellable fan-out helper: call every target at once (or
// with bounded concurrency), give each call a signal that aborts at the deadline or when the caller
// gives up, and report per target what answered and what did not. Knows nothing about queries.
export { fanOut, type FanOutOptions, type FanOutResult } from './fan-out.js';
