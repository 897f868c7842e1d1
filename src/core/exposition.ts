/**
 * The Prometheus text exposition format, as node_exporter's textfile collector reads it: one HELP and
 * TYPE line per family, the family's samples right after them (families must not interleave).
 */

export type MetricType = 'gauge' | 'counter';

export interface Exposition {
  /** Add one sample; null and non-finite values are left out (a missing figure is no sample, not 0). A `_total` name is a counter unless told otherwise. */
  metric(name: string, help: string, value: number | null, labels?: Record<string, string>, type?: MetricType): void;
  /** The document, ending with a newline. */
  text(): string;
}

/** A writer that keeps each family's samples together whatever order they are added in. */
export function createExposition(): Exposition {
  const families = new Map<string, string[]>();
  return {
    metric(name, help, value, labels = {}, type = name.endsWith('_total') ? 'counter' : 'gauge') {
      checkName(name);
      if (value === null || !Number.isFinite(value)) return;
      let lines = families.get(name);
      if (!lines) {
        lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
        families.set(name, lines);
      }
      // An empty label value is the same series as no label: left out.
      lines.push(
        `${name}${formatLabels(Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== '')))} ${value}`,
      );
    },
    text: () => `${[...families.values()].flat().join('\n')}\n`,
  };
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A metric name the format does not allow is our bug: say so instead of writing a file Prometheus rejects. */
export function checkName(name: string): void {
  if (!METRIC_NAME.test(name)) throw new Error(`not a Prometheus metric name: ${JSON.stringify(name)}`);
}

/** `{a="x",b="y"}` with the values escaped as the format says (backslash, quote, newline); '' for no labels. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  for (const [k] of entries) {
    if (!LABEL_NAME.test(k) || k.startsWith('__')) throw new Error(`not a Prometheus label name: ${JSON.stringify(k)}`);
  }
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
