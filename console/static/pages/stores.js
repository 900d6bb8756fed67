// 门店 (#/stores): every store with its commission, its cashier and whether each takes part in
// queue rebate; a store's 排队返利独立设置 (#/stores/<id>/rebate) and its cashier's
// (#/stores/<id>/cashier/<cashier id>), the seed's 门店/收银台设置 (with 随机返).
import {all} from '../api.js';
import {pct, when} from '../format.js';
import {h, table} from '../h.js';
import {renderTarget} from './target.js';

const on = (enabled) => (enabled === null || enabled === undefined ? '—' : enabled ? '开启' : '关闭');

async function list(root) {
  const stores = await all('/api/admin/stores');
  root.append(h('div', {id: 'store-rows'}, table([
    ['编号', (s) => s.id],
    ['门店名称', (s) => s.name],
    ['佣金比例', (s) => pct(s.commission_bp)],
    ['门店排队返利', (s) => on(s.rebate_enabled)],
    ['收银台', (s) => (s.cashier_id === null ? '—' : `#${s.cashier_id}`)],
    ['收银台排队返利', (s) => on(s.cashier_rebate_enabled)],
    ['入驻时间', (s) => when(s.created_at)],
    ['操作', (s) => h('span', {class: 'actions', dataset: {store: String(s.id)}},
      h('a', {href: `#/stores/${s.id}/rebate`, class: 'store-rebate'}, '门店排队返利设置'),
      s.cashier_id === null ? null : h('a', {href: `#/stores/${s.id}/cashier/${s.cashier_id}`, class: 'cashier-rebate'}, '收银台排队返利设置'))],
  ], stores, '没有门店')));
}

export async function render(root, ctx, storeId, part, cashierId) {
  const back = h('p', {}, h('a', {href: '#/stores'}, '← 门店列表'));
  if (storeId && part === 'cashier' && cashierId) {
    await renderTarget(root, ctx, 'cashier', cashierId, {title: `门店 ${storeId} 的收银台 #${cashierId}`, back});
  } else if (storeId) {
    await renderTarget(root, ctx, 'store', storeId, {title: `门店 #${storeId}`, back});
  } else {
    await list(root);
  }
}
