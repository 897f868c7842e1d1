import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { findEnvFile } from '../../src/core/config.js';
import { runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-env-root-');
after(scratch.cleanup);

describe('which .env file is read', () => {
  const cwd = scratch.dir;
  const stray = path.join(cwd, '.env');
  const installed = path.join(cwd, 'installed.env');
  const chosen = path.join(cwd, 'chosen.env');
  writeFileSync(stray, 'S3_BUCKET_NAME=stray-bucket\n');
  writeFileSync(installed, 'S3_BUCKET_NAME=app-bucket\n');
  writeFileSync(chosen, 'S3_BUCKET_NAME=chosen-bucket\n');
  const find = (euid: number, more: { envFileFlag?: string; env?: NodeJS.ProcessEnv } = {}) =>
    findEnvFile({ cwd, defaultEnvFile: installed, env: {}, euid, ...more });

  it('root reads /opt/mizual/.env before a stray ./.env in its working directory', () => {
    assert.equal(find(0), installed);
  });

  it('another user reads ./.env first, as before', () => {
    assert.equal(find(1000), stray);
  });

  it('root falls back to ./.env when there is no /opt/mizual/.env', () => {
    assert.equal(findEnvFile({ cwd, defaultEnvFile: path.join(cwd, 'absent.env'), env: {}, euid: 0 }), stray);
  });

  it('MIZUAL_ENV_FILE and --env-file still decide, for root too', () => {
    assert.equal(find(0, { env: { MIZUAL_ENV_FILE: chosen } }), chosen);
    assert.equal(find(0, { envFileFlag: chosen, env: { MIZUAL_ENV_FILE: installed } }), chosen);
  });

  it('mizual-ship-logs --check names the .env file it read', async () => {
    const result = await runTool('mizual-ship-logs', ['--check'], {
      cwd,
      env: {
        MIZUAL_ENV_FILE: chosen,
        S3_ENDPOINT_URL: 'http://127.0.0.1:9',
        S3_ACCESS_KEY_ID: 'id',
        S3_SECRET_ACCESS_KEY: 'secret',
        DOCKER_HOST: `unix://${path.join(cwd, 'no-docker.sock')}`,
        MIZUAL_LOG_DIR: path.join(cwd, 'logs'),
        MIZUAL_STATE_DIR: path.join(cwd, 'state'),
        MIZUAL_ALERT_LOG: path.join(cwd, 'alerts.log'),
      },
    });
    const settings = result.stdout.split('\n').find((l) => l.includes('settings:')) ?? '';
    assert.match(settings, /bucket chosen-bucket /);
    assert.ok(settings.endsWith(`.env file: ${chosen}`), settings);
  });
});
