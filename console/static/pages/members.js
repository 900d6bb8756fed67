// 会员: search (id, nickname, referral code, openid); a member's card (#/members/<id>): wallets,
// their statement, and a manual adjustment with its required reason (the adjustments API).
import {get, post} from '../api.js';
import {count, fenOf, intOf, when, yuan} from '../format.js';
import {clear, h, table} from '../h.js';

const ASSETS = {cash: '现金', points: '积分', love_available: '可用爱心值', love_frozen: '冻结爱心值'};
// what moved a balance (a posting's kind); an unknown kind is shown as it is
const KINDS = {
  payout: '排队返现', adjustment: '余额调整', withdrawal_hold: '提现', withdrawal_release: '提现退回',
  commission: '分销佣金', dividend: '股东分红', random_return: '随机返积分', exchange: '权益兑换',
  deduction: '下单抵扣', deduction_return: '抵扣退回', deduction_refund: '退款退回抵扣',
  love_release: '爱心值解冻', points_transfer: '积分转让', points_transfer_fee: '转让手续费',
};
const amountOf = (asset, n) => (asset === 'cash' ? yuan(n) : count(n));

function requestId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return 'console-' + [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function search(root) {
  const text = h('input', {type: 'search', id: 'member-query', placeholder: '会员编号、昵称、推荐码或 openid'});
  const body = h('div');
  const form = h('form', {class: 'filters'}, text, h('button', {type: 'submit', class: 'primary'}, '搜索'));
  async function load() {
    const page = await get('/api/admin/members', {q: text.value.trim(), limit: 50});
    clear(body, table([
      ['编号', (m) => h('a', {href: `#/members/${m.id}`}, `#${m.id}`)],
      ['昵称', (m) => m.nickname || '—'],
      ['会员等级', (m) => m.level],
      ['推荐码', (m) => m.referral_code],
      ['推荐人', (m) => (m.referrer_id ? h('a', {href: `#/members/${m.referrer_id}`}, `#${m.referrer_id}`) : '—')],
      ['注册时间', (m) => when(m.created_at)],
    ], page.items, '没有找到会员'));
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  root.append(form, body);
  await load();
}

function adjustmentForm(memberId, ctx, done) {
  const asset = h('select', {name: 'balance', id: 'adjust-balance'}, Object.entries(ASSETS).map(([v, t]) => h('option', {value: v}, t)));
  const amount = h('input', {type: 'text', name: 'amount', id: 'adjust-amount', class: 'short', placeholder: '正数增加，负数扣减', required: true});
  const unit = h('span', {class: 'muted'}, '元');
  const reason = h('input', {type: 'text', name: 'reason', id: 'adjust-reason', placeholder: '调整原因（必填，将告知会员）', required: true, maxlength: 80});
  const error = h('div', {class: 'error', hidden: true});
  asset.addEventListener('change', () => (unit.textContent = asset.value === 'cash' ? '元' : ''));
  let id = requestId(); // one id per intended adjustment: a retry after a lost answer changes nothing twice
  const form = h('form', {class: 'card adjust', id: 'adjust-form'}, h('h3', {}, '余额调整'),
    h('div', {class: 'inline'}, asset, amount, unit, reason, h('button', {type: 'submit', class: 'primary'}, '提交调整')), error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    const value = asset.value === 'cash' ? fenOf(amount.value) : intOf(amount.value);
    if (value === null) {
      error.textContent = asset.value === 'cash' ? '请输入金额（元，最多两位小数）' : '请输入整数';
      error.hidden = false;
      return;
    }
    try {
      const answer = await post(`/api/admin/members/${memberId}/adjustments`, {balance: asset.value, amount: value, reason: reason.value.trim(), request_id: id});
      id = requestId();
      ctx.toast(`已调整，${ASSETS[answer.adjustment.balance]}余额 ${amountOf(answer.adjustment.balance, answer.adjustment.balance_after)}`);
      await done();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  });
  return form;
}

// 团队等级: set by hand (0 removes it), recorded with the note.
async function teamLevelForm(member, ctx) {
  const {settings} = await get('/api/admin/distribution-settings');
  const level = h('select', {id: 'team-level'}, h('option', {value: '0'}, '无'),
    settings.levels.map((l) => h('option', {value: String(l.level), selected: l.level === member.team_level}, `${l.name}（${l.level}）`)));
  const note = h('input', {type: 'text', id: 'team-level-note', placeholder: '备注', maxlength: 200});
  const form = h('form', {class: 'inline', id: 'team-level-form'}, '团队等级', level, note, h('button', {type: 'submit'}, '设置'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const done = await post(`/api/admin/members/${member.id}/team-level`, {level: Number(level.value), note: note.value.trim()});
      ctx.toast(`团队等级 ${done.from_level} → ${done.to_level}`);
      await ctx.refresh();
    } catch (e) {
      ctx.toast(e.message, 'bad');
    }
  });
  return form;
}

async function card(root, ctx, memberId) {
  const {member, wallet} = await get(`/api/admin/members/${memberId}`);
  const balances = h('div', {class: 'stats', id: 'member-balances'},
    Object.entries(ASSETS).map(([key, name]) => h('div', {class: 'stat', dataset: {asset: key}},
      h('div', {class: 'label'}, name), h('div', {class: 'value'}, amountOf(key, wallet.balances[key === 'cash' ? 'cash_fen' : key])))),
    h('div', {class: 'stat'}, h('div', {class: 'label'}, '提现处理中'), h('div', {class: 'value'}, yuan(wallet.withdrawal_held_fen))));
  const ledger = h('div', {id: 'member-ledger'});
  const filter = h('select', {}, h('option', {value: ''}, '全部'), Object.entries(ASSETS).map(([v, t]) => h('option', {value: v}, t)));
  let cursor = null;
  const more = h('button', {type: 'button', hidden: true, onclick: () => load(false)}, '加载更多');
  async function load(fresh) {
    if (fresh) { cursor = null; clear(ledger); }
    const page = await get(`/api/admin/members/${memberId}/ledger`, {asset: filter.value, cursor, limit: 50});
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    ledger.append(table([
      ['时间', (r) => when(r.created_at)],
      ['余额', (r) => ASSETS[r.asset] || r.asset],
      ['变动', (r) => h('span', {class: r.amount < 0 ? 'out' : 'in'}, (r.amount > 0 ? '+' : '') + amountOf(r.asset, r.amount))],
      ['类型', (r) => KINDS[r.kind] || r.kind],
      ['说明', (r) => r.memo],
      ['订单', (r) => r.order_id ?? '—'],
    ], page.items, '暂无流水'));
  }
  filter.addEventListener('change', () => load(true));
  root.append(
    h('p', {}, h('a', {href: '#/members'}, '← 会员搜索')),
    h('h2', {}, `${member.nickname || '会员'} #${member.id}`),
    h('p', {class: 'muted'}, `会员等级 ${member.level} · 团队等级 ${member.team_level} · 推荐码 ${member.referral_code} · 推荐人 ${member.referrer_id ? '#' + member.referrer_id : '无'} · 注册于 ${when(member.created_at)}`),
    balances,
    ctx.can('operations') ? await teamLevelForm(member, ctx) : null,
    ctx.can('money') ? adjustmentForm(member.id, ctx, () => ctx.refresh()) : null,
    h('h3', {}, '钱包流水'), h('div', {class: 'filters'}, filter), ledger, more);
  await load(true);
}

export async function render(root, ctx, memberId) {
  if (memberId) await card(root, ctx, memberId);
  else await search(root);
}
