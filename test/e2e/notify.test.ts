// mizual-alerts' notification targets end to end: the built executable, --test-notification and a
// real run, against a local receiver per format (bodies and headers as each service documents them),
// a real Alertmanager (Debian's prometheus-alertmanager) that must accept the alerts, and a real SMTP
// sink (python3-aiosmtpd) reached through the system's sendmail (Debian's msmtp-mta).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTool, scratchDir } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const scratch = scratchDir('mizual-notify-e2e-');
const children: ChildProcess[] = [];
const receivers: WebhookReceiver[] = [];
after(() => {
  for (const c of children) c.kill('SIGTERM');
  for (const r of receivers) r.close();
  scratch.cleanup();
});

async function waitForPort(port: number, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(true)).on('error', () => resolve(false));
      socket.setTimeout(500, () => resolve(false));
      setTimeout(() => socket.destroy(), 600);
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port}`);
}

/** aiosmtpd's Debugging handler prints each message it receives between two marker lines. */
async function startSmtpSink(): Promise<{ port: number; messages: () => string[] }> {
  const port = await freePort();
  const child = spawn(
    '/usr/bin/python3',
    ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Debugging'],
    { env: { PATH: '/usr/bin:/bin', PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  await waitForPort(port, 'aiosmtpd (Debian python3-aiosmtpd)');
  const messages = (): string[] =>
    [...out.matchAll(/-+ MESSAGE FOLLOWS -+\n([\s\S]*?)\n-+ END MESSAGE -+/g)].map((m) => m[1] ?? '');
  return { port, messages };
}

/** A real Alertmanager on loopback, no clustering; its API lists the alerts it accepted. */
async function startAlertmanager(): Promise<{
  url: string;
  alerts: () => Promise<{ labels: Record<string, string> }[]>;
}> {
  const dir = path.join(scratch.dir, 'alertmanager');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'alertmanager.yml'),
    'route:\n  receiver: nobody\n  group_wait: 1h\nreceivers:\n  - name: nobody\n',
  );
  const port = await freePort();
  const child = spawn(
    '/usr/bin/prometheus-alertmanager',
    [
      `--config.file=${path.join(dir, 'alertmanager.yml')}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    { stdio: 'ignore' },
  );
  children.push(child);
  await waitForPort(port, 'prometheus-alertmanager (Debian)');
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/api/v2/alerts`,
    alerts: async () => (await (await fetch(`${base}/api/v2/alerts`)).json()) as { labels: Record<string, string> }[],
  };
}

describe('mizual-alerts notifications', () => {
  const home = path.join(scratch.dir, 'home');
  const formats = ['slack', 'discord', 'teams', 'telegram', 'ntfy', 'json'] as const;
  const rx: Record<string, WebhookReceiver> = {};
  let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
  let am: Awaited<ReturnType<typeof startAlertmanager>>;
  let targets: string;

  before(async () => {
    for (const f of formats) {
      rx[f] = await startWebhookReceiver();
      receivers.push(rx[f]);
    }
    [smtp, am] = await Promise.all([startSmtpSink(), startAlertmanager()]);
    // The system's sendmail (msmtp) reads the user's configuration: this test's HOME, not /etc/msmtprc.
    mkdirSync(home, { recursive: true });
    writeFileSync(
      path.join(home, '.msmtprc'),
      `defaults\nauth off\ntls off\naccount default\nhost 127.0.0.1\nport ${smtp.port}\nfrom mizual@test.invalid\n`,
    );
    chmodSync(path.join(home, '.msmtprc'), 0o600);
    const local = (f: string, p = '/hook-s3cret') => `${rx[f]!.url.replace('/hook', p)}#format=${f}`;
    targets = [
      local('slack'),
      local('discord'),
      local('teams'),
      local('telegram', '/bot12345:TOKENs3cret/sendMessage?chat_id=-100777'),
      local('ntfy', '/alerts-topic-s3cret'),
      local('json'),
      am.url,
      'mailto:oncall.person@example.com,second.person@example.org',
    ].join('\n  ');
  });

  const sandbox = (name: string) => {
    const dir = path.join(scratch.dir, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'none.env'), '');
    return {
      dir,
      env: {
        HOME: home,
        MIZUAL_HOSTNAME: 'test-host',
        MIZUAL_STATE_DIR: path.join(dir, 'state'),
        MIZUAL_ALERT_LOG: path.join(dir, 'alerts.log'),
        MIZUAL_ENV_FILE: path.join(dir, 'none.env'),
      },
    };
  };

  it('--test-notification reaches every target in its format, prints each masked with its answer, writes nothing', async () => {
    const box = sandbox('test-all');
    const result = await runTool('mizual-alerts', ['--test-notification'], {
      env: { ...box.env, MIZUAL_ALERT_WEBHOOK_URL: targets },
    });
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(result.stderr, '');
    const lines = result.stdout.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => l.replace(/127\.0\.0\.1:\d+/, 'HOST')),
      [
        'ok    slack http://HOST/***: HTTP 200',
        'ok    discord http://HOST/***: HTTP 200',
        'ok    teams http://HOST/***: HTTP 200',
        'ok    telegram http://HOST/bot***/sendMessage: HTTP 200',
        'ok    ntfy http://HOST/***: HTTP 200',
        'ok    json http://HOST/***: HTTP 200',
        'ok    alertmanager http://HOST/api/v2/alerts: HTTP 200',
        'ok    mail mailto:***@example.com,***@example.org: sendmail exit 0',
        'verdict: all 8 targets answered',
      ],
    );
    assert.doesNotMatch(result.stdout, /s3cret|TOKEN|-100777|oncall|second\.person/);
    assert.ok(!existsSync(box.env.MIZUAL_STATE_DIR), 'no state written');
    assert.ok(!existsSync(box.env.MIZUAL_ALERT_LOG), 'nothing in the alert log');

    for (const f of formats) assert.equal(rx[f]!.requests.length, 1, f);
    const req = (f: string) => rx[f]!.requests[0]!;
    const json = (f: string) => JSON.parse(req(f).text) as Record<string, unknown>;
    // No fragment ever leaves: the receivers got the path (and query) only.
    assert.equal(req('slack').url, '/hook-s3cret');
    assert.match(String(json('slack').text), /^🧪 TEST on test-host: a test notification from mizual-alerts/);
    assert.deepEqual(Object.keys(json('slack')), ['text']);
    assert.deepEqual(Object.keys(json('discord')), ['content']);
    assert.match(String(json('discord').content), /TEST on test-host/);
    // Teams Workflows: a message whose one attachment is an Adaptive Card.
    const teams = json('teams') as {
      type: string;
      attachments: { contentType: string; content: Record<string, unknown> }[];
    };
    assert.equal(teams.type, 'message');
    assert.equal(teams.attachments.length, 1);
    assert.equal(teams.attachments[0]?.contentType, 'application/vnd.microsoft.card.adaptive');
    assert.equal(teams.attachments[0]?.content.type, 'AdaptiveCard');
    assert.match(JSON.stringify(teams.attachments[0]?.content.body), /test notification/);
    // Telegram sendMessage: POST to bot<token>/sendMessage?chat_id=<id>, chat_id and text in the JSON body.
    assert.equal(req('telegram').method, 'POST');
    assert.equal(req('telegram').url, '/bot12345:TOKENs3cret/sendMessage?chat_id=-100777');
    assert.equal(req('telegram').headers['content-type'], 'application/json');
    assert.deepEqual(Object.keys(json('telegram')), ['chat_id', 'text']);
    assert.equal(json('telegram').chat_id, '-100777');
    // ntfy: the text as a plain body, Title, Priority and Tags headers.
    assert.equal(req('ntfy').url, '/alerts-topic-s3cret');
    assert.match(req('ntfy').text, /^TEST on test-host: a test notification/);
    assert.equal(req('ntfy').headers.title, 'mizual-alerts on test-host: test notification');
    assert.equal(req('ntfy').headers.priority, '3');
    assert.equal(req('ntfy').headers.tags, 'test_tube');
    assert.match(String(req('ntfy').headers['content-type']), /^text\/plain/);
    assert.deepEqual(json('json'), {
      source: 'mizual-alerts',
      host: 'test-host',
      test: true,
      message: 'a test notification from mizual-alerts --test-notification; nothing is wrong',
      alerts: [],
    });
    // The real Alertmanager accepted it.
    const accepted = await am.alerts();
    assert.deepEqual(
      accepted.map((a) => [a.labels.alertname, a.labels.instance]),
      [['MizualTestNotification', 'test-host']],
    );
    // The SMTP sink got one mail for both addresses.
    const [mail, ...more] = smtp.messages();
    assert.equal(more.length, 0);
    assert.match(mail ?? '', /^To: oncall\.person@example\.com, second\.person@example\.org$/m);
    assert.match(mail ?? '', /^Subject: \[mizual\] mizual-alerts on test-host: test notification$/m);
    assert.match(mail ?? '', /^TEST on test-host: a test notification from mizual-alerts/m);
  });

  it('an unreachable target: exit 1 and one line naming it; the others still answered', async () => {
    const box = sandbox('test-down');
    const port = await freePort();
    const before = rx.slack!.requests.length;
    const result = await runTool('mizual-alerts', ['--test-notification'], {
      env: {
        ...box.env,
        MIZUAL_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook-s3cret ${rx.slack!.url}#format=slack`,
      },
    });
    assert.equal(result.exitCode, 1, result.stdout);
    const lines = result.stdout.trimEnd().split('\n');
    assert.deepEqual(
      lines.filter((l) => l.startsWith('FAIL')),
      [`FAIL  json http://127.0.0.1:${port}/***: ECONNREFUSED`],
    );
    assert.equal(lines.at(-1), 'verdict: 1 of 2 targets failed');
    assert.equal(rx.slack!.requests.length, before + 1);
    assert.ok(!existsSync(box.env.MIZUAL_STATE_DIR), 'no outbox for a test');
  });

  it('no target set is a usage error (3), a target that is not one too', async () => {
    const box = sandbox('test-none');
    const none = await runTool('mizual-alerts', ['--test-notification'], { env: box.env });
    assert.equal(none.exitCode, 3);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /^mizual-alerts: --test-notification needs MIZUAL_ALERT_WEBHOOK_URL .*$/);
    const bad = await runTool('mizual-alerts', ['--test-notification'], {
      env: { ...box.env, MIZUAL_ALERT_WEBHOOK_URL: 'https://x.invalid/a#format=pager' },
    });
    assert.equal(bad.exitCode, 3);
    assert.match(bad.stderr, /^mizual-alerts: MIZUAL_ALERT_WEBHOOK_URL target 1: #format= must be one of .*$/);
  });

  it('a real run: each target gets the alert; a failing one keeps its own outbox and gets it once when back', async () => {
    const box = sandbox('run');
    const downPort = await freePort();
    const mailsBefore = smtp.messages().length;
    const slackBefore = rx.slack!.requests.length;
    const env = {
      ...box.env,
      MIZUAL_ALERT_WEBHOOK_URL: `http://127.0.0.1:${downPort}/hook#format=ntfy ${rx.slack!.url}#format=slack mailto:oncall@example.com`,
    };
    const args = ['--no-docker', '--cpu', '100', '--cpu-sample', '0', '--memory', '1'];
    const first = await runTool('mizual-alerts', args, { env });
    assert.equal(first.exitCode, 1, first.stderr);
    assert.deepEqual(first.stderr.trimEnd().split('\n'), [
      `mizual-alerts: webhook http://127.0.0.1:${downPort}/***: failed (ECONNREFUSED); 1 kept in the outbox`.replace(
        '/***:',
        '/***',
      ),
    ]);
    assert.equal(rx.slack!.requests.length, slackBefore + 1);
    assert.match(JSON.parse(rx.slack!.requests.at(-1)!.text).text as string, /WARNING memory on test-host: memory/);
    const mails = smtp.messages().slice(mailsBefore);
    assert.equal(mails.length, 1);
    assert.match(mails[0] ?? '', /^Subject: \[mizual\] test-host: WARNING memory$/m);
    // The ntfy target comes back: its outbox goes out once; the others get nothing new (no change of state).
    const back = await startWebhookReceiver({ port: downPort });
    receivers.push(back);
    for (let i = 0; i < 2; i++) {
      const again = await runTool('mizual-alerts', args, { env });
      assert.equal(again.exitCode, 1, again.stderr);
      assert.equal(again.stderr, '');
    }
    assert.equal(back.requests.length, 1, 'delivered once');
    assert.match(back.requests[0]!.text, /^WARNING memory on test-host: memory/);
    assert.equal(back.requests[0]!.headers.priority, '4');
    assert.equal(rx.slack!.requests.length, slackBefore + 1);
    assert.equal(smtp.messages().length, mailsBefore + 1);
    assert.deepEqual(
      readdirSync(box.env.MIZUAL_STATE_DIR).filter((f) => f.includes('outbox')),
      [],
    );
  });
});
