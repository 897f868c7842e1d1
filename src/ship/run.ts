/**
 * One mizual-ship-logs run, from explicit options: recover what a crashed run left, export every
 * container's window and the new alert lines into one archive, commit it (archive fsync'd, then the
 * checkpoint, then the final name), upload whatever waits, and apply local retention. Never prints.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { shipAlertLines, pendingAlertBytes } from './alert-lines.js';
import { writeArchive, type ArchiveEntry } from '../archive/write.js';
import { mapLimit } from '../core/concurrency.js';
import type { Config, S3Settings } from '../core/config.js';
import { type Store } from '../store/client.js';
import { sweepStaleUploads } from './stale-uploads.js';
import { createDockerClient, type DockerClient } from '../docker/client.js';
import { describeError, MizualError } from '../core/errors.js';
import {
  alertsEntryName,
  archiveEnd,
  archiveName,
  containerEntryName,
  formatDate,
  formatStamp,
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
import {
  closePlanned,
  exportGaps,
  exportParts,
  planContainers,
  releasable,
  type PartResult,
  type Planned,
} from './plan.js';
import { formatNanoTime, msToNano, nanoToDate, truncateToSecond } from '../core/time.js';
import { readShipState, syncDir, writeShipState, type ShipState } from '../core/ship-state.js';
import { ensurePrivateDir } from '../core/state-files.js';
import { VERSION } from '../core/version.js';

/** Docker stamps a line when it reads it and writes it a moment later: only windows ending this far back are complete. */
const SETTLE_NS = 2_000_000_000n;
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
  window: { start: string; end: string };
  archive: { name: string; path: string; bytes: number } | null;
  files: ManifestFile[];
  missing: Missing[];
  gaps: Gap[];
  /** The hold of log files not shipped yet (local engine only). */
  hold: { dir: string; containers: number; bytes: number; onlyHeldBytes: number; problem: string | null } | null;
  /** Dry run: the alert log bytes waiting. */
  alertBytes?: number;
  uploaded: { name: string; key: string; bytes: number }[];
  pending: string[];
  deleted: string[];
  uploadError: string | null;
}

/** Delete what a crashed run left: spools, and partial archives the state never recorded. */
async function recoverLogDir(logDir: string, state: ShipState, warn: (line: string) => void): Promise<void> {
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
  state.pending = state.pending.filter((name) => present.has(name));
}

/** The archive's name: the first whole second after the export ended, later than any archive before it. */
async function archiveTarget(
  logDir: string,
  state: ShipState,
  endMs: number,
): Promise<{ end: bigint; stamp: string; name: string }> {
  // Every line read was stamped before the read ended, so the archive named after that moment holds
  // lines up to its name, as the fetcher's time ranges expect.
  let end = truncateToSecond(msToNano(endMs)) + 1_000_000_000n;
  for (;;) {
    const name = archiveName(nanoToDate(end));
    if (!state.pending.includes(name) && !(await exists(path.join(logDir, name)))) {
      return { end, stamp: formatStamp(nanoToDate(end)), name };
    }
    end += 1_000_000_000n;
  }
}

/**
 * The held containers to plan: every one in the hold but those a committed archive already holds
 * (heldShipped), which are let go now, in case a crash came between the commit and their release.
 */
async function heldToShip(
  holdDir: string | null,
  state: ShipState,
  dryRun: boolean,
  warn: (line: string) => void,
): Promise<HeldContainer[]> {
  if (!holdDir) return [];
  const shipped = new Set(state.heldShipped ?? []);
  const held = await listHeld(holdDir);
  if (dryRun) return held.filter((h) => !shipped.has(h.meta.id));
  for (const h of held.filter((c) => shipped.has(c.meta.id))) {
    await releaseContainer(h).catch((err: unknown) =>
      warn(`could not let go of held log files: ${describeError(err)}`),
    );
  }
  state.heldShipped = [];
  return held.filter((h) => !shipped.has(h.meta.id));
}

/** Run the whole ship (or, with dryRun, only plan it). */
export async function shipLogs(options: ShipOptions): Promise<ShipSummary> {
  const { config } = options;
  const clock = options.clockMs ?? (() => options.nowMs);
  const nowNs = msToNano(options.nowMs);
  const apiUntil = truncateToSecond(nowNs - SETTLE_NS);
  const fallbackSince = nowNs - msToNano(options.windowMs);
  if (!options.dryRun) await ensurePrivateDir(config.logDir);
  const state = await readShipState(config.stateDir);
  if (!options.dryRun) await recoverLogDir(config.logDir, state, options.warn);
  const summary: ShipSummary = {
    dryRun: options.dryRun,
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
  // Load the SDK before the export: it then takes memory while the process is small, and the export's
  // freed buffers are not stranded under it. Loaded after the export instead, peak RSS was lower at
  // 100 MB of logs (84–88 MiB against 96) but grew with volume (104 MiB at 1 GB against 100).
  const storeReady = options.s3 ? loadStore(options.s3) : undefined;
  storeReady?.catch(() => undefined);
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
    const held = await heldToShip(holdDir, state, options.dryRun, options.warn);
    const measureHold = async (): Promise<ShipSummary['hold']> =>
      holdDir ? { dir: holdDir, ...(await holdSize(holdDir)), problem: hold?.problem ?? null } : null;
    summary.hold = await measureHold();
    const planned = await planContainers({
      docker,
      containers: config.containers,
      state,
      held,
      fallbackSince,
      apiUntil,
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
    } else {
      await writeAndCommit(options, state, planned, docker, clock, summary);
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
  if (storeReady) await uploadPending(options, await storeReady, state, summary);
  summary.deleted = await applyLocalRetention(config.logDir, config.retentionDays, options.nowMs, state.pending);
  summary.pending = [...state.pending];
  if (exportError !== undefined) {
    if (summary.uploadError === null) throw exportError;
    throw new MizualError(`${describeError(exportError)}; ${summary.uploadError}`);
  }
  if (summary.uploadError === null) {
    state.lastSuccessAt = new Date(options.nowMs).toISOString();
    await writeShipState(config.stateDir, state);
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
): Promise<void> {
  const { config } = options;
  const spools: string[] = [];
  const tag = `${process.pid}-${Date.now()}`;
  const spoolPath = (what: string): string => {
    const file = path.join(config.logDir, `.spool-${tag}-${what}.gz`);
    spools.push(file);
    return file;
  };
  let partial: string | undefined;
  try {
    const present = planned.filter((p) => p.parts.length > 0);
    const apiParts = present.some((p) => p.parts.some((part) => part.source === 'api'));
    const exported = await mapLimit(present, apiParts ? API_EXPORTS : FILE_EXPORTS, async (p) => {
      const spool = new EntrySpool(spoolPath(`container-${p.short}`));
      try {
        const parts = await exportParts(docker, p, spool);
        return { p, parts, spool: await spool.finish() };
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
    for (const { p, parts } of exported) summary.gaps.push(...exportGaps(p, parts));
    const target = await archiveTarget(config.logDir, state, clock());
    partial = path.join(config.logDir, `.${target.name}.partial`);
    summary.window.end = formatNanoTime(target.end);
    const files = exported.map(({ p, parts, spool }) =>
      plannedFile(p, target.stamp, { spool, parts }, summary.window.end),
    );
    const alertFile: ManifestFile = {
      name: alertsEntryName(target.stamp),
      kind: 'alerts',
      lines: alerts.lines,
      bytes: alerts.bytes,
      sha256: alerts.sha256,
    };
    files.push(alertFile);
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
    const bytes = await writeArchive(partial, entries, nanoToDate(target.end));
    // Commit: the checkpoints move only once the archive is safely on disk; the rename comes last,
    // and a crash between the two is finished by recoverLogDir on the next start.
    for (const { p, parts } of exported) {
      const next = parts.at(-1)?.checkpoint;
      if (next) state.containers[p.short] = next;
    }
    state.alertLog = alertCursor;
    state.pending.push(target.name);
    const done = exported.map(({ parts }) => releasable(parts));
    const shippedHolds = done.flatMap((d) => d.containers.map((h) => h.meta.id));
    state.heldShipped = [...new Set([...(state.heldShipped ?? []), ...shippedHolds])];
    await writeShipState(config.stateDir, state);
    await fsp.rename(partial, path.join(config.logDir, target.name));
    await syncDir(config.logDir);
    summary.files = files;
    summary.archive = { name: target.name, path: path.join(config.logDir, target.name), bytes };
    // Only now may the hold let go of what the archive holds. The archive is committed: a failure
    // here is a warning, and what is left is let go by the next run (heldShipped).
    try {
      for (const d of done) {
        for (const held of d.containers) await releaseContainer(held);
        await releaseFiles(d.files);
      }
    } catch (err) {
      options.warn(`could not let go of held log files: ${describeError(err)}`);
    }
  } catch (err) {
    if (partial) await fsp.rm(partial, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new MizualError(`disk full writing to ${config.logDir}: no archive written, checkpoint not moved`);
    }
    throw err;
  } finally {
    await Promise.all(spools.map((file) => fsp.rm(file, { force: true })));
  }
}

async function loadStore(s3: S3Settings): Promise<Store> {
  const { createStore } = await import('../store/client.js');
  return createStore(s3);
}

async function uploadPending(options: ShipOptions, store: Store, state: ShipState, summary: ShipSummary) {
  try {
    for (const name of [...state.pending]) {
      const end = archiveEnd(name);
      if (!end) continue;
      const key = objectKey(options.config.env, options.config.hostname, end);
      const file = path.join(options.config.logDir, name);
      // The store retries each request by its one policy (store/retry.ts); what still fails waits for the next run.
      try {
        const info = await store.putFile(key, file, UPLOAD_PARTS);
        summary.uploaded.push({ name, key, bytes: info.size });
      } catch (err) {
        summary.uploadError = `${state.pending.length} archive(s) wait for upload: ${describeError(err)}`;
        return;
      }
      state.pending = state.pending.filter((n) => n !== name);
      state.lastUploadAt = new Date(options.nowMs).toISOString();
      await writeShipState(options.config.stateDir, state);
    }
    // Once everything is up (a failing endpoint would only say its error twice).
    if (options.staleUploadMs !== undefined) await sweepStaleUploads(options, store);
  } finally {
    store.close();
  }
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
