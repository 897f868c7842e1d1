import { execa } from 'execa';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-install-');
after(scratch.cleanup);

const TOOLS = ['mizual-metrics', 'mizual-alerts', 'mizual-ship-logs', 'mizual-fetch-logs'];

describe('installing the packed package into an empty prefix', () => {
  it('ships only what it needs, installs globally, and every executable runs', { timeout: 300_000 }, async () => {
    const packed = await execa('npm', ['pack', '--json', '--pack-destination', scratch.dir], { cwd: ROOT });
    const [info] = JSON.parse(String(packed.stdout)) as { filename: string; files: { path: string }[] }[];
    assert.ok(info);
    const files = info.files.map((f) => f.path);
    for (const file of files) {
      assert.match(file, /^(bin\/|dist\/|README\.md$|crontab\.example$|package\.json$|LICENSE$|examples\/)/, file);
    }
    for (const tool of TOOLS) assert.ok(files.includes(`bin/${tool}.js`), tool);

    const prefix = path.join(scratch.dir, 'prefix');
    await execa(
      'npm',
      ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', path.join(scratch.dir, info.filename)],
      { cwd: scratch.dir },
    );
    const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const env = { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: scratch.dir, NO_COLOR: '1' };
    for (const tool of TOOLS) {
      const result = await execa(path.join(prefix, 'bin', tool), ['--version'], {
        env,
        extendEnv: false,
        cwd: scratch.dir,
      });
      assert.equal(String(result.stdout).trim(), version, tool);
    }
    const metrics = await execa(path.join(prefix, 'bin', 'mizual-metrics'), ['--json', '--no-docker'], {
      env,
      extendEnv: false,
      cwd: scratch.dir,
    });
    const report = JSON.parse(String(metrics.stdout)) as { memory: { totalBytes: number } };
    assert.ok(report.memory.totalBytes > 0);
  });
});
