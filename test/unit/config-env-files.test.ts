// `.env` files as editors save them: vim itself writes each one (BOM, CRLF, UTF-16), so the bytes are
// what a real editor produces, not what we think it produces.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig, readEnvFile, requireS3 } from '../../src/core/config.js';
import { scratchDir } from '../helpers/cli.js';

const scratch = scratchDir();
after(scratch.cleanup);

/** An app's `.env` with every form seen in the wild; the first line is the one a BOM would eat. */
const APP_ENV = [
  'S3_BUCKET_NAME=mizual-images',
  '# storage',
  'export S3_ENDPOINT_URL=https://s3.us-east-005.backblazeb2.com',
  "S3_ACCESS_KEY_ID='key id from file'",
  'S3_SECRET_ACCESS_KEY="secret from file"',
  'S3_REGION=',
  '',
  'SENTRY_DSN=https://app:hunter2@sentry.example/1   # not ours',
  'MIZUAL_HOSTNAME=web-1 # trailing comment',
  'STORAGE_PATH_PREFIX=production',
  '',
].join('\n');

const EXPECTED = {
  S3_BUCKET_NAME: 'mizual-images',
  S3_ENDPOINT_URL: 'https://s3.us-east-005.backblazeb2.com',
  S3_ACCESS_KEY_ID: 'key id from file',
  S3_SECRET_ACCESS_KEY: 'secret from file',
  S3_REGION: '',
  MIZUAL_HOSTNAME: 'web-1',
  STORAGE_PATH_PREFIX: 'production',
};

/** Save APP_ENV with vim under the given options (`set bomb fileformat=dos ...`), the way a user would. */
function savedByVim(name: string, options: string, body = APP_ENV): string {
  const file = path.join(scratch.dir, name);
  writeFileSync(file, body);
  execFileSync('vim', ['-u', 'NONE', '-i', 'NONE', '-N', '-es', '-c', `set ${options}`, '-c', 'wq', file], {
    stdio: 'ignore',
    timeout: 10_000,
  });
  return file;
}

describe('.env files as editors save them', () => {
  const cases: [string, string, (bytes: Buffer) => boolean][] = [
    ['UTF-8, LF (VS Code, nano)', 'nobomb fileformat=unix fileencoding=utf-8', (b) => b[0] === 0x53],
    ['UTF-8 with BOM, CRLF (Notepad)', 'bomb fileformat=dos fileencoding=utf-8', (b) => b[0] === 0xef],
    ['UTF-8 with BOM, LF', 'bomb fileformat=unix fileencoding=utf-8', (b) => b[0] === 0xef],
    ['CRLF without BOM', 'nobomb fileformat=dos fileencoding=utf-8', (b) => b.includes('\r\n')],
    ['UTF-16 LE with BOM, CRLF (Notepad "Unicode")', 'bomb fileformat=dos fileencoding=utf-16le', (b) => b[0] === 0xff],
    ['UTF-16 BE with BOM', 'bomb fileformat=unix fileencoding=utf-16', (b) => b[0] === 0xfe],
  ];
  for (const [label, options, looksRight] of cases) {
    it(`reads every variable of ${label}`, () => {
      const file = savedByVim(`${label.replace(/\W+/g, '-')}.env`, options);
      assert.ok(looksRight(readFileSync(file)), 'vim wrote the encoding asked for');
      assert.deepEqual(readEnvFile(file), EXPECTED);
    });
  }

  it('a BOM before STORAGE_PATH_PREFIX still sends archives to the prod prefix', () => {
    const file = savedByVim(
      'prefix-first.env',
      'bomb fileformat=dos',
      'STORAGE_PATH_PREFIX=production\nMIZUAL_HOSTNAME=h\n',
    );
    assert.equal(readFileSync(file)[0], 0xef);
    assert.equal(loadConfig({ envFileFlag: file, env: {} }).env, 'prod');
  });

  it('an empty value counts as not set, and the error names the file', () => {
    const file = savedByVim(
      'empty.env',
      'bomb fileformat=dos',
      'S3_BUCKET_NAME=\nS3_ENDPOINT_URL=http://127.0.0.1:1\n',
    );
    const config = loadConfig({ envFileFlag: file, env: {} });
    assert.throws(
      () => requireS3(config),
      (err: Error) => err.message === `S3_BUCKET_NAME is not set (set it in the environment or ${file})`,
    );
  });
});
