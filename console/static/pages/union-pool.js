// 工会排队 (#/union-pool): the liability report (the pool's balance, what waiting members are
// owed, the trailing inflow, the projected wait of the tail), the daily statements (日结单) and a
// chart of balance / inflow / payouts by day, the pool's queue in order with progress, and the
// settings (控盘: PATCH /api/admin/union-pool/settings, a refused value shown under its field).
import {ApiError, get, patch} from '../api.js';
import {legend, lineChart} from '../chart.js';
import {count, when, yuan} from '../format.js';
import {clear, h, table} from '../h.js';
import {changes, fieldRow, showRefusal} from './form.js';

const SOURCES = [['mall', '商城'], ['store', '门店'], ['cashier', '收银台']];
const SOURCE_NAMES = Object.fromEntries(SOURCES);
const STATUS = {waiting: '排队中', paid: '已分红', refunded: '已退款'};

// The settings document's fields (GET/PATCH /api/admin/union-pool/settings), with the seed's names.
const FIELDS = [
  {path: 'sources', kind: 'set', choices: SOURCES, label: '参与工会排队的订单来源', help: '勾选的来源的订单进入工会排队（不再进入排队返利队列）；都不勾选即关闭工会排队'},
  {path: 'pool_bp', kind: 'bp', label: '返利池比例', help: '订单利润扣除团队奖励分销和积分返利补贴后，按此比例进入工会返利池（种子：60%）'},
  {path: 'quota_bp', kind: 'bp', label: '分红额度比例', help: '消费金额按此比例获得分红额度（110%：消费 1000 得 1100）'},
  {path: 'daily_cap_fen', kind: 'fen', nullable: true, placeholder: '不限', label: '每日分红上限', help: '每次日结最多分红的金额（元）；留空不限'},
  {path: 'head_in_part', kind: 'bool', label: '队首部分分红', help: '余额不足一份额度时，队首先分得剩余部分（默认关闭：全额分红，余额结转次日）'},
  {path: 'close_at', kind: 'text', label: '每日结算时间', help: 'HH:MM（北京时间），每天一次'},
  {path: 'accel_bp', kind: 'bp', label: '动态加速比例', help: '直推会员订单的贡献按此比例立即用于推荐人最早的排队额度；0 关闭'},
  {path: 'accel_per_day_fen', kind: 'fen', nullable: true, placeholder: '不限', label: '每日加速上限', help: '每位推荐人每天最多加速（元）；留空不限'},
  {path: 'accel_total_fen', kind: 'fen', nullable: true, placeholder: '不限', label: '累计加速上限', help: '每位推荐人累计最多加速（元）；留空不限'},
  {path: 'ceiling_days', kind: 'int', nullable: true, label: '排队上限（天）', help: '队尾预计等待超过此天数时暂停新的排队；留空不限'},
  {path: 'notify_wait_days', kind: 'int', label: '等待天数变动提醒（天）', help: '会员预计等待天数变动达到此天数时通知会员'},
];

const days = (n) => (n === null || n === undefined ? '无法估计' : `约 ${count(n)} 天`);
const plain = (v) => yuan(v).replace(/\.00$/, '');
const inflowOf = (d) => Object.values(d.contributed).reduce((a, v) => a + v, 0) - d.accelerated_fen;

function stat(label, value, id) {
  return h('div', {class: 'stat', id}, h('div', {class: 'label'}, label), h('div', {class: 'value'}, value));
}

function report(o) {
  return h('div', {class: 'stats', id: 'pool-report'},
    stat('返利池余额', yuan(o.balance_fen), 'pool-balance'),
    stat('排队中', count(o.waiting_count), 'pool-waiting'),
    stat('待分红额度合计', yuan(o.waiting_owed_fen), 'pool-owed'),
    stat('近7天流入', yuan(o.inflow_7d_fen), 'pool-inflow-7'),
    stat('近30天流入', yuan(o.inflow_30d_fen), 'pool-inflow-30'),
    stat('队尾预计等待', days(o.tail_closes), 'pool-tail'),
    stat('最近结算日', o.last_closed_day || '尚未结算', 'pool-last-day'));
}

function statements(list) {
  return h('div', {id: 'pool-days'}, table([
    ['日期', (d) => d.day],
    ['期初余额', (d) => yuan(d.opening_fen)],
    ...SOURCES.map(([key, name]) => [`贡献·${name}`, (d) => yuan(d.contributed[key] || 0)]),
    ['退款收回', (d) => yuan(d.taken_back_fen)],
    ['动态加速', (d) => yuan(d.accelerated_fen)],
    ['分红', (d) => yuan(d.paid_fen)],
    ['期末余额', (d) => yuan(d.closing_fen)],
    ['分红人数', (d) => count(d.paid_count)],
    ['排队中', (d) => count(d.waiting_count)],
    ['待分红额度', (d) => yuan(d.waiting_owed_fen)],
    ['结算时间', (d) => when(d.closed_at)],
  ], list, '还没有日结单'));
}

function chart(list) {
  const ordered = [...list].reverse(); // oldest first
  const labels = ordered.map((d) => d.day.slice(5));
  const series = [
    {name: '期末余额', color: '#1f6feb', values: ordered.map((d) => d.closing_fen)},
    {name: '流入（贡献−加速）', color: '#8250df', values: ordered.map(inflowOf)},
    {name: '分红', color: '#2da44e', values: ordered.map((d) => d.paid_fen)},
  ];
  const people = [
    {name: '排队中', color: '#bf8700', values: ordered.map((d) => d.waiting_count)},
    {name: '分红人数', color: '#cf222e', values: ordered.map((d) => d.paid_count)},
  ];
  return h('div', {class: 'charts'},
    h('div', {class: 'card', id: 'pool-chart'}, h('h3', {}, '每日余额、流入与分红'),
      lineChart({title: '工会返利池每日余额、流入与分红', labels, series, format: plain}), legend(series)),
    h('div', {class: 'card', id: 'pool-people'}, h('h3', {}, '排队中与分红人数（每次日结后）'),
      lineChart({title: '排队中与分红人数', labels, series: people, format: count, integer: true}), legend(people)));
}

function progress(e) {
  const share = e.quota_fen ? Math.min(1, e.paid_fen / e.quota_fen) : 1;
  const fill = h('div', {class: 'fill'});
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  return h('div', {class: 'progress', title: `${(share * 100).toFixed(1)}%`}, fill);
}

function queue() {
  const status = h('select', {id: 'pool-entry-status'}, h('option', {value: ''}, '全部状态'),
    Object.entries(STATUS).map(([v, t]) => h('option', {value: v, selected: v === 'waiting'}, t)));
  const member = h('input', {type: 'text', id: 'pool-entry-member', placeholder: '会员编号', class: 'short'});
  const body = h('div', {id: 'pool-entries'});
  let cursor = null;
  const more = h('button', {type: 'button', hidden: true, onclick: () => load(false)}, '加载更多');
  async function load(fresh) {
    if (fresh) { cursor = null; clear(body); }
    const page = await get('/api/admin/union-pool/entries', {status: status.value, member_id: member.value.trim(), cursor, limit: 50});
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    body.append(table([
      ['位次', (e) => (e.position === null ? '—' : count(e.position))],
      ['会员', (e) => h('a', {href: `#/members/${e.member_id}`}, `${e.nickname || '会员'} #${e.member_id}`)],
      ['订单', (e) => e.order_id],
      ['来源', (e) => SOURCE_NAMES[e.source] || e.source],
      ['分红额度', (e) => yuan(e.quota_fen)],
      ['已分红', (e) => yuan(e.paid_fen)],
      ['加速所得', (e) => yuan(e.accelerated_in_fen)],
      ['前面待分红', (e) => (e.ahead_fen === null ? '—' : yuan(e.ahead_fen))],
      ['进度', progress],
      ['状态', (e) => STATUS[e.status] || e.status],
      ['入队时间', (e) => when(e.created_at)],
    ], page.items, '没有符合条件的排队'));
  }
  const filters = h('form', {class: 'filters'}, status, member, h('button', {type: 'submit'}, '筛选'));
  filters.addEventListener('submit', (e) => { e.preventDefault(); load(true).catch((err) => clear(body, h('p', {class: 'error'}, err.message))); });
  return {el: h('div', {}, filters, body, more), load};
}

function settingsForm(ctx, settings, done) {
  const editors = [];
  const banner = h('div', {class: 'error banner', hidden: true, id: 'pool-settings-error'});
  const form = h('form', {class: 'settings', id: 'pool-settings-form'},
    FIELDS.map((f) => fieldRow(f, settings, editors)), banner,
    ctx.can('operations') ? h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', id: 'pool-settings-save'}, '保存设置')) : null);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    banner.hidden = true;
    const body = changes(editors);
    if (body === null) return;
    if (!Object.keys(body).length) { ctx.toast('没有修改'); return; }
    try {
      await patch('/api/admin/union-pool/settings', body);
      ctx.toast('已保存');
      done();
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) showRefusal(e, editors, banner, null, () => false);
      else { clear(banner, e.message); banner.hidden = false; }
    }
  });
  return form;
}

export async function render(root, ctx) {
  const [overview, daily, current] = await Promise.all([
    get('/api/admin/union-pool'),
    get('/api/admin/union-pool/days', {limit: 30}),
    get('/api/admin/union-pool/settings'),
  ]);
  const pool = queue();
  root.append(
    h('h2', {}, '工会返利池'), report(overview),
    h('p', {class: 'note'}, '队尾预计等待按近30天日均流入推算，是估计而非承诺。'),
    h('h2', {}, '日结单（近30次）'), statements(daily.items),
    daily.items.length ? chart(daily.items) : null,
    h('h2', {}, '工会排队'), pool.el,
    h('h2', {}, '工会排队设置'), settingsForm(ctx, current.settings, () => ctx.refresh()));
  await pool.load(true);
}
