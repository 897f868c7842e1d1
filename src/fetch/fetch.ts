/** The work of mizual-fetch-logs once its flags are checked (see options.ts). */
import path from 'node:path';
import type { Store } from '../store/client.js';
import type { CatSink } from './cat.js';
import type { DownloadOutcome } from './download.js';
import type { ExtractResult } from './extract.js';
import type { FetchOptions } from './options.js';

/** Where an invocation's output goes; the command binds it to stdout and stderr. */
export interface FetchOutput {
  json(doc: unknown): void;
  text(text: string): void;
  /** One diagnostic line (the command prefixes the tool's name). */
  warn(line: string): void;
  /** Redraw the progress line (empty: clear it); absent when stderr is not a terminal. */
  progress?: (line: string) => void;
  /** Where `--cat` writes its lines. */
  sink(): CatSink;
}

/**
 * One invocation of mizual-fetch-logs over the bucket: list, download, extract, cat. Nothing is printed
 * here: documents, text, warnings and progress go to the command's `out`. Returns the exit code.
 */
export async function fetchSelection(store: Store, bucket: string, o: FetchOptions, out: FetchOutput): Promise<number> {
  const list = await import('./list.js');
  const render = await import('./render.js');
  if (o.list && o.date === undefined && !o.range) {
    const dates = await list.listAvailability(store, o.env, o.host);
    if (o.json) out.json({ env: o.env, host: o.host ?? null, dates });
    else out.text(render.renderDates(o.host ? `${o.env}/${o.host}` : o.env, dates));
    return 0;
  }
  const { archives, where } = await list.selectArchives(store, bucket, o);
  if (o.list) {
    if (o.json) out.json({ env: o.env, ...where, archives });
    else out.text(render.renderArchives(archives));
    return 0;
  }
  const { downloadArchives } = await import('./download.js');
  const { extractArchive } = await import('./extract.js');
  const root = path.resolve(o.out);
  const extracted = new Map<string, ExtractResult | { error: string }>();
  let failed = false;
  const tty = out.progress !== undefined;
  const started = Date.now();
  let drawn = 0;
  const outcomes = await downloadArchives(
    store,
    archives.map((a) => ({ archive: a, file: path.join(root, o.env, a.host, a.date, a.name) })),
    {
      concurrency: o.concurrency,
      onProgress: (p) => {
        if (!tty || (Date.now() - drawn < 100 && p.doneFiles < p.files)) return;
        drawn = Date.now();
        out.progress?.(render.renderProgress(p, drawn - started));
      },
      onReady: async (outcome: DownloadOutcome) => {
        if (!o.extract || outcome.status === 'failed') return;
        const dir = outcome.file.replace(/\.tar\.gz$/, '');
        try {
          extracted.set(outcome.archive.key, await extractArchive(outcome.file, dir, root));
        } catch (err) {
          extracted.set(outcome.archive.key, { error: (err as Error).message });
        }
      },
    },
  );
  if (tty) out.progress?.('');
  const human = !o.json && !o.cat;
  for (const outcome of outcomes) {
    const label = `${outcome.archive.host} ${outcome.archive.name}`;
    if (outcome.status === 'failed') {
      failed = true;
      out.warn(`download of ${outcome.archive.key} failed: ${outcome.error}`);
      continue;
    }
    if (human) out.text(render.renderOutcome(outcome));
    const x = extracted.get(outcome.archive.key);
    if (x === undefined) continue;
    if ('error' in x) {
      failed = true;
      out.warn(`cannot extract ${label}: ${x.error}`);
      continue;
    }
    for (const r of x.refused) out.warn(`refused ${label}: entry '${r.name}': ${r.reason}`);
    for (const m of x.mismatches) out.warn(`verification failed ${label}: ${m.name}: ${m.reason}`);
    failed ||= x.refused.length > 0 || x.mismatches.length > 0;
    if (human) out.text(render.renderExtract(x));
  }
  if (o.json) {
    const rows = outcomes.map((x) => ({ ...x.archive, file: x.file, status: x.status, error: x.error ?? null }));
    out.json({ env: o.env, ...where, out: root, archives: rows, extracted: Object.fromEntries(extracted) });
  }
  if (o.cat) {
    const { catArchives } = await import('./cat.js');
    const ready = outcomes.filter((x) => x.status !== 'failed');
    const sources = ready.map((x) => ({ host: x.archive.host, file: x.file, end: x.archive.end }));
    const filter = { container: o.container, grep: o.grep, range: o.range };
    const summary = await catArchives(sources, filter, out.sink());
    for (const u of summary.unreadable)
      out.warn(`cannot read archive ${u.file}: ${u.error.replace(`${u.file}: `, '')}`);
    failed ||= summary.unreadable.length > 0;
    if (summary.printed === 0) out.warn(render.renderNothingPrinted(summary, o));
  }
  return failed ? 1 : 0;
}
