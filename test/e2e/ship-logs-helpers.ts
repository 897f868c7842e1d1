// Shared helpers of the ship-logs e2e tests: read archives independently of the product's writer.
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { type Store } from '../../src/store/client.js';

export interface TarEntry {
  name: string;
  mode: number;
  mtime: number;
  data: Buffer;
}

/** Parse a (multi-member) .tar.gz with a minimal ustar reader, checking every header checksum. */
export function readTarGz(gz: Buffer): TarEntry[] {
  const tar = gunzipSync(gz);
  const entries: TarEntry[] = [];
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, length: number): string =>
      header
        .subarray(start, start + length)
        .toString('latin1')
        .replace(/\0.*$/s, '')
        .trim();
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
    assert.equal(parseInt(field(148, 8), 8), sum, 'tar header checksum');
    assert.equal(field(257, 6), 'ustar');
    assert.equal(field(156, 1), '0', 'regular file');
    const size = parseInt(field(124, 12), 8);
    const data = Buffer.from(tar.subarray(offset + 512, offset + 512 + size));
    entries.push({ name: field(0, 100), mode: parseInt(field(100, 8), 8), mtime: parseInt(field(136, 12), 8), data });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

export interface Manifest {
  format: number;
  tool: string;
  host: string;
  env: string;
  window: { start: string; end: string };
  files: {
    name: string;
    kind: string;
    short?: string;
    container?: string;
    containerId?: string;
    since?: string;
    until?: string;
    lines: number;
    bytes: number;
    sha256: string;
  }[];
  missing: { short: string; container: string; reason: string }[];
  gaps: { short: string; oldContainerId: string; newContainerId: string; lastShippedAt: string }[];
}

/** The manifest of an archive, after checking it is the last entry and its counts and checksums match. */
export function checkArchive(entries: TarEntry[]): Manifest {
  const last = entries[entries.length - 1];
  assert.equal(last?.name, 'manifest.json');
  const manifest = JSON.parse(last.data.toString('utf8')) as Manifest;
  assert.equal(manifest.files.length, entries.length - 1);
  for (const file of manifest.files) {
    const entry = entries.find((e) => e.name === file.name);
    assert.ok(entry, file.name);
    assert.equal(entry.mode, 0o600);
    assert.equal(entry.data.length, file.bytes, `${file.name} bytes`);
    assert.equal(entry.data.filter((b) => b === 0x0a).length, file.lines, `${file.name} lines`);
    assert.equal(createHash('sha256').update(entry.data).digest('hex'), file.sha256, `${file.name} sha256`);
  }
  return manifest;
}

/** Every object under a prefix with its body. */
export async function downloadAll(store: Store, prefix: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const info of await store.listKeys(prefix)) {
    const chunks: Buffer[] = [];
    for await (const chunk of await store.getObjectStream(info.key)) chunks.push(chunk as Buffer);
    out.set(info.key, Buffer.concat(chunks));
  }
  return out;
}

export function readArchiveFile(file: string): TarEntry[] {
  return readTarGz(readFileSync(file));
}

/** A busybox script printing `<tag> out N` and `<tag> err N` (N = 1, 2, …) until it is stopped. */
export function numberedScript(tag: string, pause = '0.02'): string {
  return `i=0; while true; do i=$((i+1)); echo "${tag} out $i"; echo "${tag} err $i" >&2; sleep ${pause}; done`;
}

/** Every `<tag> out|err N` line of the archives' container entries, by `<tag> out|err`, in the order shipped. */
export function numberedLines(archives: TarEntry[][]): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  for (const entries of archives) {
    for (const entry of entries) {
      if (entry.name === 'manifest.json' || entry.name.startsWith('alerts-')) continue;
      for (const line of entry.data.toString('utf8').split('\n').filter(Boolean)) {
        const m = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z (\S+ (?:out|err)) (\d+)$/.exec(line);
        assert.ok(m, `unexpected line in ${entry.name}: ${line}`);
        seen.set(m[1] as string, [...(seen.get(m[1] as string) ?? []), Number(m[2])]);
      }
    }
  }
  return seen;
}

/** Assert each stream's numbers are exactly 1..last, once each and in order. */
export function assertEachOnce(seen: Map<string, number[]>, expected: Map<string, number>): void {
  for (const [stream, last] of expected) {
    assert.ok(last > 3, `${stream} did log (${last})`);
    assert.deepEqual(
      seen.get(stream) ?? [],
      Array.from({ length: last }, (_, i) => i + 1),
      `${stream}: every line from 1 to ${last} exactly once, in order`,
    );
  }
}

/** The last number a container printed on each stream (`<tag> out|err`), from the engine itself. */
export async function lastNumbers(container: string, tag: string, into: Map<string, number>): Promise<void> {
  const result = await execa('docker', ['logs', container], { reject: false, all: true });
  for (const stream of ['out', 'err']) {
    const numbers = String(result.all)
      .split('\n')
      .map((l) => new RegExp(`^${tag} ${stream} (\\d+)$`).exec(l)?.[1])
      .filter(Boolean)
      .map(Number);
    into.set(`${tag} ${stream}`, Math.max(0, ...numbers));
  }
}
