/**
 * Probes as users configure them, against real servers on this host: Python's http.server (Debian's
 * python3) threaded for the pages (redirect chains, a loop, a page that answers 200 without the
 * expected text, slow routes) and single-threaded for a health endpoint that takes 2.5 s, and
 * openssl s_server serving a leaf certificate with an intermediate that expires before it. Three
 * mizual-alerts runs show MIZUAL_PROBE_RETRIES at work; mizual-metrics then shows the same figures.
 */
import { execa, type ResultPromise } from 'execa';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildIfStale, runTool, scratchDir, type CliResult } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

const PYTHON = '/usr/bin/python3';
const HEALTH_SECONDS = 2.5;
const SERVER = `import os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

mode, port, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3]

class Handler(BaseHTTPRequestHandler):
    def reply(self, code, body=b'', location=None):
        self.send_response(code)
        if location:
            self.send_header('Location', location)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        p = self.path
        if p == '/health':
            time.sleep(${HEALTH_SECONDS})
            self.reply(200, b'ok')
        elif p.startswith('/r/'):
            n = int(p[3:])
            if n > 0:
                self.reply(302, location='/r/%d' % (n - 1))
            else:
                self.reply(200, b'<h1>Welcome back</h1>')
        elif p == '/loop':
            self.reply(302, location='/loop2')
        elif p == '/loop2':
            self.reply(301, location='/loop')
        elif p == '/page':
            self.reply(200, b'<h1>Welcome back</h1>' if os.path.exists(flag) else b'<h1>Under maintenance</h1>')
        elif p.startswith('/sleep/'):
            time.sleep(float(p[7:]))
            self.reply(200, b'Welcome back')
        else:
            self.reply(404)

server = (HTTPServer if mode == 'single' else ThreadingHTTPServer)(('127.0.0.1', port), Handler)
print('ready', flush=True)
server.serve_forever()
`;

const scratch = scratchDir('mizual-probe-options-');
const daemons: ResultPromise[] = [];
const serverLog: Record<string, string> = { single: '', threaded: '' };
const fixedFlag = path.join(scratch.dir, 'fixed');
let env: Record<string, string> = {};
let intermediateEnd = 0;
let leafEnd = 0;
const runs: { result: CliResult; checks: Map<string, { status: string; message: string }> }[] = [];
let logAfter: string[] = [];

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('connect', () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

async function httpServer(mode: 'single' | 'threaded'): Promise<number> {
  const port = await freePort();
  const script = path.join(scratch.dir, 'server.py');
  writeFileSync(script, SERVER);
  const child = execa(PYTHON, [script, mode, String(port), fixedFlag], { reject: false, stdin: 'ignore' });
  child.stderr?.on('data', (d: Buffer) => (serverLog[mode] += String(d)));
  daemons.push(child);
  await waitForPort(port);
  return port;
}

/** A root CA (10 years), an intermediate valid 4 days, a leaf for localhost valid 60 days: s_server sends leaf + intermediate. */
async function chainServer(): Promise<number> {
  const f = (name: string) => path.join(scratch.dir, name);
  const ossl = (args: string[]) => execa('openssl', args, { cwd: scratch.dir });
  writeFileSync(f('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  writeFileSync(
    f('leaf.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
      'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n',
  );
  await ossl(['req', '-x509', '-nodes', '-newkey', 'rsa:2048', '-days', '3650', '-subj', '/CN=Probe Test Root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', f('root.key'), '-out', f('root.crt')]); // prettier-ignore
  await ossl(['req', '-nodes', '-newkey', 'rsa:2048', '-subj', '/CN=Probe Test Intermediate',
    '-keyout', f('int.key'), '-out', f('int.csr')]); // prettier-ignore
  await ossl(['x509', '-req', '-in', f('int.csr'), '-CA', f('root.crt'), '-CAkey', f('root.key'), '-set_serial', '2',
    '-days', '4', '-extfile', f('ca.ext'), '-out', f('int.crt')]); // prettier-ignore
  await ossl(['req', '-nodes', '-newkey', 'rsa:2048', '-subj', '/CN=localhost',
    '-keyout', f('leaf.key'), '-out', f('leaf.csr')]); // prettier-ignore
  await ossl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('int.crt'), '-CAkey', f('int.key'), '-set_serial', '3',
    '-days', '60', '-extfile', f('leaf.ext'), '-out', f('leaf.crt')]); // prettier-ignore
  const end = async (cert: string) =>
    Date.parse((await ossl(['x509', '-noout', '-enddate', '-in', f(cert)])).stdout.replace('notAfter=', ''));
  [intermediateEnd, leafEnd] = await Promise.all([end('int.crt'), end('leaf.crt')]);
  const port = await freePort();
  daemons.push(
    execa('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', f('leaf.crt'), '-key', f('leaf.key'),
      '-cert_chain', f('int.crt'), '-www', '-quiet'], { reject: false, stdin: 'ignore' }), // prettier-ignore
  );
  await waitForPort(port);
  return port;
}

const alertLog = () => path.join(scratch.dir, 'alerts.log');
const logLines = (): string[] => {
  try {
    return readFileSync(alertLog(), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

async function alertsRun(): Promise<void> {
  const before = logLines().length;
  const result = await runTool('mizual-alerts', ['--json', '--no-docker', '--cpu-sample', '0'], {
    env,
    cwd: scratch.dir,
  });
  const parsed = JSON.parse(result.stdout) as { checks: { check: string; status: string; message: string }[] };
  runs.push({ result, checks: new Map(parsed.checks.map((c) => [c.check, c])) });
  logAfter = logLines().slice(before);
}

before(async () => {
  await buildIfStale();
  const [single, threaded, tls] = await Promise.all([httpServer('single'), httpServer('threaded'), chainServer()]);
  const page = `http://127.0.0.1:${threaded}`;
  env = {
    MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
    MIZUAL_ALERT_LOG: alertLog(),
    MIZUAL_HEALTH_URL: `http://127.0.0.1:${single}/health`,
    MIZUAL_PROBES: [
      `hops=${page}/r/3 contains=Welcome`,
      `loop=${page}/loop`,
      `page=${page}/page contains="Welcome back"`,
      `quick=${page}/sleep/3 timeout=1s`,
      `seven=${page}/sleep/7`,
      `chain=https://localhost:${tls}/`,
    ].join(','),
    NODE_EXTRA_CA_CERTS: path.join(scratch.dir, 'root.crt'),
  };
  // Run 1 and 2: the page is broken both times; run 3: it is fixed.
  await alertsRun();
  const firstLog = logAfter;
  await alertsRun();
  const secondLog = logAfter;
  writeFileSync(fixedFlag, '');
  await alertsRun();
  logAfter = [...firstLog, '--', ...secondLog, '--', ...logAfter];
});

after(async () => {
  for (const d of daemons) d.kill('SIGTERM');
  await Promise.all(daemons.map((d) => d.catch(() => undefined)));
  scratch.cleanup();
});

const check = (run: number, name: string) => runs[run]?.checks.get(name);
const runLog = (run: number) => logAfter.join('\n').split('\n--\n')[run] ?? '';

describe('MIZUAL_HEALTH_URL is one probe', () => {
  it('a 2.5 s health endpoint on a single-threaded server: one request a run, health WARNING, no probe:health', () => {
    const health = check(0, 'health');
    assert.equal(health?.status, 'warning', health?.message);
    assert.match(
      health?.message ?? '',
      /^http:\/\/127\.0\.0\.1:\d+\/health answered HTTP 200 in 2\d\d\d ms \(slower than 2 s\)$/,
    );
    assert.equal(check(0, 'probe:health'), undefined);
    assert.doesNotMatch(logLines().join('\n'), /probe:health/);
    assert.match(runLog(0), / WARNING health: /);
    // Three runs, three requests: never a second one queued behind the first.
    assert.equal(serverLog['single']?.match(/"GET \/health HTTP\/1\.1" 200/g)?.length, 3, serverLog['single']);
  });

  it('with the health URL alone and the host within its limits, the run is WARNING: exit 1, not 2', async () => {
    const alone = await runTool(
      'mizual-alerts',
      ['--json', '--no-docker', '--cpu-sample', '0', '--cpu', '100', '--memory', '100', '--disk', '100'],
      {
        env: {
          MIZUAL_STATE_DIR: path.join(scratch.dir, 'state-alone'),
          MIZUAL_ALERT_LOG: path.join(scratch.dir, 'alone.log'),
          MIZUAL_HEALTH_URL: env['MIZUAL_HEALTH_URL'],
        },
        cwd: scratch.dir,
      },
    );
    const checks = (JSON.parse(alone.stdout) as { checks: { check: string; status: string }[] }).checks;
    const raised = checks.filter((c) => c.status !== 'ok').map((c) => `${c.check} ${c.status}`);
    assert.deepEqual(raised, ['health warning']);
    assert.equal(alone.exitCode, 1, alone.stderr);
  });
});

describe('probe options, redirects and MIZUAL_PROBE_RETRIES', () => {
  it('a 200 without the expected text: not raised on the first failed run, CRITICAL on the second, RESOLVED on the first good one', () => {
    assert.equal(check(0, 'probe:page')?.status, 'ok', check(0, 'probe:page')?.message);
    assert.match(
      check(0, 'probe:page')?.message ?? '',
      /answered HTTP 200 in .*\(HTTP 200 without 'Welcome back'\) \(failed 1 run in a row: not DOWN yet\)$/,
    );
    assert.doesNotMatch(runLog(0), /probe:page/);
    assert.equal(check(1, 'probe:page')?.status, 'critical');
    assert.match(runLog(1), / CRITICAL probe:page: probe page http:\/\/127\.0\.0\.1:\d+\/page answered HTTP 200 /);
    assert.equal(check(2, 'probe:page')?.status, 'ok');
    assert.match(runLog(2), / RESOLVED probe:page: /);
  });

  it('redirects are followed and counted; a loop is down', () => {
    assert.equal(check(0, 'probe:hops')?.status, 'ok', check(0, 'probe:hops')?.message);
    assert.match(check(0, 'probe:hops')?.message ?? '', /answered HTTP 200 after 3 redirects in /);
    assert.equal(check(1, 'probe:loop')?.status, 'critical');
    assert.match(
      check(1, 'probe:loop')?.message ?? '',
      /^probe loop http:\/\/127\.0\.0\.1:\d+\/loop: redirect loop after 2 redirects/,
    );
  });

  it("a probe's own timeout= ends it; the default 10 s lets a 7 s page answer", () => {
    assert.match(check(1, 'probe:quick')?.message ?? '', /: no answer within 1 s$/);
    assert.equal(check(1, 'probe:quick')?.status, 'critical');
    assert.equal(check(0, 'probe:seven')?.status, 'warning', check(0, 'probe:seven')?.message);
    assert.match(check(0, 'probe:seven')?.message ?? '', /answered HTTP 200 in 7\.\d\d s.*\(slower than 2 s\)$/);
  });

  it('TLS days come from the intermediate that expires before the leaf', () => {
    assert.ok(leafEnd - intermediateEnd > 50 * 86_400_000, 'the leaf must outlive the intermediate');
    const cert = check(0, 'cert:chain');
    assert.equal(cert?.status, 'warning', cert?.message);
    assert.match(cert?.message ?? '', /^certificate of https:\/\/localhost:\d+\/ expires in (3\.9|4\.0) days/);
    assert.equal(check(0, 'probe:chain')?.status, 'ok', check(0, 'probe:chain')?.message);
  });
});

describe('mizual-metrics shows the same probes, with the same timeout', () => {
  let views: Promise<[CliResult, CliResult, CliResult]> | undefined;
  const metrics = () =>
    (views ??= Promise.all(
      [['--json'], [], ['--prometheus']].map((args) =>
        runTool('mizual-metrics', [...args, '--no-docker'], { env, cwd: scratch.dir }),
      ) as [Promise<CliResult>, Promise<CliResult>, Promise<CliResult>],
    ));

  it('--json: redirects, failed runs, the chain expiry; the 7 s page is up (not cut at 5 s)', async () => {
    const [json] = await metrics();
    assert.equal(json.exitCode, 0, json.stderr);
    const probes = (JSON.parse(json.stdout) as { app: { probes: Record<string, unknown>[] } }).app.probes;
    const p = (name: string) => probes.find((x) => x['name'] === name) ?? {};
    assert.deepEqual(
      probes.map((x) => x['name']),
      ['health', 'hops', 'loop', 'page', 'quick', 'seven', 'chain'],
    );
    assert.deepEqual([p('hops')['up'], p('hops')['redirects'], p('hops')['status']], [true, 3, 200]);
    assert.deepEqual([p('seven')['up'], p('seven')['status']], [true, 200]);
    assert.ok(Number(p('seven')['seconds']) >= 7, String(p('seven')['seconds']));
    assert.deepEqual([p('loop')['up'], p('loop')['down'], p('loop')['failedRuns']], [false, true, 4]);
    assert.deepEqual([p('page')['up'], p('page')['failedRuns']], [true, 0]);
    const days = Number(p('chain')['certDaysLeft']);
    const expected = (intermediateEnd - Date.now()) / 86_400_000;
    assert.ok(Math.abs(days - expected) < 0.01, `${days} vs the intermediate's ${expected}`);
    assert.ok(Number(p('health')['seconds']) >= HEALTH_SECONDS);
  });

  it('the dashboard shows the redirects and DOWN; Prometheus has the intermediate expiry', async () => {
    const [, human, prom] = await metrics();
    assert.equal(human.exitCode, 0, human.stderr);
    assert.match(human.stdout, /^probe hops\s+up 200 \d\.\d\d s\s+3 redirects\s+/m);
    assert.match(human.stdout, /^probe loop\s+DOWN 301\s.*redirect loop after 2 redirects$/m);
    assert.match(human.stdout, /^probe seven\s+up 200 7\.\d\d s/m);
    const expiry = Number(/^mizual_probe_tls_expiry_timestamp_seconds\{probe="chain"\} (\S+)$/m.exec(prom.stdout)?.[1]);
    assert.ok(Math.abs(expiry - intermediateEnd / 1000) <= 2, `${expiry} vs ${intermediateEnd / 1000}`);
  });
});
