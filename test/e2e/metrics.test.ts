import { execa } from 'execa';
import assert from 'node:assert/strict';
import { readFileSync, statfsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ensureDocker, removeStartedContainers, startContainer, uniqueName, waitForState } from '../harness/docker.js';
import { ROOT, runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir();
after(scratch.cleanup);
const ESC = '\u001b[';

interface Report {
  host: string;
  time: string;
  cpu: { percent: number; cores: number };
  memory: { totalBytes: number; availableBytes: number; usedPercent: number };
  disks: { mount: string; totalBytes: number; usedBytes: number; usedPercent: number }[];
  network: { iface: string; rxBytesPerSec: number; txBytesPerSec: number }[];
  docker: { available: boolean; reason: string | null };
  containers: {
    name: string;
    state: string;
    health: string;
    cpuPercent: number | null;
    memoryBytes: number | null;
    restarts: number | null;
  }[];
  redis: { container: string; usedMemoryHuman: string; usedMemoryBytes: number | null } | null;
  backendErrors: { container: string; lines: string[] } | null;
}

function meminfoBytes(field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'));
  assert.ok(match, `${field} in /proc/meminfo`);
  return Number(match[1]) * 1024;
}

describe('mizual-metrics without Docker', () => {
  const env = { DOCKER_HOST: 'unix:///nonexistent/docker.sock', MIZUAL_HOSTNAME: 'test-host' };

  it('--json agrees with /proc/meminfo and statfs("/") read independently', async () => {
    const result = await runTool('mizual-metrics', ['--json', '--no-docker'], { env, cwd: scratch.dir });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stderr, '');
    const report = JSON.parse(result.stdout) as Report;
    assert.equal(report.host, 'test-host');
    assert.ok(!Number.isNaN(Date.parse(report.time)));
    assert.equal(report.memory.totalBytes, meminfoBytes('MemTotal'));
    const available = meminfoBytes('MemAvailable');
    assert.ok(Math.abs(report.memory.availableBytes - available) < 0.05 * report.memory.totalBytes);
    const root = report.disks.find((d) => d.mount === '/');
    assert.ok(root, `/ in ${report.disks.map((d) => d.mount).join(',')}`);
    const fs = statfsSync('/');
    assert.equal(root.totalBytes, fs.blocks * fs.bsize);
    assert.ok(Math.abs(root.usedBytes - (fs.blocks - fs.bfree) * fs.bsize) < 256 * 1024 * 1024);
    assert.ok(report.cpu.percent >= 0 && report.cpu.percent <= 100);
    for (const n of report.network) assert.ok(n.rxBytesPerSec >= 0 && n.txBytesPerSec >= 0, n.iface);
    assert.equal(report.docker.available, false);
    assert.deepEqual(report.containers, []);
  });

  it('with no engine reachable it still shows the host figures, says why, and exits 0', async () => {
    const json = await runTool('mizual-metrics', ['--json'], { env, cwd: scratch.dir });
    assert.equal(json.exitCode, 0, json.stderr);
    const report = JSON.parse(json.stdout) as Report;
    assert.equal(report.docker.available, false);
    assert.match(report.docker.reason ?? '', /not reachable at unix:\/\/\/nonexistent\/docker\.sock/);
    assert.ok(report.memory.totalBytes > 0);
    const text = await runTool('mizual-metrics', [], { env, cwd: scratch.dir });
    assert.equal(text.exitCode, 0, text.stderr);
    assert.match(text.stdout, /^memory /m);
    assert.match(text.stdout, /^containers: none shown: Docker engine not reachable/m);
  });

  it('--prometheus prints valid text exposition format', async () => {
    const result = await runTool('mizual-metrics', ['--prometheus', '--no-docker'], { env, cwd: scratch.dir });
    assert.equal(result.exitCode, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    const typed = new Set<string>();
    const seen = new Set<string>();
    let current = '';
    for (const line of lines) {
      const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|untyped)$/.exec(line);
      if (type) {
        assert.ok(!typed.has(type[1] as string), `family ${type[1]} declared once`);
        typed.add(type[1] as string);
        current = type[1] as string;
        continue;
      }
      if (line.startsWith('# HELP ')) continue;
      const sample =
        /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(
          line,
        );
      assert.ok(sample, `valid sample line: ${line}`);
      assert.equal(sample[1], current, `sample ${line} follows its TYPE line`);
      const key = `${sample[1]}${sample[2] ?? ''}`;
      assert.ok(!seen.has(key), `duplicate series ${key}`);
      seen.add(key);
    }
    for (const family of ['mizual_cpu_percent', 'mizual_memory_total_bytes', 'mizual_filesystem_used_percent']) {
      assert.ok(typed.has(family), family);
    }
    assert.match(result.stdout, /^mizual_filesystem_size_bytes\{mount="\/",/m);
    assert.match(result.stdout, /^mizual_docker_up 0$/m);
  });

  it('--help and --version exit 0; a bad flag or value exits 2 with one line', async () => {
    const help = await runTool('mizual-metrics', ['--help'], { cwd: scratch.dir });
    assert.equal(help.exitCode, 0);
    assert.match(help.stdout, /--prometheus/);
    const version = await runTool('mizual-metrics', ['--version'], { cwd: scratch.dir });
    assert.equal(version.exitCode, 0);
    const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string };
    assert.equal(version.stdout.trim(), pkg.version);
    for (const args of [['--bogus'], ['--sample', 'abc'], ['--cpu', '150'], ['--json', '--prometheus']]) {
      const bad = await runTool('mizual-metrics', args, { cwd: scratch.dir });
      assert.equal(bad.exitCode, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.equal(bad.stdout, '');
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
      assert.match(bad.stderr, /^mizual-metrics: /);
      assert.doesNotMatch(bad.stderr, /\bat .*\.js:\d+/);
    }
  });

  it('colours only on a TTY and never with NO_COLOR', async () => {
    const piped = await runTool('mizual-metrics', ['--no-docker', '--disk', '1'], { env, cwd: scratch.dir });
    assert.equal(piped.exitCode, 0, piped.stderr);
    assert.ok(!piped.stdout.includes(ESC), 'no escape codes in a pipe');
    // `script` gives the tool a real pseudo-terminal; with --disk 1 the disk figure must be painted red.
    const cmd = `${process.execPath} ${ROOT}/bin/mizual-metrics.js --no-docker --disk 1`;
    const tty = await execa('script', ['-qec', cmd, '/dev/null'], {
      env: { PATH: process.env.PATH, TERM: 'xterm', ...env },
      extendEnv: false,
      reject: false,
      cwd: scratch.dir,
    });
    assert.equal(tty.exitCode, 0, String(tty.stderr));
    assert.ok(String(tty.stdout).includes(`${ESC}31`), 'red on a TTY');
    const noColor = await execa('script', ['-qec', cmd, '/dev/null'], {
      env: { PATH: process.env.PATH, TERM: 'xterm', NO_COLOR: '1', ...env },
      extendEnv: false,
      reject: false,
      cwd: scratch.dir,
    });
    assert.equal(noColor.exitCode, 0);
    assert.match(String(noColor.stdout), /filesystem/);
    assert.ok(!String(noColor.stdout).includes(ESC), 'no escape codes with NO_COLOR');
  });
});

describe('mizual-metrics with the real Docker engine', () => {
  const running = uniqueName('metrics-run');
  const stopped = uniqueName('metrics-stop');
  const redis = uniqueName('metrics-redis');
  const ghost = uniqueName('metrics-ghost');
  let env: Record<string, string>;

  before(async () => {
    await ensureDocker();
    await Promise.all([
      startContainer(
        running,
        'i=0; while :; do i=$((i+1)); echo "INFO request $i"; echo "ERROR boom $i" >&2; sleep 0.2; done',
      ),
      startContainer(stopped, 'echo bye; exit 3'),
      startContainer(
        redis,
        // A stand-in redis-cli answering INFO memory the way redis does (CRLF lines).
        'printf "#!/bin/sh\\nprintf \\"# Memory\\\\r\\\\nused_memory:1048576\\\\r\\\\nused_memory_human:1.00M\\\\r\\\\n\\"\\n" > /bin/redis-cli; chmod +x /bin/redis-cli; exec sleep 600',
      ),
    ]);
    await waitForState(stopped, ['exited']);
    env = {
      MIZUAL_HOSTNAME: 'test-host',
      MIZUAL_CONTAINERS: `backend=${running},stopped=${stopped},ghost=${ghost}`,
    };
    // Let the backend write a few error lines.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  });
  after(removeStartedContainers);

  it('shows running, exited and missing containers with their real state, CPU and memory', async () => {
    const result = await runTool('mizual-metrics', ['--json'], { env, cwd: scratch.dir });
    assert.equal(result.exitCode, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    assert.equal(report.docker.available, true, report.docker.reason ?? '');
    const byName = new Map(report.containers.map((c) => [c.name, c]));
    const run = byName.get(running);
    assert.ok(run, 'running container listed');
    assert.equal(run.state, 'running');
    assert.equal(run.health, 'none');
    assert.equal(run.restarts, 0);
    assert.ok(run.memoryBytes !== null && run.memoryBytes > 0, `memory ${run.memoryBytes}`);
    assert.ok(run.cpuPercent !== null && run.cpuPercent >= 0);
    assert.equal(byName.get(stopped)?.state, 'exited');
    assert.equal(byName.get(ghost)?.state, 'missing');
    assert.equal(report.redis?.container, redis);
    assert.equal(report.redis?.usedMemoryHuman, '1.00M');
    assert.equal(report.redis?.usedMemoryBytes, 1048576);
    assert.equal(report.backendErrors?.container, running);
    assert.ok((report.backendErrors?.lines.length ?? 0) > 0);
    for (const line of report.backendErrors?.lines ?? []) assert.match(line, /^\d{4}-\d\d-\d\dT\S+ ERROR boom \d+$/);
  });

  it('the dashboard lists the containers and the backend errors', async () => {
    const result = await runTool('mizual-metrics', [], { env, cwd: scratch.dir });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^${stopped}\\s+exited`, 'm'));
    assert.match(result.stdout, new RegExp(`^${ghost}\\s+missing`, 'm'));
    assert.match(result.stdout, /^redis \(.*\): used_memory 1\.00M$/m);
    assert.match(result.stdout, new RegExp(`^last errors in ${running}:`, 'm'));
  });
});
