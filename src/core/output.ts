/** Colour only on a TTY, and never when NO_COLOR is set (whatever its value). */
export function shouldColor(
  stream: { isTTY?: boolean } = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
}

/** Write one JSON document to stdout (the only thing on stdout with `--json`). */
export function writeJson(data: unknown): void {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
}

/** Write text to stdout, ending with exactly one newline. */
export function writeText(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/**
 * stdout as a sink for a long stream of output (`--cat`): each write waits for the pipe, and once the
 * reader (`head`, `less`) goes away, `closed` turns true and writes are dropped, so the caller stops quietly.
 */
export function stdoutSink(): { write(chunk: Buffer): Promise<void>; readonly closed: boolean } {
  let closed = false;
  process.stdout.on('error', () => (closed = true));
  return {
    get closed() {
      return closed;
    },
    write: (chunk) => new Promise((resolve) => (closed ? resolve() : process.stdout.write(chunk, () => resolve()))),
  };
}
