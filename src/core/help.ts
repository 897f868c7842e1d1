/** The end of every --help: three examples, and where the whole manual is (the man page and its docs/ source). */
export function helpFooter(tool: string, examples: [command: string, comment: string][], note?: string): string {
  const width = Math.max(...examples.map(([command]) => command.length));
  // One line per example when it fits in 80 columns, else the comment goes on the line above.
  const fits = examples.every(([, comment]) => 2 + width + 4 + comment.length <= 80);
  const lines = examples.flatMap(([command, comment]) =>
    fits ? [`  ${command.padEnd(width)}  # ${comment}`] : [`  # ${comment}`, `  ${command}`],
  );
  const page = tool.replace(/^mizual-/, '');
  return [
    '',
    ...(note ? [note, ''] : []),
    'Examples:',
    ...lines,
    '',
    `Full manual: man ${tool} (or docs/${page}.md)`,
  ].join('\n');
}
