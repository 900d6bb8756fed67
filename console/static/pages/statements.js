// 商家结算单: every store's statements by status; 立即打款 runs the merchant-payouts job now
// (it pays the due statements by 商家转账; those above the single-transfer cap wait for a person).
import {post} from '../api.js';
import {count, when, yuan} from '../format.js';
import {h} from '../h.js';
import {reviewList} from './review.js';

const STATUS = {unpaid: '待打款', paying: '打款中', paid: '已打款', manual: '需人工打款'};

export async function render(root, ctx) {
  if (ctx.can('operations')) {
    root.append(h('div', {class: 'actions'}, h('button', {type: 'button', class: 'primary', id: 'pay-statements', onclick: async () => {
      try {
        const {job} = await post('/api/admin/jobs/merchant-payouts/run', {});
        ctx.toast(`商家结算打款：${job.status === 'succeeded' ? '已完成' : job.error || job.status}`, job.status === 'failed' ? 'bad' : 'ok');
        await ctx.refresh();
      } catch (e) {
        ctx.toast(e.message, 'bad');
      }
    }}, '立即打款（到期的结算单）')));
  }
  await reviewList(root, {
    path: '/api/admin/statements',
    statuses: [['', '全部'], ...Object.entries(STATUS)],
    initial: '',
    empty: '没有结算单',
    columns: [
      ['编号', (s) => s.id],
      ['门店', (s) => `${s.store_name} #${s.store_id}`],
      ['结算日', (s) => s.period],
      ['笔数', (s) => count(s.credit_count)],
      ['应付商家', (s) => yuan(s.total_fen)],
      ['状态', (s) => STATUS[s.status] || s.status],
      ['打款时间', (s) => when(s.paid_at)],
      ['备注', (s) => s.note],
    ],
  });
}
