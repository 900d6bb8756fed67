// 分销设置 (#/distribution) and 团队等级 (#/team-levels): the distribution settings document
// (GET / PATCH /api/admin/distribution-settings), its scalar fields on one page and its team
// levels (级差) on the other. A change that lets a store pay out more than its commission is
// refused by the guardrail and offers 确认并保存 (acknowledge, recorded).
import {ApiError, get, request} from '../api.js';
import {clear, h} from '../h.js';
import {changes, fieldRow, showRefusal} from './form.js';

export const DISTRIBUTION_FIELDS = [
  {path: 'enabled', kind: 'bool', label: '开启分销', help: '推荐奖励、团队奖励、推荐商家奖励'},
  {path: 'direct_bp', kind: 'bp', label: '直推奖励', help: '直接推荐人获得订单实付的比例'},
  {path: 'indirect_bp', kind: 'bp', label: '间推奖励', help: '间接推荐人获得订单实付的比例'},
  {path: 'team_depth', kind: 'int', label: '级差层级', help: '默认 2，最多 3：更深的多级分销可能被认定为传销'},
  {path: 'merchant_referral_bp', kind: 'bp', label: '推荐商家奖励', help: '邀请商家入驻的推广员获得该门店订单实付的比例'},
  {path: 'freeze_days', kind: 'int', label: '佣金冻结天数', help: '订单完成后冻结的天数，到期后可提现'},
  {path: 'dividend_pool_bp', kind: 'bp', label: '股东分红比例', help: '周期内完成营业额的比例进入分红池'},
  {path: 'dividend_period', kind: 'choice', label: '分红周期', help: '', choices: [['month', '每月'], ['week', '每周']]},
  {path: 'shareholder_level', kind: 'int', label: '股东团队等级', help: '达到该团队等级的会员参与分红（留空：不分红）', nullable: true},
  {path: 'statement_days', kind: 'int', label: '商家结算周期', help: '商家结算 T+N 的 N（天）'},
  {path: 'max_transfer_fen', kind: 'fen', label: '单笔商家转账上限', help: '元'},
];
const LEVEL_FIELDS = [
  {path: 'levels', kind: 'team_levels', label: '团队等级', help: '等级越高级差比例越高；达到团队业绩与直推人数门槛自动升级（留空：不自动升级）'},
];
// the fields whose raise a store's commission must cover (the guardrail)
const GUARDED = /^(direct_bp|indirect_bp|team_depth|merchant_referral_bp|dividend_pool_bp|levels)/;

async function save(root, ctx, page, editors, banner, acknowledge = false) {
  banner.hidden = true;
  const patch = changes(editors);
  if (patch === null) return;
  if (!Object.keys(patch).length) {
    ctx.toast('没有修改');
    return;
  }
  try {
    const saved = await request('PATCH', '/api/admin/distribution-settings', {body: acknowledge ? {...patch, acknowledge: true} : patch});
    const over = saved.acknowledged.map((n) => `门店 ${n.store_id}`).join('、');
    ctx.toast(over ? `已保存（已确认超过佣金：${over}）` : '已保存');
    draw(root, ctx, page, saved.settings);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 400) {
      clear(banner, e.message);
      banner.hidden = false;
      return;
    }
    showRefusal(e, editors, banner, () => save(root, ctx, page, editors, banner, true), (field) => GUARDED.test(field));
  }
}

function draw(root, ctx, page, settings) {
  const editors = [];
  const banner = h('div', {class: 'error banner', hidden: true, id: 'distribution-error'});
  const fields = page === 'levels' ? LEVEL_FIELDS : DISTRIBUTION_FIELDS;
  const form = h('form', {class: 'settings', id: `${page}-form`},
    fields.map((f) => fieldRow(f, settings, editors)),
    banner,
    ctx.can('operations') ? h('div', {class: 'actions sticky'}, h('button', {type: 'submit', class: 'primary', id: `${page}-save`}, '保存')) : null);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    save(root, ctx, page, editors, banner);
  });
  clear(root, form);
}

export async function render(root, ctx) {
  draw(root, ctx, 'distribution', (await get('/api/admin/distribution-settings')).settings);
}

export const levels = {
  async render(root, ctx) {
    draw(root, ctx, 'levels', (await get('/api/admin/distribution-settings')).settings);
  },
};
