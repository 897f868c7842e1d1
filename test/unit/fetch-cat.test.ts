import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseLeadingTime, parseNanoTime } from '../../src/core/time.js';
import { catArchives, spoolLogFiles, type CatArchive, type CatFilter } from '../../src/fetch/cat.js';
import { scratchDir } from '../helpers/cli.js';
import { buildTarGz, dockerTime, makeShipArchive, type ContainerLog } from '../helpers/make-archive.js';

const scratch = scratchDir();
after(scratch.cleanup);

function archive(
  host: string,
  endIso: string,
  containers: ContainerLog[],
  alerts: string[] = [],
  noManifest = false,
): CatArchive {
  const end = new Date(endIso);
  const made = makeShipArchive({
    env: 'prod',
    host,
    start: new Date(end.getTime() - 1_800_000),
    end,
    containers,
    alerts,
    noManifest,
  });
  const file = path.join(scratch.dir, `${host}-${made.name}`);
  writeFileSync(file, made.data);
  return { host, file };
}

async function cat(archives: CatArchive[], filter: CatFilter = {}, stopAfter = Infinity): Promise<string[]> {
  return (await catWithSummary(archives, filter, stopAfter)).lines;
}

async function catWithSummary(
  archives: CatArchive[],
  filter: CatFilter = {},
  stopAfter = Infinity,
): Promise<{ lines: string[]; summary: Awaited<ReturnType<typeof catArchives>> }> {
  const out: Buffer[] = [];
  let closed = false;
  const summary = await catArchives(archives, filter, {
    get closed() {
      return closed;
    },
    async write(chunk) {
      out.push(chunk);
      if (out.length >= stopAfter) closed = true;
    },
  });
  const text = Buffer.concat(out).toString('latin1');
  return { lines: text === '' ? [] : text.replace(/\n$/, '').split('\n'), summary };
}

describe('parseLeadingTime', () => {
  it('normalises RFC 3339 timestamps to UTC with nine fraction digits', () => {
    assert.equal(parseLeadingTime('2026-11-25T09:00:00.123456789Z x'), parseNanoTime('2026-11-25T09:00:00.123456789Z'));
    assert.equal(parseLeadingTime('2026-11-25T09:00:00.5Z x'), parseNanoTime('2026-11-25T09:00:00.500000000Z'));
    assert.equal(parseLeadingTime('2026-11-25T09:00:00Z WARNING cpu'), parseNanoTime('2026-11-25T09:00:00.000000000Z'));
    assert.equal(parseLeadingTime('2026-11-25T10:00:00.25+01:00 x'), parseNanoTime('2026-11-25T09:00:00.250000000Z'));
    assert.equal(parseLeadingTime('2026-11-25 09:00:00 x'), parseNanoTime('2026-11-25T09:00:00.000000000Z'));
  });

  it('parses the old alert format written by `date`', () => {
    assert.equal(
      parseLeadingTime('[Thu Jan 23 14:05:01 UTC 2025] CPU high'),
      parseNanoTime('2025-01-23T14:05:01.000000000Z'),
    );
    assert.equal(parseLeadingTime('[Fri Jan  3 04:05:01 UTC 2025] x'), parseNanoTime('2025-01-03T04:05:01.000000000Z'));
  });

  it('returns undefined for a line without a leading timestamp', () => {
    assert.equal(parseLeadingTime('    at Object.<anonymous>'), undefined);
    assert.equal(parseLeadingTime(''), undefined);
  });
});

describe('catArchives', () => {
  const base = new Date('2026-11-25T09:00:00Z');
  const t = (ms: number, ns = 0): string => dockerTime(base, ms, ns);
  const first = archive(
    'web-1',
    '2026-11-25T09:30:00Z',
    [
      { short: 'backend', lines: [`${t(1000)} b1`, `${t(3000)} b3`, '    continuation of b3', `${t(5000, 7)} b5`] },
      { short: 'celery', lines: [`${t(2000)} c2`, `${t(5000, 3)} c5`] },
    ],
    [`[Wed Nov 25 09:00:04 UTC 2026] old-format alert`],
  );
  const second = archive('web-1', '2026-11-25T10:00:00Z', [
    { short: 'backend', lines: [`${t(1_800_001)} b-next`] },
    { short: 'celery', lines: [] },
  ]);
  const other = archive(
    'web-2',
    '2026-11-25T09:30:00Z',
    [{ short: 'backend', lines: [`${t(2500)} w2`, `${t(1_900_000)} w2-late`] }],
    [`${new Date(base.getTime() + 4500).toISOString().replace(/\.\d+Z$/, 'Z')} WARNING disk: 91%`],
  );

  it('merges containers, archives and hosts in timestamp order, prefixed by host and container', async () => {
    const lines = await cat([first, second, other]);
    assert.deepEqual(
      lines.map((l) => l.split(' ').slice(0, 2).join(' ') + ' ' + l.split(' ').at(-1)),
      [
        'web-1 backend b1',
        'web-1 celery c2',
        'web-2 backend w2',
        'web-1 backend b3',
        'web-1 backend b3',
        'web-1 alerts alert',
        'web-2 alerts 91%',
        'web-1 celery c5',
        'web-1 backend b5',
        'web-1 backend b-next',
        'web-2 backend w2-late',
      ],
    );
    assert.equal(lines[4], 'web-1 backend     continuation of b3');
  });

  it('filters by short name, container name and alerts, and by regex', async () => {
    const byShort = await cat([first, second, other], { container: 'celery' });
    assert.deepEqual(
      byShort.map((l) => l.split(' ').at(-1)),
      ['c2', 'c5'],
    );
    const byName = await cat([first, second], { container: 'mizual-backend' });
    assert.deepEqual(
      byName.map((l) => l.split(' ').at(-1)),
      ['b1', 'b3', 'b3', 'b5', 'b-next'],
    );
    const alerts = await cat([first, other], { container: 'alerts' });
    assert.equal(alerts.length, 2);
    const grep = await cat([first, second, other], { grep: /Z b[35]$|late/ });
    assert.deepEqual(
      grep.map((l) => l.split(' ').at(-1)),
      ['b3', 'b5', 'w2-late'],
    );
  });

  it('names files from their file names when there is no manifest', async () => {
    const plain = archive('old', '2026-11-25T09:30:00Z', [{ short: 'backend', lines: [`${t(1)} x`] }], ['y'], true);
    assert.deepEqual(
      (await spoolLogFiles(plain.file)).map((f) => f.label),
      ['backend', 'alerts'],
    );
  });

  it('carries a 1 MB line whole and keeps invalid UTF-8 bytes', async () => {
    const long = `${t(10)} ${'L'.repeat(1024 * 1024)}`;
    const raw = Buffer.concat([Buffer.from(`${t(20)} bad `), Buffer.from([0xff, 0xfe])]);
    const a = archive('big', '2026-11-25T09:30:00Z', [{ short: 'backend', lines: [long, raw] }]);
    const lines = await cat([a]);
    assert.equal(lines.length, 2);
    assert.equal(lines[0], `big backend ${long}`);
    assert.ok(lines[1]?.endsWith('bad \u00ff\u00fe'));
  });

  it('stops when the reader goes away', async () => {
    const many = archive('many', '2026-11-25T09:30:00Z', [
      { short: 'backend', lines: Array.from({ length: 50_000 }, (_, i) => `${t(i)} line ${i} ${'x'.repeat(40)}`) },
    ]);
    const lines = await cat([many], {}, 1);
    assert.ok(lines.length < 50_000, `${lines.length}`);
  });

  it('places untimed lines after the last timestamped line before them, or at the archive time, never dropped', async () => {
    // As the old script packed it: `./` entries, no manifest, `docker logs` without timestamps.
    const dir = path.join(scratch.dir, 'old-layout');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'logs-20261125_093000.tar.gz');
    writeFileSync(
      file,
      buildTarGz([
        { name: './', type: '5' },
        { name: './backend-20261125_093000.log', data: 'INFO: started\n  detail\n' },
        { name: './celery-20261125_093000.log', data: `${t(1000)} c1\nno stamp after c1\n${t(9000)} c9\n` },
        { name: './alerts-20261125_093000.log', data: '[Wed Nov 25 09:29:59 UTC 2026] WARNING: late\n' },
      ]),
    );
    const { lines, summary } = await catWithSummary([{ host: 'old', file }]);
    assert.deepEqual(lines, [
      `old celery ${t(1000)} c1`,
      'old celery no stamp after c1',
      `old celery ${t(9000)} c9`,
      'old alerts [Wed Nov 25 09:29:59 UTC 2026] WARNING: late',
      'old backend INFO: started',
      'old backend   detail',
    ]);
    assert.deepEqual(
      { ...summary, unreadable: summary.unreadable.length },
      { printed: 6, archives: 1, files: 3, lines: 6, unreadable: 0 },
    );
    // The archive's time can come from the caller when the file name does not carry it.
    const renamed = await cat([{ host: 'old', file: first.file, end: new Date('2026-11-25T09:30:00Z') }]);
    assert.equal(renamed.length, 7);
    // A range keeps the untimed lines that sit inside it.
    const ranged = await cat([{ host: 'old', file }], {
      range: { since: parseNanoTime(t(1000)), until: parseNanoTime(t(2000)) },
    });
    assert.deepEqual(ranged, [`old celery ${t(1000)} c1`, 'old celery no stamp after c1']);
  });

  it('keeps only lines inside a range, across archives and hosts', async () => {
    const range = { since: parseNanoTime(t(2500)), until: parseNanoTime(t(1_800_001)) };
    const lines = await cat([first, second, other], { range });
    assert.deepEqual(
      lines.map((l) => l.split(' ').at(-1)),
      ['w2', 'b3', 'b3', 'alert', '91%', 'c5', 'b5', 'b-next'],
    );
  });

  it('matches --container against the full container name in the manifest', async () => {
    const custom = archive('web-3', '2026-11-25T09:30:00Z', [
      { short: 'api', container: 'acme_web_1', lines: [`${t(1)} from api`] },
      { short: 'worker', lines: [`${t(2)} from worker`] },
    ]);
    assert.deepEqual(await cat([custom], { container: 'acme_web_1' }), [`web-3 api ${t(1)} from api`]);
    assert.deepEqual(await cat([custom], { container: 'api' }), [`web-3 api ${t(1)} from api`]);
  });

  it('names an unreadable archive and still prints the others', async () => {
    const broken = path.join(scratch.dir, 'logs-20261125_100000.tar.gz');
    writeFileSync(broken, 'not gzip at all');
    const truncated = path.join(scratch.dir, 'logs-20261125_103000.tar.gz');
    writeFileSync(
      truncated,
      makeShipArchive({ ...specOf('web-1'), end: new Date('2026-11-25T10:30:00Z') }).data.subarray(0, 60),
    );
    const { lines, summary } = await catWithSummary([
      first,
      { host: 'web-1', file: broken },
      { host: 'web-2', file: truncated },
      other,
    ]);
    assert.equal(lines.length, 10);
    assert.deepEqual(summary.unreadable.map((u) => [u.file, u.error]).sort(), [
      [broken, `${broken}: not a valid gzip file`],
      [truncated, `${truncated}: archive is truncated`],
    ]);
    assert.equal(summary.archives, 2);
  });
});

function specOf(host: string) {
  const end = new Date('2026-11-25T09:30:00Z');
  return {
    env: 'prod' as const,
    host,
    start: new Date(end.getTime() - 1_800_000),
    end,
    containers: [{ short: 'backend', lines: Array.from({ length: 100 }, (_, i) => `line ${i}`) }],
  };
}
