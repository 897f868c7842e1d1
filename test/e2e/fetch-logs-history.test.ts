/**
 * mizual-fetch-logs (built executable) reading the history a bucket really holds: archives of the old
 * ship-logs.sh (`tar -czf X -C dir .`), bsdtar's, Python tarfile's and our shipper's, side by side;
 * time ranges across midnight and hosts, with the GETs counted at the B2-strict proxy; and the
 * failures an operator must see (unreadable archives, empty selections, bad ranges).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { objectKey, serializeManifest, type Manifest } from '../../src/archive/contract.js';
import { writeArchive } from '../../src/archive/write.js';
import { toolEnvFor } from '../harness/s3.js';
import { useBucket } from '../harness/bucket.js';
import { runTool, scratchDir } from '../helpers/cli.js';
import { makeShipArchive, packDirectory, stampOf, type TarWriter } from '../helpers/make-archive.js';

const scratch = scratchDir('mizual-fetch-history-');

/** `[Fri Nov 20 09:05:00 UTC 2026]`, as `date` printed it in the old check-alerts.sh. */
function oldDate(iso: string): string {
  const d = new Date(iso);
  const [wd, day, mon, year, time] = d.toUTCString().replace(',', '').split(' ') as string[];
  return `[${wd} ${mon} ${String(Number(day)).padStart(2, ' ')} ${time} UTC ${year}]`;
}

/** The files of one archive, by entry name; what `--cat` must print of each, in order. */
type Files = Record<string, string[]>;

const LONG = 'x'.repeat(110);
// The old script: `docker logs --since 30m NAME > NAME-TS.log 2>&1` (no timestamps), its alerts file.
const OLD: Files = {
  'backend-20261120_093000.log': [
    'INFO:     Started server process [7]',
    'INFO:     10.0.0.5:51234 - "GET /health HTTP/1.1" 200 OK',
    'Traceback (most recent call last):',
    '  File "app.py", line 3, in <module>',
  ],
  'celery-20261120_093000.log': ['[2026-11-20 09:12:00,120: INFO/MainProcess] Task ok', 'celery@web ready.'],
  'registry-20261120_093000.log': [],
  'watchtower-20261120_093000.log': ['time="2026-11-20T09:15:00Z" level=info msg="Session done"'],
  'alerts-20261120_093000.log': [
    `${oldDate('2026-11-20T09:05:00Z')} WARNING: CPU usage is 91%`,
    `${oldDate('2026-11-20T09:20:00Z')} CRITICAL: Container mizual-celery is not running`,
  ],
  [`${LONG}-20261120_093000.log`]: ['a container with a very long name'],
};
const BSD: Files = {
  'backend-20261120_100000.log': ['2026-11-20T09:40:00.000000001Z GET /a', '  continued without a stamp'],
  'celery-20261120_100000.log': ['untimed celery line'],
  'alerts-20261120_100000.log': ['2026-11-20T09:45:00Z WARNING cpu: 91%'],
  [`${LONG}-20261120_100000.log`]: ['2026-11-20T09:41:00.000000000Z long'],
};
const PY: Files = {
  'backend-20261120_103000.log': ['2026-11-20T10:10:00.000000000Z GET /b', 'untimed after /b'],
  'alerts-20261120_103000.log': [`${oldDate('2026-11-20T10:20:00Z')} WARNING: Memory usage is 88%`],
  [`${LONG}-20261120_103000.log`]: ['python long'],
};
const OURS: Files = {
  'backend-20261120_110000.log': ['2026-11-20T10:40:00.000000000Z ours one', '2026-11-20T10:50:00.000000000Z ours two'],
  'alerts-20261120_110000.log': ['2026-11-20T10:45:00Z RESOLVED cpu: 40%'],
};

function writeFiles(dir: string, files: Files): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, lines] of Object.entries(files)) {
    writeFileSync(path.join(dir, name), lines.map((l) => `${l}\n`).join(''));
  }
}

/** An archive written by the shipper's own writer (one gzip member per entry) and manifest. */
async function shipperArchive(
  file: string,
  host: string,
  end: Date,
  files: Files,
  containerName: string,
): Promise<void> {
  const entries = Object.entries(files).map(([name, lines]) => ({
    name,
    data: Buffer.from(lines.map((l) => `${l}\n`).join('')),
  }));
  const manifest: Manifest = {
    format: 1,
    tool: 'mizual-ship-logs test',
    host,
    env: 'prod',
    window: { start: new Date(end.getTime() - 1_800_000).toISOString(), end: end.toISOString() },
    createdAt: end.toISOString(),
    files: entries.map((e) => {
      const alerts = e.name.startsWith('alerts-');
      return {
        name: e.name,
        kind: alerts ? ('alerts' as const) : ('container' as const),
        ...(alerts ? {} : { short: 'backend', container: containerName, containerId: 'c0ffee' }),
        lines: files[e.name]?.length ?? 0,
        bytes: e.data.length,
        sha256: createHash('sha256').update(e.data).digest('hex'),
      };
    }),
    missing: [],
    gaps: [],
  };
  await writeArchive(file, [...entries, { name: 'manifest.json', data: serializeManifest(manifest) }], end);
}

const ns = (iso: string): number => Date.parse(iso);

describe('mizual-fetch-logs reads every archive the bucket holds', () => {
  const fx = useBucket('fetch-history');
  let env: Record<string, string>;
  const put = async (key: string, file: string): Promise<void> => void (await fx.store.putFile(key, file));

  // The range test: two hosts, an archive every 30 minutes from 22:00 to 02:00 across midnight UTC.
  const rangeLines: { host: string; ms: number; line: string }[] = [];
  const rangeKeys = new Map<string, string[]>();

  before(async () => {
    env = { ...toolEnvFor(fx.s3, fx.bucket, fx.strict.url), S3_REGION: fx.s3.region };

    const packed: [TarWriter, Files, string][] = [
      ['gnu-tar', OLD, '2026-11-20T09:30:00Z'],
      ['bsdtar', BSD, '2026-11-20T10:00:00Z'],
      ['python-tarfile', PY, '2026-11-20T10:30:00Z'],
    ];
    for (const [writer, files, end] of packed) {
      const dir = path.join(scratch.dir, writer);
      writeFiles(dir, files);
      const file = path.join(scratch.dir, `${writer}.tar.gz`);
      packDirectory(writer, dir, file);
      await put(objectKey('prod', 'old-1', new Date(end)), file);
    }
    const ours = path.join(scratch.dir, 'ours.tar.gz');
    await shipperArchive(ours, 'old-1', new Date('2026-11-20T11:00:00Z'), OURS, 'acme-backend-7');
    await put(objectKey('prod', 'old-1', new Date('2026-11-20T11:00:00Z')), ours);

    for (const [h, host] of ['r-1', 'r-2'].entries()) {
      const keys: string[] = [];
      for (let end = ns('2026-11-21T22:00:00Z'); end <= ns('2026-11-22T02:00:00Z'); end += 1_800_000) {
        const lines: string[] = [];
        for (const back of [25, 10, 1]) {
          const ms = end - back * 60_000 + h * 7_000;
          const line = `${new Date(ms).toISOString()} ${host} at -${back}m`;
          lines.push(line);
          rangeLines.push({ host, ms, line });
        }
        const made = makeShipArchive({
          env: 'prod',
          host,
          start: new Date(end - 1_800_000),
          end: new Date(end),
          containers: [{ short: 'backend', lines }],
        });
        const file = path.join(scratch.dir, `${host}-${made.name}`);
        writeFileSync(file, made.data);
        const key = objectKey('prod', host, new Date(end));
        keys.push(key);
        await put(key, file);
      }
      rangeKeys.set(host, keys);
    }

    // One readable archive and two that are not, on one host and day.
    const goodEnd = new Date('2026-11-23T01:00:00Z');
    const good = makeShipArchive({
      env: 'prod',
      host: 'bad',
      start: new Date(goodEnd.getTime() - 1_800_000),
      end: goodEnd,
      containers: [{ short: 'backend', lines: ['2026-11-23T00:45:00.000000000Z still printed'] }],
    });
    const write = (name: string, data: Buffer): string => {
      const file = path.join(scratch.dir, name);
      writeFileSync(file, data);
      return file;
    };
    await put(objectKey('prod', 'bad', goodEnd), write('bad-good.tar.gz', good.data));
    await put(objectKey('prod', 'bad', new Date('2026-11-23T01:30:00Z')), write('bad-junk', Buffer.from('not gzip\n')));
    await put(objectKey('prod', 'bad', new Date('2026-11-23T02:00:00Z')), write('bad-cut', good.data.subarray(0, 100)));
  });

  after(async () => {
    scratch.cleanup();
  });

  const fetch = (args: string[]) => runTool('mizual-fetch-logs', args, { env, cwd: scratch.dir, timeoutMs: 120_000 });

  it('--extract exits 0 for archives of the old script, bsdtar, Python tarfile and the shipper, naming which were verified', async () => {
    const out = path.join(scratch.dir, 'extract');
    const r = await fetch(['--env', 'prod', '--date', '2026-11-20', '--out', out, '--extract']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stderr, '');
    const extracted = r.stdout.split('\n').filter((l) => l.startsWith('extracted'));
    assert.equal(extracted.length, 4, r.stdout);
    assert.deepEqual(
      extracted.map((l) => /logs-(\d{8}_\d{6})\/ \((\d+) files, (.*)\)$/.exec(l)?.slice(1)),
      [
        ['20261120_093000', '6', 'no manifest.json to verify against'],
        ['20261120_100000', '4', 'no manifest.json to verify against'],
        ['20261120_103000', '3', 'no manifest.json to verify against'],
        ['20261120_110000', '2', 'verified against manifest.json'],
      ],
    );
    const day = path.join(out, 'prod', 'old-1', '2026-11-20');
    for (const [files, stamp] of [
      [OLD, '20261120_093000'],
      [BSD, '20261120_100000'],
      [PY, '20261120_103000'],
      [OURS, '20261120_110000'],
    ] as const) {
      for (const [name, lines] of Object.entries(files)) {
        const text = readFileSync(path.join(day, `logs-${stamp}`, name), 'utf8');
        assert.equal(text, lines.map((l) => `${l}\n`).join(''), name);
      }
    }
  });

  it('--cat prints every line of every kind of archive, untimed ones in file order at their place', async () => {
    const r = await fetch(['--env', 'prod', '--date', '2026-11-20', '--out', path.join(scratch.dir, 'cat'), '--cat']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stderr, '');
    const printed = r.stdout.replace(/\n$/, '').split('\n');
    const all = [OLD, BSD, PY, OURS];
    const total = all.reduce((n, f) => n + Object.values(f).flat().length, 0);
    assert.equal(printed.length, total);
    // Per file label, exactly its lines in file order (archives in window order).
    const label = (name: string): string => name.replace(/-\d{8}_\d{6}\.log$/, '');
    const expected = new Map<string, string[]>();
    for (const files of all) {
      for (const [name, lines] of Object.entries(files)) {
        expected.set(label(name), [...(expected.get(label(name)) ?? []), ...lines]);
      }
    }
    for (const [short, lines] of expected) {
      const prefix = `old-1 ${short} `;
      assert.deepEqual(
        printed.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length)),
        lines,
        short,
      );
    }
    // The old archive: its two dated alerts (09:05, 09:20) come before its untimed lines (09:30).
    assert.match(printed[0] as string, /^old-1 alerts \[Fri Nov 20 09:05:00 UTC 2026\] WARNING/);
    assert.match(printed[1] as string, /^old-1 alerts \[Fri Nov 20 09:20:00 UTC 2026\] CRITICAL/);
    // bsdtar's: the continuation follows its timestamped line.
    const at = printed.indexOf('old-1 backend 2026-11-20T09:40:00.000000001Z GET /a');
    assert.equal(printed[at + 1], 'old-1 backend   continued without a stamp');

    // --container matches the full container name recorded in our manifest.
    const full = await fetch([
      '--env',
      'prod',
      '--date',
      '2026-11-20',
      '--out',
      path.join(scratch.dir, 'cat'),
      '--cat',
      '--container',
      'acme-backend-7',
    ]);
    assert.equal(full.exitCode, 0, full.stderr);
    assert.deepEqual(
      full.stdout.trim().split('\n'),
      OURS['backend-20261120_110000.log']?.map((l) => `old-1 backend ${l}`),
    );
  });

  it('a range across midnight UTC and two hosts: exactly its lines, in order, fetching only the archives that hold them', async () => {
    const since = '2026-11-21 23:40';
    const until = '2026-11-22T00:20:00Z';
    const wanted = new Set(['r-1', 'r-2'].flatMap((h) => [rangeKeys.get(h)?.[4], rangeKeys.get(h)?.[5]]).map(String));
    assert.deepEqual(
      [...wanted].map((k) => k.split('/').slice(2).join('/')),
      [
        'r-1/2026-11-22/logs-20261122_000000.tar.gz',
        'r-1/2026-11-22/logs-20261122_003000.tar.gz',
        'r-2/2026-11-22/logs-20261122_000000.tar.gz',
        'r-2/2026-11-22/logs-20261122_003000.tar.gz',
      ],
    );
    const listed = await fetch(['--env', 'prod', '--list', '--since', since, '--until', until, '--json']);
    assert.equal(listed.exitCode, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout).archives as { key: string }[]).map((a) => a.key),
      [...wanted],
    );

    const gets = new Map(fx.strict.gets);
    const r = await fetch([
      '--env',
      'prod',
      '--since',
      since,
      '--until',
      until,
      '--out',
      path.join(scratch.dir, 'range'),
      '--cat',
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    const from = ns('2026-11-21T23:40:00Z');
    const to = ns('2026-11-22T00:20:00Z');
    const expected = rangeLines
      .filter((l) => l.ms >= from && l.ms <= to)
      .sort((a, b) => a.ms - b.ms)
      .map((l) => `${l.host} backend ${l.line}`);
    assert.equal(expected.length, 7, '00:20:00 is inside, 00:20:07 is not');
    assert.deepEqual(r.stdout.replace(/\n$/, '').split('\n'), expected);
    const fetched = [...fx.strict.gets]
      .filter(([k, n]) => k.endsWith('.tar.gz') && n > (gets.get(k) ?? 0))
      .map(([k]) => k);
    assert.deepEqual(fetched.sort(), [...wanted].sort(), 'GETs of archives at the B2-strict proxy');
    assert.equal(fx.strict.rejected.length, 0);
  });

  it('--since 2h over a day of 48 archives per host on two hosts fetches at most 5 archives per host', async () => {
    const now = Date.now();
    const last = Math.floor(now / 1_800_000) * 1_800_000;
    for (const host of ['n-1', 'n-2']) {
      for (let k = 0; k < 48; k++) {
        const end = new Date(last - k * 1_800_000);
        const made = makeShipArchive({
          env: 'dev',
          host,
          start: new Date(end.getTime() - 1_800_000),
          end,
          containers: [{ short: 'backend', lines: [`${new Date(end.getTime() - 60_000).toISOString()} ${host} ${k}`] }],
        });
        const file = path.join(scratch.dir, `${host}-${stampOf(end)}`);
        writeFileSync(file, made.data);
        await put(objectKey('dev', host, end), file);
      }
    }
    const before = new Map(fx.strict.gets);
    const r = await fetch(['--env', 'dev', '--since', '2h', '--out', path.join(scratch.dir, 'now'), '--cat']);
    assert.equal(r.exitCode, 0, r.stderr);
    for (const host of ['n-1', 'n-2']) {
      const fetched = [...fx.strict.gets].filter(
        ([k, n]) => k.startsWith(`logs/dev/${host}/`) && n > (before.get(k) ?? 0),
      );
      assert.ok(fetched.length >= 4 && fetched.length <= 5, `${host}: ${fetched.length} archives fetched`);
    }
    const printed = r.stdout.trim().split('\n');
    assert.ok(printed.length >= 6, r.stdout);
    for (const line of printed) assert.ok(Date.parse(line.split(' ')[2] as string) >= now - 7_200_000 - 5_000, line);
  });

  it('an unreadable archive is an error naming it (exit 1) while the others are printed', async () => {
    const r = await fetch(['--env', 'prod', '--date', '2026-11-23', '--out', path.join(scratch.dir, 'bad'), '--cat']);
    assert.equal(r.exitCode, 1, r.stderr);
    // (runTool strips the final newline, as execa does.)
    assert.equal(r.stdout, 'bad backend 2026-11-23T00:45:00.000000000Z still printed');
    const errors = r.stderr.trim().split('\n').sort();
    assert.equal(errors.length, 2, r.stderr);
    assert.match(
      errors[0] as string,
      /^mizual-fetch-logs: cannot read archive \S+logs-20261123_013000\.tar\.gz: not a valid gzip file$/,
    );
    assert.match(
      errors[1] as string,
      /^mizual-fetch-logs: cannot read archive \S+logs-20261123_020000\.tar\.gz: archive is truncated$/,
    );
  });

  it('an empty selection says so on stderr with what was read; bad ranges exit 2 with the expected forms', async () => {
    const out = path.join(scratch.dir, 'empty');
    const none = await fetch([
      '--env',
      'prod',
      '--date',
      '2026-11-20',
      '--out',
      out,
      '--cat',
      '--grep',
      'NO SUCH TEXT',
    ]);
    assert.equal(none.exitCode, 0, none.stderr);
    assert.equal(none.stdout, '');
    assert.equal(
      none.stderr,
      'mizual-fetch-logs: no line to print: read 4 archives, 15 log files, 22 lines; none left after --grep NO SUCH TEXT',
    );
    const quiet = await fetch([
      '--env',
      'prod',
      '--host',
      'r-1',
      '--since',
      '2026-11-21 23:41',
      '--until',
      '2026-11-21 23:42',
      '--out',
      out,
      '--cat',
    ]);
    assert.equal(quiet.exitCode, 0, quiet.stderr);
    assert.equal(quiet.stdout, '');
    assert.match(
      quiet.stderr,
      /^mizual-fetch-logs: no line to print: read 1 archives, 2 log files, 3 lines; none left after lines between 2026-11-21T23:41:00\.000000000Z and 2026-11-21T23:42:00\.000000000Z$/,
    );

    const nothing = await fetch([
      '--env',
      'prod',
      '--since',
      '2020-01-01 00:00',
      '--until',
      '2020-01-02 00:00',
      '--list',
    ]);
    assert.equal(nothing.exitCode, 1);
    assert.match(
      nothing.stderr,
      /^mizual-fetch-logs: no archives for prod between 2020-01-01T00:00:00\.000000000Z and 2020-01-02T00:00:00\.000000000Z in bucket \S+ \(dates with archives: /,
    );

    const forms =
      /RFC 3339 \(2025-01-23T23:40:00Z\), 'YYYY-MM-DD HH:MM\[:SS\]' in UTC, or a duration back from now \(2h, 90m, 3d\)/;
    const cases: [string[], RegExp][] = [
      [['--since', 'yesterday'], forms],
      [['--since', '2026-02-30 10:00'], forms],
      [['--since', '2h', '--until', 'soon'], forms],
      [['--since', '2026-11-22 00:00', '--until', '2026-11-21 00:00'], /--since must not be later than --until/],
      [['--until', '2026-11-21 00:00'], /--until needs --since/],
      [['--date', '2026-11-20', '--since', '2h'], /choose one of --date and --since\/--until/],
    ];
    for (const [args, message] of cases) {
      const r = await fetch(['--env', 'prod', '--cat', ...args]);
      assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });
});
