/** A structured log record; written as one JSON line so failures can be grepped and parsed. */
export type LogRecord = { msg: string } & Record<string, unknown>;

/** Where the bridge reports what it does. Injectable so tests can assert on failures. */
export interface BridgeLogger {
  /** Human-oriented progress line (startup summary, reconnects succeeded, shutdown). */
  info(message: string): void;
  /** Something went wrong (an invocation failed, the connection dropped): one JSON line. */
  error(record: LogRecord): void;
}

/**
 * The default logger: info as `[bridge] …` lines on stdout, errors as JSON lines on stderr, so a
 * developer reads the former and tooling parses the latter.
 */
export const consoleLogger: BridgeLogger = {
  info(message) {
    process.stdout.write(`[bridge] ${message}\n`);
  },
  error(record) {
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: 'error', ...record })}\n`,
    );
  },
};

/**
 * Renders any thrown value as a short message (`Error.message` plus its `cause`, which is where
 * undici puts ECONNREFUSED).
 *
 * @param err - anything that was thrown
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause: unknown = err.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return `${err.message}: ${code ?? cause.message}`;
  }
  return err.message;
}

/**
 * Removes the password from an AMQP URL before it is logged.
 *
 * @param url - a connection URL
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid url>';
  }
}
