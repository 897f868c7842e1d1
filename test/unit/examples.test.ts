import assert from 'node:assert/strict';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/cli.js';

const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

describe('examples', () => {
  it('the CloudWatch agent configuration is valid JSON with the seed setup metrics', () => {
    const config = JSON.parse(read('examples/amazon-cloudwatch-agent.json')) as {
      agent: { metrics_collection_interval: number };
      metrics: {
        namespace: string;
        metrics_collected: Record<string, { measurement: string[]; resources?: string[] }>;
      };
    };
    assert.equal(config.metrics.namespace, 'Mizual');
    assert.equal(config.agent.metrics_collection_interval, 60);
    const collected = config.metrics.metrics_collected;
    assert.deepEqual(collected.cpu?.measurement, ['cpu_usage_idle', 'cpu_usage_iowait']);
    assert.deepEqual(collected.disk?.measurement, ['used_percent', 'free']);
    assert.deepEqual(collected.disk?.resources, ['/']);
    assert.deepEqual(collected.mem?.measurement, ['mem_used_percent', 'mem_available']);
    assert.deepEqual(collected.netstat?.measurement, ['tcp_established']);
  });

  it('Dozzle and cAdvisor publish their ports on loopback only', () => {
    const compose = read('examples/docker-compose.monitoring.yml');
    const published = [...compose.matchAll(/^\s+- '([^']+:\d+)'$/gm)].map((m) => m[1] as string);
    assert.deepEqual(published, ['127.0.0.1:8080:8080', '127.0.0.1:8081:8080']);
  });

  it('every systemd timer is persistent and has a service of the same name', () => {
    for (const unit of ['mizual-alerts', 'mizual-ship-logs', 'mizual-prune-logs']) {
      assert.match(read(`examples/systemd/${unit}.timer`), /^Persistent=true$/m);
      assert.match(read(`examples/systemd/${unit}.service`), /^ExecStart=\/usr\/local\/bin\/mizual-/m);
    }
  });

  it('the hold runs every minute from systemd too', () => {
    assert.match(read('examples/systemd/mizual-hold-logs.timer'), /^OnCalendar=\*:\*:00$/m);
    assert.match(
      read('examples/systemd/mizual-hold-logs.service'),
      /^ExecStart=\/usr\/local\/bin\/mizual-ship-logs --hold$/m,
    );
  });

  it('crontab.example schedules alerts every 5 minutes, shipping every 30 and prune once a night', () => {
    const lines = read('crontab.example')
      .split('\n')
      .filter((l) => /^[*0-9]/.test(l));
    assert.ok(lines.some((l) => l.startsWith('*/5 * * * * /usr/local/bin/mizual-alerts ')));
    assert.ok(lines.some((l) => l.startsWith('*/30 * * * * /usr/local/bin/mizual-ship-logs ')));
    assert.ok(lines.some((l) => /^\d+ 0 \* \* \* \/usr\/local\/bin\/mizual-ship-logs --prune /.test(l)));
    assert.ok(
      lines.some((l) => l.startsWith('* * * * * /usr/local/bin/mizual-ship-logs --hold ')),
      'the hold every minute',
    );
    for (const l of lines) {
      assert.match(l, /(>> \/var\/log\/mizual-[a-z-]+\.log 2>&1|> \/dev\/null 2>> \/var\/log\/mizual-[a-z-]+\.log)$/);
    }
    // Every run prints its whole table: appended every 5 minutes, the cron log would hold nothing but tables.
    assert.ok(lines.some((l) => / \/usr\/local\/bin\/mizual-alerts > \/dev\/null 2>> /.test(l)));
  });
});

// The minutes of the hour a cron minute field (every 30, `15`, `0,30`) or a systemd `OnCalendar` names.
function minutesOf(field: string): number[] {
  const minutes = new Set<number>();
  for (const part of field.split(',')) {
    const step = /^(\*|\d+)\/(\d+)$/.exec(part);
    if (step) {
      for (let m = step[1] === '*' ? 0 : Number(step[1]); m < 60; m += Number(step[2])) minutes.add(m);
    } else if (part === '*') {
      for (let m = 0; m < 60; m++) minutes.add(m);
    } else {
      minutes.add(Number(part));
    }
  }
  return [...minutes];
}

/** The minute field of a systemd OnCalendar value (`*:0/30`, `*-*-* 00:15:00`). */
function calendarMinutes(unit: string): number[] {
  const value = /^OnCalendar=(.+)$/m.exec(read(unit))?.[1] ?? '';
  const time = value.split(' ').at(-1) as string;
  return minutesOf(time.split(':')[1] as string);
}

/** The shortest distance in minutes, around the hour, between any two of the minutes. */
function closest(a: number[], b: number[]): number {
  let best = 60;
  for (const x of a) for (const y of b) best = Math.min(best, Math.abs(x - y), 60 - Math.abs(x - y));
  return best;
}

describe('the prune and the shipping runs do not start together (both take the lock)', () => {
  it('crontab.example: prune starts at least 10 minutes away from every shipping run', () => {
    const lines = read('crontab.example')
      .split('\n')
      .filter((l) => /^[*0-9]/.test(l));
    const ship = lines.find((l) => / \/usr\/local\/bin\/mizual-ship-logs >>/.test(l)) as string;
    const prune = lines.find((l) => / \/usr\/local\/bin\/mizual-ship-logs --prune /.test(l)) as string;
    assert.ok(ship && prune);
    assert.ok(closest(minutesOf(ship.split(' ')[0] as string), minutesOf(prune.split(' ')[0] as string)) >= 10);
  });

  it('systemd: the prune timer fires at least 10 minutes away from the shipping timer', () => {
    const ship = calendarMinutes('examples/systemd/mizual-ship-logs.timer');
    const prune = calendarMinutes('examples/systemd/mizual-prune-logs.timer');
    assert.deepEqual(ship, [0, 30]);
    assert.ok(closest(ship, prune) >= 10, `ship ${ship.join(',')} prune ${prune.join(',')}`);
  });
});

describe('examples/logrotate.d/mizual (real logrotate)', () => {
  const conf = 'examples/logrotate.d/mizual';

  it('names both cron logs, weekly, compressed, missingok, create 0600; logrotate -d accepts it', async () => {
    const text = read(conf);
    assert.match(text, /^\/var\/log\/mizual-log-shipping\.log \/var\/log\/mizual-alerts-cron\.log \{$/m);
    for (const directive of ['weekly', 'compress', 'missingok', 'create 0600 root root']) {
      assert.match(text, new RegExp(`^\\s+${directive}$`, 'm'), directive);
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'mizual-logrotate-'));
    try {
      const result = await execa('logrotate', ['-d', '-s', path.join(dir, 'status'), path.join(ROOT, conf)], {
        reject: false,
        all: true,
      });
      assert.equal(result.exitCode, 0, String(result.all));
      assert.doesNotMatch(String(result.all), /error/i);
      assert.match(String(result.all), /rotating pattern: \/var\/log\/mizual-log-shipping\.log/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a forced rotation of copies renames the logs and creates empty 0600 ones that cron can append to', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mizual-logrotate-'));
    try {
      const ship = path.join(dir, 'mizual-log-shipping.log');
      const cron = path.join(dir, 'mizual-alerts-cron.log');
      writeFileSync(ship, 'shipped 1\n');
      writeFileSync(cron, 'alerts 1\n');
      const copy = path.join(dir, 'mizual.conf');
      writeFileSync(copy, read(conf).replaceAll('/var/log/', `${dir}/`));
      const result = await execa('logrotate', ['-f', '-s', path.join(dir, 'status'), copy], {
        reject: false,
        all: true,
      });
      assert.equal(result.exitCode, 0, String(result.all));
      assert.equal(readFileSync(`${ship}.1`, 'utf8'), 'shipped 1\n', 'delaycompress: the newest old log stays plain');
      assert.equal(readFileSync(`${cron}.1`, 'utf8'), 'alerts 1\n');
      assert.equal(statSync(ship).size, 0);
      assert.equal(statSync(ship).mode & 0o777, 0o600);
      writeFileSync(ship, 'shipped 2\nshipped 3\n');
      const second = await execa('logrotate', ['-f', '-s', path.join(dir, 'status'), copy], {
        reject: false,
        all: true,
      });
      assert.equal(second.exitCode, 0, String(second.all));
      assert.ok(existsSync(`${ship}.2.gz`), 'the older generation is compressed');
      assert.equal(readFileSync(`${ship}.1`, 'utf8'), 'shipped 2\nshipped 3\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
