// `mizual-ship-logs --check` against the real gateway (through the B2-strict proxy, versioned bucket)
// and the real engine: every step passes on a good setup and leaves nothing in the bucket; each fault
// fails its own step with a line that says what to do, and no secret is ever printed.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startContainer, uniqueName } from '../harness/docker.js';
import { toolEnvFor } from '../harness/s3.js';
import { useBucket } from '../harness/bucket.js';
import { runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-ship-check-');
const fx = useBucket('ship-check', { versioned: true, docker: true });
let container: string;
let dirNo = 0;

before(async () => {
  await fx.ready;
  container = uniqueName('check');
  await startContainer(container, 'sleep 120');
});
after(async () => {
  scratch.cleanup();
});

function freshEnv(extra: Record<string, string> = {}): Record<string, string> {
  const base = path.join(scratch.dir, `run${++dirNo}`);
  mkdirSync(base, { mode: 0o700 });
  const envFile = path.join(base, 'app.env');
  writeFileSync(envFile, `DATABASE_URL=postgres://app:db-secret-4411@db/app\nS3_BUCKET_NAME=${fx.bucket}\n`);
  const tool = toolEnvFor(fx.s3, fx.bucket, fx.strict.url);
  delete (tool as Partial<typeof tool>).S3_BUCKET_NAME;
  return {
    MIZUAL_ENV_FILE: envFile,
    MIZUAL_CONTAINERS: `app=${container}`,
    MIZUAL_LOG_DIR: path.join(base, 'logs'),
    MIZUAL_STATE_DIR: path.join(base, 'state'),
    MIZUAL_ALERT_LOG: path.join(base, 'alerts.log'),
    MIZUAL_HOSTNAME: `check-${process.pid}-${dirNo}`,
    ...tool,
    ...extra,
  };
}

const check = (env: Record<string, string>) => runTool('mizual-ship-logs', ['--check'], { env, cwd: scratch.dir });

function stepLine(stdout: string, step: string): string {
  const line = stdout.split('\n').find((l) => l.slice(6).startsWith(`${step}:`));
  assert.ok(line, `no ${step} line in:\n${stdout}`);
  return line;
}

describe('mizual-ship-logs --check', () => {
  it('passes every step on a good setup and leaves no probe or version of it in the bucket', async () => {
    const env = freshEnv();
    const result = await check(env);
    assert.equal(result.exitCode, 0, result.stdout + result.stderr);
    const steps = [
      'settings',
      'endpoint',
      'clock',
      'list',
      'write',
      'delete',
      'versioning',
      'docker',
      'container app',
      'hold',
    ];
    for (const step of steps) assert.match(stepLine(result.stdout, step), /^ok {4}/);
    assert.match(stepLine(result.stdout, 'settings'), new RegExp(`from ${env.MIZUAL_ENV_FILE} and the environment`));
    assert.match(stepLine(result.stdout, 'versioning'), /Enabled/);
    assert.match(stepLine(result.stdout, 'container app'), /running, read from its log files$/);
    assert.match(stepLine(result.stdout, 'hold'), /: 1 container\(s\), [\d.]+ (B|KiB) held$/);
    assert.match(stepLine(result.stdout, 'delete'), /removed the probe and its 1 version\(s\)/);
    assert.match(result.stdout, /\nverdict: all \d+ checks passed$/);
    assert.deepEqual(await fx.store.listVersions(`logs/dev/${env.MIZUAL_HOSTNAME}/`), []);
    for (const secret of [fx.s3.secretAccessKey, 'db-secret-4411']) assert.ok(!result.stdout.includes(secret));
  });

  it('a wrong secret fails list, write and the verdict, and never prints the secret', async () => {
    const wrong = 'WRONG-check-secret-0123456789abcdef';
    const env = freshEnv({ S3_SECRET_ACCESS_KEY: wrong });
    const result = await check(env);
    assert.equal(result.exitCode, 1);
    assert.match(stepLine(result.stdout, 'write'), /^FAIL .*SignatureDoesNotMatch .*check S3_SECRET_ACCESS_KEY/);
    assert.match(stepLine(result.stdout, 'delete'), /^FAIL .*not checked/);
    assert.match(result.stdout, /\nverdict: \d+ of \d+ checks failed \(.*write.*\)$/);
    for (const text of [result.stdout, result.stderr]) assert.ok(!text.includes(wrong));
  });

  it('a server whose clock is an hour off fails the clock step with what to do', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(403, { Date: new Date(Date.now() - 3600_000).toUTCString() });
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const env = freshEnv({ S3_ENDPOINT_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const result = await check(env);
      assert.equal(result.exitCode, 1);
      assert.match(
        stepLine(result.stdout, 'clock'),
        /^FAIL {2}clock: this host is 3[56]\d\d s ahead of the server; signatures fail beyond 15 minutes/,
      );
    } finally {
      server.close();
    }
  });

  it('a missing container, an open state directory and an unreachable endpoint each fail their own step', async () => {
    const env = freshEnv({
      MIZUAL_CONTAINERS: `app=${container},gone=${uniqueName('gone')}`,
      S3_ENDPOINT_URL: 'http://127.0.0.1:9',
    });
    mkdirSync(env.MIZUAL_STATE_DIR!);
    chmodSync(env.MIZUAL_STATE_DIR!, 0o755);
    const result = await check(env);
    assert.equal(result.exitCode, 1);
    assert.match(
      stepLine(result.stdout, 'endpoint'),
      /^FAIL {2}endpoint: http:\/\/127\.0\.0\.1:9 did not answer: ECONNREFUSED/,
    );
    assert.match(stepLine(result.stdout, 'container app'), /^ok/);
    assert.match(stepLine(result.stdout, 'container gone'), /^FAIL .*No such container/);
    assert.match(stepLine(result.stdout, 'state directory'), /^FAIL .*mode 755 \(want 700/);
  });
});
