// Response times from the app's own /metrics (MIZUAL_APP_METRICS) and from the docs' JSON access-line
// middleware: a real FastAPI app (Debian's python3-fastapi and python3-prometheus-client) running the
// exact middlewares of docs/application-metrics.md, under uvicorn and under gunicorn with two workers,
// in containers of the test engine, read by the built mizual-metrics.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerAvailable } from '../harness/docker.js';
import { adoptContainer, freePort, removeAppContainers, startPython, waitForLog } from '../harness/app-stack.js';
import { ROOT, runTool } from '../helpers/cli.js';

interface Route {
  method: string;
  route: string;
  requests: number;
  errors: number;
  p50?: number | null;
  p95: number | null;
  p99?: number | null;
}
interface Http {
  source: 'logs' | 'metrics';
  container: string;
  requests: number;
  status: Record<string, number>;
  errorRate: number;
  duration: { p50: number; p95: number; p99: number; max: number | null } | null;
  routes: Route[];
  seconds?: number;
}

const available = await dockerAvailable();
const tag = `${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
const dir = mkdtempSync(path.join(tmpdir(), 'mizual-app-metrics-'));
/** prometheus_client's default buckets, the ones the recipe's Histogram has. */
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The Python blocks of the docs page, by the file name on their first line. */
function recipe(file: string): string {
  const text = readFileSync(path.join(ROOT, 'docs/application-metrics.md'), 'utf8');
  for (const m of text.matchAll(/```python\n([\s\S]*?)```/g)) {
    const code = m[1] as string;
    if (code.startsWith(`# ${file}\n`)) return code;
  }
  throw new Error(`docs/application-metrics.md has no python block for ${file}`);
}

function writeApp(): void {
  writeFileSync(path.join(dir, 'accesslog.py'), recipe('accesslog.py'));
  writeFileSync(path.join(dir, 'appmetrics.py'), recipe('appmetrics.py'));
  writeFileSync(
    path.join(dir, 'metricsapp.py'),
    [
      'import time',
      'from fastapi import FastAPI, HTTPException',
      'from accesslog import AccessLog',
      'from appmetrics import RequestMetrics, metrics',
      'app = FastAPI()',
      'app.add_middleware(RequestMetrics)',
      'app.add_middleware(AccessLog)',
      'app.add_route("/metrics", metrics)',
      '@app.get("/fast")',
      'def fast():',
      '    time.sleep(0.06)',
      '    return {}',
      '@app.get("/slow")',
      'def slow():',
      '    time.sleep(0.35)',
      '    return {}',
      '@app.get("/items/{item_id}")',
      'def item(item_id: str):',
      '    return {"id": item_id}',
      '@app.get("/fail")',
      'def fail():',
      '    raise HTTPException(status_code=503, detail="down")',
      '',
    ].join('\n'),
  );
}

/** Requests the client times itself: path → seconds of each answer. */
async function drive(port: number, plan: [string, number][]): Promise<Map<string, number[]>> {
  const timings = new Map<string, number[]>();
  for (const [p, times] of plan) {
    for (let i = 0; i < times; i++) {
      const started = performance.now();
      await getOnce(port, p.replace('{i}', String(i)));
      const list = timings.get(p) ?? [];
      list.push((performance.now() - started) / 1000);
      timings.set(p, list);
    }
  }
  return timings;
}

/** One GET on a connection of its own (as browsers and proxies spread over gunicorn's workers). */
function getOnce(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

/** The nearest-rank p95 of the client's own timings. */
function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(0.95 * sorted.length) - 1] as number;
}

const bucketOf = (s: number): number => {
  const i = BOUNDS.findIndex((b) => s <= b);
  return i < 0 ? BOUNDS.length : i;
};

function envFor(stateDir: string, container: string, port: number): Record<string, string> {
  return {
    MIZUAL_STATE_DIR: stateDir,
    MIZUAL_CONTAINERS: `web=${container}`,
    MIZUAL_APP_METRICS: `web=http://127.0.0.1:${port}/metrics`,
    NO_COLOR: '1',
  };
}

async function appOf(env: Record<string, string>): Promise<{ http: Http[]; problems: string[] }> {
  const r = await runTool('mizual-metrics', ['--json', '--sample', '1'], { env });
  assert.equal(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout).app;
}

const route = (h: Http | undefined, name: string): Route | undefined => h?.routes.find((r) => r.route === name);

function noNegative(http: Http[]): void {
  for (const h of http) {
    assert.ok(h.requests >= 0, `${h.source} requests ${h.requests}`);
    for (const v of Object.values(h.status)) assert.ok(v >= 0);
    for (const r of h.routes) {
      assert.ok(r.requests >= 0 && r.errors >= 0, JSON.stringify(r));
      for (const q of [r.p50, r.p95, r.p99]) assert.ok(q === undefined || q === null || q >= 0);
    }
  }
}

describe("response times from the app's own /metrics", { skip: !available && 'no Docker engine' }, () => {
  before(() => writeApp());
  after(async () => {
    await removeAppContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uvicorn: per-route p95 within one bucket of the client, exact counts, a deploy gives no negative figure', async () => {
    const port = await freePort();
    const name = `mizual-test-appmetrics-uv-${tag}`;
    const stateDir = path.join(dir, 'state-uv');
    const env = envFor(stateDir, name, port);
    await startPython(name, dir, [
      'python3',
      '-m',
      'uvicorn',
      'metricsapp:app',
      '--port',
      String(port),
      '--no-access-log',
    ]);
    await waitForLog(name, 'Application startup complete');

    const first = await appOf(env);
    assert.equal(first.http.filter((h) => h.source === 'metrics').length, 0, 'no figure from a first reading');
    assert.ok(
      first.problems.some((p) => p.includes('first reading')),
      first.problems.join('\n'),
    );

    const plan: [string, number][] = [
      ['/fast', 30],
      ['/slow', 10],
      ['/items/{i}', 40],
      ['/fail', 6],
    ];
    const timings = await drive(port, plan);
    const second = await appOf(env);
    noNegative(second.http);
    const m = second.http.find((h) => h.source === 'metrics' && h.container === 'web');
    assert.ok(m, JSON.stringify(second));
    // Counted, not sampled: every request of the plan, plus the first run's own scrape of /metrics.
    const expect: [string, string, number][] = [
      ['/fast', '/fast', 30],
      ['/slow', '/slow', 10],
      ['/items/{i}', '/items/{item_id}', 40],
      ['/fail', '/fail', 6],
    ];
    for (const [client, r, n] of expect) {
      const got = route(m, r);
      assert.equal(got?.requests, n, `${r}: ${JSON.stringify(m.routes)}`);
      const ours = got?.p95 as number;
      const theirs = p95(timings.get(client) as number[]);
      const message = `${r}: p95 ${ours} against the client's ${theirs}`;
      // A route that does nothing takes the client mostly the machine's own overhead (connect, scheduling
      // on a loaded machine): the app's figure can only be lower there. The sleeping routes must agree.
      if (r === '/items/{item_id}' || r === '/fail') assert.ok(bucketOf(ours) <= bucketOf(theirs) + 1, message);
      else assert.ok(Math.abs(bucketOf(ours) - bucketOf(theirs)) <= 1, message);
    }
    assert.equal(route(m, '/metrics')?.requests, 1);
    assert.equal(m.requests, 87);
    assert.equal(m.status['5xx'], 6);
    assert.equal(route(m, '/fail')?.errors, 6);
    assert.equal(m.errorRate, Number((6 / 87).toPrecision(4)));
    // /slow sleeps 0.35 s: its p95 lies in the (0.25, 0.5] bucket, and the whole container's max bound is 0.5.
    assert.ok((route(m, '/slow')?.p95 as number) > 0.25 && (route(m, '/slow')?.p95 as number) <= 0.5);
    assert.equal(m.duration?.max, 0.5);

    // The docs' JSON access line, read from the container's log, with its durations.
    const logs = second.http.find((h) => h.source === 'logs' && h.container === 'web');
    assert.ok(logs?.duration, JSON.stringify(second.http));
    for (const [client, r, n] of [
      ['/fast', '/fast', 30],
      ['/slow', '/slow', 10],
      ['/items/{i}', '/items/:id', 40],
      ['/fail', '/fail', 6],
    ] as const) {
      const got = route(logs, r);
      assert.equal(got?.requests, n, `${r} from the log: ${JSON.stringify(logs.routes)}`);
      const theirs = p95(timings.get(client) as number[]);
      const ours = got?.p95 as number;
      const message = `${r} from the log: p95 ${ours} against the client's ${theirs}`;
      if (client === '/items/{i}' || client === '/fail') assert.ok(bucketOf(ours) <= bucketOf(theirs) + 1, message);
      else assert.ok(Math.abs(bucketOf(ours) - bucketOf(theirs)) <= 1, message);
    }

    // The dashboard: the slowest routes under the container, and the failing one.
    const dash = await runTool('mizual-metrics', ['--sample', '1'], { env });
    assert.equal(dash.exitCode, 0, dash.stderr);
    assert.match(dash.stdout, /web web \(app metrics\)/);
    assert.match(dash.stdout, /^\s+GET \/slow\s+10 req.*p95 \d+ms/m);
    assert.match(dash.stdout, /^\s+GET \/fail\s+6 req.*6 5xx/m);

    // mizual-alerts judges the app's histogram: with --no-docker (no log read at all) the 6 failed of
    // about 90 requests (>= 5%) and the p95 in /slow's bucket (>= 200ms) are warnings; --dry-run keeps nothing.
    const before = readFileSync(path.join(stateDir, 'app-metrics.json'), 'utf8');
    const alertEnv = { ...env, MIZUAL_ALERT_LOG: path.join(dir, 'alerts-uv.log') };
    const alertArgs = ['--json', '--cpu-sample', '0', '--latency', '200ms'];
    const dry = await runTool('mizual-alerts', [...alertArgs, '--no-docker', '--dry-run'], { env: alertEnv });
    const checks = (out: string): { check: string; status: string; value: number; message: string }[] =>
      (JSON.parse(out) as { checks: { check: string; status: string; value: number; message: string }[] }).checks;
    const dryChecks = checks(dry.stdout);
    assert.equal(dryChecks.find((c) => c.check === 'app-errors:web')?.status, 'warning', dry.stdout);
    const latency = dryChecks.find((c) => c.check === 'app-latency:web');
    assert.equal(latency?.status, 'warning', dry.stdout);
    assert.ok((latency?.value as number) > 0.25 && (latency?.value as number) <= 0.5, String(latency?.value));
    assert.equal(readFileSync(path.join(stateDir, 'app-metrics.json'), 'utf8'), before, '--dry-run kept nothing');
    // With the log read too: still one check per container.
    const real = await runTool('mizual-alerts', alertArgs, { env: alertEnv });
    const realChecks = checks(real.stdout);
    assert.equal(realChecks.filter((c) => c.check === 'app-errors:web').length, 1, real.stdout);
    assert.equal(realChecks.find((c) => c.check === 'app-errors:web')?.status, 'warning');
    assert.match(readFileSync(alertEnv.MIZUAL_ALERT_LOG, 'utf8'), /WARNING app-latency:web: web: p95 response time/);

    // --prometheus: per-route histograms, valid for promtool, counted from the first reading.
    const prom1 = await runTool('mizual-metrics', ['--prometheus', '--sample', '1'], { env });
    assert.equal(prom1.exitCode, 0, prom1.stderr);
    const count = (text: string, r: string): number =>
      Number(
        new RegExp(
          `^mizual_http_request_duration_seconds_count\\{container="web",method="GET",route="${r}"\\} (\\d+)$`,
          'm',
        ).exec(text)?.[1],
      );
    assert.equal(count(prom1.stdout, '/fast'), 30);
    assert.match(prom1.stdout, /^mizual_http_requests_total\{container="web",method="GET",code="503"\} 6$/m);
    const check = await execa('promtool', ['check', 'metrics'], { input: `${prom1.stdout}\n`, reject: false });
    assert.doesNotMatch(
      `${check.stdout}${check.stderr}`,
      /error|duplicate/i,
      `${check.stdout}${check.stderr}\n${prom1.stdout}`,
    );

    // A deploy: the app restarts, its counts start again from zero.
    const restarted = await execa('docker', ['restart', '-t', '2', name], { reject: false });
    assert.equal(restarted.exitCode, 0, restarted.stderr);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const r = await execa('docker', ['logs', name], { reject: false, all: true });
      if ((String(r.all).match(/Application startup complete/g) ?? []).length >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await drive(port, [['/fast', 5]]);
    const third = await appOf(env);
    noNegative(third.http);
    const m3 = third.http.find((h) => h.source === 'metrics');
    assert.ok(m3, JSON.stringify(third));
    // The window still starts at the first reading: what was counted before the deploy, then after it.
    assert.equal(route(m3, '/fast')?.requests, 35);
    assert.equal(route(m3, '/slow')?.requests, 10);
    assert.ok(!third.problems.some((p) => p.includes('PROMETHEUS_MULTIPROC_DIR')), third.problems.join('\n'));
    const prom2 = await runTool('mizual-metrics', ['--prometheus', '--sample', '1'], { env });
    assert.equal(count(prom2.stdout, '/fast'), 35, 'the counter went on across the deploy');

    const state = statSync(path.join(stateDir, 'app-metrics.json'));
    assert.equal(state.mode & 0o777, 0o600);
    assert.equal(statSync(stateDir).mode & 0o777, 0o700);
  });

  it('gunicorn, two workers: named with PROMETHEUS_MULTIPROC_DIR; with it set, exact counts', async () => {
    const port = await freePort();
    const name = `mizual-test-appmetrics-gu-${tag}`;
    const stateDir = path.join(dir, 'state-gu');
    const env = envFor(stateDir, name, port);
    const gunicorn = ['python3', '-m', 'gunicorn', '-w', '2', '-k', 'uvicorn.workers.UvicornWorker'];
    await startPython(name, dir, [...gunicorn, '-b', `127.0.0.1:${port}`, 'metricsapp:app']);
    await waitForLog(name, 'Application startup complete');
    await appOf(env);
    // Each run reads whichever worker answers; the test drives traffic and reads until both have.
    let named: { http: Http[]; problems: string[] } | null = null;
    for (let i = 0; i < 20 && !named; i++) {
      await drive(port, [['/items/{i}', 3 + i]]);
      const app = await appOf(env);
      noNegative(app.http);
      if (app.problems.some((p) => p.includes('PROMETHEUS_MULTIPROC_DIR'))) named = app;
    }
    assert.ok(named, 'two registries answering in turn were never named');
    assert.equal(named.http.filter((h) => h.source === 'metrics').length, 0, 'no figure from mixed registries');
    const dash = await runTool('mizual-metrics', ['--sample', '1'], { env });
    assert.equal(dash.exitCode, 0, dash.stderr);
    assert.match(dash.stdout, /PROMETHEUS_MULTIPROC_DIR/);

    // The fix: the workers share their counts.
    const fixed = `mizual-test-appmetrics-mp-${tag}`;
    const port2 = await freePort();
    const env2 = envFor(path.join(dir, 'state-mp'), fixed, port2);
    const multiproc = 'mkdir -p /tmp/prom && exec "$@"';
    await startPython(
      fixed,
      dir,
      ['sh', '-c', multiproc, 'sh', ...gunicorn, '-b', `127.0.0.1:${port2}`, 'metricsapp:app'],
      {
        env: { PROMETHEUS_MULTIPROC_DIR: '/tmp/prom' },
      },
    );
    adoptContainer(fixed);
    await waitForLog(fixed, 'Application startup complete');
    await appOf(env2);
    let total = 0;
    for (let i = 0; i < 4; i++) {
      await drive(port2, [['/fast', 5]]);
      total += 5;
      const app = await appOf(env2);
      assert.ok(!app.problems.some((p) => p.includes('PROMETHEUS_MULTIPROC_DIR')), app.problems.join('\n'));
      assert.equal(
        route(
          app.http.find((h) => h.source === 'metrics'),
          '/fast',
        )?.requests,
        total,
      );
    }
  });
});
