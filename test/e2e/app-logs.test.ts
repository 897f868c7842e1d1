// Application figures from real programs' logs (issue 20): FastAPI under uvicorn and under gunicorn's
// UvicornWorker, gunicorn's sync worker with %(D)s, all in containers of the test engine, read by the
// built mizual-metrics and mizual-alerts. Counts are exact across rotation and a replaced container.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerAvailable } from '../harness/docker.js';
import {
  adoptContainer,
  freePort,
  get,
  removeAppContainers,
  startPython,
  waitForLog,
  writeWebApps,
} from '../harness/app-stack.js';
import { runTool } from '../helpers/cli.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

interface Http {
  container: string;
  requests: number;
  status: Record<string, number>;
  duration: { p50: number; p95: number; max: number } | null;
  routes: { method: string; route: string; requests: number; errors: number; p95: number | null }[];
}

const available = await dockerAvailable();
const tag = `${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
const dir = mkdtempSync(path.join(tmpdir(), 'mizual-app-logs-'));
const stateDir = path.join(dir, 'state');
const names = {
  backend: `mizual-test-app-backend-${tag}`,
  gsync: `mizual-test-app-gsync-${tag}`,
  guv: `mizual-test-app-guv-${tag}`,
};
const env = (extra: Record<string, string> = {}): Record<string, string> => ({
  MIZUAL_STATE_DIR: stateDir,
  MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
  MIZUAL_CONTAINERS: Object.entries(names)
    .map(([short, name]) => `${short}=${name}`)
    .join(','),
  NO_COLOR: '1',
  ...extra,
});

async function appFigures(extra: Record<string, string> = {}): Promise<{ http: Http[]; problems: string[] }> {
  const r = await runTool('mizual-metrics', ['--json', '--sample', '1'], { env: env(extra) });
  assert.equal(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout).app;
}

async function traffic(port: number, batch: { path: string; times: number }[]): Promise<void> {
  for (const { path: p, times } of batch) for (let i = 0; i < times; i++) await get(port, p.replace('{i}', String(i)));
}

const mix = [
  { path: '/items/{i}', times: 20 },
  { path: '/fail', times: 5 },
  { path: '/missing', times: 5 },
];

describe('application figures from real access logs', { skip: !available && 'no Docker engine' }, () => {
  let port = 0;
  before(async () => {
    writeWebApps(dir);
    port = await freePort();
  });
  after(async () => {
    await removeAppContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uvicorn: exact counts by status and route across rotation and a replaced container', async () => {
    const uvicorn = ['python3', '-m', 'uvicorn', 'webapp:app', '--host', '127.0.0.1', '--port', String(port)];
    const rotation = { logOpts: { 'max-size': '4k', 'max-file': '5' } };
    await startPython(names.backend, dir, uvicorn, rotation);
    await waitForLog(names.backend, 'Application startup complete');
    await traffic(port, mix);
    let app = await appFigures();
    let backend = app.http.find((h) => h.container === 'backend');
    assert.equal(backend?.requests, 30, JSON.stringify(app));
    await traffic(port, mix);
    app = await appFigures();
    backend = app.http.find((h) => h.container === 'backend');
    assert.deepEqual(backend?.status, { '2xx': 40, '3xx': 0, '4xx': 10, '5xx': 10 });
    assert.equal(backend?.duration, null, 'uvicorn access lines carry no duration');
    const logPath = (await execa('docker', ['inspect', '-f', '{{.LogPath}}', names.backend])).stdout.trim();
    assert.ok(existsSync(`${logPath}.1`), 'the log rotated between the runs');
    // A deploy: the old container stops (renamed away), a new one takes the name and the traffic.
    await traffic(port, [{ path: '/items/{i}', times: 10 }]);
    await execa('docker', ['stop', '-t', '2', names.backend]);
    await execa('docker', ['rename', names.backend, `${names.backend}-old`]);
    adoptContainer(`${names.backend}-old`);
    await startPython(names.backend, dir, uvicorn, rotation);
    await waitForLog(names.backend, 'Application startup complete');
    await traffic(port, [{ path: '/items/{i}', times: 10 }]);
    app = await appFigures();
    backend = app.http.find((h) => h.container === 'backend');
    assert.deepEqual(backend?.status, { '2xx': 60, '3xx': 0, '4xx': 10, '5xx': 10 }, JSON.stringify(app.problems));
    assert.deepEqual(
      backend?.routes.map((r) => `${r.method} ${r.route} ${r.requests} ${r.errors}`),
      // /missing never answered anything but 404: grouped with what scanners probe.
      ['GET /items/:id 60 0', 'GET /fail 10 10', 'GET 404 other 10 0'],
    );
    // Watchtower's way: the old container removed. What it wrote after the last read is finished
    // from the shipper's hold (`mizual-ship-logs --hold`, cron every minute).
    // (A file the log rotated into after the last hold is the one thing a removal can take: see docs.)
    await traffic(port, [{ path: '/items/{i}', times: 20 }]);
    const held = await runTool('mizual-ship-logs', ['--hold'], { env: env() });
    assert.equal(held.exitCode, 0, held.stderr);
    await execa('docker', ['rm', '-f', names.backend]);
    await startPython(names.backend, dir, uvicorn, rotation);
    await waitForLog(names.backend, 'Application startup complete');
    await traffic(port, [{ path: '/items/{i}', times: 10 }]);
    app = await appFigures();
    backend = app.http.find((h) => h.container === 'backend');
    assert.deepEqual(backend?.status, { '2xx': 90, '3xx': 0, '4xx': 10, '5xx': 10 }, JSON.stringify(app.problems));
    const prom = await runTool('mizual-metrics', ['--prometheus', '--sample', '1'], { env: env() });
    assert.equal(prom.exitCode, 0, prom.stderr);
    const total = [...prom.stdout.matchAll(/^mizual_http_requests_total\{container="backend",[^}]*\} (\d+)$/gm)]
      .map((m) => Number(m[1]))
      .reduce((a, b) => a + b, 0);
    assert.equal(total, 110, 'the counter has every request once');
    // The state: private, and small (minute buckets and positions, not lines).
    const state = statSync(path.join(stateDir, 'app-logs.json'));
    assert.equal(state.mode & 0o777, 0o600);
    assert.ok(state.size < 64 * 1024, String(state.size));
    const check = await execa('promtool', ['check', 'metrics'], { input: `${prom.stdout}\n`, reject: false });
    assert.equal(check.exitCode, 0, `${check.stdout}${check.stderr}`);
  });

  it('gunicorn: the sync worker with %(D)s shows the slow route in the percentiles; UvicornWorker counts', async () => {
    const syncPort = await freePort();
    const uvPort = await freePort();
    const format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s';
    await startPython(names.gsync, dir, [
      'python3',
      '-m',
      'gunicorn',
      '-b',
      `127.0.0.1:${syncPort}`,
      '--access-logfile',
      '-',
      '--access-logformat',
      format,
      'wsgiapp:app',
    ]);
    await startPython(names.guv, dir, [
      'python3',
      '-m',
      'gunicorn',
      '-k',
      'uvicorn.workers.UvicornWorker',
      '-b',
      `127.0.0.1:${uvPort}`,
      '--access-logfile',
      '-',
      'webapp:app',
    ]);
    await waitForLog(names.gsync, 'Booting worker');
    await waitForLog(names.guv, 'Application startup complete');
    const batch = [
      { path: '/slow', times: 10 },
      { path: '/items/{i}', times: 2 },
      { path: '/fail', times: 3 },
    ];
    // What the client saw of /slow bounds what the server can have measured.
    let slowestClientSeconds = 0;
    for (let i = 0; i < 12; i++) {
      const started = performance.now();
      await get(syncPort, '/slow');
      slowestClientSeconds = Math.max(slowestClientSeconds, (performance.now() - started) / 1000);
    }
    // 20 requests in all: enough (--min-requests) for app-latency to judge them.
    await traffic(syncPort, [{ path: '/items/{i}', times: 5 }, batch[2] as { path: string; times: number }]);
    await traffic(uvPort, batch);
    const app = await appFigures();
    const sync = app.http.find((h) => h.container === 'gsync');
    const uv = app.http.find((h) => h.container === 'guv');
    assert.deepEqual(sync?.status, { '2xx': 17, '3xx': 0, '4xx': 0, '5xx': 3 }, JSON.stringify(app));
    assert.deepEqual(uv?.status, { '2xx': 12, '3xx': 0, '4xx': 0, '5xx': 3 });
    assert.equal(uv?.duration, null);
    // 12 of 20 requests sleep 0.3 s: p50 and p95 are the slow route's (the sketch reads within 1%).
    const d = sync?.duration;
    assert.ok(d, 'gunicorn %(D)s lines carry durations');
    assert.ok(d.p50 >= 0.3 * 0.99 && d.p50 <= d.p95 && d.p95 <= d.max * 1.01, JSON.stringify(d));
    const slow = sync?.routes.find((r) => r.route === '/slow');
    assert.ok(slow && slow.p95 !== null && slow.p95 >= 0.297, JSON.stringify(sync?.routes));
    assert.ok(d.max >= 0.3 && d.max <= slowestClientSeconds, `${JSON.stringify(d)} client ${slowestClientSeconds}`);
  });

  it('mizual-alerts: app-errors and app-latency raise, log, notify and resolve; runs alongside metrics count once', async () => {
    const hook = await startWebhookReceiver();
    try {
      const withHook = env({ MIZUAL_ALERT_WEBHOOK_URL: hook.url });
      // Traffic for the backend while mizual-metrics and mizual-alerts read the same state at once.
      await traffic(port, mix);
      const [metrics, alerts] = await Promise.all([
        runTool('mizual-metrics', ['--json', '--sample', '1'], { env: withHook }),
        runTool('mizual-alerts', ['--json', '--cpu-sample', '0', '--latency', '200ms'], { env: withHook }),
      ]);
      assert.equal(metrics.exitCode, 0, metrics.stderr);
      const report = JSON.parse(alerts.stdout) as { checks: { check: string; status: string; value: unknown }[] };
      const status = (check: string): string | undefined => report.checks.find((c) => c.check === check)?.status;
      // 15 of 140 backend requests answered 5xx (10.7% >= 5%); gsync's p95 is 0.3 s (>= 200ms).
      assert.equal(status('app-errors:backend'), 'warning', alerts.stdout);
      assert.equal(status('app-latency:gsync'), 'warning');
      assert.equal(status('app-errors:guv'), 'ok', 'fewer than 20 requests are not judged');
      const after = await appFigures();
      assert.deepEqual(after.http.find((h) => h.container === 'backend')?.status, {
        '2xx': 110,
        '3xx': 0,
        '4xx': 15,
        '5xx': 15,
      });
      const log = readFileSync(path.join(dir, 'alerts.log'), 'utf8');
      assert.match(
        log,
        /Z WARNING app-errors:backend: backend: 10\.7% of 140 requests failed with 5xx in the last 5m$/m,
      );
      assert.match(log, /Z WARNING app-latency:gsync: gsync: p95 response time \d+ms over the last 5m/m);
      // A higher latency threshold clears it: RESOLVED in the log and to the webhook.
      const resolved = await runTool('mizual-alerts', ['--cpu-sample', '0', '--latency', '2s'], { env: withHook });
      assert.ok([0, 1, 2].includes(resolved.exitCode), resolved.stderr);
      assert.match(readFileSync(path.join(dir, 'alerts.log'), 'utf8'), /Z RESOLVED app-latency:gsync: /);
      const sent = JSON.stringify(hook.bodies);
      assert.match(sent, /app-errors:backend/);
      assert.match(sent, /RESOLVED[^]*app-latency:gsync|app-latency:gsync[^]*RESOLVED/);
    } finally {
      hook.close();
    }
  });

  it('uvicorn on a TTY (colour codes, CRLF) counts exactly; a container of unknown lines is one line, counted, no value shown', async () => {
    const ttyPort = await freePort();
    const tty = `mizual-test-app-tty-${tag}`;
    const other = `mizual-test-app-other-${tag}`;
    await startPython(
      tty,
      dir,
      ['python3', '-m', 'uvicorn', 'webapp:app', '--host', '127.0.0.1', '--port', String(ttyPort)],
      { tty: true },
    );
    // An app whose own format is not one we know (python printing its lines).
    await startPython(other, dir, [
      'python3',
      '-c',
      'import time\nfor i in range(1, 8): print(f"payment {i} of bob@example.com settled ref=Ab3dEf6hIj9kLm2nOp5qRs8t")\ntime.sleep(600)',
    ]);
    await waitForLog(tty, 'Application startup complete');
    await waitForLog(other, 'payment 7');
    const logPath = (await execa('docker', ['inspect', '-f', '{{.LogPath}}', tty])).stdout.trim();
    assert.match(readFileSync(logPath, 'utf8'), /\\u001b\[/, 'the json-file holds colour codes');
    await traffic(ttyPort, mix);
    const ttyEnv = {
      MIZUAL_CONTAINERS: `tty=${tty},other=${other}`,
      MIZUAL_STATE_DIR: path.join(dir, 'state-tty'),
    };
    const r = await runTool('mizual-metrics', ['--json', '--sample', '1'], { env: env(ttyEnv) });
    assert.equal(r.exitCode, 0, r.stderr);
    const app = JSON.parse(r.stdout).app as {
      http: (Http & { linesRead: number; linesUnrecognised: number })[];
      sources: { container: string; linesRead: number; linesUnrecognised: number }[];
      problems: string[];
    };
    const web = app.http.find((h) => h.container === 'tty');
    assert.deepEqual(web?.status, { '2xx': 20, '3xx': 0, '4xx': 5, '5xx': 5 }, JSON.stringify(app));
    // What uvicorn printed before serving (4 lines) is read and not recognised; the 30 access lines are.
    assert.equal(web?.linesRead, 34);
    assert.equal(web?.linesUnrecognised, 4);
    const unknown = app.sources.find((f) => f.container === 'other');
    assert.deepEqual([unknown?.linesRead, unknown?.linesUnrecognised], [7, 7]);
    const lines = app.problems.filter((p) => p.startsWith('other: '));
    assert.equal(lines.length, 1, app.problems.join('\n'));
    assert.match(
      lines[0] as string,
      /^other: 7 lines read in the last 5m, none recognised \(e\.g\. "payment N of EMAIL settled TOKEN"\); known: uvicorn/,
    );
    const state = readFileSync(path.join(dir, 'state-tty', 'app-logs.json'), 'utf8');
    assert.ok(
      !/bob@example\.com|Ab3dEf6hIj9kLm2nOp5qRs8t/.test(state + r.stdout),
      'no address or token kept or printed',
    );
    // The dashboard shows the unknown container as that one line.
    const screen = await runTool('mizual-metrics', ['--sample', '1'], { env: env(ttyEnv) });
    assert.equal(screen.exitCode, 0, screen.stderr);
    assert.equal(screen.stdout.split('\n').filter((l) => l.includes('other: 7 lines read')).length, 1, screen.stdout);
  });

  it('a container logging with the local driver is read through the Engine API, each line once', async () => {
    const apiPort = await freePort();
    const name = `mizual-test-app-api-${tag}`;
    await startPython(
      name,
      dir,
      ['python3', '-m', 'uvicorn', 'webapp:app', '--host', '127.0.0.1', '--port', String(apiPort)],
      {
        logDriver: 'local',
      },
    );
    await waitForLog(name, 'Application startup complete');
    const apiEnv = { MIZUAL_CONTAINERS: `api=${name}`, MIZUAL_STATE_DIR: path.join(dir, 'state-api') };
    await traffic(apiPort, mix);
    const first = await appFigures(apiEnv);
    assert.equal(first.http.find((h) => h.container === 'api')?.requests, 30, JSON.stringify(first));
    await traffic(apiPort, mix);
    const second = await appFigures(apiEnv);
    assert.deepEqual(second.http.find((h) => h.container === 'api')?.status, {
      '2xx': 40,
      '3xx': 0,
      '4xx': 10,
      '5xx': 10,
    });
  });

  it('--app-window: a shorter window holds fewer minutes; past 24h is a usage error', async () => {
    const narrow = await runTool('mizual-metrics', ['--json', '--sample', '1', '--app-window', '1m'], { env: env() });
    assert.equal(narrow.exitCode, 0, narrow.stderr);
    const app = (JSON.parse(narrow.stdout) as { app: { window: { seconds: number }; http: Http[] } }).app;
    assert.equal(app.window.seconds, 60);
    const wide = await appFigures();
    const count = (h: Http[]): number => h.reduce((n, x) => n + x.requests, 0);
    assert.ok(count(app.http) <= count(wide.http));
    const bad = await runTool('mizual-metrics', ['--json', '--app-window', '2d'], { env: env() });
    assert.equal(bad.exitCode, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr.trim(), /^mizual-metrics: --app-window must be at most 24h \(got '2d'\)$/);
    const badAlerts = await runTool('mizual-alerts', ['--app-window', 'soon'], { env: env() });
    assert.equal(badAlerts.exitCode, 3);
    assert.equal(badAlerts.stderr.trim().split('\n').length, 1, badAlerts.stderr);
  });

  it('mizual-alerts --dry-run judges the current lines and keeps nothing', async () => {
    const dryState = path.join(dir, 'state-dry');
    const dry = await runTool('mizual-alerts', ['--json', '--dry-run', '--cpu-sample', '0'], {
      env: env({ MIZUAL_STATE_DIR: dryState }),
    });
    const checks = (JSON.parse(dry.stdout) as { checks: { check: string; status: string }[] }).checks;
    assert.equal(checks.find((c) => c.check === 'app-errors:backend')?.status, 'warning', dry.stdout);
    assert.equal(existsSync(path.join(dryState, 'app-logs.json')), false);
  });

  it('a malformed rule: one clear line, the other figures and checks unaffected, UNKNOWN from mizual-alerts', async () => {
    const rules = path.join(dir, 'rules.txt');
    writeFileSync(rules, 'fails * (?<status>5\\d\\d)\nbad backend (unclosed\n');
    const app = await appFigures({ MIZUAL_APP_RULES: rules });
    assert.ok(app.http.find((h) => h.container === 'backend'));
    assert.equal(app.problems.filter((p) => /line 2: invalid regex/.test(p)).length, 1, app.problems.join('\n'));
    const alerts = await runTool('mizual-alerts', ['--json', '--cpu-sample', '0'], {
      env: env({ MIZUAL_APP_RULES: rules }),
    });
    assert.equal(alerts.exitCode, 3, alerts.stderr);
    const report = JSON.parse(alerts.stdout) as { checks: { check: string; status: string }[] };
    assert.equal(report.checks.find((c) => c.check === 'app-rules')?.status, 'unknown');
    assert.ok(
      report.checks.some((c) => c.check === 'memory'),
      'the other checks still ran',
    );
    assert.equal(alerts.stderr.split('\n').filter((l) => /line 2: invalid regex/.test(l)).length, 1, alerts.stderr);
  });
});
