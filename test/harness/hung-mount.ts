// Run a command beside a mount that never answers, as a dead sshfs or NFS server leaves one: a FUSE
// mount (`fuse.sshfs`) whose daemon never reads /dev/fuse, so every statfs on it blocks in the kernel.
// It lives in a private mount namespace (`unshare -m`), so no other process on this shared machine
// ever sees it; closing /dev/fuse when the command is done aborts the connection and frees it.
//   unshare -m --propagation private node --import tsx test/harness/hung-mount.ts MOUNTPOINT CMD ARGS...
// prints one JSON line {exitCode, stdout, stderr, ms}.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';

const [mountpoint, cmd, ...args] = process.argv.slice(2);
if (!mountpoint || !cmd) throw new Error('usage: hung-mount.ts MOUNTPOINT CMD ARGS...');
mkdirSync(mountpoint, { recursive: true });
const fuse = openSync('/dev/fuse', 'r+');
// -i: the kernel's own fuse mount, no mount.fuse.sshfs helper (and no sshfs) needed.
const mounted = spawnSync(
  'mount',
  ['-i', '-t', 'fuse.sshfs', '-o', 'fd=3,rootmode=40000,user_id=0,group_id=0', 'backup@nas:/srv', mountpoint],
  { stdio: ['ignore', 'inherit', 'inherit', fuse] },
);
if (mounted.status !== 0) throw new Error(`mount of the hung FUSE filesystem failed (${mounted.status})`);
const started = Date.now();
const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
let stdout = '';
let stderr = '';
child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
child.on('close', (code, signal) => {
  clearTimeout(kill);
  const ms = Date.now() - started;
  spawnSync('umount', ['-l', mountpoint]);
  process.stdout.write(`${JSON.stringify({ exitCode: code ?? signal, stdout, stderr, ms })}\n`);
  // Closing /dev/fuse (at exit) aborts the connection: the blocked statfs calls fail with ENOTCONN.
  process.exit(0);
});
