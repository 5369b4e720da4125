// One pino root per process; components take child loggers. Library code does not log — it
// returns errors or emits events — so only composition roots and edges call these.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  /** Process role, e.g. `all-in-one`, `ingester`. */
  readonly component: string;
  /** Destination stream; defaults to stdout. */
  readonly destination?: NodeJS.WritableStream;
}

export function createRootLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { component: options.component, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['*.authorization', '*.Authorization', 'headers.authorization'], censor: '[redacted]' },
    },
    (options.destination ?? process.stdout) as pino.DestinationStream,
  );
}

/** A logger that discards everything (tests). */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
