/**
 * The Grafana dashboard and the alerting rules against a real Prometheus (Debian's prometheus, loopback,
 * a temp dir) scraping a real node_exporter whose textfile directory holds `mizual-metrics --prometheus`
 * (with running test containers) and `mizual-ship-logs --prometheus` (after a real upload) output.
 * Every panel's expression must return at least one series.
 */
import { execa, type ResultPromise } from 'execa';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureDocker, removeStartedContainers, startContainer, uniqueName, waitForState } from '../harness/docker.js';
import { createTestBucket, ensureS3, removeTestBucket, toolEnvFor, type S3TestEnv } from '../harness/s3.js';
import { ROOT, runTool, scratchDir } from '../helpers/cli.js';
import { readHarness, sqlalchemyUrl } from './db-helpers.js';

const scratch = scratchDir();
const textDir = path.join(scratch.dir, 'textfile');
let s3: S3TestEnv;
let bucket: string | undefined;
const daemons: ResultPromise[] = [];
let promUrl = '';
let shipped: { files: { lines: number }[]; uploaded: { bytes: number }[] } = { files: [], uploaded: [] };

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function spawnDaemon(file: string, args: string[]): void {
  const child = execa(file, args, { reject: false, stdin: 'ignore', all: true, buffer: true });
  daemons.push(child);
}

async function query(expr: string): Promise<Series[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: Series[] } };
  assert.equal(body.status, 'success', `${expr}: ${body.error ?? res.status}`);
  return body.data?.result ?? [];
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const logs = await Promise.all(daemons.map(async (d) => (d.kill(), String((await d).all ?? '').slice(-2000))));
  throw new Error(`timed out waiting for ${what} (${String(last)})\n${logs.join('\n---\n')}`);
}

before(async () => {
  await ensureDocker();
  s3 = await ensureS3();
  mkdirSync(textDir, { mode: 0o755 });
  const names = { backend: uniqueName('prom-backend'), celery: uniqueName('prom-celery') };
  // Access lines (uvicorn's, and gunicorn's with %(L)s: a bare %(D)s has no unit known here) and Celery lines feed the application panels.
  const access =
    'echo "INFO:     127.0.0.1:5123 - \\"GET /items/$i HTTP/1.1\\" 500 Internal Server Error"; ' +
    'echo "127.0.0.1 - - [02/Dec/2026:13:08:58 +0000] \\"GET /slow HTTP/1.1\\" 200 2 \\"-\\" \\"curl/7.88.1\\" 0.301234"';
  await startContainer(names.backend, `i=0; while true; do echo "line $i"; ${access}; i=$((i+1)); sleep 0.2; done`);
  await startContainer(
    names.celery,
    'echo started; echo "[2026-12-02 13:08:58,124: INFO/ForkPoolWorker-1] Task tasks.ok[1-2] succeeded in 0.25s: None"; ' +
      'echo "TOTAL TIME: 31.2s, FINAL STATUS: completed"; exit 3',
  );
  await waitForState(names.backend, ['running']);
  await waitForState(names.celery, ['exited']);
  // A probed https server (openssl s_server, a certificate trusted through NODE_EXTRA_CA_CERTS) and a
  // Redis broker holding two queued messages, for the probe and queue panels.
  const [tlsPort, redisPort] = [await freePort(), await freePort()];
  const [key, cert] = [path.join(scratch.dir, 'tls.key'), path.join(scratch.dir, 'tls.crt')];
  await execa('openssl', [
    'req',
    '-x509',
    '-nodes',
    '-newkey',
    'rsa:2048',
    '-days',
    '30',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  spawnDaemon('openssl', ['s_server', '-accept', `127.0.0.1:${tlsPort}`, '-cert', cert, '-key', key, '-www', '-quiet']);
  spawnDaemon('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitFor('redis-server', async () => {
    const r = await execa('redis-cli', ['-p', String(redisPort), 'LPUSH', 'celery', 'a', 'b'], { reject: false });
    return r.exitCode === 0 && r.stdout.trim() === '2' ? true : undefined;
  });
  // The app's own /metrics (MIZUAL_APP_METRICS): Debian's prometheus_client serving a request-duration
  // histogram per handler, for the per-route panel.
  const appPort = await freePort();
  const app = [
    'import sys, time',
    'from prometheus_client import Histogram, start_http_server',
    "h = Histogram('http_request_duration_seconds', 'Request duration.', ['handler', 'method', 'status'])",
    "start_http_server(int(sys.argv[1]), addr='127.0.0.1')",
    'while True:',
    "    h.labels('/items/{item_id}', 'GET', '200').observe(0.02)",
    '    time.sleep(0.1)',
  ].join('\n');
  spawnDaemon('/usr/bin/python3', ['-c', app, String(appPort)]);
  await waitFor('the app metrics endpoint', async () => {
    const res = await fetch(`http://127.0.0.1:${appPort}/metrics`);
    return (await res.text()).includes('handler="/items/{item_id}"') ? true : undefined;
  });
  const env = {
    MIZUAL_APP_METRICS: `backend=http://127.0.0.1:${appPort}/metrics`,
    MIZUAL_PROBES: `tls=https://localhost:${tlsPort}/`,
    CELERY_BROKER_URL: `redis://127.0.0.1:${redisPort}/0`,
    NODE_EXTRA_CA_CERTS: cert,
    MIZUAL_CONTAINERS: `backend=${names.backend},celery=${names.celery}`,
    MIZUAL_HOSTNAME: 'prom-host',
    MIZUAL_LOG_DIR: path.join(scratch.dir, 'logs'),
    MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
    MIZUAL_ALERT_LOG: path.join(scratch.dir, 'alerts.log'),
    MIZUAL_APP_RULES: path.join(scratch.dir, 'app-rules.txt'),
  };
  writeFileSync(env.MIZUAL_APP_RULES, 'total * TOTAL TIME: (?<duration>[\\d.]+)s, FINAL STATUS: (?<status>\\w+)\n');
  bucket = await createTestBucket(s3, { tag: 'prom' });
  const shipFile = path.join(textDir, 'mizual-ship.prom');
  // Past the shipper's 2-second settling margin, so the window holds lines.
  await new Promise((r) => setTimeout(r, 3000));
  const ship = await runTool('mizual-ship-logs', ['--json', '--prometheus', shipFile], {
    env: { ...env, ...toolEnvFor(s3, bucket) },
    cwd: scratch.dir,
  });
  assert.equal(ship.exitCode, 0, ship.stderr);
  shipped = JSON.parse(ship.stdout) as typeof shipped;
  assert.equal(statSync(shipFile).mode & 0o777, 0o644);
  // What the cron line does: write a temporary name, then rename.
  // With the database harness's URL, so the Database panels have series too.
  const dbEnv = { ...env, DATABASE_URL: sqlalchemyUrl(readHarness()) };
  const metrics = await runTool('mizual-metrics', ['--prometheus'], { env: dbEnv, cwd: scratch.dir });
  assert.equal(metrics.exitCode, 0, metrics.stderr);
  // execa drops the final newline that the exposition format (and the shell's redirect) keeps.
  writeFileSync(path.join(textDir, 'mizual.prom.tmp'), `${metrics.stdout}\n`);
  renameSync(path.join(textDir, 'mizual.prom.tmp'), path.join(textDir, 'mizual.prom'));

  const nodePort = await freePort();
  spawnDaemon('prometheus-node-exporter', [
    `--web.listen-address=127.0.0.1:${nodePort}`,
    '--collector.disable-defaults',
    '--collector.textfile',
    `--collector.textfile.directory=${textDir}`,
  ]);
  // The example configuration, pointed at this node_exporter and at no Alertmanager.
  const promDir = path.join(scratch.dir, 'prometheus');
  mkdirSync(promDir);
  copyFileSync(path.join(ROOT, 'examples/prometheus/mizual-rules.yml'), path.join(promDir, 'mizual-rules.yml'));
  const example = readFileSync(path.join(ROOT, 'examples/prometheus/prometheus.yml'), 'utf8');
  const config = example
    .replace("targets: ['web-1:9100', 'web-2:9100']", `targets: ['localhost:${nodePort}']`)
    .replace("targets: ['127.0.0.1:9093']", 'targets: []')
    .replace(/scrape_interval: \S+/, 'scrape_interval: 1s')
    .replace(/evaluation_interval: \S+/, 'evaluation_interval: 1s');
  assert.notEqual(config, example);
  assert.match(config, new RegExp(`localhost:${nodePort}`));
  writeFileSync(path.join(promDir, 'prometheus.yml'), config);
  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  spawnDaemon('prometheus', [
    `--config.file=${path.join(promDir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(promDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
  // Two scrapes, so the increase() panels have two samples.
  await waitFor('two scrapes of the mizual figures', async () => {
    const r = await query('count_over_time(mizual_uptime_seconds[1m])');
    return Number(r[0]?.value[1] ?? 0) >= 2 ? r : undefined;
  });
});

after(async () => {
  for (const d of daemons) d.kill('SIGTERM');
  await Promise.all(daemons.map((d) => d.catch(() => undefined)));
  await removeStartedContainers();
  if (bucket) await removeTestBucket(s3, bucket);
  scratch.cleanup();
});

describe('Prometheus + node_exporter + the Grafana dashboard', () => {
  it('the scrape config names the instance by host, without the port', async () => {
    const up = await query('up{job="node"}');
    assert.deepEqual(
      up.map((s) => [s.metric.instance, s.value[1]]),
      [['localhost', '1']],
    );
  });

  it("every panel's expression returns at least one series", async () => {
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'examples/grafana/mizual-dashboard.json'), 'utf8')) as {
      panels: { title: string; type: string; targets?: { expr: string }[] }[];
    };
    const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
    assert.ok(targets.length >= 20);
    const empty: string[] = [];
    for (const t of targets) {
      // Grafana's value for "All" is the variable's allValue, .+
      const expr = t.expr.replaceAll('$instance', '.+');
      assert.doesNotMatch(expr, /\$/, `${t.title}: a variable the test does not substitute`);
      if ((await query(expr)).length === 0) empty.push(`${t.title}: ${expr}`);
    }
    assert.deepEqual(empty, []);
  });

  it('the figures are what the tools wrote: containers by short name, the exited one not running, an upload', async () => {
    const running = await query('mizual_container_running{short!=""}');
    const byShort = Object.fromEntries(running.map((s) => [s.metric.short, [s.metric.state, s.value[1]]]));
    assert.deepEqual(byShort, { backend: ['running', '1'], celery: ['exited', '0'] });
    const age = await query('time() - mizual_ship_last_upload_timestamp_seconds');
    assert.ok(Number(age[0]?.value[1]) < 600, JSON.stringify(age));
    const lines = shipped.files.reduce((n, f) => n + f.lines, 0);
    assert.ok(lines > 0);
    assert.equal((await query('mizual_ship_lines_total'))[0]?.value[1], String(lines));
    const bytes = shipped.uploaded.reduce((n, u) => n + u.bytes, 0);
    assert.ok(bytes > 0);
    assert.equal((await query('mizual_ship_uploaded_bytes_total'))[0]?.value[1], String(bytes));
    assert.equal((await query('mizual_ship_pending_archives'))[0]?.value[1], '0');
  });

  it('the rules load and evaluate; MizualContainer fires for the exited container with the webhook labels', async () => {
    const rules = await waitFor('the rules to be evaluated', async () => {
      const res = await fetch(`${promUrl}/api/v1/rules`);
      const body = (await res.json()) as {
        data: { groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      const all = body.data.groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.health === 'ok') ? body.data.groups : undefined;
    });
    assert.deepEqual(rules.map((g) => g.name).sort(), [
      'mizual-app',
      'mizual-containers',
      'mizual-database',
      'mizual-host',
      'mizual-probes-queues',
      'mizual-shipping',
      'mizual-textfile',
    ]);
    const firing = await waitFor('MizualContainer to fire', async () => {
      const r = await query('ALERTS{alertname="MizualContainer", alertstate="firing"}');
      return r.length > 0 ? r : undefined;
    });
    assert.deepEqual(
      firing.map((s) => [s.metric.check, s.metric.severity, s.metric.instance]),
      [['container:celery', 'critical', 'localhost']],
    );
    // Nothing else is wrong on this host: no shipping or textfile alert.
    const others = await query('ALERTS{alertname=~"MizualShipping|MizualMetrics|MizualDocker"}');
    assert.deepEqual(others, []);
  });
});
