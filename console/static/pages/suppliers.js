// 供应商 (#/suppliers): the suppliers of 供应商商品, listed (name filter, paging), created and
// edited (#/suppliers/<id>) through /api/admin/suppliers; a refused value is shown under its field.
import {ApiError, all, get, post, request} from '../api.js';
import {when} from '../format.js';
import {clear, h, table} from '../h.js';
import {changes, collect, fieldRow, showRefusal} from './form.js';

const FIELDS = [
  {path: 'name', kind: 'text', label: '供应商名称', help: ''},
  {path: 'contact', kind: 'text', label: '联系人', help: ''},
  {path: 'phone', kind: 'text', label: '联系电话', help: ''},
];

// the form of a new supplier (`supplier` null) or of one to edit
function supplierForm(ctx, supplier, done) {
  const editors = [];
  const banner = h('div', {class: 'error banner', hidden: true, id: 'supplier-error'});
  const form = h('form', {class: 'settings card', id: 'supplier-form'},
    h('h3', {}, supplier ? `修改供应商 #${supplier.id}` : '新增供应商'),
    FIELDS.map((f) => fieldRow(f, supplier || {name: '', contact: '', phone: ''}, editors)),
    banner,
    h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', id: 'supplier-save'}, '保存')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    banner.hidden = true;
    const body = supplier ? changes(editors) : collect(editors);
    if (body === null) return;
    if (supplier && !Object.keys(body).length) {
      ctx.toast('没有修改');
      return;
    }
    try {
      const saved = supplier
        ? await request('PATCH', `/api/admin/suppliers/${supplier.id}`, {body})
        : await post('/api/admin/suppliers', body);
      ctx.toast('已保存');
      await done(saved.supplier);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 400) {
        clear(banner, e.message);
        banner.hidden = false;
        return;
      }
      showRefusal(e, editors, banner, null, () => false);
    }
  });
  return form;
}

async function list(root, ctx) {
  const name = h('input', {type: 'search', id: 'supplier-query', placeholder: '供应商名称'});
  const form = h('form', {class: 'filters'}, name, h('button', {type: 'submit', class: 'primary'}, '搜索'));
  const rows = h('div', {id: 'supplier-rows'});
  let cursor = null;
  const more = h('button', {type: 'button', hidden: true, onclick: () => load(false)}, '加载更多');
  async function load(fresh) {
    if (fresh) { cursor = null; clear(rows); }
    const page = await get('/api/admin/suppliers', {name: name.value.trim(), cursor, limit: 50});
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    rows.append(table([
      ['编号', (s) => s.id],
      ['供应商名称', (s) => s.name],
      ['联系人', (s) => s.contact || '—'],
      ['联系电话', (s) => s.phone || '—'],
      ['创建时间', (s) => when(s.created_at)],
      ['操作', (s) => h('span', {class: 'actions', dataset: {supplier: String(s.id)}},
        ctx.can('operations') ? h('a', {href: `#/suppliers/${s.id}`, class: 'edit'}, '编辑') : null)],
    ], page.items, '没有供应商'));
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); load(true); });
  root.append(form, rows, more, ctx.can('operations') ? supplierForm(ctx, null, () => ctx.refresh()) : null);
  await load(true);
}

async function edit(root, ctx, supplierId) {
  const supplier = (await all('/api/admin/suppliers')).find((s) => String(s.id) === supplierId);
  const back = h('p', {}, h('a', {href: '#/suppliers'}, '← 供应商列表'));
  if (!supplier) {
    root.append(back, h('p', {class: 'error'}, '供应商不存在'));
    return;
  }
  root.append(back, supplierForm(ctx, supplier, () => { location.hash = '#/suppliers'; }));
}

export async function render(root, ctx, supplierId) {
  if (supplierId) await edit(root, ctx, supplierId);
  else await list(root, ctx);
}
