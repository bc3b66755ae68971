import { pino, type Logger, type LevelWithSilent } from 'pino';

/** The process logger: pino JSON on stdout. */
export function createLogger(level: LevelWithSilent = 'info'): Logger {
  return pino({ level, base: { app: 'bluegreen' }, timestamp: pino.stdTimeFunctions.isoTime });
}
