// 操作日志: every operator's change (who, when, old and new values), filtered by section,
// target, operator and Beijing dates.
import {get} from '../api.js';
import {when} from '../format.js';
import {clear, h, table} from '../h.js';

const SECTIONS = {
  base: '基础设置', clearing: '队列奖励清零', display: '显示与名称', withdrawal: '提现设置',
  points_transfer: '积分转让设置', love: '爱心值设置', distribution: '分销设置', supplier: '供应商',
  product: '商品', store: '门店', cashier: '收银台', commission: '门店佣金', guardrail_ack: '佣金护栏确认',
  merchant_application: '商家入驻审核', merchant_invite: '商家邀请码', team_level: '团队等级',
  member_levels: '会员等级设置', member_level: '会员等级', refund: '退款', wallet_adjustment: '余额调整',
  withdrawal_decision: '提现审核', points_transferred: '积分转让', job: '任务',
};

const shown = (doc) => (doc === null || doc === undefined ? '—' : h('code', {class: 'doc'}, JSON.stringify(doc)));

export async function render(root) {
  const section = h('select', {name: 'section'}, h('option', {value: ''}, '全部类别'),
    Object.entries(SECTIONS).map(([v, t]) => h('option', {value: v}, t)));
  const target = h('input', {type: 'text', name: 'target', placeholder: '对象，如 store:3', class: 'short'});
  const operator = h('input', {type: 'text', name: 'operator', placeholder: '操作人', class: 'short'});
  const since = h('input', {type: 'date', name: 'from'});
  const until = h('input', {type: 'date', name: 'to'});
  const body = h('div', {id: 'audit-rows'});
  let cursor = null;
  const more = h('button', {type: 'button', hidden: true, onclick: () => load(false)}, '加载更多');
  async function load(fresh) {
    if (fresh) { cursor = null; clear(body); }
    try {
      const page = await get('/api/admin/audit', {section: section.value, target: target.value.trim(), operator: operator.value.trim(), from: since.value, to: until.value, cursor, limit: 50});
      cursor = page.next_cursor;
      more.hidden = cursor === null;
      body.append(table([
        ['时间', (r) => when(r.created_at)],
        ['操作人', (r) => r.operator],
        ['类别', (r) => SECTIONS[r.section] || r.section],
        ['对象', (r) => r.target],
        ['旧值', (r) => shown(r.old)],
        ['新值', (r) => shown(r.new)],
      ], page.items, '没有符合条件的记录'));
    } catch (e) {
      clear(body, h('p', {class: 'error'}, e.message));
    }
  }
  const form = h('form', {class: 'filters'}, section, target, operator, '从', since, '到', until, h('button', {type: 'submit', class: 'primary'}, '筛选'));
  form.addEventListener('submit', (e) => { e.preventDefault(); load(true); });
  root.append(form, body, more);
  await load(true);
}
