// One mizual-alerts run looks at the engine once: one list of every container and one inspect per
// watched container, shared by the container checks, the application's log reader and the broker
// lookup (before, each asked on its own: an inspect per container twice and a list of its own).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureDocker, removeStartedContainers, startContainer, uniqueName } from '../harness/docker.js';
import { startDockerCounter, type DockerCounter } from '../harness/docker-counter.js';
import { runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-alerts-engine-');
after(scratch.cleanup);

describe('mizual-alerts asks the engine about each container once per run', () => {
  const names = { web: uniqueName('once-web'), worker: uniqueName('once-worker') };
  const missing = uniqueName('once-missing');
  let counter: DockerCounter;

  before(async () => {
    await ensureDocker();
    await startContainer(names.web, 'echo "GET / 200"; exec sleep 3600');
    await startContainer(names.worker, 'echo ready; exec sleep 3600');
    counter = await startDockerCounter(path.join(scratch.dir, 'docker.sock'));
  });
  after(async () => {
    await counter?.close();
    await removeStartedContainers();
  });

  it('one list and one inspect per watched container, whatever reads them', async () => {
    const env = {
      DOCKER_HOST: counter.host,
      MIZUAL_CONTAINERS: `web=${names.web},worker=${names.worker},gone=${missing}`,
      MIZUAL_STATE_DIR: path.join(scratch.dir, 'state'),
      MIZUAL_ALERT_LOG: path.join(scratch.dir, 'alerts.log'),
      MIZUAL_HOSTNAME: 'engine-once',
      // A broker named like a Compose service: it is looked for in the run's list, not in a list of its own.
      CELERY_BROKER_URL: 'redis://mizual-no-such-broker-service:6379/0',
    };
    for (const run of [1, 2]) {
      counter.requests.length = 0;
      const result = await runTool('mizual-alerts', ['--cpu-sample', '0', '--json'], { env, cwd: scratch.dir });
      assert.ok([0, 1, 2].includes(result.exitCode ?? -1), result.stderr);
      const report = JSON.parse(result.stdout) as { checks: { check: string; status: string }[] };
      const status = (check: string) => report.checks.find((c) => c.check === check)?.status;
      assert.equal(status('docker'), 'ok', `run ${run}`);
      assert.equal(status('container:web'), 'ok', `run ${run}`);
      assert.equal(status('container:gone'), 'critical', `run ${run}`);
      const lists = counter.requests.filter((r) => /^GET \/containers\/json(\?|$)/.test(r));
      assert.deepEqual(lists, ['GET /containers/json?all=1'], `run ${run}: ${counter.requests.join(' | ')}`);
      for (const name of [names.web, names.worker, missing]) {
        const asked = counter.requests.filter((r) => r.includes(`/containers/${encodeURIComponent(name)}/`));
        assert.deepEqual(
          asked,
          [`GET /containers/${name}/json`],
          `run ${run}, ${name}: ${counter.requests.join(' | ')}`,
        );
      }
      // Nothing else about a container: 1 list + 3 inspects in all.
      const aboutContainers = counter.requests.filter((r) => r.includes('/containers/'));
      assert.equal(aboutContainers.length, 4, `run ${run}: ${counter.requests.join(' | ')}`);
    }
  });
});
