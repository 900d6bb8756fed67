// 基础设置: every setting of GET /api/admin/settings with its seed name and help text; 保存 sends
// only what changed (PUT /api/admin/settings). A refused value is shown under its field (the
// API's 400 names it) and nothing is saved; the commission guardrail's refusal offers 确认并保存
// (the same change with acknowledge: true, recorded in the operation log).
import {ApiError, get, post, put} from '../api.js';
import {append, clear, h} from '../h.js';
import {changes, fieldRow, showRefusal} from './form.js';
import {GROUPS, ITEMS} from './settings-fields.js';

function enableAll(ctx) {
  const box = h('span', {class: 'inline'});
  const ask = h('button', {type: 'button', id: 'enable-all', disabled: !ctx.can('operations')}, '一键启用');
  const confirm = h('span', {class: 'confirm', hidden: true}, '开启所有商城自营与供应商商品的排队返利？',
    h('button', {type: 'button', class: 'primary', id: 'enable-all-confirm', onclick: async () => {
      confirm.hidden = true;
      try {
        const done = await post('/api/admin/products/enable-rebate');
        ctx.toast(`已开启 ${done.enabled} 个商品的排队返利`);
      } catch (e) {
        ctx.toast(e.message, 'bad');
      }
    }}, '确认'),
    h('button', {type: 'button', class: 'link', onclick: () => (confirm.hidden = true)}, '取消'));
  ask.addEventListener('click', () => (confirm.hidden = false));
  return append(box, [ask, confirm]);
}

async function save(ctx, editors, banner, root, acknowledge = false) {
  banner.hidden = true;
  const patch = changes(editors);
  if (patch === null) return;
  if (!Object.keys(patch).length) {
    ctx.toast('没有修改');
    return;
  }
  try {
    const saved = await put('/api/admin/settings', acknowledge ? {...patch, acknowledge: true} : patch);
    ctx.toast('已保存');
    draw(root, saved, ctx);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 400) {
      clear(banner, e.message);
      banner.hidden = false;
      return;
    }
    showRefusal(e, editors, banner, () => save(ctx, editors, banner, root, true), (field) => field.endsWith('extract_bp'));
  }
}

function draw(root, settings, ctx) {
  const editors = [];
  const special = (field) => (field.kind === 'enable_all' ? enableAll(ctx) : null);
  const banner = h('div', {class: 'error banner', hidden: true, id: 'settings-error'});
  const form = h('form', {class: 'settings', id: 'settings-form'},
    h('h2', {}, '排队返利基础设置'),
    ITEMS.map((f) => fieldRow(f, settings, editors, special)),
    GROUPS.map(([title, fields]) => [h('h2', {}, title), fields.map((f) => fieldRow(f, settings, editors, special))]),
    banner,
    ctx.can('operations') ? h('div', {class: 'actions sticky'}, h('button', {type: 'submit', class: 'primary', id: 'settings-save'}, '保存')) : null);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    save(ctx, editors, banner, root);
  });
  clear(root, form);
}

export async function render(root, ctx) {
  draw(root, await get('/api/admin/settings'), ctx);
}
