/**
 * mizual-fetch-logs --usage (built executable) against a versioned bucket on the real S3 gateway with
 * known contents: overwritten archives and a deleted one leave hidden versions, which B2 bills and
 * --usage must count.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { UsageRow } from '../../src/fetch/usage.js';
import { deleteKey, toolEnvFor } from '../harness/s3.js';
import { useBucket } from '../harness/bucket.js';
import { runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir();
const fx = useBucket('usage', { versioned: true });

const KEY_A = 'logs/prod/web-1/2026-01-10/logs-20260110_093000.tar.gz';
const KEY_B = 'logs/prod/web-1/2026-01-12/logs-20260112_000000.tar.gz';
const KEY_C = 'logs/dev/web-2/2026-02-01/logs-20260201_120000.tar.gz';

async function put(key: string, bytes: number): Promise<void> {
  const file = path.join(scratch.dir, `body-${bytes}`);
  writeFileSync(file, Buffer.alloc(bytes, 0x61));
  await fx.store.putFile(key, file);
}

before(async () => {
  await fx.ready;
  // A: uploaded three times (two hidden versions). B: uploaded, then deleted (a delete marker hides it).
  await put(KEY_A, 100);
  await put(KEY_A, 200);
  await put(KEY_A, 300);
  await put(KEY_B, 50);
  await deleteKey(fx.s3, fx.bucket, KEY_B);
  await put(KEY_C, 1000);
  await put('elsewhere/not-ours.bin', 5000);
});

after(async () => {
  scratch.cleanup();
});

describe('mizual-fetch-logs --usage', () => {
  it('counts current and all versions per env and host, hidden ones included, with dates and cost', async () => {
    const result = await runTool('mizual-fetch-logs', ['--usage', '--json', '--price-per-tb', '2000000000'], {
      env: toolEnvFor(fx.s3, fx.bucket),
      cwd: scratch.dir,
    });
    assert.equal(result.exitCode, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { pricePerTb: number; rows: UsageRow[]; total: UsageRow };
    assert.equal(report.pricePerTb, 2e9);
    const [dev, prod, ...rest] = report.rows;
    assert.deepEqual(rest, []);
    assert.deepEqual(
      { ...prod, monthlyCost: undefined },
      {
        env: 'prod',
        host: 'web-1',
        objects: 1,
        currentBytes: 300,
        versions: 4,
        allBytes: 650,
        hiddenVersions: 3,
        hiddenBytes: 350,
        oldestDate: '2026-01-10',
        newestDate: '2026-01-12',
        monthlyCost: undefined,
      },
    );
    // 650 bytes at 2e9 USD per 10^12 bytes.
    assert.ok(Math.abs((prod?.monthlyCost ?? 0) - 1.3) < 1e-9, String(prod?.monthlyCost));
    assert.equal(dev?.env, 'dev');
    assert.equal(dev?.host, 'web-2');
    assert.equal(dev?.allBytes, 1000);
    assert.equal(dev?.hiddenVersions, 0);
    assert.equal(report.total.allBytes, 1650);
    assert.equal(report.total.objects, 2);
    assert.equal(report.total.oldestDate, '2026-01-10');
    assert.equal(report.total.newestDate, '2026-02-01');
  });

  it('--env and --host narrow it; the table names the price and every host', async () => {
    const env = toolEnvFor(fx.s3, fx.bucket);
    const one = await runTool('mizual-fetch-logs', ['--usage', '--env', 'dev', '--json'], { env, cwd: scratch.dir });
    assert.equal(one.exitCode, 0, one.stderr);
    const rows = (JSON.parse(one.stdout) as { rows: UsageRow[] }).rows;
    assert.deepEqual(
      rows.map((r) => `${r.env}/${r.host}`),
      ['dev/web-2'],
    );
    assert.ok(Math.abs((rows[0]?.monthlyCost ?? 0) - (1000 / 1e12) * 6) < 1e-15, 'default price 6 USD per TB');
    const table = await runTool('mizual-fetch-logs', ['--usage'], { env, cwd: scratch.dir });
    assert.equal(table.exitCode, 0, table.stderr);
    assert.match(
      table.stdout,
      /^prod\s+web-1\s+1\s+300 B\s+4\s+650 B\s+3 \(350 B\)\s+2026-01-10 \.\. 2026-01-12\s+0\.00 USD$/m,
    );
    assert.match(table.stdout, /^dev\s+web-2\s/m);
    assert.match(table.stdout, /^total\s/m);
    assert.match(table.stdout, /cost at 6 USD per TB-month, on all versions/);
    assert.doesNotMatch(table.stdout + table.stderr, new RegExp(fx.s3.secretAccessKey));
  });

  it('refuses download flags and a bad price (exit 2)', async () => {
    const env = toolEnvFor(fx.s3, fx.bucket);
    for (const args of [
      ['--usage', '--date', '2026-01-10'],
      ['--usage', '--cat'],
      ['--usage', '--price-per-tb', 'cheap'],
      ['--usage', '--env', 'staging'],
    ]) {
      const result = await runTool('mizual-fetch-logs', args, { env, cwd: scratch.dir });
      assert.equal(result.exitCode, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });
});
