// `mizual-metrics --history` for real: samples recorded by the built mizual-alerts against the real Docker
// engine, the charts in a real terminal (tmux at 80 and 200 columns, NO_COLOR, --ascii), and the HTML
// page rendered by headless Chromium (no console error, no request, pixels of the charts on screen).
import { execa, type ResultPromise } from 'execa';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { columnOf, GUTTER } from '../../src/history/chart.js';
import { ensureDocker, removeStartedContainers, startContainer, uniqueName, waitForState } from '../harness/docker.js';
import { ROOT, runTool, scratchDir } from '../helpers/cli.js';
import { DAY, HOUR, MIN, writeWeek } from '../helpers/history-week.js';

const scratch = scratchDir('mizual-history-e2e-');
after(scratch.cleanup);

const END = Date.parse('2026-12-02T12:00:00Z');
const SINCE = END - 7 * DAY;
const REBOOT = END - 3 * DAY;
const ALERT_AT = END - DAY + 10 * MIN;
const RANGE = ['--since', '2026-11-25 12:00', '--until', '2026-12-02 12:00'];

/** A state directory holding a week of samples (a gap, a reboot, a CPU spike) and an alert log. */
async function weekState(name: string): Promise<Record<string, string>> {
  const dir = path.join(scratch.dir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await writeWeek(dir, {
    endMs: END,
    containers: 3,
    gaps: [[END - 4 * DAY, END - 4 * DAY + 8 * HOUR]],
    rebootAtMs: REBOOT,
    spike: [END - DAY, END - DAY + 2 * HOUR],
  });
  const log = path.join(dir, 'alerts.log');
  const stamp = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
  writeFileSync(
    log,
    `${stamp(ALERT_AT)} WARNING cpu: cpu 97% busy over 5m 0s (threshold 80%)\n` +
      `${stamp(ALERT_AT + 2 * HOUR)} RESOLVED cpu: cpu 21% busy over 5m 0s (threshold 80%)\n`,
  );
  return { MIZUAL_STATE_DIR: dir, MIZUAL_ALERT_LOG: log };
}

describe('samples recorded by mizual-alerts runs', () => {
  const name = uniqueName('hist');
  before(async () => {
    await ensureDocker();
    // A little memory in use, so the cgroup's figure is clearly the container's.
    await startContainer(name, 'x="$(head -c 3000000 /dev/zero | tr "\\0" a)"; while :; do sleep 1; done');
    await waitForState(name, ['running']);
  });
  after(removeStartedContainers);

  it('are read back by --history --json and beside the dashboard figures as last-hour sparklines', async () => {
    const dir = path.join(scratch.dir, 'runs');
    const env = {
      MIZUAL_STATE_DIR: dir,
      MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
      MIZUAL_CONTAINERS: `t=${name}`,
      DOCKER_HOST: process.env['DOCKER_HOST'],
    };
    for (let i = 0; i < 2; i++) {
      const run = await runTool('mizual-alerts', ['--cpu-sample', '0'], { env });
      assert.ok(run.exitCode <= 2, run.stderr);
      assert.doesNotMatch(run.stderr, /history/);
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    const result = await runTool('mizual-metrics', ['--history', '--json', '--since', '10m'], { env });
    assert.equal(result.exitCode, 0, result.stderr);
    const doc = JSON.parse(result.stdout) as {
      since: string;
      until: string;
      series: { name: string; labels: Record<string, string>; unit: string; points: [number, number | null][] }[];
      events: unknown[];
    };
    const find = (n: string, label?: string) =>
      doc.series.find((s) => s.name === n && (label === undefined || Object.values(s.labels).includes(label)));
    const values = (n: string, label?: string): number[] =>
      (find(n, label)?.points ?? []).map((p) => p[1]).filter((v): v is number => v !== null);
    assert.equal(values('memory available').length, 2);
    assert.equal(values('cpu').length, 1, 'measured from the second run on (no sampling wait)');
    assert.ok(values('filesystem use').length >= 2);
    assert.deepEqual(values('container running', name), [1, 1]);
    const memory = values('container memory', name);
    assert.equal(memory.length, 2, 'read from the container cgroup each run');
    assert.ok((memory[0] as number) > 1_000_000, `${memory[0]} bytes`);
    assert.ok(values('container cpu', name).every((v) => v >= 0));
    assert.equal(find('container memory', name)?.unit, 'bytes');
    const dash = await runTool('mizual-metrics', ['--sample', '100'], { env });
    assert.equal(dash.exitCode, 0, dash.stderr);
    assert.match(dash.stdout, /memory 1h/);
    assert.match(dash.stdout, /cpu [\d.]+% {2}[▁▂▃▄▅▆▇█ ]+$/m);
  });
});

describe('mizual-alerts runs in fake time (faketime moves the clock of the real executable)', () => {
  it('keeps a segment per UTC day, and --history reads across midnight with the gap as a break', async () => {
    const dir = path.join(scratch.dir, 'faketime');
    const env = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/root',
      MIZUAL_STATE_DIR: dir,
      MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
    };
    const alerts = path.join(ROOT, 'bin', 'mizual-alerts.js');
    // 23:50, 23:55, 00:00, then the box is off for 40 minutes, then 00:45.
    for (const at of ['2026-12-01 23:50:00', '2026-12-01 23:55:00', '2026-12-02 00:00:00', '2026-12-02 00:45:00']) {
      const run = await execa('faketime', [at, process.execPath, alerts, '--no-docker', '--cpu-sample', '0'], {
        env,
        extendEnv: false,
        reject: false,
      });
      assert.ok((run.exitCode ?? 9) <= 2, String(run.stderr));
    }
    const days = readdirSync(path.join(dir, 'history')).sort();
    assert.deepEqual(days, ['2026-12-01.json', '2026-12-02.json']);
    const result = await runTool(
      'mizual-metrics',
      ['--history', '--json', '--since', '2026-12-01 23:00', '--until', '2026-12-02 01:00'],
      { env: { MIZUAL_STATE_DIR: dir, MIZUAL_ALERT_LOG: env.MIZUAL_ALERT_LOG } },
    );
    assert.equal(result.exitCode, 0, result.stderr);
    const doc = JSON.parse(result.stdout) as { series: { name: string; points: [number, number | null][] }[] };
    const memory = doc.series.find((s) => s.name === 'memory available')?.points ?? [];
    const at = (iso: string): number => Date.parse(iso);
    assert.deepEqual(
      memory.map(([t, v]) => (v === null ? 'gap' : new Date(Math.floor(t / 1000) * 1000).toISOString().slice(11, 16))),
      ['23:50', '23:55', '00:00', 'gap', '00:45'],
    );
    assert.ok(memory.every(([t]) => t >= at('2026-12-01T23:00:00Z') && t <= at('2026-12-02T01:00:00Z')));
  });
});

/**
 * Run mizual-metrics in a fresh tmux server of its own at `cols` × 50 and return the pane's text. Now and
 * then (about one run in twenty on this busy machine) tmux stops reading a detached pane mid-output and
 * the command never ends; that run is retried once in a new server, so the output checked is always a
 * complete one.
 */
async function inTmux(cols: number, env: Record<string, string>, args: string[], escapes = false): Promise<string> {
  try {
    return await inTmuxOnce(cols, env, args, escapes);
  } catch (err) {
    if (!(err instanceof Error) || !/did not end within/.test(err.message)) throw err;
    return inTmuxOnce(cols, env, args, escapes);
  }
}

async function inTmuxOnce(
  cols: number,
  env: Record<string, string>,
  args: string[],
  escapes: boolean,
): Promise<string> {
  const socket = `mizual-hist-${process.pid}-${cols}-${Math.random().toString(36).slice(2, 8)}`;
  const conf = path.join(scratch.dir, `${socket}.conf`);
  writeFileSync(conf, 'set -g remain-on-exit on\nset -g history-limit 5000\n');
  const tmux = (...a: string[]) => execa('tmux', ['-L', socket, '-f', conf, ...a], { reject: false });
  try {
    const envFlags = Object.entries({ ...env, TERM: 'tmux-256color' }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    const started = await tmux(
      'new-session',
      '-d',
      '-x',
      String(cols),
      '-y',
      '50',
      ...envFlags,
      // A constant script; the command and its arguments are passed as its positional parameters.
      ...['sh', '-c', '"$@"; echo "mizual-test-exit=$?"', 'sh'],
      ...[process.execPath, path.join(ROOT, 'bin', 'mizual-metrics.js'), ...args],
    );
    assert.equal(started.exitCode, 0, String(started.stderr));
    const capture = async (): Promise<string> =>
      String((await tmux('capture-pane', '-p', '-J', '-S', '-', ...(escapes ? ['-e'] : []))).stdout);
    let captured = '';
    for (let i = 0; i < 300 && !/^mizual-test-exit=\d+/m.test(captured); i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      captured = await capture();
    }
    const status = /^mizual-test-exit=(\d+)/m.exec(captured);
    assert.ok(status, `the command did not end within 30 s:\n${captured.slice(-1500)}`);
    assert.equal(status[1], '0', 'the command exits 0');
    return captured.slice(0, status.index);
  } finally {
    await tmux('kill-server');
  }
}

describe('--history in a real terminal', () => {
  let env: Record<string, string>;
  before(async () => {
    env = await weekState('tmux');
  });

  for (const cols of [80, 200]) {
    it(`fits ${cols} columns, with the charts, the reboot and the alert in their columns`, async () => {
      const text = await inTmux(cols, env, ['--history', ...RANGE]);
      const lines = text.split('\n').filter((l) => l !== '');
      for (const line of lines) assert.ok([...line].length <= cols, `${[...line].length} > ${cols}: ${line}`);
      assert.match(lines[0] ?? '', /^history 2026-11-25T12:00:00Z \.\. 2026-12-02T12:00:00Z/);
      for (const title of ['cpu (%)', 'memory available', 'filesystem use /', 'container memory mizual-c2']) {
        assert.ok(
          lines.some((l) => l.startsWith(title)),
          title,
        );
      }
      const plot = cols - GUTTER - 1;
      const marks = [...(lines.find((l) => l.trimStart().startsWith('events │')) ?? '').padEnd(cols)].slice(GUTTER + 1);
      assert.equal(marks[columnOf(REBOOT, plot, SINCE, END)], 'B');
      assert.equal(marks[columnOf(ALERT_AT, plot, SINCE, END)], 'W');
      // The chart rows run the full plot width: the cpu chart's threshold row is dashed to the last column.
      const cpu = lines.findIndex((l) => l.startsWith('cpu (%)'));
      assert.equal([...(lines[cpu + 1] ?? '')].length, cols);
      assert.match(text, /WARNING cpu: cpu 97% busy/);
    });
  }

  it('colours what crosses the threshold on a terminal, and nothing with NO_COLOR', async () => {
    const coloured = await inTmux(120, env, ['--history', ...RANGE], true);
    assert.match(coloured, /\x1b\[31m[▁▂▃▄▅▆▇█]/);
    const plain = await inTmux(120, { ...env, NO_COLOR: '1' }, ['--history', ...RANGE], true);
    assert.doesNotMatch(plain, /\x1b\[3\dm/);
    assert.match(plain, /cpu \(%\) {2}min/);
  });

  it('--ascii is plain ASCII in the terminal and in a pipe (a cron mail)', async () => {
    const shown = await inTmux(80, env, ['--history', '--ascii', ...RANGE]);
    assert.ok(
      [...Buffer.from(shown)].every((b) => b < 0x80),
      'ASCII on screen',
    );
    assert.match(shown, /^ events \|.*B/m);
    const piped = await runTool('mizual-metrics', ['--history', '--ascii', ...RANGE], { env });
    assert.equal(piped.exitCode, 0, piped.stderr);
    assert.ok(
      [...Buffer.from(piped.stdout)].every((b) => b < 0x80),
      'every byte < 0x80',
    );
    assert.ok(
      piped.stdout.split('\n').every((l) => l.length <= 80),
      'a pipe gets 80 columns',
    );
  });
});

/** Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into rows of pixels, with node:zlib only. */
function decodePng(png: Buffer): { width: number; height: number; pixel: (x: number, y: number) => number[] } {
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  let at = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (at < png.length) {
    const length = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('latin1');
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      assert.ok(channels > 0, `colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? (out[y * stride + x - channels] as number) : 0;
      const b = y > 0 ? (out[(y - 1) * stride + x] as number) : 0;
      const c = x >= channels && y > 0 ? (out[(y - 1) * stride + x - channels] as number) : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter] as number;
      out[y * stride + x] = ((line[x] as number) + predictor) & 0xff;
    }
  }
  return {
    width,
    height,
    pixel: (x, y) => [...out.subarray(y * stride + x * channels, y * stride + x * channels + 3)],
  };
}

/** Headless Chromium in its own process group under `timeout`; the group is killed whatever happens. */
async function chromium(args: string[], name: string): Promise<{ stdout: string; stderr: string }> {
  const profile = path.join(scratch.dir, `chromium-${name}`);
  const child: ResultPromise = execa(
    'timeout',
    [
      '60',
      'chromium',
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      '--enable-logging=stderr',
      '--v=0',
      ...args,
    ],
    { detached: true, reject: false, stdin: 'ignore' },
  );
  try {
    const result = await child;
    return { stdout: String(result.stdout), stderr: String(result.stderr) };
  } finally {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
  }
}

/** Console messages and refused or failed loads in Chromium's log (its D-Bus complaints are not the page's). */
const pageProblems = (stderr: string): string[] =>
  stderr.split('\n').filter((l) => /CONSOLE|Content Security Policy|Refused to|net::ERR_|Uncaught/.test(l));

describe('--history --html in headless Chromium', () => {
  let page: string;
  before(async () => {
    const env = await weekState('html');
    page = path.join(scratch.dir, 'history.html');
    const result = await runTool('mizual-metrics', ['--history', '--html', page, ...RANGE], { env });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout, '');
  });

  it('notices a console error or a request when a page makes one (the check can fail)', async () => {
    const bad = path.join(scratch.dir, 'bad.html');
    writeFileSync(
      bad,
      readFileSync(page, 'utf8').replace(
        '</body>',
        '<img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script></body>',
      ),
    );
    const { stderr } = await chromium(['--dump-dom', `file://${bad}`], 'bad');
    const problems = pageProblems(stderr);
    assert.ok(
      problems.some((l) => /boom/.test(l)),
      stderr.slice(-2000),
    );
    assert.ok(
      problems.some((l) => /Loading the image .* violates .*Content Security Policy/.test(l)),
      stderr.slice(-2000),
    );
  });

  it('renders with no console error and no request, every chart in the DOM', async () => {
    const { stdout, stderr } = await chromium(['--dump-dom', `file://${page}`], 'dom');
    assert.deepEqual(pageProblems(stderr), []);
    assert.ok((stdout.match(/<svg data-i=/g) ?? []).length >= 10);
    assert.match(stdout, /<td>WARNING<\/td><td>cpu<\/td><td>cpu 97% busy/);
  });

  it('draws the charts: the screenshot has the band, the threshold and the event lines in it', async () => {
    const shot = path.join(scratch.dir, 'shot.png');
    const { stderr } = await chromium(['--window-size=1000,900', `--screenshot=${shot}`, `file://${page}`], 'shot');
    assert.deepEqual(pageProblems(stderr), []);
    const png = decodePng(readFileSync(shot));
    assert.deepEqual([png.width, png.height], [1000, 900]);
    const near = (p: number[], rgb: number[]) => p.every((v, i) => Math.abs(v - (rgb[i] as number)) <= 40);
    let band = 0;
    let threshold = 0;
    let white = 0;
    for (let y = 0; y < png.height; y += 2) {
      for (let x = 0; x < png.width; x += 2) {
        const p = png.pixel(x, y);
        if (near(p, [37, 99, 235])) band++;
        if (near(p, [209, 36, 47])) threshold++;
        if (p.every((v) => v === 255)) white++;
      }
    }
    assert.ok(band > 500, `${band} pixels of the charts' band`);
    assert.ok(threshold > 50, `${threshold} pixels of the threshold line`);
    assert.ok(white > (png.width * png.height) / 40, 'the page background');
    // The CPU chart (the first) has no sample in the gap: its plot is only background there.
    const svgTop = 70;
    const gapX = Math.round(16 + ((END - 4 * DAY + 4 * HOUR - SINCE) / (7 * DAY)) * (1000 - 32));
    const column = Array.from({ length: 40 }, (_, i) => png.pixel(gapX, svgTop + i));
    assert.ok(
      column.every((p) => !near(p, [37, 99, 235])),
      'no band inside the gap',
    );
  });
});

/** A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-separated JSON). */
function devtools(url: string, name: string) {
  const profile = path.join(scratch.dir, `chromium-${name}`);
  const child = spawn(
    'timeout',
    [
      '60',
      'chromium',
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      '--remote-debugging-pipe',
      '--window-size=1000,900',
      'about:blank',
    ],
    { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
  );
  const input = child.stdio[3] as NodeJS.WritableStream;
  const output = child.stdio[4] as NodeJS.ReadableStream;
  const events: { method: string; params: Record<string, unknown> }[] = [];
  const waiting = new Map<number, (msg: Record<string, unknown>) => void>();
  let buffered = '';
  let nextId = 1;
  output.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let end;
    while ((end = buffered.indexOf('\0')) !== -1) {
      const msg = JSON.parse(buffered.slice(0, end)) as Record<string, unknown>;
      buffered = buffered.slice(end + 1);
      if (typeof msg['id'] === 'number') waiting.get(msg['id'])?.(msg);
      else events.push(msg as { method: string; params: Record<string, unknown> });
    }
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, (msg) =>
        msg['error']
          ? reject(new Error(JSON.stringify(msg['error'])))
          : resolve(msg['result'] as Record<string, unknown>),
      );
      input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  const close = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
  };
  return { url, send, events, close };
}

describe('the HTML page driven over the DevTools protocol', () => {
  it('makes no request but the page itself, logs nothing, and hovering a chart shows that column', async () => {
    const env = await weekState('cdp');
    const page = path.join(scratch.dir, 'cdp.html');
    const made = await runTool('mizual-metrics', ['--history', '--html', page, ...RANGE], { env });
    assert.equal(made.exitCode, 0, made.stderr);
    const cdp = devtools(`file://${page}`, 'cdp');
    try {
      const { targetId } = (await cdp.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
      const { sessionId } = (await cdp.send('Target.attachToTarget', { targetId, flatten: true })) as {
        sessionId: string;
      };
      for (const domain of ['Network', 'Runtime', 'Log', 'Page']) await cdp.send(`${domain}.enable`, {}, sessionId);
      await cdp.send('Page.navigate', { url: cdp.url }, sessionId);
      for (let i = 0; i < 200 && !cdp.events.some((e) => e.method === 'Page.loadEventFired'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const evaluate = async (expression: string): Promise<unknown> =>
        (
          (await cdp.send('Runtime.evaluate', { expression, returnByValue: true }, sessionId)) as {
            result: { value: unknown };
          }
        ).result.value;
      const box = (await evaluate(
        'JSON.stringify(document.querySelector(\'svg[data-i="0"]\').getBoundingClientRect())',
      )) as string;
      const rect = JSON.parse(box) as { left: number; top: number; width: number; height: number };
      const column = 540;
      const x = rect.left + ((column + 0.5) / 600) * rect.width;
      await cdp.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y: rect.top + rect.height / 2 }, sessionId);
      const tip = (await evaluate(
        "document.getElementById('tip').style.display + '|' + document.getElementById('tip').textContent",
      )) as string;
      const at = new Date(SINCE + ((column + 0.5) * (END - SINCE)) / 600).toISOString().slice(0, 16).replace('T', ' ');
      assert.match(tip, new RegExp(`^block\\|${at} UTC {2}\\d+\\.\\d%$`));
      const requests = cdp.events.filter((e) => e.method === 'Network.requestWillBeSent');
      assert.deepEqual(
        requests.map((e) => (e.params['request'] as { url: string }).url),
        [cdp.url],
        'the only request is the page itself',
      );
      const noisy = cdp.events.filter(
        (e) =>
          e.method === 'Runtime.exceptionThrown' ||
          e.method === 'Runtime.consoleAPICalled' ||
          (e.method === 'Log.entryAdded' && (e.params['entry'] as { level: string }).level !== 'verbose'),
      );
      assert.deepEqual(noisy, []);
      await cdp.send('Browser.close').catch(() => undefined);
    } finally {
      cdp.close();
    }
  });
});
