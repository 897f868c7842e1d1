/**
 * Write a `.tar.gz` as concatenated gzip members (one valid gzip stream): per entry a small member
 * holding its ustar header, the entry's own pre-compressed member (spooled while it was exported),
 * and a member with the tar padding; then the manifest and the end-of-archive blocks. No entry is
 * ever buffered whole (archiver 7 buffers a stream of unknown size, since a tar header needs the size:
 * 1092 MiB RSS for 500 MB of logs, measured on this project's 2-core machine),
 * and the entries were compressed in parallel while Docker streamed them.
 */
import { promises as fsp } from 'node:fs';
import { gzipSync } from 'node:zlib';

const BLOCK = 512;

/** One regular file in the archive: either a spooled gzip member of `size` raw bytes, or bytes in memory. */
export type ArchiveEntry = { name: string; size: number; gzipPath: string } | { name: string; data: Buffer };

function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  const text = value.toString(8).padStart(length - 1, '0');
  if (text.length > length - 1) throw new RangeError(`tar field too small for ${value}`);
  header.write(`${text}\0`, offset, length, 'ascii');
}

/** The largest size the 12-byte octal field holds: 8 GiB - 1. */
const MAX_OCTAL_SIZE = 8 ** 11 - 1;
const MAX_NAME_BYTES = 100;

/** A size too large for octal in GNU's base-256 form (high bit set, big-endian), which GNU tar, bsdtar and Python read. */
function writeBase256(header: Buffer, value: number, offset: number, length: number): void {
  let rest = value;
  for (let i = offset + length - 1; i > offset; i--) {
    header[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  header[offset] = 0x80;
}

/** The first bytes of `name` that fit `max`, never cutting a UTF-8 character in two. */
function truncateUtf8(name: string, max: number): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back off continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** One pax record, `<length> <key>=<value>\n`, whose length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyBytes = Buffer.byteLength(body, 'utf8');
  let length = bodyBytes + 1;
  while (String(length).length + bodyBytes !== length) length = String(length).length + bodyBytes;
  return `${length}${body}`;
}

/** One 512-byte ustar header block; `name` is already at most 100 bytes. */
function ustarBlock(name: Buffer, size: number, mtime: Date, mode: number, typeflag: string): Buffer {
  const header = Buffer.alloc(BLOCK, 0);
  name.copy(header, 0);
  writeOctal(header, mode, 100, 8);
  writeOctal(header, 0, 108, 8); // uid
  writeOctal(header, 0, 116, 8); // gid
  if (size > MAX_OCTAL_SIZE) writeBase256(header, size, 124, 12);
  else writeOctal(header, size, 124, 12);
  writeOctal(header, Math.floor(mtime.getTime() / 1000), 136, 12);
  header.write(typeflag, 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  header.write('root', 265, 'ascii');
  header.write('root', 297, 'ascii');
  // The checksum is computed with its own field read as eight spaces.
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

/**
 * The header blocks of a regular file: a POSIX ustar header, preceded by a pax extended header
 * (what GNU tar, bsdtar and Python's tarfile read) when the name is over 100 bytes or the size is
 * 8 GiB or more. The ustar block then carries the name cut to 100 bytes and the size in base-256.
 */
export function tarHeader(name: string, size: number, mtime: Date, mode = 0o600): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length === 0 || name.includes('/') || name.includes('\0')) {
    throw new RangeError(`tar entry name must be non-empty without '/': ${name}`);
  }
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`tar entry size out of range: ${size}`);
  const short = truncateUtf8(name, MAX_NAME_BYTES);
  const records =
    (nameBytes.length > MAX_NAME_BYTES ? paxRecord('path', name) : '') +
    (size > MAX_OCTAL_SIZE ? paxRecord('size', String(size)) : '');
  const header = ustarBlock(short, size, mtime, mode, '0');
  if (records === '') return header;
  const data = Buffer.from(records, 'utf8');
  const paxName = truncateUtf8(`PaxHeaders/${name}`, MAX_NAME_BYTES);
  return Buffer.concat([ustarBlock(paxName, data.length, mtime, mode, 'x'), data, padding(data.length), header]);
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest, 0);
}

const COPY_BUFFER = 1024 * 1024;

/** Copy a file through one reused buffer: a stream would leave a garbage buffer per chunk behind. */
async function copyFile(source: string, put: (data: Buffer) => Promise<void>): Promise<void> {
  const handle = await fsp.open(source, 'r');
  try {
    const buffer = Buffer.allocUnsafe(COPY_BUFFER);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, COPY_BUFFER, null);
      if (bytesRead === 0) return;
      await put(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

/**
 * The bytes a spooled entry takes in the archive: its header member, its spooled gzip member
 * (`gzipBytes`) and its padding member, exactly as writeArchive writes them (what the entry costs).
 */
export function compressedEntryBytes(name: string, size: number, gzipBytes: number, mtime: Date): number {
  const pad = padding(size);
  return (
    gzipSync(tarHeader(name, size, mtime), { level: 1 }).length +
    gzipBytes +
    (pad.length > 0 ? gzipSync(pad, { level: 1 }).length : 0)
  );
}

/**
 * Write the archive to `target` (created exclusively, 0600) and fsync it. On any failure the
 * half-written file is removed and the error (e.g. ENOSPC) is thrown unchanged.
 */
export async function writeArchive(target: string, entries: ArchiveEntry[], mtime: Date): Promise<number> {
  const handle = await fsp.open(target, 'wx', 0o600);
  let written = 0;
  const put = async (data: Buffer): Promise<void> => {
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
    written += data.length;
  };
  try {
    for (const entry of entries) {
      const size = 'data' in entry ? entry.data.length : entry.size;
      const header = tarHeader(entry.name, size, mtime);
      if ('data' in entry) {
        await put(gzipSync(Buffer.concat([header, entry.data, padding(size)])));
        continue;
      }
      await put(gzipSync(header, { level: 1 }));
      await copyFile(entry.gzipPath, put);
      const pad = padding(size);
      if (pad.length > 0) await put(gzipSync(pad, { level: 1 }));
    }
    // Two zero blocks end a tar archive.
    await put(gzipSync(Buffer.alloc(2 * BLOCK, 0), { level: 1 }));
    await handle.sync();
    await handle.close();
    return written;
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fsp.rm(target, { force: true });
    throw err;
  }
}
