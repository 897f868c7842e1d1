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
      if (value === null || !Number.isFinite(value)) return;
      let lines = families.get(name);
      if (!lines) {
        lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
        families.set(name, lines);
      }
      const entries = Object.entries(labels).filter(([, v]) => v !== '');
      const labelText =
        entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
      lines.push(`${name}${labelText} ${value}`);
    },
    text: () => `${[...families.values()].flat().join('\n')}\n`,
  };
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
