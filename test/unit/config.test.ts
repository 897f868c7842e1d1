import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  findEnvFile,
  loadConfig,
  parseContainers,
  regionFromEndpoint,
  requireS3,
  resolveRegion,
} from '../../src/core/config.js';
import { MizualError } from '../../src/core/errors.js';
import { parseDuration } from '../../src/core/units.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir();
after(scratch.cleanup);

function envFile(name: string, body: string): string {
  const file = path.join(scratch.dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, body);
  return file;
}

const S3_ENV = [
  'S3_BUCKET_NAME=mizual-images',
  'S3_ENDPOINT_URL=https://s3.us-east-005.backblazeb2.com',
  'S3_ACCESS_KEY_ID=key-from-file',
  'S3_SECRET_ACCESS_KEY=secret-from-file',
  'SENTRY_DSN=https://app:hunter2@sentry.example/1',
  'OPENAI_API_KEY=sk-not-ours',
].join('\n');

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MizualError, `expected MizualError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail('expected a usage error');
}

describe('.env discovery', () => {
  const cwdWithEnv = path.dirname(envFile('cwd/.env', 'MIZUAL_HOSTNAME=from-cwd\n'));
  const fallback = envFile('opt/.env', 'MIZUAL_HOSTNAME=from-opt\n');
  const flagged = envFile('flag.env', 'MIZUAL_HOSTNAME=from-flag\n');
  const viaVar = envFile('var.env', 'MIZUAL_HOSTNAME=from-var\n');
  const emptyCwd = path.join(scratch.dir, 'empty');
  mkdirSync(emptyCwd, { recursive: true });

  it('prefers --env-file, then $MIZUAL_ENV_FILE, then ./.env, then /opt/mizual/.env (not root)', () => {
    // Root's order (/opt/mizual/.env before ./.env) is env-file-root.test.ts's.
    const base = { cwd: cwdWithEnv, defaultEnvFile: fallback, euid: 1000 };
    assert.equal(findEnvFile({ ...base, envFileFlag: flagged, env: { MIZUAL_ENV_FILE: viaVar } }), flagged);
    assert.equal(findEnvFile({ ...base, env: { MIZUAL_ENV_FILE: viaVar } }), viaVar);
    assert.equal(findEnvFile({ ...base, env: {} }), path.join(cwdWithEnv, '.env'));
    assert.equal(findEnvFile({ cwd: emptyCwd, defaultEnvFile: fallback, env: {}, euid: 1000 }), fallback);
    assert.equal(findEnvFile({ cwd: emptyCwd, defaultEnvFile: path.join(scratch.dir, 'none'), env: {} }), undefined);
  });

  it('an explicit file that does not exist is a usage error naming where it came from', () => {
    const msg = usageMessage(() => findEnvFile({ envFileFlag: '/nonexistent/.env', env: {} }));
    assert.match(msg, /--env-file: no such file: \/nonexistent\/.env/);
    assert.match(
      usageMessage(() => findEnvFile({ env: { MIZUAL_ENV_FILE: '/nope' } })),
      /MIZUAL_ENV_FILE/,
    );
  });
});

describe('precedence and secrecy', () => {
  const file = envFile('s3.env', `${S3_ENV}\nMIZUAL_HOSTNAME=file-host\nSTORAGE_PATH_PREFIX=production\n`);

  it('process environment beats the .env file; the file fills the rest', () => {
    const config = loadConfig({ envFileFlag: file, env: { MIZUAL_HOSTNAME: 'env-host' } });
    assert.equal(config.hostname, 'env-host');
    assert.equal(config.env, 'prod');
    const s3 = requireS3(config);
    assert.equal(s3.accessKeyId, 'key-from-file');
    assert.equal(s3.region, 'us-east-005');
  });

  it('never exports .env values into process.env and never keeps unrelated keys', () => {
    const before = { ...process.env };
    const config = loadConfig({ envFileFlag: file, env: {} });
    assert.deepEqual({ ...process.env }, before);
    assert.equal(process.env.SENTRY_DSN, undefined);
    assert.equal(JSON.stringify(config).includes('hunter2'), false);
    assert.equal((config.lookup as (n: string) => string | undefined)('SENTRY_DSN'), undefined);
  });

  it('STORAGE_PATH_PREFIX maps production to prod and anything else to dev', () => {
    for (const [value, expected] of [
      ['production', 'prod'],
      ['preview', 'dev'],
      ['staging', 'dev'],
      [undefined, 'dev'],
    ] as const) {
      assert.equal(
        loadConfig({ env: { STORAGE_PATH_PREFIX: value }, cwd: scratch.dir, defaultEnvFile: '/x' }).env,
        expected,
      );
    }
  });

  it('a missing S3 variable is one line naming it, without any secret', () => {
    const config = loadConfig({
      env: { S3_SECRET_ACCESS_KEY: 'topsecret', S3_BUCKET_NAME: 'b-1' },
      cwd: scratch.dir,
      defaultEnvFile: '/x',
    });
    const msg = usageMessage(() => requireS3(config));
    assert.match(msg, /^S3_ENDPOINT_URL is not set/);
    assert.equal(msg.includes('topsecret'), false);
  });

  it('a malformed endpoint or bucket is a usage error naming the variable', () => {
    const base = { S3_BUCKET_NAME: 'ok-bucket', S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's' };
    const bad = loadConfig({ env: { ...base, S3_ENDPOINT_URL: 'not a url' }, cwd: scratch.dir, defaultEnvFile: '/x' });
    assert.match(
      usageMessage(() => requireS3(bad)),
      /^S3_ENDPOINT_URL is not a URL/,
    );
    const ftp = loadConfig({ env: { ...base, S3_ENDPOINT_URL: 'ftp://x' }, cwd: scratch.dir, defaultEnvFile: '/x' });
    assert.match(
      usageMessage(() => requireS3(ftp)),
      /^S3_ENDPOINT_URL must start with https/,
    );
    const bucket = loadConfig({
      env: { ...base, S3_ENDPOINT_URL: 'http://127.0.0.1:1', S3_BUCKET_NAME: 'Bad_Bucket' },
      cwd: scratch.dir,
      defaultEnvFile: '/x',
    });
    assert.match(
      usageMessage(() => requireS3(bucket)),
      /^S3_BUCKET_NAME is not a valid bucket name/,
    );
  });

  it('MIZUAL_RETENTION_DAYS must be a positive whole number', () => {
    const msg = usageMessage(() =>
      loadConfig({ env: { MIZUAL_RETENTION_DAYS: '-3' }, cwd: scratch.dir, defaultEnvFile: '/x' }),
    );
    assert.match(msg, /^MIZUAL_RETENTION_DAYS must be a positive whole number/);
  });
});

describe('values', () => {
  it('parses MIZUAL_CONTAINERS short and short=container items', () => {
    assert.deepEqual(parseContainers('backend, api=my-api ,celery'), [
      { short: 'backend', name: 'mizual-backend' },
      { short: 'api', name: 'my-api' },
      { short: 'celery', name: 'mizual-celery' },
    ]);
    assert.match(
      usageMessage(() => parseContainers('a=b=c')),
      /MIZUAL_CONTAINERS/,
    );
    assert.match(
      usageMessage(() => parseContainers('x,x')),
      /twice/,
    );
    assert.match(
      usageMessage(() => parseContainers('../etc')),
      /bad item/,
    );
  });

  it('derives the signing region from a B2 endpoint host, else us-east-1', () => {
    assert.equal(regionFromEndpoint('s3.us-west-004.backblazeb2.com'), 'us-west-004');
    assert.equal(resolveRegion('127.0.0.1'), 'us-east-1');
    assert.equal(resolveRegion('s3.amazonaws.com'), 'us-east-1');
  });

  it('parses durations and rejects nonsense', () => {
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('2d'), 172_800_000);
    assert.throws(() => parseDuration('30'), /30m/);
    assert.throws(() => parseDuration('abc'), /30m/);
    assert.throws(() => parseDuration('0m'), /30m/);
  });
});
