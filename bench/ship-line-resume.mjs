// What resuming the Engine API path by its last line shipped (issue 19) costs: the API's multiplexed
// `--timestamps` stream turned into archive bytes by FrameCopier alone (the baseline, as before) and by
// FrameCopier then LineResume (now), over the same synthetic stream, in the same run. Median of 5.
// Run: node --import tsx bench/ship-line-resume.mjs   (BENCH_MB=200 to change the volume)
import { FrameCopier } from '../src/docker/frames.ts';
import { LineResume } from '../src/ship/export.ts';

const mb = Number(process.env.BENCH_MB ?? 100);
const frames = [];
let size = 0;
for (let i = 0; size < mb * 1024 * 1024; i++) {
  const ns = String(i % 1e9).padStart(9, '0');
  const text = `2026-11-25T10:00:${String(i % 60).padStart(2, '0')}.${ns}Z INFO: 127.0.0.1:5000 - "GET /api/items/${i} HTTP/1.1" 200 OK\n`;
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = i % 7 === 0 ? 2 : 1;
  header.writeUInt32BE(payload.length, 4);
  frames.push(header, payload);
  size += payload.length + 8;
}
const stream = Buffer.concat(frames);
const chunks = [];
for (let at = 0; at < stream.length; at += 64 * 1024) chunks.push(stream.subarray(at, at + 64 * 1024));

function run(withResume) {
  const copier = new FrameCopier();
  const resume = withResume ? new LineResume(null) : null;
  let bytes = 0;
  const started = process.hrtime.bigint();
  for (const chunk of chunks) {
    const out = copier.transform(chunk);
    if (resume) for (const part of resume.filter(out)) bytes += part.length;
    else bytes += out.length;
  }
  copier.end();
  resume?.end();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, bytes };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = { baseline: [], resume: [] };
for (let i = 0; i < 5; i++) {
  results.baseline.push(run(false).ms);
  results.resume.push(run(true).ms);
}
const mib = stream.length / 1024 / 1024;
for (const [name, times] of Object.entries(results)) {
  const ms = median(times);
  console.log(
    `${name.padEnd(9)} ${mib.toFixed(0)} MiB in ${ms.toFixed(0)} ms: ${(mib / (ms / 1000)).toFixed(0)} MiB/s`,
  );
}
console.log(`(the API path itself runs at 17-27 MiB/s here: dockerd's decoding is the limit)`);
