import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  applyObservations,
  exitCodeFor,
  loadAlertState,
  saveAlertState,
  type CheckRecord,
  type Observation,
} from '../../src/alerts/state.js';
import { emptyTrends } from '../../src/core/trends.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-alert-state-');
after(scratch.cleanup);

const memory = (value: number, threshold = 85): Observation => ({
  check: 'memory',
  severity: 'warning',
  value,
  threshold,
  measure: { value, threshold },
  message: `memory ${value}% used (threshold ${threshold}%)`,
});

function runSequence(values: number[], options: { repeatMs?: number; stepMs?: number; forRuns?: number } = {}) {
  let records: Record<string, CheckRecord> = {};
  const start = Date.parse('2026-11-25T09:00:00Z');
  return values.map((value, i) => {
    const obs = { ...memory(value), forRuns: options.forRuns };
    const out = applyObservations(
      records,
      [obs],
      new Date(start + i * (options.stepMs ?? 300_000)),
      options.repeatMs ?? 3_600_000,
    );
    records = out.records;
    return out;
  });
}

describe('applyObservations', () => {
  it('logs once when a check goes above its threshold, nothing while it stays, RESOLVED with the value when it clears', () => {
    const runs = runSequence([90, 91, 50]);
    assert.deepEqual(
      runs.map((r) => r.events.map((e) => `${e.severity} ${e.message}`)),
      [['WARNING memory 90% used (threshold 85%)'], [], ['RESOLVED memory 50% used (threshold 85%)']],
    );
    assert.equal(runs[0]?.results[0]?.status, 'warning');
    assert.equal(runs[2]?.results[0]?.status, 'ok');
  });

  it('does not flap around the line: an active alert clears only a few points below the threshold', () => {
    const runs = runSequence([86, 84, 86, 83.5, 81.9, 86]);
    const events = runs.map((r) => r.events.map((e) => e.severity).join(','));
    assert.deepEqual(events, ['WARNING', '', '', '', 'RESOLVED', 'WARNING']);
    assert.equal(runs[1]?.results[0]?.status, 'warning', '84 is still within the hysteresis band');
  });

  it('repeats a still-active alert at most every repeat interval, marked as a reminder', () => {
    const runs = runSequence([90, 90, 90, 90, 90], { repeatMs: 600_000, stepMs: 300_000 });
    assert.deepEqual(
      runs.map((r) => r.events.length),
      [1, 0, 1, 0, 1],
    );
    assert.match(runs[2]?.events[0]?.message ?? '', /\(active since 2026-11-25T09:00:00Z\)$/);
    assert.equal(runs[2]?.events[0]?.reminder, true);
  });

  it('with forRuns 2 raises only on the second consecutive run above the threshold', () => {
    const runs = runSequence([95, 50, 95, 95], { forRuns: 2 });
    assert.deepEqual(
      runs.map((r) => r.results[0]?.status),
      ['ok', 'ok', 'ok', 'warning'],
    );
    assert.equal(runs[0]?.results[0]?.note, 'above the threshold for 1 of 2 runs');
    assert.equal(runs[3]?.events[0]?.severity, 'WARNING');
  });

  it('with forMs raises a failing condition only once it has lasted that long', () => {
    let records: Record<string, CheckRecord> = {};
    const obs: Observation = {
      check: 'shipping',
      severity: 'warning',
      value: null,
      threshold: '1h',
      message: 'log shipping has no successful upload recorded',
      failing: true,
      forMs: 3_600_000,
    };
    const statuses = ['09:00', '09:30', '10:05'].map((t) => {
      const out = applyObservations(records, [obs], new Date(`2026-11-25T${t}:00Z`), 3_600_000);
      records = out.records;
      return `${out.results[0]?.status}:${out.events.length}`;
    });
    assert.deepEqual(statuses, ['ok:0', 'ok:0', 'warning:1']);
  });

  it('keeps the record of an unknown check untouched and resolves an active check that is gone', () => {
    const first = applyObservations(
      {},
      [
        memory(90),
        { check: 'container:a', severity: 'critical', value: 'exited', threshold: null, message: 'x', failing: true },
      ],
      new Date('2026-11-25T09:00:00Z'),
      3_600_000,
    );
    const second = applyObservations(
      first.records,
      [{ ...memory(90), unknown: true, message: 'memory: cannot read' }],
      new Date('2026-11-25T09:05:00Z'),
      3_600_000,
    );
    assert.equal(second.results[0]?.status, 'unknown');
    assert.deepEqual(second.records.memory, first.records.memory);
    assert.deepEqual(
      second.events.map((e) => `${e.severity} ${e.check}: ${e.message}`),
      ['RESOLVED container:a: no longer checked'],
    );
  });

  it('turns statuses into monitoring-plugin exit codes: critical beats unknown beats warning', () => {
    const r = (status: 'ok' | 'warning' | 'critical' | 'unknown') =>
      ({ check: 'x', status, value: null, threshold: null, message: '', since: null }) as const;
    assert.equal(exitCodeFor([r('ok')]), 0);
    assert.equal(exitCodeFor([r('ok'), r('warning')]), 1);
    assert.equal(exitCodeFor([r('warning'), r('unknown')]), 3);
    assert.equal(exitCodeFor([r('unknown'), r('critical')]), 2);
  });
});

describe('alert state file', () => {
  it('is written 0600 in a created 0700 directory and read back', async () => {
    const dir = path.join(scratch.dir, 'new', 'state');
    const state = {
      version: 1 as const,
      updatedAt: 'now',
      checks: {},
      cpu: { busy: 1, total: 2, takenAt: 3 },
      trends: emptyTrends(),
    };
    await saveAlertState(dir, state);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(path.join(dir, 'alerts-state.json')).mode & 0o777, 0o600);
    assert.deepEqual((await loadAlertState(dir)).state, state);
  });

  it('a corrupt file is reported and replaced by an empty state, never fatal', async () => {
    const dir = path.join(scratch.dir, 'corrupt');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'alerts-state.json'), '{"version": 1, "checks": {');
    const loaded = await loadAlertState(dir);
    assert.match(loaded.problem ?? '', /alerts-state\.json: invalid JSON .*starting afresh/);
    assert.deepEqual(loaded.state.checks, {});
    await saveAlertState(dir, loaded.state);
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'alerts-state.json'), 'utf8')).version, 1);
  });

  it('an unreadable file is reported too', async () => {
    const dir = path.join(scratch.dir, 'unreadable');
    mkdirSync(dir, { recursive: true });
    mkdirSync(path.join(dir, 'alerts-state.json'));
    chmodSync(dir, 0o700);
    const loaded = await loadAlertState(dir);
    assert.match(loaded.problem ?? '', /EISDIR|illegal operation/);
  });
});
