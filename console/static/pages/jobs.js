// 任务: the scheduled jobs' recent runs, and 立即运行 (recorded as the operator's run).
import {get, post} from '../api.js';
import {when} from '../format.js';
import {clear, h, table} from '../h.js';

export const JOB_NAMES = {
  clearing: '队列奖励清零', reconciliation: '支付对账', auto_complete: '订单自动完成',
  'commission-release': '分销佣金解冻', 'merchant-statements': '商家结算单生成', 'merchant-payouts': '商家结算打款',
  'withdrawal-payouts': '提现到账查询', 'double-payment-refunds': '重复支付退款', dividends: '分红',
  'team-levels': '团队等级评定', 'love-release': '冻结爱心值释放',
  'outbox-retention': '通知记录清理', 'union-pool-close': '工会返利池日结',
};
const STATUS = {running: '运行中', succeeded: '成功', failed: '失败', skipped: '跳过'};

// The job names the server knows: the enum of the run endpoint's path parameter in the API's
// own OpenAPI document (so a new job shows up without a console change).
async function jobNames() {
  const doc = await get('/api/openapi.json');
  const op = doc.paths['/api/admin/jobs/{name}/run'].post;
  const param = op.parameters.find((p) => p.name === 'name');
  return param.schema.enum;
}

export async function render(root, ctx) {
  const [names, runs] = await Promise.all([jobNames(), get('/api/admin/jobs/runs', {limit: 50})]);
  const outcome = h('div', {id: 'job-outcome'});
  const run = async (name) => {
    try {
      const {job} = await post(`/api/admin/jobs/${encodeURIComponent(name)}/run`, {});
      ctx.toast(`${JOB_NAMES[name] || name}：${STATUS[job.status] || job.status}`, job.status === 'failed' ? 'bad' : 'ok');
      await ctx.refresh();
    } catch (e) {
      clear(outcome, h('p', {class: 'error'}, e.message));
    }
  };
  root.append(
    h('h2', {}, '定时任务'),
    table([
      ['任务', (n) => JOB_NAMES[n] || n],
      ['名称', (n) => h('code', {}, n)],
      ['操作', (n) => (ctx.can('operations') ? h('button', {type: 'button', class: 'run', dataset: {job: n}, onclick: () => run(n)}, '立即运行') : '')],
    ], names),
    outcome,
    h('h2', {}, '最近运行'),
    table([
      ['任务', (r) => JOB_NAMES[r.name] || r.name],
      ['批次', (r) => r.slot],
      ['触发', (r) => r.trigger],
      ['状态', (r) => h('span', {class: `status ${r.status}`}, STATUS[r.status] || r.status)],
      ['尝试', (r) => r.attempts],
      ['开始', (r) => when(r.started_at)],
      ['结束', (r) => when(r.finished_at)],
      ['结果', (r) => r.error || (r.changes ? JSON.stringify(r.changes) : '')],
    ], runs.items, '还没有运行记录'));
}
