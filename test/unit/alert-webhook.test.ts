import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { AlertEvent } from '../../src/alerts/state.js';
import { buildWebhookBodies, deliverNotifications, resolveWebhookFormat } from '../../src/alerts/webhook.js';
import { scratchDir } from '../helpers/cli.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

const scratch = scratchDir('mizual-webhook-');
after(scratch.cleanup);
const ctx = { host: 'web-1', repeatMs: 3_600_000 };

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

describe('webhook formats', () => {
  it('slack and discord get one text line per event', () => {
    const [slack] = buildWebhookBodies('slack', [event(), event({ severity: 'RESOLVED', previous: 'critical' })], ctx);
    assert.deepEqual(Object.keys(slack as object), ['text']);
    const lines = (slack as { text: string }).text.split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? '', /CRITICAL disk:\/ on web-1: disk \/ 93\.1% used \(threshold 90%\)$/);
    assert.match(lines[1] ?? '', /RESOLVED disk:\/ on web-1/);
    const [discord] = buildWebhookBodies('discord', [event()], ctx);
    assert.deepEqual(Object.keys(discord as object), ['content']);
  });

  it('discord messages are split below its 2000-character limit', () => {
    const many = Array.from({ length: 40 }, (_, i) => event({ check: `disk:/data${i}` }));
    const bodies = buildWebhookBodies('discord', many, ctx) as { content: string }[];
    assert.ok(bodies.length > 1);
    for (const b of bodies) assert.ok(b.content.length <= 2000, String(b.content.length));
    assert.equal(
      bodies.map((b) => b.content.split('\n').length).reduce((a, b) => a + b),
      40,
    );
  });

  it('alertmanager gets API v2 postable alerts; RESOLVED ends the alert with the labels it fired with', () => {
    const [firing] = buildWebhookBodies('alertmanager', [event()], ctx) as Record<string, unknown>[][];
    assert.deepEqual(firing?.[0], {
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
    const [body] = buildWebhookBodies('alertmanager', [resolved], ctx) as Record<string, unknown>[][];
    assert.equal((body?.[0]?.labels as Record<string, string>).severity, 'critical');
    assert.equal(body?.[0]?.endsAt, '2026-11-25T10:00:00.000Z');
    const escalated = event({ previous: 'warning' });
    const [both] = buildWebhookBodies('alertmanager', [escalated], ctx) as Record<string, unknown>[][];
    assert.equal(both?.length, 2, 'warning → critical also ends the warning alert');
  });

  it('json is our own document', () => {
    const [body] = buildWebhookBodies('json', [event()], ctx) as { source: string; host: string; alerts: unknown[] }[];
    assert.equal(body?.source, 'mizual-alerts');
    assert.equal(body?.host, 'web-1');
    assert.deepEqual(body?.alerts[0], {
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

  it('the format is chosen by MIZUAL_ALERT_WEBHOOK_FORMAT, else guessed from the URL', () => {
    assert.equal(resolveWebhookFormat(undefined, 'https://hooks.slack.com/services/T/B/x'), 'slack');
    assert.equal(resolveWebhookFormat(undefined, 'https://discord.com/api/webhooks/1/abc'), 'discord');
    assert.equal(resolveWebhookFormat(undefined, 'http://am:9093/api/v2/alerts'), 'alertmanager');
    assert.equal(resolveWebhookFormat(undefined, 'https://example.com/hook'), 'json');
    assert.equal(resolveWebhookFormat('Discord', 'https://example.com/hook'), 'discord');
    assert.throws(
      () => resolveWebhookFormat('teams', 'https://example.com'),
      /MIZUAL_ALERT_WEBHOOK_FORMAT must be one of/,
    );
  });
});

describe('webhook delivery and outbox', () => {
  it('keeps undelivered events in the outbox and delivers them once when the receiver answers', async () => {
    const stateDir = path.join(scratch.dir, 'outbox');
    const now = new Date('2026-11-25T09:40:12Z');
    const down = await deliverNotifications({
      url: 'http://127.0.0.1:9/hook',
      format: 'json',
      stateDir,
      events: [event()],
      ctx,
      now,
    });
    assert.equal(down.queued, 1);
    assert.match(down.error ?? '', /ECONNREFUSED/);
    assert.ok(existsSync(path.join(stateDir, 'alerts-outbox.json')));
    const rx = await startWebhookReceiver();
    try {
      const up = await deliverNotifications({ url: rx.url, format: 'json', stateDir, events: [], ctx, now });
      assert.equal(up.delivered, 1);
      assert.equal(up.queued, 0);
      assert.ok(!existsSync(path.join(stateDir, 'alerts-outbox.json')));
      await deliverNotifications({ url: rx.url, format: 'json', stateDir, events: [], ctx, now });
      assert.equal(rx.bodies.length, 1, 'delivered once, not twice');
    } finally {
      rx.server.close();
    }
  });

  it('a non-2xx answer counts as failed; entries older than a day are dropped and counted', async () => {
    const stateDir = path.join(scratch.dir, 'outbox-old');
    const rx = await startWebhookReceiver({ status: 500 });
    try {
      const at = new Date('2026-11-24T08:00:00Z');
      const old = event({ at: at.toISOString() });
      const failed = await deliverNotifications({
        url: rx.url,
        format: 'slack',
        stateDir,
        events: [old],
        ctx,
        now: at,
      });
      assert.equal(failed.error, 'HTTP 500');
      assert.equal(failed.queued, 1);
      const later = new Date('2026-11-25T09:00:00Z');
      const next = await deliverNotifications({ url: rx.url, format: 'slack', stateDir, events: [], ctx, now: later });
      assert.equal(next.dropped, 1);
      assert.equal(next.queued, 0);
    } finally {
      rx.server.close();
    }
  });

  it('a corrupt outbox is reported and replaced', async () => {
    const stateDir = path.join(scratch.dir, 'outbox-bad');
    const { writeFileSync, mkdirSync } = await import('node:fs');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, 'alerts-outbox.json'), '[[[');
    const r = await deliverNotifications({
      url: 'http://127.0.0.1:9/x',
      format: 'json',
      stateDir,
      events: [event()],
      ctx,
      now: new Date(),
    });
    assert.match(r.outboxProblem ?? '', /invalid JSON.*replaced/);
    const saved = JSON.parse(readFileSync(path.join(stateDir, 'alerts-outbox.json'), 'utf8')) as { events: unknown[] };
    assert.equal(saved.events.length, 1);
  });
});
