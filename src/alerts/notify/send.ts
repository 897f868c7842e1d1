/** The two ways a message leaves: an HTTP POST, or the system's `sendmail -t` (no shell, message on stdin). */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { MizualError } from '../../core/errors.js';
import { requestUrl } from '../../core/http-client.js';
import type { Outgoing } from './format.js';
import { maskAddresses } from './targets.js';

// cron's PATH has no /usr/sbin: look where MTAs install sendmail first.
const SENDMAIL_PATHS = ['/usr/sbin/sendmail', '/usr/lib/sendmail'];

/** Send one message; resolves with the answer (`HTTP 202`, `sendmail exit 0`), rejects when it was not accepted. */
export async function sendOutgoing(out: Outgoing, timeoutMs: number): Promise<string> {
  if (out.kind === 'mail') return sendMail(out.message, timeoutMs);
  const answer = await requestUrl(out.url, { method: 'POST', body: out.body, headers: out.headers, timeoutMs });
  if (answer.status < 200 || answer.status >= 300) throw new MizualError(`HTTP ${answer.status}`);
  return `HTTP ${answer.status}`;
}

function sendMail(message: string, timeoutMs: number): Promise<string> {
  const program = SENDMAIL_PATHS.find((p) => existsSync(p)) ?? 'sendmail';
  return new Promise((resolve, reject) => {
    // -t: recipients from the To: header; -i: a line holding only "." does not end the message.
    const child = spawn(program, ['-t', '-i'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(0, 2000)));
    child.stdin.on('error', () => undefined);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ENOENT' ? 'not found (install an MTA such as msmtp-mta)' : (err.code ?? err.message);
      reject(new MizualError(`sendmail ${why}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve('sendmail exit 0');
      const said = maskAddresses(stderr.trim().split('\n').pop() ?? '').slice(0, 200);
      const how = signal ? `killed after ${Math.round(timeoutMs / 1000)} s` : `exit ${code}`;
      reject(new MizualError(`sendmail ${how}${said ? `: ${said}` : ''}`));
    });
    child.stdin.end(message);
  });
}
