// The store against a real S3 server (Ceph radosgw) seen through a proxy that refuses what B2 refuses.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MizualError } from '../../src/core/errors.js';
import { createStore, type Store } from '../../src/store/client.js';
import { startB2StrictProxy, type B2StrictProxy } from '../harness/b2-strict-proxy.js';
import {
  createTestBucket,
  deleteKey,
  ensureS3,
  listOpenUploads,
  removeTestBucket,
  startGateway,
  stopGateway,
  storeConfigFor,
  type S3TestEnv,
} from '../harness/s3.js';

const MiB = 1024 * 1024;

describe('store against a real S3 server behind the B2-strict proxy', () => {
  let env: S3TestEnv;
  let proxy: B2StrictProxy;
  let bucket: string;
  let versioned: string;
  let store: Store;
  let work: string;
  let bigFile: string;
  let bigSha: string;
  let smallFile: string;

  before(async () => {
    env = await ensureS3();
    proxy = await startB2StrictProxy(env.endpoint);
    bucket = await createTestBucket(env, { tag: 'store' });
    versioned = await createTestBucket(env, { tag: 'store-ver', versioned: true });
    store = await createStore(storeConfigFor(env, bucket, proxy.url));
    work = mkdtempSync(path.join(tmpdir(), 'mizual-store-'));
    const big = randomBytes(20 * MiB);
    bigSha = createHash('sha256').update(big).digest('hex');
    bigFile = path.join(work, 'big.bin');
    writeFileSync(bigFile, big);
    smallFile = path.join(work, 'small.txt');
    writeFileSync(smallFile, 'hello b2\n');
  });

  after(async () => {
    store?.close();
    await proxy?.close();
    if (work) rmSync(work, { recursive: true, force: true });
    if (env && bucket) await removeTestBucket(env, bucket).catch(() => {});
    if (env && versioned) await removeTestBucket(env, versioned).catch(() => {});
  });

  it('uploads a 20 MiB file in parts and a small one, and reports what the server holds', async () => {
    const before = proxy.requests;
    const big = await store.putFile('logs/dev/host/2025-01-23/big.tar.gz', bigFile);
    assert.equal(big.size, 20 * MiB);
    assert.notEqual(big.etag, '', 'the ETag comes from HeadObject, not the empty one of CompleteMultipartUpload');
    // Create + 3 parts (8+8+4 MiB) + complete + head: a multipart upload, not one PutObject.
    assert.ok(proxy.requests - before >= 6, `expected a multipart upload, saw ${proxy.requests - before} requests`);
    const small = await store.putFile('logs/dev/host/2025-01-23/small.txt', smallFile);
    assert.equal(small.size, 9);

    assert.deepEqual(
      { ...(await store.headObject('logs/dev/host/2025-01-23/big.tar.gz')), lastModified: undefined },
      { size: 20 * MiB, etag: big.etag, lastModified: undefined, metadata: {} },
    );
    assert.equal((await store.headObject('logs/dev/host/2025-01-23/small.txt'))?.size, 9);
    assert.equal(await store.headObject('logs/dev/host/2025-01-23/absent'), null);
    assert.deepEqual(await listOpenUploads(env, bucket), [], 'no multipart upload left open');
  });

  it('aborts a multipart upload whose part keeps failing, leaving nothing behind', async () => {
    let partFailures = 0;
    const faulty = await startB2StrictProxy(env.endpoint, {
      intercept: (method, url) => {
        if (method === 'PUT' && /[?&]partNumber=2(&|$)/.test(url)) {
          partFailures++;
          return 500;
        }
        return undefined;
      },
    });
    const fstore = await createStore(storeConfigFor(env, bucket, faulty.url));
    try {
      await assert.rejects(fstore.putFile('aborted/big.bin', bigFile), (err: Error) => {
        assert.ok(err instanceof MizualError);
        assert.match(err.message, /^S3 request failed: InternalError on UploadPart/);
        return true;
      });
      assert.equal(partFailures, 3, 'the part was tried maxAttempts times');
      assert.deepEqual(await listOpenUploads(env, bucket), [], 'the multipart upload was aborted');
      assert.equal(await store.headObject('aborted/big.bin'), null);
      assert.deepEqual(faulty.rejected, []);
    } finally {
      fstore.close();
      await faulty.close();
    }
  });

  it('streams an object back intact', async () => {
    const hash = createHash('sha256');
    for await (const chunk of await store.getObjectStream('logs/dev/host/2025-01-23/big.tar.gz')) hash.update(chunk);
    assert.equal(hash.digest('hex'), bigSha);
    await assert.rejects(store.getObjectStream('logs/none'), /^MizualError: object not found: logs\/none$/);
  });

  it('follows pagination when listing keys and prefixes', async () => {
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((k) => `page/2025-01-0${k.charCodeAt(0) - 96}/${k}.txt`);
    for (const key of keys) await store.putFile(key, smallFile);
    const before = proxy.requests;
    const listed = await store.listKeys('page/', { pageSize: 2 });
    assert.equal(proxy.requests - before, 4, 'seven keys two at a time take four pages');
    assert.deepEqual(
      listed.map((o) => o.key),
      keys,
    );
    for (const o of listed) {
      assert.equal(o.size, 9);
      assert.match(o.etag, /^"[0-9a-f]{32}"$/);
      assert.ok(o.lastModified.getTime() > Date.now() - 10 * 60_000);
    }
    const prefixes = await store.listCommonPrefixes('page/', '/', { pageSize: 3 });
    assert.deepEqual(
      prefixes,
      keys.map((k) => k.slice(0, k.lastIndexOf('/') + 1)),
    );
    assert.deepEqual(await store.listCommonPrefixes('', '/'), ['logs/', 'page/']);

    for (const key of keys.slice(0, 5)) await deleteKey(env, bucket, key);
    assert.deepEqual(
      (await store.listKeys('page/')).map((o) => o.key),
      keys.slice(5),
    );
  });

  it('lists versions and delete markers of a versioned bucket, and deletes them all', async () => {
    const vstore = await createStore(storeConfigFor(env, versioned, proxy.url));
    try {
      await vstore.putFile('v/one.txt', smallFile);
      await vstore.putFile('v/one.txt', bigFile);
      await vstore.putFile('w/other.txt', smallFile);
      await deleteKey(env, versioned, 'v/one.txt');
      assert.equal(await vstore.headObject('v/one.txt'), null, 'a delete marker hides the object');

      const versions = await vstore.listVersions('v/', { pageSize: 1 });
      assert.equal(versions.length, 3);
      assert.deepEqual(versions.map((v) => v.isDeleteMarker).sort(), [false, false, true]);
      assert.deepEqual(
        versions
          .filter((v) => !v.isDeleteMarker)
          .map((v) => v.size)
          .sort((a, b) => a - b),
        [9, 20 * MiB],
      );
      assert.ok(versions.every((v) => v.key === 'v/one.txt' && v.versionId !== '' && v.versionId !== 'null'));
      assert.equal(versions.filter((v) => v.isLatest).length, 1);
      assert.ok(versions.find((v) => v.isLatest)?.isDeleteMarker, 'the delete marker is the latest');

      assert.equal(await vstore.deleteVersions(versions), 3);
      assert.deepEqual(await vstore.listVersions('v/'), []);
      assert.equal((await vstore.listVersions('')).length, 1, 'other prefixes are untouched');
    } finally {
      vstore.close();
    }
  });

  it('a default-configured SDK client is refused by the proxy, as B2 refuses it', async () => {
    // A second proxy, so the main one's record stays about our client only.
    const strict = await startB2StrictProxy(env.endpoint);
    const s3 = await import('@aws-sdk/client-s3');
    const client = new s3.S3Client({
      endpoint: strict.url,
      region: env.region,
      credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
      forcePathStyle: true,
      maxAttempts: 1,
    });
    try {
      await assert.rejects(
        client.send(new s3.PutObjectCommand({ Bucket: bucket, Key: 'default-client.txt', Body: 'x' })),
        (err: { $metadata?: { httpStatusCode?: number }; name?: string }) => {
          assert.equal(err.$metadata?.httpStatusCode, 400);
          assert.equal(err.name, 'InvalidArgument');
          return true;
        },
      );
      assert.equal(strict.rejected.length, 1);
      assert.equal(strict.rejected[0]?.method, 'PUT');
      assert.match(strict.rejected[0]?.path ?? '', new RegExp(`^/${bucket}/default-client\\.txt`));
      assert.match(strict.rejected[0]?.header ?? '', /^x-amz-(checksum-|sdk-checksum-algorithm)/);
      assert.equal(await store.headObject('default-client.txt'), null, 'nothing reached the server');
    } finally {
      client.destroy();
      await strict.close();
    }
  });

  it('a wrong secret fails with one line that carries no secret', async () => {
    const wrongSecret = 'wrong-secret-value-0123456789abcdefghij';
    const bad = await createStore({ ...storeConfigFor(env, bucket, proxy.url), secretAccessKey: wrongSecret });
    try {
      await assert.rejects(bad.listKeys(''), (err: Error) => {
        assert.ok(err instanceof MizualError);
        assert.equal(err.exitCode, 1);
        assert.match(err.message, /^S3 request failed: SignatureDoesNotMatch .*\(check S3_SECRET_ACCESS_KEY\)$/);
        assert.ok(!err.message.includes('\n'));
        assert.ok(!err.message.includes(wrongSecret) && !err.message.includes(env.secretAccessKey));
        return true;
      });
      await assert.rejects(bad.putFile('x.txt', smallFile), /SignatureDoesNotMatch/);
    } finally {
      bad.close();
    }
  });

  it('a missing bucket is named', async () => {
    const missing = await createStore(storeConfigFor(env, 'mizual-no-such-bucket', proxy.url));
    try {
      await assert.rejects(missing.listKeys(''), /^MizualError: bucket not found: mizual-no-such-bucket$/);
      await assert.rejects(missing.headObject('k'), /^MizualError: bucket not found: mizual-no-such-bucket$/);
    } finally {
      missing.close();
    }
  });

  it('an endpoint that went away is reported as not reachable, and works again when it is back', async () => {
    const flaky = await createStore({ ...storeConfigFor(env, bucket, proxy.url), maxAttempts: 1 });
    try {
      await proxy.pause();
      await assert.rejects(
        flaky.headObject('logs/dev/host/2025-01-23/small.txt'),
        new RegExp(`^MizualError: S3 endpoint not reachable: ${proxy.url} \\(ECONNREFUSED\\)$`),
      );
      await proxy.resume();
      assert.equal((await flaky.headObject('logs/dev/host/2025-01-23/small.txt'))?.size, 9);
    } finally {
      flaky.close();
    }
  });

  it('survives the gateway being stopped and started again, data intact', async (t) => {
    if (env.external) {
      t.diagnostic('external endpoint: the gateway is not ours to stop');
      return;
    }
    const flaky = await createStore({ ...storeConfigFor(env, bucket, proxy.url), maxAttempts: 1 });
    try {
      await stopGateway();
      await assert.rejects(flaky.listKeys('logs/'), /^MizualError: S3 endpoint not reachable: /);
      const started = Date.now();
      await startGateway();
      t.diagnostic(`gateway restart took ${Date.now() - started} ms`);
      const keys = (await flaky.listKeys('logs/')).map((o) => o.key);
      assert.deepEqual(keys, ['logs/dev/host/2025-01-23/big.tar.gz', 'logs/dev/host/2025-01-23/small.txt']);
    } finally {
      flaky.close();
    }
  });

  it('our client sent nothing the proxy had to refuse', () => {
    assert.ok(proxy.requests > 20, 'the operations above went through the proxy');
    assert.deepEqual(proxy.rejected, []);
  });
});
