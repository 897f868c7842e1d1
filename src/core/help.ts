/** The end of every --help: three examples, and where the whole manual is (the man page and its docs/ source). */
export function helpFooter(tool: string, examples: [command: string, comment: string][], note?: string): string {
  const lines = examples.flatMap(([command, comment]) => [`  # ${comment}`, `  ${command}`]);
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
