import type { CheckResult } from './state.js';
import { createPainter, paintLevel, renderTable } from '../core/paint.js';

/** What the human view of a mizual-alerts run needs. */
export interface RenderableAlerts {
  status: 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
  dryRun: boolean;
  checks: readonly CheckResult[];
  logged: readonly string[];
  webhook: { delivered: number } | null;
}

/** A status line (monitoring-plugin style), a short table of checks, and the lines logged. */
export function renderAlerts(report: RenderableAlerts, color: boolean): string {
  const paint = createPainter(color);
  const problems = report.checks.filter((c) => c.status !== 'ok').map((c) => c.check);
  const level = report.status.toLowerCase() as CheckResult['status'];
  const head = paintLevel(paint, level, report.status) + (problems.length ? `: ${problems.join(', ')}` : '');
  const rows = report.checks.map((c) => [
    c.check,
    paintLevel(paint, c.status, c.status.toUpperCase()),
    c.message + (c.note ? ` [${c.note}]` : ''),
  ]);
  const lines = [head, renderTable(['check', 'status', 'detail'], rows, color)];
  if (report.logged.length > 0) {
    lines.push(report.dryRun ? 'would log:' : 'logged:', ...report.logged.map((l) => `  ${l}`));
  }
  if (report.webhook?.delivered) lines.push(`webhook: ${report.webhook.delivered} notifications delivered`);
  return lines.join('\n');
}

/** `--test-notification`: a line per target with its answer, then a verdict. */
export function renderTestNotification(
  answers: readonly { target: string; format: string; ok: boolean; answer: string }[],
  color: boolean,
): string {
  const paint = createPainter(color);
  const lines = answers.map(
    (a) => `${a.ok ? paint.green('ok  ') : paint.red('FAIL')}  ${a.format} ${a.target}: ${a.answer}`,
  );
  const failed = answers.filter((a) => !a.ok).length;
  lines.push(
    failed === 0
      ? `verdict: all ${answers.length} targets answered`
      : `verdict: ${failed} of ${answers.length} targets failed`,
  );
  return lines.join('\n');
}
