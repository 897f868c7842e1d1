import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError, MizualError } from '../core/errors.js';
import { busyShare } from '../core/units.js';

/** The subset of `fs.StatFs` (non-bigint) that disk figures need. */
export interface StatfsLike {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

/** Where to read host figures from; both are injectable so unit tests run on a fixture procfs. */
export interface HostOptions {
  /** procfs root, default `/proc`. */
  procRoot?: string;
  /** statfs implementation, default a `stat -f` child bounded by the timeout (see defaultStatfs). */
  statfs?: (path: string, timeoutMs?: number) => Promise<StatfsLike>;
  /** How long one filesystem may take to answer statfs (default 2 s). */
  statfsTimeoutMs?: number;
}

export interface CpuTimes {
  /** Jiffies spent not idle (total - idle - iowait), summed over all CPUs since boot. */
  busy: number;
  /** All jiffies (user..steal), summed over all CPUs since boot. */
  total: number;
  /** Number of `cpuN` lines, i.e. online CPUs. */
  cores: number;
}

export interface MemoryFigures {
  totalBytes: number;
  availableBytes: number;
  /** total - available: memory the kernel cannot hand out without swapping. */
  usedBytes: number;
  /** usedBytes / totalBytes, 0..100 with one decimal. */
  usedPercent: number;
  swapTotalBytes: number;
  swapUsedBytes: number;
  swapFreeBytes: number;
}

export interface LoadFigures {
  load1: number;
  load5: number;
  load15: number;
}

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

export interface NetCounters {
  iface: string;
  rxBytes: number;
  txBytes: number;
}

export interface NetRates extends NetCounters {
  rxBytesPerSec: number;
  txBytesPerSec: number;
}

export interface HostSample {
  cpu: CpuTimes;
  net: NetCounters[];
  /** performance.now() when the sample was taken (ms, monotonic). */
  at: number;
}

export interface HostFigures {
  uptimeSeconds: number;
  load: LoadFigures;
  cpu: { percent: number; cores: number };
  memory: MemoryFigures;
  disks: DiskFigures[];
  /** Mounts that did not answer statfs within 2 s (a hung NFS or FUSE mount). */
  disksNotAnswering: MountEntry[];
  network: NetRates[];
}

const DEFAULT_PROC_ROOT = '/proc';

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

/** Read all the host figures, sampling CPU and network twice `intervalMs` apart. */
export async function readHostFigures(
  opts: HostOptions & { intervalMs: number; keepVeth?: boolean },
): Promise<HostFigures> {
  // Everything read once runs while the interval elapses, so the call costs about intervalMs.
  const sampling = (async (): Promise<[HostSample, HostSample]> => {
    const before = await readHostSample(opts);
    await sleep(Math.max(0, opts.intervalMs));
    return [before, await readHostSample(opts)];
  })();
  const [[before, after], uptimeSeconds, load, memory, filesystems] = await Promise.all([
    sampling,
    readUptimeSeconds(opts),
    readLoad(opts),
    readMemory(opts),
    readFilesystemReport(opts),
  ]);
  return {
    uptimeSeconds,
    load,
    cpu: { percent: computeCpuPercent(before.cpu, after.cpu), cores: after.cpu.cores },
    memory,
    disks: filesystems.disks,
    disksNotAnswering: filesystems.notAnswering,
    network: computeNetRates(before.net, after.net, after.at - before.at),
  };
}

/** Read the counters that need two samples (CPU, network) at one instant. */
export async function readHostSample(opts?: HostOptions & { keepVeth?: boolean }): Promise<HostSample> {
  const [cpu, net] = await Promise.all([readCpuTimes(opts), readNetCounters(opts)]);
  return { cpu, net, at: performance.now() };
}

/** Read the aggregate CPU times from `<procRoot>/stat`. */
export async function readCpuTimes(opts?: HostOptions): Promise<CpuTimes> {
  const path = procPath(opts, 'stat');
  return parseProcStat(await readProcFile(path), path);
}

/** Parse `/proc/stat` text into busy/total jiffies and the number of CPUs. */
export function parseProcStat(text: string, source = 'stat'): CpuTimes {
  let aggregate: number[] | undefined;
  let cores = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('cpu ')) aggregate = line.trim().split(/\s+/).slice(1).map(Number);
    else if (/^cpu\d+\s/.test(line)) cores++;
  }
  if (!aggregate || aggregate.length < 4 || aggregate.some((n) => !Number.isFinite(n))) {
    throw new MizualError(`${source}: no aggregate "cpu" line`);
  }
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already
  // counted in user and nice, so only the first eight columns make up the total.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = aggregate;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total, cores: Math.max(cores, 1) };
}

/** CPU busy percent between two readings, 0..100 with one decimal. */
export function computeCpuPercent(before: CpuTimes, after: CpuTimes): number {
  const share = busyShare(before, after);
  return share === null ? 0 : roundTo1(clamp(share * 100, 0, 100));
}

/** Read memory and swap figures from `<procRoot>/meminfo`. */
export async function readMemory(opts?: HostOptions): Promise<MemoryFigures> {
  const path = procPath(opts, 'meminfo');
  return parseMeminfo(await readProcFile(path), path);
}

/** Parse `/proc/meminfo` text; used memory is MemTotal - MemAvailable. */
export function parseMeminfo(text: string, source = 'meminfo'): MemoryFigures {
  const kib = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([\w()]+):\s+(\d+)/.exec(line);
    if (match?.[1] && match[2]) kib.set(match[1], Number(match[2]));
  }
  const total = kib.get('MemTotal');
  if (total === undefined) throw new MizualError(`${source}: no MemTotal line`);
  // Kernels before 3.14 lack MemAvailable; free + buffers + page cache is the usual stand-in.
  const available = Math.min(
    total,
    kib.get('MemAvailable') ??
      (kib.get('MemFree') ?? 0) + (kib.get('Buffers') ?? 0) + (kib.get('Cached') ?? 0) + (kib.get('SReclaimable') ?? 0),
  );
  const swapTotal = kib.get('SwapTotal') ?? 0;
  const swapFree = Math.min(swapTotal, kib.get('SwapFree') ?? 0);
  const used = total - available;
  return {
    totalBytes: total * 1024,
    availableBytes: available * 1024,
    usedBytes: used * 1024,
    usedPercent: total > 0 ? roundTo1((used / total) * 100) : 0,
    swapTotalBytes: swapTotal * 1024,
    swapUsedBytes: (swapTotal - swapFree) * 1024,
    swapFreeBytes: swapFree * 1024,
  };
}

/** Read the 1/5/15-minute load averages from `<procRoot>/loadavg`. */
export async function readLoad(opts?: HostOptions): Promise<LoadFigures> {
  const path = procPath(opts, 'loadavg');
  const [load1, load5, load15] = (await readProcFile(path)).trim().split(/\s+/).map(Number);
  if (!isFiniteNumber(load1) || !isFiniteNumber(load5) || !isFiniteNumber(load15)) {
    throw new MizualError(`${path}: unexpected content`);
  }
  return { load1, load5, load15 };
}

/** Read seconds since boot from `<procRoot>/uptime`. */
export async function readUptimeSeconds(opts?: HostOptions): Promise<number> {
  const path = procPath(opts, 'uptime');
  const seconds = Number((await readProcFile(path)).trim().split(/\s+/)[0]);
  if (!Number.isFinite(seconds)) throw new MizualError(`${path}: unexpected content`);
  return seconds;
}

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

/** Read per-interface byte counters from `<procRoot>/net/dev`, skipping loopback and (unless keepVeth) veth pairs. */
export async function readNetCounters(opts?: HostOptions & { keepVeth?: boolean }): Promise<NetCounters[]> {
  return parseNetDev(await readProcFile(procPath(opts, 'net', 'dev')), opts);
}

/**
 * Whether an interface is a virtual one (bridge, veth, ifb, tunnel): its `/sys/class/net` link points
 * under `devices/virtual`. An interface unknown to sysfs (a fixture procfs) counts as physical.
 */
export async function isVirtualInterface(iface: string, sysRoot = '/sys'): Promise<boolean> {
  try {
    return (await fsp.readlink(join(sysRoot, 'class', 'net', iface))).includes('/devices/virtual/');
  } catch {
    return false;
  }
}

/** Processes the kernel's OOM killer has killed since boot (`oom_kill` in `<procRoot>/vmstat`, kernel 4.13+); null when absent. */
export async function readOomKills(opts?: HostOptions): Promise<number | null> {
  const text = await readProcFile(procPath(opts, 'vmstat'));
  const match = /^oom_kill (\d+)$/m.exec(text);
  return match ? Number(match[1]) : null;
}

/** This boot's id (`<procRoot>/sys/kernel/random/boot_id`), to tell a reboot from a counter that went backwards; null if unreadable. */
export async function readBootId(opts?: HostOptions): Promise<string | null> {
  try {
    return (await fsp.readFile(procPath(opts, 'sys', 'kernel', 'random', 'boot_id'), 'utf8')).trim() || null;
  } catch {
    return null;
  }
}

/** Parse `/proc/net/dev` text; `lo` and (unless keepVeth) Docker's `veth*` ends are left out. */
export function parseNetDev(text: string, options: { keepVeth?: boolean } = {}): NetCounters[] {
  const counters: NetCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    if (iface === '' || iface === 'lo' || (iface.startsWith('veth') && !options.keepVeth)) continue;
    // Old kernels print "eth0:123" with no space, hence splitting after the colon.
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    const rxBytes = fields[0];
    const txBytes = fields[8];
    if (!isFiniteNumber(rxBytes) || !isFiniteNumber(txBytes)) continue;
    counters.push({ iface, rxBytes, txBytes });
  }
  return counters;
}

/** Bytes per second per interface between two readings `elapsedMs` apart (0 for new or reset counters). */
export function computeNetRates(
  before: readonly NetCounters[],
  after: readonly NetCounters[],
  elapsedMs: number,
): NetRates[] {
  const previous = new Map(before.map((c) => [c.iface, c]));
  const seconds = elapsedMs / 1000;
  return after.map((now) => {
    const then = previous.get(now.iface);
    return {
      ...now,
      rxBytesPerSec: rate(then?.rxBytes, now.rxBytes, seconds),
      txBytesPerSec: rate(then?.txBytes, now.txBytes, seconds),
    };
  });
}

function rate(before: number | undefined, after: number, seconds: number): number {
  // An interface recreated between samples restarts its counters; a negative rate is noise.
  if (before === undefined || seconds <= 0 || after < before) return 0;
  return Math.round((after - before) / seconds);
}

async function readMountsFile(opts?: HostOptions): Promise<string> {
  const primary = procPath(opts, 'self', 'mounts');
  try {
    return await fsp.readFile(primary, 'utf8');
  } catch {
    return readProcFile(procPath(opts, 'mounts'));
  }
}

async function readProcFile(path: string): Promise<string> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (err) {
    throw new MizualError(`cannot read ${path}: ${describeError(err)}`, undefined, { cause: err });
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

function procPath(opts: HostOptions | undefined, ...parts: string[]): string {
  return join(opts?.procRoot ?? DEFAULT_PROC_ROOT, ...parts);
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

function roundTo1(n: number): number {
  return Math.round(n * 10) / 10;
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

function isFiniteNumber(n: number | undefined): n is number {
  return n !== undefined && Number.isFinite(n);
}
