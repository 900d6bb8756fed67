// 商品 (#/products): the catalogue — 商城自营, 供应商 and 门店商品 — listed with filters and paging,
// created (#/products/new), edited (#/products/<id>: price, 成本价, 供货价, stock, supplier …),
// 上架 / 下架, and each product's 排队返利独立设置 (#/products/<id>/rebate). Amounts are typed in
// 元 and sent as integer fen; a refused value is shown under the field the API names, nothing saved.
import {ApiError, all, get, post, request} from '../api.js';
import {count, yuan, when} from '../format.js';
import {clear, h, table} from '../h.js';
import {changes, collect, fieldRow, showRefusal} from './form.js';
import {renderTarget} from './target.js';

export const KINDS = [['self', '商城自营'], ['supplier', '供应商商品'], ['store', '门店商品']];
const KIND_NAMES = Object.fromEntries(KINDS);

// the product's fields; `stores` / `suppliers`: [[id, name]] for the choices
function productFields(stores, suppliers, creating) {
  return [
    creating ? {path: 'kind', kind: 'choice', label: '商品类型', help: '创建后不可修改', choices: KINDS} : null,
    creating ? {path: 'store_id', kind: 'ref', label: '所属门店', help: '门店商品的门店', choices: stores, none: '请选择门店'} : null,
    {path: 'supplier_id', kind: 'ref', label: '供应商', help: '供应商商品的供应商', choices: suppliers, none: '请选择供应商'},
    {path: 'name', kind: 'text', label: '商品名称', help: ''},
    {path: 'price_fen', kind: 'fen', label: '售价', help: '元，最多两位小数'},
    {path: 'cost_price_fen', kind: 'fen', nullable: true, label: '成本价', help: '元；会员不可见；留空：不记录'},
    {path: 'supply_price_fen', kind: 'fen', nullable: true, label: '供货价', help: '元，仅供应商商品；会员不可见；留空：不记录'},
    {path: 'stock', kind: 'int', nullable: true, label: '库存', help: '留空：不限'},
    {path: 'external_code', kind: 'text', nullable: true, label: '商品编码', help: '唯一；留空：无'},
    {path: 'images', kind: 'lines', label: '商品图片', help: '图片地址（http/https），每行一个'},
    {path: 'rebate_enabled', kind: 'bool', label: '开启排队返利', help: '购买该商品参与排队返利；独立比例等在「排队返利设置」中设置'},
  ].filter(Boolean);
}

// which rows a kind uses (the others are hidden and sent empty)
const ONLY = {store_id: 'store', supplier_id: 'supplier', supply_price_fen: 'supplier'};

async function choices() {
  const [stores, suppliers] = await Promise.all([all('/api/admin/stores'), all('/api/admin/suppliers')]);
  return {stores: stores.map((s) => [s.id, `${s.name}（${s.id}）`]), suppliers: suppliers.map((s) => [s.id, s.name])};
}

function listingButton(p, ctx, done) {
  const [action, label] = p.listed ? ['delist', '下架'] : ['list', '上架'];
  return h('button', {type: 'button', class: action, onclick: async () => {
    try {
      await post(`/api/admin/products/${p.id}/${action}`);
      ctx.toast(`已${label}`);
      await done();
    } catch (e) {
      ctx.toast(e.message, 'bad');
    }
  }}, label);
}

async function list(root, ctx) {
  const names = Object.fromEntries((await all('/api/admin/suppliers')).map((s) => [s.id, s.name]));
  const name = h('input', {type: 'search', name: 'name', id: 'product-query', placeholder: '商品名称'});
  const kind = h('select', {name: 'kind'}, h('option', {value: ''}, '全部类型'), KINDS.map(([v, t]) => h('option', {value: v}, t)));
  const listed = h('select', {name: 'listed'}, h('option', {value: ''}, '全部状态'), h('option', {value: 'true'}, '上架'), h('option', {value: 'false'}, '下架'));
  const form = h('form', {class: 'filters'}, name, kind, listed, h('button', {type: 'submit', class: 'primary'}, '搜索'),
    ctx.can('operations') ? h('a', {href: '#/products/new', id: 'product-new', class: 'button'}, '＋ 新增商品') : null);
  const rows = h('div', {id: 'product-rows'});
  let cursor = null;
  const more = h('button', {type: 'button', hidden: true, onclick: () => load(false)}, '加载更多');
  const where = (p) => (p.kind === 'store' ? `门店 ${p.store_id}` : p.supplier_id ? names[p.supplier_id] || `供应商 ${p.supplier_id}` : '—');
  async function load(fresh) {
    if (fresh) { cursor = null; clear(rows); }
    const page = await get('/api/admin/products', {name: name.value.trim(), kind: kind.value, listed: listed.value, cursor, limit: 50});
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    const grid = table([
      ['编号', (p) => p.id],
      ['商品名称', (p) => p.name],
      ['类型', (p) => KIND_NAMES[p.kind] || p.kind],
      ['售价', (p) => yuan(p.price_fen)],
      ['成本价', (p) => yuan(p.cost_price_fen)],
      ['供货价', (p) => yuan(p.supply_price_fen)],
      ['库存', (p) => (p.stock === null ? '不限' : count(p.stock))],
      ['供应商 / 门店', where],
      ['状态', (p) => (p.listed ? '上架' : '下架')],
      ['排队返利', (p) => (p.rebate_enabled ? '开启' : '关闭')],
      ['创建时间', (p) => when(p.created_at)],
      ['操作', (p) => h('span', {class: 'actions', dataset: {product: String(p.id)}},
        ctx.can('operations') ? h('a', {href: `#/products/${p.id}`, class: 'edit'}, '编辑') : null,
        ctx.can('operations') ? listingButton(p, ctx, () => load(true)) : null,
        h('a', {href: `#/products/${p.id}/rebate`, class: 'rebate'}, '排队返利设置'))],
    ], page.items, '没有商品');
    rows.append(grid);
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); load(true); });
  root.append(form, rows, more);
  await load(true);
}

function syncKind(form) {
  const kind = form.querySelector("[data-path='kind'] select");
  if (!kind) return;
  const sync = () => {
    for (const [path, only] of Object.entries(ONLY)) form.querySelector(`[data-path='${path}']`).hidden = kind.value !== only;
  };
  kind.addEventListener('change', sync);
  sync();
}

async function save(view, editors, banner) {
  banner.hidden = true;
  const {ctx, product} = view;
  let body;
  if (product) {
    body = changes(editors);
    if (body !== null && !Object.keys(body).length) {
      ctx.toast('没有修改');
      return;
    }
  } else {
    body = collect(editors);
    for (const [path, only] of Object.entries(ONLY)) if (body && body.kind !== only) body[path] = null;
  }
  if (body === null) return;
  try {
    const saved = product
      ? await request('PATCH', `/api/admin/products/${product.id}`, {body})
      : await post('/api/admin/products', body);
    ctx.toast('已保存');
    if (product) draw({...view, product: saved.product});
    else location.hash = `#/products/${saved.product.id}`;
  } catch (e) {
    if (!(e instanceof ApiError) || ![400, 409].includes(e.status)) {
      clear(banner, e.message);
      banner.hidden = false;
      return;
    }
    showRefusal(e, editors, banner, null, () => false);
  }
}

function draw(view) {
  const {root, ctx, product, stores, suppliers, defaults} = view;
  const editors = [];
  const banner = h('div', {class: 'error banner', hidden: true, id: 'product-error'});
  const title = product ? `${product.name} #${product.id}` : '新增商品';
  const form = h('form', {class: 'settings', id: 'product-form'},
    h('h2', {}, title),
    product ? h('p', {class: 'muted'}, `${KIND_NAMES[product.kind]}${product.store_id ? ` · 门店 ${product.store_id}` : ''} · ${product.listed ? '上架' : '下架'} · 创建于 ${when(product.created_at)}`) : null,
    productFields(stores, suppliers, !product).map((f) => fieldRow(f, product || defaults, editors)),
    banner,
    ctx.can('operations') ? h('div', {class: 'actions sticky'},
      h('button', {type: 'submit', class: 'primary', id: 'product-save'}, '保存'),
      product ? listingButton(product, ctx, () => ctx.refresh()) : null,
      product ? h('a', {href: `#/products/${product.id}/rebate`, id: 'product-rebate'}, '排队返利设置') : null) : null);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    save(view, editors, banner);
  });
  if (product && product.kind !== 'supplier') {
    for (const path of ['supplier_id', 'supply_price_fen']) form.querySelector(`[data-path='${path}']`).hidden = true;
  }
  clear(root, h('p', {}, h('a', {href: '#/products'}, '← 商品列表')), form);
  syncKind(form);
}

async function editor(root, ctx, productId) {
  const {stores, suppliers} = await choices();
  if (productId === 'new') {
    const {base} = await get('/api/admin/settings');
    const defaults = {kind: 'self', images: [], rebate_enabled: Boolean(base.new_products_enabled)};
    draw({root, ctx, product: null, stores, suppliers, defaults});
    return;
  }
  const {product} = await get(`/api/admin/products/${productId}`);
  draw({root, ctx, product, stores, suppliers});
}

export async function render(root, ctx, productId, part) {
  if (productId && part === 'rebate') {
    const {product} = await get(`/api/admin/products/${productId}`);
    const back = h('p', {}, h('a', {href: '#/products'}, '← 商品列表'));
    await renderTarget(root, ctx, 'product', product.id, {title: `商品「${product.name}」`, back});
  } else if (productId) {
    await editor(root, ctx, productId);
  } else {
    await list(root, ctx);
  }
}
