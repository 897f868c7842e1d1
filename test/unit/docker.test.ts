import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DockerApiError, createDockerClient, toDockerTimestamp, type LogFrame } from '../../src/docker/client.js';
import { LogDemuxer, framesToLines } from '../../src/docker/frames.js';
import {
  computeContainerStats,
  containerCpuPercent,
  memoryWithoutCache,
  type ContainerCpuSample,
} from '../../src/docker/stats.js';
import { healthFromStatus, mapHealth, mapState, toDetails, toSummary } from '../../src/docker/model.js';
import { parseDockerHost } from '../../src/docker/endpoint.js';
import { MizualError, UsageError } from '../../src/core/errors.js';
import { tailLines } from '../harness/docker.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/docker/', import.meta.url));
const fixture = (name: string) => readFile(join(FIXTURES, name));
const fixtureJson = async <T>(name: string): Promise<T> => JSON.parse((await fixture(name)).toString('utf8')) as T;

/** Frames of a multiplexed buffer, parsed the slow obvious way, as the reference. */
function referenceFrames(data: Buffer): LogFrame[] {
  const frames: LogFrame[] = [];
  for (let i = 0; i < data.length;) {
    const size = data.readUInt32BE(i + 4);
    frames.push({ stream: data[i] === 2 ? 'stderr' : 'stdout', data: data.subarray(i + 8, i + 8 + size) });
    i += 8 + size;
  }
  return frames;
}

function frame(type: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

function splitInto(data: Buffer, sizes: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length;) {
    const n = Math.max(1, sizes());
    chunks.push(data.subarray(i, i + n));
    i += n;
  }
  return chunks;
}

async function demux(chunks: Buffer[]): Promise<LogFrame[]> {
  const out: LogFrame[] = [];
  for await (const item of Readable.from(chunks, { objectMode: false }).pipe(new LogDemuxer()))
    out.push(item as LogFrame);
  return out;
}

function simplify(frames: LogFrame[]): Array<[string, string]> {
  return frames.map((f) => [f.stream, f.data.toString('utf8')]);
}

describe('LogDemuxer', () => {
  it('splits a recorded Docker log stream into its frames in order, whatever the chunking', async () => {
    const data = await fixture('logs-multiplexed.bin');
    const expected = simplify(referenceFrames(data));
    assert.equal(expected.length, 7);
    assert.deepEqual(simplify(await demux([data])), expected);
    assert.deepEqual(simplify(await demux(splitInto(data, () => 1))), expected);
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648), (seed % 300) + 1);
    assert.deepEqual(simplify(await demux(splitInto(data, random))), expected);
    // Headers cut right after the stream byte and in the middle of the length.
    assert.deepEqual(simplify(await demux(splitInto(data, () => 3))), expected);
  });

  it('reassembles a 1 MB frame delivered in 64 KiB chunks with its header split', async () => {
    const big = Buffer.alloc(1024 * 1024, 0x61);
    big.write('START', 0);
    big.write('END', big.length - 3);
    const data = Buffer.concat([frame(2, 'before\n'), frame(1, big), frame(2, 'after\n')]);
    // First chunk ends 5 bytes into the big frame's header.
    const first = 8 + 7 + 5;
    const chunks = [data.subarray(0, first), ...splitInto(data.subarray(first), () => 65536)];
    const frames = await demux(chunks);
    assert.equal(frames.length, 3);
    assert.deepEqual(
      frames.map((f) => f.stream),
      ['stderr', 'stdout', 'stderr'],
    );
    assert.equal(frames[1]!.data.length, 1024 * 1024);
    assert.ok(frames[1]!.data.equals(big));
    assert.equal(frames[2]!.data.toString(), 'after\n');
  });

  it('keeps empty frames and maps stdin frames to stdout like the docker CLI', async () => {
    const frames = await demux([Buffer.concat([frame(1, ''), frame(0, 'x'), frame(2, 'y')])]);
    assert.deepEqual(simplify(frames), [
      ['stdout', ''],
      ['stdout', 'x'],
      ['stderr', 'y'],
    ]);
  });

  it('fails on a stream that ends inside a frame', async () => {
    const data = frame(1, 'hello world\n');
    await assert.rejects(demux([data.subarray(0, data.length - 2)]), /ended inside a frame/);
  });

  it('turns an engine error frame (type 3) and an unknown type into errors', async () => {
    await assert.rejects(demux([frame(3, 'boom\n')]), /Docker engine error in log stream: boom/);
    await assert.rejects(demux([frame(9, 'x')]), /malformed Docker log stream/);
  });
});

describe('framesToLines', () => {
  it('joins a 4 MB line of 16 KiB frames, interleaved with the other stream, whatever its length', () => {
    const stamp = '2026-11-25T09:35:00.000000001Z ';
    const piece = 'y'.repeat(16 * 1024);
    const frames = [];
    for (let i = 0; i < 256; i++) {
      frames.push({ stream: 'stdout' as const, data: Buffer.from(`${stamp}${piece}`) });
      if (i === 100) frames.push({ stream: 'stderr' as const, data: Buffer.from(`${stamp}between\n`) });
    }
    frames.push({ stream: 'stdout' as const, data: Buffer.from(`${stamp}end\nnext`) });
    const lines = framesToLines(frames, true);
    assert.deepEqual(
      lines.map((l) => [l.stream, l.text.length]),
      [
        ['stderr', 7],
        ['stdout', 256 * piece.length + 3],
        ['stdout', 4],
      ],
    );
    assert.equal(lines[1]!.timestamp, stamp.trim());
    assert.ok(lines[1]!.text.endsWith('yend'));
  });

  it('joins the 16 KiB pieces of a long line, keeps stream labels and splits timestamps', async () => {
    const lines = framesToLines(referenceFrames(await fixture('logs-multiplexed.bin')), true);
    assert.deepEqual(
      lines.map((l) => [l.stream, l.text.length > 40 ? `x*${l.text.length}` : l.text]),
      [
        ['stdout', 'line one'],
        ['stderr', 'error: two'],
        ['stdout', 'line three'],
        ['stdout', 'x*20000'],
        ['stdout', 'last line'],
        ['stderr', 'partial-no-newline'],
      ],
    );
    assert.equal(lines[0]!.timestamp, '2026-11-25T09:35:00.536635116Z');
    assert.match(lines[3]!.text, /^x+$/);
  });

  it('handles a stream recorded without timestamps', async () => {
    const lines = framesToLines(referenceFrames(await fixture('logs-multiplexed-plain.bin')), false);
    assert.equal(lines[1]!.text, 'error: two');
    assert.equal(lines[1]!.timestamp, null);
    assert.equal(lines[3]!.text.length, 20000);
  });
});

describe('parseDockerHost', () => {
  it('defaults to the local socket', () => {
    assert.deepEqual(parseDockerHost(undefined), {
      kind: 'unix',
      socketPath: '/var/run/docker.sock',
      display: 'unix:///var/run/docker.sock',
    });
    assert.equal(parseDockerHost('').kind, 'unix');
  });

  it('reads unix and tcp addresses like the docker CLI', () => {
    assert.deepEqual(parseDockerHost('unix:///run/user/1000/docker.sock'), {
      kind: 'unix',
      socketPath: '/run/user/1000/docker.sock',
      display: 'unix:///run/user/1000/docker.sock',
    });
    assert.deepEqual(parseDockerHost('tcp://10.0.0.5:2375'), {
      kind: 'tcp',
      host: '10.0.0.5',
      port: 2375,
      basePath: '',
      display: 'tcp://10.0.0.5:2375',
    });
    assert.deepEqual(parseDockerHost('tcp://docker.local'), {
      kind: 'tcp',
      host: 'docker.local',
      port: 2375,
      basePath: '',
      display: 'tcp://docker.local',
    });
    const v6 = parseDockerHost('tcp://[::1]:2376');
    assert.equal(v6.kind === 'tcp' && v6.host, '::1');
    assert.equal(v6.kind === 'tcp' && v6.port, 2376);
  });

  it('rejects what it cannot speak with a usage error naming DOCKER_HOST', () => {
    for (const bad of [
      'localhost:2375',
      'ssh://user@host',
      'npipe:////./pipe/docker_engine',
      'unix://relative.sock',
      'tcp://',
    ]) {
      assert.throws(
        () => parseDockerHost(bad),
        (err: unknown) => err instanceof UsageError && /DOCKER_HOST/.test(err.message) && err.exitCode === 2,
        bad,
      );
    }
    assert.throws(() => parseDockerHost('tcp://h:2376', '1'), /DOCKER_TLS_VERIFY is set, but TLS .* not supported/);
    assert.equal(parseDockerHost('tcp://h:2375', '').kind, 'tcp');
  });
});

describe('state and health mapping', () => {
  it('maps states and health strings', () => {
    assert.equal(mapState('running'), 'running');
    assert.equal(mapState('Exited'), 'exited');
    assert.equal(mapState('hibernating'), 'unknown');
    assert.equal(mapState(undefined), 'unknown');
    assert.equal(mapHealth('healthy'), 'healthy');
    assert.equal(mapHealth('starting'), 'starting');
    assert.equal(mapHealth(undefined), 'none');
    assert.equal(healthFromStatus('Up 5 minutes (unhealthy)'), 'unhealthy');
    assert.equal(healthFromStatus('Up 2 seconds (health: starting)'), 'starting');
    assert.equal(healthFromStatus('Up 3 hours (healthy)'), 'healthy');
    assert.equal(healthFromStatus('Up 3 hours'), 'none');
    assert.equal(healthFromStatus('Exited (3) 5 seconds ago'), 'none');
  });

  it('maps a recorded container list (names without slash, health from the status text)', async () => {
    const list = (await fixtureJson<Parameters<typeof toSummary>[0][]>('list.json')).map(toSummary);
    const byName = new Map(list.map((c) => [c.name, c]));
    assert.deepEqual([...byName.keys()].sort(), ['fx-exited', 'fx-health', 'fx-logs']);
    assert.equal(byName.get('fx-health')!.state, 'running');
    assert.equal(byName.get('fx-health')!.health, 'unhealthy');
    assert.equal(byName.get('fx-exited')!.state, 'exited');
    assert.equal(byName.get('fx-exited')!.health, 'none');
    assert.equal(byName.get('fx-exited')!.labels['mizual-test'], '1');
    assert.match(byName.get('fx-exited')!.id, /^[0-9a-f]{64}$/);
  });

  it('prefers a Health field in the list entry when a newer engine sends one', () => {
    const summary = toSummary({
      Id: 'a'.repeat(64),
      Names: ['/x'],
      State: 'running',
      Status: 'Up 1 second',
      Health: { Status: 'healthy' },
    });
    assert.equal(summary.health, 'healthy');
  });

  it('maps recorded inspect documents: running unhealthy and exited with its code', async () => {
    const unhealthy = toDetails(await fixtureJson('inspect-unhealthy.json'));
    assert.equal(unhealthy.name, 'fx-health');
    assert.equal(unhealthy.state, 'running');
    assert.equal(unhealthy.health, 'unhealthy');
    assert.equal(unhealthy.finishedAt, null);
    assert.equal(unhealthy.startedAt, '2026-11-25T09:34:58.006149234Z');
    assert.ok(unhealthy.pid > 0);
    const exited = toDetails(await fixtureJson('inspect-exited.json'));
    assert.equal(exited.state, 'exited');
    assert.equal(exited.exitCode, 3);
    assert.equal(exited.oomKilled, false);
    assert.equal(exited.restartCount, 0);
    assert.equal(exited.health, 'none');
    assert.equal(exited.finishedAt, '2026-11-25T09:34:59.286013509Z');
    assert.equal(exited.createdAt, '2026-11-25T09:34:58.094577477Z');
    assert.equal(exited.logDriver, 'json-file');
    assert.match(
      exited.logPath ?? '',
      /^\/var\/lib\/docker\/containers\/69a618b5947d[0-9a-f]+\/69a618b5947d[0-9a-f]+-json\.log$/,
    );
    assert.deepEqual(exited.logOptions, {});
    assert.deepEqual(
      toDetails({ Id: 'x', LogPath: '', HostConfig: { LogConfig: { Type: 'local', Config: { 'max-size': '20m' } } } }),
      {
        ...toDetails({ Id: 'x' }),
        logDriver: 'local',
        logOptions: { 'max-size': '20m' },
      },
    );
  });
});

describe('CPU and memory figures', () => {
  it('computes CPU % like docker stats (100 = one core)', () => {
    // One full core of two over one second.
    assert.equal(containerCpuPercent({ cpuNs: 0, systemNs: 0 }, { cpuNs: 1e9, systemNs: 2e9, onlineCpus: 2 }), 100);
    assert.equal(containerCpuPercent({ cpuNs: 5e8, systemNs: 1e9 }, { cpuNs: 6e8, systemNs: 3e9, onlineCpus: 2 }), 10);
    // No elapsed system time or a counter going backwards (container restarted) gives no figure.
    assert.equal(containerCpuPercent({ cpuNs: 0, systemNs: 5 }, { cpuNs: 10, systemNs: 5, onlineCpus: 2 }), null);
    assert.equal(containerCpuPercent({ cpuNs: 10, systemNs: 0 }, { cpuNs: 5, systemNs: 5, onlineCpus: 2 }), null);
  });

  it('computes per-container stats from two samples; a container without a before sample has no CPU %', () => {
    const reading = (cpuNs: number, systemNs: number, memoryBytes: number) => ({
      source: 'api' as const,
      cpuNs,
      systemNs,
      onlineCpus: 2,
      memoryBytes,
    });
    const before: ContainerCpuSample = { takenAtMs: 0, readings: new Map([['a', reading(1e9, 100e9, 10)]]) };
    const afterSample: ContainerCpuSample = {
      takenAtMs: 500,
      readings: new Map([
        ['a', reading(1.25e9, 101e9, 20)],
        ['b', reading(5e9, 101e9, 30)],
      ]),
    };
    assert.deepEqual(computeContainerStats(before, afterSample), [
      { id: 'a', cpuPercent: 50, memoryBytes: 20 },
      { id: 'b', cpuPercent: null, memoryBytes: 30 },
    ]);
  });

  it('subtracts the inactive file cache from memory like docker stats (v1 and v2 keys)', async () => {
    assert.equal(memoryWithoutCache(100, { total_inactive_file: 30, inactive_file: 5 }), 70);
    assert.equal(memoryWithoutCache(100, { inactive_file: 40 }), 60);
    assert.equal(memoryWithoutCache(100, { total_inactive_file: 300 }), 100);
    assert.equal(memoryWithoutCache(100, {}), 100);
    const stats = await fixtureJson<{ memory_stats: { usage: number; stats: Record<string, number> } }>(
      'stats-one-shot.json',
    );
    assert.equal(memoryWithoutCache(stats.memory_stats.usage, stats.memory_stats.stats), 352256);
  });
});

describe('toDockerTimestamp', () => {
  it('keeps nanoseconds of an RFC 3339 bound', () => {
    assert.equal(
      toDockerTimestamp('2026-11-25T09:35:00.536635116Z'),
      `${Date.UTC(2026, 10, 25, 9, 35, 0) / 1000}.536635116`,
    );
    assert.equal(
      toDockerTimestamp('2026-11-25T10:35:00.5+01:00'),
      `${Date.UTC(2026, 10, 25, 9, 35, 0) / 1000}.500000000`,
    );
    assert.equal(toDockerTimestamp('2026-11-25T09:35:00Z'), `${Date.UTC(2026, 10, 25, 9, 35, 0) / 1000}.000000000`);
  });

  it('converts dates and numbers and passes Docker-style values through', () => {
    assert.equal(
      toDockerTimestamp(new Date(Date.UTC(2025, 0, 23, 0, 0, 1, 250))),
      `${Date.UTC(2025, 0, 23) / 1000 + 1}.250000000`,
    );
    assert.equal(toDockerTimestamp(1700000000), '1700000000.000000000');
    assert.equal(toDockerTimestamp('1700000000.123456789'), '1700000000.123456789');
    assert.throws(() => toDockerTimestamp('yesterday'), UsageError);
  });
});

describe('sampleContainerCpu from cgroup files', () => {
  const idV1 = 'a1'.repeat(32);
  const idV2 = 'b2'.repeat(32);
  let dir = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mizual-cgroup-'));
    await cp(join(FIXTURES, 'cgroup-v1'), join(dir, 'v1'), { recursive: true });
    await cp(join(FIXTURES, 'cgroup-v2'), join(dir, 'v2'), { recursive: true });
    await rename(join(dir, 'v1/cpuacct/docker/ID'), join(dir, `v1/cpuacct/docker/${idV1}`));
    await rename(join(dir, 'v1/memory/docker/ID'), join(dir, `v1/memory/docker/${idV1}`));
    await rename(join(dir, 'v2/system.slice/docker-ID.scope'), join(dir, `v2/system.slice/docker-${idV2}.scope`));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads cgroup v1 files without asking the engine, and computes CPU % over wall time', async () => {
    // The socket does not exist: any API call would fail, so figures can only come from the files.
    const client = createDockerClient({ host: `unix://${dir}/no-engine.sock`, cgroupRoot: join(dir, 'v1') });
    const usageFile = join(dir, `v1/cpuacct/docker/${idV1}/cpuacct.usage`);
    const start = Number((await readFile(usageFile, 'utf8')).trim());
    const first = await client.sampleContainerCpu([idV1]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await writeFile(usageFile, `${start + 100_000_000}\n`); // 100 ms of CPU in >= 200 ms of wall time
    const second = await client.sampleContainerCpu([idV1]);
    const [stats] = computeContainerStats(first, second);
    assert.equal(stats!.id, idV1);
    assert.equal(stats!.memoryBytes, 52428800 - 10485760);
    assert.ok(
      stats!.cpuPercent !== null && stats!.cpuPercent > 5 && stats!.cpuPercent <= 50.5,
      String(stats!.cpuPercent),
    );
  });

  it('reads cgroup v2 files (usage_usec, memory.current minus inactive_file)', async () => {
    const client = createDockerClient({ host: `unix://${dir}/no-engine.sock`, cgroupRoot: join(dir, 'v2') });
    const sample = await client.sampleContainerCpu([idV2]);
    const reading = sample.readings.get(idV2);
    assert.equal(reading?.cpuNs, 2_500_000_000);
    assert.equal(reading?.memoryBytes, 41943040 - 8388608);
  });

  it('asks the engine for containers it cannot find in cgroup files', async () => {
    const client = createDockerClient({ host: `unix://${dir}/no-engine.sock`, cgroupRoot: join(dir, 'v1') });
    await assert.rejects(
      client.sampleContainerCpu([idV1, 'c3'.repeat(32)]),
      /Docker engine not reachable at unix:\/\/.*no-engine\.sock: connect ENOENT/,
    );
  });
});

describe('DockerClient against a fake engine', () => {
  let dir = '';
  let socket = '';
  let server: http.Server;
  let silent: http.Server;
  const seen: string[] = [];
  let statsCalls = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mizual-engine-'));
    socket = join(dir, 'docker.sock');
    const list = await fixtureJson<Array<{ State: string }>>('list.json');
    const logs = await fixture('logs-multiplexed.bin');
    const stats = await fixtureJson<{ cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage: number } }>(
      'stats-one-shot.json',
    );
    const inspect: Record<string, Buffer> = {
      'fx-health': await fixture('inspect-unhealthy.json'),
      'fx-exited': await fixture('inspect-exited.json'),
      'fx-logs': await fixture('inspect-exited.json'),
    };
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://docker');
      seen.push(`${req.method} ${url.pathname}${url.search}`);
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
      };
      let m: RegExpExecArray | null;
      if (url.pathname === '/_ping') {
        res.writeHead(200, { 'Api-Version': '1.41' });
        res.end('OK');
      } else if (url.pathname === '/containers/json') {
        json(200, url.searchParams.get('all') === '1' ? list : list.filter((c) => c.State === 'running'));
      } else if ((m = /^\/containers\/([^/]+)\/json$/.exec(url.pathname))) {
        const doc = inspect[decodeURIComponent(m[1]!)];
        if (doc) json(200, doc);
        else json(404, { message: `No such container: ${decodeURIComponent(m[1]!)}` });
      } else if (url.pathname === '/containers/fx-logs/logs') {
        // Dribble the stream in uneven chunks so frame boundaries fall mid-header.
        res.writeHead(200);
        const chunks = splitInto(logs, () => 5000 + 3);
        const writeNext = () => {
          const chunk = chunks.shift();
          if (!chunk) return res.end();
          res.write(chunk);
          setTimeout(writeNext, 1);
        };
        writeNext();
      } else if ((m = /^\/containers\/([^/]+)\/stats$/.exec(url.pathname))) {
        statsCalls++;
        stats.cpu_stats.cpu_usage.total_usage += 250_000_000;
        stats.cpu_stats.system_cpu_usage += 1_000_000_000;
        json(200, stats);
      } else if (url.pathname === '/containers/fx-health/exec' && req.method === 'POST') {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const parsed = JSON.parse(body) as { Cmd: string[] };
          json(201, { Id: parsed.Cmd[0] === 'slow' ? 'slow1' : 'exec1' });
        });
      } else if (url.pathname === '/exec/exec1/start') {
        res.writeHead(200, { 'Content-Type': 'application/vnd.docker.raw-stream' });
        res.end(
          Buffer.concat([
            frame(1, '# Memory\r\nused_memory:1024\r\n'),
            frame(2, 'warning\n'),
            frame(1, 'used_memory_human:1.00K\r\n'),
          ]),
        );
      } else if (url.pathname === '/exec/slow1/start') {
        res.writeHead(200);
        res.write(frame(1, 'started\n')); // and never finishes
      } else if (url.pathname === '/exec/exec1/json') {
        json(200, { Running: false, ExitCode: 7 });
      } else {
        json(404, { message: 'page not found' });
      }
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(join(dir, 'silent.sock'), resolve));
  });

  after(async () => {
    server.closeAllConnections();
    silent.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await new Promise((resolve) => silent.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('pings and lists containers (all or running only)', async () => {
    const client = createDockerClient({ host: `unix://${socket}` });
    assert.deepEqual(await client.ping(), { apiVersion: '1.41' });
    const all = await client.listContainers({ all: true });
    assert.equal(all.length, 3);
    const running = await client.listContainers();
    assert.deepEqual(
      running.map((c) => [c.name, c.state, c.health]),
      [['fx-health', 'running', 'unhealthy']],
    );
    client.close();
  });

  it('reports a missing container as a 404 DockerApiError with the engine message', async () => {
    const client = createDockerClient({ host: `unix://${socket}` });
    await assert.rejects(client.inspectContainer('nope'), (err: unknown) => {
      assert.ok(err instanceof DockerApiError);
      assert.equal(err.statusCode, 404);
      assert.equal(err.message, 'Docker engine: No such container: nope');
      return true;
    });
    client.close();
  });

  it('streams logs with tail/since/until passed through and frames in order', async () => {
    const client = createDockerClient({ host: `unix://${socket}` });
    const stream = await client.containerLogs('fx-logs', {
      tail: 50,
      since: '2026-11-25T09:35:00.536635116Z',
      until: new Date(0),
      timestamps: true,
    });
    const frames: LogFrame[] = [];
    for await (const f of stream) frames.push(f as LogFrame);
    assert.deepEqual(simplify(frames), simplify(referenceFrames(await fixture('logs-multiplexed.bin'))));
    const request = seen.find((s) => s.startsWith('GET /containers/fx-logs/logs'))!;
    const query = new URL(request.split(' ')[1]!, 'http://x').searchParams;
    assert.equal(query.get('tail'), '50');
    assert.equal(query.get('since'), `${Date.UTC(2026, 10, 25, 9, 35, 0) / 1000}.536635116`);
    assert.equal(query.get('until'), '0.000000000');
    assert.equal(query.get('stdout'), '1');
    assert.equal(query.get('stderr'), '1');
    assert.equal(query.get('timestamps'), '1');
    client.close();
  });

  it('a tail of the log gives the last n lines with stream labels', async () => {
    const client = createDockerClient({ host: `unix://${socket}` });
    const lines = await tailLines(client, 'fx-logs', 2);
    assert.deepEqual(
      lines.map((l) => [l.stream, l.text]),
      [
        ['stdout', 'last line'],
        ['stderr', 'partial-no-newline'],
      ],
    );
    client.close();
  });

  it('runs exec and collects demultiplexed output and the exit code', async () => {
    const client = createDockerClient({ host: `unix://${socket}` });
    const result = await client.execInContainer('fx-health', ['redis-cli', 'INFO', 'memory']);
    assert.deepEqual(result, {
      exitCode: 7,
      stdout: '# Memory\r\nused_memory:1024\r\nused_memory_human:1.00K\r\n',
      stderr: 'warning\n',
    });
    client.close();
  });

  it('gives up on an exec that never finishes, within its timeout', async () => {
    const client = createDockerClient({ host: `unix://${socket}` });
    const started = Date.now();
    await assert.rejects(
      client.execInContainer('fx-health', ['slow'], { timeoutMs: 300 }),
      /did not finish within 300 ms/,
    );
    assert.ok(Date.now() - started < 2000);
    client.close();
  });

  it('falls back to one-shot API stats for a container not in cgroup files', async () => {
    const client = createDockerClient({ host: `unix://${socket}`, cgroupRoot: join(dir, 'no-cgroup') });
    const id = 'd4'.repeat(32);
    const callsBefore = statsCalls;
    const first = await client.sampleContainerCpu([id]);
    const second = await client.sampleContainerCpu([id]);
    assert.equal(statsCalls - callsBefore, 2);
    assert.ok(seen.some((s) => s === `GET /containers/${id}/stats?stream=0&one-shot=1`));
    // 0.25 s of CPU per 1 s of system time on 2 CPUs = 50 %.
    assert.deepEqual(computeContainerStats(first, second), [{ id, cpuPercent: 50, memoryBytes: 352256 }]);
    client.close();
  });

  it('times out on an engine that never answers, with a one-line error', async () => {
    const client = createDockerClient({ host: `unix://${join(dir, 'silent.sock')}`, timeoutMs: 200 });
    const started = Date.now();
    await assert.rejects(client.listContainers(), (err: unknown) => {
      assert.ok(err instanceof MizualError);
      assert.match(
        err.message,
        /^Docker engine at unix:\/\/.*silent\.sock did not answer \/containers\/json within 200 ms$/,
      );
      return true;
    });
    assert.ok(Date.now() - started < 2000);
    client.close();
  });

  it('reports an absent engine as one line naming the address', async () => {
    const client = createDockerClient({ host: `unix://${join(dir, 'absent.sock')}` });
    await assert.rejects(client.ping(), (err: unknown) => {
      assert.ok(err instanceof MizualError);
      assert.equal(err.message, `Docker engine not reachable at unix://${join(dir, 'absent.sock')}: connect ENOENT`);
      assert.ok(!err.message.includes('\n'));
      assert.equal(err.exitCode, 1);
      return true;
    });
    const tcp = createDockerClient({ host: 'tcp://127.0.0.1:1' });
    await assert.rejects(
      tcp.listContainers(),
      /^MizualError: Docker engine not reachable at tcp:\/\/127\.0\.0\.1:1: connect ECONNREFUSED$/,
    );
  });
});
