import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MizualError } from '../../src/core/errors.js';
import {
  readFilesystemReport,
  computeCpuPercent,
  computeNetRates,
  decodeMountField,
  isRealFilesystem,
  parseMounts,
  readCpuTimes,
  readFilesystems,
  readHostFigures,
  readLoad,
  readMemory,
  readNetCounters,
  readUptimeSeconds,
  selectRealMounts,
  toDiskFigures,
  type StatfsLike,
} from '../../src/host/index.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/proc/', import.meta.url));
const SAMPLE_A = join(FIXTURES, 'sample-a');
const SAMPLE_B = join(FIXTURES, 'sample-b');

const ROOT_STATS: StatfsLike = {
  bsize: 4096,
  blocks: 10_000_000,
  bfree: 4_000_000,
  bavail: 3_500_000,
  files: 2_600_000,
  ffree: 2_000_000,
};
const DATA_STATS: StatfsLike = { bsize: 4096, blocks: 1000, bfree: 580, bavail: 580, files: 100, ffree: 100 };

// Only the mounts the sample-a table keeps should ever reach statfs; every path is listed so
// a pseudo filesystem that slipped through the filter would show up in `called`.
function fakeStatfs(): { statfs: (path: string) => Promise<StatfsLike>; called: string[] } {
  const table: Record<string, StatfsLike> = {
    '/': ROOT_STATS,
    '/srv/backup-bind': ROOT_STATS,
    '/boot/efi': { bsize: 512, blocks: 213_663, bfree: 200_000, bavail: 200_000, files: 0, ffree: 0 },
    '/mnt/data volume': DATA_STATS,
    '/var/lib/docker/volumes/data/_data': DATA_STATS,
    '/mnt/empty': { bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0 },
  };
  const called: string[] = [];
  const statfs = async (path: string): Promise<StatfsLike> => {
    called.push(path);
    const stats = table[path];
    if (!stats)
      throw Object.assign(new Error(`ENOENT: no such file or directory, statfs '${path}'`), { code: 'ENOENT' });
    return stats;
  };
  return { statfs, called };
}

describe('CPU', () => {
  it('parses the aggregate cpu line, excluding guest columns, and counts cores', async () => {
    // total = user..steal = 94800 (guest 400 not added again); busy = total - idle - iowait.
    assert.deepEqual(await readCpuTimes({ procRoot: SAMPLE_A }), { busy: 13800, total: 94800, cores: 2 });
  });

  it('computes busy percent from two /proc/stat snapshots', async () => {
    const before = await readCpuTimes({ procRoot: SAMPLE_A });
    const after = await readCpuTimes({ procRoot: SAMPLE_B });
    // 1000 busy of 1900 jiffies. Counting guest twice would give 59.1, counting iowait as busy 57.9.
    assert.equal(computeCpuPercent(before, after), 52.6);
  });

  it('reports 0 when no time has passed and clamps counters that went backwards', () => {
    const t = { busy: 100, total: 1000, cores: 2 };
    assert.equal(computeCpuPercent(t, t), 0);
    assert.equal(computeCpuPercent(t, { busy: 50, total: 1100, cores: 2 }), 0);
    assert.equal(computeCpuPercent(t, { busy: 300, total: 1100, cores: 2 }), 100);
  });
});

describe('memory', () => {
  it('uses MemTotal - MemAvailable, not free-style used', async () => {
    const memory = await readMemory({ procRoot: SAMPLE_A });
    assert.deepEqual(memory, {
      totalBytes: 2_000_000 * 1024,
      availableBytes: 700_000 * 1024,
      usedBytes: 1_300_000 * 1024,
      usedPercent: 65,
      swapTotalBytes: 1_048_572 * 1024,
      swapUsedBytes: 48_572 * 1024,
      swapFreeBytes: 1_000_000 * 1024,
    });
    // The fixture is chosen so both `free` readings disagree with MemAvailable:
    // total - free = 95%, total - free - buffers - cache = 49.5%.
    assert.notEqual(memory.usedPercent, 95);
    assert.notEqual(memory.usedPercent, 49.5);
  });

  it('estimates available memory on kernels without MemAvailable', async () => {
    const memory = await readMemory({ procRoot: join(FIXTURES, 'old-kernel') });
    // free 200000 + buffers 50000 + cached 300000 + reclaimable slab 50000 of 1000000 kB.
    assert.equal(memory.availableBytes, 600_000 * 1024);
    assert.equal(memory.usedPercent, 40);
    assert.equal(memory.swapTotalBytes, 0);
    assert.equal(memory.swapUsedBytes, 0);
  });
});

describe('load and uptime', () => {
  it('parses /proc/loadavg', async () => {
    assert.deepEqual(await readLoad({ procRoot: SAMPLE_A }), { load1: 0.52, load5: 0.58, load15: 1.25 });
  });

  it('parses /proc/uptime', async () => {
    assert.equal(await readUptimeSeconds({ procRoot: SAMPLE_A }), 123456.78);
  });

  it('names the file it could not read', async () => {
    const missing = join(FIXTURES, 'does-not-exist');
    await assert.rejects(readLoad({ procRoot: missing }), (err: unknown) => {
      assert.ok(err instanceof MizualError);
      assert.match(err.message, /does-not-exist\/loadavg/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  });
});

describe('filesystems', () => {
  it('reports a mount whose statfs never answers as not answering, after the timeout, keeping the rest', async () => {
    const { statfs } = fakeStatfs();
    let answer: (s: StatfsLike) => void = () => undefined;
    const hung = new Promise<StatfsLike>((resolve) => (answer = resolve));
    const hanging = (path: string) => (path === '/boot/efi' ? hung : statfs(path));
    const started = performance.now();
    const first = await readFilesystemReport({ procRoot: SAMPLE_A, statfs: hanging, statfsTimeoutMs: 200 });
    assert.ok(performance.now() - started < 2000);
    assert.deepEqual(
      first.notAnswering.map((m) => m.mount),
      ['/boot/efi'],
    );
    assert.deepEqual(
      first.disks.map((d) => d.mount),
      ['/', '/mnt/data volume'],
    );
    // Still hanging: not asked again (a --watch refresh must not pile up another call).
    let asked = 0;
    const counting = (path: string) =>
      path === '/boot/efi' ? (asked++, new Promise<never>(() => undefined)) : statfs(path);
    const second = await readFilesystemReport({ procRoot: SAMPLE_A, statfs: counting, statfsTimeoutMs: 200 });
    assert.equal(asked, 0);
    assert.deepEqual(
      second.notAnswering.map((m) => m.mount),
      ['/boot/efi'],
    );
    // Once it answers (the mount came back), it is asked again.
    answer(await statfs('/boot/efi'));
    await new Promise((r) => setImmediate(r));
    const third = await readFilesystemReport({ procRoot: SAMPLE_A, statfs, statfsTimeoutMs: 200 });
    assert.deepEqual(third.notAnswering, []);
  });

  it('keeps real filesystems once each, with df-style figures', async () => {
    const { statfs } = fakeStatfs();
    const disks = await readFilesystems({ procRoot: SAMPLE_A, statfs });
    assert.deepEqual(
      disks.map((d) => d.mount),
      ['/', '/boot/efi', '/mnt/data volume'],
    );
    const root = disks[0];
    assert.deepEqual(root, {
      mount: '/',
      device: '/dev/root',
      fsType: 'ext4',
      totalBytes: 10_000_000 * 4096,
      usedBytes: 6_000_000 * 4096,
      availableBytes: 3_500_000 * 4096,
      // used / (used + available) = 63.157..%, rounded up like df; used / total would be 60.
      usedPercent: 63.2,
      inodesTotal: 2_600_000,
      inodesUsed: 600_000,
      inodesUsedPercent: 23.1,
    });
  });

  it('never statfs-es pseudo or hidden mounts, and skips zero-size and unstat-able ones', async () => {
    const { statfs, called } = fakeStatfs();
    const disks = await readFilesystems({ procRoot: SAMPLE_A, statfs });
    assert.deepEqual([...called].sort(), ['/', '/boot/efi', '/mnt/data volume', '/mnt/empty', '/mnt/gone']);
    const mounts = disks.map((d) => d.mount);
    assert.ok(!mounts.includes('/mnt/empty'), 'zero-size filesystem reported');
    assert.ok(!mounts.includes('/mnt/gone'), 'a mount statfs failed on was reported');
    assert.ok(!mounts.includes('/mnt/hidden'), 'a mount hidden under tmpfs was reported');
  });

  it('dedupes bind mounts of one device to the shortest path, whatever the table order', () => {
    const entries = parseMounts(
      [
        '/dev/sdb /var/lib/docker/volumes/x/_data ext4 rw 0 0',
        '/dev/sdb /data ext4 rw 0 0',
        '/dev/sdb /srv/data ext4 rw 0 0',
      ].join('\n'),
    );
    assert.deepEqual(selectRealMounts(entries), [{ device: '/dev/sdb', mount: '/data', fsType: 'ext4' }]);
  });

  it('decodes octal escapes in mount paths', () => {
    assert.equal(decodeMountField('/mnt/data\\040volume'), '/mnt/data volume');
    assert.equal(decodeMountField('/mnt/a\\011b\\134c\\012d'), '/mnt/a\tb\\c\nd');
    assert.deepEqual(parseMounts('/dev/sdc /media/My\\040Disk ext4 rw 0 0\n'), [
      { device: '/dev/sdc', mount: '/media/My Disk', fsType: 'ext4' },
    ]);
  });

  it('classifies filesystem types', () => {
    for (const fsType of [
      'tmpfs',
      'devtmpfs',
      'overlay',
      'proc',
      'sysfs',
      'cgroup2',
      'squashfs',
      'fuse.lxcfs',
      'nsfs',
    ]) {
      assert.equal(isRealFilesystem(fsType, 'whatever'), false, fsType);
    }
    for (const fsType of ['ext4', 'xfs', 'btrfs', 'vfat', 'nfs4', 'zfs', 'fuse.sshfs']) {
      assert.equal(isRealFilesystem(fsType, '/dev/sda1'), true, fsType);
    }
    assert.equal(isRealFilesystem('ext4', 'none'), false);
  });

  it('falls back to <procRoot>/mounts when self/mounts is missing', async () => {
    const disks = await readFilesystems({
      procRoot: join(FIXTURES, 'mounts-fallback'),
      statfs: async () => ROOT_STATS,
    });
    assert.deepEqual(
      disks.map((d) => [d.mount, d.device, d.fsType]),
      [['/', '/dev/vda1', 'ext4']],
    );
  });

  it('rounds used percent up but keeps exact values exact', () => {
    const entry = { device: '/dev/x', mount: '/x', fsType: 'ext4' };
    assert.equal(toDiskFigures(entry, DATA_STATS).usedPercent, 42);
    const nearlyFull = { ...DATA_STATS, blocks: 100_000, bfree: 1, bavail: 1 };
    assert.equal(toDiskFigures(entry, nearlyFull).usedPercent, 100);
    const reserved = { ...DATA_STATS, blocks: 1000, bfree: 100, bavail: 0 };
    assert.equal(
      toDiskFigures(entry, reserved).usedPercent,
      100,
      'a disk full for users is 100% even with root reserve',
    );
  });
});

describe('network', () => {
  it('parses /proc/net/dev, skipping lo and veth*', async () => {
    assert.deepEqual(await readNetCounters({ procRoot: SAMPLE_A }), [
      { iface: 'eth0', rxBytes: 1_000_000, txBytes: 500_000 },
      { iface: 'eth1', rxBytes: 1_234_567_890, txBytes: 987_654_321 },
      { iface: 'docker0', rxBytes: 2000, txBytes: 3000 },
      { iface: 'br-0123456789ab', rxBytes: 1000, txBytes: 2000 },
    ]);
  });

  it('computes per-second rates between two samples', async () => {
    const before = await readNetCounters({ procRoot: SAMPLE_A });
    const after = await readNetCounters({ procRoot: SAMPLE_B });
    const rates = computeNetRates(before, after, 5000);
    assert.deepEqual(
      rates.map((r) => [r.iface, r.rxBytesPerSec, r.txBytesPerSec]),
      [
        ['eth0', 100_000, 20_000],
        ['eth1', 0, 0],
        ['docker0', 0, 0],
        ['br-0123456789ab', 0, 0], // counters reset: no negative rate
        ['wg0', 0, 0], // new interface: no previous sample
      ],
    );
    assert.equal(rates[0]?.rxBytes, 1_500_000);
    assert.deepEqual(computeNetRates(before, after, 0)[0], {
      iface: 'eth0',
      rxBytes: 1_500_000,
      txBytes: 600_000,
      rxBytesPerSec: 0,
      txBytesPerSec: 0,
    });
  });
});

describe('readHostFigures', () => {
  it('combines every figure from a fixture root', async () => {
    const { statfs } = fakeStatfs();
    const figures = await readHostFigures({ procRoot: SAMPLE_A, statfs, intervalMs: 20 });
    assert.equal(figures.uptimeSeconds, 123456.78);
    assert.deepEqual(figures.load, { load1: 0.52, load5: 0.58, load15: 1.25 });
    assert.deepEqual(figures.cpu, { percent: 0, cores: 2 }); // identical snapshots
    assert.equal(figures.memory.usedPercent, 65);
    assert.deepEqual(
      figures.disks.map((d) => d.mount),
      ['/', '/boot/efi', '/mnt/data volume'],
    );
    assert.deepEqual(
      figures.network.map((n) => n.iface),
      ['eth0', 'eth1', 'docker0', 'br-0123456789ab'],
    );
  });

  it('reads the real /proc of this machine', async () => {
    const meminfo = await readFile('/proc/meminfo', 'utf8');
    const memTotalKib = Number(/^MemTotal:\s+(\d+) kB$/m.exec(meminfo)?.[1]);
    assert.ok(memTotalKib > 0);

    const started = performance.now();
    const figures = await readHostFigures({ intervalMs: 200 });
    const elapsed = performance.now() - started;

    assert.equal(figures.memory.totalBytes, memTotalKib * 1024);
    assert.ok(figures.memory.availableBytes > 0 && figures.memory.availableBytes <= figures.memory.totalBytes);
    assert.ok(figures.cpu.percent >= 0 && figures.cpu.percent <= 100);
    // libuv counts CPUs from the same /proc/stat lines.
    assert.equal(figures.cpu.cores, cpus().length);
    assert.ok(figures.uptimeSeconds > 0);
    assert.ok(elapsed >= 190 && elapsed < 2000, `took ${elapsed} ms`);
    for (const disk of figures.disks) {
      assert.ok(disk.totalBytes > 0, disk.mount);
      assert.ok(!['tmpfs', 'proc', 'overlay', 'devtmpfs'].includes(disk.fsType), disk.mount);
    }
    assert.ok(figures.network.every((n) => n.iface !== 'lo' && !n.iface.startsWith('veth')));
  });
});
