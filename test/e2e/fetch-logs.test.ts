/**
 * mizual-fetch-logs (built executable) against the real S3 gateway, through the B2-strict proxy and,
 * in front of it, the harness fault proxy (counting GETs per key, cutting a response mid-body).
 * Fails (never skips) when no S3 server can be had.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type Fault } from '../harness/fault-proxy.js';
import { toolEnvFor } from '../harness/s3.js';
import { useBucket } from '../harness/bucket.js';
import { ROOT, runTool, scratchDir } from '../helpers/cli.js';
import { buildTarGz, dockerTime, makeShipArchive, type ShipArchiveSpec } from '../helpers/make-archive.js';

/** The harness fault proxy, counting GETs per object key and cutting a body mid-transfer on demand. */
async function startCountingProxy(targetUrl: string) {
  const cuts = new Map<string, { bytes: number; times: number }>();
  const keyOf = (p: string): string => decodeURIComponent(p.split('?')[0] ?? '').replace(/^\/[^/]+\//, '');
  const proxy = await startFaultProxy(targetUrl, (r): Fault | undefined => {
    const rule = r.method === 'GET' ? cuts.get(keyOf(r.path)) : undefined;
    if (!rule || rule.times <= 0) return undefined;
    rule.times--;
    // The server "dies" mid-transfer: the connection drops with the body incomplete.
    return { kind: 'reset-mid-answer', afterBytes: rule.bytes };
  });
  return {
    url: proxy.url,
    /** GET requests seen for one object key. */
    gets: (key: string): number => proxy.log.filter((r) => r.method === 'GET' && keyOf(r.path) === key).length,
    /** Cut the body of GETs of `key` after `bytes` bytes, `times` times. */
    cut: (key: string, bytes: number, times: number): void => void cuts.set(key, { bytes, times }),
    close: proxy.close,
  };
}

const SECRET_MARK = 'mizual-test-secret';
const scratch = scratchDir('mizual-fetch-');
const base = new Date('2026-11-25T09:00:00Z');
const t = (ms: number): string => dockerTime(base, ms);
const ONE_MB_LINE = `${t(4_000)} ${'M'.repeat(1024 * 1024)}`;

function spec(
  host: string,
  end: string,
  containers: ShipArchiveSpec['containers'],
  alerts: string[] = [],
): ShipArchiveSpec {
  const e = new Date(end);
  return { env: 'prod', host, start: new Date(e.getTime() - 1_800_000), end: e, containers, alerts };
}

const ARCHIVES: ShipArchiveSpec[] = [
  spec('web-1', '2026-11-24T23:30:00Z', [{ short: 'backend', lines: [`2026-11-24T23:10:00.000000001Z yesterday`] }]),
  spec(
    'web-1',
    '2026-11-25T09:30:00Z',
    [
      { short: 'backend', lines: [`${t(1_000)} b1 ERROR`, `${t(3_000)} b3`, ONE_MB_LINE] },
      { short: 'celery', lines: [`${t(2_000)} c2`, `${t(5_000)} c5 ERROR`] },
    ],
    ['2026-11-25T09:00:02.6Z WARNING cpu: 91%'],
  ),
  spec('web-1', '2026-11-25T10:00:00Z', [
    { short: 'backend', lines: [`${t(1_800_500)} b-next`] },
    { short: 'celery', lines: [`${t(1_800_100)} c-next`] },
  ]),
  spec(
    'web-2',
    '2026-11-25T09:30:00Z',
    [{ short: 'backend', lines: [`${t(2_500)} w2`, `${t(1_900_000)} w2-late`] }],
    ['[Wed Nov 25 09:00:03 UTC 2026] old style alert'],
  ),
];

describe('mizual-fetch-logs against the real gateway', () => {
  const fx = useBucket('fetch');
  let faults: Awaited<ReturnType<typeof startCountingProxy>>;
  let env: Record<string, string>;
  const sizes = new Map<string, number>();
  const bytes = new Map<string, Buffer>();

  before(async () => {
    faults = await startCountingProxy(fx.strict.url);
    const put = async (key: string, data: Buffer): Promise<void> => {
      const file = path.join(scratch.dir, path.basename(key));
      writeFileSync(file, data);
      await fx.store.putFile(key, file);
      sizes.set(key, data.length);
      bytes.set(key, data);
    };
    for (const a of ARCHIVES) {
      const made = makeShipArchive(a);
      await put(`logs/prod/${a.host}/${a.end.toISOString().slice(0, 10)}/${made.name}`, made.data);
    }
    await put(
      'logs/prod/evil/2026-11-26/logs-20261126_010000.tar.gz',
      buildTarGz([
        { name: 'good-20261126_010000.log', data: 'good\n' },
        { name: '/tmp/mizual-fetch-abs-escape.log', data: 'abs\n' },
        { name: '../../../../../../escape-dotdot.log', data: 'dotdot\n' },
        { name: 'sym', type: '2', linkname: '../../../../../..' },
        { name: 'hard', type: '1', linkname: '../../../../../../etc/passwd' },
        { name: 'also-good.log', data: 'also\n' },
      ]),
    );
    // A big archive for the interrupted-download tests (incompressible, so the cut lands mid-body).
    const noise = randomBytes(3_000_000);
    await put('logs/prod/cut/2026-11-27/logs-20261127_010000.tar.gz', buildTarGz([{ name: 'x.log', data: noise }]));
    await put('logs/prod/web-1/2026-11-25/not-an-archive.txt', Buffer.from('stray'));
    env = {
      ...toolEnvFor(fx.s3, fx.bucket, faults.url),
      S3_REGION: fx.s3.region,
    };
  });

  after(async () => {
    await faults?.close();
    scratch.cleanup();
  });

  const fetch = (args: string[], cwd = scratch.dir) =>
    runTool('mizual-fetch-logs', args, { env, cwd, timeoutMs: 120_000 });

  it('--list shows the dates and hosts of an env, and with --date the archives and sizes', async () => {
    const dates = await fetch(['--env', 'prod', '--list', '--json']);
    assert.equal(dates.exitCode, 0, dates.stderr);
    assert.deepEqual(JSON.parse(dates.stdout).dates, [
      { date: '2026-11-24', hosts: ['web-1'] },
      { date: '2026-11-25', hosts: ['web-1', 'web-2'] },
      { date: '2026-11-26', hosts: ['evil'] },
      { date: '2026-11-27', hosts: ['cut'] },
    ]);
    const human = await fetch(['--env', 'prod', '--list']);
    assert.match(human.stdout, /^2026-11-25\s+web-1, web-2$/m);
    const day = await fetch(['--env', 'prod', '--list', '--date', '2026-11-25', '--json']);
    assert.equal(day.exitCode, 0, day.stderr);
    const archives = JSON.parse(day.stdout).archives as { key: string; size: number }[];
    assert.deepEqual(
      archives.map((a) => [a.key, a.size]),
      [...sizes].filter(([k]) => k.includes('/2026-11-25/') && k.endsWith('.tar.gz')),
    );
    const dayText = await fetch(['--env', 'prod', '--list', '--date', '2026-11-25', '--host', 'web-2']);
    assert.match(dayText.stdout, /^web-2\s+logs-20261125_093000\.tar\.gz\s+\S+ (B|KiB)\s/m);
    assert.match(dayText.stdout, /^1 archives, /m);
    const empty = await fetch(['--env', 'dev', '--list']);
    assert.equal(empty.exitCode, 0);
    assert.match(empty.stdout, /no archives for dev/);
  });

  it('downloads a day across two hosts (0600 files, 0700 dirs); a re-run fetches nothing', async () => {
    const out = path.join(scratch.dir, 'day');
    const first = await fetch(['--env', 'prod', '--date', '2026-11-25', '--out', out]);
    assert.equal(first.exitCode, 0, first.stderr);
    assert.equal(fx.strict.rejected.length, 0, JSON.stringify(fx.strict.rejected));
    const expected = [...sizes.keys()].filter((k) => k.includes('/2026-11-25/') && k.endsWith('.tar.gz'));
    assert.equal(expected.length, 3);
    for (const key of expected) {
      const file = path.join(out, key.replace(/^logs\//, ''));
      assert.deepEqual(readFileSync(file), bytes.get(key), key);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
    }
    assert.equal((first.stdout.match(/^downloaded /gm) ?? []).length, 3);
    const before = expected.map((k) => faults.gets(k));
    const again = await fetch(['--env', 'prod', '--date', '2026-11-25', '--out', out]);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.equal((again.stdout.match(/^skipped /gm) ?? []).length, 3);
    assert.deepEqual(
      expected.map((k) => faults.gets(k)),
      before,
      'no GET of an archive on the re-run',
    );
    // A changed local copy (another size) is fetched again.
    const victim = path.join(out, (expected[0] as string).replace(/^logs\//, ''));
    writeFileSync(victim, 'short');
    const third = await fetch(['--env', 'prod', '--date', '2026-11-25', '--out', out, '--host', 'web-1', '--json']);
    assert.equal(third.exitCode, 0, third.stderr);
    const statuses = (JSON.parse(third.stdout).archives as { status: string }[]).map((a) => a.status);
    assert.deepEqual(statuses, ['downloaded', 'skipped']);
    assert.deepEqual(readFileSync(victim), bytes.get(expected[0] as string));
  });

  it('an interrupted download leaves no partial file under its final name; a retry recovers', async () => {
    const key = 'logs/prod/cut/2026-11-27/logs-20261127_010000.tar.gz';
    const out = path.join(scratch.dir, 'cut');
    const dir = path.join(out, 'prod', 'cut', '2026-11-27');
    faults.cut(key, 200_000, 100);
    const failed = await fetch(['--env', 'prod', '--date', '2026-11-27', '--out', out]);
    assert.equal(failed.exitCode, 1, failed.stderr);
    assert.match(failed.stderr, /^mizual-fetch-logs: download of logs\/prod\/cut\/.* failed: /m);
    assert.ok(faults.gets(key) >= 2, 'retried');
    assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [], 'neither the final name nor a temp file');
    faults.cut(key, 200_000, 1);
    const recovered = await fetch(['--env', 'prod', '--date', '2026-11-27', '--out', out]);
    assert.equal(recovered.exitCode, 0, recovered.stderr);
    assert.deepEqual(readFileSync(path.join(dir, 'logs-20261127_010000.tar.gz')), bytes.get(key));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.part')),
      [],
    );
  });

  it('--extract unpacks next to the archive and verifies against manifest.json', async () => {
    const out = path.join(scratch.dir, 'extract');
    const result = await fetch(['--env', 'prod', '--date', '2026-11-25', '--host', 'web-2', '--out', out, '--extract']);
    assert.equal(result.exitCode, 0, result.stderr);
    const dir = path.join(out, 'prod', 'web-2', '2026-11-25', 'logs-20261125_093000');
    assert.deepEqual(readdirSync(dir).sort(), [
      'alerts-20261125_093000.log',
      'backend-20261125_093000.log',
      'manifest.json',
    ]);
    assert.equal(
      readFileSync(path.join(dir, 'backend-20261125_093000.log'), 'utf8'),
      `${t(2_500)} w2\n${t(1_900_000)} w2-late\n`,
    );
    assert.match(result.stdout, /^extracted .*\(2 files, verified against manifest\.json\)$/m);
  });

  it('refuses absolute paths, traversal, symlinks and hard links; extracts the rest; writes nothing outside', async () => {
    const out = path.join(scratch.dir, 'evil', 'out');
    const result = await fetch(['--env', 'prod', '--date', '2026-11-26', '--out', out, '--extract']);
    assert.equal(result.exitCode, 1, result.stderr);
    for (const name of ['/tmp/mizual-fetch-abs-escape.log', '../../../../../../escape-dotdot.log', 'sym', 'hard']) {
      assert.ok(result.stderr.includes(`entry '${name}'`), `${name} reported in: ${result.stderr}`);
    }
    assert.equal(existsSync('/tmp/mizual-fetch-abs-escape.log'), false);
    assert.deepEqual(readdirSync(path.join(scratch.dir, 'evil')), ['out']);
    assert.equal(existsSync(path.join(scratch.dir, 'escape-dotdot.log')), false);
    const dir = path.join(out, 'prod', 'evil', '2026-11-26', 'logs-20261126_010000');
    assert.deepEqual(readdirSync(dir).sort(), ['also-good.log', 'good-20261126_010000.log']);
  });

  it('--cat merges containers, archives and hosts by timestamp, with filters and a 1 MB line', async () => {
    const out = path.join(scratch.dir, 'cat');
    const all = await fetch(['--env', 'prod', '--date', '2026-11-25', '--out', out, '--cat']);
    assert.equal(all.exitCode, 0, all.stderr);
    const lines = all.stdout.replace(/\n$/, '').split('\n');
    const short = lines.map(
      (l) => `${l.split(' ').slice(0, 2).join(' ')} ${l.length > 200 ? 'MB' : l.split(' ').at(-1)}`,
    );
    assert.deepEqual(short, [
      'web-1 backend ERROR',
      'web-1 celery c2',
      'web-2 backend w2',
      'web-1 alerts 91%',
      'web-1 backend b3',
      'web-2 alerts alert',
      'web-1 backend MB',
      'web-1 celery ERROR',
      'web-1 celery c-next',
      'web-1 backend b-next',
      'web-2 backend w2-late',
    ]);
    assert.equal(lines[6], `web-1 backend ${ONE_MB_LINE}`);
    const filtered = await fetch([
      '--env',
      'prod',
      '--date',
      '2026-11-25',
      '--out',
      out,
      '--cat',
      '--container',
      'backend',
      '--grep',
      'ERROR|late',
    ]);
    assert.equal(filtered.exitCode, 0, filtered.stderr);
    assert.deepEqual(
      filtered.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ').at(-1)),
      ['ERROR', 'w2-late'],
    );
    // Piped into head: the tool stops quietly when the reader goes away.
    const bin = path.join(ROOT, 'bin', 'mizual-fetch-logs.js');
    const piped = await execa(
      'sh',
      ['-c', `"${process.execPath}" "${bin}" --env prod --date 2026-11-25 --out "${out}" --cat | head -n 2`],
      {
        env: { PATH: process.env.PATH ?? '', ...env },
        extendEnv: false,
        reject: false,
      },
    );
    assert.equal(piped.exitCode, 0);
    assert.equal(String(piped.stdout).split('\n').length, 2, String(piped.stdout));
    assert.equal(String(piped.stderr), '');
  });

  it('bad input exits 2 with one line naming the expected form; no archives exits 1 with the dates nearby', async () => {
    const cases: [string[], RegExp][] = [
      [['--date', '2026-11-25'], /--env is required \(dev or prod\)/],
      [['--env', 'staging', '--date', '2026-11-25'], /--env must be dev or prod \(got 'staging'\)/],
      [['--env', 'prod', '--date', '2025-13-01'], /--date must be YYYY-MM-DD \(got '2025-13-01'\)/],
      [['--env', 'prod', '--date', 'yesterday'], /--date must be YYYY-MM-DD \(got 'yesterday'\)/],
      [['--env', 'prod'], /--date is required/],
      [
        ['--env', 'prod', '--date', '2026-11-25', '--cat', '--grep', '(oops'],
        /--grep is not a valid regular expression/,
      ],
      [['--env', 'prod', '--date', '2026-11-25', '--host', '../x'], /--host must be/],
      [['--env', 'prod', '--bogus'], /unknown option/],
    ];
    for (const [args, message] of cases) {
      const r = await fetch(args);
      assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
    const none = await fetch(['--env', 'prod', '--date', '2026-11-30', '--host', 'web-1']);
    assert.equal(none.exitCode, 1);
    assert.match(
      none.stderr,
      /no archives for prod\/web-1 on 2026-11-30 .*dates with archives: 2026-11-24, 2026-11-25\)$/m,
    );
  });

  it('missing or wrong credentials: exit 2 naming the variable, or 1; the secret is never printed', async () => {
    const missing = await runTool('mizual-fetch-logs', ['--env', 'prod', '--list'], {
      env: { ...env, S3_SECRET_ACCESS_KEY: undefined },
      cwd: scratch.dir,
    });
    assert.equal(missing.exitCode, 2);
    assert.match(missing.stderr, /^mizual-fetch-logs: S3_SECRET_ACCESS_KEY is not set/);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    const secret = `${SECRET_MARK}-wrong-0123456789`;
    const wrong = await runTool('mizual-fetch-logs', ['--env', 'prod', '--list'], {
      env: { ...env, S3_SECRET_ACCESS_KEY: secret },
      cwd: scratch.dir,
    });
    assert.equal(wrong.exitCode, 1, wrong.stderr);
    assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
    assert.ok(!wrong.stderr.includes(secret) && !wrong.stdout.includes(secret));
    assert.ok(!`${missing.stderr}${wrong.stderr}`.includes(fx.s3.secretAccessKey));
  });
});
