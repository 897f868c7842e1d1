import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { describeContainer } from '../../src/alerts/checks/containers.js';
import { checkCpu } from '../../src/alerts/checks/cpu.js';
import { checkHealthUrl } from '../../src/alerts/checks/health.js';
import { checkShipping } from '../../src/alerts/checks/shipping.js';
import { toDetails } from '../../src/docker/model.js';
import { ROOT, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-alert-checks-');
after(scratch.cleanup);
const spec = { short: 'backend', name: 'mizual-backend' };
const thresholds = { cpu: 80, memory: 85, disk: 90 };

function details(state: Record<string, unknown>, restartCount = 0) {
  return toDetails({ Id: 'x', Name: '/mizual-backend', RestartCount: restartCount, State: state });
}

describe('describeContainer', () => {
  it('names the reason for every failing state', () => {
    assert.deepEqual(describeContainer(spec, null), {
      failing: true,
      state: 'missing',
      message: 'container mizual-backend does not exist',
    });
    const fixture = JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/docker/inspect-exited.json'), 'utf8'));
    assert.equal(describeContainer(spec, toDetails(fixture)).message, 'container mizual-backend exited (exit code 3)');
    const cases: [Record<string, unknown>, number, string][] = [
      [{ Status: 'exited', ExitCode: 137, OOMKilled: true }, 0, 'exited (exit code 137, SIGKILL, OOM-killed)'],
      [{ Status: 'restarting', ExitCode: 1 }, 7, 'restarting (exit code 1, 7 restarts)'],
      [{ Status: 'dead', ExitCode: 143 }, 0, 'dead (exit code 143, SIGTERM)'],
      [{ Status: 'running', Health: { Status: 'unhealthy' } }, 0, 'unhealthy'],
      [{ Status: 'paused' }, 0, 'paused'],
      [{ Status: 'created' }, 0, 'created but never started'],
    ];
    for (const [state, restarts, reason] of cases) {
      const d = describeContainer(spec, details(state, restarts));
      assert.equal(d.failing, true, reason);
      assert.equal(d.message, `container mizual-backend ${reason}`);
    }
  });

  it('a running container is fine, healthy or starting included', () => {
    for (const health of ['healthy', 'starting', undefined]) {
      const d = describeContainer(
        spec,
        details({ Status: 'running', Health: health ? { Status: health } : undefined }),
      );
      assert.equal(d.failing, false);
    }
  });
});

describe('checkCpu', () => {
  const proc = path.join(scratch.dir, 'proc');
  cpSync(path.join(ROOT, 'test/fixtures/proc/sample-a'), proc, { recursive: true });
  // sample-a: busy 13 800 of 94 800 jiffies
  const base = { procRoot: proc, thresholds, cpuFor: 2 };

  it('uses the previous run counters when fresh: no wait, busy % over the whole interval', async () => {
    const previousCpu = { busy: 3_800, total: 44_800, takenAt: Date.now() - 300_000 };
    const started = Date.now();
    const { observation, baseline } = await checkCpu({ ...base, cpuSampleMs: 5_000, previousCpu });
    assert.ok(Date.now() - started < 1_000, 'no sampling wait');
    assert.equal(observation.value, 20);
    assert.match(observation.message, /^cpu 20% busy over 5m 0s \(threshold 80%\)$/);
    assert.equal(baseline?.busy, 13_800);
  });

  it('with no usable baseline and sampling 0, skips with a note and stores a baseline', async () => {
    const stale = { busy: 3_700, total: 44_700, takenAt: Date.now() - 3_600_000 };
    const { observation, baseline } = await checkCpu({ ...base, cpuSampleMs: 0, previousCpu: stale });
    assert.equal(observation.skipped, true);
    assert.match(observation.note ?? '', /no recent baseline/);
    assert.equal(baseline?.total, 94_800);
  });

  it('counters that went backwards (reboot) are not used: it samples for real', async () => {
    const rebooted = { busy: 99_999, total: 999_999, takenAt: Date.now() - 60_000 };
    setTimeout(() => {
      const stat = readFileSync(path.join(proc, 'stat'), 'utf8').replace(
        /^cpu .*$/m,
        'cpu  11000 500 3000 80100 1000 0 200 100 0 0',
      );
      writeFileSync(path.join(proc, 'stat'), stat);
    }, 100);
    const { observation } = await checkCpu({ ...base, cpuSampleMs: 400, previousCpu: rebooted });
    // +1000 busy, +100 idle between the two readings
    assert.equal(observation.value, 90.9);
  });
});

describe('checkShipping', () => {
  const now = new Date('2026-11-25T10:00:00Z');
  it('absent state file: skipped with a note, not an alert', async () => {
    const obs = await checkShipping(path.join(scratch.dir, 'none'), 3_600_000, now);
    assert.equal(obs.skipped, true);
    assert.match(obs.note ?? '', /has not run here yet/);
  });
  it('an upload older than the limit is failing, a recent one is not, none at all is failing', async () => {
    const file = path.join(scratch.dir, 'ship-state.json');
    writeFileSync(file, JSON.stringify({ lastUploadAt: '2026-11-25T08:30:00Z' }));
    const old = await checkShipping(scratch.dir, 3_600_000, now);
    assert.equal(old.failing, true);
    assert.match(old.message, /last successful log upload 1h 30m ago at 2026-11-25T08:30:00Z \(limit 1h 0m\)/);
    writeFileSync(file, JSON.stringify({ lastUploadAt: '2026-11-25T09:40:00Z' }));
    assert.equal((await checkShipping(scratch.dir, 3_600_000, now)).failing, false);
    writeFileSync(file, JSON.stringify({ lastUploadAt: null }));
    const never = await checkShipping(scratch.dir, 3_600_000, now);
    assert.match(never.message, /no successful upload/);
    assert.equal(never.forMs, 3_600_000, 'a shipper that never uploaded gets the same grace');
  });
});

describe('checkHealthUrl', () => {
  it('2xx is fine, 5xx and silence past the timeout are failing, and the query never shows', async () => {
    let status = 200;
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/slow')) return; // never answers
      res.statusCode = status;
      res.end('x');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const [ok] = await checkHealthUrl(`${base}/health?token=s3cret`);
      assert.equal(ok?.failing, false);
      assert.doesNotMatch(ok?.message ?? '', /s3cret/);
      status = 503;
      const [bad] = await checkHealthUrl(`${base}/health`);
      assert.equal(bad?.failing, true);
      assert.match(bad?.message ?? '', /answered HTTP 503/);
      const [slow] = await checkHealthUrl(`${base}/slow`, 300);
      assert.equal(slow?.failing, true);
      assert.match(slow?.message ?? '', /no answer within 0\.3 s/);
      const [refused] = await checkHealthUrl('http://127.0.0.1:9/health');
      assert.match(refused?.message ?? '', /ECONNREFUSED/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
