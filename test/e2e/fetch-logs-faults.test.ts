// mizual-fetch-logs against faults, through the fault proxy in front of the B2-strict proxy in front of
// the real gateway: a full disk under --out (a real 64 KiB tmpfs) is said in words, a permanent 403 is
// asked once, a 503 and a reset mid-answer are retried until the archive is whole.
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type FaultRequest } from '../harness/fault-proxy.js';
import { toolEnvFor } from '../harness/s3.js';
import { useBucket } from '../harness/bucket.js';
import { runTool, scratchDir } from '../helpers/cli.js';
import { dockerTime, makeShipArchive } from '../helpers/make-archive.js';

const scratch = scratchDir('mizual-fetch-faults-');
const mounts: string[] = [];
const fx = useBucket('fetch-faults');
const HOST = 'faulty-1';
const KEY = `logs/dev/${HOST}/2025-01-23/logs-20250123_003000.tar.gz`;
let archive: Buffer;

before(async () => {
  await fx.ready;
  // Incompressible lines, so the archive is larger than the 64 KiB disk.
  const start = new Date('2025-01-23T00:00:00Z');
  const lines = Array.from(
    { length: 80 },
    (_, i) => `${dockerTime(start, i * 1000)} ${randomBytes(3000).toString('base64')}`,
  );
  const made = makeShipArchive({
    env: 'dev',
    host: HOST,
    start,
    end: new Date('2025-01-23T00:30:00Z'),
    containers: [{ short: 'backend', lines }],
  });
  archive = made.data;
  const file = path.join(scratch.dir, made.name);
  writeFileSync(file, archive);
  await fx.store.putFile(KEY, file);
});
after(async () => {
  for (const m of mounts) await execa('umount', [m], { reject: false });
  scratch.cleanup();
});

const isObjectGet = (r: FaultRequest): boolean => r.method === 'GET' && r.path.includes(KEY);
const fetchLogs = (endpoint: string, out: string) =>
  runTool('mizual-fetch-logs', ['--env', 'dev', '--date', '2025-01-23', '--out', out], {
    env: { ...toolEnvFor(fx.s3, fx.bucket, endpoint), MIZUAL_ENV_FILE: '' },
    cwd: scratch.dir,
  });

describe('mizual-fetch-logs faults', () => {
  it('a full disk under --out says what it was writing, where, how much it needed and had', async () => {
    const out = path.join(scratch.dir, 'small');
    mkdirSync(out);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', out]);
    mounts.push(out);
    const result = await fetchLogs(fx.strict.url, out);
    assert.equal(result.exitCode, 1);
    const dir = path.join(out, 'dev', HOST, '2025-01-23');
    assert.match(
      result.stderr,
      new RegExp(
        `download of ${KEY} failed: no space left writing logs-20250123_003000\\.tar\\.gz to ${dir}: it needs \\d+ KiB, \\d+ (B|KiB) free; free some space or choose another --out`,
      ),
    );
    assert.ok(!result.stderr.includes('ENOSPC: no space left on device, write'));
  });

  it('a permanent 403 on the download is asked once', async () => {
    const refusing = await fx.faultProxy((r) =>
      isObjectGet(r) ? { kind: 'error', status: 403, code: 'AccessDenied' } : undefined,
    );
    const result = await fetchLogs(refusing.url, path.join(scratch.dir, 'out-403'));
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /AccessDenied on GetObject \(check the key's permissions on the bucket\)/);
    assert.equal(refusing.log.filter(isObjectGet).length, 1);
  });

  it('a 503 and a reset in the middle of the body are retried until the archive is whole', async () => {
    let gets = 0;
    const flaky = await fx.faultProxy((r) => {
      if (!isObjectGet(r)) return undefined;
      gets++;
      if (gets === 1) return { kind: 'error', status: 503, code: 'ServiceUnavailable' };
      if (gets === 2) return { kind: 'reset-mid-answer', afterBytes: 10_000 };
      return undefined;
    });
    const out = path.join(scratch.dir, 'out-flaky');
    const result = await fetchLogs(flaky.url, out);
    assert.equal(result.exitCode, 0, result.stderr);
    const file = path.join(out, 'dev', HOST, '2025-01-23', 'logs-20250123_003000.tar.gz');
    assert.ok(existsSync(file));
    assert.ok(readFileSync(file).equals(archive));
    assert.ok(flaky.log.filter(isObjectGet).length >= 3);
  });
});
