// The output examples of the docs (marked `<!-- example: NAME -->`, see test/helpers/doc-examples.ts)
// against real runs of the built tools: the real engine, the real S3 gateway. What may differ is the
// values; the steps, line kinds and column headers may not.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startContainer, uniqueName } from '../harness/docker.js';
import { useBucket } from '../harness/bucket.js';
import { runTool, scratchDir } from '../helpers/cli.js';
import { DOC_EXAMPLES, docExample } from '../helpers/doc-examples.js';
import { freePort } from '../helpers/ports.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

const scratch = scratchDir('mizual-docs-examples-');
const fx = useBucket('docs-examples', { versioned: true, docker: true });
let backend: string;
let env: Record<string, string>;

before(async () => {
  await fx.ready;
  backend = uniqueName('docs-backend');
  await startContainer(backend, 'i=0; while :; do i=$((i+1)); echo "INFO request $i"; sleep 0.5; done');
  const base = path.join(scratch.dir, 'run');
  mkdirSync(base, { mode: 0o700 });
  writeFileSync(path.join(base, 'app.env'), '');
  env = {
    MIZUAL_ENV_FILE: path.join(base, 'app.env'),
    MIZUAL_CONTAINERS: `backend=${backend}`,
    MIZUAL_LOG_DIR: path.join(base, 'logs'),
    MIZUAL_STATE_DIR: path.join(base, 'state'),
    MIZUAL_ALERT_LOG: path.join(base, 'alerts.log'),
    MIZUAL_HOSTNAME: `docs-${process.pid}`,
    ...fx.toolEnv(),
  };
  await new Promise((resolve) => setTimeout(resolve, 1_500));
});
after(scratch.cleanup);

/** The example's shape equals a real run's; on a difference, the real output is in the message to paste from. */
function assertSameShape(name: string, real: string, options: { asSet?: boolean } = {}): void {
  const { shape } = DOC_EXAMPLES[name]!;
  const norm = (s: string[]) => (options.asSet ? [...new Set(s)].sort() : s);
  assert.deepEqual(
    norm(shape(docExample(name))),
    norm(shape(real)),
    `${DOC_EXAMPLES[name]!.file}, example ${name}, disagrees with a real run:\n${real}`,
  );
}

describe('the docs output examples come from real runs', () => {
  it('ship-check: mizual-ship-logs --check (one container missing)', async () => {
    const missing = uniqueName('docs-never');
    const result = await runTool('mizual-ship-logs', ['--check'], {
      env: { ...env, MIZUAL_CONTAINERS: `backend=${backend},celery=${missing}` },
      cwd: scratch.dir,
    });
    assert.equal(result.exitCode, 1, result.stdout + result.stderr);
    assertSameShape('ship-check', result.stdout);
  });

  it('ship-dry-run: mizual-ship-logs --dry-run names the bucket and the key of the archive it would upload', async () => {
    const result = await runTool('mizual-ship-logs', ['--dry-run'], { env, cwd: scratch.dir });
    assert.equal(result.exitCode, 0, result.stderr);
    assertSameShape('ship-dry-run', result.stdout);
    // The key, computed here from the window end the run printed: logs/<env>/<host>/<date>/logs-<stamp>.tar.gz.
    const end = /^dry run: window ending (\S+);/.exec(result.stdout)?.[1] ?? '';
    const [, date, hh, mm, ss] = /^(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)/.exec(end) ?? [];
    const stamp = `${date?.replace(/-/g, '')}_${hh}${mm}${ss}`;
    assert.match(
      result.stdout,
      new RegExp(
        `^would upload to s3://${fx.bucket}/logs/dev/${env.MIZUAL_HOSTNAME}/${date}/logs-${stamp}\\.tar\\.gz$`,
        'm',
      ),
    );
    const { S3_BUCKET_NAME: _bucket, ...noBucket } = env;
    const without = await runTool('mizual-ship-logs', ['--dry-run'], { env: noBucket, cwd: scratch.dir });
    assert.equal(without.exitCode, 0, without.stderr);
    assert.match(without.stdout, /^would upload to logs\/dev\/\S+\.tar\.gz \(S3_BUCKET_NAME is not set\)$/m);
  });

  it('alert-log: the lines mizual-alerts appends', async () => {
    const result = await runTool(
      'mizual-alerts',
      ['--no-docker', '--cpu', '100', '--cpu-sample', '0', '--memory', '1'],
      { env, cwd: scratch.dir },
    );
    assert.equal(result.exitCode, 1, result.stderr);
    const logged = readFileSync(env.MIZUAL_ALERT_LOG!, 'utf8');
    assert.ok(logged.length > 0);
    assertSameShape('alert-log', logged, { asSet: true });
  });

  it('test-notification: mizual-alerts --test-notification with one target down', async () => {
    const rx = await startWebhookReceiver();
    try {
      const down = await freePort();
      const result = await runTool('mizual-alerts', ['--test-notification'], {
        env: {
          ...env,
          MIZUAL_ALERT_WEBHOOK_URL: `${rx.url}/T000/B000/XXXX#format=slack http://127.0.0.1:${down}/topic#format=ntfy`,
        },
        cwd: scratch.dir,
      });
      assert.equal(result.exitCode, 1, result.stdout + result.stderr);
      assertSameShape('test-notification', result.stdout, { asSet: true });
    } finally {
      rx.close();
    }
  });

  it('metrics-dashboard: mizual-metrics, the dashboard of the README', async () => {
    const result = await runTool('mizual-metrics', ['--sample', '200'], {
      env: { ...env, MIZUAL_CONTAINERS: `backend=${backend},ghost=${uniqueName('docs-ghost')}` },
      cwd: scratch.dir,
    });
    assert.equal(result.exitCode, 0, result.stderr);
    assertSameShape('metrics-dashboard', result.stdout);
  });
});
