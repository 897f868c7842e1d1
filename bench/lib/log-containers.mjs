// Containers that print a known volume of access-log-like lines, for the shipper benchmarks.
import { execFileSync, spawnSync } from 'node:child_process';

const image = 'mizual-test-busybox:1';

/**
 * Make each named container print an equal share of `totalMb` MiB of lines (96 bytes each), then exit;
 * returns the seconds it took. With BENCH_REUSE=1, containers that already hold this volume are kept
 * (1 GB takes minutes to write).
 */
export function generateLogs(names, totalMb) {
  const labels = names.map((n) =>
    spawnSync('docker', ['inspect', '-f', '{{index .Config.Labels "mizual-bench-mb"}} {{.State.Status}}', n], {
      encoding: 'utf8',
    }).stdout.trim(),
  );
  if (process.env.BENCH_REUSE === '1' && labels.every((l) => l === `${totalMb} exited`)) return 0;
  spawnSync('docker', ['rm', '-f', ...names]);
  const lines = Math.round((totalMb * 1024 * 1024) / names.length / 96);
  const script =
    `awk 'BEGIN { for (i = 1; i <= ${lines}; i++) printf "%d INFO web.request method=GET path=/api/v1/items/%d status=200 ms=%d user=%d\\n", ` +
    `i, i * 7, i % 97, i % 1013 }'`;
  const started = Date.now();
  for (const name of names) {
    execFileSync('docker', [
      'run',
      '-d',
      '--network',
      'none',
      '--label',
      `mizual-bench-mb=${totalMb}`,
      '--name',
      name,
      image,
      'sh',
      '-c',
      script,
    ]);
  }
  for (const name of names) execFileSync('docker', ['wait', name]);
  return (Date.now() - started) / 1000;
}

/** Remove the benchmark's containers unless BENCH_REUSE=1 keeps them for the next run. */
export function removeLogContainers(names) {
  if (process.env.BENCH_REUSE !== '1') spawnSync('docker', ['rm', '-f', ...names]);
}
