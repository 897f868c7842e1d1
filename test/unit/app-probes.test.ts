// The probes of src/app/: MIZUAL_PROBES parsing, the HTTP(S) prober against local node servers (an
// openssl-made self-signed certificate for https), the history and the alert decisions.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ProbeFigure } from '../../src/app/model.js';
import { addSamples, summarise, type ProbeHistory, type ProbeSample } from '../../src/app/probes/history.js';
import { probeHttp } from '../../src/app/probes/http.js';
import { collectProbes, parseProbeRetries, parseProbes, probeChecks } from '../../src/app/probes/probes.js';
import { UsageError } from '../../src/core/errors.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-probe-unit-');
const seen: { url: string; auth?: string }[] = [];
let httpUrl = '';
let otherUrl = '';
let httpsUrl = '';
const servers: http.Server[] = [];
let flips = 0;

const handler: http.RequestListener = (req, res) => {
  seen.push({ url: req.url ?? '', auth: req.headers.authorization });
  if (req.url?.startsWith('/late')) {
    // Headers after 300 ms, the end of the body 300 ms later.
    setTimeout(() => {
      res.writeHead(200).write('part');
      setTimeout(() => res.end('rest'), 300);
    }, 300);
  } else if (req.url?.startsWith('/error')) res.writeHead(503).end('down');
  else if (req.url?.startsWith('/hang')) return;
  else if (req.url?.startsWith('/hop/')) {
    // /hop/N redirects to /hop/N-1 (relative), /hop/0 answers; /loop/a <-> /loop/b.
    const n = Number(req.url.slice(5));
    if (n > 0) res.writeHead(302, { Location: `/hop/${n - 1}` }).end();
    else res.end('arrived: the page');
  } else if (req.url?.startsWith('/loop/')) res.writeHead(301, { Location: req.url.endsWith('a') ? 'b' : 'a' }).end();
  else if (req.url?.startsWith('/away')) res.writeHead(307, { Location: `${otherUrl}/landed` }).end();
  else if (req.url?.startsWith('/chunks')) {
    // The text split across two writes.
    res.writeHead(200).write(`${'x'.repeat(70_000)}Welc`);
    setTimeout(() => res.end('ome back'), 20);
  } else if (req.url?.startsWith('/flip')) res.writeHead(flips++ % 2 === 0 ? 200 : 503).end();
  else res.end('ok');
};

async function listen(server: http.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

before(async () => {
  const [key, cert] = [path.join(scratch.dir, 'k.pem'), path.join(scratch.dir, 'c.pem')];
  execFileSync('openssl', [
    'req', '-x509', '-nodes', '-newkey', 'rsa:2048', '-days', '5', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' }); // prettier-ignore
  httpUrl = `http://127.0.0.1:${await listen(http.createServer(handler))}`;
  otherUrl = `http://127.0.0.1:${await listen(http.createServer(handler))}`;
  const tlsServer = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, handler);
  httpsUrl = `https://localhost:${await listen(tlsServer)}`;
});

after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  scratch.cleanup();
});

describe('MIZUAL_PROBES', () => {
  it('reads name=URL pairs, a comma inside a URL included', () => {
    assert.deepEqual(parseProbes('api=http://a/x?l=1,2, web = https://b/', undefined), [
      { name: 'api', url: 'http://a/x?l=1,2' },
      { name: 'web', url: 'https://b/' },
    ]);
  });
  it('MIZUAL_HEALTH_URL is the probe health, alone or beside MIZUAL_PROBES; with neither, no probe', () => {
    assert.deepEqual(parseProbes(undefined, 'http://h/health'), [
      { name: 'health', url: 'http://h/health', health: true },
    ]);
    assert.deepEqual(
      parseProbes('api=http://a/', 'http://h/health').map((p) => [p.name, p.health ?? false]),
      [
        ['health', true],
        ['api', false],
      ],
    );
    // Named in MIZUAL_PROBES too (for its options): still one probe, the health one.
    assert.deepEqual(parseProbes('health=http://h/health contains=ok', 'http://h/health'), [
      { name: 'health', url: 'http://h/health', contains: 'ok', health: true },
    ]);
    assert.throws(() => parseProbes('health=http://other/', 'http://h/health'), /give this entry another name/);
    assert.deepEqual(parseProbes(undefined, undefined), []);
  });
  it('options after the URL: status ranges, contains (quoted with spaces), timeout', () => {
    assert.deepEqual(
      parseProbes('web=https://b/ status=200-299,301 contains="Welcome back" timeout=3s,api=http://a/ contains=ok', undefined),
      [
        { name: 'web', url: 'https://b/', status: [[200, 299], [301, 301]], contains: 'Welcome back', timeoutMs: 3_000 },
        { name: 'api', url: 'http://a/', contains: 'ok' },
      ],
    ); // prettier-ignore
    for (const [bad, why] of [
      ['a=http://x/ status=2xx', /a: status must look like 200-299/],
      ['a=http://x/ status=299-200', /a: status must look like/],
      ['a=http://x/ timeout=soon', /a: timeout must look like/],
      ['a=http://x/ timeout=1h', /a: timeout must be at most 2m/],
      ['a=http://x/ retries=3', /a: unknown option retries=/],
      ['a=http://x/ contains=', /a: contains= needs a text/],
      ['a=http://x/ junk', /a: expected status=, contains= or timeout= after the URL/],
    ] as const) {
      assert.throws(
        () => parseProbes(bad, undefined),
        (e: unknown) => e instanceof UsageError && /^MIZUAL_PROBES: /.test(e.message) && why.test(e.message),
        bad,
      );
    }
  });
  it('MIZUAL_PROBE_RETRIES: 2 unless set, a whole number from 1', () => {
    assert.equal(parseProbeRetries(undefined), 2);
    assert.equal(parseProbeRetries('1'), 1);
    for (const bad of ['0', '1.5', 'two', '-1'])
      assert.throws(() => parseProbeRetries(bad), /^UsageError: MIZUAL_PROBE_RETRIES must be a whole number/);
  });
  it('a malformed entry, a non-http URL or a name given twice is a usage error naming the variable', () => {
    for (const bad of ['api', 'api=ftp://x/', 'a=http://x/,a=http://y/', 'api=not a url']) {
      assert.throws(
        () => parseProbes(bad, undefined),
        (e: unknown) => e instanceof UsageError && /MIZUAL_PROBES/.test(e.message),
      );
    }
  });
});

describe('the HTTP(S) prober', () => {
  it('times the first byte and the whole answer separately', async () => {
    const r = await probeHttp(`${httpUrl}/late`, { timeoutMs: 5_000 });
    assert.equal(r.up, true);
    assert.equal(r.status, 200);
    assert.ok((r.ttfbSeconds ?? 0) >= 0.3, String(r.ttfbSeconds));
    assert.ok((r.seconds ?? 0) >= 0.6 && (r.seconds ?? 0) > (r.ttfbSeconds ?? 0), JSON.stringify(r));
    assert.equal(r.certValidToMs, null);
  });
  it('a 5xx is down with its status; a hang ends at the deadline', async () => {
    assert.deepEqual(
      [
        (await probeHttp(`${httpUrl}/error`, { timeoutMs: 5_000 })).up,
        (await probeHttp(`${httpUrl}/error`, { timeoutMs: 5_000 })).error,
      ],
      [false, 'HTTP 503'],
    );
    const hung = await probeHttp(`${httpUrl}/hang`, { timeoutMs: 300 });
    assert.deepEqual([hung.up, hung.status, hung.error], [false, null, 'no answer within 0.3 s']);
  });
  it('a refused connection is down with a short reason', async () => {
    const r = await probeHttp('http://127.0.0.1:1/', { timeoutMs: 2_000 });
    assert.deepEqual([r.up, r.error], [false, 'ECONNREFUSED']);
  });
  it('an untrusted certificate: down, its days left still read, and no request sent to that server', async () => {
    const before = seen.length;
    const r = await probeHttp(`https://u:pw@${httpsUrl.slice('https://'.length)}/`, { timeoutMs: 5_000 });
    assert.equal(r.up, false);
    assert.equal(r.status, null);
    assert.match(r.error ?? '', /^TLS certificate not trusted: /);
    const days = ((r.certValidToMs ?? 0) - Date.now()) / 86_400_000;
    assert.ok(days > 4.9 && days <= 5, String(days));
    assert.equal(seen.length, before, 'a request (with its credentials) reached the untrusted server');
  });
  it('follows up to 5 redirects and counts them; a sixth, a loop or a redirect to nowhere is down', async () => {
    const five = await probeHttp(`${httpUrl}/hop/5`, { timeoutMs: 5_000, contains: 'the page' });
    assert.deepEqual([five.up, five.status, five.redirects], [true, 200, 5]);
    const six = await probeHttp(`${httpUrl}/hop/6`, { timeoutMs: 5_000 });
    assert.deepEqual([six.up, six.status, six.redirects, six.error], [false, 302, 5, 'more than 5 redirects']);
    const loop = await probeHttp(`${httpUrl}/loop/a`, { timeoutMs: 5_000 });
    assert.deepEqual([loop.up, loop.status, loop.error], [false, 301, 'redirect loop after 2 redirects']);
  });
  it("credentials go to the URL's own origin only, never where it redirects", async () => {
    const r = await probeHttp(`http://u:secret@${httpUrl.slice(7)}/away`, { timeoutMs: 5_000 });
    assert.deepEqual([r.up, r.redirects], [true, 1]);
    assert.deepEqual(
      seen.slice(-2).map((s) => [s.url, s.auth !== undefined]),
      [
        ['/away', true],
        ['/landed', false],
      ],
    );
  });
  it('contains= finds text split across chunks; a 200 without it is down; status= widens what is up', async () => {
    const found = await probeHttp(`${httpUrl}/chunks`, { timeoutMs: 5_000, contains: 'Welcome back' });
    assert.equal(found.up, true, found.error);
    const missing = await probeHttp(`${httpUrl}/chunks`, { timeoutMs: 5_000, contains: 'Sign in' });
    assert.deepEqual([missing.up, missing.status, missing.error], [false, 200, "HTTP 200 without 'Sign in'"]);
    const gone = await probeHttp(`${httpUrl}/error`, {
      timeoutMs: 5_000,
      status: [
        [200, 299],
        [503, 503],
      ],
    });
    assert.equal(gone.up, true);
  });
  it('sends the URL credentials as basic auth and the query string, but shows neither', async () => {
    const [figure] = await collectProbes({
      probes: [{ name: 'api', url: `http://user:p%40ss@${httpUrl.slice(7)}/path?token=abc` }],
      stateDir: path.join(scratch.dir, 'state-auth'),
    });
    assert.equal(seen.at(-1)?.url, '/path?token=abc');
    assert.equal(seen.at(-1)?.auth, `Basic ${Buffer.from('user:p@ss').toString('base64')}`);
    assert.equal(figure?.url, `${httpUrl}/path`);
  });
});

describe('probe history', () => {
  it('p95 of the last hour (up samples only) and uptime of the last day', () => {
    const now = 1_000_000_000_000;
    const at = (minutesAgo: number) => Math.round((now - minutesAgo * 60_000) / 1000);
    const samples: ProbeSample[] = [
      [at(120), 1, 9], // outside the hour: not in the p95
      ...Array.from({ length: 19 }, (_, i): ProbeSample => [at(50 - i), 1, 0.1]),
      [at(5), 1, 3],
      [at(3), 0, null],
      [at(2000), 0, null], // older than a day: not in the uptime
    ];
    assert.deepEqual(summarise(samples, now), { p95: 0.1, uptime: 95.45 });
    samples.push([at(1), 1, 4]);
    assert.equal(summarise(samples, now).p95, 3);
  });
  it('kept for the configured probes only, a day at most, restarted when the URL changes', () => {
    const now = 2_000_000_000_000;
    const s = (ago: number): ProbeSample => [Math.round((now - ago) / 1000), 1, 0.1];
    const history: ProbeHistory = {
      version: 1,
      probes: {
        a: { url: 'http://a/', samples: [s(90_000_000), s(60_000)] },
        gone: { url: 'http://g/', samples: [s(1)] },
      },
    };
    const next = addSamples(
      history,
      [
        { name: 'a', url: 'http://a/', sample: s(0) },
        { name: 'b', url: 'http://b/', sample: s(0) },
      ],
      now,
    );
    assert.deepEqual(Object.keys(next.probes), ['a', 'b']);
    assert.equal(next.probes['a']?.samples.length, 2);
    const moved = addSamples(next, [{ name: 'a', url: 'http://elsewhere/', sample: s(0) }], now);
    assert.equal(moved.probes['a']?.samples.length, 1);
  });
  it('recorded only when asked, in a 0600 file', async () => {
    const stateDir = path.join(scratch.dir, 'state-rec');
    const probes = [{ name: 'flip', url: `${httpUrl}/flip` }];
    await collectProbes({ probes, stateDir });
    assert.throws(() => statSync(path.join(stateDir, 'probe-history.json')));
    flips = 0;
    await collectProbes({ probes, stateDir, record: true, now: new Date(Date.now() - 60_000) });
    assert.equal(statSync(path.join(stateDir, 'probe-history.json')).mode & 0o777, 0o600);
    const [figure] = await collectProbes({ probes, stateDir });
    assert.deepEqual([figure?.up, figure?.uptimeDayPercent], [false, 50]);
  });
});

describe('probe and cert checks', () => {
  const figure = (over: Partial<ProbeFigure>): ProbeFigure => ({
    name: 'api', url: 'https://x/', up: true, status: 200, seconds: 0.2, ttfbSeconds: 0.1, certDaysLeft: 60,
    p95HourSeconds: null, uptimeDayPercent: null, redirects: 0, failedRuns: over.up === false ? 2 : 0,
    down: over.up === false, ...over,
  }); // prettier-ignore
  const decide = (f: ProbeFigure) =>
    probeChecks([f], { slowMs: 2_000, certDays: 14 }).map((o) => [o.check, o.failing ? o.severity : 'ok']);
  it('quick and far from expiry: both ok', () => {
    assert.deepEqual(decide(figure({})), [
      ['probe:api', 'ok'],
      ['cert:api', 'ok'],
    ]);
  });
  it('slower than --probe-slow warns; DOWN is critical; a first failed run is not raised yet', () => {
    assert.deepEqual(decide(figure({ seconds: 2.5 }))[0], ['probe:api', 'warning']);
    assert.deepEqual(decide(figure({ up: false, status: 500 }))[0], ['probe:api', 'critical']);
    const first = probeChecks([figure({ up: false, status: 500, failedRuns: 1, down: false, error: 'HTTP 500' })], {
      slowMs: 2_000,
      certDays: 14,
    })[0];
    assert.equal(first?.failing, false);
    assert.match(first?.message ?? '', /answered HTTP 500 in 0\.20 s.* \(failed 1 run in a row: not DOWN yet\)$/);
  });
  it('the MIZUAL_HEALTH_URL probe is the check health: WARNING past --health-slow, CRITICAL on its first failed run', () => {
    const limits = { slowMs: 2_000, certDays: 14, health: { name: 'health', slowMs: 1_000 } };
    const checks = (f: ProbeFigure) => probeChecks([f], limits).map((o) => [o.check, o.failing ? o.severity : 'ok']);
    const url = 'http://h/health';
    assert.deepEqual(checks(figure({ name: 'health', url, seconds: 2.5 })), [['health', 'warning']]);
    assert.deepEqual(checks(figure({ name: 'health', url, seconds: 0.5 })), [['health', 'ok']]);
    const once = figure({ name: 'health', url, up: false, status: 503, failedRuns: 1, down: false, error: 'HTTP 503' });
    assert.deepEqual(checks(once), [['health', 'critical']]);
    assert.match(probeChecks([once], limits)[0]?.message ?? '', /^http:\/\/h\/health answered HTTP 503 in 200 ms/);
    // Another probe that happens to be called health, without MIZUAL_HEALTH_URL, is an ordinary probe.
    assert.deepEqual(decide(figure({ name: 'health', url, seconds: 2.5 })), [['probe:health', 'warning']]);
  });
  it('a certificate within 14 days warns, within 3 days or expired is critical', () => {
    assert.deepEqual(decide(figure({ certDaysLeft: 13.9 }))[1], ['cert:api', 'warning']);
    assert.deepEqual(decide(figure({ certDaysLeft: 2.5 }))[1], ['cert:api', 'critical']);
    assert.deepEqual(decide(figure({ certDaysLeft: -1 }))[1], ['cert:api', 'critical']);
  });
  it('plain http has no cert check; an https probe with no handshake skips it', () => {
    assert.deepEqual(decide(figure({ url: 'http://x/', certDaysLeft: null })), [['probe:api', 'ok']]);
    const skipped = probeChecks([figure({ up: false, certDaysLeft: null })], { slowMs: 2_000, certDays: 14 })[1];
    assert.equal(skipped?.skipped, true);
  });
});
