import { describe, expect, it } from 'vitest';
import { barChartSvg, cdfPlotSvg } from '../../scripts/bench/svg.js';

const paths = (svg: string): string[] =>
  [...svg.matchAll(/<path d="([^"]+)"[^>]*stroke="([^"]+)"/g)].map((m) => `${m[2]} ${m[1]}`);

describe('cdfPlotSvg', () => {
  const svg = cdfPlotSvg('t <&>', [
    {
      title: 'a',
      series: [
        { label: 'raw C', samples: [1_000, 10_000, 100_000] },
        { label: 'cgfreeze', samples: [2_000, 20_000] },
      ],
    },
    {
      title: 'b',
      series: [
        { label: 'cgfreeze', samples: [5_000] },
        { label: 'docker', samples: [10_000_000] },
      ],
    },
  ]);

  it('is one svg document with escaped text', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('t &lt;&amp;&gt;');
    expect(svg).not.toContain('t <&>');
  });

  it("draws one line per series and keeps a method's colour across panels", () => {
    const p = paths(svg);
    expect(p).toHaveLength(4);
    const colourOf = (i: number): string => (p[i] ?? '').split(' ')[0] ?? '';
    expect(colourOf(1)).toBe(colourOf(2)); // cgfreeze in panel a and b
    expect(new Set([colourOf(0), colourOf(1), colourOf(3)]).size).toBe(3);
  });

  it('places samples on a log axis: equal ratios, equal distances', () => {
    const raw = paths(svg)[0] ?? '';
    const xs = [...raw.matchAll(/L([\d.]+),/g)].map((m) => Number(m[1]));
    const distinct = [...new Set(xs)];
    expect(distinct).toHaveLength(3); // 1 µs, 10 µs, 100 µs
    const [a, b, c] = distinct as [number, number, number];
    expect(b - a).toBeCloseTo(c - b, 0);
    expect(svg).toContain('>1 µs<');
    expect(svg).toContain('>100 µs<');
  });

  it('merges steps under a pixel apart: 10,000 samples draw a few hundred points and still end at 1', () => {
    const samples = Array.from({ length: 10_000 }, (_, i) => 50_000 + i * 7);
    const one = cdfPlotSvg('n', [{ title: 'n', series: [{ label: 'x', samples }] }]);
    const d = paths(one)[0] ?? '';
    const points = [...d.matchAll(/L([\d.]+),([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
    expect(points.length).toBeLessThan(1_000);
    const top = Math.min(...points.map(([, y]) => y));
    expect(points.at(-1)?.[1]).toBe(top); // the last step is the max sample, at F = 1
  });

  it('labels decades on the x axis from ns to s', () => {
    const wide = cdfPlotSvg('w', [{ title: 'w', series: [{ label: 'x', samples: [500, 2e9] }] }]);
    for (const label of ['100 ns', '1 µs', '1 ms', '1 s', '10 s']) expect(wide).toContain(`>${label}<`);
  });
});

describe('barChartSvg', () => {
  const chart = barChartSvg(
    'Resume <p50>',
    'one container',
    ['cgroup v2', 'cgroup v1'],
    [
      { label: 'raw C', values: [10_000, 100_000] },
      { label: 'docker & co', values: [100_000_000, undefined] },
    ],
  );
  const bars = [
    ...chart.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="\d+" fill="([^"]+)"><title>([^<]*)</g),
  ].map((m) => ({ x: Number(m[1]), width: Number(m[3]), fill: m[4], title: m[5] }));

  it('draws one bar per value, a colour per series, each labelled with its value', () => {
    expect(bars.map((b) => b.title)).toEqual([
      'raw C, cgroup v2: 10.0 µs',
      'raw C, cgroup v1: 100 µs',
      'docker &amp; co, cgroup v2: 100 ms',
    ]);
    expect(bars[0]?.fill).toBe(bars[2]?.fill);
    expect(bars[0]?.fill).not.toBe(bars[1]?.fill);
    for (const text of ['>10.0 µs<', '>100 µs<', '>100 ms<', '>cgroup v1<', 'Resume &lt;p50&gt;'])
      expect(chart).toContain(text);
  });

  it('puts values on a log axis: each decade adds the same length', () => {
    const [a, b, c] = bars.map((x) => x.width) as [number, number, number];
    // 10 µs → 100 µs is one decade, 10 µs → 100 ms four.
    expect(c - a).toBeCloseTo(4 * (b - a), 0);
    expect(new Set(bars.map((x) => x.x)).size).toBe(1);
    expect(chart).toContain('>1 ms<');
  });
});
