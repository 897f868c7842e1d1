/**
 * The shape every collector takes (as postgres_exporter's collector/ does): the series it exposes and
 * one scrape function filling its part of the report from the one session of this run.
 */
import type { Query } from '../connection.js';
import type { DbReport } from '../model.js';
import type { Counters, DbHistory, StatementEpoch } from '../history.js';

export interface ScrapeContext {
  query: Query;
  /** Our own backend (left out of every figure). */
  selfPid: number;
  /** The connecting role, to name it in a GRANT hint. */
  user: string;
  database: string;
  longSeconds: number;
  windowMs: number;
  nowMs: number;
  /** server_version_num (e.g. 170004), set by the server collector before the others run. */
  serverVersion: number;
  /** What earlier alerts runs kept (statement snapshots, size samples). */
  history: DbHistory;
  /** One line each for what the role may not see, with the command that enables it. */
  notes: string[];
  /** Set by the statements collector: every statement's counters since reset, for the next snapshot. */
  statementCounters?: Map<string, Counters>;
  /** Set by the statements collector: when its counters started (stats_reset, dealloc). */
  statementEpoch?: StatementEpoch;
  /** Set by the statements collector: the texts to keep for the next run (those used first). */
  statementTexts?: Record<string, string>;
}

export interface Sample {
  value: number | null;
  labels?: Record<string, string>;
}

export interface Series {
  name: string;
  help: string;
  samples(report: DbReport): Sample[];
}

export interface Collector {
  name: string;
  series: Series[];
  scrape(ctx: ScrapeContext, report: DbReport): Promise<void>;
}

/** A number from a driver value (pg returns bigint and numeric as strings). */
export function num(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

/** An ISO time from a driver value (Date or null). */
export function iso(value: unknown): string | null {
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'string' ? value : null;
}

/** An extension version (`1.10`) as a comparable number pair: [1, 10]. */
export function versionParts(text: string | null | undefined): [number, number] {
  const [major, minor] = String(text ?? '0').split('.');
  return [Number(major) || 0, Number(minor) || 0];
}

/** Whether extension version `a` is at least `b` (`1.10` is after `1.9`). */
export function atLeast(a: string | null | undefined, b: string): boolean {
  const [am, an] = versionParts(a);
  const [bm, bn] = versionParts(b);
  return am > bm || (am === bm && an >= bn);
}
