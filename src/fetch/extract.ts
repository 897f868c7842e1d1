// Safe extraction of one downloaded archive: only regular files and directories, only below the
// target directory, each file written to a temp name and renamed, then checked against manifest.json.
import { createHash } from 'node:crypto';
import { lstat, mkdir, open, realpath, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_NAME, MAX_MANIFEST_BYTES, parseManifest } from '../archive/contract.js';
import { readArchive } from '../archive/read.js';
import { noSpaceError } from '../core/disk-space.js';
import { MizualError } from '../core/errors.js';

export interface ExtractedFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface ExtractProblem {
  name: string;
  reason: string;
}

export interface ExtractResult {
  dir: string;
  files: ExtractedFile[];
  /** Entries not written: absolute paths, `..`, links, devices. */
  refused: ExtractProblem[];
  /** Files that disagree with manifest.json (or are missing from it / from the archive). */
  mismatches: ExtractProblem[];
  /** Whether the archive carried a manifest.json to verify against. */
  verified: boolean;
}

/** Why one entry is skipped; other errors (a corrupt archive, a full disk) end the extraction. */
class RefusedEntry extends Error {}

/** Split an entry name into safe path components, or say why it is refused. */
export function safeComponents(name: string): string[] | string {
  if (name === '') return 'empty name';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.startsWith('\\')) return 'absolute path';
  if (name.includes('\0')) return 'NUL in name';
  const parts = name.split(/[/\\]/).filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return "'..' in path";
  if (parts.length === 0) return 'empty name';
  return parts;
}

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Create `dir` (0700) and check that, links resolved, it is still inside `root`. */
async function ensureDirInside(root: string, dir: string): Promise<void> {
  const realRoot = await realpath(root);
  // Check the deepest existing ancestor before creating anything, so not even an empty directory lands outside.
  let existing = dir;
  while (!(await lstat(existing).catch(() => null))) existing = path.dirname(existing);
  const refuse = (): never => {
    throw new MizualError(`${dir} resolves outside ${root}; refusing to extract`);
  };
  if (!isInside(realRoot, await realpath(existing))) refuse();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!isInside(realRoot, await realpath(dir))) refuse();
}

/** Create each missing component below `base`, refusing any that exists as something other than a directory. */
async function makeSubdirs(base: string, parts: string[]): Promise<string> {
  let dir = base;
  for (const part of parts) {
    dir = path.join(dir, part);
    const info = await lstat(dir).catch(() => null);
    if (info === null) await mkdir(dir, { mode: 0o700 });
    else if (!info.isDirectory()) throw new RefusedEntry('a path component is not a directory');
  }
  return dir;
}

/** Unpack `file` into `dir` (which must lie inside `root`), refusing anything that could escape it. */
export async function extractArchive(file: string, dir: string, root: string): Promise<ExtractResult> {
  const result: ExtractResult = { dir, files: [], refused: [], mismatches: [], verified: false };
  await ensureDirInside(root, dir);
  let manifestText: string | undefined;
  for await (const entry of readArchive(file)) {
    // `tar -C dir .` starts with an entry for `./` itself: the extraction directory, already made.
    if (entry.type === 'directory' && /^\.\/*$/.test(entry.name)) continue;
    const parts = safeComponents(entry.name);
    if (typeof parts === 'string') {
      result.refused.push({ name: entry.name, reason: parts });
      continue;
    }
    if (entry.type === 'symlink' || entry.type === 'hardlink') {
      result.refused.push({
        name: entry.name,
        reason: `${entry.type} to '${entry.linkname}' (links are not extracted)`,
      });
      continue;
    }
    if (entry.type === 'other') {
      result.refused.push({ name: entry.name, reason: `unsupported entry type '${entry.typeflag}'` });
      continue;
    }
    const relName = parts.join('/');
    try {
      if (entry.type === 'directory') {
        await makeSubdirs(dir, parts);
        continue;
      }
      const parent = await makeSubdirs(dir, parts.slice(0, -1));
      const target = path.join(parent, parts.at(-1) as string);
      const existing = await lstat(target).catch(() => null);
      if (existing && !existing.isFile()) throw new RefusedEntry('exists and is not a regular file');
      const tmp = path.join(parent, `.${parts.at(-1)}.${process.pid}.part`);
      const hash = createHash('sha256');
      const keep = relName === MANIFEST_NAME && entry.size <= MAX_MANIFEST_BYTES ? ([] as Buffer[]) : undefined;
      let bytes = 0;
      const handle = await open(tmp, 'wx', 0o600);
      try {
        for await (const chunk of entry.body) {
          hash.update(chunk);
          keep?.push(chunk);
          bytes += chunk.length;
          await handle.write(chunk);
        }
      } catch (err) {
        await handle.close();
        await rm(tmp, { force: true });
        throw (await noSpaceError(err, `${relName} of ${path.basename(file)}`, target, entry.size)) ?? err;
      }
      await handle.close();
      await rename(tmp, target);
      if (keep) manifestText = Buffer.concat(keep).toString('utf8');
      else result.files.push({ name: relName, bytes, sha256: hash.digest('hex') });
    } catch (err) {
      if (!(err instanceof RefusedEntry)) throw err;
      result.refused.push({ name: entry.name, reason: err.message });
    }
  }
  if (manifestText !== undefined) verifyAgainstManifest(manifestText, result);
  return result;
}

/** Compare extracted files with manifest.json: same set of names, same byte counts and sha256. */
export function verifyAgainstManifest(text: string, result: ExtractResult): void {
  const read = parseManifest(text);
  // Someone else's manifest.json (no `format`) is just a file: the archive is not verified.
  if (read.status === 'foreign') return;
  result.verified = true;
  if (read.status === 'invalid') {
    result.mismatches.push({ name: MANIFEST_NAME, reason: read.reason });
    return;
  }
  const listed = read.manifest.files;
  const extracted = new Map(result.files.map((f) => [f.name, f]));
  const named = new Set<string>();
  for (const item of listed) {
    const name = String(item.name);
    named.add(name);
    const got = extracted.get(name);
    if (!got) {
      if (!result.refused.some((r) => r.name === name)) {
        result.mismatches.push({ name, reason: 'listed in manifest.json but not in the archive' });
      }
      continue;
    }
    if (typeof item.bytes === 'number' && item.bytes !== got.bytes) {
      result.mismatches.push({ name, reason: `${got.bytes} bytes, manifest.json says ${item.bytes}` });
    } else if (typeof item.sha256 === 'string' && item.sha256.toLowerCase() !== got.sha256) {
      result.mismatches.push({ name, reason: 'sha256 differs from manifest.json' });
    }
  }
  for (const f of result.files) {
    if (!named.has(f.name)) result.mismatches.push({ name: f.name, reason: 'not listed in manifest.json' });
  }
}
