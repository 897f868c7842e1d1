/**
 * Probes against real servers: a FastAPI app under uvicorn in a container of the test engine (a fast
 * route, a route that sleeps a known time, one that hangs), and two openssl s_server instances whose
 * certificates expire in 5 and 2 days. One mizual-alerts run checks them all next to an unreachable
 * broker; mizual-metrics then shows the same figures, with the history the alerts run recorded.
 */
import { execa, type ResultPromise } from 'execa';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerAvailable, dockerCli, TEST_IMAGE, TEST_LABEL, uniqueName } from '../harness/docker.js';
import { buildIfStale, runTool, scratchDir, type CliResult } from '../helpers/cli.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { freePort } from '../helpers/ports.js';

const SLOW_SECONDS = 2.5;
const APP = `import asyncio
from fastapi import FastAPI
app = FastAPI()

@app.get("/")
async def root():
    return {"ok": True}

@app.get("/slow")
async def slow():
    await asyncio.sleep(${SLOW_SECONDS})
    return {"slow": True}

@app.get("/hang")
async def hang():
    await asyncio.sleep(600)
    return {}
`;

const scratch = scratchDir('mizual-app-probes-');
const apiName = uniqueName('probe-api');
const daemons: ResultPromise[] = [];
const brokerPassword = `brk-${Math.random().toString(36).slice(2)}`;
let haveDocker = false;
let env: Record<string, string> = {};
const certEnd: Record<string, number> = {};
let alerts: CliResult;
let webhook: WebhookReceiver | undefined;
let alertsJson: {
  checks: { check: string; status: string; value: unknown; message: string; data?: Record<string, unknown> }[];
};

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** openssl s_server with a fresh self-signed certificate valid for `days`; resolves with its port. */
async function tlsServer(name: string, days: number): Promise<number> {
  const [key, cert] = [path.join(scratch.dir, `${name}.key`), path.join(scratch.dir, `${name}.crt`)];
  await execa('openssl', [
    'req', '-x509', '-nodes', '-newkey', 'rsa:2048', '-days', String(days), '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', key, '-out', cert,
  ]); // prettier-ignore
  const end = await execa('openssl', ['x509', '-noout', '-enddate', '-in', cert]);
  certEnd[name] = Date.parse(end.stdout.replace('notAfter=', ''));
  const port = await freePort();
  daemons.push(
    execa('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', cert, '-key', key, '-www', '-quiet'], {
      reject: false,
      stdin: 'ignore',
    }),
  );
  await waitFor(`s_server ${name}`, async () => {
    const socket = net.connect(port, '127.0.0.1');
    return new Promise<boolean>((resolve) => {
      socket.on('connect', () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
  });
  return port;
}

before(async () => {
  haveDocker = await dockerAvailable();
  if (!haveDocker) return;
  await buildIfStale();
  const appDir = path.join(scratch.dir, 'app');
  mkdirSync(appDir);
  writeFileSync(path.join(appDir, 'main.py'), APP);
  const apiPort = await freePort();
  await dockerCli([
    'run', '-d', '--name', apiName, '--network', 'host', '--label', TEST_LABEL,
    '-v', '/usr:/usr:ro', '-v', '/lib:/lib:ro', '-v', '/lib64:/lib64:ro', '-v', '/etc:/etc:ro', '--tmpfs', '/tmp',
    '-v', `${appDir}:/app:ro`, '-w', '/app',
    '-e', 'PATH=/usr/local/bin:/usr/bin:/bin', '-e', 'HOME=/tmp', '-e', 'PYTHONUNBUFFERED=1',
    TEST_IMAGE, 'python3', '-m', 'uvicorn', 'main:app', '--host', '127.0.0.1', '--port', String(apiPort),
  ]); // prettier-ignore
  await waitFor('uvicorn', async () => {
    const logs = await execa('docker', ['logs', apiName], { all: true, reject: false });
    return /Application startup complete/.test(String(logs.all));
  });
  const [five, two] = await Promise.all([tlsServer('five', 5), tlsServer('two', 2)]);
  const bundle = path.join(scratch.dir, 'trusted.pem');
  writeFileSync(bundle, ['five', 'two'].map((n) => readFileSync(path.join(scratch.dir, `${n}.crt`), 'utf8')).join(''));
  const closedPort = await freePort();
  webhook = await startWebhookReceiver();
  const api = `http://127.0.0.1:${apiPort}`;
  env = {
    MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
    MIZUAL_ALERT_LOG: path.join(scratch.dir, 'alerts.log'),
    MIZUAL_PROBES: [
      `api=${api}/?token=query-secret`,
      `slow=${api}/slow`,
      `hang=${api}/hang`,
      `five=https://localhost:${five}/`,
      `two=https://localhost:${two}/`,
    ].join(','),
    // Nothing listens there: the broker is unreachable.
    CELERY_BROKER_URL: `redis://:${brokerPassword}@127.0.0.1:${closedPort}/0`,
    // Our own CA bundle: both test certificates trusted, so only their expiry is at stake.
    NODE_EXTRA_CA_CERTS: bundle,
    MIZUAL_ALERT_WEBHOOK_URL: webhook.url,
    // One run decides here (DOWN on the first failure); the default of 2 is proved in app-probe-options.
    MIZUAL_PROBE_RETRIES: '1',
  };
  alerts = await runTool('mizual-alerts', ['--json', '--no-docker', '--cpu-sample', '0'], { env, cwd: scratch.dir });
  alertsJson = JSON.parse(alerts.stdout) as typeof alertsJson;
});

after(async () => {
  webhook?.close();
  for (const d of daemons) d.kill('SIGTERM');
  await Promise.all(daemons.map((d) => d.catch(() => undefined)));
  if (haveDocker) await execa('docker', ['rm', '-f', '-v', apiName], { reject: false });
  scratch.cleanup();
});

const check = (name: string) => alertsJson.checks.find((c) => c.check === name);

describe('probes of MIZUAL_PROBES in one mizual-alerts run', () => {
  it('a hung probe is CRITICAL after 10 s with one clear line; the run exits 2 and the other checks still run', (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    assert.equal(alerts.exitCode, 2, alerts.stderr);
    assert.equal(check('probe:hang')?.status, 'critical');
    assert.match(
      check('probe:hang')?.message ?? '',
      /^probe hang http:\/\/127\.0\.0\.1:\d+\/hang: no answer within 10 s$/,
    );
    assert.equal(check('probe:api')?.status, 'ok', check('probe:api')?.message);
    for (const name of ['memory', 'disk:/', 'shipping']) {
      assert.ok(check(name) && check(name)?.status !== 'unknown', `${name}: ${JSON.stringify(check(name))}`);
    }
  });

  it('a route that sleeps 2.5 s shows in seconds and time to first byte, and warns past --probe-slow', (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const slow = check('probe:slow');
    assert.equal(slow?.status, 'warning', slow?.message);
    assert.match(slow?.message ?? '', /answered HTTP 200 in 2\.\d\d s, first byte 2\.\d\d s \(slower than 2 s\)$/);
    assert.ok(Number(slow?.data?.['ttfbSeconds']) >= SLOW_SECONDS, JSON.stringify(slow?.data));
    assert.ok(Number(slow?.data?.['seconds']) >= Number(slow?.data?.['ttfbSeconds']), JSON.stringify(slow?.data));
  });

  it('certificates expiring in 5 and 2 days raise cert: WARNING and CRITICAL; the probes themselves are up', (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    assert.equal(check('cert:five')?.status, 'warning', check('cert:five')?.message);
    assert.match(check('cert:five')?.message ?? '', /expires in 4\.\d|expires in 5\.0/);
    assert.equal(check('cert:two')?.status, 'critical', check('cert:two')?.message);
    assert.equal(check('probe:five')?.status, 'ok', check('probe:five')?.message);
    assert.equal(check('probe:two')?.status, 'ok', check('probe:two')?.message);
    const log = readFileSync(env['MIZUAL_ALERT_LOG'] as string, 'utf8');
    for (const line of [/ WARNING cert:five: certificate of https:\/\/localhost:\d+\/ expires in/, / CRITICAL cert:two: /,
      / CRITICAL probe:hang: /, / WARNING probe:slow: /]) assert.match(log, line); // prettier-ignore
    assert.doesNotMatch(log, /probe:api|cert:api|query-secret/);
  });

  it('the webhook is told of each raised probe and cert alert, without the query or the broker password', (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const sent = JSON.stringify(webhook?.bodies ?? []);
    for (const name of ['probe:hang', 'probe:slow', 'cert:five', 'cert:two'])
      assert.ok(sent.includes(name), `${name}: ${sent}`);
    assert.ok(!sent.includes('probe:api') && !sent.includes('query-secret') && !sent.includes(brokerPassword));
  });

  it('an unreachable broker: one line on stderr without the password, its queue UNKNOWN, nothing else affected', (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const lines = alerts.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, alerts.stderr);
    assert.match(
      lines[0] ?? '',
      /^mizual-alerts: broker redis:\/\/127\.0\.0\.1:\d+\/0: connection refused at 127\.0\.0\.1:\d+$/,
    );
    assert.equal(check('queue:celery')?.status, 'unknown');
    assert.ok(!`${alerts.stdout}${alerts.stderr}`.includes(brokerPassword));
  });

  it('the probe history is private, bounded to the probes, and holds no credentials or query', (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const file = path.join(env['MIZUAL_STATE_DIR'] as string, 'probe-history.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const history = JSON.parse(readFileSync(file, 'utf8')) as { probes: Record<string, { samples: unknown[] }> };
    assert.deepEqual(Object.keys(history.probes).sort(), ['api', 'five', 'hang', 'slow', 'two']);
    // Every file, the history's day files in their folder too.
    for (const f of readdirSync(env['MIZUAL_STATE_DIR'] as string, { recursive: true }) as string[]) {
      if (!statSync(path.join(env['MIZUAL_STATE_DIR'] as string, f)).isFile()) continue;
      const text = readFileSync(path.join(env['MIZUAL_STATE_DIR'] as string, f), 'utf8');
      assert.ok(!text.includes('query-secret') && !text.includes(brokerPassword), f);
    }
  });
});

// The three views at once: each waits out the hung probe (10 s, as in mizual-alerts) only once.
let metricsViews: Promise<[CliResult, CliResult, CliResult]> | undefined;
const metricsRuns = (): Promise<[CliResult, CliResult, CliResult]> => {
  const view = (args: string[]) => runTool('mizual-metrics', [...args, '--no-docker'], { env, cwd: scratch.dir });
  return (metricsViews ??= Promise.all([view(['--json']), view(['--prometheus']), view([])]));
};

describe('mizual-metrics shows the probes and the broker trouble', () => {
  it('--json app.probes: figures, the recorded history behind p95 and uptime, urls without query', async (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const [json, prom] = await metricsRuns();
    assert.equal(json.exitCode, 0, json.stderr);
    const report = JSON.parse(json.stdout) as {
      memory: unknown;
      app: { probes: Record<string, unknown>[]; queues: unknown[]; problems: string[] };
    };
    assert.ok(report.memory);
    const probe = (name: string) => report.app.probes.find((p) => p['name'] === name) as Record<string, number | null>;
    assert.match(String(probe('api')['url']), /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(probe('api')['up'], true);
    assert.equal(probe('api')['uptimeDayPercent'], 100);
    assert.equal(probe('hang')['up'], false);
    assert.equal(probe('hang')['uptimeDayPercent'], 0);
    // Two samples in the hour (the alerts run and this one), both at least the route's sleep.
    assert.ok(Number(probe('slow')['seconds']) >= SLOW_SECONDS && Number(probe('slow')['ttfbSeconds']) >= SLOW_SECONDS);
    assert.ok(Number(probe('slow')['p95HourSeconds']) >= SLOW_SECONDS);
    const five = Number(probe('five')['certDaysLeft']);
    assert.ok(five > 4 && five <= 5, String(five));
    assert.deepEqual(report.app.queues, [{ queue: 'celery', length: null }]);
    assert.equal(report.app.problems.length, 1);
    assert.ok(!json.stdout.includes(brokerPassword) && !json.stdout.includes('query-secret'));

    assert.equal(prom.exitCode, 0, prom.stderr);
    const sample = (series: string) => Number(new RegExp(`^${series} (\\S+)$`, 'm').exec(prom.stdout)?.[1]);
    assert.equal(sample('mizual_probe_success\\{probe="api"\\}'), 1);
    assert.equal(sample('mizual_probe_success\\{probe="hang"\\}'), 0);
    assert.ok(sample('mizual_probe_duration_seconds\\{probe="slow"\\}') >= SLOW_SECONDS);
    const expiry = sample('mizual_probe_tls_expiry_timestamp_seconds\\{probe="five"\\}');
    assert.ok(Math.abs(expiry - (certEnd['five'] as number) / 1000) <= 2, `${expiry} vs ${certEnd['five']}`);
    const lint = await execa('promtool', ['check', 'metrics'], { input: `${prom.stdout}\n`, reject: false });
    assert.equal(lint.exitCode, 0, `${lint.stdout}${lint.stderr}`);
  });

  it('the dashboard has one line per probe and the broker line; the host figures are still there', async (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const [, , human] = await metricsRuns();
    assert.equal(human.exitCode, 0, human.stderr);
    assert.match(human.stdout, /^memory /m);
    assert.match(human.stdout, /^probe slow\s+up 200 2\.\d\d s\s+first byte 2\.\d\d s/m);
    assert.match(human.stdout, /^probe hang\s+DOWN\s.*no answer within 10 s$/m);
    assert.match(human.stdout, /^probe two\s+up 200 .*cert expires in [12]\.\d days/m);
    assert.match(human.stdout, /^queue celery\s+not read$/m);
    assert.match(human.stdout, /^broker redis:\/\/127\.0\.0\.1:\d+\/0: connection refused/m);
  });
});

describe('bad probe settings', () => {
  it('a malformed MIZUAL_PROBES is one line naming it: exit 3 for alerts, 2 for metrics', async (t) => {
    if (!haveDocker) return t.skip('no Docker engine');
    const bad = { ...env, MIZUAL_PROBES: 'api=http://127.0.0.1:9/,web=ftp://127.0.0.1/' };
    const [a, m] = await Promise.all([
      runTool('mizual-alerts', ['--no-docker', '--cpu-sample', '0'], { env: bad, cwd: scratch.dir }),
      runTool('mizual-metrics', ['--no-docker'], { env: bad, cwd: scratch.dir }),
    ]);
    assert.deepEqual([a.exitCode, m.exitCode], [3, 2]);
    for (const r of [a, m]) {
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^mizual-(alerts|metrics): MIZUAL_PROBES: web must be an http:\/\/ or https:\/\/ URL$/);
    }
  });
});
