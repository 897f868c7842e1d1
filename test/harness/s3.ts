// Test access to a real S3 server: the local Ceph radosgw that s3-up.sh starts, or an external
// endpoint named by MIZUAL_TEST_S3_ENDPOINT (+ keys). Tests FAIL when neither can be had; none skips.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type StoreConfig } from '../../src/store/client.js';

const run = promisify(execFile);
const HARNESS_DIR = path.dirname(fileURLToPath(import.meta.url));

export interface S3TestEnv {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** True when the user supplied the endpoint: nothing may be stopped or started. */
  external: boolean;
}

export function testStateDir(): string {
  return process.env.MIZUAL_TEST_STATE || '/tmp/mizual-test';
}

function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

async function runUpScript(): Promise<void> {
  try {
    await run('bash', [path.join(HARNESS_DIR, 's3-up.sh')], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`s3-up.sh failed, no S3 server for the e2e tests:\n${e.stderr || e.message}`);
  }
}

/** Make sure an S3 server answers (starting the local one if needed) and return how to reach it. */
export async function ensureS3(): Promise<S3TestEnv> {
  await runUpScript();
  const vars = readEnvFile(path.join(testStateDir(), 's3.env'));
  const need = (name: string): string => {
    const value = vars[name];
    if (!value) throw new Error(`s3.env lacks ${name}`);
    return value;
  };
  return {
    endpoint: need('MIZUAL_TEST_S3_ENDPOINT'),
    accessKeyId: need('MIZUAL_TEST_S3_ACCESS_KEY_ID'),
    secretAccessKey: need('MIZUAL_TEST_S3_SECRET_ACCESS_KEY'),
    region: need('MIZUAL_TEST_S3_REGION'),
    external: vars.MIZUAL_TEST_S3_EXTERNAL === '1',
  };
}

function assertLocal(): void {
  const vars = readEnvFile(path.join(testStateDir(), 's3.env'));
  if (vars.MIZUAL_TEST_S3_EXTERNAL !== '0')
    throw new Error('the S3 endpoint is external: it cannot be stopped or started');
}

function gatewayPid(): number {
  const file = path.join(testStateDir(), 'ceph', 'rgw.pid');
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`bad pid in ${file}`);
  return pid;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stop the local radosgw (the mon and OSD keep running and keep the data) to simulate B2 being down.
 * It is shared by every test file: where tests run in parallel, prefer the proxy's pause()/resume().
 */
export async function stopGateway(): Promise<void> {
  assertLocal();
  const pid = gatewayPid();
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 20 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

/** Start the local radosgw again after stopGateway() and wait until it answers. */
export async function startGateway(): Promise<void> {
  assertLocal();
  await runUpScript();
}

/** A bucket name unique to this run (S3 rules: lower case, digits, dashes, 3-63 chars). */
export function uniqueBucketName(tag: string): string {
  const clean = tag
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 30);
  return `mizual-${clean}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** The StoreConfig for a bucket, optionally through another endpoint (the B2-strict proxy). */
export function storeConfigFor(env: S3TestEnv, bucket: string, endpoint: string = env.endpoint): StoreConfig {
  return {
    endpoint,
    region: env.region,
    accessKeyId: env.accessKeyId,
    secretAccessKey: env.secretAccessKey,
    bucket,
  };
}

/** The S3_* variables that point our executables at a bucket, optionally through another endpoint (the proxy). */
export function toolEnvFor(env: S3TestEnv, bucket: string, endpoint: string = env.endpoint): Record<string, string> {
  return {
    S3_BUCKET_NAME: bucket,
    S3_ENDPOINT_URL: endpoint,
    S3_ACCESS_KEY_ID: env.accessKeyId,
    S3_SECRET_ACCESS_KEY: env.secretAccessKey,
  };
}

async function adminClient(env: S3TestEnv) {
  // Test code may use the SDK directly; the product goes through src/store/client.ts only.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const s3 = await import('@aws-sdk/client-s3');
  const client = new s3.S3Client({
    endpoint: env.endpoint,
    region: env.region,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return { s3, client };
}

/** Create a fresh bucket (directly on the server, not through the proxy); returns its name. */
export async function createTestBucket(
  env: S3TestEnv,
  options: { tag?: string; versioned?: boolean } = {},
): Promise<string> {
  const name = uniqueBucketName(options.tag ?? 'test');
  const { s3, client } = await adminClient(env);
  try {
    await client.send(new s3.CreateBucketCommand({ Bucket: name }));
    if (options.versioned) {
      await client.send(
        new s3.PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }),
      );
    }
  } finally {
    client.destroy();
  }
  return name;
}

/** Delete a key without a version id: in a versioned bucket, a delete marker then hides it. */
export async function deleteKey(env: S3TestEnv, bucket: string, key: string): Promise<void> {
  const { s3, client } = await adminClient(env);
  try {
    await client.send(new s3.DeleteObjectCommand({ Bucket: bucket, Key: key }));
  } finally {
    client.destroy();
  }
}

/** Delete every version, delete marker and unfinished upload of a bucket, then the bucket. */
export async function removeTestBucket(env: S3TestEnv, name: string): Promise<void> {
  const { s3, client } = await adminClient(env);
  try {
    for (;;) {
      const page = await client.send(new s3.ListObjectVersionsCommand({ Bucket: name }));
      const refs = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])];
      if (refs.length === 0) break;
      for (const ref of refs) {
        await client.send(new s3.DeleteObjectCommand({ Bucket: name, Key: ref.Key, VersionId: ref.VersionId }));
      }
    }
    const uploads = await client.send(new s3.ListMultipartUploadsCommand({ Bucket: name }));
    for (const u of uploads.Uploads ?? []) {
      await client.send(new s3.AbortMultipartUploadCommand({ Bucket: name, Key: u.Key, UploadId: u.UploadId }));
    }
    await client.send(new s3.DeleteBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
}

/** Uploads begun but neither completed nor aborted (a failed multipart upload must leave none). */
export async function listOpenUploads(env: S3TestEnv, bucket: string): Promise<string[]> {
  const { s3, client } = await adminClient(env);
  try {
    const out = await client.send(new s3.ListMultipartUploadsCommand({ Bucket: bucket }));
    return (out.Uploads ?? []).map((u) => u.Key ?? '');
  } finally {
    client.destroy();
  }
}

/** Begin a multipart upload of `key` and send one 5 MiB part, as a run killed mid-upload leaves it; returns its UploadId. */
export async function beginUpload(env: S3TestEnv, bucket: string, key: string): Promise<string> {
  const { s3, client } = await adminClient(env);
  try {
    const out = await client.send(new s3.CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const uploadId = out.UploadId ?? '';
    await client.send(
      new s3.UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: 1,
        Body: Buffer.alloc(5 << 20),
      }),
    );
    return uploadId;
  } finally {
    client.destroy();
  }
}
