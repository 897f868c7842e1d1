/**
 * mizual-fetch-logs --usage (built executable) against a versioned bucket on the real S3 gateway with
 * known contents: overwritten archives and a deleted one leave hidden versions, which B2 bills and
 * --usage must count.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { UsageReport } from '../../src/fetch/usage.js';
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
    const report = JSON.parse(result.stdout) as UsageReport;
    assert.deepEqual(report.prices, { pricePerTb: 2e9, freeGb: 10 });
    const [dev, prod, ...rest] = report.hosts;
    assert.deepEqual(rest, []);
    assert.equal(prod?.env, 'prod');
    assert.equal(prod?.host, 'web-1');
    assert.deepEqual(
      [prod?.objects, prod?.currentBytes, prod?.versions, prod?.bytes, prod?.hiddenVersions, prod?.hiddenVersionBytes],
      [1, 300, 4, 650, 3, 350],
    );
    assert.deepEqual([prod?.oldestDate, prod?.newestDate], ['2026-01-10', '2026-01-12']);
    assert.deepEqual(prod?.unfinishedUploads, { count: 0, bytes: 0 });
    // Written by hand, without the shipper's record: every byte is the container `unknown`.
    assert.deepEqual(
      prod?.containers.map((c) => [c.name, c.bytes, c.share]),
      [['unknown', 650, 1]],
    );
    assert.equal(dev?.env, 'dev');
    assert.equal(dev?.host, 'web-2');
    assert.equal(dev?.bytes, 1000);
    assert.equal(dev?.hiddenVersions, 0);
    assert.equal(report.total.bytes, 1650);
  });

  it('--env and --host narrow it; the text names the price and every host', async () => {
    const env = toolEnvFor(fx.s3, fx.bucket);
    const one = await runTool('mizual-fetch-logs', ['--usage', '--env', 'dev', '--json'], { env, cwd: scratch.dir });
    assert.equal(one.exitCode, 0, one.stderr);
    const report = JSON.parse(one.stdout) as UsageReport;
    assert.deepEqual(
      report.hosts.map((r) => `${r.env}/${r.host}`),
      ['dev/web-2'],
    );
    assert.deepEqual(report.prices, { pricePerTb: 6, freeGb: 10 }, 'default price 6 USD per TB, 10 GB free');
    const table = await runTool('mizual-fetch-logs', ['--usage'], { env, cwd: scratch.dir });
    assert.equal(table.exitCode, 0, table.stderr);
    assert.match(table.stdout, /^prod\/web-1: 650 B stored in 4 versions \(2026-01-10 \.\. 2026-01-12\)$/m);
    assert.match(table.stdout, /^ {2}hidden versions: 3 \(350 B\); unfinished uploads: 0 \(0 B\)$/m);
    assert.match(table.stdout, /^ {2}unknown\s+650 B\s+100\.0%/m);
    assert.match(table.stdout, /^dev\/web-2: /m);
    assert.match(table.stdout, /^total: /m);
    assert.match(table.stdout, /prices used: 6 USD per TB-month \(--price-per-tb\), the first 10 GB free/);
    assert.doesNotMatch(table.stdout + table.stderr, new RegExp(fx.s3.secretAccessKey));
  });

  it('refuses download flags and a bad price (exit 2)', async () => {
    const env = toolEnvFor(fx.s3, fx.bucket);
    for (const args of [
      ['--usage', '--date', '2026-01-10'],
      ['--usage', '--cat'],
      ['--usage', '--price-per-tb', 'cheap'],
      ['--usage', '--env', 'staging'],
      ['--patterns', '--env', 'prod', '--list'],
    ]) {
      const result = await runTool('mizual-fetch-logs', args, { env, cwd: scratch.dir });
      assert.equal(result.exitCode, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });
});
