import { execa } from 'execa';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createStore } from '../../src/store/client.js';
import { createTestBucket, ensureS3, removeTestBucket, storeConfigFor, toolEnvFor } from '../harness/s3.js';
import { ROOT, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-install-');
after(scratch.cleanup);

const TOOLS = ['mizual-metrics', 'mizual-alerts', 'mizual-ship-logs', 'mizual-fetch-logs'];

describe('installing the packed package into an empty prefix', () => {
  it(
    'ships only what it needs, installs globally, every executable runs and man mizual-ship-logs reads',
    { timeout: 300_000 },
    async () => {
      const packed = await execa('npm', ['pack', '--json', '--pack-destination', scratch.dir], { cwd: ROOT });
      const [info] = JSON.parse(String(packed.stdout)) as { filename: string; files: { path: string }[] }[];
      assert.ok(info);
      const files = info.files.map((f) => f.path);
      for (const file of files) {
        assert.match(
          file,
          /^(bin\/|dist\/|man\/|docs\/|README\.md$|crontab\.example$|package\.json$|LICENSE$|examples\/)/,
          file,
        );
      }
      for (const tool of TOOLS) assert.ok(files.includes(`bin/${tool}.js`), tool);

      const prefix = path.join(scratch.dir, 'prefix');
      await execa(
        'npm',
        ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', path.join(scratch.dir, info.filename)],
        { cwd: scratch.dir },
      );
      const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
        .version;
      const env = { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: scratch.dir, NO_COLOR: '1' };
      for (const tool of TOOLS) {
        const result = await execa(path.join(prefix, 'bin', tool), ['--version'], {
          env,
          extendEnv: false,
          cwd: scratch.dir,
        });
        assert.equal(String(result.stdout).trim(), version, tool);
      }
      // `man mizual-ship-logs` works from the prefix npm installed into, and man-db's groff finds nothing to warn of.
      for (const tool of TOOLS) assert.ok(files.includes(`man/${tool}.1`), `man/${tool}.1 is packed`);
      const man = await execa('man', ['--warnings', '-P', 'cat', 'mizual-ship-logs'], {
        env: { ...env, MANPATH: path.join(prefix, 'share', 'man'), MANWIDTH: '80', LANG: 'C.UTF-8' },
        extendEnv: false,
        cwd: scratch.dir,
      });
      assert.equal(String(man.stderr), '', 'no roff warning');
      assert.match(String(man.stdout), /^NAME\n\s+mizual-ship-logs - /m);
      assert.match(String(man.stdout), /^OPTIONS\n\s+--dry-run\n/m);
      assert.match(String(man.stdout), /^EXIT STATUS$/m);

      const metrics = await execa(path.join(prefix, 'bin', 'mizual-metrics'), ['--json', '--no-docker'], {
        env,
        extendEnv: false,
        cwd: scratch.dir,
      });
      const report = JSON.parse(String(metrics.stdout)) as { memory: { totalBytes: number } };
      assert.ok(report.memory.totalBytes > 0);

      // The package has no dependencies: dist/ bundles them (the AWS SDK included), with their licences.
      const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(manifest.dependencies, undefined);
      const installed = path.join(prefix, 'lib', 'node_modules', 'mizual-monitoring');
      assert.deepEqual(
        readdirSync(installed).filter((f) => f === 'node_modules'),
        [],
        'nothing installed beside the package',
      );
      assert.match(
        readFileSync(path.join(installed, 'dist', 'THIRD-PARTY-NOTICES.txt'), 'utf8'),
        /@aws-sdk\/client-s3@/,
      );

      // The bundled S3 client works from the installed copy: list an archive through the real gateway.
      const s3 = await ensureS3();
      const bucket = await createTestBucket(s3, { tag: 'install' });
      const store = await createStore(storeConfigFor(s3, bucket));
      try {
        const file = path.join(scratch.dir, 'seed.tar.gz');
        writeFileSync(file, 'not really an archive\n');
        await store.putFile('logs/prod/web-1/2026-01-01/logs-20260101_003000.tar.gz', file);
        const listed = await execa(
          path.join(prefix, 'bin', 'mizual-fetch-logs'),
          ['--env', 'prod', '--date', '2026-01-01', '--list', '--json'],
          {
            env: {
              ...env,
              ...toolEnvFor(s3, bucket),
              S3_REGION: s3.region,
            },
            extendEnv: false,
            cwd: scratch.dir,
          },
        );
        assert.equal(String(listed.stderr), '', 'nothing on stderr (no SDK warning either)');
        assert.match(String(listed.stdout), /logs-20260101_003000\.tar\.gz/);
      } finally {
        store.close();
        await removeTestBucket(s3, bucket).catch(() => {});
      }
    },
  );
});
