import { execa } from 'execa';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ContainerFigures } from '../../src/metrics/report.js';
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
  // The container figures are the report module's own type; the test checks their values.
  containers: ContainerFigures[];
  diskTrends: { mount: string; growthBytesPerDay: number | null; fullAt: string | null }[];
  redis: { container: string; usedMemoryHuman: string; usedMemoryBytes: number | null } | null;
  backendErrors: { container: string; lines: string[]; last5m: number; last60m: number } | null;
}

/** promtool from Debian's prometheus package, the way Prometheus's own tooling reads the text format. */
async function promtoolCheck(text: string): Promise<void> {
  const result = await execa('promtool', ['check', 'metrics'], { input: `${text.trimEnd()}\n`, reject: false });
  assert.equal(result.exitCode, 0, `promtool: ${String(result.stdout)}${String(result.stderr)}`);
  assert.equal(`${String(result.stdout)}${String(result.stderr)}`.trim(), '', 'no lint findings');
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
    assert.match(result.stdout, /^# TYPE mizual_network_receive_bytes_total counter$/m);
    await promtoolCheck(result.stdout);
  });

  it("the filesystem growth and forecast come from mizual-alerts' samples in the state dir", async () => {
    const stateDir = mkdtempSync(path.join(scratch.dir, 'state-'));
    const used = statfsSync('/');
    const usedBytes = (used.blocks - used.bfree) * used.bsize;
    const now = Date.now();
    // 12 hours of samples growing 1 GiB a day up to the current figure.
    const samples = Array.from({ length: 73 }, (_, i) => {
      const ago = (72 - i) * 600_000;
      return [now - ago, usedBytes - Math.round((ago / 86_400_000) * 1024 ** 3)];
    });
    writeFileSync(
      path.join(stateDir, 'alerts-state.json'),
      JSON.stringify({ version: 1, updatedAt: null, checks: {}, cpu: null, trends: { disks: { '/': { samples } } } }),
    );
    const result = await runTool('mizual-metrics', ['--json', '--no-docker'], {
      env: { ...env, MIZUAL_STATE_DIR: stateDir },
      cwd: scratch.dir,
    });
    assert.equal(result.exitCode, 0, result.stderr);
    const root = (JSON.parse(result.stdout) as Report).diskTrends.find((d) => d.mount === '/');
    const rate = root?.growthBytesPerDay ?? 0;
    assert.ok(Math.abs(rate - 1024 ** 3) < 0.2 * 1024 ** 3, `growth ${rate}`);
    assert.ok(root?.fullAt && Date.parse(root.fullAt) > now, String(root?.fullAt));
    const text = await runTool('mizual-metrics', ['--no-docker'], {
      env: { ...env, MIZUAL_STATE_DIR: stateDir },
      cwd: scratch.dir,
    });
    assert.match(text.stdout, /growth\/day\s+full by/);
    assert.match(text.stdout, /^\/\s.*\+[\d.]+ [GM]iB\s+\d{4}-\d\d-\d\d/m);
    const prom = await runTool('mizual-metrics', ['--prometheus', '--no-docker'], {
      env: { ...env, MIZUAL_STATE_DIR: stateDir },
      cwd: scratch.dir,
    });
    const promRate = /^mizual_filesystem_growth_bytes_per_day\{mount="\/",[^}]*\} (\d+)$/m.exec(prom.stdout)?.[1];
    // Other work on this shared disk moves the current figure between runs: a loose bound.
    assert.ok(Math.abs(Number(promRate) - 1024 ** 3) < 0.2 * 1024 ** 3, String(promRate));
    await promtoolCheck(prom.stdout);
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
    assert.match(result.stdout, new RegExp(`^last errors in ${running}: \\d+ in 5 min, \\d+ in 60 min$`, 'm'));
  });

  it('per container: uptime, exit code and when, image, creation, log size and rotation, restarts in the last hour', async () => {
    const stateDir = mkdtempSync(path.join(scratch.dir, 'state-'));
    const alerts = await runTool(
      'mizual-alerts',
      ['--cpu-sample', '0', '--cpu', '100', '--memory', '100', '--disk', '100'],
      {
        env: { ...env, MIZUAL_STATE_DIR: stateDir, MIZUAL_ALERT_LOG: path.join(stateDir, 'alerts.log') },
        cwd: scratch.dir,
      },
    );
    assert.ok([0, 1, 2].includes(alerts.exitCode ?? -1), alerts.stderr);
    const result = await runTool('mizual-metrics', ['--json'], {
      env: { ...env, MIZUAL_STATE_DIR: stateDir },
      cwd: scratch.dir,
    });
    const report = JSON.parse(result.stdout) as Report;
    const byName = new Map(report.containers.map((c) => [c.name, c]));
    const run = byName.get(running);
    const stop = byName.get(stopped);
    assert.ok(run && stop);
    assert.equal(run.restartsLastHour, 0, 'tracked by mizual-alerts');
    assert.equal(byName.get(redis)?.restartsLastHour, null, 'not configured, not tracked');
    assert.ok(run.uptimeSeconds !== null && run.uptimeSeconds >= 0 && run.uptimeSeconds < 600);
    assert.equal(run.exitCode, null);
    assert.equal(run.image, 'mizual-test-busybox:1');
    assert.ok(run.createdAt && Math.abs(Date.parse(run.createdAt) - Date.now()) < 600_000);
    assert.equal(stop.exitCode, 3);
    assert.ok(stop.exitedSecondsAgo !== null && stop.exitedSecondsAgo >= 0);
    assert.equal(stop.uptimeSeconds, null);
    assert.equal(stop.oomKilled, false);
    assert.ok((run.logBytes ?? 0) > 100 && run.logFiles === 1, `${run.logBytes} in ${run.logFiles}`);
    assert.equal(run.logRotation, false, 'the test engine has no log-opts');
    const errors = report.backendErrors;
    assert.ok(errors && errors.last5m >= 3 && errors.last60m >= errors.last5m, JSON.stringify(errors));
    const prom = await runTool('mizual-metrics', ['--prometheus'], {
      env: { ...env, MIZUAL_STATE_DIR: stateDir },
      cwd: scratch.dir,
    });
    assert.equal(prom.exitCode, 0, prom.stderr);
    assert.match(prom.stdout, new RegExp(`^mizual_container_exit_code\\{name="${stopped}"\\} 3$`, 'm'));
    assert.match(prom.stdout, new RegExp(`^mizual_container_restarts_last_hour\\{name="${running}"\\} 0$`, 'm'));
    assert.match(prom.stdout, new RegExp(`^mizual_container_log_rotation\\{name="${running}"\\} 0$`, 'm'));
    assert.match(
      prom.stdout,
      new RegExp(`^mizual_backend_error_lines\\{container="${running}",window="5m"\\} \\d+$`, 'm'),
    );
    await promtoolCheck(prom.stdout);
  });

  it('--json and --prometheus with a malformed MIZUAL_APP_RULES say so on stderr in one line', async () => {
    const rules = path.join(scratch.dir, 'bad-rules.txt');
    writeFileSync(rules, 'ok * (?<status>5\\d\\d)\nbad backend (unclosed\nworse\n');
    for (const flag of ['--json', '--prometheus']) {
      const result = await runTool('mizual-metrics', [flag, '--sample', '1'], {
        env: { ...env, MIZUAL_APP_RULES: rules, MIZUAL_STATE_DIR: path.join(scratch.dir, 'rules-state') },
        cwd: scratch.dir,
      });
      assert.equal(result.exitCode, 0, result.stderr);
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', /^mizual-metrics: MIZUAL_APP_RULES \S+ line 2: invalid regex.* \(and 1 more\)$/);
    }
  });
});
