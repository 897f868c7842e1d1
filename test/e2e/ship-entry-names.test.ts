// Entry names a user's configuration can make: a short name of 110 characters (over ustar's 100 bytes)
// and a short name `alerts` (the alert log's own entry name). Real engine and gateway: the archive
// ships, GNU tar and bsdtar list it, and mizual-fetch-logs --cat labels every line by its container.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDocker, removeStartedContainers, startContainer, uniqueName } from '../harness/docker.js';
import { createTestBucket, ensureS3, removeTestBucket, toolEnvFor, type S3TestEnv } from '../harness/s3.js';
import { runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-ship-names-');
after(scratch.cleanup);

describe('mizual-ship-logs: entry names from odd but valid short names', () => {
  let s3: S3TestEnv;
  let bucket: string;
  const names = { alerts: uniqueName('names-alerts'), long: uniqueName('names-long') };
  const longShort = `svc-${'x'.repeat(101)}-tail`;
  let env: Record<string, string>;

  before(async () => {
    await ensureDocker();
    s3 = await ensureS3();
    bucket = await createTestBucket(s3, { tag: 'ship-names' });
    const alertLog = path.join(scratch.dir, 'alerts.log');
    writeFileSync(alertLog, `${new Date().toISOString()} WARNING cpu: the alert log's own line\n`);
    env = {
      MIZUAL_CONTAINERS: `alerts=${names.alerts},${longShort}=${names.long}`,
      MIZUAL_LOG_DIR: path.join(scratch.dir, 'logs'),
      MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
      MIZUAL_ALERT_LOG: alertLog,
      MIZUAL_HOSTNAME: 'names-host',
      ...toolEnvFor(s3, bucket),
    };
  });

  after(async () => {
    await removeStartedContainers();
    if (bucket) await removeTestBucket(s3, bucket);
  });

  it('ships a container named `alerts` beside the alert log, and a 110-character short name', async () => {
    assert.equal(longShort.length, 110);
    await startContainer(names.alerts, 'echo "from the alerts container"; sleep 300');
    await startContainer(names.long, 'echo "from the long one"; sleep 300');
    await sleep(1500);
    const shipped = await runTool('mizual-ship-logs', [], { env, cwd: scratch.dir });
    assert.equal(shipped.exitCode, 0, shipped.stderr);
    assert.equal(shipped.stderr, '');

    const logDir = env.MIZUAL_LOG_DIR as string;
    const archive = readdirSync(logDir).find((n) => /^logs-\d{8}_\d{6}\.tar\.gz$/.test(n)) as string;
    const stamp = archive.slice(5, 20);
    const expected = [
      `alerts@container-${stamp}.log`,
      `${longShort}-${stamp}.log`,
      `alerts-${stamp}.log`,
      'manifest.json',
    ].sort();
    for (const lister of ['tar', 'bsdtar']) {
      const listed = execFileSync(lister, ['-tzf', path.join(logDir, archive)], { encoding: 'utf8' });
      assert.deepEqual(listed.trim().split('\n').sort(), expected, lister);
    }
    const body = (entry: string): string =>
      execFileSync('tar', ['-xzOf', path.join(logDir, archive), entry], { encoding: 'utf8' });
    assert.match(body(`alerts@container-${stamp}.log`), /Z from the alerts container\n$/);
    assert.match(body(`${longShort}-${stamp}.log`), /Z from the long one\n$/);
    assert.match(body(`alerts-${stamp}.log`), /WARNING cpu: the alert log's own line\n$/);

    const out = path.join(scratch.dir, 'fetched');
    const fetched = await runTool(
      'mizual-fetch-logs',
      ['--env', 'dev', '--date', new Date().toISOString().slice(0, 10), '--cat', '--out', out],
      { env, cwd: scratch.dir },
    );
    assert.equal(fetched.exitCode, 0, fetched.stderr);
    const lines = fetched.stdout.trim().split('\n').sort();
    assert.equal(lines.length, 3, fetched.stdout);
    assert.ok(
      lines.some((l) => /^names-host alerts \S+ from the alerts container$/.test(l)),
      fetched.stdout,
    );
    assert.ok(lines.some((l) => l.startsWith(`names-host ${longShort} `) && l.endsWith(' from the long one')));
    assert.ok(lines.some((l) => /^names-host alerts \S+ WARNING cpu: the alert log's own line$/.test(l)));
  });
});
