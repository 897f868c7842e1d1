import type { MetricsReport } from './report.js';
import { createExposition } from '../core/exposition.js';
import { createPainter, paintLevel, renderTable, type Level } from '../core/paint.js';
import { levelFor } from '../core/thresholds.js';
import { formatBytes, formatUptime } from '../core/units.js';

/** The one-screen dashboard, coloured against the alert thresholds when `color` is on. */
export function renderDashboard(report: MetricsReport, color: boolean): string {
  const paint = createPainter(color);
  const t = report.thresholds;
  const pct = (value: number, threshold: number): string =>
    paintLevel(paint, levelFor(value, threshold), `${value.toFixed(1)}%`);
  const lines: string[] = [];
  const m = report.memory;
  lines.push(
    paint.bold(`${report.host}`) + `  ${report.time.replace(/\.\d+Z$/, 'Z')}  up ${formatUptime(report.uptimeSeconds)}`,
    `load ${report.load.load1.toFixed(2)} ${report.load.load5.toFixed(2)} ${report.load.load15.toFixed(2)}` +
      ` (${report.cpu.cores} cores)   cpu ${pct(report.cpu.percent, t.cpu)}`,
    `memory ${pct(m.usedPercent, t.memory)} used ${formatBytes(m.usedBytes)} / ${formatBytes(m.totalBytes)}` +
      `, available ${formatBytes(m.availableBytes)}` +
      (m.swapTotalBytes > 0
        ? `   swap ${formatBytes(m.swapUsedBytes)} / ${formatBytes(m.swapTotalBytes)}`
        : '   swap none'),
    '',
  );
  lines.push(
    renderTable(
      ['filesystem', 'size', 'used', 'avail', 'use%', 'inodes%'],
      report.disks.map((d) => [
        d.mount,
        formatBytes(d.totalBytes),
        formatBytes(d.usedBytes),
        formatBytes(d.availableBytes),
        pct(d.usedPercent, t.disk),
        d.inodesTotal > 0 ? pct(d.inodesUsedPercent, t.disk) : '-',
      ]),
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
    lines.push(
      renderTable(
        ['container', 'state', 'health', 'cpu%', 'memory', 'restarts'],
        report.containers.map((c) => [
          c.name,
          paintLevel(paint, stateLevel(c.state), c.state),
          paintLevel(paint, healthLevel(c.health), c.health),
          c.cpuPercent === null ? '-' : c.cpuPercent.toFixed(1),
          c.memoryBytes === null ? '-' : formatBytes(c.memoryBytes),
          c.restarts === null ? '-' : paintLevel(paint, c.restarts > 0 ? 'warning' : 'ok', String(c.restarts)),
        ]),
        color,
      ),
    );
  }
  if (report.redis) lines.push('', `redis (${report.redis.container}): used_memory ${report.redis.usedMemoryHuman}`);
  if (report.backendErrors) {
    const { container, lines: errors } = report.backendErrors;
    lines.push('', paint.bold(`last errors in ${container}:`));
    if (errors.length === 0) lines.push('  none in the recent log');
    for (const line of errors) lines.push(paint.red(`  ${line}`));
  }
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
  for (const n of report.network)
    metric('mizual_network_receive_bytes_per_second', 'Receive rate.', n.rxBytesPerSec, { iface: n.iface });
  for (const n of report.network)
    metric('mizual_network_transmit_bytes_per_second', 'Transmit rate.', n.txBytesPerSec, { iface: n.iface });
  metric('mizual_docker_up', '1 when the Docker engine answered.', report.docker.available ? 1 : 0);
  for (const c of report.containers)
    metric('mizual_container_running', '1 when the container is running.', c.state === 'running' ? 1 : 0, {
      name: c.name,
      short: c.short ?? '',
      state: c.state,
      health: c.health,
    });
  for (const c of report.containers)
    metric('mizual_container_cpu_percent', 'Container CPU percent.', c.cpuPercent, { name: c.name });
  for (const c of report.containers)
    metric('mizual_container_memory_bytes', 'Container memory use.', c.memoryBytes, { name: c.name });
  for (const c of report.containers)
    metric('mizual_container_restarts', 'Container restart count.', c.restarts, { name: c.name });
  if (report.redis) {
    metric('mizual_redis_used_memory_bytes', 'Redis used_memory.', report.redis.usedMemoryBytes, {
      container: report.redis.container,
    });
  }
  return text();
}
