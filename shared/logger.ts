import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** A pino JSON logger to stderr (stdout stays for plans and tables) whose lines carry `agent` and `node`. */
export function createLogger(agent: string, node: string, level = process.env.PLATYPUS_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { agent, node }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

/** A logger that drops everything, for tests and for commands whose output is the plan itself. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
