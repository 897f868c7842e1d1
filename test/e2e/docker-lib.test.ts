/**
 * src/docker/ against the real engine that test/harness/docker-up.sh provides.
 * Fails (never skips) when no engine can be had.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { computeContainerStats } from '../../src/docker/stats.js';
import { createDockerClient, type DockerClient, type LogFrame } from '../../src/docker/client.js';
import {
  ensureDocker,
  removeStartedContainers,
  startContainer,
  tailLines,
  uniqueName,
  waitForState,
} from '../harness/docker.js';

// Sleeps between writes so the engine's order is the order the lines were written in.
const TALKER_SCRIPT =
  'echo "out 1"; sleep 0.3; echo "err 1" >&2; sleep 0.3; echo "out 2"; sleep 0.3; echo "err 2" >&2; sleep 0.3; echo ready; exec sleep 600';
const QUITTER_SCRIPT = 'echo "bye"; echo "failing" >&2; exit 5';

async function collect(stream: AsyncIterable<unknown>): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const item of stream) {
    const frame = item as LogFrame;
    out.push([frame.stream, frame.data.toString('utf8')]);
  }
  return out;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('docker lib against the real engine', { timeout: 180_000 }, () => {
  const talker = uniqueName('talker');
  const quitter = uniqueName('quitter');
  const busy = uniqueName('busy');
  const healthy = uniqueName('healthy');
  const sick = uniqueName('sick');
  const tty = uniqueName('tty');
  let client: DockerClient;
  let talkerId = '';
  let busyId = '';
  let setupError: unknown;

  before(async () => {
    try {
      await ensureDocker();
    } catch (err) {
      // Keep going so every test reports the failure itself (counted as failed, not cancelled).
      setupError = err;
      return;
    }
    client = createDockerClient();
    [talkerId, , busyId] = await Promise.all([
      startContainer(talker, TALKER_SCRIPT),
      startContainer(quitter, QUITTER_SCRIPT),
      startContainer(busy, 'while :; do :; done'),
      startContainer(healthy, 'exec sleep 600', { healthCmd: 'true' }),
      startContainer(sick, 'exec sleep 600', { healthCmd: 'false' }),
      startContainer(tty, 'echo "from a tty"; exec sleep 600', { tty: true }),
    ]);
    await waitForState(quitter, ['exited']);
    await waitFor('talker to finish writing', async () =>
      (await tailLines(client, talker, 1))[0]?.text === 'ready' ? true : undefined,
    );
  });

  beforeEach(() => {
    if (setupError) throw setupError;
  });

  after(async () => {
    client?.close();
    await removeStartedContainers();
  });

  it('pings the engine', async () => {
    const { apiVersion } = await client.ping();
    assert.match(apiVersion ?? '', /^1\.\d+$/);
  });

  it('lists running containers by default and stopped ones with all', async () => {
    const running = await client.listContainers();
    const names = new Set(running.map((c) => c.name));
    assert.ok(names.has(talker) && names.has(busy), 'running test containers listed');
    assert.ok(!names.has(quitter), 'exited container not listed without all');
    const all = await client.listContainers({ all: true });
    const entry = all.find((c) => c.name === quitter);
    assert.ok(entry, 'exited container listed with all');
    assert.equal(entry.state, 'exited');
    assert.match(entry.status, /^Exited \(5\)/);
    const talkerEntry = all.find((c) => c.name === talker)!;
    assert.equal(talkerEntry.id, talkerId);
    assert.equal(talkerEntry.image, 'mizual-test-busybox:1');
    assert.equal(talkerEntry.state, 'running');
    assert.equal(talkerEntry.labels['mizual-test'], '1');
  });

  it('inspects a stopped container: exited, its exit code and times', async () => {
    const details = await client.inspectContainer(quitter);
    assert.equal(details.state, 'exited');
    assert.equal(details.exitCode, 5);
    assert.equal(details.oomKilled, false);
    assert.equal(details.health, 'none');
    assert.ok(details.finishedAt && details.startedAt && details.createdAt);
    // Not compared with startedAt: for a container that exits at once, containerd's exit time can precede it.
    assert.ok(Math.abs(Date.now() - Date.parse(details.finishedAt)) < 120_000);
    const running = await client.inspectContainer(talkerId);
    assert.equal(running.name, talker);
    assert.equal(running.state, 'running');
    assert.equal(running.finishedAt, null);
    assert.ok(running.pid > 0);
  });

  it('reports a missing container as a one-line 404', async () => {
    await assert.rejects(client.inspectContainer(uniqueName('absent')), (err: Error & { statusCode?: number }) => {
      assert.equal(err.statusCode, 404);
      assert.match(err.message, /^Docker engine: No such container: mizual-test-absent-/);
      return true;
    });
  });

  it('sees health from the status text and from inspect', async () => {
    const [good, bad] = await waitFor('health checks to settle', async () => {
      const list = await client.listContainers();
      const good = list.find((c) => c.name === healthy);
      const bad = list.find((c) => c.name === sick);
      return good?.health === 'healthy' && bad?.health === 'unhealthy' ? [good, bad] : undefined;
    });
    assert.match(good.status, /\(healthy\)/);
    assert.match(bad.status, /\(unhealthy\)/);
    assert.equal((await client.inspectContainer(sick)).health, 'unhealthy');
    assert.equal((await client.inspectContainer(healthy)).health, 'healthy');
  });

  it('streams logs demultiplexed, in true order, with stream labels', async () => {
    const frames = await collect(await client.containerLogs(talker));
    assert.deepEqual(frames, [
      ['stdout', 'out 1\n'],
      ['stderr', 'err 1\n'],
      ['stdout', 'out 2\n'],
      ['stderr', 'err 2\n'],
      ['stdout', 'ready\n'],
    ]);
    const exited = await collect(await client.containerLogs(quitter));
    assert.deepEqual(exited.map(([stream]) => stream).sort(), ['stderr', 'stdout']);
  });

  it('honours timestamps, tail and inclusive nanosecond since/until bounds', async () => {
    const lines = await tailLines(client, talker, 10);
    assert.deepEqual(
      lines.map((l) => `${l.stream}:${l.text}`),
      ['stdout:out 1', 'stderr:err 1', 'stdout:out 2', 'stderr:err 2', 'stdout:ready'],
    );
    for (const line of lines) assert.match(line.timestamp ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$/);
    assert.deepEqual(
      (await tailLines(client, talker, 2)).map((l) => l.text),
      ['err 2', 'ready'],
    );
    const stamp = lines[2]!.timestamp!;
    const exact = await collect(await client.containerLogs(talker, { since: stamp, until: stamp }));
    assert.deepEqual(exact, [['stdout', 'out 2\n']]);
    const fromThere = await collect(await client.containerLogs(talker, { since: stamp, timestamps: true }));
    assert.equal(fromThere.length, 3);
    assert.ok(fromThere[0]![1].startsWith(`${stamp} out 2`));
  });

  it('reads a TTY container raw, as stdout', async () => {
    const frames = await collect(await client.containerLogs(tty));
    assert.ok(frames.length > 0);
    assert.ok(frames.every(([stream]) => stream === 'stdout'));
    assert.equal(frames.map(([, text]) => text).join(''), 'from a tty\r\n');
  });

  it('runs a command in a container and returns its output and exit code', async () => {
    const result = await client.execInContainer(talker, ['sh', '-c', 'echo hello; echo oops >&2; exit 4']);
    assert.deepEqual(result, { exitCode: 4, stdout: 'hello\n', stderr: 'oops\n' });
    const ok = await client.execInContainer(talkerId, ['cat', '/etc/passwd']);
    assert.equal(ok.exitCode, 0);
    assert.match(ok.stdout, /^root:x:0:0:/);
    await assert.rejects(client.execInContainer(quitter, ['true']), /is not running/);
  });

  it('measures a busy container above zero CPU, from cgroup files and from the API alike', async () => {
    const [fromFiles] = await client.containerStats([busyId], { intervalMs: 500 });
    assert.ok(
      fromFiles!.cpuPercent !== null && fromFiles!.cpuPercent > 1,
      `cgroup cpu ${String(fromFiles!.cpuPercent)}`,
    );
    assert.ok(fromFiles!.memoryBytes !== null && fromFiles!.memoryBytes > 0);
    // A cgroup root with nothing in it forces the one-shot stats API.
    const apiOnly = createDockerClient({ cgroupRoot: '/nonexistent-cgroup-root' });
    const before = await apiOnly.sampleContainerCpu([busyId]);
    assert.equal(before.readings.get(busyId)?.source, 'api');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [fromApi] = computeContainerStats(before, await apiOnly.sampleContainerCpu([busyId]));
    apiOnly.close();
    assert.ok(fromApi!.cpuPercent !== null && fromApi!.cpuPercent > 1, `api cpu ${String(fromApi!.cpuPercent)}`);
    assert.ok(fromApi!.memoryBytes !== null && fromApi!.memoryBytes > 0);
  });

  it('takes CPU and memory of five containers in one call', async () => {
    // Speed against `docker stats --no-stream` is measured by bench/metrics.mjs, not asserted here.
    const ids = (await client.listContainers())
      .filter((c) => [talker, busy, healthy, sick, tty].includes(c.name))
      .map((c) => c.id);
    assert.equal(ids.length, 5);
    const stats = await client.containerStats(ids, { intervalMs: 500 });
    assert.deepEqual(stats.map((s) => s.id).sort(), [...ids].sort());
    assert.ok(stats.every((s) => s.cpuPercent !== null && s.memoryBytes !== null && s.memoryBytes > 0));
    const busyStats = stats.find((s) => s.id === busyId);
    assert.ok(busyStats?.cpuPercent !== null && (busyStats?.cpuPercent ?? 0) > 1, `busy cpu ${busyStats?.cpuPercent}`);
  });
});
