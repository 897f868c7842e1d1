// Streaming reader for our .tar.gz archives: node:zlib gunzip (which accepts multi-member gzip) and a
// small ustar/pax/GNU-longname tar parser. Nothing is buffered beyond the current chunk, so a 1 GB
// archive is read in constant memory. The only module that knows the tar format.
import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { MizualError } from '../core/errors.js';

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** The path as stored (pax `path` and GNU long names applied), not yet checked for safety. */
  name: string;
  type: EntryType;
  /** The raw typeflag, for reporting unusual entries. */
  typeflag: string;
  size: number;
  mode: number;
  mtime: Date;
  /** Link target for symlinks and hard links. */
  linkname: string;
  /** The entry's bytes; read it or leave it, the reader skips what is left before the next entry. */
  body: AsyncIterable<Buffer>;
}

const BLOCK = 512;
const MAX_META = 1024 * 1024;

/** Pull exact byte counts out of an async chunk source without copying more than needed. */
class ByteReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private ended = false;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.source.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    this.chunks.push(chunk);
    this.length += chunk.length;
    return true;
  }

  /** Exactly `n` bytes, or fewer only at the end of the input. */
  async read(n: number): Promise<Buffer> {
    while (this.length < n && (await this.fill()));
    const take = Math.min(n, this.length);
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const out = all.subarray(0, take);
    const rest = all.subarray(take);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** The next piece of input, at most `max` bytes; throws at the end of the input. */
  async take(max: number): Promise<Buffer> {
    if (this.length === 0 && !(await this.fill())) throw new MizualError('archive is truncated');
    const head = this.chunks[0] as Buffer;
    if (head.length <= max) {
      this.chunks.shift();
      this.length -= head.length;
      return head;
    }
    this.chunks[0] = head.subarray(max);
    this.length -= max;
    return head.subarray(0, max);
  }

  async skip(n: number): Promise<void> {
    for (let left = n; left > 0;) left -= (await this.take(left)).length;
  }
}

class EntryBody implements AsyncIterable<Buffer> {
  constructor(
    private readonly reader: ByteReader,
    public remaining: number,
  ) {}
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    while (this.remaining > 0) {
      const chunk = await this.reader.take(this.remaining);
      this.remaining -= chunk.length;
      yield chunk;
    }
  }
}

function cString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('utf8');
}

/** Numeric header field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function readNumber(buf: Buffer, start: number, length: number): number {
  const field = buf.subarray(start, start + length);
  if ((field[0] ?? 0) & 0x80) {
    let value = (field[0] as number) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] as number);
    return value;
  }
  const text = cString(buf, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new MizualError('not a tar archive (bad numeric field)');
  return parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
  return readNumber(header, 148, 8) === sum;
}

function parsePax(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  const buf = Buffer.from(text, 'utf8');
  while (pos < buf.length) {
    const space = buf.indexOf(0x20, pos);
    if (space === -1) break;
    const len = Number(buf.subarray(pos, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = buf.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

function typeOf(flag: string): EntryType {
  if (flag === '0' || flag === '' || flag === '7') return 'file';
  if (flag === '5') return 'directory';
  if (flag === '2') return 'symlink';
  if (flag === '1') return 'hardlink';
  return 'other';
}

async function collect(body: EntryBody, limit: number): Promise<string> {
  if (body.remaining > limit) throw new MizualError('tar metadata entry too large');
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

/** Read tar entries from an uncompressed tar byte stream; consume each `body` (or not) before asking for the next. */
export async function* readTarEntries(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const header = await reader.read(BLOCK);
    // A missing end-of-archive marker is tolerated (as GNU tar does); a cut header is not.
    if (header.length === 0) return;
    if (header.length < BLOCK) throw new MizualError('archive is truncated');
    if (header.every((b) => b === 0)) return;
    if (!checksumOk(header)) throw new MizualError('not a tar archive (bad header checksum)');
    const typeflag = cString(header, 156, 1);
    const magic = header.subarray(257, 263).toString('latin1');
    const prefix = magic.startsWith('ustar') ? cString(header, 345, 155) : '';
    let name = cString(header, 0, 100);
    if (prefix) name = `${prefix}/${name}`;
    let size = readNumber(header, 124, 12);
    if (pax.size !== undefined && /^\d+$/.test(pax.size)) size = Number(pax.size);
    const body = new EntryBody(reader, size);
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;

    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      const text = await collect(body, MAX_META);
      if (typeflag === 'x') pax = { ...pax, ...parsePax(text) };
      if (typeflag === 'L') longName = text.replace(/\0+$/, '');
      if (typeflag === 'K') longLink = text.replace(/\0+$/, '');
      await reader.skip(padding);
      continue;
    }
    const entry: TarEntry = {
      name: longName ?? pax.path ?? name,
      type: typeOf(typeflag),
      typeflag: typeflag || '0',
      size,
      mode: readNumber(header, 100, 8),
      mtime: new Date(readNumber(header, 136, 12) * 1000),
      linkname: longLink ?? pax.linkpath ?? cString(header, 157, 100),
      body,
    };
    pax = {};
    longName = undefined;
    longLink = undefined;
    yield entry;
    await reader.skip(body.remaining);
    body.remaining = 0;
    await reader.skip(padding);
  }
}

const CHUNK = 128 * 1024;

/** The decompressed bytes of a .tar.gz file, as a stream that also fails when the file or gzip data is bad. */
export function openGunzipped(file: string): Readable {
  // Large chunks: at zlib's default 16 KiB, a 25 MB entry is 1,600 reads, writes and hash updates.
  const gunzip = createGunzip({ chunkSize: CHUNK });
  // pipeline destroys both sides on error and when the consumer stops early.
  return pipeline(createReadStream(file, { highWaterMark: CHUNK }), gunzip, () => {});
}

/** Entries of a local .tar.gz archive. */
export async function* readArchive(file: string): AsyncGenerator<TarEntry> {
  const stream = openGunzipped(file);
  // Errors surface wherever the bytes are pulled (often inside an entry's body): name the file there.
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      yield* stream;
    } catch (err) {
      throw asArchiveError(err, file);
    }
  }
  try {
    yield* readTarEntries(chunks());
  } catch (err) {
    throw asArchiveError(err, file);
  } finally {
    stream.destroy();
  }
}

function asArchiveError(err: unknown, file: string): MizualError {
  if (err instanceof MizualError)
    return err.message.startsWith(file) ? err : new MizualError(`${file}: ${err.message}`);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'Z_DATA_ERROR') return new MizualError(`${file}: not a valid gzip file`);
  if (code === 'Z_BUF_ERROR') return new MizualError(`${file}: archive is truncated`);
  if (code === 'ENOENT') return new MizualError(`${file}: no such file`);
  return new MizualError(`${file}: ${(err as Error).message ?? String(err)}`);
}
