// A hung mount (a FUSE filesystem whose daemon never answers, like a dead sshfs) costs mizual-alerts and
// mizual-metrics about 2 s and a line saying so, not a hang. The mount exists only in a private mount
// namespace (test/harness/hung-mount.ts), so other tests on this machine never meet it.
import { execa } from 'execa';
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-hung-mount-');
after(scratch.cleanup);

interface Outcome {
  exitCode: number | string;
  stdout: string;
  stderr: string;
  ms: number;
}

async function besideHungMount(tool: string, args: string[]): Promise<{ outcome: Outcome; mount: string }> {
  const mount = path.join(scratch.dir, `backup-${Math.random().toString(36).slice(2, 8)}`);
  const result = await execa(
    'unshare',
    [
      '-m',
      '--propagation',
      'private',
      process.execPath,
      '--import',
      'tsx',
      path.join(ROOT, 'test/harness/hung-mount.ts'),
      mount,
      process.execPath,
      path.join(ROOT, 'bin', `${tool}.js`),
      ...args,
    ],
    {
      cwd: ROOT,
      timeout: 60_000,
      env: {
        MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
        MIZUAL_ALERT_LOG: path.join(scratch.dir, 'alerts.log'),
        MIZUAL_ENV_FILE: '',
        MIZUAL_CONTAINERS: 'none=mizual-absent-hung-mount',
        DOCKER_HOST: 'unix:///nonexistent.sock',
      },
    },
  );
  return { outcome: JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Outcome, mount };
}

describe('a hung mount', () => {
  it('mizual-alerts reports it UNKNOWN for its own disk check, checks the other disks and exits', async () => {
    const { outcome, mount } = await besideHungMount('mizual-alerts', ['--json', '--dry-run']);
    assert.ok(outcome.ms < 15_000, `took ${outcome.ms} ms`);
    const report = JSON.parse(outcome.stdout) as { checks: { check: string; status: string; message: string }[] };
    const hung = report.checks.find((c) => c.check === `disk:${mount}`);
    assert.ok(hung, outcome.stdout);
    assert.equal(hung.status, 'unknown');
    assert.match(
      hung.message,
      new RegExp(`disk ${mount} \\(fuse\\.sshfs backup@nas:/srv\\) not answering: statfs took over 2 s`),
    );
    assert.ok(
      report.checks.some((c) => c.check.startsWith('disk:') && c.check !== `disk:${mount}` && c.status !== 'unknown'),
      'the other disks are still checked',
    );
    assert.notEqual(outcome.exitCode, 0);
  });

  it('mizual-metrics shows it as not answering and exits', async () => {
    const { outcome, mount } = await besideHungMount('mizual-metrics', ['--json', '--no-docker', '--sample', '1']);
    assert.equal(outcome.exitCode, 0, outcome.stderr);
    assert.ok(outcome.ms < 15_000, `took ${outcome.ms} ms`);
    const report = JSON.parse(outcome.stdout) as { disks: { mount: string }[]; disksNotAnswering: { mount: string }[] };
    assert.deepEqual(
      report.disksNotAnswering.map((d) => d.mount),
      [mount],
    );
    assert.ok(report.disks.length > 0 && !report.disks.some((d) => d.mount === mount));
    const text = await besideHungMount('mizual-metrics', ['--no-docker', '--sample', '1']);
    assert.match(text.outcome.stdout, new RegExp(`${text.mount}\\s+not answering`));
  });
});
