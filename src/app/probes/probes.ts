/**
 * The probes of MIZUAL_PROBES (`name=URL,…`; MIZUAL_HEALTH_URL alone is the probe `health`): all run
 * at once, each ended at its deadline, so a run costs the slowest probe's time. mizual-alerts records
 * each result in the probe history; mizual-metrics only reads it.
 */
import type { Observation } from '../../core/observation.js';
import type { ProbeFigure } from '../model.js';
import { addSamples, readProbeHistory, summarise, writeProbeHistory, type ProbeSample } from './history.js';
import { probeHttp, type ProbeResult } from './http.js';
import type { DialFn } from '../../docker/compose-hosts.js';
import { describeError, UsageError } from '../../core/errors.js';
import type { Exposition } from '../../core/exposition.js';
import { describeUrl } from '../../core/http-client.js';

/** A probe that has not answered by then is down (CRITICAL): the contract's 10 s. */
export const PROBE_TIMEOUT_MS = 10_000;
export const DEFAULT_PROBE_SLOW_MS = 2_000;
export const DEFAULT_CERT_DAYS = 14;
export const CERT_CRITICAL_DAYS = 3;
const DAY_MS = 86_400_000;

export interface ProbeSpec {
  name: string;
  url: string;
}

/** Parse `name=URL,…`; without MIZUAL_PROBES, MIZUAL_HEALTH_URL is the probe `health`. Bad entries are usage errors. */
export function parseProbes(value: string | undefined, healthUrl: string | undefined): ProbeSpec[] {
  if (value === undefined || value.trim() === '') return healthUrl ? [{ name: 'health', url: healthUrl }] : [];
  // A comma starts a new entry only when `name=scheme:` follows, so a URL may hold commas.
  const entries = value.split(/,(?=\s*[A-Za-z0-9_.-]+\s*=\s*[A-Za-z][A-Za-z0-9+.-]*:)/);
  const specs: ProbeSpec[] = [];
  for (const [i, entry] of entries.entries()) {
    const match = /^\s*([A-Za-z0-9_.-]+)\s*=\s*(\S+)\s*$/.exec(entry);
    if (!match) throw new UsageError(`MIZUAL_PROBES entry ${i + 1} is not name=URL`);
    const [, name, url] = match as unknown as [string, string, string];
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
    specs.push({ name, url });
  }
  return specs;
}

export interface ProbeOptions {
  probes: ProbeSpec[];
  stateDir: string;
  timeoutMs?: number;
  now?: Date;
  /** Add this run's results to the history (mizual-alerts, not --dry-run). */
  record?: boolean;
  /** Where a history that could not be written is told (the figures are returned all the same). */
  problems?: string[];
  /** Where to connect for a URL's host (Compose names: src/docker/compose-hosts.ts). */
  dial?: DialFn;
}

/** Probe every URL at once and return its figures, p95 over the hour and uptime over the day included. */
export async function collectProbes(options: ProbeOptions): Promise<ProbeFigure[]> {
  if (options.probes.length === 0) return [];
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const [history, results] = await Promise.all([
    readProbeHistory(options.stateDir),
    Promise.all(options.probes.map((p) => probeHttp(p.url, timeoutMs, options.dial))),
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
    const { p95, uptime } = summarise(merged.probes[p.name]?.samples ?? [], nowMs);
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
      ...(r.error ? { error: r.error } : {}),
    };
  });
}

export interface ProbeLimits {
  slowMs: number;
  certDays: number;
}

const secs = (s: number): string => `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;

/** One line describing a probe's answer (or why there was none). */
export function describeProbe(p: ProbeFigure): string {
  if (p.status === null) return `probe ${p.name} ${p.url}: ${p.error ?? 'no answer'}`;
  const ttfb = p.ttfbSeconds === null ? '' : `, first byte ${secs(p.ttfbSeconds)}`;
  return `probe ${p.name} ${p.url} answered HTTP ${p.status} in ${secs(p.seconds ?? 0)}${ttfb}`;
}

/** Days as an operator reads them: `4.9 days`, `expired 2.0 days ago`. */
export function describeCertDays(days: number): string {
  return days < 0 ? `expired ${(-days).toFixed(1)} days ago` : `expires in ${days.toFixed(1)} days`;
}

/**
 * `probe:<name>` (CRITICAL when down or over 10 s, WARNING slower than slowMs) and, for https,
 * `cert:<name>` (WARNING within certDays, CRITICAL within 3 days or expired).
 */
export function probeChecks(probes: readonly ProbeFigure[], limits: ProbeLimits): Observation[] {
  const out: Observation[] = [];
  for (const p of probes) {
    const tooLong = p.seconds !== null && p.seconds * 1000 > PROBE_TIMEOUT_MS;
    const slow = p.up && !tooLong && p.seconds !== null && p.seconds * 1000 > limits.slowMs;
    const critical = !p.up || tooLong;
    const suffix =
      critical && p.up
        ? ` (over ${PROBE_TIMEOUT_MS / 1000} s)`
        : slow
          ? ` (slower than ${limits.slowMs / 1000} s)`
          : '';
    out.push({
      check: `probe:${p.name}`,
      severity: critical ? 'critical' : 'warning',
      value: p.seconds,
      threshold: limits.slowMs / 1000,
      message: describeProbe(p) + suffix,
      failing: critical || slow,
      data: { up: p.up, status: p.status, seconds: p.seconds, ttfbSeconds: p.ttfbSeconds },
    });
    if (!p.url.startsWith('https:')) continue;
    const base = { check: `cert:${p.name}`, threshold: limits.certDays };
    if (p.certDaysLeft === null) {
      const note = 'no TLS handshake: see the probe';
      out.push({
        ...base,
        severity: 'warning',
        value: null,
        message: `certificate of ${p.url} not read`,
        skipped: true,
        note,
      });
      continue;
    }
    const days = p.certDaysLeft;
    const severity = days <= CERT_CRITICAL_DAYS ? 'critical' : 'warning';
    const limit = severity === 'critical' ? CERT_CRITICAL_DAYS : limits.certDays;
    out.push({
      ...base,
      severity,
      value: Math.round(days * 10) / 10,
      message: `certificate of ${p.url} ${describeCertDays(days)} (${severity === 'critical' ? 'CRITICAL' : 'WARNING'} within ${limit} days)`,
      failing: days <= limits.certDays || days <= CERT_CRITICAL_DAYS,
    });
  }
  return out;
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
