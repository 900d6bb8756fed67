// 订单: every order, newest first, filtered by status, source, member and store; its lines with
// 退款 (the operator's refund of one line, with a reason — the API decides whether it may).
import {get, post} from '../api.js';
import {count, when, yuan} from '../format.js';
import {clear, h, table} from '../h.js';

export const ORDER_STATUS = {created: '待支付', paid: '已支付', completed: '已完成', refunded: '已退款', closed: '已关闭'};
const SOURCES = {mall: '商城', store: '门店商品', cashier: '收银台买单'};
const LINE_STATUS = {open: '未结算', settling: '结算中', settled: '已结算', refunded: '已退款'};
const REFUND_STATUS = {requested: '退款中', succeeded: '已退款', failed: '退款失败'};

function refundButton(order, line, ctx, reload) {
  if (!ctx.can('money') || !['paid', 'completed'].includes(order.status) || line.status === 'refunded') return null;
  const reason = h('input', {type: 'text', class: 'reason', placeholder: '退款原因', maxlength: 80});
  const form = h('form', {class: 'inline', hidden: true}, reason, h('button', {type: 'submit', class: 'danger'}, '确认退款'),
    h('button', {type: 'button', class: 'link', onclick: () => (form.hidden = true)}, '取消'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const {refund} = await post(`/api/admin/orders/${order.id}/lines/${line.id}/refund`, {reason: reason.value.trim()});
      ctx.toast(`退款已发起：${yuan(refund.amount_fen)}`);
      await reload();
    } catch (e) {
      ctx.toast(e.message, 'bad');
    }
  });
  return [h('button', {type: 'button', class: 'link refund', onclick: () => (form.hidden = false)}, '退款'), form];
}

function lines(order, ctx, reload) {
  return h('div', {class: 'lines'}, order.lines.map((line) => h('div', {dataset: {line: line.id}},
    `${line.product_id ? `商品 #${line.product_id} × ${line.quantity}` : '买单'} · ${yuan(line.paid_fen)} · ${LINE_STATUS[line.status] || line.status} `,
    refundButton(order, line, ctx, reload))),
  order.refunds.map((r) => h('div', {class: 'muted'}, `退款 ${r.out_refund_no} ${yuan(r.amount_fen)} ${REFUND_STATUS[r.status] || r.status}`)));
}

export async function render(root, ctx) {
  const status = h('select', {name: 'status'}, h('option', {value: ''}, '全部状态'), Object.entries(ORDER_STATUS).map(([v, t]) => h('option', {value: v}, t)));
  const source = h('select', {name: 'source'}, h('option', {value: ''}, '全部来源'), Object.entries(SOURCES).map(([v, t]) => h('option', {value: v}, t)));
  const member = h('input', {type: 'text', name: 'member_id', placeholder: '会员编号', class: 'short'});
  const store = h('input', {type: 'text', name: 'store_id', placeholder: '门店编号', class: 'short'});
  const body = h('div', {id: 'order-rows'});
  let cursor = null;
  const more = h('button', {type: 'button', hidden: true, onclick: () => load(false)}, '加载更多');
  async function load(fresh) {
    if (fresh) { cursor = null; clear(body); }
    try {
      const page = await get('/api/admin/orders', {status: status.value, source: source.value, member_id: member.value.trim(), store_id: store.value.trim(), cursor, limit: 20});
      cursor = page.next_cursor;
      more.hidden = cursor === null;
      body.append(table([
        ['订单', (o) => h('div', {}, `#${o.id}`, h('div', {class: 'muted'}, o.out_trade_no))],
        ['会员', (o) => h('a', {href: `#/members/${o.member_id}`}, `#${o.member_id}`)],
        ['来源', (o) => `${SOURCES[o.source] || o.source}${o.store_id ? ` · 门店 #${o.store_id}` : ''}`],
        ['商品金额', (o) => yuan(o.total_fen)],
        ['抵扣', (o) => (o.deduction_fen ? `${yuan(o.deduction_fen)}（积分 ${count(o.deduction_points)} · 爱心值 ${count(o.deduction_love)}）` : '—')],
        ['实付', (o) => yuan(o.paid_fen)],
        ['状态', (o) => ORDER_STATUS[o.status] || o.status],
        ['支付时间', (o) => when(o.paid_at)],
        ['商品行', (o) => lines(o, ctx, () => load(true))],
      ], page.items, '没有符合条件的订单'));
    } catch (e) {
      clear(body, h('p', {class: 'error'}, e.message));
    }
  }
  const form = h('form', {class: 'filters'}, status, source, member, store, h('button', {type: 'submit', class: 'primary'}, '筛选'));
  form.addEventListener('submit', (e) => { e.preventDefault(); load(true); });
  root.append(form, body, more);
  await load(true);
}
