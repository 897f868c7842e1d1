/**
 * `--history --html FILE`: one self-contained page (inline SVG and CSS, a few lines of inline script for
 * hover values only; a Content-Security-Policy forbids any request). Each chart is downsampled to one
 * min/max band per pixel column, so 7 days of samples stay well under 1 MiB.
 */
import { columnOf } from './chart.js';
import { columnRanges, formatValue, type HistoryData, type HistoryEvent, type Series } from './series.js';

/** Pixel columns per chart (the SVG stretches to the window's width). */
export const HTML_COLUMNS = 600;
const HEIGHT = 60;
const MAX_EVENTS_LISTED = 500;

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function chartSvg(s: Series, index: number, events: readonly HistoryEvent[], sinceMs: number, untilMs: number) {
  const { lo, hi, stats: range } = columnRanges(s.line, HTML_COLUMNS, sinceMs, untilMs);
  const min = Math.min(0, range?.min ?? 0);
  let max = Math.max(range?.max ?? -Infinity, s.threshold ?? -Infinity, min);
  if (s.unit === '%' && max <= 100 && s.threshold !== null) max = 100;
  if (!(max > min)) max = min + 1;
  const y = (v: number): number => Math.round((HEIGHT - 1 - ((v - min) / (max - min)) * (HEIGHT - 2)) * 2) / 2;
  let d = '';
  for (let c = 0; c < HTML_COLUMNS; c++) {
    if (hi[c] === undefined || (c > 0 && hi[c - 1] !== undefined)) continue;
    let end = c;
    while (end + 1 < HTML_COLUMNS && hi[end + 1] !== undefined) end++;
    // Upper edge left to right, lower edge back: one filled band per run of columns with data.
    d += `M${c} ${y(hi[c] as number)}`;
    for (let k = c; k <= end; k++) {
      if (k > c) d += `V${y(hi[k] as number)}`;
      d += `H${k + 1}`;
    }
    for (let k = end; k >= c; k--) {
      const top = y(hi[k] as number);
      d += `V${Math.max(top + 1, y(lo[k] as number))}H${k}`;
    }
    d += 'Z';
  }
  const marks = new Set<number>();
  for (const e of events) {
    if (e.severity === 'RESOLVED' || e.check.startsWith('appeared:')) continue;
    const t = Date.parse(e.time);
    if (t >= sinceMs && t <= untilMs) marks.add(columnOf(t, HTML_COLUMNS, sinceMs, untilMs));
  }
  const ev = [...marks].map((c) => `M${c + 0.5} 0V${HEIGHT}`).join('');
  const thr =
    s.threshold === null
      ? ''
      : `<path class="thr" d="M0 ${y(s.threshold)}H${HTML_COLUMNS}" vector-effect="non-scaling-stroke"/>`;
  const f = (v: number): string => formatValue(v, s.unit);
  const labels = Object.values(s.labels).join(' ');
  const stats = range ? `min ${f(range.min)} · max ${f(range.max)} · last ${f(range.last)}` : 'no samples';
  const limit = s.threshold === null ? '' : ` · threshold ${f(s.threshold)}`;
  return (
    `<section><h2>${escape(s.name)}${labels ? ` <b>${escape(labels)}</b>` : ''} <i>(${escape(s.unit)})</i>` +
    `<span>${escape(stats + limit)}</span></h2>` +
    `<svg data-i="${index}" viewBox="0 0 ${HTML_COLUMNS} ${HEIGHT}" preserveAspectRatio="none" role="img" ` +
    `aria-label="${escape(`${s.name} ${labels}`)}"><path class="ev" d="${ev}" vector-effect="non-scaling-stroke"/>` +
    `${thr}<path class="band" d="${d}"/><text x="2" y="9">${escape(f(max))}</text>` +
    `<text x="2" y="${HEIGHT - 2}">${escape(f(min))}</text></svg></section>`
  );
}

const STYLE = `body{font:13px/1.35 system-ui,sans-serif;margin:12px 16px;color:#1f2328;background:#fff}
h1{font-size:15px;margin:0 0 8px}h2{font-size:12px;font-weight:600;margin:10px 0 2px}h2 i{font-weight:400;color:#666}
h2 span{font-weight:400;color:#555;margin-left:10px}svg{display:block;width:100%;height:60px;background:#f6f8fa}
svg text{font-size:8px;fill:#555}.band{fill:#2563eb}.thr{stroke:#d1242f;stroke-width:2;stroke-dasharray:6 4;fill:none}
.ev{stroke:#bf8700;stroke-opacity:.55;fill:none}#tip{position:fixed;pointer-events:none;background:#1f2328;color:#fff;
padding:2px 6px;border-radius:3px;font-size:12px;display:none;white-space:nowrap}table{border-collapse:collapse;margin-top:12px}
td,th{padding:1px 8px;text-align:left;font-size:12px;vertical-align:top}tr.CRITICAL td{color:#d1242f}tr.WARNING td{color:#9a6700}
.axis{display:flex;justify-content:space-between;color:#555;font-size:11px}`;

// Hover only: find the column under the pointer and show its time and value. No request of any kind.
const SCRIPT = `(function(){var D=JSON.parse(document.getElementById('d').textContent),t=document.getElementById('tip');
function f(v,u){if(v===null)return'no sample';var a=Math.abs(v),k=['B','KiB','MiB','GiB','TiB'],i=0;
if(u==='bytes'||u==='bytes/s'){while(a>=1024&&i<4){a/=1024;i++}return(v<0?'-':'')+a.toFixed(a<10&&i?1:0)+' '+k[i]+(u==='bytes/s'?'/s':'')}
if(u==='%')return v.toFixed(1)+'%';if(u==='seconds')return v<1?Math.round(v*1000)+' ms':v.toFixed(2)+' s';return String(v)}
document.querySelectorAll('svg[data-i]').forEach(function(s){var c=D.c[+s.getAttribute('data-i')];
s.addEventListener('mousemove',function(e){var r=s.getBoundingClientRect(),i=Math.floor((e.clientX-r.left)/r.width*D.n);
if(i<0||i>=D.n)return;var at=new Date(D.s+(i+0.5)*(D.u-D.s)/D.n).toISOString().slice(0,16).replace('T',' ');
t.textContent=at+' UTC  '+f(c.v[i],c.u);t.style.display='block';t.style.left=(e.clientX+12)+'px';t.style.top=(e.clientY+12)+'px'});
s.addEventListener('mouseleave',function(){t.style.display='none'})})})();`;

const precise = (v: number | undefined): number | null => (v === undefined ? null : Number(v.toPrecision(4)));

/** The whole page for the range. */
export function renderHistoryHtml(data: HistoryData, range: { sinceMs: number; untilMs: number }): string {
  const { sinceMs, untilMs } = range;
  const shown = data.series.filter((s) => !s.hidden);
  const hover = {
    s: sinceMs,
    u: untilMs,
    n: HTML_COLUMNS,
    c: shown.map((s) => ({ u: s.unit, v: columnRanges(s.line, HTML_COLUMNS, sinceMs, untilMs).hi.map(precise) })),
  };
  const listed = data.events.slice(-MAX_EVENTS_LISTED);
  const rows = listed
    .map(
      (e) =>
        `<tr class="${escape(e.severity)}"><td>${escape(e.time)}</td><td>${escape(e.severity)}</td>` +
        `<td>${escape(e.check)}</td><td>${escape(e.message)}</td></tr>`,
    )
    .join('');
  const axis = (): string => {
    const ticks = Array.from({ length: 7 }, (_, i) => new Date(sinceMs + ((untilMs - sinceMs) * i) / 6));
    return `<div class="axis">${ticks.map((t) => `<span>${t.toISOString().slice(0, 16).replace('T', ' ')}</span>`).join('')}</div>`;
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mizual history ${escape(data.since)} to ${escape(data.until)}</title>
<style>${STYLE}</style></head><body>
<h1>History ${escape(data.since)} to ${escape(data.until)} (UTC)</h1>
${shown.length === 0 ? '<p>No samples kept in this range yet.</p>' : ''}${axis()}
${shown.map((s, i) => chartSvg(s, i, data.events, sinceMs, untilMs)).join('\n')}
${axis()}
<p>Dashed red: the alert threshold. Yellow lines: alerts, restarts, deploys, OOM kills, reboots.</p>
<table><thead><tr><th>time</th><th>severity</th><th>check</th><th>message</th></tr></thead><tbody>${rows}</tbody></table>
<div id="tip"></div>
<script type="application/json" id="d">${JSON.stringify(hover).replace(/</g, '\\u003c')}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
