import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseLeadingTime, parseNanoTime } from '../../src/core/time.js';
import { catArchives, spoolLogFiles, type CatArchive, type CatFilter } from '../../src/fetch/cat.js';
import { scratchDir } from '../helpers/cli.js';
import { dockerTime, makeShipArchive, type ContainerLog } from '../helpers/make-archive.js';

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
  const out: Buffer[] = [];
  let closed = false;
  await catArchives(archives, filter, {
    get closed() {
      return closed;
    },
    async write(chunk) {
      out.push(chunk);
      if (out.length >= stopAfter) closed = true;
    },
  });
  const text = Buffer.concat(out).toString('latin1');
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
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
});
