// Hand-written inline SVG line charts (no chart library, nothing fetched): one or more series
// over the same days, a y axis from 0 with four grid lines, the first and last day labelled.
const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 220;
const PAD = {left: 64, right: 12, top: 12, bottom: 28};

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child);
  return el;
}

const TICKS = 4;

// The smallest "round" top of the y axis at or above `value` whose TICKS grid steps are round
// too (whole numbers for counts).
function niceTop(value, integer) {
  const wanted = Math.max(value, integer ? TICKS : 1) / TICKS;
  const scale = 10 ** Math.floor(Math.log10(wanted));
  const steps = integer && scale < 10 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  const step = steps.map((m) => m * scale).find((s) => s >= wanted);
  return Math.max(integer ? 1 : 0, step) * TICKS;
}

// series: [{name, color, values: [number]}]; labels: the x labels (days); format: y → text;
// integer: the values are counts (grid lines on whole numbers).
export function lineChart({title, labels, series, format = String, integer = false}) {
  const top = niceTop(Math.max(0, ...series.flatMap((s) => s.values)), integer);
  const x = (i) => PAD.left + (labels.length <= 1 ? 0 : (i * (W - PAD.left - PAD.right)) / (labels.length - 1));
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const chart = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title});
  chart.append(svg('title', {}, title));
  for (let k = 0; k <= TICKS; k++) {
    const v = (top * k) / TICKS;
    chart.append(svg('line', {x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid'}));
    chart.append(svg('text', {x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis'}, format(v)));
  }
  if (labels.length) {
    chart.append(svg('text', {x: x(0), y: H - 8, class: 'axis'}, labels[0]));
    if (labels.length > 1) chart.append(svg('text', {x: x(labels.length - 1), y: H - 8, 'text-anchor': 'end', class: 'axis'}, labels.at(-1)));
  }
  for (const s of series) {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    chart.append(svg('polyline', {points, fill: 'none', stroke: s.color, 'stroke-width': 2, class: 'series'}));
    s.values.forEach((v, i) => {
      const dot = svg('circle', {cx: x(i), cy: y(v), r: 2.5, fill: s.color});
      dot.append(svg('title', {}, `${labels[i]} ${s.name}：${format(v)}`));
      chart.append(dot);
    });
  }
  return chart;
}

export function legend(series) {
  const box = document.createElement('div');
  box.className = 'legend';
  for (const s of series) {
    const item = document.createElement('span');
    const swatch = document.createElement('i');
    swatch.style.background = s.color;
    item.append(swatch, s.name);
    box.append(item);
  }
  return box;
}
