import { Chalk, type ChalkInstance } from 'chalk';
import Table from 'cli-table3';

// Loaded only when human output is drawn: chalk and cli-table3 stay off the --json start-up path.

/** A chalk instance that emits codes only when colour is on. */
export function createPainter(color: boolean): ChalkInstance {
  return new Chalk({ level: color ? 1 : 0 });
}

export type Level = 'ok' | 'warning' | 'critical' | 'unknown';

/** Paint text by its alert level. */
export function paintLevel(paint: ChalkInstance, level: Level, text: string): string {
  if (level === 'critical') return paint.red.bold(text);
  if (level === 'warning') return paint.yellow(text);
  if (level === 'unknown') return paint.gray(text);
  return paint.green(text);
}

/** Render rows as a table; cli-table3 is told not to colour so pipes stay clean. */
export function renderTable(head: string[], rows: string[][], color: boolean): string {
  const table = new Table({
    head,
    style: { head: color ? ['bold'] : [], border: [], compact: true, 'padding-left': 0, 'padding-right': 2 },
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '',
    },
  });
  for (const row of rows) table.push(row);
  return table.toString();
}
