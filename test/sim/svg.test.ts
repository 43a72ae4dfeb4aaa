import test from 'ava';
import { barChart, escapeXml, lineChart, niceTicks } from '../../sim/index.ts';

test('niceTicks steps by 1, 2 or 5 times a power of ten', (t) => {
  t.deepEqual(niceTicks(0, 10), [0, 2, 4, 6, 8, 10]);
  t.deepEqual(niceTicks(0, 0.9, 4), [0, 0.2, 0.4, 0.6, 0.8]);
  t.deepEqual(niceTicks(100, 1000, 3), [500, 1000]);
  t.deepEqual(niceTicks(5, 5), [5]);
});

test('a line chart has one path per series, a legend, markers and escaped text', (t) => {
  const svg = lineChart({
    title: 'p99 <by> policy & load',
    xLabel: 'time (s)',
    yLabel: 'ms',
    series: [
      { name: 'weft', points: [[0, 10], [1, 20], [2, 15]] },
      { name: 'p2c', points: [[0, 30], [1, 40], [2, NaN]] },
    ],
    markers: [{ x: 1, label: 'failure' }],
  });
  t.true(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  t.true(svg.trimEnd().endsWith('</svg>'));
  t.is((svg.match(/<path /g) ?? []).length, 2);
  t.true(svg.includes('p99 &lt;by&gt; policy &amp; load'));
  t.true(svg.includes('>weft</text>') && svg.includes('>p2c</text>'));
  t.true(svg.includes('>failure</text>'));
  t.false(svg.includes('NaN'));
  // the second series drops its NaN point: two points, one "L"
  const p2c = svg.match(/<path d="([^"]*)" fill="none" stroke="#d62728"/)?.[1] ?? '';
  t.is((p2c.match(/L/g) ?? []).length, 1);
});

test('a log-scale line chart puts decades on the axis and skips values <= 0', (t) => {
  const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', yLog: true, series: [{ name: 's', points: [[0, 0], [1, 3], [2, 4000]] }] });
  for (const d of ['>1</text>', '>10</text>', '>100</text>', '>1k</text>', '>10k</text>']) t.true(svg.includes(d), d);
  t.false(svg.includes('NaN') || svg.includes('Infinity'));
});

test('a bar chart draws one bar per series and category', (t) => {
  const svg = barChart({ title: 'ratios', yLabel: 'x P2C', categories: ['mean', 'p99'], series: [{ name: 'weft', values: [0.5, 0.6] }, { name: 'random', values: [0.7, NaN] }] });
  t.is((svg.match(/<title>/g) ?? []).length, 3); // each bar carries a tooltip; NaN draws none
  t.true(svg.includes('<title>weft p99: 0.6</title>'));
});

test('escapeXml escapes the five characters that matter', (t) => {
  t.is(escapeXml(`a<b>&"c"`), 'a&lt;b&gt;&amp;&quot;c&quot;');
});
