/**
 * `mizual-ship-logs --check`: the whole path a run takes, verified once, one step per line and a
 * verdict. Each step says what it found in words an operator can act on; none prints a secret (only
 * names of settings, the bucket, the endpoint's origin and our own paths appear).
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hostPrefix } from '../archive/contract.js';
import { overridableUrl, requireS3, type Config, type S3Settings } from '../core/config.js';
import { configuredDbUrl, parseDbUrl } from '../db/url.js';
import { describeReached, resolvesHere } from '../docker/compose-hosts.js';
import { defaultsNotFoundAdvice, type EngineLook } from '../docker/watched.js';
import { freeBytes } from '../core/disk-space.js';
import { describeError } from '../core/errors.js';
import { requestUrl } from '../core/http-client.js';
import { readShipState, shipStateFile } from '../core/ship-state.js';
import { formatBytes, formatUptime } from '../core/units.js';
import type { Store } from '../store/client.js';
import { holdSize } from '../docker/held-logs.js';
import { takeHold } from './hold.js';
import { fileSourceProblem } from './plan.js';
import { findContinuation } from './resume.js';

export interface CheckStep {
  step: string;
  ok: boolean;
  detail: string;
}

export interface CheckReport {
  ok: boolean;
  steps: CheckStep[];
}

/** Signatures (SigV4) are refused beyond this difference between the host's clock and the server's. */
const MAX_SKEW_MS = 15 * 60_000;
/** Cron runs every 30 minutes: an upload older than this means runs are failing or not running. */
const MAX_UPLOAD_AGE_MS = 60 * 60_000;
const SETTINGS = ['S3_BUCKET_NAME', 'S3_ENDPOINT_URL', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const;

export interface CheckOptions {
  config: Config;
  nowMs: number;
  /** The process environment, to say where each setting came from. */
  env: NodeJS.ProcessEnv;
  /** Builds the store (lazily loads the SDK). */
  openStore: (s3: S3Settings) => Promise<Store>;
  /** The watched containers and the Compose-name resolver of this run (src/docker/watched.ts). */
  look?: EngineLook;
}

/** Run every step; a step that cannot run because an earlier one failed says so and fails too. */
export async function runShipCheck(options: CheckOptions): Promise<CheckReport> {
  const steps: CheckStep[] = [];
  const add = (step: string, ok: boolean, detail: string): void => void steps.push({ step, ok, detail });
  const { config } = options;

  let s3: S3Settings | undefined;
  try {
    s3 = requireS3(config);
    const fromEnv = SETTINGS.filter((n) => options.env[n]?.trim());
    const where = [
      ...(fromEnv.length < SETTINGS.length && config.envFile ? [config.envFile] : []),
      ...(fromEnv.length ? [`the environment (${fromEnv.join(', ')})`] : []),
    ].join(' and ');
    add(
      'settings',
      true,
      `bucket ${s3.bucket} at ${s3.endpoint} (region ${s3.region}), from ${where}; .env file: ${config.envFile ?? 'none'}`,
    );
  } catch (err) {
    add('settings', false, describeError(err));
  }

  if (s3) await checkRemote(s3, options, add);
  else
    for (const step of ['endpoint', 'clock', 'list', 'write', 'delete', 'versioning'])
      add(step, false, 'not checked: settings missing');

  await checkDocker(config, add);
  if (options.look) await checkWatchAndUrls(config, options.look, add);
  for (const [label, dir] of [
    ['state directory', config.stateDir],
    ['log directory', config.logDir],
  ] as const) {
    add(label, ...(await checkDirectory(dir)));
  }
  add('free space', ...(await checkFreeSpace(config.logDir)));
  add('last upload', ...(await checkLastUpload(config.stateDir, options.nowMs)));
  add('continuation', ...(await checkContinuation(config, s3, options)));
  return { ok: steps.every((s) => s.ok), steps };
}

type Add = (step: string, ok: boolean, detail: string) => void;

async function checkRemote(s3: S3Settings, options: CheckOptions, add: Add): Promise<void> {
  let answered = false;
  try {
    const answer = await requestUrl(s3.endpoint, { timeoutMs: 10_000 });
    answered = true;
    add('endpoint', true, `${s3.endpoint} answered (HTTP ${answer.status}) in ${answer.elapsedMs} ms`);
    const serverMs = answer.date ? Date.parse(answer.date) : NaN;
    if (Number.isNaN(serverMs)) add('clock', false, 'the endpoint sent no Date header to compare with');
    else {
      // The Date header has whole seconds; half the round trip is when it was stamped.
      const skew = Date.now() - answer.elapsedMs / 2 - serverMs;
      const off = `${Math.abs(Math.round(skew / 1000))} s ${skew >= 0 ? 'ahead of' : 'behind'} the server`;
      if (Math.abs(skew) < MAX_SKEW_MS) add('clock', true, `this host is ${off}`);
      else
        add('clock', false, `this host is ${off}; signatures fail beyond 15 minutes: fix the time (timedatectl, NTP)`);
    }
  } catch (err) {
    add('endpoint', false, `${s3.endpoint} did not answer: ${describeError(err)}`);
    add('clock', false, 'not checked: the endpoint did not answer');
  }
  if (!answered) {
    for (const step of ['list', 'write', 'delete', 'versioning'])
      add(step, false, 'not checked: the endpoint did not answer');
    return;
  }
  const store = await options.openStore(s3);
  try {
    const prefix = hostPrefix(options.config.env, options.config.hostname);
    try {
      const days = await store.listCommonPrefixes(prefix);
      add('list', true, `${prefix}: ${days.length} day(s) of archives`);
    } catch (err) {
      add('list', false, `${prefix}: ${describeError(err)}`);
    }
    await probeWriteDelete(store, prefix, add);
    try {
      const status = await store.versioning();
      const note =
        status === 'Enabled'
          ? 'every overwrite and delete keeps a version; --prune removes them by version id'
          : 'deleted archives are gone at once';
      add('versioning', true, `${status}: ${note}`);
    } catch (err) {
      add('versioning', false, describeError(err));
    }
  } finally {
    store.close();
  }
}

/** Write a small probe object under our own prefix, then remove it and every version of it. */
async function probeWriteDelete(store: Store, prefix: string, add: Add): Promise<void> {
  const key = `${prefix}mizual-check-${Date.now()}-${randomBytes(4).toString('hex')}.txt`;
  const dir = await fsp.mkdtemp(path.join(tmpdir(), 'mizual-check-'));
  const file = path.join(dir, 'probe.txt');
  let written = false;
  try {
    await fsp.writeFile(file, 'mizual-ship-logs --check probe; safe to delete\n', { mode: 0o600 });
    await store.putFile(key, file);
    written = true;
    add('write', true, `wrote ${key}`);
  } catch (err) {
    add('write', false, `${key}: ${describeError(err)}`);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
  if (!written) {
    add('delete', false, 'not checked: the probe could not be written');
    return;
  }
  try {
    const versions = (await store.listVersions(key)).filter((v) => v.key === key);
    await store.deleteVersions(versions.map((v) => ({ key, versionId: v.versionId })));
    const left = (await store.listVersions(key)).filter((v) => v.key === key);
    if (left.length === 0) add('delete', true, `removed the probe and its ${versions.length} version(s)`);
    else add('delete', false, `${left.length} version(s) of ${key} are still there`);
  } catch (err) {
    add('delete', false, `${key}: ${describeError(err)} (remove it by hand)`);
  }
}

async function checkDocker(config: Config, add: Add): Promise<void> {
  const { createDockerClient } = await import('../docker/client.js');
  const docker = createDockerClient({ host: config.dockerHost });
  try {
    const { apiVersion } = await docker.ping();
    add('docker', true, `engine answers (API ${apiVersion ?? 'version unknown'})`);
    for (const spec of config.containers) {
      try {
        const details = await docker.inspectContainer(spec.name);
        const why = await fileSourceProblem(docker, details);
        const source = why === null ? 'read from its log files' : `read through the Engine API: ${why}`;
        add(`container ${spec.short}`, true, `${spec.name} ${details.state}, ${source}`);
      } catch (err) {
        add(`container ${spec.short}`, false, `${spec.name}: ${describeError(err)}`);
      }
    }
    // The hold is what every run takes first; taking it here proves the links work (EXDEV, a full disk).
    if (docker.local) {
      const hold = await takeHold(docker, config);
      if (hold.problem) add('hold', false, hold.problem);
      else if (hold.dir) {
        const size = await holdSize(hold.dir);
        add('hold', true, `${hold.dir}: ${size.containers} container(s), ${formatBytes(size.bytes)} held`);
      }
    }
  } catch (err) {
    add('docker', false, describeError(err));
    for (const spec of config.containers) add(`container ${spec.short}`, false, 'not checked: Docker not reachable');
  } finally {
    docker.close();
  }
}

/**
 * How the containers were chosen (defaults not found), and where each URL of the settings is reached.
 * The URLs are the other tools' (shipping needs none of them): their steps inform and never fail.
 */
async function checkWatchAndUrls(config: Config, look: EngineLook, add: Add): Promise<void> {
  const { watched } = look;
  if (!watched.explicit) {
    const names = watched.containers.map((c) => c.short).join(', ') || 'none';
    add('containers', true, `MIZUAL_CONTAINERS unset: watching ${names}`);
    if (watched.defaultsNotFound.length > 0) add('defaults', true, defaultsNotFoundAdvice(watched.defaultsNotFound));
  }
  for (const u of urlSettings(config)) {
    if ('off' in u) {
      add(`url ${u.setting}`, true, u.off);
      continue;
    }
    try {
      const to = await look.hosts.dial(u.host, u.port);
      const detail = to.container
        ? describeReached({ host: u.host, port: u.port, container: to.container, address: `${to.host}:${to.port}` })
        : (await resolvesHere(u.host))
          ? `${u.host}:${u.port} resolves on this host`
          : `${u.host} does not resolve on this host and is no running container or Compose service here`;
      add(`url ${u.setting}`, true, detail);
    } catch (err) {
      add(`url ${u.setting}`, true, describeError(err));
    }
  }
}

/** The hosts the settings' URLs name (never their credentials): database, broker, health, probes, app metrics. */
function urlSettings(
  config: Config,
): ({ setting: string; host: string; port: number } | { setting: string; off: string })[] {
  const found: ({ setting: string; host: string; port: number } | { setting: string; off: string })[] = [];
  const db = configuredDbUrl(config.lookup, config.isSet);
  if (!db && config.isSet('MIZUAL_DATABASE_URL'))
    found.push({ setting: 'MIZUAL_DATABASE_URL', off: 'off: no connection' });
  if (db) {
    try {
      const t = parseDbUrl(db.url, db.variable);
      if (!t.host.startsWith('/')) found.push({ setting: db.variable, host: t.host, port: t.port });
    } catch (err) {
      found.push({ setting: db.variable, off: describeError(err) });
    }
  }
  const broker = overridableUrl(config, 'MIZUAL_CELERY_BROKER_URL', 'CELERY_BROKER_URL');
  if (!broker && config.isSet('MIZUAL_CELERY_BROKER_URL')) {
    found.push({ setting: 'MIZUAL_CELERY_BROKER_URL', off: 'off: no connection' });
  }
  const web: { setting: string; url: string }[] = [];
  if (broker) web.push({ setting: broker.variable, url: broker.url });
  if (config.healthUrl) web.push({ setting: 'MIZUAL_HEALTH_URL', url: config.healthUrl });
  for (const variable of ['MIZUAL_PROBES', 'MIZUAL_APP_METRICS'] as const) {
    for (const item of (config.lookup(variable) ?? '').split(',')) {
      const m = /^\s*([^=\s]+)\s*=\s*(\S+)/.exec(item);
      if (m) web.push({ setting: `${variable} ${m[1]}`, url: m[2]! });
    }
  }
  for (const { setting, url } of web) {
    try {
      const u = new URL(url);
      const port = Number(u.port || DEFAULT_PORTS[u.protocol] || 80);
      found.push({ setting, host: u.hostname.replace(/^\[|\]$/g, ''), port });
    } catch {
      found.push({ setting, off: 'not a URL' });
    }
  }
  return found;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'redis:': 6379, 'rediss:': 6379 };

/** The directory is (or can be made) 0700 and writable; files in it are 0600. */
async function checkDirectory(dir: string): Promise<[boolean, string]> {
  const info = await fsp.stat(dir).catch(() => null);
  if (!info) {
    let parent = path.dirname(dir);
    while (!(await fsp.stat(parent).catch(() => null))) parent = path.dirname(parent);
    const writable = await fsp.access(parent, 2).then(
      () => true,
      () => false,
    );
    return writable
      ? [true, `${dir} does not exist yet; the first run creates it (0700)`]
      : [false, `${dir} does not exist and ${parent} is not writable`];
  }
  if (!info.isDirectory()) return [false, `${dir} is not a directory`];
  const problems: string[] = [];
  if ((info.mode & 0o077) !== 0)
    problems.push(`mode ${(info.mode & 0o777).toString(8)} (want 700: logs and state are private)`);
  const probe = path.join(dir, `.mizual-check-${process.pid}`);
  try {
    await fsp.writeFile(probe, '', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    problems.push(`not writable: ${describeError(err)}`);
  } finally {
    await fsp.rm(probe, { force: true });
  }
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
    const file = await fsp.lstat(path.join(dir, name)).catch(() => null);
    if (file?.isFile() && (file.mode & 0o077) !== 0) {
      problems.push(`${name} is mode ${(file.mode & 0o777).toString(8)} (want 600)`);
      break;
    }
  }
  return problems.length ? [false, `${dir}: ${problems.join('; ')}`] : [true, `${dir} writable, mode 700`];
}

/** Room for twice the largest recent archive: the run spools each log, then writes the archive. */
async function checkFreeSpace(logDir: string): Promise<[boolean, string]> {
  let largest = 0;
  for (const name of await fsp.readdir(logDir).catch(() => [] as string[])) {
    if (!/^logs-\d{8}_\d{6}\.tar\.gz$/.test(name)) continue;
    const info = await fsp.stat(path.join(logDir, name)).catch(() => null);
    if (info) largest = Math.max(largest, info.size);
  }
  let dir = logDir;
  while (!(await fsp.stat(dir).catch(() => null))) dir = path.dirname(dir);
  const free = await freeBytes(dir);
  if (free === undefined) return [false, `cannot tell the free space of ${dir}`];
  if (largest === 0) return [true, `${formatBytes(free)} free in ${dir}; no archive yet to size against`];
  const needed = 2 * largest;
  const text = `${formatBytes(free)} free in ${dir}, the largest recent archive is ${formatBytes(largest)}`;
  return free >= needed ? [true, text] : [false, `${text}: a run needs about ${formatBytes(needed)}`];
}

async function checkLastUpload(stateDir: string, nowMs: number): Promise<[boolean, string]> {
  let state;
  try {
    state = await readShipState(stateDir);
  } catch (err) {
    return [false, describeError(err)];
  }
  const waiting = state.pending.length ? `; ${state.pending.length} archive(s) wait for upload` : '';
  if (!state.lastUploadAt) {
    return state.pending.length
      ? [false, `never uploaded${waiting}`]
      : [true, 'no upload yet (mizual-ship-logs has not uploaded from here)'];
  }
  const age = nowMs - Date.parse(state.lastUploadAt);
  const text = `${state.lastUploadAt} (${age < 60_000 ? 'under a minute' : formatUptime(age / 1000)} ago)${waiting}`;
  return age <= MAX_UPLOAD_AGE_MS ? [true, text] : [false, `${text}: runs are failing or cron does not run them`];
}

/** Where the next run starts: the local state, or with none this host's newest archive in the bucket. */
async function checkContinuation(
  config: Config,
  s3: S3Settings | undefined,
  options: CheckOptions,
): Promise<[boolean, string]> {
  const file = shipStateFile(config.stateDir);
  if (
    await fsp.access(file).then(
      () => true,
      () => false,
    )
  )
    return [true, `local state in ${file}`];
  if (!s3) return [false, 'no local state, and no bucket settings to continue from'];
  let store: Store | undefined;
  try {
    store = await options.openStore(s3);
    const found = await findContinuation(store, config.env, config.hostname);
    return found
      ? [true, `no local state; the next run continues from ${found.key} (window end ${found.end})`]
      : [true, 'no local state and no archive of this host in the bucket: the next run starts from the last --window'];
  } catch (err) {
    return [false, `no local state, and the bucket could not be read to continue from it: ${describeError(err)}`];
  } finally {
    store?.close();
  }
}

/** One line per step (`ok` / `FAIL`), then the verdict. */
export function renderCheck(report: CheckReport): string {
  const lines = report.steps.map((s) => `${s.ok ? 'ok  ' : 'FAIL'}  ${s.step}: ${s.detail}`);
  const failed = report.steps.filter((s) => !s.ok);
  lines.push(
    failed.length === 0
      ? `verdict: all ${report.steps.length} checks passed`
      : `verdict: ${failed.length} of ${report.steps.length} checks failed (${failed.map((s) => s.step).join(', ')})`,
  );
  return lines.join('\n');
}
