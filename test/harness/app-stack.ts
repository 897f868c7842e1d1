/**
 * Our users' real stack in containers of the test engine: Debian's python3 (FastAPI, uvicorn,
 * gunicorn, Celery, redis) run in the busybox image with the host's /usr, /lib, /lib64 and /etc
 * mounted read-only and --network host (the engine has no bridge), the app's files mounted from a
 * temp dir. Reusable by every test of the application figures (logs, probes, broker).
 */
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TEST_IMAGE, TEST_LABEL } from './docker.js';

const ours = new Set<string>();

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A FastAPI app (and a WSGI one for gunicorn's sync worker) in `dir`: /items/{id}, /fail, /slow (0.3 s), /missing is 404. */
export function writeWebApps(dir: string): void {
  writeFileSync(
    path.join(dir, 'webapp.py'),
    [
      'import time',
      'from fastapi import FastAPI, HTTPException',
      'app = FastAPI()',
      '@app.get("/items/{item_id}")',
      'def item(item_id: str):',
      '    return {"id": item_id}',
      '@app.get("/fail")',
      'def fail():',
      '    raise HTTPException(status_code=503, detail="down")',
      '@app.get("/slow")',
      'def slow():',
      '    time.sleep(0.3)',
      '    return {"slow": True}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    path.join(dir, 'wsgiapp.py'),
    [
      'import time',
      'def app(environ, start_response):',
      '    path = environ["PATH_INFO"]',
      '    if path == "/slow":',
      '        time.sleep(0.3)',
      '    status = "503 Service Unavailable" if path == "/fail" else "404 Not Found" if path == "/missing" else "200 OK"',
      '    start_response(status, [("Content-Type", "text/plain")])',
      '    return [b"ok"]',
      '',
    ].join('\n'),
  );
}

/**
 * A Celery app in `dir` (tasks.py, broker from $BROKER): `tasks.sleepy(s)` sleeps s seconds,
 * `tasks.fail()` raises, `tasks.flaky()` retries once (countdown 0) and then succeeds, `tasks.hard()`
 * runs past its 1 s hard time limit, `tasks.soft()` past its 1 s soft one, `tasks.die()` kills its
 * pool process with signal 9 (how an OOM kill shows).
 */
export function writeCeleryApp(dir: string): void {
  writeFileSync(
    path.join(dir, 'tasks.py'),
    [
      'import os, time',
      'from celery import Celery',
      'app = Celery("tasks", broker=os.environ["BROKER"])',
      'app.conf.broker_connection_retry_on_startup = True',
      '@app.task',
      'def sleepy(seconds):',
      '    time.sleep(seconds)',
      '    return seconds',
      '@app.task',
      'def fail():',
      '    raise ValueError("boom")',
      '@app.task(bind=True, max_retries=3)',
      'def flaky(self):',
      '    if self.request.retries < 1:',
      '        raise self.retry(countdown=0)',
      '    return "ok"',
      '@app.task(time_limit=1)',
      'def hard():',
      '    time.sleep(5)',
      '@app.task(soft_time_limit=1)',
      'def soft():',
      '    time.sleep(5)',
      '@app.task',
      'def die():',
      '    os.kill(os.getpid(), 9)',
      '',
    ].join('\n'),
  );
}

/**
 * A real redis-server in a container named the way Compose names it (`<project>-redis-1`, with the
 * Compose labels), listening on a free port of 127.0.0.1; returns the name and port.
 */
export async function startRedis(project: string, appDir: string): Promise<{ name: string; port: number }> {
  const port = await freePort();
  const name = `${project}-redis-1`;
  await startPython(
    name,
    appDir,
    ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      labels: {
        'com.docker.compose.project': project,
        'com.docker.compose.service': 'redis',
        'com.docker.compose.container-number': '1',
      },
    },
  );
  await waitForLog(name, 'Ready to accept connections');
  return { name, port };
}

/** Send Celery tasks from the host (Debian's python3 and the same app module): `[name, args]` pairs. */
export async function sendTasks(appDir: string, broker: string, tasks: [string, unknown[]][]): Promise<void> {
  const script = [
    'import json, sys',
    'from tasks import app',
    'for name, args in json.load(sys.stdin):',
    '    app.send_task(name, args=args)',
  ].join('\n');
  const r = await execa('/usr/bin/python3', ['-c', script], {
    cwd: appDir,
    env: { BROKER: broker, PYTHONDONTWRITEBYTECODE: '1' },
    input: JSON.stringify(tasks),
    reject: false,
    timeout: 60_000,
  });
  if (r.exitCode !== 0) throw new Error(`sending tasks failed: ${String(r.stderr).trim()}`);
}

/** Count the lines of the container's log (stdout and stderr) matching `re`. */
export async function countLogLines(name: string, re: RegExp): Promise<number> {
  const r = await execa('docker', ['logs', name], { reject: false, stdin: 'ignore', all: true });
  return String(r.all ?? '')
    .split('\n')
    .filter((l) => re.test(l)).length;
}

export interface PythonContainerOptions {
  /** `--log-driver` (default: the engine's, json-file here). */
  logDriver?: string;
  logOpts?: Record<string, string>;
  env?: Record<string, string>;
  labels?: Record<string, string>;
  /** `-t`: a TTY, as `tty: true` in Compose (uvicorn then colours its lines). */
  tty?: boolean;
}

/** Run `argv` with the host's python in a labelled busybox container (--network host); returns its id. */
export async function startPython(
  name: string,
  appDir: string,
  argv: string[],
  options: PythonContainerOptions = {},
): Promise<string> {
  const args = ['run', '-d', '--name', name, '--label', TEST_LABEL, '--network', 'host'];
  for (const m of ['/usr', '/lib', '/lib64', '/etc']) args.push('-v', `${m}:${m}:ro`);
  args.push('-v', `${appDir}:/app:ro`, '-w', '/app', '--tmpfs', '/tmp');
  args.push('-e', 'PATH=/usr/local/bin:/usr/bin:/bin', '-e', 'HOME=/tmp', '-e', 'PYTHONUNBUFFERED=1');
  args.push('-e', 'PYTHONDONTWRITEBYTECODE=1');
  if (options.tty) args.push('-t');
  if (options.logDriver) args.push('--log-driver', options.logDriver);
  for (const [k, v] of Object.entries(options.logOpts ?? {})) args.push('--log-opt', `${k}=${v}`);
  for (const [k, v] of Object.entries(options.env ?? {})) args.push('-e', `${k}=${v}`);
  for (const [k, v] of Object.entries(options.labels ?? {})) args.push('--label', `${k}=${v}`);
  args.push(TEST_IMAGE, ...argv);
  ours.add(name);
  const r = await execa('docker', args, { reject: false, stdin: 'ignore', timeout: 60_000 });
  if (r.exitCode !== 0) throw new Error(`docker run ${name} failed: ${String(r.stderr).trim()}`);
  return String(r.stdout).trim();
}

/** Wait until the container's log shows `text`. */
export async function waitForLog(name: string, text: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = await execa('docker', ['logs', name], { reject: false, stdin: 'ignore', all: true });
    last = String(r.all ?? '');
    if (last.includes(text)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${name} did not log '${text}' within ${timeoutMs} ms:\n${last.slice(-2000)}`);
}

/** GET http://127.0.0.1:port/path; resolves with the status. */
export async function get(port: number, urlPath: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`);
  await res.arrayBuffer();
  return res.status;
}

/** Remove this container too at the end (one renamed away from a name started here). */
export function adoptContainer(name: string): void {
  ours.add(name);
}

/** Remove every container started here. */
export async function removeAppContainers(): Promise<void> {
  if (ours.size === 0) return;
  await execa('docker', ['rm', '-f', ...ours], { reject: false, stdin: 'ignore' });
  ours.clear();
}
