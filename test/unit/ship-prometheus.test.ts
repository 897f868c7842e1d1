import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { emptyShipState, writeShipState } from '../../src/core/ship-state.js';
import { renderShipMetrics, writeShipMetrics } from '../../src/ship/prometheus.js';
import type { ShipSummary } from '../../src/ship/run.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mizual-ship-prom-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function summary(over: Partial<ShipSummary> = {}): ShipSummary {
  const file = (name: string, lines: number, bytes: number) => ({ name, kind: 'container', lines, bytes, sha256: '' });
  return {
    dryRun: false,
    window: { start: '2026-11-25T09:00:00Z', end: '2026-11-25T09:30:00Z' },
    archive: { name: 'logs-20261125_093000.tar.gz', path: '/x', bytes: 400 },
    files: [file('backend-20261125_093000.log', 10, 1000), file('alerts-20261125_093000.log', 2, 100)],
    missing: [],
    gaps: [],
    uploaded: [{ name: 'logs-20261125_093000.tar.gz', key: 'logs/dev/h/2026-11-25/x', bytes: 400 }],
    pending: [],
    deleted: [],
    uploadError: null,
    ...over,
  } as ShipSummary;
}

/** Samples by series, as `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('mizual-ship-logs --prometheus figures', () => {
  it("passes promtool's exposition linter and counts the run", () => {
    const state = { ...emptyShipState(), lastUploadAt: '2026-11-25T09:30:02.000Z', pending: ['a', 'b'] };
    const text = renderShipMetrics({ summary: summary(), startedMs: 1_000, endedMs: 3_500 }, state, null);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}\n${text}`);
    const s = samples(text);
    assert.equal(s.get('mizual_ship_last_run_duration_seconds'), 2.5);
    assert.equal(s.get('mizual_ship_last_run_success'), 1);
    assert.equal(s.get('mizual_ship_last_run_lines'), 12);
    assert.equal(s.get('mizual_ship_last_run_log_bytes'), 1100);
    assert.equal(s.get('mizual_ship_last_run_uploaded_bytes'), 400);
    assert.equal(s.get('mizual_ship_last_upload_timestamp_seconds'), Date.parse(state.lastUploadAt) / 1000);
    assert.equal(s.get('mizual_ship_pending_archives'), 2);
    assert.equal(s.get('mizual_ship_lines_total'), 12);
    assert.match(text, /^# TYPE mizual_ship_lines_total counter$/m);
  });

  it('carries the counters on from the previous file and leaves out an upload that never happened', () => {
    const first = renderShipMetrics({ summary: summary(), startedMs: 0, endedMs: 1 }, emptyShipState(), null);
    const failed = summary({ uploaded: [], uploadError: '1 archive(s) wait for upload: down' });
    const second = samples(renderShipMetrics({ summary: failed, startedMs: 0, endedMs: 1 }, emptyShipState(), first));
    assert.equal(second.get('mizual_ship_lines_total'), 24);
    assert.equal(second.get('mizual_ship_uploaded_bytes_total'), 400);
    assert.equal(second.get('mizual_ship_uploads_total'), 1);
    assert.equal(second.get('mizual_ship_last_run_success'), 0);
    assert.equal(second.has('mizual_ship_last_upload_timestamp_seconds'), false);
    const crashed = samples(renderShipMetrics({ summary: null, startedMs: 0, endedMs: 1 }, null, 'garbage'));
    assert.equal(crashed.get('mizual_ship_last_run_success'), 0);
    assert.equal(crashed.get('mizual_ship_lines_total'), 0);
    assert.equal(crashed.has('mizual_ship_pending_archives'), false);
  });

  it('writes the file atomically, 0644 whatever the umask, leaving no temp file', async () => {
    const stateDir = path.join(dir, 'state');
    await writeShipState(stateDir, { ...emptyShipState(), pending: ['x'] });
    const file = path.join(dir, 'mizual-ship.prom');
    const old = process.umask(0o077);
    try {
      await writeShipMetrics(file, stateDir, { summary: summary(), startedMs: 0, endedMs: 1 });
      await writeShipMetrics(file, stateDir, { summary: summary(), startedMs: 0, endedMs: 1 });
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.equal(samples(readFileSync(file, 'utf8')).get('mizual_ship_lines_total'), 24);
    assert.equal(samples(readFileSync(file, 'utf8')).get('mizual_ship_pending_archives'), 1);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('mizual-ship')),
      ['mizual-ship.prom'],
    );
    await assert.rejects(
      writeShipMetrics(path.join(dir, 'no-such-dir', 'f.prom'), stateDir, { summary: null, startedMs: 0, endedMs: 1 }),
      /cannot write --prometheus file .*no-such-dir/,
    );
  });
});
