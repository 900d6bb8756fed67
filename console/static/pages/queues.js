// 队列: every queue with its depth and what it extracted, paid, withheld and left unallocated;
// a queue's entries in order (#/queues/<id>) with filters (status, member, when they joined),
// progress bars and places; an entry's payouts (#/queues/<id>/entry/<entry id>).
import {all, get} from '../api.js';
import {count, pct, when, yuan} from '../format.js';
import {clear, h, table} from '../h.js';

const SCOPES = {mall: '商城统一队列', stores: '所有门店队列', cashiers: '所有收银台队列', product: '商品队列', store: '门店队列', cashier: '收银台队列'};
export const ENTRY_STATUS = {waiting: '排队中', completed: '已完成', refunded: '已退款', exchanged: '已兑换', cleared: '已清零'};

function progress(entry) {
  const share = entry.entitlement_fen ? Math.min(1, entry.paid_fen / entry.entitlement_fen) : 1;
  const fill = h('div', {class: 'fill'});
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  return h('div', {class: 'progress', title: `${(share * 100).toFixed(1)}%`}, fill);
}

async function list(root) {
  const queues = await all('/api/admin/queues');
  root.append(table([
    ['队列', (q) => h('a', {href: `#/queues/${q.id}`}, q.key)],
    ['范围', (q) => SCOPES[q.scope] || q.scope],
    ['排队中', (q) => count(q.waiting_entries)],
    ['待还总额', (q) => yuan(q.outstanding_fen)],
    ['累计提取', (q) => yuan(q.extracted_fen)],
    ['已返现', (q) => yuan(q.paid_fen)],
    ['暂停扣留', (q) => yuan(q.withheld_fen)],
    ['无人可返', (q) => yuan(q.unallocated_fen)],
  ], queues, '还没有队列'));
}

async function entries(root, queueId) {
  const [queue] = (await all('/api/admin/queues')).filter((q) => String(q.id) === queueId);
  const status = h('select', {id: 'entry-status'}, h('option', {value: ''}, '全部状态'),
    Object.entries(ENTRY_STATUS).map(([v, t]) => h('option', {value: v, selected: v === 'waiting'}, t)));
  const member = h('input', {type: 'text', id: 'entry-member', placeholder: '会员编号', class: 'short'});
  const since = h('input', {type: 'date', id: 'entry-from', title: '入队日期起'});
  const until = h('input', {type: 'date', id: 'entry-to', title: '入队日期止（含当天）'});
  const body = h('div');
  let cursor = null;
  const more = h('button', {type: 'button', hidden: true, onclick: () => load(false)}, '加载更多');
  async function load(fresh) {
    if (fresh) { cursor = null; clear(body); }
    const page = await get(`/api/admin/queues/${queueId}/entries`,
      {status: status.value, member_id: member.value.trim(), from: since.value, to: until.value, cursor, limit: 50});
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    body.append(table([
      ['序号', (e) => h('a', {href: `#/queues/${queueId}/entry/${e.id}`, title: '查看返现明细'}, String(e.seq))],
      ['位次', (e) => (e.ahead === null ? '—' : `前面 ${count(e.ahead)} 人`)],
      ['会员', (e) => h('a', {href: `#/members/${e.member_id}`}, `${e.nickname || '会员'} #${e.member_id}`)],
      ['订单', (e) => e.order_id],
      ['实付', (e) => yuan(e.base_fen)],
      ['比例', (e) => pct(e.ratio_bp)],
      ['总权益', (e) => yuan(e.entitlement_fen)],
      ['已返现', (e) => yuan(e.paid_fen)],
      ['进度', progress],
      ['状态', (e) => ENTRY_STATUS[e.status] || e.status],
      ['入队时间', (e) => when(e.created_at)],
    ], page.items, '没有符合条件的名额'));
  }
  const filters = h('form', {class: 'filters'}, status, member, '入队日期', since, '至', until, h('button', {type: 'submit'}, '筛选'));
  filters.addEventListener('submit', (e) => { e.preventDefault(); load(true); });
  root.append(
    h('p', {}, h('a', {href: '#/queues'}, '← 全部队列')),
    h('h2', {}, `队列 ${queue ? queue.key : queueId}`),
    queue ? h('p', {class: 'muted'}, `排队中 ${count(queue.waiting_entries)} · 待还 ${yuan(queue.outstanding_fen)} · 累计提取 ${yuan(queue.extracted_fen)} · 已返现 ${yuan(queue.paid_fen)} · 暂停扣留 ${yuan(queue.withheld_fen)} · 无人可返 ${yuan(queue.unallocated_fen)}`) : null,
    filters, body, more);
  await load(true);
}

// an entry's payouts: each posting from the queue's pool to the member, with the order that paid it
async function payouts(root, queueId, entryId) {
  const body = h('div');
  let cursor = null;
  const more = h('button', {type: 'button', hidden: true, onclick: () => load()}, '加载更多');
  async function load() {
    const page = await get(`/api/admin/entries/${entryId}/payouts`, {cursor, limit: 50});
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    body.append(table([
      ['时间', (p) => when(p.created_at)],
      ['返现', (p) => yuan(p.amount_fen)],
      ['来自订单', (p) => p.order_id ?? '—'],
      ['提取编号', (p) => p.extraction_id ?? '—'],
    ], page.items, '这条权益还没有收到返现'));
  }
  root.append(
    h('p', {}, h('a', {href: `#/queues/${queueId}`}, '← 队列明细')),
    h('h2', {}, `权益 #${entryId} 的返现`), body, more);
  await load();
}

export async function render(root, ctx, queueId, part, entryId) {
  if (queueId && part === 'entry' && entryId) await payouts(root, queueId, entryId);
  else if (queueId) await entries(root, queueId);
  else await list(root);
}
