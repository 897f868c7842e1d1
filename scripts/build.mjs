// Bundle one ESM entry per executable into dist/, sharing chunks, for fast start-up on Node 20+.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

await build({
  entryPoints: {
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
  target: 'node20',
  sourcemap: false,
  logLevel: 'warning',
  // The AWS SDK gains nothing from bundling (MEASURED.md) and is loaded lazily where used.
  external: ['@aws-sdk/*', '@smithy/*'],
  define: { MIZUAL_VERSION: JSON.stringify(pkg.version) },
  banner: {
    js: "import { createRequire as __mizualCreateRequire } from 'node:module'; const require = __mizualCreateRequire(import.meta.url);",
  },
});
