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
import { collectProbes, parseProbes, probeChecks } from '../../src/app/probes/probes.js';
import { UsageError } from '../../src/core/errors.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-probe-unit-');
const seen: { url: string; auth?: string }[] = [];
let httpUrl = '';
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
  else if (req.url?.startsWith('/flip')) res.writeHead(flips++ % 2 === 0 ? 200 : 503).end();
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
  it('without it, MIZUAL_HEALTH_URL is the probe health; with neither, no probe', () => {
    assert.deepEqual(parseProbes(undefined, 'http://h/health'), [{ name: 'health', url: 'http://h/health' }]);
    assert.deepEqual(parseProbes(undefined, undefined), []);
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
    const r = await probeHttp(`${httpUrl}/late`, 5_000);
    assert.equal(r.up, true);
    assert.equal(r.status, 200);
    assert.ok((r.ttfbSeconds ?? 0) >= 0.3, String(r.ttfbSeconds));
    assert.ok((r.seconds ?? 0) >= 0.6 && (r.seconds ?? 0) > (r.ttfbSeconds ?? 0), JSON.stringify(r));
    assert.equal(r.certValidToMs, null);
  });
  it('a 5xx is down with its status; a hang ends at the deadline', async () => {
    assert.deepEqual(
      [(await probeHttp(`${httpUrl}/error`, 5_000)).up, (await probeHttp(`${httpUrl}/error`, 5_000)).error],
      [false, 'HTTP 503'],
    );
    const hung = await probeHttp(`${httpUrl}/hang`, 300);
    assert.deepEqual([hung.up, hung.status, hung.error], [false, null, 'no answer within 0.3 s']);
  });
  it('a refused connection is down with a short reason', async () => {
    const r = await probeHttp('http://127.0.0.1:1/', 2_000);
    assert.deepEqual([r.up, r.error], [false, 'ECONNREFUSED']);
  });
  it('an untrusted certificate: down, its days left still read, and no request sent to that server', async () => {
    const before = seen.length;
    const r = await probeHttp(`https://u:pw@${httpsUrl.slice('https://'.length)}/`, 5_000);
    assert.equal(r.up, false);
    assert.equal(r.status, null);
    assert.match(r.error ?? '', /^TLS certificate not trusted: /);
    const days = ((r.certValidToMs ?? 0) - Date.now()) / 86_400_000;
    assert.ok(days > 4.9 && days <= 5, String(days));
    assert.equal(seen.length, before, 'a request (with its credentials) reached the untrusted server');
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
    p95HourSeconds: null, uptimeDayPercent: null, ...over,
  }); // prettier-ignore
  const decide = (f: ProbeFigure) =>
    probeChecks([f], { slowMs: 2_000, certDays: 14 }).map((o) => [o.check, o.failing ? o.severity : 'ok']);
  it('quick and far from expiry: both ok', () => {
    assert.deepEqual(decide(figure({})), [
      ['probe:api', 'ok'],
      ['cert:api', 'ok'],
    ]);
  });
  it('slower than --probe-slow warns; down is critical', () => {
    assert.deepEqual(decide(figure({ seconds: 2.5 }))[0], ['probe:api', 'warning']);
    assert.deepEqual(decide(figure({ up: false, status: 500 }))[0], ['probe:api', 'critical']);
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
