// Reading only the new lines of a json-file log across rotation (plain and gzipped generations) and
// the counting of a replaced file, on fixture files written the way dockerd writes them.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { LineScanner } from '../../src/app/logs/scan.js';
import { logGenerations, readLogFiles } from '../../src/app/logs/source.js';
import { emptyTotals, Tally } from '../../src/app/logs/tally.js';
import type { FilePosition } from '../../src/core/ship-state.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mizual-app-source-'));
const live = path.join(dir, 'abc-json.log');
let n = 0;

function entries(count: number): string {
  let text = '';
  for (let i = 0; i < count; i++, n++) {
    const time = new Date(Date.UTC(2026, 11, 2, 13, 0, 0, n)).toISOString().replace('Z', '000000Z');
    const log = `INFO:     172.18.0.1:5${n} - "GET /api/v1/edits/${n} HTTP/1.1" 200 OK\n`;
    text += `${JSON.stringify({ log, stream: 'stdout', time })}\n`;
  }
  return text;
}

async function read(
  position: FilePosition | undefined,
): Promise<{ requests: number; position?: FilePosition; lost: boolean }> {
  const tally = new Tally(emptyTotals(), 0);
  const scanner = new LineScanner(tally, 'backend', []);
  const result = await readLogFiles(await logGenerations(live), position, scanner);
  tally.fold([]);
  const requests = Object.values(tally.totals.http['backend'] ?? {}).reduce((a, b) => a + b, 0);
  return { requests, position: result.position, lost: result.lost };
}

describe('json-file log positions', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('counts each line once across appends, rotation, compression and a half-written entry', async () => {
    writeFileSync(live, entries(3));
    const first = await read(undefined);
    assert.equal(first.requests, 3);
    // Two more lines and a half-written third (dockerd does not fsync): only complete lines count.
    const third = entries(1);
    appendFileSync(live, entries(2) + third.slice(0, 40));
    const second = await read(first.position);
    assert.equal(second.requests, 2);
    // dockerd finishes the entry, then rotates: the live file becomes .1 (then .1.gz), a new one starts.
    appendFileSync(live, third.slice(40) + entries(1));
    renameSync(live, `${live}.1`);
    writeFileSync(live, entries(4));
    const third_ = await read(second.position);
    assert.equal(third_.requests, 6);
    assert.equal(third_.lost, false);
    appendFileSync(live, entries(1));
    writeFileSync(`${live}.2.gz`, gzipSync(readFileSync(`${live}.1`)));
    rmSync(`${live}.1`);
    renameSync(live, `${live}.1`);
    writeFileSync(live, entries(2));
    const fourth = await read(third_.position);
    assert.equal(fourth.requests, 3);
    assert.equal((await read(fourth.position)).requests, 0, 'nothing new: nothing counted');
  });

  it('a file rotated away before it was read to its end: the newer files are read whole, and it says so', async () => {
    writeFileSync(live, entries(2));
    for (const f of [`${live}.1`, `${live}.2.gz`]) rmSync(f, { force: true });
    const start = await read(undefined);
    appendFileSync(live, entries(5));
    renameSync(live, `${live}.1`);
    writeFileSync(live, entries(1));
    rmSync(`${live}.1`);
    const next = await read(start.position);
    assert.equal(next.lost, true);
    assert.equal(next.requests, 1);
  });
});

describe('collectApp', () => {
  it('a state directory it cannot write: one problem line and the figures of nothing, never a throw', async () => {
    const { collectApp } = await import('../../src/app/logs/collect.js');
    const own = mkdtempSync(path.join(tmpdir(), 'mizual-app-collect-'));
    const blocker = path.join(own, 'not-a-dir');
    writeFileSync(blocker, '');
    const { report } = await collectApp({
      stateDir: path.join(blocker, 'state'),
      containers: [{ short: 'backend', name: 'mizual-backend' }],
      docker: null,
      windowMs: 300_000,
    });
    assert.deepEqual([report.http, report.tasks, report.rules, report.queues, report.probes], [[], [], [], [], []]);
    assert.equal(report.problems.length, 1);
    assert.match(report.problems[0] as string, /^application logs not read: cannot create/);
    assert.equal(report.window.seconds, 300);
    rmSync(own, { recursive: true, force: true });
  });
});

describe('a container seen for the first time', () => {
  it('is read from the start of the kept hour: older generations skipped, the file entered by a binary search', async () => {
    const own = mkdtempSync(path.join(tmpdir(), 'mizual-app-start-'));
    const file = path.join(own, 'x-json.log');
    const base = Date.UTC(2026, 11, 2, 10, 0, 0);
    const lines = (fromMin: number, count: number, stepMs: number): string => {
      let text = '';
      for (let i = 0; i < count; i++) {
        const time = new Date(base + fromMin * 60_000 + i * stepMs).toISOString().replace('Z', '000000Z');
        const log = `INFO:     172.18.0.1:5 - "GET /a HTTP/1.1" 200 OK\n`;
        text += `${JSON.stringify({ log, stream: 'stdout', time })}\n`;
      }
      return text;
    };
    // .2: 10:00-10:30, .1: 10:30-11:30 (10 lines a second), live: 11:30-12:00.
    writeFileSync(`${file}.2`, lines(0, 1800, 1000));
    writeFileSync(`${file}.1`, lines(30, 36_000, 100));
    writeFileSync(file, lines(90, 1800, 1000));
    const tally = new Tally(emptyTotals(), 0);
    const scanner = new LineScanner(tally, 'x', []);
    const startAt = BigInt(base + 60 * 60_000) * 1_000_000n; // 11:00
    await readLogFiles(await logGenerations(file), undefined, scanner, startAt);
    tally.fold([]);
    const counted = tally.totals.http['x']?.['GET 200'] ?? 0;
    // From 11:00: 18,000 lines of .1 and the live file's 1,800, plus at most one 64 KiB probe of older lines.
    assert.ok(counted >= 19_800 && counted <= 19_800 + 700, String(counted));
    rmSync(own, { recursive: true, force: true });
  });
});
