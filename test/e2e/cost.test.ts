/**
 * What the logs cost, end to end: three real containers write known volumes over ten simulated days
 * (the shipper runs under Debian's faketime, archiving locally; a last run at the real time uploads
 * them all to the real gateway), a second host ships apart, and an archive of the old scripts sits in
 * the bucket. `mizual-fetch-logs --usage --json` must agree with what was uploaded, measured here
 * independently: each archive downloaded and its gzip members walked to find every entry's compressed
 * bytes. A container writing a known mix (60% of its bytes health-check access lines) shows that shape.
 */
import { execa } from 'execa';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import type { UsageReport } from '../../src/fetch/usage.js';
import { useBucket } from '../harness/bucket.js';
import { startContainer, uniqueName } from '../harness/docker.js';
import { buildTarGz } from '../helpers/make-archive.js';
import { ROOT, runTool, scratchDir, testHoldDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-cost-');
after(scratch.cleanup);
const fx = useBucket('cost', { docker: true });

const DAY_MS = 86_400_000;
const DAYS = 10;
const RETENTION = 30;
/** Raw bytes each container writes per simulated day: random base64, so compression is realistic. */
const VOLUMES = { backend: 240_000, celery: 120_000, registry: 40_000 };

/** Pipe `data` into a running container's own stdout: its json-file log gets exactly these lines. */
async function writeToLog(container: string, data: Buffer): Promise<void> {
  const result = await execa('docker', ['exec', '-i', container, 'sh', '-c', 'cat > /proc/1/fd/1'], {
    input: data,
    reject: false,
    timeout: 60_000,
  });
  assert.equal(result.exitCode, 0, String(result.stderr));
}

/** `bytes` of base64 lines (76 characters each, as base64 wraps), random. */
function randomLines(bytes: number): Buffer {
  const text = randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < text.length && lines.length * 77 < bytes; i += 76) lines.push(text.slice(i, i + 76));
  return Buffer.from(`${lines.join('\n')}\n`);
}

let envNo = 0;
function shipEnv(containers: string, host: string): Record<string, string> {
  const base = path.join(scratch.dir, `ship${++envNo}`);
  mkdirSync(base, { recursive: true });
  return {
    ...fx.toolEnv(),
    MIZUAL_CONTAINERS: containers,
    MIZUAL_LOG_DIR: path.join(base, 'logs'),
    MIZUAL_STATE_DIR: path.join(base, 'state'),
    MIZUAL_ALERT_LOG: path.join(base, 'alerts.log'),
    MIZUAL_HOSTNAME: host,
    MIZUAL_RETENTION_DAYS: String(RETENTION),
    STORAGE_PATH_PREFIX: 'production',
    MIZUAL_HOLD_DIR: testHoldDir(),
  };
}

/** One shipper run at a fake time (archived locally: a request signed with a fake clock is refused). */
async function shipAt(env: Record<string, string>, at: Date): Promise<void> {
  const stamp = at.toISOString().slice(0, 19).replace('T', ' ');
  const run = await execa(
    'faketime',
    [stamp, process.execPath, path.join(ROOT, 'bin', 'mizual-ship-logs.js'), '--no-upload', '--window', '2d'],
    {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env, TZ: 'UTC' },
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    },
  );
  assert.equal(run.exitCode, 0, `${stamp}: ${String(run.stderr)}`);
}

/** The compressed bytes of each tar entry of one of our archives, walking its gzip members. */
function entryBytesOf(archive: Buffer): Map<string, number> {
  const out = new Map<string, number>();
  let offset = 0;
  let current = '(none)';
  while (offset < archive.length) {
    assert.equal(archive[offset], 0x1f, 'gzip member');
    assert.equal(archive[offset + 3], 0, 'no optional gzip header fields');
    const start = offset;
    const { buffer, engine } = inflateRawSync(archive.subarray(offset + 10), { info: true }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    offset += 10 + engine.bytesWritten + 8;
    // A member starting with a ustar header names the entry the next members belong to.
    if (buffer.length >= 512 && buffer.subarray(257, 262).toString('latin1') === 'ustar') {
      current = buffer.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    }
    out.set(current, (out.get(current) ?? 0) + offset - start);
  }
  return out;
}

interface Uploaded {
  key: string;
  end: number;
  size: number;
  entries: Map<string, number>;
}

/** Every archive of a host prefix, downloaded, with its time and its entries' compressed bytes. */
async function uploadedArchives(prefix: string): Promise<Uploaded[]> {
  const out: Uploaded[] = [];
  for (const info of await fx.store.listKeys(prefix)) {
    const m = /logs-(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})\.tar\.gz$/.exec(info.key);
    assert.ok(m, info.key);
    const chunks: Buffer[] = [];
    for await (const chunk of await fx.store.getObjectStream(info.key)) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as number[];
    out.push({
      key: info.key,
      end: Date.UTC(y as number, (mo as number) - 1, d, h, mi, s),
      size: body.length,
      entries: entryBytesOf(body),
    });
  }
  return out;
}

/** The short name an entry's bytes belong to (`backend-20261201_120000.log` → backend). */
function labelOf(entry: string): string {
  if (entry.startsWith('alerts-')) return 'alerts';
  const m = /^([A-Za-z0-9._-]+?)-\d{8}_\d{6}\.log$/.exec(entry);
  return m ? (m[1] as string) : '(archive)';
}

const within = (actual: number, expected: number, tolerance: number, what: string): void => {
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.abs(expected),
    `${what}: ${actual} is not within ${tolerance * 100}% of ${expected}`,
  );
};

let usage: UsageReport;
const HOST = 'cost-a';
const OTHER = 'cost-b';
const OLD_KEY_DATE = new Date(Date.now() - 3 * DAY_MS);

describe('mizual-fetch-logs --usage: what the logs cost, per host and container', () => {
  const names = {
    backend: uniqueName('cost-backend'),
    celery: uniqueName('cost-celery'),
    registry: uniqueName('cost-reg'),
  };
  let oldArchiveBytes = 0;
  let oldKey = '';

  before(async () => {
    await fx.ready;
    for (const name of Object.values(names)) await startContainer(name, 'trap "exit 0" TERM; sleep 100000 & wait');
    const containers = Object.entries(names)
      .map(([short, name]) => `${short}=${name}`)
      .join(',');
    const env = shipEnv(containers, HOST);
    const other = shipEnv(`backend=${names.backend}`, OTHER);
    // Day i at 12:00 UTC, the last one yesterday: each day the containers write, then the shipper runs.
    const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
    for (let day = DAYS; day >= 1; day--) {
      for (const [short, bytes] of Object.entries(VOLUMES)) {
        await writeToLog(names[short as keyof typeof names], randomLines(bytes));
      }
      await shipAt(env, new Date(today - day * DAY_MS + 12 * 3_600_000));
      // The second host ships the backend's lines of the last two days only (its own state and prefix).
      if (day <= 2) await shipAt(other, new Date(today - day * DAY_MS + 12 * 3_600_000 + 60_000));
    }
    // One run at the real time uploads every archive waiting, with its record.
    for (const e of [env, other]) {
      const up = await runTool('mizual-ship-logs', [], { env: e });
      assert.equal(up.exitCode, 0, up.stderr);
    }
    // An archive of the old scripts: no manifest, no record.
    const stamp = OLD_KEY_DATE.toISOString().slice(0, 10);
    oldKey = `logs/prod/${HOST}/${stamp}/logs-${stamp.replace(/-/g, '')}_030000.tar.gz`;
    const old = buildTarGz([{ name: './backend-x.log', data: randomLines(50_000) }]);
    oldArchiveBytes = old.length;
    const file = path.join(scratch.dir, 'old.tar.gz');
    writeFileSync(file, old);
    await fx.store.putFile(oldKey, file);
    const result = await runTool('mizual-fetch-logs', ['--usage', '--json', '--env', 'prod'], {
      env: { ...fx.toolEnv(), MIZUAL_RETENTION_DAYS: String(RETENTION) },
      cwd: scratch.dir,
    });
    assert.equal(result.exitCode, 0, result.stderr);
    usage = JSON.parse(result.stdout) as UsageReport;
  });

  it('per container: bytes and shares within 2% of what was uploaded; the old archive is `unknown`', async () => {
    const archives = await uploadedArchives(`logs/prod/${HOST}/`);
    assert.equal(archives.length, DAYS + 2, 'ten simulated days, the real-time run, the old archive');
    const host = usage.hosts.find((h) => h.host === HOST);
    assert.ok(host, JSON.stringify(usage.hosts.map((h) => h.host)));
    const total = archives.reduce((n, a) => n + a.size, 0);
    assert.equal(host.bytes, total, 'every byte stored under the host');
    // Expected: each entry's compressed bytes, the archive's own overhead (manifest, end blocks) shared
    // by size between its entries; the old archive's bytes all `unknown`.
    const expected = new Map<string, number>();
    for (const a of archives) {
      if (a.key === oldKey) {
        expected.set('unknown', a.size);
        continue;
      }
      const logs = [...a.entries].filter(([name]) => labelOf(name) !== '(archive)');
      const sum = logs.reduce((n, [, b]) => n + b, 0);
      for (const [name, b] of logs) {
        expected.set(labelOf(name), (expected.get(labelOf(name)) ?? 0) + (a.size * b) / sum);
      }
    }
    assert.equal(expected.get('unknown'), oldArchiveBytes);
    for (const short of ['backend', 'celery', 'registry', 'unknown']) {
      const c = host.containers.find((x) => x.name === short);
      assert.ok(c, `${short} in ${JSON.stringify(host.containers)}`);
      within(c.bytes, expected.get(short) as number, 0.02, `${short} bytes`);
      within(c.share, (expected.get(short) as number) / total, 0.02, `${short} share`);
    }
    // The raw volumes were 6:3:1; random base64 compresses alike, so the shares keep that order.
    const share = (n: string): number => host.containers.find((c) => c.name === n)?.share ?? 0;
    assert.ok(share('backend') > share('celery') && share('celery') > share('registry'));
  });

  it('the daily rate (7 and 30 days) and the steady state at the retention, within 2%', async () => {
    const archives = await uploadedArchives(`logs/prod/${HOST}/`);
    const host = usage.hosts.find((h) => h.host === HOST);
    assert.ok(host);
    const now = Date.parse(usage.time);
    const inLast = (days: number): number =>
      archives.filter((a) => a.end > now - days * DAY_MS && a.end <= now).reduce((n, a) => n + a.size, 0);
    const oldest = Math.min(...archives.map((a) => a.end));
    const perDay7 = inLast(7) / 7;
    // Thirty days asked, ten stored: the rate is over the time since the first archive.
    const perDay30 = (inLast(30) / (now - oldest)) * DAY_MS;
    within(host.perDay7, perDay7, 0.02, 'perDay7');
    within(host.perDay30, perDay30, 0.02, 'perDay30');
    within(host.steadyStateBytes, perDay7 * RETENTION, 0.02, 'steadyStateBytes');
    assert.equal(usage.retentionDays, RETENTION);
    // Under the free 10 GB: nothing to pay, and the report says which prices it used.
    assert.equal(host.monthlyCost, 0);
    assert.deepEqual(usage.prices, { pricePerTb: 6, freeGb: 10 });
    const backend = host.containers.find((c) => c.name === 'backend');
    assert.ok(backend && backend.perDay7 > 0 && backend.perDay7 < host.perDay7);
  });

  it('a second host is reported apart, with only its own container', async () => {
    const other = usage.hosts.find((h) => h.host === OTHER);
    assert.ok(other);
    assert.deepEqual(other.containers.map((c) => c.name).sort(), ['alerts', 'backend']);
    const archives = await uploadedArchives(`logs/prod/${OTHER}/`);
    assert.equal(archives.length, 3, 'two simulated days and the real-time run');
    assert.equal(
      other.bytes,
      archives.reduce((n, a) => n + a.size, 0),
    );
    const host = usage.hosts.find((h) => h.host === HOST);
    assert.ok(host && host.bytes !== other.bytes);
  });

  it('the steady state costs money past the free 10 GB, at the price given', async () => {
    const result = await runTool('mizual-fetch-logs', ['--usage', '--json', '--host', HOST, '--price-per-tb', '1e9'], {
      env: { ...fx.toolEnv(), MIZUAL_RETENTION_DAYS: '100000' },
      cwd: scratch.dir,
    });
    assert.equal(result.exitCode, 0, result.stderr);
    const report = JSON.parse(result.stdout) as UsageReport;
    const host = report.hosts.find((h) => h.env === 'prod' && h.host === HOST);
    assert.ok(host);
    const expected = (Math.max(0, host.steadyStateBytes - 10e9) / 1e12) * 1e9;
    assert.ok(expected > 0, 'the projection passes the free tier');
    within(host.monthlyCost, expected, 1e-9, 'monthlyCost');
  });
});

describe('mizual-fetch-logs --usage --patterns: which lines cost the most', () => {
  it('a container writing 60% health-check access lines (by bytes) shows that shape at 60% ± 2%', async () => {
    await fx.ready;
    const name = uniqueName('cost-mix');
    await startContainer(name, 'trap "exit 0" TERM; sleep 100000 & wait');
    const health = (i: number): string => `INFO:     127.0.0.1:${40000 + (i % 20000)} - "GET /health HTTP/1.1" 200 OK`;
    const others = [
      (i: number) => `STAGE COMPLETED: edit_id=${i}, stage=render, duration=${(i % 97) / 10}s, worker=${i % 7}`,
      (i: number) => `{"level":"info","msg":"user ${i} saved","request_id":"${randomBytes(16).toString('hex')}"}`,
      (i: number) => `Task src.tasks.render[${crypto.randomUUID()}] succeeded in ${(i % 50) / 7}s: None`,
    ];
    // As shipped, each line carries Docker's timestamp (about 31 bytes): aim at 60% of those bytes.
    const lines: string[] = [];
    let healthBytes = 0;
    let otherBytes = 0;
    for (let i = 0; lines.length < 6000; i++) {
      if (healthBytes <= 1.5 * otherBytes) {
        const line = health(i);
        healthBytes += line.length + 32;
        lines.push(line);
      } else {
        const line = (others[i % others.length] as (i: number) => string)(i);
        otherBytes += line.length + 32;
        lines.push(line);
      }
    }
    await writeToLog(name, Buffer.from(`${lines.join('\n')}\n`));
    const env = shipEnv(`backend=${name}`, 'cost-mix');
    const shipped = await runTool('mizual-ship-logs', ['--window', '1h', '--json'], {
      env,
    });
    assert.equal(shipped.exitCode, 0, shipped.stderr);
    // Ground truth: the shipped entry itself, line by line.
    const archives = await uploadedArchives('logs/prod/cost-mix/');
    assert.equal(archives.length, 1);
    const { readTarGz } = await import('./ship-logs-helpers.js');
    const chunks: Buffer[] = [];
    for await (const c of await fx.store.getObjectStream(archives[0]?.key as string)) chunks.push(c as Buffer);
    const entry = readTarGz(Buffer.concat(chunks)).find((e) => e.name.startsWith('backend-'));
    assert.ok(entry);
    const shippedLines = entry.data.toString('utf8').split('\n').slice(0, -1);
    assert.equal(shippedLines.length, lines.length, 'every line shipped');
    const bytesOf = (l: string): number => Buffer.byteLength(l) + 1;
    const truth =
      shippedLines.filter((l) => l.includes('GET /health')).reduce((n, l) => n + bytesOf(l), 0) /
      shippedLines.reduce((n, l) => n + bytesOf(l), 0);
    within(truth, 0.6, 0.02, 'the mix as shipped');

    const result = await runTool('mizual-fetch-logs', ['--usage', '--patterns', '--json', '--host', 'cost-mix'], {
      env: fx.toolEnv(),
      cwd: scratch.dir,
    });
    assert.equal(result.exitCode, 0, result.stderr);
    const report = JSON.parse(result.stdout) as UsageReport;
    const rows = (report.patterns ?? []).filter((p) => p.host === 'cost-mix' && p.container === 'backend');
    const top = rows[0];
    assert.ok(top, result.stdout);
    assert.equal(top.shape, 'INFO:     <n>.<n>.<n>.<n>:<n> - "GET /health HTTP/<n>.<n>" <n> OK');
    assert.ok(Math.abs(top.share - 0.6) <= 0.02, `share ${top.share}`);
    assert.ok(Math.abs(top.share - truth) < 1e-9, `share ${top.share} against ${truth}`);
    assert.equal(top.lines, shippedLines.filter((l) => l.includes('GET /health')).length);
    assert.equal(
      top.bytes,
      shippedLines.filter((l) => l.includes('GET /health')).reduce((n, l) => n + bytesOf(l), 0),
    );
    // The JSON lines differ only in masked values: one shape.
    assert.ok(
      rows.some((p) => p.shape === '{"level":"<s>","msg":"<s>","request_id":"<s>"}'),
      JSON.stringify(rows),
    );
    // The human report names the container and the shape.
    const text = await runTool('mizual-fetch-logs', ['--usage', '--patterns', '--host', 'cost-mix'], {
      env: fx.toolEnv(),
      cwd: scratch.dir,
    });
    assert.match(text.stdout, /cost-mix backend 60\.\d% \(.* a month, \d+ lines\): INFO: {5}<n>/);
  });
});
