// common/proc — start a child process and wait for its structured ready log line (tests, benchmarks).
export { startChild, type StartedChild } from './child.js';
