// common/config — process flags: one table (FLAGS) → parser, zod validation, env vars and --help.
export { FLAGS, envName, parseBytes, type FlagName, type FlagValues, type FlagSpec } from './flags.js';
export { loadConfig, formatHelp, type LoadResult } from './load.js';
export { APP_VERSION } from './version.js';
