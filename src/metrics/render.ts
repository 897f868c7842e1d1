import type { MetricsReport } from './report.js';
import { queueSeries } from '../app/broker/broker.js';
import { probeSeries } from '../app/probes/probes.js';
import { renderAppSection } from './app-render.js';
import { createExposition } from '../core/exposition.js';
import { addDbSeries } from '../db/prometheus.js';
import { renderDbSection } from './db-render.js';
import { describeReached } from '../docker/compose-hosts.js';
import { defaultsNotFoundAdvice } from '../docker/watched.js';
import { createPainter, paintLevel, renderTable, type Level } from '../core/paint.js';
import { levelFor } from '../core/thresholds.js';
import { formatBytes, formatUptime } from '../core/units.js';
import { describeReclaimable } from '../docker/disk-usage.js';

/** The dashboard names what Docker could give back once it is over 1 GB. */
const RECLAIM_LINE_BYTES = 1e9;

/**
 * The one-screen dashboard, coloured against the alert thresholds when `color` is on; `spark` gives the
 * last hour's sparkline of a kept series (src/history/sparkline.ts), '' when there is none.
 */
export function renderDashboard(
  report: MetricsReport,
  color: boolean,
  spark: (key: string) => string = () => '',
): string {
  const beside = (key: string): string => (spark(key) ? `  ${spark(key)}` : '');
  const paint = createPainter(color);
  const t = report.thresholds;
  const pct = (value: number, threshold: number): string =>
    paintLevel(paint, levelFor(value, threshold), `${value.toFixed(1)}%`);
  const lines: string[] = [];
  const m = report.memory;
  lines.push(
    paint.bold(`${report.host}`) + `  ${report.time.replace(/\.\d+Z$/, 'Z')}  up ${formatUptime(report.uptimeSeconds)}`,
    `load ${report.load.load1.toFixed(2)} ${report.load.load5.toFixed(2)} ${report.load.load15.toFixed(2)}` +
      ` (${report.cpu.cores} cores)   cpu ${pct(report.cpu.percent, t.cpu)}${beside('cpu')}`,
    `memory ${pct(m.usedPercent, t.memory)} used ${formatBytes(m.usedBytes)} / ${formatBytes(m.totalBytes)}` +
      `, available ${formatBytes(m.availableBytes)}` +
      (m.swapTotalBytes > 0
        ? `   swap ${formatBytes(m.swapUsedBytes)} / ${formatBytes(m.swapTotalBytes)}`
        : '   swap none') +
      beside('mem.used'),
    '',
  );
  const trendOf = new Map(report.diskTrends.map((d) => [d.mount, d]));
  const withTrends = report.diskTrends.some((d) => d.growthBytesPerDay !== null);
  const withSpark = report.disks.some((d) => spark(`fs.pct|${d.mount}`) !== '');
  lines.push(
    renderTable(
      [
        'filesystem',
        'size',
        'used',
        'avail',
        'use%',
        'inodes%',
        ...(withTrends ? ['growth/day', 'full by'] : []),
        ...(withSpark ? ['use% 1h'] : []),
      ],
      report.disks
        .map((d) => {
          const trend = trendOf.get(d.mount);
          const growth = trend?.growthBytesPerDay ?? null;
          const days = trend?.fullAt ? (Date.parse(trend.fullAt) - Date.parse(report.time)) / 86_400_000 : null;
          const full = trend?.fullAt
            ? paintLevel(paint, days !== null && days <= 7 ? 'critical' : 'ok', trend.fullAt.slice(0, 10))
            : '-';
          return [
            d.mount,
            formatBytes(d.totalBytes),
            formatBytes(d.usedBytes),
            formatBytes(d.availableBytes),
            pct(d.usedPercent, t.disk),
            d.inodesTotal > 0 ? pct(d.inodesUsedPercent, t.disk) : '-',
            ...(withTrends
              ? [growth === null ? '-' : `${growth < 0 ? '-' : '+'}${formatBytes(Math.abs(growth))}`, full]
              : []),
            ...(withSpark ? [spark(`fs.pct|${d.mount}`)] : []),
          ];
        })
        .concat(
          (report.disksNotAnswering ?? []).map((m) => [
            m.mount,
            'not answering',
            '-',
            '-',
            '-',
            '-',
            ...(withTrends ? ['-', '-'] : []),
            ...(withSpark ? [''] : []),
          ]),
        ),
      color,
    ),
    '',
  );
  if (report.network.length > 0) {
    lines.push(
      renderTable(
        ['interface', 'rx/s', 'tx/s', 'rx total', 'tx total'],
        report.network.map((n) => [
          n.iface,
          formatBytes(n.rxBytesPerSec),
          formatBytes(n.txBytesPerSec),
          formatBytes(n.rxBytes),
          formatBytes(n.txBytes),
        ]),
        color,
      ),
      '',
    );
  }
  if (!report.docker.available) {
    lines.push(paint.yellow(`containers: none shown: ${report.docker.reason ?? 'Docker not available'}`));
  } else if (report.containers.length === 0) {
    lines.push('containers: none');
  } else {
    // The health column only when some container has a health check.
    const withHealth = report.containers.some((c) => c.health !== 'none');
    const withMemSpark = report.containers.some((c) => spark(`ctr.mem|${c.name}`) !== '');
    const ago = (seconds: number | null): string => (seconds === null ? '-' : formatUptime(seconds));
    const deployed = (iso: string | null): string =>
      iso ? ago(Math.max(0, (Date.parse(report.time) - Date.parse(iso)) / 1000)) + ' ago' : '-';
    lines.push(
      renderTable(
        [
          'container',
          'state',
          ...(withHealth ? ['health'] : []),
          'up / exited',
          'cpu%',
          'memory',
          ...(withMemSpark ? ['memory 1h'] : []),
          'restarts (1h)',
          'image',
          'deployed',
          'logs',
        ],
        report.containers.map((c) => {
          const since =
            c.uptimeSeconds !== null
              ? `up ${ago(c.uptimeSeconds)}`
              : c.exitCode !== null && c.finishedAt
                ? `exit ${c.exitCode} ${ago(c.exitedSecondsAgo)} ago`
                : '-';
          const restarts =
            c.restarts === null
              ? '-'
              : paintLevel(
                  paint,
                  (c.restartsLastHour ?? 0) >= 3 ? 'critical' : c.restarts > 0 ? 'warning' : 'ok',
                  `${c.restarts}${c.restartsLastHour === null ? '' : ` (${c.restartsLastHour})`}`,
                );
          const logs =
            c.logBytes === null ? '-' : formatBytes(c.logBytes) + (c.logRotation ? '' : paint.yellow(' unrotated'));
          return [
            c.name,
            paintLevel(paint, stateLevel(c.state), c.state),
            ...(withHealth ? [paintLevel(paint, healthLevel(c.health), c.health)] : []),
            since + (c.oomKilled ? paint.red(' OOM') : ''),
            c.cpuPercent === null ? '-' : c.cpuPercent.toFixed(1),
            c.memoryBytes === null ? '-' : formatBytes(c.memoryBytes),
            ...(withMemSpark ? [spark(`ctr.mem|${c.name}`)] : []),
            restarts,
            c.image ?? '-',
            deployed(c.createdAt),
            logs,
          ];
        }),
        color,
      ),
    );
  }
  if (report.watch?.source === 'discovered' && report.watch.defaultsNotFound.length > 0) {
    lines.push(paint.dim(defaultsNotFoundAdvice(report.watch.defaultsNotFound)));
  }
  for (const r of report.reachedThrough ?? []) lines.push(paint.dim(describeReached(r)));
  if (report.redis) lines.push('', `redis (${report.redis.container}): used_memory ${report.redis.usedMemoryHuman}`);
  if (report.hold) {
    const only =
      report.hold.onlyHeldBytes > 0 ? `, ${formatBytes(report.hold.onlyHeldBytes)} kept only by the hold` : '';
    lines.push(
      `log hold (${report.hold.dir}): ${report.hold.containers} container(s), ${formatBytes(report.hold.bytes)}${only}`,
    );
  }
  const reclaimable = report.docker.reclaimable;
  if (reclaimable && reclaimable.total > RECLAIM_LINE_BYTES) {
    lines.push(
      paint.yellow(`docker could reclaim ${formatBytes(reclaimable.total)}`) +
        ` (${describeReclaimable(reclaimable)}): ${report.docker.reclaimCommand ?? ''}`,
    );
  }
  if (report.backendErrors) {
    const { container, lines: errors, last5m, last60m, partial } = report.backendErrors;
    const at = partial ? '≥' : '';
    lines.push('', paint.bold(`last errors in ${container}:`) + ` ${at}${last5m} in 5 min, ${at}${last60m} in 60 min`);
    if (errors.length === 0) lines.push('  none in the recent log');
    for (const line of errors) lines.push(paint.red(`  ${line}`));
  }
  lines.push(...renderAppSection(report.app ?? null, paint, color, undefined, spark));
  if (report.db) lines.push('', renderDbSection(report.db, color));
  return lines.join('\n');
}

function stateLevel(state: string): Level {
  if (state === 'running') return 'ok';
  if (state === 'paused' || state === 'created') return 'warning';
  return 'critical';
}

function healthLevel(health: string): Level {
  if (health === 'healthy') return 'ok';
  if (health === 'unhealthy') return 'critical';
  if (health === 'starting') return 'warning';
  return 'unknown';
}

/** The same figures in the Prometheus text exposition format (for node_exporter's textfile collector). */
export function renderPrometheus(report: MetricsReport): string {
  const { metric, text } = createExposition();
  metric('mizual_uptime_seconds', 'Seconds since boot.', report.uptimeSeconds);
  for (const [period, value] of [
    ['1m', report.load.load1],
    ['5m', report.load.load5],
    ['15m', report.load.load15],
  ] as const) {
    metric('mizual_load_average', 'Load average.', value, { period });
  }
  metric('mizual_cpu_percent', 'CPU busy percent over the sampling interval.', report.cpu.percent);
  metric('mizual_cpu_cores', 'Online CPUs.', report.cpu.cores);
  const mem = report.memory;
  metric('mizual_memory_total_bytes', 'MemTotal.', mem.totalBytes);
  metric('mizual_memory_available_bytes', 'MemAvailable.', mem.availableBytes);
  metric('mizual_memory_used_percent', '(MemTotal - MemAvailable) / MemTotal.', mem.usedPercent);
  metric('mizual_swap_total_bytes', 'SwapTotal.', mem.swapTotalBytes);
  metric('mizual_swap_used_bytes', 'SwapTotal - SwapFree.', mem.swapUsedBytes);
  const fs = (d: MetricsReport['disks'][number]) => ({ mount: d.mount, device: d.device, fstype: d.fsType });
  for (const d of report.disks) metric('mizual_filesystem_size_bytes', 'Filesystem size.', d.totalBytes, fs(d));
  for (const d of report.disks) metric('mizual_filesystem_used_bytes', 'Filesystem bytes used.', d.usedBytes, fs(d));
  for (const d of report.disks)
    metric('mizual_filesystem_avail_bytes', 'Filesystem bytes available.', d.availableBytes, fs(d));
  for (const d of report.disks) metric('mizual_filesystem_used_percent', 'Used percent as df.', d.usedPercent, fs(d));
  for (const d of report.disks)
    metric('mizual_filesystem_inodes_used_percent', 'Inodes used percent.', d.inodesUsedPercent, fs(d));
  const trendOf = new Map(report.diskTrends.map((d) => [d.mount, d]));
  for (const d of report.disks)
    metric(
      'mizual_filesystem_growth_bytes_per_day',
      'Least-squares growth of used bytes per day over the last 24 hours (from the alert state).',
      trendOf.get(d.mount)?.growthBytesPerDay ?? null,
      fs(d),
    );
  for (const d of report.disks) {
    const fullAt = trendOf.get(d.mount)?.fullAt;
    metric(
      'mizual_filesystem_full_timestamp_seconds',
      'When the filesystem fills at the last 24 hours rate (Unix time).',
      fullAt ? Math.round(Date.parse(fullAt) / 1000) : null,
      fs(d),
    );
  }
  // The writer keeps each family together, so one pass per interface and per container is enough.
  for (const n of report.network) {
    const iface = { iface: n.iface };
    metric('mizual_network_receive_bytes_total', 'Bytes received since boot.', n.rxBytes, iface);
    metric('mizual_network_transmit_bytes_total', 'Bytes sent since boot.', n.txBytes, iface);
    metric('mizual_network_receive_bytes_per_second', 'Receive rate.', n.rxBytesPerSec, iface);
    metric('mizual_network_transmit_bytes_per_second', 'Transmit rate.', n.txBytesPerSec, iface);
  }
  metric('mizual_docker_up', '1 when the Docker engine answered.', report.docker.available ? 1 : 0);
  const unix = (iso: string | null): number | null => (iso ? Math.round(Date.parse(iso) / 1000) : null);
  const flag = (value: boolean | null): number | null => (value === null ? null : Number(value));
  for (const c of report.containers) {
    const name = { name: c.name };
    metric('mizual_container_running', '1 when the container is running.', c.state === 'running' ? 1 : 0, {
      name: c.name,
      short: c.short ?? '',
      state: c.state,
      health: c.health,
    });
    metric('mizual_container_cpu_percent', 'Container CPU percent.', c.cpuPercent, name);
    metric('mizual_container_memory_bytes', 'Container memory use.', c.memoryBytes, name);
    metric('mizual_container_restarts', 'Container restart count.', c.restarts, name);
    metric(
      'mizual_container_restarts_last_hour',
      'Restarts within the last hour (alert state).',
      c.restartsLastHour,
      name,
    );
    metric('mizual_container_info', 'Container image (value 1).', c.image === null ? null : 1, {
      name: c.name,
      image: c.image ?? '',
    });
    metric('mizual_container_created_timestamp_seconds', 'When the container was created.', unix(c.createdAt), name);
    metric('mizual_container_uptime_seconds', 'Seconds since a running container started.', c.uptimeSeconds, name);
    metric('mizual_container_exit_code', 'Exit code of a container that is not running.', c.exitCode, name);
    metric('mizual_container_finished_timestamp_seconds', 'When the container last exited.', unix(c.finishedAt), name);
    metric('mizual_container_oom_killed', '1 when its last exit was an OOM kill.', flag(c.oomKilled), name);
    metric('mizual_container_log_bytes', 'Size of its json-file log files, all generations.', c.logBytes, name);
    metric(
      'mizual_container_log_rotation',
      '1 when max-size (or the local driver) caps its logs.',
      flag(c.logRotation),
      name,
    );
  }
  if (report.hold) {
    metric('mizual_ship_hold_bytes', "Bytes of log files in the shipper's hold.", report.hold.bytes);
    metric(
      'mizual_ship_hold_only_held_bytes',
      'Held bytes whose container is gone or rotated them away.',
      report.hold.onlyHeldBytes,
    );
  }
  if (report.docker.reclaimable) {
    for (const [kind, bytes] of Object.entries(report.docker.reclaimable)) {
      if (kind === 'total') continue;
      metric('mizual_docker_reclaimable_bytes', 'What `docker system df` calls reclaimable, in bytes.', bytes, {
        kind,
      });
    }
  }
  if (report.shipCost) {
    for (const [container, bytes] of Object.entries(report.shipCost.storedBytes)) {
      metric(
        'mizual_ship_stored_bytes',
        "Compressed bytes of a container's logs in the bucket within the retention (the shipper's record).",
        bytes,
        { container },
      );
    }
    metric(
      'mizual_ship_projected_monthly_cost',
      'Monthly bucket cost at the steady state of the last 7 days of shipping (price per TB, first 10 GB free).',
      report.shipCost.projectedMonthlyCost,
    );
  }
  if (report.self?.cpuSecondsPerDay != null) {
    metric(
      'mizual_self_cpu_seconds_per_day',
      "CPU seconds a day of mizual-alerts' own runs.",
      report.self.cpuSecondsPerDay,
    );
  }
  if (report.redis) {
    metric('mizual_redis_used_memory_bytes', 'Redis used_memory.', report.redis.usedMemoryBytes, {
      container: report.redis.container,
    });
  }
  if (report.backendErrors) {
    for (const [window, value] of [
      ['5m', report.backendErrors.last5m],
      ['60m', report.backendErrors.last60m],
    ] as const)
      metric('mizual_backend_error_lines', 'Error lines in the backend log within the window.', value, {
        container: report.backendErrors.container,
        window,
      });
  }
  if (report.app) {
    queueSeries({ metric, text }, report.app.queues);
    probeSeries({ metric, text }, report.app.probes, Date.parse(report.app.window.until));
  }
  if (report.db) addDbSeries(metric, report.db);
  return text();
}
