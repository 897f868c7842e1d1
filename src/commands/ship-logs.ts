import { Command } from 'commander';
import { configureProgram, runCli } from '../core/cli.js';
import { helpFooter } from '../core/help.js';
import { loadConfig, requireS3 } from '../core/config.js';
import { lookAtEngine } from '../docker/watched.js';
import { describeError, MizualError, UsageError } from '../core/errors.js';
import { writeJson, writeText } from '../core/output.js';
import type { ShipRun } from '../ship/prometheus.js';
import type { PrunedObject } from '../ship/prune.js';
import type { ShipSummary } from '../ship/run.js';
import { formatBytes, parseDuration } from '../core/units.js';
import { VERSION } from '../core/version.js';

const TOOL = 'mizual-ship-logs';

interface Flags {
  dryRun?: boolean;
  window: string;
  upload: boolean;
  prune?: boolean;
  json?: boolean;
  envFile?: string;
  deadline: string;
  hold?: boolean;
  prometheus?: string;
  check?: boolean;
}

/** The flags of `mizual-ship-logs` (also read by the docs test: every flag must be documented). */
export function buildProgram(): Command {
  return configureProgram(new Command(TOOL))
    .description('Archive the logs of the configured containers and the alert log, upload them to B2, apply retention.')
    .version(VERSION)
    .option('--dry-run', 'show the plan; write and upload nothing')
    .option('--hold', "only hard-link the containers' log files into the hold (fast; cron every minute)")
    .option('--window <duration>', 'window of a first run (no checkpoint yet)', '30m')
    .option('--no-upload', 'archive locally only (no S3 settings needed)')
    .option('--prune', 'apply retention only (local archives and remote objects)')
    .option('--json', 'print a JSON summary')
    .option('--check', 'verify the whole path once: a line per step, then a verdict')
    .option('--deadline <duration>', 'give up (releasing the lock) after this long', '25m')
    .option('--prometheus <file>', "also write this run's figures for node_exporter")
    .option('--env-file <path>', 'read settings from this .env file')
    .option('--debug', 'print stack traces on errors')
    .addHelpText(
      'after',
      helpFooter('mizual-ship-logs', [
        ['mizual-ship-logs --dry-run', 'the plan; writes nothing'],
        ['mizual-ship-logs --check', 'verify settings, bucket, Docker, disk'],
        ['mizual-ship-logs --hold', 'cron, every minute: deploys lose no line'],
      ]),
    );
}

function renderShip(s: ShipSummary): string {
  const out: string[] = [];
  if (s.dryRun) out.push(`dry run: window ending ${s.window.end}; nothing written or uploaded`);
  if (s.destination) {
    const { bucket, key } = s.destination;
    out.push(bucket ? `would upload to s3://${bucket}/${key}` : `would upload to ${key} (S3_BUCKET_NAME is not set)`);
  }
  if (s.archive) out.push(`archive ${s.archive.path} (${formatBytes(s.archive.bytes)})`);
  for (const f of s.files) {
    const size = s.dryRun ? '' : ` ${f.lines} lines, ${formatBytes(f.bytes)}`;
    const from = f.source
      ? ` from ${f.source === 'api' ? 'the Engine API' : f.source === 'file' ? 'its log files' : 'log files and the Engine API'}`
      : '';
    const why = f.sourceReason ? ` (${f.sourceReason})` : '';
    const span = f.since ? ` ${f.since} .. ${f.until}` : '';
    out.push(`  ${f.name}${size}${span}${from}${why}`);
    for (const h of (f.completedFromHold ?? []).filter((part) => part.lines > 0)) {
      out.push(`    ${h.lines} lines of ${h.containerId.slice(0, 12)}, which is gone, finished from the hold`);
    }
  }
  if (s.alertBytes !== undefined) out.push(`  alert log: ${formatBytes(s.alertBytes)} not shipped yet`);
  for (const m of s.missing) out.push(`  missing: ${m.short} (${m.container}): ${m.reason}`);
  if (s.hold) {
    const only = s.hold.onlyHeldBytes > 0 ? `, ${formatBytes(s.hold.onlyHeldBytes)} kept only by the hold` : '';
    out.push(`hold ${s.hold.dir}: ${s.hold.containers} container(s), ${formatBytes(s.hold.bytes)}${only}`);
  }
  for (const u of s.uploaded) out.push(`uploaded ${u.key} (${formatBytes(u.bytes)})`);
  if (s.pending.length > 0) out.push(`waiting for upload: ${s.pending.join(', ')}`);
  for (const d of s.deleted) out.push(`deleted local ${d} (past retention)`);
  return out.join('\n');
}

function renderPrune(local: string[], remote: PrunedObject[], dryRun: boolean): string {
  const verb = dryRun ? 'would delete' : 'deleted';
  const out = local.map((n) => `${verb} local ${n}`);
  for (const r of remote) out.push(`${verb} ${r.key} (${r.versions} version(s), ${formatBytes(r.bytes)})`);
  if (out.length === 0) out.push('nothing is past retention');
  return out.join('\n');
}

/** Take the lock and keep it only while this process lives: released on exit, signals and the deadline. */
async function withLock<T>(stateDir: string, deadlineMs: number, work: () => Promise<T>): Promise<T> {
  const { acquireShipLock } = await import('../core/ship-state.js');
  const lock = await acquireShipLock(stateDir);
  if (lock.takenOver) process.stderr.write(`${TOOL}: ${lock.takenOver}\n`);
  let stopping = false;
  const stop = (line: string): void => {
    if (stopping) return;
    stopping = true;
    // A part already sent is billed until its upload is aborted: abort, but never wait past 5 s to exit.
    void import('../store/upload.js')
      .then(({ abortOpenUploads }) => abortOpenUploads(5_000))
      .then(
        ({ aborted, left }) =>
          (aborted ? `; aborted ${aborted} unfinished upload(s)` : '') +
          (left ? `; ${left} upload(s) did not answer the abort (the next run aborts them)` : ''),
        () => '',
      )
      .then((uploads) => {
        lock.release();
        process.stderr.write(`${TOOL}: ${line}${uploads}; the next run continues from the last checkpoint\n`);
        process.exit(1);
      });
  };
  const onSignal = (signal: NodeJS.Signals): void => stop(`stopped by ${signal}`);
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
  // A hung endpoint must not hold the lock past the next cron start.
  const timer = setTimeout(() => stop(`gave up after the ${deadlineMs / 1000} s deadline`), deadlineMs);
  timer.unref();
  try {
    return await work();
  } finally {
    clearTimeout(timer);
    process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
    lock.release();
  }
}

/** `--prometheus FILE`: the run's figures, also after a failed run; returns why they could not be written. */
async function exportFigures(file: string | undefined, stateDir: string, run: ShipRun): Promise<string | null> {
  if (file === undefined) return null;
  const { writeShipMetrics } = await import('../ship/prometheus.js');
  return writeShipMetrics(file, stateDir, run).then(
    () => null,
    (err: unknown) => describeError(err),
  );
}

/** A first run's window is a span, not a wait: a year at most (Docker keeps no older logs here). */
const MAX_WINDOW = '366d';

/** Entry point of `mizual-ship-logs`. */
export async function run(argv: string[]): Promise<void> {
  await runCli(TOOL, argv, async (args) => {
    const program = buildProgram();
    program.parse(args);
    const flags = program.opts<Flags>();
    const windowMs = parseDuration(flags.window, '--window', MAX_WINDOW);
    const deadlineMs = parseDuration(flags.deadline, '--deadline');
    const configured = loadConfig({ envFileFlag: flags.envFile });
    // Test-only: shift the clock (e.g. across midnight UTC) without touching the system's.
    const clockOffset = Number(process.env.MIZUAL_TEST_NOW_OFFSET_MS ?? 0);
    const nowMs = Date.now() + clockOffset;
    if (!Number.isFinite(nowMs)) throw new UsageError('MIZUAL_TEST_NOW_OFFSET_MS must be a number');
    if (flags.prometheus !== undefined && (flags.dryRun || flags.prune)) {
      throw new UsageError('--prometheus goes with a shipping run, not with --dry-run or --prune');
    }
    // MIZUAL_CONTAINERS, else the containers discovered on the engine (src/docker/watched.ts).
    const look = flags.prune ? null : await lookAtEngine(configured);
    const config = look ? { ...configured, containers: look.watched.containers } : configured;

    if (flags.hold) {
      // Nothing else: no lock (it must not wait for a long run), no S3 settings, no SDK.
      const { holdLogs } = await import('../ship/hold.js');
      const report = await holdLogs(config);
      if (!flags.json && report.problem) throw new MizualError(report.problem);
      if (flags.json) writeJson(report);
      return report.problem ? 1 : 0;
    }

    if (flags.check) {
      const { runShipCheck, renderCheck } = await import('../ship/check.js');
      const { createStore } = await import('../store/client.js');
      const report = await runShipCheck({
        config,
        nowMs,
        env: process.env,
        openStore: createStore,
        look: look ?? undefined,
      });
      if (flags.json) writeJson(report);
      else writeText(renderCheck(report));
      return report.ok ? 0 : 1;
    }

    if (flags.prune) {
      const s3 = requireS3(config);
      const { pruneRemote } = await import('../ship/prune.js');
      const { applyLocalRetention } = await import('../ship/run.js');
      const { readShipState } = await import('../core/ship-state.js');
      const prune = async () => {
        const pending = (await readShipState(config.stateDir)).pending;
        const local = await applyLocalRetention(config.logDir, config.retentionDays, nowMs, pending, flags.dryRun);
        const remote = await pruneRemote({
          s3,
          env: config.env,
          hostname: config.hostname,
          retentionDays: config.retentionDays,
          nowMs,
          dryRun: !!flags.dryRun,
        });
        return { local, remote };
      };
      const { local, remote } = flags.dryRun ? await prune() : await withLock(config.stateDir, deadlineMs, prune);
      if (flags.json) writeJson({ dryRun: !!flags.dryRun, local, remote });
      else writeText(renderPrune(local, remote, !!flags.dryRun));
      return 0;
    }

    const s3 = flags.upload && !flags.dryRun ? requireS3(config) : undefined;
    const { shipLogs } = await import('../ship/run.js');
    const warn = (line: string): void => void process.stderr.write(`${TOOL}: ${line}\n`);
    const ship = () =>
      shipLogs({
        config,
        windowMs,
        nowMs,
        dryRun: !!flags.dryRun,
        s3,
        warn,
        clockMs: () => Date.now() + clockOffset,
        staleUploadMs: deadlineMs,
      });
    const startedMs = Date.now();
    const summary = await (flags.dryRun ? ship() : withLock(config.stateDir, deadlineMs, ship)).catch(
      async (err: unknown) => {
        const failed = await exportFigures(flags.prometheus, config.stateDir, {
          summary: null,
          startedMs,
          endedMs: Date.now(),
        });
        if (failed) warn(failed);
        throw err;
      },
    );
    const figuresError = await exportFigures(flags.prometheus, config.stateDir, {
      summary,
      startedMs,
      endedMs: Date.now(),
    });
    const { describeGap } = await import('../ship/gap-text.js');
    for (const g of summary.gaps) warn(describeGap(g));
    if (flags.json) writeJson(summary);
    else writeText(renderShip(summary));
    if (summary.uploadError) {
      if (figuresError) warn(figuresError);
      throw new MizualError(summary.uploadError);
    }
    if (figuresError) throw new MizualError(figuresError);
    return 0;
  });
}
