/**
 * The filesystem collector: the real mounts of `/proc/self/mounts` and their space and inodes, each
 * statfs bounded in time (a hung NFS or FUSE mount must not hang the tools).
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { MizualError } from '../core/errors.js';
import { clamp, isFiniteNumber, procPath, readProcFile, type HostOptions, type StatfsLike } from './proc.js';

export type { StatfsLike };

export interface DiskFigures {
  mount: string;
  device: string;
  fsType: string;
  totalBytes: number;
  usedBytes: number;
  /** Bytes an unprivileged user can still write (excludes the root reserve), as `df` shows. */
  availableBytes: number;
  /** used / (used + available) like `df`, rounded up to one decimal so a nearly full disk never looks emptier. */
  usedPercent: number;
  /** 0 when the filesystem does not report inodes (vfat, btrfs). */
  inodesTotal: number;
  inodesUsed: number;
  inodesUsedPercent: number;
}

export interface MountEntry {
  device: string;
  mount: string;
  fsType: string;
}

// Filesystems that hold no user data: kernel interfaces, memory-backed, container layers
// (overlay and aufs repeat the figures of the disk underneath, reported once under its own
// mount), and read-only images (squashfs, erofs, iso9660), which are always 100% full and
// would otherwise raise a disk alert forever.
const PSEUDO_FS_TYPES = new Set([
  'aufs',
  'autofs',
  'binfmt_misc',
  'bpf',
  'cgroup',
  'cgroup2',
  'configfs',
  'cramfs',
  'debugfs',
  'devpts',
  'devtmpfs',
  'efivarfs',
  'erofs',
  'fuse.gvfsd-fuse',
  'fuse.lxcfs',
  'fuse.portal',
  'fuse.snapfuse',
  'fusectl',
  'hugetlbfs',
  'iso9660',
  'mqueue',
  'nfsd',
  'nsfs',
  'overlay',
  'proc',
  'pstore',
  'ramfs',
  'rootfs',
  'rpc_pipefs',
  'securityfs',
  'selinuxfs',
  'squashfs',
  'sysfs',
  'tmpfs',
  'tracefs',
]);

/** Read every real mounted filesystem with its space and inode figures, sorted by mount path. */
export async function readFilesystems(opts?: HostOptions): Promise<DiskFigures[]> {
  return (await readFilesystemReport(opts)).disks;
}

/** The figures of the mounts that answered, and the mounts that did not answer statfs in time. */
export interface FilesystemReport {
  disks: DiskFigures[];
  notAnswering: MountEntry[];
}

/** How long one filesystem may take to answer statfs before it counts as not answering. */
export const STATFS_TIMEOUT_MS = 2_000;

/**
 * Mounts whose statfs did not answer in time, with the child still asking. A hung mount is not asked
 * again while its child lives (`--watch` would pile one up per refresh), and no new child starts once
 * MAX_HUNG are stuck.
 */
const hungStatfs = new Set<string>();
const MAX_HUNG = 8;

/** Read the real mounted filesystems, giving each `statfsTimeoutMs` (default 2 s) to answer. */
export async function readFilesystemReport(opts?: HostOptions): Promise<FilesystemReport> {
  const statfs = opts?.statfs ?? defaultStatfs;
  const timeoutMs = opts?.statfsTimeoutMs ?? STATFS_TIMEOUT_MS;
  const candidates = selectRealMounts(parseMounts(await readMountsFile(opts)));
  const notAnswering: MountEntry[] = [];
  const figures = await Promise.all(
    candidates.map(async (entry) => {
      if (hungStatfs.has(entry.mount) || hungStatfs.size >= MAX_HUNG) {
        notAnswering.push(entry);
        return undefined;
      }
      const call = statfs(entry.mount, timeoutMs);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
      try {
        const answer = await Promise.race([call, late]);
        if (answer === 'late') {
          notAnswering.push(entry);
          hungStatfs.add(entry.mount);
          const forget = (): void => void hungStatfs.delete(entry.mount);
          call.then(forget, forget);
          return undefined;
        }
        return toDiskFigures(entry, answer);
      } catch {
        // A mount we cannot stat (gone since the table was read, no permission, stale NFS
        // handle) must not hide the figures of every other disk.
        return undefined;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return {
    disks: figures
      .filter((disk): disk is DiskFigures => disk !== undefined && disk.totalBytes > 0)
      .sort((a, b) => compareStrings(a.mount, b.mount)),
    notAnswering: notAnswering.sort((a, b) => compareStrings(a.mount, b.mount)),
  };
}

/** Whether a mount holds real data worth reporting (not a kernel, memory or container-layer filesystem). */
export function isRealFilesystem(fsType: string, device: string): boolean {
  if (PSEUDO_FS_TYPES.has(fsType)) return false;
  // "none" or an empty source means no backing device; systemd's automount points too.
  if (device === '' || device === 'none' || device === 'systemd-1') return false;
  return true;
}

/** Parse a mounts table (`/proc/self/mounts` format), decoding octal escapes such as `\040`. */
export function parseMounts(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [device, mount, fsType] = line.trim().split(/\s+/);
    if (!device || !mount || !fsType) continue;
    entries.push({ device: decodeMountField(device), mount: decodeMountField(mount), fsType });
  }
  return entries;
}

/** Decode the kernel's octal escapes in a mounts field (`\040` space, `\011` tab, `\012` newline, `\134` backslash). */
export function decodeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Keep real filesystems only, once each: the last mount on a path wins (it hides the ones
 * below), and bind mounts of one device collapse to the shortest mount path.
 */
export function selectRealMounts(entries: readonly MountEntry[]): MountEntry[] {
  const byMount = new Map<string, MountEntry>();
  for (const entry of entries) {
    byMount.delete(entry.mount); // re-insert so order follows the visible mount
    byMount.set(entry.mount, entry);
  }
  const byDevice = new Map<string, MountEntry>();
  for (const entry of byMount.values()) {
    if (!isRealFilesystem(entry.fsType, entry.device)) continue;
    const kept = byDevice.get(entry.device);
    if (!kept || isPreferredMount(entry.mount, kept.mount)) byDevice.set(entry.device, entry);
  }
  return [...byDevice.values()];
}

/** Space and inode figures of one mount from its statfs result, computed the way `df` does. */
export function toDiskFigures(entry: MountEntry, stats: StatfsLike): DiskFigures {
  const usedBlocks = Math.max(0, stats.blocks - stats.bfree);
  const availBlocks = Math.max(0, stats.bavail);
  const inodesUsed = Math.max(0, stats.files - stats.ffree);
  return {
    mount: entry.mount,
    device: entry.device,
    fsType: entry.fsType,
    totalBytes: stats.blocks * stats.bsize,
    usedBytes: usedBlocks * stats.bsize,
    availableBytes: availBlocks * stats.bsize,
    usedPercent: ceilPercent(usedBlocks, usedBlocks + availBlocks),
    inodesTotal: stats.files,
    inodesUsed,
    inodesUsedPercent: ceilPercent(inodesUsed, stats.files),
  };
}

async function readMountsFile(opts?: HostOptions): Promise<string> {
  const primary = procPath(opts, 'self', 'mounts');
  try {
    return await fsp.readFile(primary, 'utf8');
  } catch {
    return readProcFile(procPath(opts, 'mounts'));
  }
}

/**
 * statfs(2) of one mount, asked by a `stat -f` child rather than in this process: a statfs blocked on a
 * hung NFS or FUSE mount holds its libuv thread forever, and Node's exit then waits for that thread, so
 * a process that once asked could never exit. The child is killed after `timeoutMs` and never keeps
 * this process alive. Block counts are in the fundamental block size (f_frsize), as df counts them.
 */
function defaultStatfs(path: string, timeoutMs = STATFS_TIMEOUT_MS): Promise<StatfsLike> {
  return new Promise((resolve, reject) => {
    const child = spawn('stat', ['-f', '-c', '%S %b %f %a %c %d', '--', path], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => void (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      // A child stuck in the kernel may outlive SIGKILL for a while: let the process exit without it.
      child.unref();
      child.stdout.destroy();
      reject(new MizualError(`statfs ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs + 100);
    // The caller's own timer decides "not answering" first; this one only cleans up, never holds the exit.
    timer.unref();
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // No `stat` on PATH: ask in-process, unbounded, rather than report no disks at all.
      if (err.code === 'ENOENT') fsp.statfs(path, { bigint: false }).then(resolve, reject);
      else reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const [bsize, blocks, bfree, bavail, files, ffree] = out.trim().split(/\s+/).map(Number);
      if (code !== 0 || ![bsize, blocks, bfree, bavail, files, ffree].every(isFiniteNumber)) {
        reject(new MizualError(`statfs ${path}: stat -f failed (${code})`));
        return;
      }
      resolve({ bsize, blocks, bfree, bavail, files, ffree } as StatfsLike);
    });
  });
}

function isPreferredMount(candidate: string, kept: string): boolean {
  return candidate.length < kept.length || (candidate.length === kept.length && candidate < kept);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// df rounds up, so 99.01% full shows as 100% rather than a reassuring 99%; we keep one decimal.
// Counts are whole blocks/inodes, so part * 1000 / whole is exact whenever the true value is.
function ceilPercent(part: number, whole: number): number {
  if (whole <= 0) return 0;
  return clamp(Math.ceil((part * 1000) / whole) / 10, 0, 100);
}
