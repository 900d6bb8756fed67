// 商家入驻审核: merchant applications; approve with the store's commission ratio (佣金比例,
// under the commission guardrail: its refusal offers 确认并通过) or reject with a reason.
import {ApiError, post} from '../api.js';
import {bpOf, pct, when} from '../format.js';
import {h} from '../h.js';
import {reasonForm, reviewList} from './review.js';

const STATUS = {pending: '待审核', approved: '已通过', rejected: '已拒绝'};

function actions(app, ctx, reload) {
  if (app.status !== 'pending' || !ctx.can('operations')) return '';
  const error = h('div', {class: 'error', hidden: true});
  const commission = h('input', {type: 'text', class: 'short commission', placeholder: '佣金比例', 'aria-label': '佣金比例 %'});
  async function approve(acknowledge) {
    error.hidden = true;
    const bp = bpOf(commission.value);
    if (bp === null) {
      error.replaceChildren('请输入佣金比例（%）');
      error.hidden = false;
      return;
    }
    try {
      const done = await post(`/api/admin/merchant-applications/${app.id}/approve`, acknowledge ? {commission_bp: bp, acknowledge: true} : {commission_bp: bp});
      ctx.toast(`已通过，门店 ${done.store.name}（#${done.store.id}）已创建`);
      await reload();
    } catch (e) {
      error.replaceChildren(e.message);
      if (e instanceof ApiError && e.code === 'invalid_setting') {
        error.append(' ', h('button', {type: 'button', class: 'danger', onclick: () => approve(true)}, '确认并通过'));
      }
      error.hidden = false;
    }
  }
  const reject = reasonForm({label: '拒绝理由（至少 2 个字）', min: 2, max: 200, id: app.id, onsubmit: async (reason) => {
    try {
      await post(`/api/admin/merchant-applications/${app.id}/reject`, {reason});
      ctx.toast('已拒绝');
      await reload();
    } catch (e) {
      error.replaceChildren(e.message);
      error.hidden = false;
    }
  }});
  return h('div', {class: 'actions', dataset: {application: app.id}},
    h('span', {class: 'unit'}, commission, '%'),
    h('button', {type: 'button', class: 'primary approve', onclick: () => approve(false)}, '通过'),
    h('button', {type: 'button', class: 'reject', onclick: () => (reject.hidden = false)}, '拒绝'),
    reject, error);
}

export async function render(root, ctx) {
  let reload = async () => {};
  reload = await reviewList(root, {
    path: '/api/admin/merchant-applications',
    statuses: [['pending', '待审核'], ['approved', '已通过'], ['rejected', '已拒绝'], ['all', '全部']],
    initial: 'pending',
    empty: '没有入驻申请',
    columns: [
      ['编号', (a) => a.id],
      ['商家', (a) => h('div', {}, h('strong', {}, a.name), h('div', {class: 'muted'}, a.category))],
      ['联系人', (a) => `${a.contact} ${a.phone}`],
      ['营业执照', (a) => a.licence_no],
      ['地址', (a) => a.address],
      ['状态', (a) => [STATUS[a.status] || a.status, a.commission_bp !== null ? ` · 佣金 ${pct(a.commission_bp)}` : '', a.reject_reason ? ` · ${a.reject_reason}` : ''].join('')],
      ['申请时间', (a) => when(a.created_at)],
      ['操作', (a) => actions(a, ctx, () => reload())],
    ],
  });
}
