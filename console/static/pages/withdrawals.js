// 提现审核: withdrawals by status; approve (paid by 商家转账) or reject with a reason (the held
// amount goes back to the member).
import {post} from '../api.js';
import {when, yuan} from '../format.js';
import {h} from '../h.js';
import {reasonForm, reviewList} from './review.js';

const STATUS = {requested: '待审核', paying: '转账中', succeeded: '已到账', failed: '转账失败', rejected: '已驳回'};

function actions(w, ctx, reload) {
  if (!['requested', 'paying'].includes(w.status) || !ctx.can('money')) return '';
  const act = async (path, body, done) => {
    try {
      const answer = await post(`/api/admin/withdrawals/${w.id}/${path}`, body);
      ctx.toast(`${done}：${STATUS[answer.withdrawal.status] || answer.withdrawal.status}`);
    } catch (e) {
      ctx.toast(e.message, 'bad');
    }
    await reload();
  };
  const reject = reasonForm({label: '驳回原因', min: 1, max: 80, id: w.id, onsubmit: (reason) => act('reject', {reason}, '已驳回')});
  return h('div', {class: 'actions', dataset: {withdrawal: w.id}},
    h('button', {type: 'button', class: 'primary approve', onclick: () => act('approve', {}, '已批准')}, w.status === 'paying' ? '再次查询' : '批准'),
    w.status === 'requested' ? h('button', {type: 'button', class: 'reject', onclick: () => (reject.hidden = false)}, '驳回') : null,
    reject);
}

export async function render(root, ctx) {
  let reload = async () => {};
  reload = await reviewList(root, {
    path: '/api/admin/withdrawals',
    statuses: [['requested', '待审核'], ['paying', '转账中'], ['succeeded', '已到账'], ['failed', '转账失败'], ['rejected', '已驳回'], ['', '全部']],
    initial: 'requested',
    empty: '没有提现申请',
    columns: [
      ['编号', (w) => w.id],
      ['会员', (w) => h('a', {href: `#/members/${w.member_id}`}, `#${w.member_id}`)],
      ['金额', (w) => yuan(w.amount_fen)],
      ['状态', (w) => STATUS[w.status] || w.status],
      ['申请时间', (w) => when(w.requested_at)],
      ['处理', (w) => [w.decided_by, w.reject_reason || w.fail_reason].filter(Boolean).join(' · ')],
      ['操作', (w) => actions(w, ctx, () => reload())],
    ],
  });
}
