// Build log archives exactly as mizual-ship-logs writes them (see the archive format shared by the
// shipper and the fetcher), plus hostile ones, without any tar library: a ustar writer is 40 lines.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';

export interface RawEntry {
  name: string;
  /** '0' file (default), '1' hard link, '2' symlink, '5' directory. */
  type?: '0' | '1' | '2' | '5';
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
  mtime?: Date;
}

function field(buf: Buffer, offset: number, length: number, text: string): void {
  buf.write(text, offset, length, 'utf8');
}

function octal(buf: Buffer, offset: number, length: number, value: number): void {
  field(buf, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** One ustar header block; names longer than 100 bytes are split into prefix/name. */
function header(entry: RawEntry, size: number): Buffer {
  const buf = Buffer.alloc(512);
  let name = entry.name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`name too long: ${name}`);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  field(buf, 0, 100, name);
  octal(buf, 100, 8, entry.mode ?? 0o600);
  octal(buf, 108, 8, 0);
  octal(buf, 116, 8, 0);
  octal(buf, 124, 12, size);
  octal(buf, 136, 12, Math.floor((entry.mtime ?? new Date(0)).getTime() / 1000));
  field(buf, 148, 8, '        ');
  field(buf, 156, 1, entry.type ?? '0');
  field(buf, 157, 100, entry.linkname ?? '');
  field(buf, 257, 6, 'ustar\0');
  field(buf, 263, 2, '00');
  field(buf, 265, 32, 'root');
  field(buf, 297, 32, 'root');
  field(buf, 345, 155, prefix);
  let sum = 0;
  for (const b of buf) sum += b;
  field(buf, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return buf;
}

/** A tar stream of the given entries (uncompressed). */
export function buildTar(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = entry.type === undefined || entry.type === '0' ? Buffer.from(entry.data ?? '') : Buffer.alloc(0);
    parts.push(header(entry, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A gzipped tar of raw entries; `members` > 1 splits the gzip stream into several members, as the shipper may. */
export function buildTarGz(entries: RawEntry[], members = 1): Buffer {
  const tar = buildTar(entries);
  if (members <= 1) return gzipSync(tar);
  const step = Math.ceil(tar.length / members);
  const out: Buffer[] = [];
  for (let i = 0; i < tar.length; i += step) out.push(gzipSync(tar.subarray(i, i + step)));
  return Buffer.concat(out);
}

export function stampOf(end: Date): string {
  return end
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[-:]/g, '')
    .replace('T', '_');
}

export interface ContainerLog {
  short: string;
  container?: string;
  /** Lines without their trailing newline, or the whole file's bytes. */
  lines: (string | Buffer)[];
}

export interface ShipArchiveSpec {
  env: 'prod' | 'dev';
  host: string;
  start: Date;
  end: Date;
  containers: ContainerLog[];
  alerts?: string[];
  /** Leave manifest.json out (archives of the old bash script had none). */
  noManifest?: boolean;
  /** Change a file's bytes after its manifest entry was computed (to prove verification). */
  tamper?: string;
  members?: number;
}

function joinLines(lines: (string | Buffer)[]): Buffer {
  return Buffer.concat(lines.flatMap((l) => [Buffer.from(l), Buffer.from('\n')]));
}

/** An archive in the shipper's format: `<short>-STAMP.log` per container, `alerts-STAMP.log`, then manifest.json. */
export function makeShipArchive(spec: ShipArchiveSpec): { name: string; data: Buffer; files: Map<string, Buffer> } {
  const stamp = stampOf(spec.end);
  const files = new Map<string, Buffer>();
  const manifestFiles: Record<string, unknown>[] = [];
  for (const c of spec.containers) {
    const name = `${c.short}-${stamp}.log`;
    const data = joinLines(c.lines);
    files.set(name, data);
    const first = c.lines[0]?.toString().split(' ')[0] ?? spec.start.toISOString();
    const last = c.lines.at(-1)?.toString().split(' ')[0] ?? spec.end.toISOString();
    manifestFiles.push({
      name,
      kind: 'container',
      short: c.short,
      container: c.container ?? `mizual-${c.short}`,
      containerId: createHash('sha256').update(c.short).digest('hex'),
      since: first,
      until: last,
      lines: c.lines.length,
      bytes: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    });
  }
  const alerts = joinLines(spec.alerts ?? []);
  const alertsName = `alerts-${stamp}.log`;
  files.set(alertsName, alerts);
  manifestFiles.push({
    name: alertsName,
    kind: 'alerts',
    lines: spec.alerts?.length ?? 0,
    bytes: alerts.length,
    sha256: createHash('sha256').update(alerts).digest('hex'),
  });
  if (spec.tamper !== undefined) {
    const original = files.get(spec.tamper);
    if (!original) throw new Error(`no file ${spec.tamper} to tamper with`);
    files.set(spec.tamper, Buffer.concat([original, Buffer.from('tampered\n')]));
  }
  const entries: RawEntry[] = [...files].map(([name, data]) => ({ name, data, mtime: spec.end }));
  if (!spec.noManifest) {
    const manifest = {
      format: 1,
      tool: 'mizual-ship-logs 0.1.0',
      host: spec.host,
      env: spec.env,
      window: { start: spec.start.toISOString(), end: spec.end.toISOString() },
      createdAt: new Date(spec.end.getTime() + 2000).toISOString(),
      files: manifestFiles,
      missing: [],
      gaps: [],
    };
    entries.push({ name: 'manifest.json', data: JSON.stringify(manifest, null, 2), mtime: spec.end });
  }
  return { name: `logs-${stamp}.tar.gz`, data: buildTarGz(entries, spec.members), files };
}

/** `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` for a base time plus milliseconds and extra nanoseconds, as Docker prints. */
export function dockerTime(base: Date, offsetMs: number, nanos = 0): string {
  const t = new Date(base.getTime() + offsetMs);
  const ns = String(t.getUTCMilliseconds() * 1_000_000 + nanos).padStart(9, '0');
  return `${t.toISOString().slice(0, 19)}.${ns}Z`;
}

/** The tar writers whose archives a user's bucket may hold. */
export type TarWriter = 'gnu-tar' | 'bsdtar' | 'python-tarfile';

/**
 * Pack the contents of `dir` into the .tar.gz `out` the way each writer does it from a shell:
 * `tar -czf out -C dir .` (exactly what the old ship-logs.sh ran: `./` entries, GNU long names),
 * the same with bsdtar (pax headers for long names), and Python's tarfile in pax format.
 */
export function packDirectory(writer: TarWriter, dir: string, out: string): void {
  const run = (cmd: string, args: string[]): void => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
  };
  if (writer === 'gnu-tar') run('tar', ['-czf', out, '-C', dir, '.']);
  else if (writer === 'bsdtar') run('bsdtar', ['-czf', out, '-C', dir, '.']);
  else {
    const script = [
      'import sys, tarfile',
      "with tarfile.open(sys.argv[2], 'w:gz', format=tarfile.PAX_FORMAT) as t:",
      "    t.add(sys.argv[1], arcname='.')",
    ].join('\n');
    run('python3', ['-c', script, dir, out]);
  }
}
