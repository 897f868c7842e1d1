/**
 * One mizual-ship-logs run, from explicit options: recover what a crashed run left, export every
 * container's window and the new alert lines into one archive, commit it (archive fsync'd, then the
 * checkpoint, then the final name), upload whatever waits, and apply local retention. Never prints.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { shipAlertLines, pendingAlertBytes } from './alert-lines.js';
import { compressedEntryBytes, writeArchive, type ArchiveEntry } from '../archive/write.js';
import { ShapeCounter } from './shapes.js';
import { archiveMetadata, recordArchive, recordSelf, settleArchive, uploadPatterns } from './usage-record.js';
import { mapLimit } from '../core/concurrency.js';
import type { Config, S3Settings } from '../core/config.js';
import { type Store } from '../store/client.js';
import { errorName } from '../store/errors.js';
import { sweepStaleUploads } from './stale-uploads.js';
import { createDockerClient, type DockerClient } from '../docker/client.js';
import { describeError, MizualError } from '../core/errors.js';
import {
  alertsEntryName,
  archiveEnd,
  archiveName,
  containerEntryName,
  entryBytesLabel,
  formatDate,
  formatStamp,
  hostPrefix,
  MANIFEST_FORMAT,
  MANIFEST_NAME,
  objectKey,
  retentionCutoff,
  serializeManifest,
  type Manifest,
  type ManifestFile,
  type ManifestGap as Gap,
  type ManifestMissing as Missing,
} from '../archive/contract.js';
import { EntrySpool, type SpooledEntry } from './export.js';
import { holdSize, listHeld, resolveHoldDir, type HeldContainer } from '../docker/held-logs.js';
import { releaseContainer, releaseFiles, releaseUnconfigured, takeHold } from './hold.js';
import { closePlanned, exportPlanned, planContainers, type PartResult, type Planned } from './plan.js';
import { formatNanoTime, msToNano, nanoToDate, truncateToSecond } from '../core/time.js';
import {
  readShipState,
  shipStateFile,
  syncDir,
  writeShipState,
  type ClockSample,
  type ShipState,
} from '../core/ship-state.js';
import { findContinuation, type Continuation } from './resume.js';
import { sampleClock, stepBackNs } from './clock-step.js';
import { ensurePrivateDir } from '../core/state-files.js';
import { VERSION } from '../core/version.js';
import { faultPoint } from '../core/fault-points.js';

/**
 * Containers exported at once: through the API two (each makes dockerd decode its log), from the
 * files four (each gzip stream is a thread of its own: 200 MB took 2.1 s instead of 2.4 s).
 */
const API_EXPORTS = 2;
const FILE_EXPORTS = 4;
/** Small parts, one at a time, from one reused 5 MiB buffer: a cron job on a 2 GB server needs no more. */
const UPLOAD_PARTS = { partSize: 5 * 1024 * 1024, queueSize: 1 };

export interface ShipOptions {
  config: Config;
  windowMs: number;
  nowMs: number;
  dryRun: boolean;
  /** S3 settings, or undefined for `--no-upload`. */
  s3: S3Settings | undefined;
  warn: (line: string) => void;
  /** The clock when the export ends (tests shift it); defaults to nowMs. */
  clockMs?: () => number;
  /** Abort this host's multipart uploads begun longer ago than this (the longest a run can last). */
  staleUploadMs?: number;
}

export interface ShipSummary {
  dryRun: boolean;
  /** With no local state: this host's newest archive in the bucket, continued from. */
  continuedFrom: { key: string; end: string } | null;
  window: { start: string; end: string };
  archive: { name: string; path: string; bytes: number } | null;
  files: ManifestFile[];
  missing: Missing[];
  gaps: Gap[];
  /** The hold of log files not shipped yet (local engine only). */
  hold: { dir: string; containers: number; bytes: number; onlyHeldBytes: number; problem: string | null } | null;
  /** Dry run: the alert log bytes waiting. */
  alertBytes?: number;
  /** Dry run: where the archive would go (the bucket is null when S3_BUCKET_NAME is not set). */
  destination?: { bucket: string | null; key: string };
  uploaded: { name: string; key: string; bytes: number }[];
  pending: string[];
  deleted: string[];
  uploadError: string | null;
}

/** Delete what a crashed run left: spools, and partial archives the state never recorded; returns the state with what is left. */
async function recoverLogDir(logDir: string, state: ShipState, warn: (line: string) => void): Promise<ShipState> {
  const names = await fsp.readdir(logDir);
  for (const file of names) {
    const full = path.join(logDir, file);
    if (file.startsWith('.spool-')) {
      await fsp.rm(full, { force: true });
      continue;
    }
    const partial = /^\.(logs-.*\.tar\.gz)\.partial$/.exec(file);
    if (!partial) continue;
    const name = partial[1] as string;
    if (state.pending.includes(name) && !names.includes(name)) {
      // Crashed between the checkpoint and the rename: the archive is complete and committed.
      await fsp.rename(full, path.join(logDir, name));
      await syncDir(logDir);
    } else {
      await fsp.rm(full, { force: true });
    }
  }
  const present = new Set(await fsp.readdir(logDir));
  const lost = state.pending.filter((name) => !present.has(name));
  for (const name of lost) warn(`pending archive ${name} is no longer in ${logDir}; it cannot be uploaded`);
  return lost.length > 0 ? { ...state, pending: state.pending.filter((name) => present.has(name)) } : state;
}

/** Is an archive name taken in the bucket? False when it cannot be told (the upload checks again). */
type RemoteTaken = (name: string) => Promise<boolean>;

/**
 * HEAD the archive's key in this host's prefix: an object there is never overwritten. `asked` keeps the
 * names asked about (free, or no answer): their upload does not ask again, and a refusing endpoint
 * answers the upload itself, with the error that names its cause.
 */
function remoteChecker(options: ShipOptions, storeReady: Promise<Store> | undefined) {
  const asked = new Set<string>();
  const taken: RemoteTaken = async (name) => {
    const end = archiveEnd(name);
    if (!storeReady || !end) return false;
    try {
      const store = await storeReady;
      const head = await store.headObject(objectKey(options.config.env, options.config.hostname, end));
      if (head === null) asked.add(name);
      return head !== null;
    } catch {
      asked.add(name);
      return false;
    }
  };
  return { taken, asked };
}

/**
 * The archive's name: the first whole second after the export ended, later than any archive before it,
 * and free here and in the bucket (an object of that key, another install's or one from before the
 * clock stepped back, is never overwritten).
 */
async function archiveTarget(
  logDir: string,
  state: ShipState,
  endMs: number,
  taken: RemoteTaken,
): Promise<{ end: bigint; stamp: string; name: string }> {
  // Every line read was stamped before the read ended, so the archive named after that moment holds
  // lines up to its name, as the fetcher's time ranges expect.
  const end = await freeEnd(logDir, state, truncateToSecond(msToNano(endMs)) + 1_000_000_000n, taken);
  return { end, stamp: formatStamp(nanoToDate(end)), name: archiveName(nanoToDate(end)) };
}

/** The first whole second from `end` on whose archive name is free locally and remotely. */
async function freeEnd(logDir: string, state: ShipState, end: bigint, taken: RemoteTaken): Promise<bigint> {
  for (;;) {
    const name = archiveName(nanoToDate(end));
    const used = state.pending.includes(name) || (await exists(path.join(logDir, name))) || (await taken(name));
    if (!used) return end;
    end += 1_000_000_000n;
  }
}

/**
 * The held containers to plan: every one in the hold but those a committed archive already holds
 * (heldShipped), which are let go now, in case a crash came between the commit and their release. Only
 * those actually let go leave heldShipped: one whose release failed stays there, never read again.
 */
async function heldToShip(
  holdDir: string | null,
  state: ShipState,
  dryRun: boolean,
  warn: (line: string) => void,
): Promise<{ held: HeldContainer[]; state: ShipState }> {
  if (!holdDir) return { held: [], state };
  const shipped = new Set(state.heldShipped ?? []);
  const held = await listHeld(holdDir);
  const toShip = held.filter((h) => !shipped.has(h.meta.id));
  if (dryRun || shipped.size === 0) return { held: toShip, state };
  const kept: string[] = [];
  for (const h of held.filter((c) => shipped.has(c.meta.id))) {
    try {
      await releaseContainer(h);
    } catch (err) {
      kept.push(h.meta.id);
      warn(`could not let go of held log files: ${describeError(err)}`);
    }
  }
  return { held: toShip, state: { ...state, heldShipped: kept } };
}

/** Why the bucket could not be read or written: its error code (RequestTimeTooSkewed, AccessDenied, …) and the line. */
interface BucketFailure {
  code: string;
  text: string;
}

function bucketFailure(err: unknown): BucketFailure {
  return {
    code: errorName(err instanceof MizualError && err.cause !== undefined ? err.cause : err),
    text: describeError(err),
  };
}

/**
 * With no local state and a bucket to read: this host's newest archive there, to continue from. A
 * bucket that cannot be read makes the run start from the last --window as a first run does (archiving
 * locally matters more while the bucket is down); why is returned, to be said once with the upload's error.
 */
async function continuation(
  options: ShipOptions,
  storeReady: Promise<Store> | undefined,
): Promise<{ found: Continuation | null; failure?: BucketFailure }> {
  if (!storeReady || (await exists(shipStateFile(options.config.stateDir)))) return { found: null };
  const store = await storeReady;
  const find = () => findContinuation(store, options.config.env, options.config.hostname);
  try {
    return { found: await find() };
  } catch (err) {
    const failure = bucketFailure(err);
    if (!skewCorrected(err)) return { found: null, failure };
    // The SDK takes the server's time from a skew refusal and signs the next request with it.
    try {
      const found = await find();
      options.warn(SKEW_NOTE);
      return { found };
    } catch (again) {
      return { found: null, failure: bucketFailure(again) };
    }
  }
}

/** A RequestTimeTooSkewed refusal whose Date the SDK took as the server's time for the requests after it. */
function skewCorrected(err: unknown): boolean {
  const cause = err instanceof MizualError ? err.cause : err;
  const metadata = (cause as { $metadata?: { clockSkewCorrected?: boolean } } | null)?.$metadata;
  return errorName(cause) === 'RequestTimeTooSkewed' && metadata?.clockSkewCorrected === true;
}

const SKEW_NOTE =
  "this host's clock differs from the bucket's by more than 15 minutes: requests are signed with the bucket's time, but archive names and windows follow this host's time; check NTP (timedatectl)";

/**
 * Say once why the bucket's newest archive could not be read. When the upload then failed for the same
 * cause (a skewed clock, a refused key), its one line says both: cron mails one message for one cause.
 */
function sayContinuationFailure(
  options: ShipOptions,
  summary: ShipSummary,
  failure: BucketFailure | undefined,
  uploadFailure: BucketFailure | undefined,
): void {
  if (!failure) return;
  if (
    summary.uploadError !== null &&
    uploadFailure &&
    uploadFailure.code !== '' &&
    uploadFailure.code === failure.code
  ) {
    summary.uploadError += `; with no local state, this run started from the last --window (the bucket could not say where the last archive ended)`;
    return;
  }
  options.warn(
    `no local state, and this host's newest archive could not be read from the bucket to continue from it (${failure.text}); started from the last --window`,
  );
}

/** Run the whole ship (or, with dryRun, only plan it). */
export async function shipLogs(given: ShipOptions): Promise<ShipSummary> {
  let options = given;
  const { config } = options;
  const clock = options.clockMs ?? (() => options.nowMs);
  const nowNs = msToNano(options.nowMs);
  if (!options.dryRun) await ensurePrivateDir(config.logDir);
  // The state is replaced, never changed in place: what is on disk and what this run holds differ
  // only between a new state's write and its adoption.
  let state = await readShipState(config.stateDir);
  if (!options.dryRun) state = await recoverLogDir(config.logDir, state, options.warn);
  // Load the SDK before the export: it then takes memory while the process is small, and the export's
  // freed buffers are not stranded under it. Loaded after the export instead, peak RSS was lower at
  // 100 MB of logs (84–88 MiB against 96) but grew with volume (104 MiB at 1 GB against 100).
  const storeReady = options.s3 ? loadStore(options.s3) : undefined;
  storeReady?.catch(() => undefined);
  const remote = remoteChecker(options, storeReady);
  const resumed = options.dryRun ? { found: null } : await continuation(options, storeReady);
  const continuedFrom = resumed.found;
  if (continuedFrom) {
    state = continuedFrom.state;
    options.warn(`no local state: continuing from ${continuedFrom.key} (window end ${continuedFrom.end})`);
    // What has no checkpoint (a container, the alert log) starts where that archive's window ended.
    options = { ...options, windowMs: Math.max(0, options.nowMs - Date.parse(continuedFrom.end)) };
  }
  const fallbackSince = nowNs - msToNano(options.windowMs);
  const clockNow = await sampleClock(options.nowMs);
  const summary: ShipSummary = {
    dryRun: options.dryRun,
    continuedFrom: continuedFrom ? { key: continuedFrom.key, end: continuedFrom.end } : null,
    window: { start: formatNanoTime(nowNs), end: formatNanoTime(nowNs) },
    archive: null,
    files: [],
    missing: [],
    gaps: [],
    hold: null,
    uploaded: [],
    pending: [],
    deleted: [],
    uploadError: null,
  };
  // A failed export (engine down, disk full) still lets the archives already waiting go up first.
  let exportError: unknown;
  let closeLater: Planned[] = [];
  const docker = createDockerClient({ host: config.dockerHost });
  try {
    // Hold first: a container removed while this run exports keeps its log.
    const hold = options.dryRun ? null : await takeHold(docker, config);
    // An engine that never answered is the run's own error, said once below.
    if (hold?.problem && !docker.unanswered) options.warn(`${hold.problem}; shipping anyway`);
    const holdDir = hold?.dir ?? (docker.local ? await resolveHoldDir(config, docker).catch(() => null) : null);
    const released = await heldToShip(holdDir, state, options.dryRun, options.warn);
    const held = released.held;
    state = released.state;
    const measureHold = async (): Promise<ShipSummary['hold']> =>
      holdDir ? { dir: holdDir, ...(await holdSize(holdDir)), problem: hold?.problem ?? null } : null;
    summary.hold = await measureHold();
    const planned = await planContainers({
      docker,
      containers: config.containers,
      state,
      held,
      fallbackSince,
      stepBackNs: stepBackNs(state.clock, clockNow),
      nowNs,
    });
    const sinces = planned.filter((p) => p.parts.length > 0).map((p) => p.since);
    summary.window.start = formatNanoTime(sinces.reduce((a, b) => (b < a ? b : a), nowNs));
    summary.missing = planned
      .filter((p) => !p.details && p.parts.length === 0)
      .map((p) => ({ short: p.short, container: p.container, reason: 'no such container' }));
    summary.gaps = planned.flatMap((p) => p.gaps);
    closeLater = planned;
    if (options.dryRun) {
      const end = truncateToSecond(nowNs) + 1_000_000_000n;
      const stamp = formatStamp(nanoToDate(end));
      summary.window.end = formatNanoTime(end);
      summary.files = planned
        .filter((p) => p.parts.length > 0)
        .map((p) => plannedFile(p, stamp, null, summary.window.end));
      summary.alertBytes = await pendingAlertBytes(config.alertLog, state.alertLog);
      summary.destination = {
        bucket: config.lookup('S3_BUCKET_NAME') ?? null,
        key: objectKey(config.env, config.hostname, nanoToDate(end)),
      };
    } else {
      const commit = await writeAndCommit(options, state, planned, docker, clock, summary, remote.taken, clockNow);
      state = commit.state;
      if (commit.failure !== undefined) exportError = commit.failure;
      for (const name of await releaseUnconfigured(held, config, options.nowMs)) {
        options.warn(`let go of the held log of ${name}: no configured container has that name`);
      }
      summary.hold = await measureHold();
    }
  } catch (err) {
    if (options.dryRun) throw err;
    exportError = err;
  } finally {
    await closePlanned(closeLater);
    docker.close();
  }
  summary.pending = [...state.pending];
  if (options.dryRun) return summary;
  const uploadFailure: { failure?: BucketFailure } = {};
  if (storeReady) state = await uploadPending(options, await storeReady, state, summary, remote.asked, uploadFailure);
  sayContinuationFailure(options, summary, resumed.failure, uploadFailure.failure);
  summary.deleted = await applyLocalRetention(config.logDir, config.retentionDays, options.nowMs, state.pending);
  summary.pending = [...state.pending];
  if (exportError !== undefined) {
    if (summary.uploadError === null) throw exportError;
    throw new MizualError(`${describeError(exportError)}; ${summary.uploadError}`);
  }
  if (summary.uploadError === null) {
    await writeShipState(config.stateDir, {
      ...state,
      lastSuccessAt: new Date(options.nowMs).toISOString(),
      ...(state.usage ? { usage: recordSelf(state.usage, clockNowMs(options)) } : {}),
    });
  }
  return summary;
}

function plannedFile(
  p: Planned,
  stamp: string,
  results: { spool: SpooledEntry; parts: PartResult[] } | null,
  end: string,
): ManifestFile {
  const current = p.parts.at(-1);
  const fromHold = (results?.parts ?? []).filter((r) => r.part.source === 'file' && r.part.fromHold);
  const sources = [...new Set(p.parts.map((part) => part.source))];
  const api = p.parts.find((part) => part.source === 'api');
  return {
    name: containerEntryName(p.short, stamp),
    kind: 'container',
    short: p.short,
    container: p.container,
    containerId: p.details?.id ?? current?.containerId ?? '',
    source: sources.length === 1 ? (sources[0] as 'file' | 'api') : 'file+api',
    ...(api && api.source === 'api' ? { sourceReason: api.reason } : {}),
    since: formatNanoTime(p.since),
    until: end,
    lines: results?.spool.lines ?? 0,
    bytes: results?.spool.bytes ?? 0,
    sha256: results?.spool.sha256 ?? '',
    ...(fromHold.length > 0
      ? { completedFromHold: fromHold.map((r) => ({ containerId: r.part.containerId, lines: r.lines })) }
      : {}),
  };
}

async function writeAndCommit(
  options: ShipOptions,
  state: ShipState,
  planned: Planned[],
  docker: DockerClient,
  clock: () => number,
  summary: ShipSummary,
  taken: RemoteTaken,
  clockSample: ClockSample | null,
): Promise<{ state: ShipState; failure: unknown }> {
  const { config } = options;
  const spools: string[] = [];
  const tag = `${process.pid}-${Date.now()}`;
  const spoolPath = (what: string): string => {
    const file = path.join(config.logDir, `.spool-${tag}-${what}.gz`);
    spools.push(file);
    return file;
  };
  let partial: string | undefined;
  let committed = false;
  try {
    const present = planned.filter((p) => p.parts.length > 0);
    const apiParts = present.some((p) => p.parts.some((part) => part.source === 'api'));
    const exported = await mapLimit(present, apiParts ? API_EXPORTS : FILE_EXPORTS, async (p) => {
      const shapes = new ShapeCounter();
      const spool = new EntrySpool(spoolPath(`container-${p.short}`), undefined, shapes);
      try {
        const result = await exportPlanned(docker, p, spool);
        return { p, ...result, spool: await spool.finish(), shapes };
      } catch (err) {
        await spool.discard();
        throw err;
      }
    });
    const alertSpool = new EntrySpool(spoolPath('alert-log'));
    const alertCursor = await shipAlertLines(
      config.alertLog,
      state.alertLog,
      options.nowMs - options.windowMs,
      alertSpool,
    );
    const alerts = await alertSpool.finish();
    for (const { gaps } of exported) summary.gaps.push(...gaps);
    const target = await archiveTarget(config.logDir, state, clock(), taken);
    partial = path.join(config.logDir, `.${target.name}.partial`);
    // The state this archive commits, built whole before anything is written (never changed in place).
    const done = exported.map(({ release }) => release);
    const shippedHolds = done.flatMap((d) => d.containers.map((h) => h.meta.id));
    const next: ShipState = {
      ...state,
      containers: {
        ...state.containers,
        ...Object.fromEntries(exported.flatMap(({ p, checkpoint }) => (checkpoint ? [[p.short, checkpoint]] : []))),
      },
      alertLog: alertCursor,
      pending: [...state.pending, target.name],
      heldShipped: [...new Set([...(state.heldShipped ?? []), ...shippedHolds])],
      ...(clockSample ? { clock: clockSample } : {}),
    };
    summary.window.end = formatNanoTime(target.end);
    const mtime = nanoToDate(target.end);
    // What each entry takes in the archive, known before it is written: the manifest and the bucket carry it.
    const compressed = async (name: string, spool: SpooledEntry): Promise<number> =>
      compressedEntryBytes(name, spool.bytes, (await fsp.stat(spool.path)).size, mtime);
    const files: ManifestFile[] = [];
    for (const { p, parts, spool } of exported) {
      const file = plannedFile(p, target.stamp, { spool, parts }, summary.window.end);
      files.push({ ...file, compressedBytes: await compressed(file.name, spool) });
    }
    const alertFile: ManifestFile = {
      name: alertsEntryName(target.stamp),
      kind: 'alerts',
      lines: alerts.lines,
      bytes: alerts.bytes,
      sha256: alerts.sha256,
      compressedBytes: await compressed(alertsEntryName(target.stamp), alerts),
    };
    files.push(alertFile);
    next.usage = recordArchive(
      state.usage,
      {
        name: target.name,
        date: formatDate(mtime),
        entryBytes: Object.fromEntries(files.map((f) => [entryBytesLabel(f), f.compressedBytes ?? 0])),
      },
      new Map(exported.map(({ p, shapes }) => [p.short, shapes])),
      options.nowMs,
      config.retentionDays,
    );
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      tool: `mizual-ship-logs ${VERSION}`,
      host: config.hostname,
      env: config.env,
      window: summary.window,
      createdAt: new Date(options.nowMs).toISOString(),
      files,
      missing: summary.missing,
      gaps: summary.gaps,
      // Where the next run continues: a reinstall with no local state reads it back from the bucket.
      resume: { containers: next.containers, alertLog: next.alertLog, heldShipped: next.heldShipped ?? [] },
    };
    const entries: ArchiveEntry[] = [
      ...exported.map(({ p, spool }) => ({
        name: containerEntryName(p.short, target.stamp),
        size: spool.bytes,
        gzipPath: spool.path,
      })),
      { name: alertFile.name, size: alerts.bytes, gzipPath: alerts.path },
      { name: MANIFEST_NAME, data: serializeManifest(manifest) },
    ];
    const bytes = await writeArchive(partial, entries, mtime);
    faultPoint('archive-written');
    // Commit: the archive is durable; now the state that names it (written whole, then adopted).
    // A failed write leaves the old state on disk and in this run, and the partial archive is deleted.
    faultPoint('state-write');
    await writeShipState(config.stateDir, next);
    committed = true;
    summary.files = files;
    summary.archive = { name: target.name, path: path.join(config.logDir, target.name), bytes };
    // From here the archive is committed and never deleted: a failure is finished by the next start
    // (recoverLogDir renames the partial; heldShipped lets go of the hold).
    let failure: unknown;
    try {
      faultPoint('rename');
      await fsp.rename(partial, path.join(config.logDir, target.name));
      await syncDir(config.logDir);
    } catch (err) {
      failure = new MizualError(
        `archive ${target.name} is committed but could not be moved into place (${describeError(err)}); the next run finishes it`,
      );
      return { state: next, failure };
    }
    // Only now may the hold let go of what the archive holds: a failure is a warning, and what is left
    // is let go by the next run (heldShipped).
    try {
      for (const d of done) {
        for (const held of d.containers) await releaseContainer(held);
        await releaseFiles(d.files);
      }
    } catch (err) {
      options.warn(`could not let go of held log files: ${describeError(err)}`);
    }
    return { state: next, failure };
  } catch (err) {
    if (partial && !committed) await fsp.rm(partial, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new MizualError(`disk full writing to ${config.logDir}: no archive written, checkpoint not moved`);
    }
    throw err;
  } finally {
    await Promise.all(spools.map((file) => fsp.rm(file, { force: true })));
  }
}

const clockNowMs = (options: ShipOptions): number => (options.clockMs ?? (() => options.nowMs))();

async function loadStore(s3: S3Settings): Promise<Store> {
  const { createStore } = await import('../store/client.js');
  return createStore(s3);
}

/**
 * Upload the pending archives, oldest first; after each, the state without it is written. An object
 * already at the key is never overwritten: the same bytes (a run killed between its upload and its
 * state write) count as uploaded, other bytes move this archive to the next free name.
 */
async function uploadPending(
  options: ShipOptions,
  store: Store,
  initial: ShipState,
  summary: ShipSummary,
  asked: Set<string>,
  failed: { failure?: BucketFailure },
): Promise<ShipState> {
  const { config } = options;
  const clock = options.clockMs ?? (() => options.nowMs);
  let state = initial;
  try {
    for (const first of initial.pending) {
      let name = first;
      const end = archiveEnd(name);
      if (!end) continue;
      // Committed but not moved into place yet (its rename failed): the next start finishes it first.
      if (
        !(await exists(path.join(config.logDir, name))) &&
        (await exists(path.join(config.logDir, `.${name}.partial`)))
      )
        continue;
      let info: { key: string; size: number };
      // The store retries each request by its one policy (store/retry.ts); what still fails waits for the next run.
      try {
        const placed = asked.has(name)
          ? {
              name,
              key: objectKey(config.env, config.hostname, archiveEnd(name) as Date),
              state,
              uploaded: undefined,
            }
          : await placeArchive(options, store, state, name);
        asked.add(placed.name);
        state = placed.state;
        name = placed.name;
        info =
          placed.uploaded ??
          (await store.putFile(placed.key, path.join(config.logDir, name), {
            ...UPLOAD_PARTS,
            metadata: archiveMetadata(state.usage, name),
          }));
      } catch (err) {
        failed.failure = bucketFailure(err);
        summary.uploadError = `${state.pending.length} archive(s) wait for upload: ${failed.failure.text}; kept in ${config.logDir} for the next run`;
        return state;
      }
      faultPoint('uploaded');
      summary.uploaded.push({ name, key: info.key, bytes: info.size });
      // When the upload ended, not when the run began: a long upload must not look older than it is.
      state = {
        ...state,
        pending: state.pending.filter((n) => n !== name),
        lastUploadAt: new Date(clock()).toISOString(),
        ...(state.usage ? { usage: settleArchive(state.usage, name) } : {}),
      };
      await writeShipState(config.stateDir, state);
    }
    // Once everything is up (a failing endpoint would only say its error twice).
    if (options.staleUploadMs !== undefined) await sweepStaleUploads(options, store);
    const usage = await uploadPatterns(store, state.usage, { env: config.env, host: config.hostname }, clock());
    if (usage !== state.usage) {
      state = { ...state, usage };
      await writeShipState(config.stateDir, state);
    }
    return state;
  } finally {
    // Whatever happened above, no multipart upload of this run's making stays open (billed, unlisted).
    await finishOwnUploads(options, store);
    store.close();
  }
}

/** Abort the multipart uploads this run began and left open; what cannot be aborted is said and left to the stale sweep. */
async function finishOwnUploads(options: ShipOptions, store: Store): Promise<void> {
  const sweep = await store.finishOwnUploads(hostPrefix(options.config.env, options.config.hostname));
  if (sweep.failed.length > 0) {
    options.warn(
      `could not abort ${sweep.failed.length} unfinished upload(s) of this run (${sweep.failed.join(', ')}); a later run aborts them`,
    );
  }
}

/**
 * Where a pending archive goes: its own key when that is free; nowhere (already there) when the object
 * at its key has its bytes; else the next name free locally and remotely, the archive moved there
 * first (linked, the state naming it written, the old name removed: a crash leaves one of the two names).
 */
async function placeArchive(
  options: ShipOptions,
  store: Store,
  state: ShipState,
  name: string,
): Promise<{ name: string; key: string; state: ShipState; uploaded?: { key: string; size: number } }> {
  const { config } = options;
  const keyOf = (n: string): string => objectKey(config.env, config.hostname, archiveEnd(n) as Date);
  const file = path.join(config.logDir, name);
  const key = keyOf(name);
  // No answer: the upload asks again and its error names the cause.
  const head = await store.headObject(key).catch(() => null);
  if (!head) return { name, key, state };
  const size = (await fsp.stat(file)).size;
  if (
    head.size === size &&
    (await sha256Of(await store.getObjectStream(key))) === (await sha256Of(createReadStream(file)))
  ) {
    return { name, key, state, uploaded: { key, size } };
  }
  const end = await freeEnd(config.logDir, state, msToNano((archiveEnd(name) as Date).getTime()), async (n) => {
    return (await store.headObject(keyOf(n))) !== null;
  });
  const moved = archiveName(nanoToDate(end));
  options.warn(`${key} already holds another archive; this one goes up as ${moved} instead (never overwritten)`);
  await fsp.link(file, path.join(config.logDir, moved));
  const next = {
    ...state,
    pending: state.pending.map((n) => (n === name ? moved : n)),
    ...(state.usage ? { usage: settleArchive(state.usage, name, moved) } : {}),
  };
  await writeShipState(config.stateDir, next);
  await fsp.rm(file, { force: true });
  await syncDir(config.logDir);
  return { name: moved, key: keyOf(moved), state: next };
}

async function sha256Of(stream: AsyncIterable<Buffer | string>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
}

/** Delete local archives whose window ended before the retention cutoff; never pending ones. */
export async function applyLocalRetention(
  logDir: string,
  retentionDays: number,
  nowMs: number,
  pending: string[],
  dryRun = false,
): Promise<string[]> {
  const cutoff = retentionCutoff(nowMs, retentionDays);
  let names: string[];
  try {
    names = await fsp.readdir(logDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const old = names.filter((n) => {
    const end = archiveEnd(n);
    return end !== undefined && formatDate(end) < cutoff && !pending.includes(n);
  });
  if (!dryRun) for (const n of old) await fsp.rm(path.join(logDir, n), { force: true });
  return old.sort();
}

async function exists(file: string): Promise<boolean> {
  return fsp.access(file).then(
    () => true,
    () => false,
  );
}
