// The quick tier: the built executables, spawned with an explicit environment in a scratch directory,
// for everything that needs neither Docker nor S3 (help, version, usage errors, host-only runs).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildIfStale, ROOT, runTool, scratchDir, type CliResult } from '../helpers/cli.js';

type Tool = Parameters<typeof runTool>[0];
const TOOLS: Tool[] = ['mizual-metrics', 'mizual-alerts', 'mizual-ship-logs', 'mizual-fetch-logs'];
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const scratch = scratchDir('mizual-quick-');
after(scratch.cleanup);
before(buildIfStale);
let counter = 0;

/**
 * A fresh directory per run, used as cwd (so no ./.env), with state, alert log and archives pointed into it.
 * MIZUAL_ENV_FILE names an empty file so a real /opt/mizual/.env on this machine cannot leak settings in.
 */
function sandbox() {
  const dir = path.join(scratch.dir, `case-${++counter}`);
  mkdirSync(dir);
  const envFile = path.join(dir, 'empty.env');
  writeFileSync(envFile, '');
  const env: Record<string, string> = {
    MIZUAL_ENV_FILE: envFile,
    MIZUAL_STATE_DIR: path.join(dir, 'state'),
    MIZUAL_ALERT_LOG: path.join(dir, 'log', 'alerts.log'),
    MIZUAL_LOG_DIR: path.join(dir, 'archives'),
    MIZUAL_HOSTNAME: 'quick-host',
  };
  return {
    dir,
    env,
    run: (tool: Tool, args: string[], more: Record<string, string> = {}): Promise<CliResult> =>
      runTool(tool, args, { env: { ...env, ...more }, cwd: dir, timeoutMs: 30_000 }),
    /** Everything the run left in its directory besides the empty env file. */
    leftovers: (): string[] =>
      readdirSync(dir, { recursive: true })
        .map(String)
        .filter((f) => f !== 'empty.env'),
  };
}

/** The usage-error contract: the exit code, nothing on stdout, one line on stderr and no stack trace. */
function assertUsageError(result: CliResult, tool: Tool, code: number, message: RegExp): void {
  assert.equal(result.exitCode, code, result.stderr);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.ok(lines[0]?.startsWith(`${tool}: `), lines[0]);
  assert.match(lines[0] ?? '', message);
  assert.doesNotMatch(result.stderr, /^\s+at /m);
}

describe('--help and --version', () => {
  const keyFlags: Record<Tool, string[]> = {
    'mizual-metrics': ['--json', '--prometheus', '--watch', '--no-docker', '--sample', '--env-file'],
    'mizual-alerts': ['--dry-run', '--no-docker', '--json', '--cpu-sample', '--repeat', '--env-file'],
    'mizual-ship-logs': ['--dry-run', '--window', '--no-upload', '--prune', '--deadline', '--env-file'],
    'mizual-fetch-logs': ['--env', '--date', '--list', '--extract', '--cat', '--grep', '--env-file'],
  };
  for (const tool of TOOLS) {
    it(`${tool} --help exits 0 and names the tool and its key flags`, async () => {
      const result = await sandbox().run(tool, ['--help']);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stderr, '');
      assert.match(result.stdout, new RegExp(`^Usage: ${tool} \\[options\\]`));
      for (const flag of keyFlags[tool]) assert.match(result.stdout, new RegExp(`^  ${flag}\\b`, 'm'), flag);
    });

    it(`${tool} --help is short: three examples and where the full manual is`, async () => {
      const result = await sandbox().run(tool, ['--help']);
      const examples = result.stdout.split('\nExamples:\n')[1]?.split('\n\n')[0] ?? '';
      const commands = examples.split('\n').filter((line) => line.includes(tool) && !line.trimStart().startsWith('#'));
      assert.equal(commands.length, 3, examples);
      const wide = result.stdout.split('\n').filter((line) => line.length > 80);
      assert.deepEqual(wide, [], 'every line fits an 80-column terminal');
      const page = tool.replace(/^mizual-/, '');
      assert.match(result.stdout, new RegExp(`\\nFull manual: man ${tool} \\(or docs/${page}\\.md\\)$`));
      assert.ok(existsSync(path.join(ROOT, 'docs', `${page}.md`)), `docs/${page}.md`);
      assert.ok(existsSync(path.join(ROOT, 'man', `${tool}.1`)), `man/${tool}.1 is built with dist/`);
    });

    it(`${tool} --version prints package.json's version`, async () => {
      const result = await sandbox().run(tool, ['--version']);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout, VERSION);
      assert.equal(result.stderr, '');
    });
  }

  it('mizual-alerts --help states its monitoring-plugin exit codes', async () => {
    const result = await sandbox().run('mizual-alerts', ['--help']);
    assert.match(result.stdout, /Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN \(including usage errors\)/);
  });
});

describe('usage errors', () => {
  const usageCode: Record<Tool, number> = {
    'mizual-metrics': 2,
    'mizual-alerts': 3,
    'mizual-ship-logs': 2,
    'mizual-fetch-logs': 2,
  };
  for (const tool of TOOLS) {
    it(`${tool} --bogus exits ${usageCode[tool]} with one line naming the flag`, async () => {
      const box = sandbox();
      const result = await box.run(tool, ['--bogus']);
      assertUsageError(result, tool, usageCode[tool], new RegExp(`unknown option '--bogus' \\(see ${tool} --help\\)$`));
      assert.deepEqual(box.leftovers(), []);
    });
  }

  it('mizual-ship-logs --window 5x exits 2, says the expected form, and writes nothing', async () => {
    const box = sandbox();
    const result = await box.run('mizual-ship-logs', ['--window', '5x']);
    assertUsageError(result, 'mizual-ship-logs', 2, /--window must look like 30m, 1h, 90s or 2d \(got '5x'\)$/);
    assert.deepEqual(box.leftovers(), []);
  });

  it('mizual-fetch-logs --date 2025-13-01 exits 2 before looking for S3 settings', async () => {
    const result = await sandbox().run('mizual-fetch-logs', ['--env', 'prod', '--date', '2025-13-01']);
    assertUsageError(result, 'mizual-fetch-logs', 2, /--date must be YYYY-MM-DD \(got '2025-13-01'\)$/);
  });

  it('mizual-metrics --sample abc exits 2; mizual-alerts --repeat 5x exits 3 (its usage code)', async () => {
    const box = sandbox();
    const metrics = await box.run('mizual-metrics', ['--no-docker', '--sample', 'abc']);
    assertUsageError(metrics, 'mizual-metrics', 2, /--sample must be a positive whole number \(got 'abc'\)$/);
    const alerts = await box.run('mizual-alerts', ['--no-docker', '--repeat', '5x']);
    assertUsageError(alerts, 'mizual-alerts', 3, /--repeat must look like 30m, 1h, 90s or 2d \(got '5x'\)$/);
    assert.deepEqual(box.leftovers(), []);
  });

  it('--debug adds the stack trace (so the no-stack checks above can fail)', async () => {
    const result = await sandbox().run('mizual-ship-logs', ['--window', '5x', '--debug']);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /^UsageError: --window must look like/m);
    assert.match(result.stderr, /^\s+at /m);
  });
});

describe('host-only runs', () => {
  it('mizual-metrics --json --no-docker prints one JSON document with the contract keys', async () => {
    const result = await sandbox().run('mizual-metrics', ['--json', '--no-docker', '--sample', '100']);
    assert.equal(result.exitCode, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      host: string;
      time: string;
      cpu: { percent: number };
      memory: { totalBytes: number; availableBytes: number; usedPercent: number };
      disks: { mount: string; usedPercent: number }[];
      network: { iface: string; rxBytes: number }[];
      docker: { available: boolean; reason: string | null };
      containers: unknown[];
    };
    assert.equal(report.host, 'quick-host');
    assert.ok(Math.abs(Date.now() - Date.parse(report.time)) < 60_000, `time ${report.time} is now`);
    assert.ok(report.cpu.percent >= 0 && report.cpu.percent <= 100, `cpu.percent ${report.cpu.percent}`);
    const memTotalKb = Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]);
    assert.equal(report.memory.totalBytes, memTotalKb * 1024);
    assert.ok(report.memory.availableBytes > 0 && report.memory.availableBytes <= report.memory.totalBytes);
    assert.ok(report.memory.usedPercent >= 0 && report.memory.usedPercent <= 100);
    assert.ok(Array.isArray(report.disks) && report.disks.some((d) => d.mount === '/'), JSON.stringify(report.disks));
    assert.ok(Array.isArray(report.network));
    for (const n of report.network) assert.ok(typeof n.iface === 'string' && Number.isFinite(n.rxBytes));
    assert.deepEqual(report.docker, { available: false, reason: 'skipped (--no-docker)' });
    assert.deepEqual(report.containers, []);
  });

  it('mizual-alerts --no-docker --dry-run evaluates, exits 0..2 and writes no state or log', async () => {
    const box = sandbox();
    const result = await box.run('mizual-alerts', ['--no-docker', '--dry-run', '--cpu-sample', '0', '--json']);
    assert.ok([0, 1, 2].includes(result.exitCode), `exit ${result.exitCode}: ${result.stderr}`);
    const report = JSON.parse(result.stdout) as { dryRun: boolean; exitCode: number; checks: { check: string }[] };
    assert.equal(report.dryRun, true);
    assert.equal(report.exitCode, result.exitCode);
    const checks = report.checks.map((c) => c.check);
    for (const name of ['cpu', 'memory', 'disk:/', 'shipping']) assert.ok(checks.includes(name), checks.join(' '));
    assert.ok(!checks.some((c) => c.startsWith('container') || c === 'docker'), checks.join(' '));
    assert.equal(existsSync(box.env.MIZUAL_STATE_DIR as string), false, 'no state dir');
    assert.equal(existsSync(box.env.MIZUAL_ALERT_LOG as string), false, 'no alert log');
    assert.deepEqual(box.leftovers(), []);
  });

  it('mizual-alerts: a health URL that closes the connection mid-answer is CRITICAL, logged, exit 2', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.once('data', () =>
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nx', () => socket.destroy()),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health?token=secret`;
      const box = sandbox();
      const args = ['--no-docker', '--cpu-sample', '0', '--cpu', '100', '--memory', '100', '--disk', '100'];
      const result = await box.run('mizual-alerts', args, { MIZUAL_HEALTH_URL: url });
      assert.equal(result.exitCode, 2, `exit ${result.exitCode}, stderr: ${result.stderr}`);
      const detail = /http:\/\/127\.0\.0\.1:\d+\/health: connection closed before the whole answer arrived/;
      assert.match(result.stdout, new RegExp(`^health\\s+CRITICAL\\s+${detail.source}`, 'm'));
      const log = readFileSync(box.env.MIZUAL_ALERT_LOG as string, 'utf8');
      assert.match(log, new RegExp(`^\\S+Z CRITICAL health: ${detail.source}$`, 'm'));
      assert.doesNotMatch(log + result.stdout, /secret/);
      const stateDir = box.env.MIZUAL_STATE_DIR as string;
      assert.ok(existsSync(path.join(stateDir, 'alerts-state.json')), 'state saved');
      assert.equal(existsSync(path.join(stateDir, 'alerts.lock')), false, 'lock released');
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
