// dockerd's CPU, read from /proc: what a shipper run made the engine spend (its own CPU is apart).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
export const TICK = 100;

/** The pid of the engine's daemon; throws when it does not run here. */
export function dockerdPid() {
  const pid = spawnSync('pidof', ['dockerd'], { encoding: 'utf8' }).stdout.trim().split(/\s+/)[0];
  if (!pid) throw new Error('dockerd is not running here');
  return pid;
}

/** User plus system ticks a process has used so far. */
export function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
