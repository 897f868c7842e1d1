// The notification targets and formats (src/alerts/notify/), each body as the receiving service
// documents it, and each target's own outbox.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { alertName } from '../../src/alerts/alert-name.js';
import { buildMessages, deliverNotifications } from '../../src/alerts/notify/deliver.js';
import type { Outgoing } from '../../src/alerts/notify/format.js';
import { parseTargets, type Target } from '../../src/alerts/notify/targets.js';
import type { AlertEvent } from '../../src/alerts/state.js';
import { scratchDir } from '../helpers/cli.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

const scratch = scratchDir('mizual-notify-');
after(scratch.cleanup);
const now = new Date('2026-11-25T09:40:12Z');
const ctx = { host: 'web-1', repeatMs: 3_600_000, now };

function event(overrides: Partial<AlertEvent> = {}): AlertEvent {
  return {
    at: '2026-11-25T09:40:12.000Z',
    severity: 'CRITICAL',
    check: 'disk:/',
    message: 'disk / 93.1% used (threshold 90%)',
    previous: 'ok',
    since: '2026-11-25T09:40:12.000Z',
    value: 93.1,
    threshold: 90,
    reminder: false,
    ...overrides,
  };
}

function target(url: string, format?: string): Target {
  const [t] = parseTargets(url, format);
  assert.ok(t);
  return t;
}

function http(out: Outgoing | undefined): { url: string; headers: Record<string, string>; body: string } {
  assert.equal(out?.kind, 'http');
  return out as { url: string; headers: Record<string, string>; body: string };
}

const messages = (t: Target, events: AlertEvent[], test = false) =>
  buildMessages(t, { ...ctx, test }, test ? [] : events);
const body = (t: Target, events: AlertEvent[], test = false): unknown =>
  JSON.parse(http(messages(t, events, test)[0]).body);

describe('notification targets', () => {
  it('the format comes from the host, a #format= fragment, MIZUAL_ALERT_WEBHOOK_FORMAT, else json', () => {
    const formats = (raw: string, fallback?: string) => parseTargets(raw, fallback).map((t) => t.format);
    assert.deepEqual(
      formats(
        [
          'https://hooks.slack.com/services/T0/B0/xyz',
          'https://discord.com/api/webhooks/1/abc',
          'https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=s',
          'https://contoso.webhook.office.com/webhookb2/abc',
          'https://api.telegram.org/bot123:AAE/sendMessage?chat_id=-1001',
          'https://ntfy.sh/mizual-alerts-x',
          'http://am:9093/api/v2/alerts',
          'https://example.com/hook',
        ].join('\n  '),
      ),
      ['slack', 'discord', 'teams', 'teams', 'telegram', 'ntfy', 'alertmanager', 'json'],
    );
    assert.deepEqual(formats('https://example.com/a https://hooks.slack.com/services/x', 'Discord'), [
      'discord',
      'slack',
    ]);
    assert.deepEqual(formats('http://127.0.0.1:8080/t#format=ntfy', 'slack'), ['ntfy']);
    assert.deepEqual(formats('mailto:ops@example.com,dev@example.org'), ['mail']);
  });

  it('the fragment is never sent, and bad targets are usage errors naming them', () => {
    assert.equal(target('http://127.0.0.1:8080/hook?x=1#format=teams').url, 'http://127.0.0.1:8080/hook?x=1');
    assert.throws(
      () => parseTargets('https://ok.example/a nope', undefined),
      /MIZUAL_ALERT_WEBHOOK_URL target 2 is not a URL/,
    );
    assert.throws(
      () => parseTargets('ftp://x/y', undefined),
      /target 1 must start with https:\/\/, http:\/\/ or mailto:/,
    );
    assert.throws(
      () => parseTargets('http://x/y#format=pager', undefined),
      /#format= must be one of slack, discord, teams/,
    );
    assert.throws(() => parseTargets('http://x/y', 'teams2'), /MIZUAL_ALERT_WEBHOOK_FORMAT must be one of/);
    assert.throws(() => parseTargets('mailto:nobody', undefined), /target 1: a mailto: target needs/);
    assert.throws(
      () => parseTargets('https://api.telegram.org/botSECRET/sendMessage', undefined),
      (err: Error) => /needs \?chat_id=/.test(err.message) && !err.message.includes('SECRET'),
    );
  });

  it('what may be printed masks tokens, webhook paths and address local parts', () => {
    const shown = parseTargets(
      'https://hooks.slack.com/services/T0/B0/s3cr3t https://api.telegram.org/bot123:TOKEN/sendMessage?chat_id=42 ' +
        'https://u:pw@ntfy.sh/secret-topic mailto:alice@example.com,bob@ops.example.org',
      undefined,
    ).map((t) => t.display);
    assert.deepEqual(shown, [
      'https://hooks.slack.com/***',
      'https://api.telegram.org/bot***/sendMessage',
      'https://ntfy.sh/***',
      'mailto:***@example.com,***@ops.example.org',
    ]);
    for (const s of shown) assert.doesNotMatch(s, /s3cr3t|TOKEN|pw|secret-topic|alice|bob|42/);
  });
});

describe('notification formats', () => {
  it('slack and discord get one text line per event', () => {
    const slack = body(target('https://hooks.slack.com/services/x'), [
      event(),
      event({ severity: 'RESOLVED', previous: 'critical' }),
    ]) as { text: string };
    assert.deepEqual(Object.keys(slack), ['text']);
    const lines = slack.text.split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? '', /CRITICAL disk:\/ on web-1: disk \/ 93\.1% used \(threshold 90%\)$/);
    assert.match(lines[1] ?? '', /RESOLVED disk:\/ on web-1/);
    assert.deepEqual(Object.keys(body(target('https://discord.com/api/webhooks/1/a'), [event()]) as object), [
      'content',
    ]);
  });

  it('discord messages are split below its 2000-character limit', () => {
    const many = Array.from({ length: 40 }, (_, i) => event({ check: `disk:/data${i}` }));
    const bodies = messages(target('https://discord.com/api/webhooks/1/a'), many).map(
      (m) => JSON.parse(http(m).body) as { content: string },
    );
    assert.ok(bodies.length > 1);
    for (const b of bodies) assert.ok(b.content.length <= 2000, String(b.content.length));
    assert.equal(
      bodies.map((b) => b.content.split('\n').length).reduce((a, b) => a + b),
      40,
    );
  });

  it('teams gets a Workflows message with one Adaptive Card', () => {
    const msg = body(target('https://x.webhook.office.com/webhookb2/abc'), [event()]) as {
      type: string;
      attachments: { contentType: string; content: { type: string; version: string; body: { text: string }[] } }[];
    };
    assert.equal(msg.type, 'message');
    assert.equal(msg.attachments.length, 1);
    assert.equal(msg.attachments[0]?.contentType, 'application/vnd.microsoft.card.adaptive');
    const card = msg.attachments[0]?.content;
    assert.equal(card?.type, 'AdaptiveCard');
    assert.equal(card?.version, '1.4');
    assert.deepEqual(
      card?.body.map((b) => b.text),
      ['web-1: CRITICAL disk:/', '🔴 CRITICAL disk:/ on web-1: disk / 93.1% used (threshold 90%)'],
    );
  });

  it('telegram posts sendMessage with chat_id from the query and the text', () => {
    const out = http(messages(target('https://api.telegram.org/bot1:AA/sendMessage?chat_id=-100123'), [event()])[0]);
    assert.equal(out.url, 'https://api.telegram.org/bot1:AA/sendMessage?chat_id=-100123');
    assert.equal(out.headers['Content-Type'], 'application/json');
    assert.deepEqual(JSON.parse(out.body), {
      chat_id: '-100123',
      text: '🔴 CRITICAL disk:/ on web-1: disk / 93.1% used (threshold 90%)',
    });
  });

  it('ntfy gets the text as a plain body with Title, Priority and Tags', () => {
    const t = target('https://ntfy.sh/topic');
    const out = http(messages(t, [event(), event({ check: 'cpu', severity: 'WARNING', message: 'cpu 91%' })])[0]);
    assert.equal(
      out.body,
      'CRITICAL disk:/ on web-1: disk / 93.1% used (threshold 90%)\nWARNING cpu on web-1: cpu 91%',
    );
    assert.deepEqual(
      { title: out.headers.Title, priority: out.headers.Priority, tags: out.headers.Tags },
      { title: 'web-1: 2 alerts (CRITICAL)', priority: '5', tags: 'rotating_light' },
    );
    const resolved = http(messages(t, [event({ severity: 'RESOLVED', previous: 'critical' })])[0]);
    assert.deepEqual([resolved.headers.Priority, resolved.headers.Tags], ['3', 'white_check_mark']);
  });

  it('mail is one message for sendmail -t: To from the target, a subject, the lines', () => {
    const out = messages(target('mailto:ops@example.com,dev@example.org'), [event()])[0];
    assert.equal(out?.kind, 'mail');
    assert.equal(
      (out as { message: string }).message,
      [
        'To: ops@example.com, dev@example.org',
        'Subject: [mizual] web-1: CRITICAL disk:/',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 8bit',
        'Auto-Submitted: auto-generated',
        '',
        'CRITICAL disk:/ on web-1: disk / 93.1% used (threshold 90%)',
        '',
      ].join('\n'),
    );
  });

  it('alertmanager gets API v2 postable alerts; RESOLVED ends the alert with the labels it fired with', () => {
    const am = target('http://am:9093/api/v2/alerts');
    const firing = body(am, [event()]) as Record<string, unknown>[];
    assert.deepEqual(firing[0], {
      labels: {
        alertname: 'MizualDisk',
        check: 'disk:/',
        severity: 'critical',
        instance: 'web-1',
        job: 'mizual-alerts',
      },
      annotations: { summary: 'disk:/: disk / 93.1% used (threshold 90%)' },
      startsAt: '2026-11-25T09:40:12.000Z',
      endsAt: '2026-11-25T10:55:12.000Z',
    });
    const resolved = event({ severity: 'RESOLVED', previous: 'critical', at: '2026-11-25T10:00:00.000Z' });
    const [ended] = body(am, [resolved]) as Record<string, unknown>[];
    assert.equal((ended?.labels as Record<string, string>).severity, 'critical');
    assert.equal(ended?.endsAt, '2026-11-25T10:00:00.000Z');
    assert.equal(
      (body(am, [event({ previous: 'warning' })]) as unknown[]).length,
      2,
      'warning → critical ends the warning',
    );
  });

  it('json is our own document', () => {
    const doc = body(target('https://example.com/hook'), [event()]) as {
      source: string;
      host: string;
      alerts: unknown[];
    };
    assert.equal(doc.source, 'mizual-alerts');
    assert.equal(doc.host, 'web-1');
    assert.deepEqual(doc.alerts[0], {
      time: '2026-11-25T09:40:12.000Z',
      severity: 'CRITICAL',
      check: 'disk:/',
      message: 'disk / 93.1% used (threshold 90%)',
      previousStatus: 'ok',
      since: '2026-11-25T09:40:12.000Z',
      value: 93.1,
      threshold: 90,
      reminder: false,
    });
  });

  it('a test message says it is a test in every format', () => {
    for (const url of [
      'https://hooks.slack.com/x',
      'https://discord.com/api/webhooks/1/a',
      'https://x.webhook.office.com/w',
      'https://api.telegram.org/bot1:A/sendMessage?chat_id=1',
      'https://ntfy.sh/t',
      'http://am:9093/api/v2/alerts',
      'https://example.com/hook',
      'mailto:ops@example.com',
    ]) {
      const [out] = messages(target(url), [], true);
      const text = out?.kind === 'mail' ? out.message : `${out?.body}${JSON.stringify(out?.headers)}`;
      assert.match(text, /test notification/i, url);
      assert.doesNotMatch(text, /CRITICAL|WARNING|RESOLVED/, url);
    }
  });
});

describe('one alert name per check', () => {
  it('maps each check family to Mizual<Family>, subjects left out', () => {
    const names = Object.fromEntries(
      [
        'cpu',
        'disk:/var/lib/docker',
        'inodes:/',
        'container:backend',
        'db:down',
        'db:long-query',
        'db:regression:123',
        'app-errors:web',
        'tasks:app.send',
        'disk-forecast:/',
        'celery:stalled',
        'oom:host',
      ].map((c) => [c, alertName(c)]),
    );
    assert.deepEqual(names, {
      cpu: 'MizualCpu',
      'disk:/var/lib/docker': 'MizualDisk',
      'inodes:/': 'MizualInodes',
      'container:backend': 'MizualContainer',
      'db:down': 'MizualDbDown',
      'db:long-query': 'MizualDbLongQuery',
      'db:regression:123': 'MizualDbRegression',
      'app-errors:web': 'MizualAppErrors',
      'tasks:app.send': 'MizualTasks',
      'disk-forecast:/': 'MizualDiskForecast',
      'celery:stalled': 'MizualCeleryStalled',
      'oom:host': 'MizualOom',
    });
  });
});

describe('notification delivery and outboxes', () => {
  it('keeps undelivered events in the outbox and delivers them once when the receiver answers', async () => {
    const stateDir = path.join(scratch.dir, 'outbox');
    const rx = await startWebhookReceiver();
    const port = new URL(rx.url).port;
    rx.server.close();
    const targets = parseTargets(`http://127.0.0.1:${port}/hook`, undefined);
    const down = await deliverNotifications({ targets, stateDir, events: [event()], ctx });
    assert.equal(down.targets[0]?.queued, 1);
    assert.match(down.targets[0]?.error ?? '', /ECONNREFUSED/);
    assert.ok(existsSync(path.join(stateDir, 'alerts-outbox.json')));
    const { bodies, close } = await startWebhookReceiver({ port: Number(port) });
    try {
      const up = await deliverNotifications({ targets, stateDir, events: [], ctx });
      assert.equal(up.delivered, 1);
      assert.equal(up.targets[0]?.queued, 0);
      assert.ok(!existsSync(path.join(stateDir, 'alerts-outbox.json')));
      await deliverNotifications({ targets, stateDir, events: [], ctx });
      assert.equal(bodies.length, 1, 'delivered once, not twice');
    } finally {
      close();
    }
  });

  it('a failing target keeps its own outbox and never holds up the others', async () => {
    const stateDir = path.join(scratch.dir, 'outbox-two');
    const good = await startWebhookReceiver();
    const bad = await startWebhookReceiver({ status: 500 });
    try {
      const targets = parseTargets(`${bad.url} ${good.url}#format=slack`, undefined);
      const first = await deliverNotifications({ targets, stateDir, events: [event()], ctx });
      assert.deepEqual(
        first.targets.map((t) => [t.format, t.delivered, t.queued, t.error]),
        [
          ['json', 0, 1, 'HTTP 500'],
          ['slack', 1, 0, null],
        ],
      );
      const second = await deliverNotifications({ targets, stateDir, events: [event({ check: 'cpu' })], ctx });
      assert.deepEqual(
        second.targets.map((t) => [t.delivered, t.queued]),
        [
          [0, 2],
          [1, 0],
        ],
      );
      assert.equal(good.bodies.length, 2, 'the good target got each event once');
      assert.equal(bad.requests.length, 2);
      const saved = JSON.parse(readFileSync(path.join(stateDir, 'alerts-outbox.json'), 'utf8')) as {
        targets: Record<string, AlertEvent[]>;
      };
      assert.deepEqual(Object.keys(saved.targets), [targets[0]?.id]);
      assert.doesNotMatch(JSON.stringify(saved), /127\.0\.0\.1/, 'the outbox holds no target URL');
    } finally {
      good.close();
      bad.close();
    }
  });

  it('entries older than a day are dropped and counted', async () => {
    const stateDir = path.join(scratch.dir, 'outbox-old');
    const rx = await startWebhookReceiver({ status: 500 });
    try {
      const targets = parseTargets(`${rx.url}#format=slack`, undefined);
      const at = new Date('2026-11-24T08:00:00Z');
      const failed = await deliverNotifications({
        targets,
        stateDir,
        events: [event({ at: at.toISOString() })],
        ctx: { ...ctx, now: at },
      });
      assert.equal(failed.targets[0]?.error, 'HTTP 500');
      const next = await deliverNotifications({
        targets,
        stateDir,
        events: [],
        ctx: { ...ctx, now: new Date('2026-11-25T09:00:00Z') },
      });
      assert.equal(next.dropped, 1);
      assert.equal(next.targets[0]?.queued, 0);
    } finally {
      rx.close();
    }
  });

  it('the single-target outbox of earlier versions is sent, and a corrupt one is reported and replaced', async () => {
    const rx = await startWebhookReceiver();
    try {
      const stateDir = path.join(scratch.dir, 'outbox-v1');
      mkdirSync(stateDir, { recursive: true });
      writeFileSync(path.join(stateDir, 'alerts-outbox.json'), JSON.stringify({ version: 1, events: [event()] }));
      const r = await deliverNotifications({ targets: parseTargets(rx.url, undefined), stateDir, events: [], ctx });
      assert.equal(r.delivered, 1);
      assert.ok(!existsSync(path.join(stateDir, 'alerts-outbox.json')));
    } finally {
      rx.close();
    }
    const stateDir = path.join(scratch.dir, 'outbox-bad');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, 'alerts-outbox.json'), '[[[');
    const targets = parseTargets('http://127.0.0.1:9/x', undefined);
    const r = await deliverNotifications({ targets, stateDir, events: [event()], ctx });
    assert.match(r.outboxProblem ?? '', /invalid JSON.*replaced/);
    const saved = JSON.parse(readFileSync(path.join(stateDir, 'alerts-outbox.json'), 'utf8')) as {
      targets: Record<string, unknown[]>;
    };
    assert.equal(saved.targets[targets[0]?.id ?? '']?.length, 1);
  });
});

describe('mail headers', () => {
  it('a subject that is not ASCII is RFC 2047 encoded words of at most 75 characters, decoding to the title', () => {
    const t = parseTargets('mailto:ops@example.com', undefined)[0]!;
    const out = buildMessages(t, { ...ctx, host: 'web-1', test: false }, [
      event({ check: 'probe:café-ünïcode-名前-'.repeat(3) }),
    ])[0] as { message: string };
    const header = /^Subject: (.*(?:\n .*)*)$/m.exec(out.message)?.[1] ?? '';
    const words = header.split('\n ');
    assert.ok(words.length > 1);
    for (const w of words) assert.ok(w.length <= 75 && /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/.test(w), w);
    const decoded = words.map((w) => Buffer.from(w.slice(10, -2), 'base64').toString('utf8')).join('');
    assert.equal(decoded, `[mizual] web-1: CRITICAL ${'probe:café-ünïcode-名前-'.repeat(3)}`);
  });
});
