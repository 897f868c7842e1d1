// A day on a server, in fast time: containers log all along, mizual-alerts runs every tick (its log
// rotating), mizual-ship-logs every tick with one B2 outage and one container replaced the way
// watchtower does it, then the remote prune. Afterwards a "laptop" fetches the day with
// mizual-fetch-logs and every emitted line is there exactly once, except the replaced container's
// lines written after its last shipment, which Docker deleted with it and the manifest names.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { dockerCli, startContainer, uniqueName } from '../harness/docker.js';
import { toolEnvFor } from '../harness/s3.js';
import { useBucket } from '../harness/bucket.js';
import { runTool, scratchDir } from '../helpers/cli.js';

const scratch = scratchDir('mizual-day-');
after(scratch.cleanup);

const HOST = 'day-host';
const DAY = 86_400_000;

interface Gap {
  short: string;
  oldContainerId: string;
  newContainerId: string;
  lastShippedAt: string;
}

interface DayManifest {
  gaps: Gap[];
  files: { completedFromHold?: { containerId: string; lines: number }[] }[];
}

/** Every line Docker still holds for a container, as `docker logs --timestamps` prints them. */
async function dockerLines(name: string): Promise<string[]> {
  const { execa } = await import('execa');
  const result = await execa('docker', ['logs', '--timestamps', name], { stdin: 'ignore', encoding: 'buffer' });
  // The CLI splits the two streams; their order does not matter for counting.
  return [result.stdout, result.stderr].flatMap((b) => Buffer.from(b).toString('utf8').split('\n').filter(Boolean));
}

function counts(lines: string[]): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of lines) map.set(line, (map.get(line) ?? 0) + 1);
  return map;
}

describe('a day on a server', () => {
  const fx = useBucket('day', { versioned: true, docker: true });
  let env: Record<string, string>;
  const backend = uniqueName('day-backend');
  const worker = uniqueName('day-worker');
  const stateDir = path.join(scratch.dir, 'state');
  const alertLog = path.join(scratch.dir, 'log', 'alerts.log');

  before(async () => {
    env = {
      MIZUAL_CONTAINERS: `backend=${backend},worker=${worker}`,
      MIZUAL_LOG_DIR: path.join(scratch.dir, 'archives'),
      MIZUAL_STATE_DIR: stateDir,
      MIZUAL_ALERT_LOG: alertLog,
      MIZUAL_HOSTNAME: HOST,
      STORAGE_PATH_PREFIX: 'preview',
      MIZUAL_RETENTION_DAYS: '30',
      ...toolEnvFor(fx.s3, fx.bucket, fx.strict.url),
      MIZUAL_TEST_RETRY_DELAY_MS: '100',
    };
  });

  it('ships every line exactly once through an outage and a replaced container, prunes, and fetches it back', async () => {
    // Objects from long ago: this host's must go at prune time, other hosts' and envs' must stay.
    const old = new Date(Date.now() - 40 * DAY);
    const oldDate = old.toISOString().slice(0, 10);
    const oldName = `logs-${oldDate.replaceAll('-', '')}_120000.tar.gz`;
    const seed = path.join(scratch.dir, 'seed.tar.gz');
    writeFileSync(seed, 'not really an archive');
    const oldOwn = `logs/dev/${HOST}/${oldDate}/${oldName}`;
    const keep = [`logs/dev/other-host/${oldDate}/${oldName}`, `logs/prod/${HOST}/${oldDate}/${oldName}`];
    for (const key of [oldOwn, oldOwn, ...keep]) await fx.store.putFile(key, seed); // two versions of our own

    const script = (tag: string) =>
      `i=0; while true; do i=$((i+1)); echo "${tag} out $i"; echo "${tag} err $i" >&2; sleep 0.05; done`;
    await startContainer(backend, script('backend-1'));
    await startContainer(worker, script('worker'));
    const oldBackendId = (await dockerCli(['inspect', '-f', '{{.Id}}', backend])).trim();
    let oldBackendLines: string[] = [];

    const alertArgs = (tick: number) => [
      '--no-docker',
      '--cpu-sample',
      '0',
      '--log-max-size',
      '1K',
      // Flip the memory threshold so every run changes state and writes a line.
      '--memory',
      tick % 2 === 0 ? '1' : '99',
    ];
    const ticks = 14;
    for (let tick = 0; tick < ticks; tick++) {
      await sleep(400);
      const alerts = await runTool('mizual-alerts', alertArgs(tick), { env, cwd: scratch.dir });
      assert.ok([0, 1, 2].includes(alerts.exitCode), `alerts tick ${tick}: ${alerts.exitCode} ${alerts.stderr}`);

      if (tick === 4) await fx.strict.pause(); // B2 is down for one run
      if (tick === 8) {
        // Watchtower: stop the old container, remove it (Docker deletes its log), start the new image.
        await dockerCli(['stop', '-t', '1', backend]);
        oldBackendLines = await dockerLines(backend);
        await dockerCli(['rm', backend]);
        await startContainer(backend, script('backend-2'));
        await sleep(300);
      }
      const ship = await runTool('mizual-ship-logs', [], { env, cwd: scratch.dir });
      if (tick === 4) {
        await fx.strict.resume();
        assert.equal(ship.exitCode, 1, `outage run: ${ship.stderr}`);
        assert.match(ship.stderr, /wait for upload/);
      } else {
        assert.equal(ship.exitCode, 0, `ship tick ${tick}: ${ship.stderr}`);
      }
      // The run before held the old container's log file: nothing of it is lost, so nothing to warn about.
      if (tick === 8) assert.doesNotMatch(ship.stderr, /was recreated/);
    }

    // End of the day: writers stop, the last lines settle, a last alert run and a last shipment.
    await dockerCli(['kill', backend, worker]);
    const newBackendLines = await dockerLines(backend);
    const workerLines = await dockerLines(worker);
    await sleep(2500);
    assert.ok((await runTool('mizual-alerts', alertArgs(ticks), { env, cwd: scratch.dir })).exitCode <= 2);
    const last = await runTool('mizual-ship-logs', ['--json'], { env, cwd: scratch.dir });
    assert.equal(last.exitCode, 0, last.stderr);
    assert.deepEqual((JSON.parse(last.stdout) as { pending: string[] }).pending, []);

    // Midnight: remote retention removes every version of this host's old archive, nothing else.
    const prune = await runTool('mizual-ship-logs', ['--prune'], { env, cwd: scratch.dir });
    assert.equal(prune.exitCode, 0, prune.stderr);
    assert.deepEqual(
      (await fx.store.listVersions(`logs/dev/${HOST}/${oldDate}/`)).map((v) => v.key),
      [],
      'no version of the old archive is left',
    );
    for (const key of keep) assert.ok(await fx.store.headObject(key), `${key} kept`);
    assert.deepEqual(fx.strict.rejected, [], 'no request B2 would refuse');

    // The laptop: list, then fetch and extract each day with archives, then read them merged.
    const laptop = path.join(scratch.dir, 'laptop');
    mkdirSync(laptop);
    const fetchEnv = toolEnvFor(fx.s3, fx.bucket, fx.strict.url);
    const list = await runTool('mizual-fetch-logs', ['--env', 'dev', '--list', '--json'], {
      env: fetchEnv,
      cwd: laptop,
    });
    assert.equal(list.exitCode, 0, list.stderr);
    const dates = [...new Set([...list.stdout.matchAll(/"(\d{4}-\d\d-\d\d)"/g)].map((m) => m[1] as string))].filter(
      (d) => d !== oldDate,
    );
    assert.ok(dates.length >= 1 && dates.length <= 2, `dates: ${dates.join(',')}`);
    const catLines: string[] = [];
    const manifests: DayManifest[] = [];
    for (const date of dates) {
      const args = ['--env', 'dev', '--date', date, '--host', HOST, '--out', 'day'];
      const extract = await runTool('mizual-fetch-logs', [...args, '--extract'], { env: fetchEnv, cwd: laptop });
      assert.equal(extract.exitCode, 0, extract.stderr);
      const dayDir = path.join(laptop, 'day', 'dev', HOST, date);
      for (const entry of readdirSync(dayDir)) {
        const manifest = path.join(dayDir, entry, 'manifest.json');
        if (existsSync(manifest)) manifests.push(JSON.parse(readFileSync(manifest, 'utf8')) as DayManifest);
      }
      const cat = await runTool('mizual-fetch-logs', [...args, '--cat'], { env: fetchEnv, cwd: laptop });
      assert.equal(cat.exitCode, 0, cat.stderr);
      catLines.push(...cat.stdout.split('\n').filter(Boolean));
    }

    // The old container was removed between two runs, and its lines after the last run are shipped all
    // the same: finished from the hold, under its short name, named in the manifest.
    const gaps = manifests.flatMap((m) => m.gaps);
    assert.deepEqual(gaps, [], "no gap: the hold kept the old container's log");
    const fromHold = manifests.flatMap((m) => m.files.flatMap((f) => f.completedFromHold ?? []));
    assert.equal(fromHold.length, 1, JSON.stringify(fromHold));
    assert.equal(fromHold[0]?.containerId, oldBackendId);
    assert.ok((fromHold[0]?.lines ?? 0) > 0, 'lines written after the last run were recovered');

    const byContainer = (short: string) =>
      catLines.filter((l) => l.startsWith(`${HOST} ${short} `)).map((l) => l.slice(`${HOST} ${short} `.length));
    const exactlyOnce = (label: string, expected: string[], got: string[]) => {
      const want = counts(expected);
      const have = counts(got);
      const missing = expected.filter((l) => !have.has(l));
      const twice = [...have].filter(([, n]) => n > 1).map(([l]) => l);
      const extra = got.filter((l) => !want.has(l));
      assert.deepEqual(
        { missing: missing.slice(0, 5), twice: twice.slice(0, 5), extra: extra.slice(0, 5) },
        {
          missing: [],
          twice: [],
          extra: [],
        },
        label,
      );
      assert.equal(got.length, expected.length, label);
    };
    exactlyOnce('worker', workerLines, byContainer('worker'));
    exactlyOnce('backend (old, then new)', [...oldBackendLines, ...newBackendLines], byContainer('backend'));
    assert.ok(workerLines.length > 100 && newBackendLines.length > 10, 'the containers did log');

    // Every alert line, across rotations, shipped exactly once.
    const generations = readdirSync(path.dirname(alertLog))
      .filter((n) => n.startsWith('alerts.log'))
      .sort()
      .reverse();
    assert.ok(generations.length >= 2, `the alert log rotated: ${generations.join(',')}`);
    const alertLines = generations.flatMap((n) =>
      readFileSync(path.join(path.dirname(alertLog), n), 'utf8')
        .split('\n')
        .filter(Boolean),
    );
    exactlyOnce('alerts', alertLines, byContainer('alerts'));
  });
});
