// 独立设置排队返利 of one product, store or cashier (the seed's 八、独立设置排队返利): its switch and
// its own settings document (GET / PUT /api/admin/{products|stores|cashiers}/{id}/rebate). A
// value left empty falls back to the level above (门店, then 基础设置). 保存 replaces the whole
// document; a refused value is shown under its field and nothing is saved; an extraction over a
// store's commission is refused by the guardrail and offers 确认并保存 (acknowledge, recorded).
import {ApiError, get, put} from '../api.js';
import {clear, h} from '../h.js';
import {changes, collect, fieldRow, showRefusal} from './form.js';

export const TARGETS = {
  product: {plural: 'products', name: '商品', enabled: '开启后购买该商品获得排队返利奖励机制奖励'},
  store: {plural: 'stores', name: '门店', enabled: '开启后该门店的线上商品订单参与排队返利'},
  cashier: {plural: 'cashiers', name: '收银台', enabled: '开启后该门店收银台买单的订单参与排队返利'},
};

const FALLBACK = '留空：沿用上级设置';

// the fields of a target's document (paths in {enabled, settings}); 随机返 for stores and cashiers only
export function targetFields(kind) {
  const fields = [
    {path: 'enabled', kind: 'bool', label: '开启', help: TARGETS[kind].enabled},
    {path: 'settings.extract_bp', kind: 'bp', nullable: true, label: '提取比例', help: `订单实际支付金额按此比例奖励给排队中的权益；${FALLBACK}`},
    {path: 'settings.ratios.default_bp', kind: 'bp', nullable: true, label: '独立奖励比例', help: `订单实际支付金额按此比例作为加入排队的总权益；${FALLBACK}`},
    {path: 'settings.ratios.level_bp', kind: 'levels', label: '会员等级奖励权益', help: '根据下单会员所在的等级获得对应的奖励权益比例（等级 → 比例），优先于其他规则'},
    {path: 'settings.ratios.tiers', kind: 'tiers', label: '累计金额奖励', help: '指定天数内累计消费满该金额时的奖励权益比例，取满足条件的最高比例'},
    {path: 'settings.ratios.lottery', kind: 'lottery', label: '抽奖奖励权益', help: '排队期间（正式奖励前）用户可抽奖，抽中的比例替换原来的比例'},
    {path: 'settings.windows', kind: 'windows', label: '奖励时间段限制', help: '只有在该时间段购买才获得奖励权益（北京时间）；所有时间段的订单都会提取比例奖励给排队中的权益；不添加：不限'},
    {path: 'settings.limits.per_day', kind: 'int', nullable: true, label: '每人每天奖励次数', help: '每人每天购买获得奖励权益的次数；留空：不限'},
    {path: 'settings.limits.total', kind: 'int', nullable: true, label: '每人总共奖励次数', help: '每人总共获得奖励权益的次数；留空：不限'},
    {path: 'settings.deduction_max_bp', kind: 'bp', nullable: true, label: '抵扣上限', help: `可用积分、爱心值抵扣的价格比例；${FALLBACK}`},
    {path: 'settings.deduction_min_cash_fen', kind: 'fen', nullable: true, label: '最低现金支付', help: `每笔订单至少支付的现金（元）；${FALLBACK}`},
  ];
  if (kind !== 'product') {
    fields.splice(7, 0, {path: 'settings.random_return', kind: 'random_return', label: '开启随机返', help: '每组人数 = 每组返现金人数 + 每组返积分人数；不开启：沿用基础设置'});
  }
  return fields;
}

// the document as the editors show it: 每组人数 is the sum of the places
function shown(target) {
  const settings = {...(target.settings || {})};
  const rr = settings.random_return;
  if (rr) settings.random_return = {...rr, group_size: (rr.cash_places || 0) + (rr.points_places || 0)};
  return {enabled: target.enabled, settings};
}

async function save(view, editors, banner, acknowledge = false) {
  banner.hidden = true;
  const patch = changes(editors);
  if (patch === null) return;
  if (!Object.keys(patch).length) {
    view.ctx.toast('没有修改');
    return;
  }
  const doc = collect(editors);
  const body = {enabled: doc.enabled, settings: doc.settings, ...(acknowledge ? {acknowledge: true} : {})};
  try {
    const {target} = await put(`/api/admin/${TARGETS[view.kind].plural}/${view.id}/rebate`, body);
    view.ctx.toast('已保存');
    draw(view, target);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 400) {
      clear(banner, e.message);
      banner.hidden = false;
      return;
    }
    showRefusal(e, editors, banner, () => save(view, editors, banner, true), (field) => field === 'settings.extract_bp');
  }
}

function draw(view, target) {
  const editors = [];
  const banner = h('div', {class: 'error banner', hidden: true, id: 'rebate-error'});
  const form = h('form', {class: 'settings', id: 'rebate-form', dataset: {kind: view.kind, id: String(view.id)}},
    h('h2', {}, `${view.title} · 排队返利独立设置`),
    targetFields(view.kind).map((f) => fieldRow(f, shown(target), editors)),
    banner,
    view.ctx.can('operations') ? h('div', {class: 'actions sticky'}, h('button', {type: 'submit', class: 'primary', id: 'rebate-save'}, '保存')) : null);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    save(view, editors, banner);
  });
  clear(view.root, view.back, form);
}

// `back`: the link above the form; `title`: what is set (e.g. 商品「金骏眉」).
export async function renderTarget(root, ctx, kind, id, {title, back}) {
  const {target} = await get(`/api/admin/${TARGETS[kind].plural}/${id}/rebate`);
  draw({root, ctx, kind, id, title, back}, target);
}
