/**
 * A tiny Redis (RESP2) client for a handful of commands over one socket: send them all at once
 * (pipelined), read one reply each, close. Enough for AUTH, SELECT and LLEN; no dependency.
 */
import net from 'node:net';
import { MizualError } from '../../core/errors.js';

export type RespReply = string | number | null | RespError | RespReply[];

/** An error reply (`-ERR …`): returned in place, not thrown, so one failing command is visible as such. */
export class RespError {
  constructor(readonly message: string) {}
}

export interface RespTarget {
  host: string;
  port: number;
  tls?: boolean;
  timeoutMs: number;
  /** The name TLS verifies when `host` is a Compose container's address (the URL's own host). */
  servername?: string;
}

/** Encode one command as a RESP array of bulk strings (binary-safe: Celery's priority keys hold \x06\x16). */
export function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parse one reply at `offset`; null when the buffer does not hold all of it yet. */
export function parseReply(buf: Buffer, offset = 0): { reply: RespReply; next: number } | null {
  const eol = buf.indexOf('\r\n', offset);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[offset] ?? 0);
  const line = buf.toString('utf8', offset + 1, eol);
  const after = eol + 2;
  switch (type) {
    case '+':
      return { reply: line, next: after };
    case '-':
      return { reply: new RespError(line), next: after };
    case ':':
      return { reply: Number(line), next: after };
    case '$': {
      const size = Number(line);
      if (size < 0) return { reply: null, next: after };
      if (buf.length < after + size + 2) return null;
      return { reply: buf.toString('utf8', after, after + size), next: after + size + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { reply: null, next: after };
      const items: RespReply[] = [];
      let at = after;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at);
        if (!item) return null;
        items.push(item.reply);
        at = item.next;
      }
      return { reply: items, next: at };
    }
    default:
      throw new MizualError(
        `not a Redis server (unexpected reply ${JSON.stringify(buf.toString('latin1', offset, Math.min(buf.length, offset + 16)))})`,
      );
  }
}

/** Run the commands in order on one connection and return one reply per command; rejects with one line on failure. */
export async function runCommands(target: RespTarget, commands: readonly (readonly string[])[]): Promise<RespReply[]> {
  const socket: net.Socket = target.tls
    ? (await import('node:tls')).connect({
        host: target.host,
        port: target.port,
        ...(target.servername
          ? { servername: target.servername }
          : net.isIP(target.host)
            ? {}
            : { servername: target.host }),
      })
    : net.connect({ host: target.host, port: target.port });
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const replies: RespReply[] = [];
    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(replies);
    };
    const timer = setTimeout(
      () => finish(new MizualError(`no answer within ${target.timeoutMs / 1000} s`)),
      target.timeoutMs,
    );
    socket.on('error', (err: NodeJS.ErrnoException) => finish(new MizualError(describeSocketError(err, target))));
    socket.on('close', () => finish(new MizualError('connection closed before every reply arrived')));
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      try {
        let at = 0;
        for (;;) {
          const parsed = parseReply(buffered, at);
          if (!parsed) break;
          replies.push(parsed.reply);
          at = parsed.next;
          if (replies.length === commands.length) return finish(null);
        }
        buffered = buffered.subarray(at);
      } catch (err) {
        finish(err as Error);
      }
    });
    socket.write(Buffer.concat(commands.map((c) => encodeCommand(c))));
  });
}

function describeSocketError(err: NodeJS.ErrnoException, target: RespTarget): string {
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `${target.host} does not resolve here`;
  if (err.code === 'ECONNREFUSED') return `connection refused at ${target.host}:${target.port}`;
  return err.code ? `${err.code} at ${target.host}:${target.port}` : err.message;
}
