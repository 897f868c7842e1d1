import { execa } from 'execa';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  dockerCli,
  ensureDocker,
  removeStartedContainers,
  startContainer,
  uniqueName,
  waitForState,
} from '../harness/docker.js';
import { ROOT, runTool, scratchDir, type CliResult } from '../helpers/cli.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

const scratch = scratchDir('mizual-alerts-e2e-');
after(scratch.cleanup);
let counter = 0;

interface Report {
  status: string;
  exitCode: number;
  checks: { check: string; status: string; value: unknown; threshold: unknown; message: string; note?: string }[];
  logged: string[];
}

/** A fresh state dir and alert log per test, and a runner bound to them. */
function sandbox(extraEnv: Record<string, string> = {}) {
  const dir = path.join(scratch.dir, `case-${++counter}`);
  mkdirSync(dir);
  const stateDir = path.join(dir, 'state');
  const log = path.join(dir, 'log', 'alerts.log');
  const env = { MIZUAL_STATE_DIR: stateDir, MIZUAL_ALERT_LOG: log, MIZUAL_HOSTNAME: 'test-host', ...extraEnv };
  let seen = 0;
  return {
    dir,
    stateDir,
    log,
    run: (args: string[], more: Record<string, string> = {}): Promise<CliResult> =>
      runTool('mizual-alerts', args, { env: { ...env, ...more }, cwd: dir }),
    /** Log lines appended since the previous call. */
    newLines(): string[] {
      const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
      const fresh = lines.slice(seen);
      seen = lines.length;
      return fresh;
    },
  };
}

const LINE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z (WARNING|CRITICAL|RESOLVED) [^:\s]+(:[^\s:]*)?: .+$/;
const HOST_ONLY = ['--no-docker', '--cpu', '100', '--cpu-sample', '0'];

describe('mizual-alerts host checks', () => {
  it('logs WARNING/CRITICAL once, nothing on the next run, RESOLVED with the value when thresholds rise', async () => {
    const box = sandbox();
    const first = await box.run([...HOST_ONLY, '--memory', '1', '--disk', '1']);
    assert.equal(first.exitCode, 2, first.stderr);
    const lines = box.newLines();
    for (const line of lines) assert.match(line, LINE);
    assert.ok(
      lines.some((l) => / WARNING memory: memory [\d.]+% used \(threshold 1%\)$/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => / CRITICAL disk:\/: disk \/ [\d.]+% used \(threshold 1%\)$/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => / CRITICAL inodes:\/: /.test(l)),
      lines.join('\n'),
    );
    const second = await box.run([...HOST_ONLY, '--memory', '1', '--disk', '1']);
    assert.equal(second.exitCode, 2);
    assert.deepEqual(box.newLines(), [], 'a still-active alert is not logged again');
    const third = await box.run([...HOST_ONLY, '--memory', '100', '--disk', '100', '--json']);
    assert.equal(third.exitCode, 0, third.stderr);
    const resolved = box.newLines();
    assert.ok(
      resolved.some((l) => / RESOLVED memory: memory [\d.]+% used \(threshold 100%\)$/.test(l)),
      resolved.join('\n'),
    );
    assert.ok(
      resolved.some((l) => / RESOLVED disk:\/: disk \/ [\d.]+% used/.test(l)),
      resolved.join('\n'),
    );
    const report = JSON.parse(third.stdout) as Report;
    assert.deepEqual(report.logged, resolved);
    assert.equal(statSync(box.log).mode & 0o777, 0o600);
    assert.equal(statSync(box.stateDir).mode & 0o777, 0o700);
  });

  it('--json prints every check with value, threshold and status, and nothing else on stdout', async () => {
    const box = sandbox();
    const result = await box.run([...HOST_ONLY, '--memory', '1', '--json']);
    assert.equal(result.exitCode, 1, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    assert.equal(report.status, 'WARNING');
    const memory = report.checks.find((c) => c.check === 'memory');
    assert.equal(memory?.status, 'warning');
    assert.equal(memory?.threshold, 1);
    assert.equal(typeof memory?.value, 'number');
    const root = report.checks.find((c) => c.check === 'disk:/');
    assert.equal(root?.status, 'ok');
    assert.equal(root?.threshold, 90);
    for (const c of report.checks)
      for (const key of ['value', 'threshold', 'status']) assert.ok(key in c, `${c.check}.${key}`);
    const shipping = report.checks.find((c) => c.check === 'shipping');
    assert.equal(shipping?.status, 'ok');
    assert.match(shipping?.note ?? '', /has not run here yet/);
  });

  it('--dry-run evaluates and prints but writes no state, log or webhook', async () => {
    const rx = await startWebhookReceiver();
    try {
      const box = sandbox({ MIZUAL_ALERT_WEBHOOK_URL: rx.url });
      const result = await box.run([...HOST_ONLY, '--memory', '1', '--dry-run']);
      assert.equal(result.exitCode, 1, result.stderr);
      assert.match(result.stdout, /^would log:\n {2}\S+Z WARNING memory: /m);
      assert.ok(!existsSync(box.stateDir), 'no state dir');
      assert.ok(!existsSync(path.dirname(box.log)), 'no log');
      assert.equal(rx.bodies.length, 0);
    } finally {
      rx.close();
    }
  });

  it('bad thresholds and settings exit 3 with one clear line', async () => {
    const box = sandbox();
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--cpu', '150'], {}, /--cpu must be a number above 0 and at most 100 \(got '150'\)/],
      [['--memory', 'abc'], {}, /--memory must be a number above 0 and at most 100 \(got 'abc'\)/],
      [[], { MIZUAL_ALERT_DISK: '0' }, /MIZUAL_ALERT_DISK must be a number/],
      [['--repeat', 'soon'], {}, /--repeat must look like/],
      [['--cpu-for', '0'], {}, /--cpu-for must be a positive whole number/],
      [['--bogus'], {}, /unknown option '--bogus'/],
      [
        [],
        { MIZUAL_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/', MIZUAL_ALERT_WEBHOOK_FORMAT: 'pager' },
        /FORMAT must be one of/,
      ],
    ];
    for (const [args, env, pattern] of cases) {
      const result = await box.run([...HOST_ONLY, ...args], env);
      assert.equal(result.exitCode, 3, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, /^mizual-alerts: /);
      assert.match(result.stderr, pattern);
    }
    assert.ok(!existsSync(box.log), 'nothing logged by a usage error');
  });

  it('old-format lines are left intact; rotation renames the log to .1 with its inode', async () => {
    const box = sandbox();
    mkdirSync(path.dirname(box.log), { recursive: true });
    const old =
      '[Thu Jan 23 14:30:00 UTC 2025] WARNING: High CPU usage: 85%\n' +
      '[Thu Jan 23 14:35:00 UTC 2025] WARNING: High CPU usage: 86%\n';
    writeFileSync(box.log, old);
    const inode = statSync(box.log).ino;
    const first = await box.run([...HOST_ONLY, '--memory', '1']);
    assert.equal(first.exitCode, 1, first.stderr);
    assert.equal(first.stderr, '');
    const text = readFileSync(box.log, 'utf8');
    assert.ok(text.startsWith(old), 'old lines untouched');
    assert.match(text.slice(old.length), /^\S+Z WARNING memory: /);
    writeFileSync(box.log, 'x'.repeat(2000), { flag: 'a' });
    const rotated = await box.run([...HOST_ONLY, '--memory', '100', '--log-max-size', '2K']);
    assert.equal(rotated.exitCode, 0, rotated.stderr);
    assert.equal(statSync(`${box.log}.1`).ino, inode, 'the old file moved to .1, not copied');
    assert.ok(readFileSync(`${box.log}.1`, 'utf8').startsWith(old));
    assert.match(readFileSync(box.log, 'utf8'), /^\S+Z RESOLVED memory: /);
  });

  it('a corrupt state file is reported on stderr and replaced; the run goes on', async () => {
    const box = sandbox();
    mkdirSync(box.stateDir, { recursive: true });
    writeFileSync(path.join(box.stateDir, 'alerts-state.json'), '{ half');
    const result = await box.run([...HOST_ONLY]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /^mizual-alerts: .*alerts-state\.json: invalid JSON.*starting afresh$/m);
    const state = JSON.parse(readFileSync(path.join(box.stateDir, 'alerts-state.json'), 'utf8')) as { version: number };
    assert.equal(state.version, 1);
  });

  it('a run already in progress (live lock) makes a second one exit 3 at once', async () => {
    const box = sandbox();
    mkdirSync(box.stateDir, { recursive: true });
    writeFileSync(path.join(box.stateDir, 'alerts.lock'), `${process.pid}\n`);
    const result = await box.run([...HOST_ONLY]);
    assert.equal(result.exitCode, 3);
    assert.match(result.stderr, new RegExp(`another mizual-alerts run \\(pid ${process.pid}\\) is still running`));
  });

  it('log shipping: an old last upload is a WARNING', async () => {
    const box = sandbox();
    mkdirSync(box.stateDir, { recursive: true });
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000).toISOString();
    writeFileSync(path.join(box.stateDir, 'ship-state.json'), JSON.stringify({ lastUploadAt: twoHoursAgo }));
    const result = await box.run([...HOST_ONLY]);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.match(box.newLines().join('\n'), / WARNING shipping: last successful log upload 2h 0m ago/);
    const fine = await box.run([...HOST_ONLY, '--ship-max-age', '3h']);
    assert.equal(fine.exitCode, 0);
    assert.match(box.newLines().join('\n'), / RESOLVED shipping: /);
  });

  it('MIZUAL_HEALTH_URL: non-2xx is CRITICAL, a 2xx again is RESOLVED', async () => {
    let status = 503;
    const server = createServer((_req, res) => {
      res.statusCode = status;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
      const box = sandbox({ MIZUAL_HEALTH_URL: url });
      assert.equal((await box.run(HOST_ONLY)).exitCode, 2);
      assert.match(box.newLines().join('\n'), / CRITICAL health: http:\/\/127\.0\.0\.1:\d+\/health answered HTTP 503/);
      status = 200;
      assert.equal((await box.run(HOST_ONLY)).exitCode, 0);
      assert.match(box.newLines().join('\n'), / RESOLVED health: .* answered HTTP 200/);
    } finally {
      server.close();
    }
  });

  it('the built bundle never loads the AWS SDK or archiver, not even lazily', () => {
    const seen = new Set<string>();
    const queue = ['alerts.js'];
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      const text = readFileSync(path.join(ROOT, 'dist', file), 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?"\.\/([^"]+)"/g)) queue.push(m[1] as string);
      assert.doesNotMatch(text, /["'](@aws-sdk\/[^"']*|archiver)["']/, file);
    }
    assert.ok(seen.size > 1);
  });

  it('colours only on a TTY and never with NO_COLOR', async () => {
    const box = sandbox();
    const piped = await box.run([...HOST_ONLY, '--memory', '1', '--dry-run']);
    assert.ok(!piped.stdout.includes('\u001b['), 'no escape codes in a pipe');
    const cmd = `${process.execPath} ${ROOT}/bin/mizual-alerts.js ${HOST_ONLY.join(' ')} --memory 1 --dry-run`;
    const env = { PATH: process.env.PATH, TERM: 'xterm', MIZUAL_STATE_DIR: box.stateDir, MIZUAL_ALERT_LOG: box.log };
    const tty = await execa('script', ['-qec', cmd, '/dev/null'], { env, extendEnv: false, reject: false });
    assert.ok(String(tty.stdout).includes('\u001b[33m'), 'yellow WARNING on a TTY');
    const plain = await execa('script', ['-qec', cmd, '/dev/null'], {
      env: { ...env, NO_COLOR: '1' },
      extendEnv: false,
      reject: false,
    });
    assert.match(String(plain.stdout), /WARNING/);
    assert.ok(!String(plain.stdout).includes('\u001b['), 'no escape codes with NO_COLOR');
  });
});

describe('mizual-alerts CPU', () => {
  it('--cpu-for 2: the first run above the threshold logs nothing, the second logs WARNING (fixture procfs)', async () => {
    const box = sandbox();
    const proc = path.join(box.dir, 'proc');
    cpSync(path.join(ROOT, 'test/fixtures/proc/sample-a'), proc, { recursive: true });
    // Counters: user nice system idle iowait irq softirq steal; each step adds 900 busy and 100 idle jiffies (90%).
    const writeStat = (step: number) =>
      writeFileSync(
        path.join(proc, 'stat'),
        `cpu  ${10_000 + step * 900} 0 0 ${80_000 + step * 100} 0 0 0 0 0 0\ncpu0 0\ncpu1 0\n`,
      );
    const args = ['--no-docker', '--proc', proc, '--cpu-sample', '0', '--cpu', '50', '--cpu-for', '2', '--json'];
    writeStat(0);
    const baseline = JSON.parse((await box.run(args)).stdout) as Report;
    assert.match(baseline.checks.find((c) => c.check === 'cpu')?.note ?? '', /no recent baseline/);
    writeStat(1);
    const first = await box.run(args);
    assert.equal(first.exitCode, 0, first.stderr);
    const cpu1 = (JSON.parse(first.stdout) as Report).checks.find((c) => c.check === 'cpu');
    assert.equal(cpu1?.value, 90);
    assert.equal(cpu1?.note, 'above the threshold for 1 of 2 runs');
    assert.deepEqual(box.newLines(), []);
    writeStat(2);
    const second = await box.run(args);
    assert.equal(second.exitCode, 1, second.stderr);
    const lines = box.newLines();
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /^\S+Z WARNING cpu: cpu 90% busy over [\d.]+s \(threshold 50%\)$/);
  });

  it('samples the real /proc over --cpu-sample when there is no baseline (two busy processes)', async () => {
    const busy: ChildProcess[] = [0, 1].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    try {
      const box = sandbox();
      const started = Date.now();
      const result = await box.run(['--no-docker', '--cpu', '30', '--cpu-for', '1', '--cpu-sample', '1s', '--json']);
      assert.ok(Date.now() - started >= 1_000, 'waited for the sample');
      assert.equal(result.exitCode, 1, result.stderr);
      const cpu = (JSON.parse(result.stdout) as Report).checks.find((c) => c.check === 'cpu');
      assert.equal(cpu?.status, 'warning');
      assert.match(box.newLines().join('\n'), / WARNING cpu: cpu [\d.]+% busy over 1\.\ds/);
    } finally {
      for (const p of busy) p.kill('SIGKILL');
    }
  });
});

describe('mizual-alerts webhook', () => {
  const formats: [string, (body: unknown) => void][] = [
    ['slack', (b) => assert.match((b as { text: string }).text, /WARNING memory on test-host: memory [\d.]+% used/)],
    ['discord', (b) => assert.match((b as { content: string }).content, /WARNING memory on test-host: /)],
    [
      'alertmanager',
      (b) => {
        const [alert] = b as {
          labels: Record<string, string>;
          annotations: Record<string, string>;
          startsAt: string;
        }[];
        assert.deepEqual(alert?.labels, {
          alertname: 'MizualMemory',
          check: 'memory',
          severity: 'warning',
          instance: 'test-host',
          job: 'mizual-alerts',
        });
        assert.match(alert?.annotations.summary ?? '', /^memory: memory [\d.]+% used/);
        assert.ok(!Number.isNaN(Date.parse(alert?.startsAt ?? '')));
      },
    ],
    [
      'json',
      (b) => {
        const doc = b as {
          source: string;
          host: string;
          alerts: { severity: string; check: string; threshold: number }[];
        };
        assert.equal(doc.source, 'mizual-alerts');
        assert.equal(doc.host, 'test-host');
        assert.deepEqual(
          doc.alerts.map((a) => [a.severity, a.check, a.threshold]),
          [['WARNING', 'memory', 1]],
        );
      },
    ],
  ];
  for (const [format, check] of formats) {
    it(`${format}: the body arrives as specified`, async () => {
      const rx = await startWebhookReceiver();
      try {
        const box = sandbox({ MIZUAL_ALERT_WEBHOOK_URL: rx.url, MIZUAL_ALERT_WEBHOOK_FORMAT: format });
        const result = await box.run([...HOST_ONLY, '--memory', '1']);
        assert.equal(result.exitCode, 1, result.stderr);
        assert.equal(rx.bodies.length, 1);
        check(rx.bodies[0]);
      } finally {
        rx.close();
      }
    });
  }

  it('receiver down: the log line is kept and the notification waits in the outbox, then is delivered once', async () => {
    const rx = await startWebhookReceiver();
    const port = (rx.server.address() as AddressInfo).port;
    rx.close();
    await new Promise((resolve) => rx.server.once('close', resolve));
    const box = sandbox({
      MIZUAL_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
      MIZUAL_ALERT_WEBHOOK_FORMAT: 'json',
    });
    const down = await box.run([...HOST_ONLY, '--memory', '1']);
    assert.equal(down.exitCode, 1);
    assert.match(
      down.stderr,
      /^mizual-alerts: webhook http:\/\/127\.0\.0\.1:\d+\/\*\*\* failed \(ECONNREFUSED\); 1 kept in the outbox$/m,
    );
    assert.match(box.newLines().join('\n'), / WARNING memory: /);
    assert.ok(existsSync(path.join(box.stateDir, 'alerts-outbox.json')));
    // The receiver comes back on the same port: the outbox is delivered there, once.
    const { bodies, close } = await startWebhookReceiver({ port });
    try {
      for (let i = 0; i < 2; i++) {
        const up = await box.run([...HOST_ONLY, '--memory', '1']);
        assert.equal(up.exitCode, 1);
        assert.equal(up.stderr, '');
      }
      assert.equal(bodies.length, 1, 'delivered once, not twice');
      const doc = bodies[0] as { alerts: { severity: string; check: string }[] };
      assert.deepEqual(
        doc.alerts.map((a) => `${a.severity} ${a.check}`),
        ['WARNING memory'],
      );
      assert.ok(!existsSync(path.join(box.stateDir, 'alerts-outbox.json')));
      assert.deepEqual(box.newLines(), []);
    } finally {
      close();
    }
  });
});

describe('mizual-alerts containers (real engine)', () => {
  const names = { stop: uniqueName('al-stop'), kill: uniqueName('al-kill'), sick: uniqueName('al-sick') };
  const ghost = uniqueName('al-never');
  let box: ReturnType<typeof sandbox>;

  before(async () => {
    await ensureDocker();
    const loop = "trap 'exit 0' TERM; while :; do sleep 1; done";
    await startContainer(names.stop, loop);
    await startContainer(names.kill, loop);
    await startContainer(names.sick, 'touch /tmp/ok; while :; do sleep 1; done', { healthCmd: 'test -f /tmp/ok' });
    const containers = `stop=${names.stop},kill=${names.kill},sick=${names.sick},ghost=${ghost}`;
    box = sandbox({ MIZUAL_CONTAINERS: containers });
  });
  after(removeStartedContainers);

  const run = () => box.run(['--cpu', '100', '--cpu-sample', '0', '--memory', '100', '--disk', '100', '--json']);
  const statusOf = (r: CliResult, check: string) =>
    (JSON.parse(r.stdout) as Report).checks.find((c) => c.check === check);

  it('a container that never existed is CRITICAL; running ones are fine', async () => {
    const result = await run();
    assert.equal(result.exitCode, 2, result.stderr);
    assert.equal(statusOf(result, 'container:stop')?.status, 'ok');
    assert.equal(statusOf(result, 'docker')?.status, 'ok');
    assert.deepEqual(
      box.newLines().map((l) => l.replace(/^\S+ /, '')),
      [`CRITICAL container:ghost: container ${ghost} does not exist`],
    );
  });

  it('stop, kill and a failing health check each give CRITICAL with the reason', async () => {
    await dockerCli(['stop', '-t', '5', names.stop]);
    await dockerCli(['kill', names.kill]);
    await dockerCli(['exec', names.sick, 'rm', '/tmp/ok']);
    await waitForState(names.stop, ['exited']);
    await waitForState(names.kill, ['exited']);
    const deadline = Date.now() + 20_000;
    while ((await dockerCli(['inspect', '-f', '{{.State.Health.Status}}', names.sick])).trim() !== 'unhealthy') {
      assert.ok(Date.now() < deadline, 'container became unhealthy');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const result = await run();
    assert.equal(result.exitCode, 2);
    const lines = box.newLines().map((l) => l.replace(/^\S+ /, ''));
    assert.deepEqual(lines.sort(), [
      `CRITICAL container:kill: container ${names.kill} exited (exit code 137, SIGKILL)`,
      `CRITICAL container:sick: container ${names.sick} unhealthy`,
      `CRITICAL container:stop: container ${names.stop} exited (exit code 0)`,
    ]);
  });

  it('restarting them (and a passing health check) gives RESOLVED', async () => {
    await dockerCli(['start', names.stop, names.kill]);
    await dockerCli(['exec', names.sick, 'touch', '/tmp/ok']);
    const deadline = Date.now() + 20_000;
    while ((await dockerCli(['inspect', '-f', '{{.State.Health.Status}}', names.sick])).trim() !== 'healthy') {
      assert.ok(Date.now() < deadline, 'container became healthy again');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const result = await run();
    assert.equal(result.exitCode, 2, 'the ghost is still missing');
    const lines = box.newLines().map((l) => l.replace(/^\S+ /, ''));
    assert.deepEqual(lines.sort(), [
      `RESOLVED container:kill: container ${names.kill} running`,
      `RESOLVED container:sick: container ${names.sick} running (healthy)`,
      `RESOLVED container:stop: container ${names.stop} running`,
    ]);
  });

  it('an unreachable engine is one CRITICAL docker check; container states are kept, not resolved', async () => {
    const result = await box.run(['--cpu', '100', '--cpu-sample', '0', '--memory', '100', '--disk', '100'], {
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    });
    assert.equal(result.exitCode, 2);
    const lines = box.newLines().map((l) => l.replace(/^\S+ /, ''));
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0] ?? '',
      /^CRITICAL docker: Docker engine not reachable at unix:\/\/\/nonexistent\/docker\.sock/,
    );
    const back = await run();
    assert.equal(back.exitCode, 2);
    assert.deepEqual(
      box.newLines().map((l) => l.replace(/^\S+ /, '').replace(/ at .*/, '')),
      ['RESOLVED docker: Docker engine reachable'],
    );
  });
});

describe('mizual-alerts OOM kills, restart loops and log sizes (real engine)', () => {
  // The container waits for /tmp/go (created with docker exec) so the baseline run sees it before the kill;
  // then dd's 100 MiB buffer is more than the 32 MiB limit allows. /tmp/done keeps a restarted one alive.
  const OOM_SCRIPT =
    'while [ ! -f /tmp/go ]; do sleep 0.1; done; ' +
    'if [ ! -f /tmp/done ]; then touch /tmp/done; exec dd if=/dev/zero of=/dev/null bs=100M count=1; fi; ' +
    'exec sleep 3600';
  const names = {
    oom: uniqueName('al-oom'),
    oomAlways: uniqueName('al-oom-always'),
    loop: uniqueName('al-loop'),
    chatty: uniqueName('al-chatty'),
  };
  const args = ['--cpu', '100', '--cpu-sample', '0', '--memory', '100', '--disk', '100', '--json'];
  const checkOf = (r: CliResult, check: string) =>
    (JSON.parse(r.stdout) as Report).checks.find((c) => c.check === check);

  before(ensureDocker);
  after(removeStartedContainers);

  async function startOom(name: string, restart?: 'always'): Promise<void> {
    await startContainer(name, OOM_SCRIPT, { restart, memory: '32m' });
  }

  async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      assert.ok(Date.now() < deadline, what);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const inspect = async (name: string, format: string) => (await dockerCli(['inspect', '-f', format, name])).trim();

  it('a container killed past its --memory limit is oom:<name> CRITICAL on the next run, oom:host WARNING, once', async () => {
    await startOom(names.oom);
    const box = sandbox({ MIZUAL_CONTAINERS: `oom=${names.oom}` });
    const baseline = await box.run(args);
    assert.equal(checkOf(baseline, 'oom:oom')?.status, 'ok', baseline.stdout);
    box.newLines();
    await dockerCli(['exec', names.oom, 'touch', '/tmp/go']);
    await waitForState(names.oom, ['exited']);
    assert.equal(await inspect(names.oom, '{{.State.OOMKilled}}'), 'true', 'this kernel enforced the limit');
    const next = await box.run(args);
    assert.equal(next.exitCode, 2, next.stderr);
    const lines = box.newLines().map((l) => l.replace(/^\S+ /, ''));
    assert.ok(
      lines.some((l) =>
        new RegExp(`^CRITICAL oom:oom: container ${names.oom} was OOM-killed at \\S+Z \\(memory limit 32 MiB\\)$`).test(
          l,
        ),
      ),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /^WARNING oom:host: the kernel OOM-killed \d+ process(es)? since the last run/.test(l)),
      lines.join('\n'),
    );
    const again = await box.run(args);
    assert.equal(checkOf(again, 'oom:oom')?.status, 'critical', 'still active within the hour');
    assert.deepEqual(
      box.newLines().filter((l) => / oom:/.test(l)),
      [],
      'not repeated before --repeat',
    );
  });

  it('also when Docker restarted it (--restart always) before the next run', async () => {
    await startOom(names.oomAlways, 'always');
    const box = sandbox({ MIZUAL_CONTAINERS: `oom=${names.oomAlways}` });
    await box.run(args);
    box.newLines();
    await dockerCli(['exec', names.oomAlways, 'touch', '/tmp/go']);
    await waitFor('restarted by Docker', async () => {
      const [count, status] = (await inspect(names.oomAlways, '{{.RestartCount}} {{.State.Status}}')).split(' ');
      return Number(count) >= 1 && status === 'running';
    });
    const next = await box.run(args);
    assert.equal(next.exitCode, 2, next.stderr);
    assert.equal(checkOf(next, 'container:oom')?.status, 'ok', 'it is running again');
    const lines = box.newLines().map((l) => l.replace(/^\S+ /, ''));
    assert.ok(
      lines.some((l) => l.startsWith(`CRITICAL oom:oom: container ${names.oomAlways} `) && /OOM-kill/.test(l)),
      lines.join('\n'),
    );
  });

  it('a container that exits and restarts four times within a run interval raises restarts:<name>', async () => {
    const box = sandbox({ MIZUAL_CONTAINERS: `loop=${names.loop}` });
    await box.run(args); // the previous run: the container is created after it
    box.newLines();
    // Each start appends a line; the first four exit 1, the fifth stays up.
    const script = 'echo x >> /tmp/starts; [ "$(wc -l < /tmp/starts)" -ge 5 ] && exec sleep 3600; exit 1';
    await startContainer(names.loop, script, { restart: 'always' });
    await waitFor(
      'four restarts',
      async () => (await inspect(names.loop, '{{.RestartCount}} {{.State.Status}}')) === '4 running',
      30_000,
    );
    const next = await box.run(args);
    assert.equal(next.exitCode, 1, next.stderr);
    const check = checkOf(next, 'restarts:loop');
    assert.equal(check?.status, 'warning');
    assert.equal(check?.value, 4);
    assert.equal(checkOf(next, 'oom:loop')?.status, 'ok', 'exit 1 is no OOM kill');
    assert.deepEqual(
      box
        .newLines()
        .map((l) => l.replace(/^\S+ /, ''))
        .filter((l) => !l.includes(' container:loop: ')),
      [`WARNING restarts:loop: container ${names.loop} restarted 4 times in the last hour (threshold 3)`],
    );
    const quiet = await box.run(args);
    assert.equal(checkOf(quiet, 'restarts:loop')?.status, 'warning', 'the hour has not passed');
    assert.deepEqual(box.newLines(), []);
    const relaxed = await box.run([...args, '--restarts', '10']);
    assert.equal(relaxed.exitCode, 0, relaxed.stdout);
    assert.deepEqual(
      box.newLines().map((l) => l.replace(/^\S+ /, '')),
      [`RESOLVED restarts:loop: container ${names.loop} restarted 4 times in the last hour (threshold 10)`],
    );
  });

  it('json-file logs past --docker-log-size are a WARNING that says how to cap them', async () => {
    await startContainer(
      names.chatty,
      'i=0; while [ $i -lt 200 ]; do echo "line $i of a chatty container"; i=$((i+1)); done; exec sleep 3600',
    );
    await waitFor('200 lines logged', async () => (await dockerCli(['logs', names.chatty])).split('\n').length >= 200);
    const box = sandbox({ MIZUAL_CONTAINERS: `chatty=${names.chatty}` });
    const result = await box.run([...args, '--docker-log-size', '2K']);
    assert.equal(result.exitCode, 1, result.stdout);
    const check = checkOf(result, 'docker-logs:chatty');
    assert.equal(check?.status, 'warning');
    assert.ok(typeof check?.value === 'number' && check.value > 2048, String(check?.value));
    assert.match(check?.message ?? '', /not rotated: cap them with "log-opts": \{"max-size"/);
    assert.equal(checkOf(await box.run([...args, '--docker-log-size', '1M']), 'docker-logs:chatty')?.status, 'ok');
    assert.match(
      box.newLines().join('\n'),
      / RESOLVED docker-logs:chatty: container \S+ json-file logs [\d.]+ KiB in 1 file/,
    );
  });
});
