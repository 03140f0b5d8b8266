import pino, { type Logger } from 'pino';
import { loadConfig } from './config';

let root: Logger | undefined;

/** JSON lines on stdout (CloudWatch-friendly); one root logger per container. */
export function logger(bindings?: Record<string, unknown>): Logger {
  root ??= pino({ level: loadConfig().LOG_LEVEL, base: { service: 'collect' } });
  return bindings ? root.child(bindings) : root;
}

export type { Logger };
