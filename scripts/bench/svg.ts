/**
 * Latency CDF plots as a self-contained SVG (no plotting dependency): one
 * panel per case, one line per method, log-scale x axis in decades.
 */
import { cdfPoints, formatNs } from './stats.js';

export interface Series {
  label: string;
  /** Nanoseconds. */
  samples: readonly number[];
}

export interface Panel {
  title: string;
  series: Series[];
}

// Colour-blind-safe palette (Okabe–Ito), extended with two greys.
const PALETTE = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#000000',
  '#F0E442',
  '#777777',
  '#AAAAAA',
];

const PANEL_W = 460;
const PANEL_H = 260;
const MARGIN = { left: 48, right: 12, top: 28, bottom: 34 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function decadeLabel(ns: number): string {
  if (ns < 1e3) return `${ns} ns`;
  if (ns < 1e6) return `${ns / 1e3} µs`;
  if (ns < 1e9) return `${ns / 1e6} ms`;
  return `${ns / 1e9} s`;
}

/** Renders panels in a grid; a method keeps its colour across panels. */
export function cdfPlotSvg(title: string, panels: readonly Panel[], columns = 2): string {
  const labels: string[] = [];
  for (const p of panels) for (const s of p.series) if (!labels.includes(s.label)) labels.push(s.label);
  const colour = (label: string): string => PALETTE[labels.indexOf(label) % PALETTE.length] as string;

  const cols = Math.max(1, Math.min(columns, panels.length));
  const rows = Math.ceil(panels.length / cols);
  const legendH = 18 * Math.ceil(labels.length / 3) + 8;
  const width = cols * PANEL_W;
  const height = 30 + legendH + rows * PANEL_H;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  );
  labels.forEach((label, i) => {
    const x = 16 + Math.round((i % 3) * (width / 3));
    const y = 36 + Math.floor(i / 3) * 18;
    out.push(
      `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${colour(label)}" stroke-width="2.5"/>`,
      `<text x="${x + 28}" y="${y + 4}">${esc(label)}</text>`,
    );
  });

  panels.forEach((panel, index) => {
    const ox = (index % cols) * PANEL_W;
    const oy = 30 + legendH + Math.floor(index / cols) * PANEL_H;
    out.push(panelSvg(panel, ox, oy, colour));
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function panelSvg(panel: Panel, ox: number, oy: number, colour: (label: string) => string): string {
  const all = panel.series.flatMap((s) => s.samples).filter((v) => v > 0);
  const out: string[] = [`<g transform="translate(${ox},${oy})">`];
  out.push(`<text x="${PANEL_W / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(panel.title)}</text>`);
  const x0 = MARGIN.left;
  const x1 = PANEL_W - MARGIN.right;
  const y0 = PANEL_H - MARGIN.bottom;
  const y1 = MARGIN.top;
  if (all.length === 0) {
    out.push(`<text x="${PANEL_W / 2}" y="${PANEL_H / 2}" text-anchor="middle">no samples</text></g>`);
    return out.join('\n');
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of all) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const dLo = Math.floor(Math.log10(lo));
  const dHi = Math.max(dLo + 1, Math.ceil(Math.log10(hi)));
  const sx = (ns: number): number => x0 + ((Math.log10(Math.max(ns, 10 ** dLo)) - dLo) / (dHi - dLo)) * (x1 - x0);
  const sy = (f: number): number => y0 - f * (y0 - y1);

  out.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#999"/>`);
  for (let d = dLo; d <= dHi; d++) {
    const x = sx(10 ** d).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${y1}" x2="${x}" y2="${y0}" stroke="#ddd"/>`,
      `<text x="${x}" y="${y0 + 14}" text-anchor="middle">${decadeLabel(10 ** d)}</text>`,
    );
  }
  for (const f of [0, 0.5, 0.9, 0.99, 1]) {
    const y = sy(f).toFixed(1);
    out.push(
      `<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#eee"/>`,
      `<text x="${x0 - 4}" y="${Number(y) + 4}" text-anchor="end">${f === 0.99 ? '' : f}</text>`,
    );
  }
  out.push(`<text x="${(x0 + x1) / 2}" y="${PANEL_H - 4}" text-anchor="middle" fill="#555">latency (log scale)</text>`);
  for (const s of panel.series) {
    const pts = cdfPoints(s.samples.filter((v) => v > 0));
    if (pts.length === 0) continue;
    // Step function: horizontal to the next value, then up. Steps closer than a pixel to the
    // last one drawn merge into it, so thousands of samples cost a few hundred points.
    let lastX = sx(pts[0]![0]);
    let lastY = sy(0);
    let d = `M${lastX.toFixed(1)},${lastY.toFixed(1)}`;
    pts.forEach(([v, f], i) => {
      const x = sx(v);
      const y = sy(f);
      if (i < pts.length - 1 && Math.abs(x - lastX) < 1 && Math.abs(y - lastY) < 1) return;
      d += ` L${x.toFixed(1)},${lastY.toFixed(1)} L${x.toFixed(1)},${y.toFixed(1)}`;
      lastX = x;
      lastY = y;
    });
    out.push(
      `<path d="${d}" fill="none" stroke="${colour(s.label)}" stroke-width="1.6"><title>${esc(s.label)}</title></path>`,
    );
  }
  out.push('</g>');
  return out.join('\n');
}

export interface BarRow {
  label: string;
  /** Nanoseconds, one per series; undefined where the row has no value for that series. */
  values: ReadonlyArray<number | undefined>;
}

const BAR_H = 13;
const LABEL_W = 340;
const CHART_W = 960;

/**
 * A horizontal bar chart on a log axis: one row per method, one bar per
 * series (e.g. per cgroup version), each bar labelled with its value. Made to
 * be read at a glance: rows go in the order given.
 */
export function barChartSvg(
  title: string,
  subtitle: string,
  series: readonly string[],
  rows: readonly BarRow[],
): string {
  const all = rows.flatMap((r) => r.values.filter((v): v is number => v !== undefined && v > 0));
  const rowH = series.length * BAR_H + 10;
  const top = 70;
  const height = top + Math.max(1, rows.length) * rowH + 40;
  // Room for the longest row label (about 7 px a character at 12 px sans-serif), so none is cut off.
  const x0 = Math.max(LABEL_W, 16 + 7 * Math.max(0, ...rows.map((r) => r.label.length)));
  const x1 = CHART_W - 70;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_W}" height="${height}" viewBox="0 0 ${CHART_W} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${CHART_W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${CHART_W / 2}" y="40" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`,
  ];
  series.forEach((name, i) => {
    const x = x0 + i * 180;
    out.push(
      `<rect x="${x}" y="50" width="14" height="10" fill="${PALETTE[i % PALETTE.length] as string}"/>`,
      `<text x="${x + 20}" y="59">${esc(name)}</text>`,
    );
  });
  if (all.length === 0) {
    out.push(`<text x="${CHART_W / 2}" y="${top + 20}" text-anchor="middle">no samples</text>`, '</svg>');
    return out.join('\n') + '\n';
  }
  // The axis starts at least 0.3 decade below the fastest value, so its bar still shows.
  const dLo = Math.floor(Math.log10(Math.min(...all)) - 0.3);
  const dHi = Math.max(dLo + 1, Math.ceil(Math.log10(Math.max(...all))));
  const sx = (ns: number): number => x0 + ((Math.log10(ns) - dLo) / (dHi - dLo)) * (x1 - x0);
  const bottom = top + rows.length * rowH;
  for (let d = dLo; d <= dHi; d++) {
    const x = sx(10 ** d).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${bottom}" stroke="#ddd"/>`,
      `<text x="${x}" y="${bottom + 16}" text-anchor="middle">${decadeLabel(10 ** d)}</text>`,
    );
  }
  out.push(`<text x="${(x0 + x1) / 2}" y="${bottom + 32}" text-anchor="middle" fill="#555">p50 (log scale)</text>`);
  rows.forEach((row, r) => {
    const y = top + r * rowH;
    out.push(
      `<text x="${x0 - 8}" y="${(y + (series.length * BAR_H) / 2 + 4).toFixed(1)}" text-anchor="end">${esc(row.label)}</text>`,
    );
    row.values.forEach((v, i) => {
      if (v === undefined || v <= 0) return;
      const yb = y + i * BAR_H;
      const w = sx(v) - x0;
      out.push(
        `<rect x="${x0}" y="${yb}" width="${w.toFixed(1)}" height="${BAR_H - 2}" fill="${PALETTE[i % PALETTE.length] as string}"><title>${esc(`${row.label}, ${series[i] ?? ''}: ${formatNs(v)}`)}</title></rect>`,
        `<text x="${(x0 + w + 4).toFixed(1)}" y="${yb + BAR_H - 3}" font-size="11">${formatNs(v)}</text>`,
      );
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
