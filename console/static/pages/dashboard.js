// 概览: today / 7 / 30 days of orders and of what settlement extracted (paid to the queues,
// withheld, unallocated), what the queues still owe, their depth and the projected wait of the
// newest entry; charts of the daily inflow against payouts and of the queue depth.
import {all, get} from '../api.js';
import {legend, lineChart} from '../chart.js';
import {count, duration, yuan} from '../format.js';
import {h, table} from '../h.js';

const WINDOWS = [[1, '今日'], [7, '近7天'], [30, '近30天']];
const FIGURES = [
  ['orders', '支付订单数', count],
  ['orders_paid_fen', '订单实付', yuan],
  ['extracted_fen', '提取金额', yuan],
  ['paid_fen', '已返现', yuan],
  ['withheld_fen', '暂停扣留', yuan],
  ['unallocated_fen', '无人可返', yuan],
];

function sums(days, n) {
  const picked = days.slice(-n);
  return Object.fromEntries(FIGURES.map(([key]) => [key, picked.reduce((a, d) => a + d[key], 0)]));
}

function windowsTable(days) {
  const totals = WINDOWS.map(([n]) => sums(days, n));
  return h('table', {class: 'grid figures', id: 'dashboard-windows'},
    h('thead', {}, h('tr', {}, h('th', {}, ''), WINDOWS.map(([, name]) => h('th', {}, name)))),
    h('tbody', {}, FIGURES.map(([key, name, format]) =>
      h('tr', {dataset: {figure: key}}, h('th', {}, name), totals.map((t) => h('td', {class: 'n'}, format(t[key])))))));
}

function stat(label, value, id) {
  return h('div', {class: 'stat', id}, h('div', {class: 'label'}, label), h('div', {class: 'value'}, value));
}

export async function render(root) {
  const [daily, economics] = await Promise.all([
    get('/api/admin/dashboard/daily', {days: 30}),
    all('/api/admin/queues/economics'),
  ]);
  const days = daily.days;
  const outstanding = economics.reduce((a, q) => a + q.outstanding_fen, 0);
  const waiting = economics.reduce((a, q) => a + q.waiting_entries, 0);
  const waits = economics.map((q) => q.until_newest_full_seconds).filter((s) => s !== null);
  const longest = waits.length ? Math.max(...waits) : null;
  const labels = days.map((d) => d.day.slice(5));
  const money = [
    {name: '提取（流入）', color: '#1f6feb', values: days.map((d) => d.extracted_fen)},
    {name: '返现', color: '#2da44e', values: days.map((d) => d.paid_fen)},
    {name: '暂停扣留', color: '#bf8700', values: days.map((d) => d.withheld_fen)},
    {name: '无人可返', color: '#cf222e', values: days.map((d) => d.unallocated_fen)},
  ];
  const depth = [{name: '排队中名额', color: '#8250df', values: days.map((d) => d.depth)}];
  root.append(
    h('div', {class: 'stats'},
      stat('待还总额（排队中权益）', yuan(outstanding), 'stat-outstanding'),
      stat('排队中名额', count(waiting), 'stat-waiting'),
      stat('队尾预计等待（最长）', duration(longest), 'stat-longest')),
    h('h2', {}, '订单与提取'),
    windowsTable(days),
    h('div', {class: 'charts'},
      h('div', {class: 'card'}, h('h3', {}, '每日提取与返现（近30天）'), lineChart({title: '每日提取与返现', labels, series: money, format: (v) => yuan(v).replace(/\.00$/, '')}), legend(money)),
      h('div', {class: 'card'}, h('h3', {}, '队列深度（每日结束时）'), lineChart({title: '队列深度', labels, series: depth, format: count, integer: true}), legend(depth))),
    h('h2', {}, '各队列'),
    table([
      ['队列', (q) => h('a', {href: `#/queues/${q.queue_id}`}, q.key)],
      ['排队中', (q) => count(q.waiting_entries)],
      ['待还总额', (q) => yuan(q.outstanding_fen)],
      ['今日流入', (q) => yuan(q.inflow_fen['1'])],
      ['近7天流入', (q) => yuan(q.inflow_fen['7'])],
      ['近30天流入', (q) => yuan(q.inflow_fen['30'])],
      ['队尾预计等待', (q) => duration(q.until_newest_full_seconds)],
    ], economics, '还没有队列'),
    h('p', {class: 'note'}, '预计时间按该队列近7天的提取金额推算，是估计而非承诺。'));
}
