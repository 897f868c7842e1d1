/**
 * The probes of MIZUAL_PROBES (`name=URL [status=200-299] [contains=TEXT] [timeout=10s],…`) and
 * MIZUAL_HEALTH_URL (the probe `health`): all run at once, each ended at its own deadline, so a run
 * costs the slowest probe's time; one URL asked twice with the same options is fetched once.
 * mizual-alerts records each result in the probe history; mizual-metrics only reads it. A probe is
 * DOWN after MIZUAL_PROBE_RETRIES failed runs in a row, counted from that history.
 */
import type { Observation } from '../../core/observation.js';
import type { ProbeFigure } from '../model.js';
import { addSamples, readProbeHistory, summarise, writeProbeHistory, type ProbeSample } from './history.js';
import { probeHttp, type ProbeConnect, type ProbeHttpOptions, type ProbeResult } from './http.js';
import { dialUrl, type DialFn } from '../../docker/compose-hosts.js';
import { describeError, UsageError } from '../../core/errors.js';
import type { Exposition } from '../../core/exposition.js';
import { describeUrl } from '../../core/http-client.js';
import { parseDuration } from '../../core/units.js';

/** A probe that has not answered by then is down (CRITICAL): the contract's 10 s, for alerts and dashboard alike. */
export const PROBE_TIMEOUT_MS = 10_000;
export const DEFAULT_PROBE_SLOW_MS = 2_000;
export const DEFAULT_CERT_DAYS = 14;
export const CERT_CRITICAL_DAYS = 3;
export const DEFAULT_PROBE_RETRIES = 2;
const MAX_PROBE_RETRIES = 100;
/** The most a probe's own `timeout=` may be: a cron run every 5 minutes must end before the next. */
const MAX_PROBE_TIMEOUT = '2m';
const DAY_MS = 86_400_000;
const HEALTH = 'health';

export interface ProbeSpec {
  name: string;
  url: string;
  /** Inclusive status ranges that mean up (default 200-299). */
  status?: [number, number][];
  contains?: string | null;
  timeoutMs?: number;
  /** Reached there instead of the URL's host (a Compose name resolved beforehand). */
  connect?: ProbeConnect;
  /** MIZUAL_HEALTH_URL: its alerts are the check `health`, not `probe:health`. */
  health?: boolean;
}

/**
 * Parse MIZUAL_PROBES; MIZUAL_HEALTH_URL is added as the probe `health` (an entry of that name must
 * be the same URL). Bad entries are usage errors naming the variable.
 */
export function parseProbes(value: string | undefined, healthUrl: string | undefined): ProbeSpec[] {
  const specs: ProbeSpec[] = value === undefined || value.trim() === '' ? [] : parseEntries(value);
  if (!healthUrl) return specs;
  const named = specs.find((s) => s.name === HEALTH);
  if (named && named.url !== healthUrl) {
    throw new UsageError('MIZUAL_PROBES: health is the name of MIZUAL_HEALTH_URL; give this entry another name');
  }
  if (named) named.health = true;
  else specs.unshift({ name: HEALTH, url: healthUrl, health: true });
  return specs;
}

function parseEntries(value: string): ProbeSpec[] {
  // A comma starts a new entry only when `name=scheme:` follows, so a URL (or a status list) may hold commas.
  const entries = value.split(/,(?=\s*[A-Za-z0-9_.-]+\s*=\s*[A-Za-z][A-Za-z0-9+.-]*:)/);
  const specs: ProbeSpec[] = [];
  for (const [i, entry] of entries.entries()) {
    const match = /^\s*([A-Za-z0-9_.-]+)\s*=\s*(\S+)((?:\s+\S.*)?)\s*$/.exec(entry);
    if (!match) throw new UsageError(`MIZUAL_PROBES entry ${i + 1} is not name=URL`);
    const [, name, url, rest] = match as unknown as [string, string, string, string];
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`MIZUAL_PROBES: ${name} is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UsageError(`MIZUAL_PROBES: ${name} must be an http:// or https:// URL`);
    }
    if (specs.some((s) => s.name === name)) throw new UsageError(`MIZUAL_PROBES names ${name} twice`);
    specs.push({ name, url, ...parseOptions(name, rest) });
  }
  return specs;
}

/** `status=200-299,301 contains=TEXT timeout=10s` (TEXT in double quotes when it holds spaces). */
function parseOptions(name: string, text: string): Pick<ProbeSpec, 'status' | 'contains' | 'timeoutMs'> {
  const out: Pick<ProbeSpec, 'status' | 'contains' | 'timeoutMs'> = {};
  const option = /\s*([a-z]+)=("([^"]*)"|\S*)\s*/y;
  let at = 0;
  while (at < text.length) {
    option.lastIndex = at;
    const m = option.exec(text);
    if (!m) throw new UsageError(`MIZUAL_PROBES: ${name}: expected status=, contains= or timeout= after the URL`);
    at = option.lastIndex;
    const [, key, raw, quoted] = m as unknown as [string, string, string, string | undefined];
    const val = quoted ?? raw;
    if (key === 'status') out.status = parseStatus(name, val);
    else if (key === 'contains') {
      if (val === '') throw new UsageError(`MIZUAL_PROBES: ${name}: contains= needs a text`);
      out.contains = val;
    } else if (key === 'timeout') {
      out.timeoutMs = parseDuration(val, `MIZUAL_PROBES: ${name}: timeout`, MAX_PROBE_TIMEOUT);
      if (out.timeoutMs <= 0) throw new UsageError(`MIZUAL_PROBES: ${name}: timeout must be above 0`);
    } else throw new UsageError(`MIZUAL_PROBES: ${name}: unknown option ${key}= (status, contains, timeout)`);
  }
  return out;
}

function parseStatus(name: string, text: string): [number, number][] {
  return text.split(',').map((part) => {
    const m = /^([1-5]\d\d)(?:-([1-5]\d\d))?$/.exec(part.trim());
    const lo = Number(m?.[1]);
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || hi < lo) throw new UsageError(`MIZUAL_PROBES: ${name}: status must look like 200-299 or 200,301`);
    return [lo, hi];
  });
}

/** MIZUAL_PROBE_RETRIES: failed runs in a row before a probe is DOWN (default 2). */
export function parseProbeRetries(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_PROBE_RETRIES;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PROBE_RETRIES) {
    throw new UsageError(`MIZUAL_PROBE_RETRIES must be a whole number from 1 to ${MAX_PROBE_RETRIES} (got '${value}')`);
  }
  return n;
}

export interface ProbeOptions {
  probes: ProbeSpec[];
  stateDir: string;
  /** Each probe's deadline unless its own `timeout=` says otherwise. */
  timeoutMs?: number;
  /** MIZUAL_PROBE_RETRIES. */
  retries?: number;
  now?: Date;
  /** Add this run's results to the history (mizual-alerts, not --dry-run). */
  record?: boolean;
  /** Where a history that could not be written is told (the figures are returned all the same). */
  problems?: string[];
  /** Where to connect for a URL's host (Compose names: src/docker/compose-hosts.ts). */
  dial?: DialFn;
}

/**
 * The probe's options with where to connect for the URL's own host: a Compose service or container name
 * is dialled at its container, the certificate still checked against the URL's host.
 */
async function dialled(url: string, opts: ProbeHttpOptions, dial: DialFn | undefined): Promise<ProbeHttpOptions> {
  if (!dial || opts.connect) return opts;
  try {
    const to = await dialUrl(dial, url);
    return to.container ? { ...opts, connect: { host: to.host, port: to.port, servername: to.urlHost } } : opts;
  } catch {
    // Not resolvable either way: the probe fails with the URL's own host's error.
    return opts;
  }
}

/** Probe every URL at once and return its figures, p95 over the hour, uptime over the day and failed runs in a row included. */
export async function collectProbes(options: ProbeOptions): Promise<ProbeFigure[]> {
  if (options.probes.length === 0) return [];
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const retries = options.retries ?? DEFAULT_PROBE_RETRIES;
  // The same URL with the same options (the health URL also in MIZUAL_PROBES) is one request.
  const asked = new Map<string, Promise<ProbeResult>>();
  const probeOnce = (p: ProbeSpec): Promise<ProbeResult> => {
    const opts = { timeoutMs: p.timeoutMs ?? timeoutMs, status: p.status, contains: p.contains, connect: p.connect };
    const key = JSON.stringify([p.url, opts]);
    let pending = asked.get(key);
    if (!pending) asked.set(key, (pending = dialled(p.url, opts, options.dial).then((o) => probeHttp(p.url, o))));
    return pending;
  };
  const [history, results] = await Promise.all([
    readProbeHistory(options.stateDir),
    Promise.all(options.probes.map(probeOnce)),
  ]);
  const nowMs = (options.now ?? new Date()).getTime();
  const samples = options.probes.map((p, i) => {
    const r = results[i] as ProbeResult;
    const sample: ProbeSample = [Math.round(nowMs / 1000), r.up ? 1 : 0, r.up ? r.seconds : null];
    return { name: p.name, url: describeUrl(p.url), sample };
  });
  // The figures include this run whether or not it is recorded, so they never lag behind what is shown.
  const merged = addSamples(history, samples, nowMs);
  if (options.record) {
    await writeProbeHistory(options.stateDir, merged).catch((err: unknown) =>
      options.problems?.push(describeError(err)),
    );
  }
  return options.probes.map((p, i): ProbeFigure => {
    const r = results[i] as ProbeResult;
    const kept = merged.probes[p.name]?.samples ?? [];
    const { p95, uptime } = summarise(kept, nowMs);
    const failedRuns = failedInARow(kept);
    return {
      name: p.name,
      url: describeUrl(p.url),
      up: r.up,
      status: r.status,
      seconds: r.seconds,
      ttfbSeconds: r.ttfbSeconds,
      // Six decimals (0.09 s) so the expiry time can be told back to the second.
      certDaysLeft: r.certValidToMs === null ? null : Math.round(((r.certValidToMs - nowMs) / DAY_MS) * 1e6) / 1e6,
      p95HourSeconds: p95,
      uptimeDayPercent: uptime,
      redirects: r.redirects,
      failedRuns,
      down: failedRuns >= retries,
      ...(r.error ? { error: r.error } : {}),
    };
  });
}

/** How many of the last samples, this run's included, were failures. */
function failedInARow(samples: readonly ProbeSample[]): number {
  let n = 0;
  for (let i = samples.length - 1; i >= 0 && samples[i]?.[1] === 0; i--) n++;
  return n;
}

export interface ProbeLimits {
  slowMs: number;
  certDays: number;
  /** The probe that is MIZUAL_HEALTH_URL, checked as `health` (WARNING past healthSlowMs, CRITICAL down). */
  health?: { name: string; slowMs: number } | null;
}

const secs = (s: number): string => `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;

/** One line describing a probe's answer (or why there was none). */
export function describeProbe(p: ProbeFigure): string {
  const via = p.redirects ? ` after ${p.redirects} redirect${p.redirects === 1 ? '' : 's'}` : '';
  if (p.status === null || p.seconds === null) return `probe ${p.name} ${p.url}: ${p.error ?? 'no answer'}`;
  const ttfb = p.ttfbSeconds === null ? '' : `, first byte ${secs(p.ttfbSeconds)}`;
  const wrong = p.up || p.error === `HTTP ${p.status}` ? '' : ` (${p.error ?? 'not up'})`;
  return `probe ${p.name} ${p.url} answered HTTP ${p.status}${via} in ${secs(p.seconds)}${ttfb}${wrong}`;
}

/** Days as an operator reads them: `4.9 days`, `expired 2.0 days ago`. */
export function describeCertDays(days: number): string {
  return days < 0 ? `expired ${(-days).toFixed(1)} days ago` : `expires in ${days.toFixed(1)} days`;
}

/**
 * `probe:<name>` (CRITICAL when DOWN, i.e. failed MIZUAL_PROBE_RETRIES runs in a row, or over 10 s;
 * WARNING slower than slowMs), the MIZUAL_HEALTH_URL probe as `health` instead, and, for https,
 * `cert:<name>` (WARNING within certDays, CRITICAL within 3 days or expired).
 */
export function probeChecks(probes: readonly ProbeFigure[], limits: ProbeLimits): Observation[] {
  const out: Observation[] = [];
  for (const p of probes) {
    out.push(p.name === limits.health?.name ? healthCheck(p, limits.health.slowMs) : probeCheck(p, limits.slowMs));
    const cert = certCheck(p, limits.certDays);
    if (cert) out.push(cert);
  }
  return out;
}

function probeCheck(p: ProbeFigure, slowMs: number): Observation {
  const tooLong = p.seconds !== null && p.seconds * 1000 > PROBE_TIMEOUT_MS;
  const slow = p.up && !tooLong && p.seconds !== null && p.seconds * 1000 > slowMs;
  const critical = p.down || (p.up && tooLong);
  const suffix =
    critical && p.up
      ? ` (over ${PROBE_TIMEOUT_MS / 1000} s)`
      : slow
        ? ` (slower than ${slowMs / 1000} s)`
        : !p.up && !p.down
          ? ` (failed ${p.failedRuns} run${p.failedRuns === 1 ? '' : 's'} in a row: not DOWN yet)`
          : '';
  return {
    check: `probe:${p.name}`,
    severity: critical ? 'critical' : 'warning',
    value: p.seconds,
    threshold: slowMs / 1000,
    message: describeProbe(p) + suffix,
    failing: critical || slow,
    data: {
      up: p.up,
      status: p.status,
      seconds: p.seconds,
      ttfbSeconds: p.ttfbSeconds,
      redirects: p.redirects,
      failedRuns: p.failedRuns,
    },
  };
}

/** The health URL keeps its own check: CRITICAL on the first failed run (as ever), WARNING past --health-slow. */
function healthCheck(p: ProbeFigure, slowMs: number): Observation {
  const tooLong = p.seconds !== null && p.seconds * 1000 > PROBE_TIMEOUT_MS;
  const slow = p.up && !tooLong && p.seconds !== null && p.seconds * 1000 > slowMs;
  const limit = slow
    ? ` (slower than ${slowMs / 1000} s)`
    : p.up && tooLong
      ? ` (over ${PROBE_TIMEOUT_MS / 1000} s)`
      : '';
  const via = p.redirects ? ` after ${p.redirects} redirect${p.redirects === 1 ? '' : 's'}` : '';
  const answered = p.status !== null && p.seconds !== null;
  const message = answered
    ? `${p.url} answered HTTP ${p.status}${via} in ${Math.round((p.seconds ?? 0) * 1000)} ms${limit}${p.up || p.error === `HTTP ${p.status}` ? '' : ` (${p.error ?? 'not up'})`}`
    : `${p.url}: ${p.error ?? 'no answer'}`;
  return {
    check: HEALTH,
    severity: slow ? 'warning' : 'critical',
    value: p.status,
    threshold: slowMs,
    message,
    failing: !p.up || tooLong || slow,
    data: {
      responseMs: p.seconds === null ? null : Math.round(p.seconds * 1000),
      up: p.up,
      seconds: p.seconds,
      ttfbSeconds: p.ttfbSeconds,
      redirects: p.redirects,
    },
  };
}

function certCheck(p: ProbeFigure, certDays: number): Observation | null {
  if (!p.url.startsWith('https:')) return null;
  const base = { check: `cert:${p.name}`, threshold: certDays };
  if (p.certDaysLeft === null) {
    const note = 'no TLS handshake: see the probe';
    return {
      ...base,
      severity: 'warning',
      value: null,
      message: `certificate of ${p.url} not read`,
      skipped: true,
      note,
    };
  }
  const days = p.certDaysLeft;
  const severity = days <= CERT_CRITICAL_DAYS ? 'critical' : 'warning';
  const limit = severity === 'critical' ? CERT_CRITICAL_DAYS : certDays;
  return {
    ...base,
    severity,
    value: Math.round(days * 10) / 10,
    message: `certificate of ${p.url} ${describeCertDays(days)} (${severity === 'critical' ? 'CRITICAL' : 'WARNING'} within ${limit} days)`,
    failing: days <= certDays || days <= CERT_CRITICAL_DAYS,
  };
}

/** `mizual_probe_success`, `mizual_probe_duration_seconds`, `mizual_probe_tls_expiry_timestamp_seconds`, per probe. */
export function probeSeries(exposition: Exposition, probes: readonly ProbeFigure[], atMs: number): void {
  for (const p of probes) {
    const probe = { probe: p.name };
    exposition.metric(
      'mizual_probe_success',
      '1 when the probe answered 2xx/3xx over a trusted connection.',
      p.up ? 1 : 0,
      probe,
    );
    exposition.metric(
      'mizual_probe_duration_seconds',
      'Seconds the probe took, connect to last byte.',
      p.seconds,
      probe,
    );
    exposition.metric(
      'mizual_probe_tls_expiry_timestamp_seconds',
      "When the probed server's TLS certificate expires (Unix time).",
      p.certDaysLeft === null ? null : Math.round(atMs / 1000 + p.certDaysLeft * 86_400),
      probe,
    );
  }
}
