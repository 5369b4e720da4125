// common/log — the pino root logger factory and the Logger type.
export * from './log.js';
export * from './rate-limited.js';
