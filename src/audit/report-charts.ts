// Inline SVG charts for the evidence report: no script, no fonts or files from elsewhere.
// Every text goes through esc(); numbers are formatted here.

export function esc(value: unknown): string {
  return String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

export function fmt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 0.001 || abs >= 1e6)) return n.toExponential(2);
  return String(Number(n.toPrecision(4)));
}

const SEVERITY_COLOR: Record<string, string> = { alert: '#c0392b', warn: '#d68910', info: '#5d8aa8' };

export interface Bar {
  label: string;
  value: number;
  threshold: number | null;
  severity: string;
}

/** Horizontal bars with each one's threshold marked: drift statistics per column. */
export function barChart(title: string, bars: readonly Bar[]): string {
  const rowH = 22;
  const left = 170;
  const width = 640;
  const plotW = width - left - 70;
  const max = Math.max(...bars.map((b) => Math.max(b.value, b.threshold ?? 0)), 1e-9) * 1.05;
  const x = (v: number) => left + (Math.max(0, v) / max) * plotW;
  const height = 30 + bars.length * rowH + 10;
  const rows = bars
    .map((b, i) => {
      const y = 30 + i * rowH;
      const color = SEVERITY_COLOR[b.severity] ?? '#7f8c8d';
      const tick =
        b.threshold === null
          ? ''
          : `<line x1="${x(b.threshold)}" x2="${x(b.threshold)}" y1="${y - 2}" y2="${y + 16}" stroke="#222" stroke-width="2"><title>threshold ${esc(fmt(b.threshold))}</title></line>`;
      return (
        `<text x="${left - 6}" y="${y + 12}" text-anchor="end" font-size="12">${esc(b.label)}</text>` +
        `<rect x="${left}" y="${y}" width="${Math.max(1, x(b.value) - left)}" height="14" fill="${color}"><title>${esc(`${b.label}: ${fmt(b.value)} (${b.severity})`)}</title></rect>` +
        tick +
        `<text x="${x(b.value) + 4}" y="${y + 12}" font-size="11">${esc(fmt(b.value))} ${esc(b.severity)}</text>`
      );
    })
    .join('');
  return `<svg role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif"><text x="0" y="16" font-size="13" font-weight="bold">${esc(title)}</text>${rows}</svg>`;
}

export interface Series {
  name: string;
  values: (number | null)[];
  color: string;
}

/** Values per step (an analysis each), with a dashed threshold and failed steps ringed in red. */
export function lineChart(
  title: string,
  steps: readonly string[],
  series: readonly Series[],
  options: { threshold?: number | null; failed?: readonly boolean[] } = {},
): string {
  const width = 300;
  const height = 186;
  const pad = { l: 44, r: 10, t: 40, b: 34 };
  const values = series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  if (options.threshold !== null && options.threshold !== undefined) values.push(options.threshold);
  const lo = Math.min(0, ...values);
  const hi = Math.max(...values, lo + 1e-9);
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const x = (i: number) => pad.l + (steps.length <= 1 ? plotW / 2 : (i / (steps.length - 1)) * plotW);
  const y = (v: number) => pad.t + plotH - ((v - lo) / (hi - lo)) * plotH;
  const lines = series
    .map((s) => {
      const points = s.values
        .map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
        .filter((p): p is string => p !== null);
      const dots = s.values
        .map((v, i) =>
          v === null
            ? ''
            : `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(`${s.name} at ${steps[i]}: ${fmt(v)}`)}</title></circle>`,
        )
        .join('');
      return `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points.join(' ')}"/>${dots}`;
    })
    .join('');
  const failed = (options.failed ?? [])
    .map((f, i) =>
      f
        ? `<circle cx="${x(i).toFixed(1)}" cy="${pad.t + plotH + 8}" r="4" fill="#c0392b"><title>${esc(`failed at ${steps[i]}`)}</title></circle>`
        : '',
    )
    .join('');
  const threshold =
    options.threshold === null || options.threshold === undefined
      ? ''
      : `<line x1="${pad.l}" x2="${width - pad.r}" y1="${y(options.threshold).toFixed(1)}" y2="${y(options.threshold).toFixed(1)}" stroke="#222" stroke-dasharray="4 3"/><text x="${width - pad.r}" y="${(y(options.threshold) - 3).toFixed(1)}" text-anchor="end" font-size="10">threshold ${esc(fmt(options.threshold))}</text>`;
  const xLabels = steps
    .map(
      (s, i) => `<text x="${x(i).toFixed(1)}" y="${height - 6}" text-anchor="middle" font-size="10">${esc(s)}</text>`,
    )
    .join('');
  const legend = series
    .map(
      (s, i) =>
        `<rect x="${pad.l + i * 80}" y="22" width="10" height="4" fill="${s.color}"/><text x="${pad.l + i * 80 + 14}" y="27" font-size="10">${esc(s.name)}</text>`,
    )
    .join('');
  const axis = `<line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${pad.t + plotH}" stroke="#999"/><line x1="${pad.l}" x2="${width - pad.r}" y1="${pad.t + plotH}" y2="${pad.t + plotH}" stroke="#999"/><text x="${pad.l - 4}" y="${pad.t + 8}" text-anchor="end" font-size="10">${esc(fmt(hi))}</text><text x="${pad.l - 4}" y="${pad.t + plotH}" text-anchor="end" font-size="10">${esc(fmt(lo))}</text>`;
  return `<svg role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif"><text x="0" y="12" font-size="12" font-weight="bold">${esc(title)}</text>${legend}${axis}${threshold}${lines}${failed}${xLabels}</svg>`;
}

export interface LineageNode {
  id: string;
  label: string;
  sub: string;
  column: 0 | 1 | 2;
  tone: 'ok' | 'bad' | 'neutral';
}

/** Columns of boxes (data, model versions, where they were served) and arrows between them. */
export function lineageDiagram(
  nodes: readonly LineageNode[],
  edges: readonly { from: string; to: string; label: string }[],
): string {
  const colX = [10, 300, 590];
  const boxW = 200;
  const boxH = 44;
  const rows = [0, 0, 0];
  const place = new Map<string, { x: number; y: number }>();
  for (const n of nodes) {
    place.set(n.id, { x: colX[n.column]!, y: 34 + rows[n.column]! * (boxH + 16) });
    rows[n.column]!++;
  }
  const height = 34 + Math.max(1, ...rows) * (boxH + 16);
  const width = colX[2]! + boxW + 10;
  const fill = { ok: '#e8f6ef', bad: '#fdecea', neutral: '#eef2f7' };
  const boxes = nodes
    .map((n) => {
      const p = place.get(n.id)!;
      return `<rect x="${p.x}" y="${p.y}" width="${boxW}" height="${boxH}" rx="6" fill="${fill[n.tone]}" stroke="#789"/><text x="${p.x + 8}" y="${p.y + 18}" font-size="12" font-weight="bold">${esc(n.label)}</text><text x="${p.x + 8}" y="${p.y + 35}" font-size="10">${esc(n.sub)}</text>`;
    })
    .join('');
  const arrows = edges
    .map((e) => {
      const a = place.get(e.from);
      const b = place.get(e.to);
      if (!a || !b) return '';
      const x1 = a.x + boxW;
      const y1 = a.y + boxH / 2;
      const x2 = b.x;
      const y2 = b.y + boxH / 2;
      return `<line x1="${x1}" y1="${y1}" x2="${x2 - 6}" y2="${y2}" stroke="#456" stroke-width="1.5" marker-end="url(#arrow)"/><text x="${(x1 + x2) / 2}" y="${(y1 + y2) / 2 - 4}" text-anchor="middle" font-size="10">${esc(e.label)}</text>`;
    })
    .join('');
  const heads = ['data', 'model versions', 'served']
    .map((h, i) => `<text x="${colX[i]}" y="20" font-size="12" font-weight="bold">${h}</text>`)
    .join('');
  return `<svg role="img" aria-label="data and model lineage" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#456"/></marker></defs>${heads}${arrows}${boxes}</svg>`;
}
