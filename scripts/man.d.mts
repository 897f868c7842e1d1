/** The tools whose docs/<tool>.md becomes man/mizual-<tool>.1. */
export const MAN_TOOLS: string[];
/** Convert one docs page (`# tool` heading, then a one-paragraph summary) into a section-1 man page. */
export function markdownToMan(markdown: string, options: { version: string }): string;
/** Write man/mizual-<tool>.1 for every tool from docs/<tool>.md; returns the files written. */
export function writeManPages(root: string, version: string): string[];
