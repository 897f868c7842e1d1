/**
 * The shape of one alert check: a file in src/alerts/checks/ exports one `AlertCheck` (its name, its
 * flags with their defaults written once, and `run(context, limits)` returning observations), and
 * src/alerts/checks/index.ts lists it. The command builds its options from the list, and
 * src/alerts/run.ts parses each flag into the check's typed limits and runs every check at once.
 */
import type { DialFn } from '../docker/compose-hosts.js';
import type { CpuBaseline, Observation } from './state.js';
import type { Config, KnownVariable } from '../core/config.js';
import type { Trends } from '../core/trends.js';
import type { Snapshot } from '../docker/snapshot.js';
import type { FilesystemReport, MemoryFigures, NetCounters } from '../host/index.js';
import type { RunReadings } from '../history/record.js';
import type { OutsideFigures } from '../app/outside.js';

export type { Observation };

/** One flag of a check: how it is written, its help, its default (as a user would type it), and its parser. */
export interface CheckFlag<T> {
  /** Commander's syntax: `--restarts <count>`. */
  flag: string;
  /** One short line for --help; the docs page says the rest. */
  help: string;
  /** The default, parsed like a value given on the command line: the one place it is written. */
  default: string;
  /** A variable that stands in for the flag when the flag is not given (`MIZUAL_ALERT_CPU`). */
  variable?: KnownVariable;
  /** Text to the typed limit; a bad value throws a usage error naming `what` (the flag or the variable). */
  parse: (text: string, what: string) => T;
  /** A finer setting: --help names it on its closing line only (it stays within 60 lines); the man page says the rest. */
  more?: true;
}

/** The flags of a check, one per field of its limits. */
export type CheckFlags<L> = { readonly [K in keyof L]: CheckFlag<L[K]> };

/** The host readings that checks and the history sample share: each read at most once per run. */
export interface HostReads {
  filesystems: () => Promise<FilesystemReport>;
  memory: () => Promise<MemoryFigures>;
  /** The counters of the physical interfaces; null when unreadable. */
  net: () => Promise<NetCounters[] | null>;
  oomKills: () => Promise<number | null>;
  bootId: () => Promise<string | null>;
}

/** What every check may read: the run's settings, what earlier runs kept, and this run's shared looks. */
export interface CheckContext {
  config: Config;
  now: Date;
  /** --dry-run: keep nothing (no snapshot, no probe history). */
  dryRun: boolean;
  procRoot?: string;
  sysRoot?: string;
  /** What the previous runs stored (the history's samples, else the old state's). */
  trends: Trends;
  /** When the last run was (null on the first). */
  lastRunMs: number | null;
  previousCpu: CpuBaseline | null;
  /** This run's one look at the engine; null with --no-docker. */
  snapshot: Promise<Snapshot> | null;
  host: HostReads;
  /** One line each for stderr (an unreadable log, a malformed rule). */
  diagnostics: string[];
  /** What one check reads for others too (the application's logs, the broker), by name: see `shareOnce`. */
  shared?: Map<string, Promise<unknown>>;
  /** Where to connect for a URL's host: a Compose service or container name is dialled at its container. */
  dial?: DialFn;
}

/**
 * Start `read` once per run under `key` and hand its promise to every check that asks (the check that
 * owns the reading starts it at once; one that only uses it waits with `sharedRead`).
 */
export function shareOnce<T>(context: CheckContext, key: string, read: () => Promise<T>): Promise<T> {
  const shared = (context.shared ??= new Map());
  let p = shared.get(key) as Promise<T> | undefined;
  if (!p) {
    p = read();
    p.catch(() => undefined); // awaited by its owner; a user must not make it unhandled
    shared.set(key, p);
  }
  return p;
}

/** The reading another check started under `key` this run (after every check has started), or null. */
export async function sharedRead<T>(context: CheckContext, key: string): Promise<T | null> {
  // Every check's run() is called before the first of them awaits: by the next turn each owner has started.
  await Promise.resolve();
  const p = context.shared?.get(key) as Promise<T> | undefined;
  return p ? p.catch(() => null) : null;
}

/** What a check returns: its observations, and what it adds to the kept state and the history sample. */
export interface CheckOutcome {
  observations: Observation[];
  /** The parts of the trends this check keeps for the next run. */
  trends?: Partial<Trends>;
  /** The CPU counters the next run measures from. */
  cpu?: CpuBaseline | null;
  /** This check's part of the run's history sample. */
  sample?: Partial<Pick<RunReadings, 'cpuPercent' | 'app' | 'db'>>;
  /** The probes' and the broker's figures (joined to the application's in the sample). */
  outside?: OutsideFigures;
}

/** One alert check. */
export interface AlertCheck<L extends object = object> {
  /** The check's name (the check names it reports start with it, or are it). */
  name: string;
  /** The heading its flags are listed under in --help (`Host checks:`). */
  group: string;
  flags: CheckFlags<L>;
  /** Throws a usage error for a bad setting before any check starts (a malformed MIZUAL_PROBES). */
  validate?(config: Config): void;
  run(context: CheckContext, limits: L): Promise<CheckOutcome>;
}

/** Declare a check (typed: its flags and its run agree on its limits). */
export function defineCheck<L extends object>(check: AlertCheck<L>): AlertCheck<L> {
  return check;
}

/** The long name of a flag (`--restarts <count>` → `--restarts`). */
export function longName(flag: CheckFlag<unknown>): string {
  return flag.flag.split(/[ ,]/)[0] as string;
}

/**
 * A check's limits from the flags given (by long name), else the flag's variable, else its default.
 * Every flag is parsed, so a bad value is a usage error before the run starts.
 */
export function parseLimits<L extends object>(
  check: AlertCheck<L>,
  given: Readonly<Record<string, string | undefined>>,
  lookup?: (name: KnownVariable) => string | undefined,
): L {
  const limits = {} as Record<string, unknown>;
  for (const [key, flag] of Object.entries(check.flags) as [string, CheckFlag<unknown>][]) {
    const long = longName(flag);
    const fromVariable = flag.variable && lookup ? lookup(flag.variable) : undefined;
    if (given[long] !== undefined) limits[key] = flag.parse(given[long], long);
    else if (fromVariable !== undefined) limits[key] = flag.parse(fromVariable, flag.variable as string);
    else limits[key] = flag.parse(flag.default, long);
  }
  return limits as L;
}

/** A percentage as the checks' messages write it: `80%`, `80.5%`. */
export const percentText = (n: number): string => `${Number.isInteger(n) ? n : n.toFixed(1)}%`;
