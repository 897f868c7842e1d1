// Bundle one ESM entry per executable into dist/, sharing chunks, for fast start-up on Node 22+.
// Everything the tools load at run time is bundled, so the installed package has no dependencies.
// The AWS SDK is bundled from its ES modules, so only the S3 commands store.ts uses are kept: loading
// it then takes ~58 MiB RSS instead of ~66-70 MiB for the whole CommonJS client (measured with
// `mizual-fetch-logs --list`), and it stays in chunks that only ship-logs and fetch-logs load, lazily.
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeManPages } from './man.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
rmSync(path.join(root, 'dist'), { recursive: true, force: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: {
    start: 'src/commands/start.ts',
    metrics: 'src/commands/metrics.ts',
    alerts: 'src/commands/alerts.ts',
    'ship-logs': 'src/commands/ship-logs.ts',
    'fetch-logs': 'src/commands/fetch-logs.ts',
  },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  sourcemap: false,
  logLevel: 'warning',
  // Prefer packages' ES module builds: they tree-shake, the CommonJS ones do not.
  mainFields: ['module', 'main'],
  metafile: true,
  define: { MIZUAL_VERSION: JSON.stringify(pkg.version) },
  banner: {
    js: "import { createRequire as __mizualCreateRequire } from 'node:module'; const require = __mizualCreateRequire(import.meta.url);",
  },
});

/** The package directory (`node_modules/@scope/name`) an input file belongs to, or undefined for our own code. */
function packageDir(input) {
  const parts = input.split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at === -1) return undefined;
  const scoped = parts[at + 1]?.startsWith('@');
  return parts.slice(0, at + (scoped ? 3 : 2)).join('/');
}

// Bundled code carries its licences with it: every package that ended up in dist/, grouped by licence text.
const dirs = [...new Set(Object.keys(result.metafile.inputs).map(packageDir).filter(Boolean))].sort();
const byText = new Map();
for (const dir of dirs) {
  const meta = JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8'));
  const licenseFile = readdirSync(path.join(root, dir)).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = licenseFile ? readFileSync(path.join(root, dir, licenseFile), 'utf8').trim() : '';
  const key = `${meta.license ?? 'see package'}\n${text}`;
  if (!byText.has(key)) byText.set(key, []);
  byText.get(key).push(`${meta.name}@${meta.version}`);
}
if (dirs.length === 0 || !existsSync(path.join(root, 'dist'))) throw new Error('build produced no bundle');
const sections = [...byText].map(([key, names]) => {
  const [license, ...text] = key.split('\n');
  return `${names.join('\n')}\n\nLicense: ${license}\n\n${text.join('\n')}\n`;
});
writeFileSync(
  path.join(root, 'dist', 'THIRD-PARTY-NOTICES.txt'),
  `Third-party code bundled into mizual-monitoring ${pkg.version} (${dirs.length} packages)\n\n` +
    sections.join(`\n${'-'.repeat(72)}\n\n`),
);

// Each tool's --help as the program prints it at 80 columns, so `--help` loads no bundle (see start.ts).
mkdirSync(path.join(root, 'dist', 'help'), { recursive: true });
for (const tool of ['metrics', 'alerts', 'ship-logs', 'fetch-logs']) {
  const { buildProgram } = await import(pathToFileURL(path.join(root, 'dist', `${tool}.js`)).href);
  let text = '';
  const program = buildProgram().configureOutput({ writeOut: (s) => (text += s), getOutHelpWidth: () => 80 });
  program.outputHelp();
  writeFileSync(path.join(root, 'dist', 'help', `${tool}.txt`), text);
}

// The manual pages, from docs/<tool>.md: in the published package ("man" in package.json), not in git.
writeManPages(root, pkg.version);
