/** Exit codes shared by ship/fetch/metrics; alerts maps its own (monitoring-plugin codes). */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** The one error type: a single-line message and the exit code it should end the process with. */
export class MizualError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_FAILED, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MizualError';
    this.exitCode = exitCode;
  }
}

/** A usage or configuration error (exit 2, or 3 for mizual-alerts). */
export class UsageError extends MizualError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

/** Collapse any message to one line so cron mail and log files carry it intact. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Describe an unknown thrown value as one line, without stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return oneLine(err.message || err.name);
  return oneLine(String(err));
}
