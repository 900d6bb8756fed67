// 基础设置: every setting of GET /api/admin/settings with its seed name and help text; 保存 sends
// only what changed (PUT /api/admin/settings). A refused value is shown under its field (the
// API's 400 names it) and nothing is saved; the commission guardrail's refusal offers 确认并保存
// (the same change with acknowledge: true, recorded in the operation log).
import {ApiError, get, post, put} from '../api.js';
import {bpOf, fenOf, intOf, pct} from '../format.js';
import {append, clear, h} from '../h.js';
import {CLEARING_KINDS, GROUPS, ITEMS, WEEKDAYS} from './settings-fields.js';

class Unreadable extends Error {}

const at = (doc, path) => path.split('.').reduce((v, k) => (v === null || v === undefined ? undefined : v[k]), doc);

function place(patch, path, value) {
  const keys = path.split('.');
  let node = patch;
  for (const k of keys.slice(0, -1)) node = node[k] = node[k] || {};
  node[keys.at(-1)] = value;
}

const percentText = (bp) => (bp === null || bp === undefined ? '' : pct(bp).replace('%', ''));
const yuanText = (fen) => (fen === null || fen === undefined ? '' : (fen / 100).toFixed(2));

function parsed(value, parse, what) {
  const result = parse(value);
  if (result === null) throw new Unreadable(what);
  return result;
}

function input(value, attrs = {}) {
  return h('input', {type: 'text', value: value === null || value === undefined ? '' : String(value), ...attrs});
}

function select(choices, current, attrs = {}) {
  return h('select', attrs, choices.map(([value, label]) =>
    h('option', {value: String(value), selected: String(value) === String(current)}, label)));
}

// Editors: {el, read()} for each kind; read() throws Unreadable for text it cannot turn into a value.
const EDITORS = {
  bool(value) {
    const box = h('input', {type: 'checkbox', checked: Boolean(value)});
    return {el: h('label', {class: 'switch'}, box, h('span', {}, '开启')), read: () => box.checked};
  },
  choice(value, field) {
    const el = select(field.choices, value);
    return {el, read: () => el.value};
  },
  text(value) {
    const el = input(value);
    return {el, read: () => el.value};
  },
  int(value) {
    const el = input(value, {inputmode: 'numeric', class: 'short'});
    return {el, read: () => parsed(el.value, intOf, '请输入整数')};
  },
  bp(value) {
    const el = input(percentText(value), {inputmode: 'decimal', class: 'short'});
    return {el: h('span', {class: 'unit'}, el, '%'), read: () => parsed(el.value, bpOf, '请输入百分比（最多两位小数）')};
  },
  fen(value) {
    const el = input(yuanText(value), {inputmode: 'decimal', class: 'short'});
    return {el: h('span', {class: 'unit'}, el, '元'), read: () => parsed(el.value, fenOf, '请输入金额（元，最多两位小数）')};
  },
  levels(value) {
    return rows(Object.entries(value || {}).map(([rank, bp]) => [rank, percentText(bp)]),
      [['等级', 'short'], ['比例 %', 'short']],
      (cells) => Object.fromEntries(cells.map(([rank, bp]) => [String(parsed(rank, intOf, '等级须为整数')), parsed(bp, bpOf, '比例须为百分比')])));
  },
  tiers(value) {
    return rows((value || []).map((t) => [t.days, yuanText(t.min_amount_fen), percentText(t.ratio_bp)]),
      [['天数', 'short'], ['累计金额 元', 'short'], ['比例 %', 'short']],
      (cells) => cells.map(([days, amount, bp]) => ({
        days: parsed(days, intOf, '天数须为整数'),
        min_amount_fen: parsed(amount, fenOf, '金额须为元'),
        ratio_bp: parsed(bp, bpOf, '比例须为百分比'),
      })));
  },
  lottery(value) {
    const mode = select([['', '不开启'], ['fixed', '固定比例'], ['range', '区间比例']], value ? value.mode : '');
    const list = input(value && value.ratios_bp ? value.ratios_bp.map(percentText).join(', ') : '', {placeholder: '如 10, 20, 50'});
    const low = input(percentText(value && value.low_bp), {class: 'short'});
    const high = input(percentText(value && value.high_bp), {class: 'short'});
    const fixed = h('span', {class: 'sub'}, '比例 % ', list);
    const range = h('span', {class: 'sub'}, '从 ', low, '% 到 ', high, '%');
    const sync = () => { fixed.hidden = mode.value !== 'fixed'; range.hidden = mode.value !== 'range'; };
    mode.addEventListener('change', sync);
    sync();
    return {
      el: h('span', {class: 'inline'}, mode, fixed, range),
      read() {
        if (!mode.value) return null;
        if (mode.value === 'fixed') {
          const ratios = list.value.split(/[,，\s]+/).filter(Boolean).map((t) => parsed(t, bpOf, '比例须为百分比，用逗号分隔'));
          return {mode: 'fixed', ratios_bp: ratios};
        }
        return {mode: 'range', low_bp: parsed(low.value, bpOf, '比例须为百分比'), high_bp: parsed(high.value, bpOf, '比例须为百分比')};
      },
    };
  },
  random_return(value) {
    const on = h('input', {type: 'checkbox', checked: Boolean(value)});
    const size = input(value ? value.group_size : 3, {class: 'short'});
    const cash = input(value ? value.cash_places : 1, {class: 'short'});
    const points = input(value ? value.points_places : 2, {class: 'short'});
    return {
      el: h('span', {class: 'inline'}, h('label', {class: 'switch'}, on, h('span', {}, '开启')),
        h('span', {class: 'sub'}, '每组人数 ', size, ' 每组返现金人数 ', cash, ' 每组返积分人数 ', points)),
      read: () => (on.checked ? {
        group_size: parsed(size.value, intOf, '人数须为整数'),
        cash_places: parsed(cash.value, intOf, '人数须为整数'),
        points_places: parsed(points.value, intOf, '人数须为整数'),
      } : null),
    };
  },
  clearing(value) {
    const doc = value || {};
    const on = h('input', {type: 'checkbox', checked: Boolean(doc.enabled)});
    const kind = select(CLEARING_KINDS, doc.kind);
    const time = input(doc.at || '00:00', {class: 'short', placeholder: 'HH:MM'});
    const weekday = select(WEEKDAYS, doc.weekday || 1);
    const day = input(doc.day || 1, {class: 'short'});
    const once = input(doc.once_at || '', {placeholder: 'YYYY-MM-DDTHH:MM'});
    const parts = {weekly: h('span', {class: 'sub'}, weekday), monthly: h('span', {class: 'sub'}, '每月第 ', day, ' 日'), once: h('span', {class: 'sub'}, once)};
    const at = h('span', {class: 'sub'}, ' 时间 ', time);
    const sync = () => {
      for (const [name, el] of Object.entries(parts)) el.hidden = kind.value !== name;
      at.hidden = kind.value === 'once';
    };
    kind.addEventListener('change', sync);
    sync();
    return {
      el: h('span', {class: 'inline'}, h('label', {class: 'switch'}, on, h('span', {}, '开启')), kind, parts.weekly, parts.monthly, parts.once, at),
      read: () => ({
        enabled: on.checked, kind: kind.value, at: time.value.trim(), weekday: Number(weekday.value),
        day: parsed(day.value, intOf, '日期须为整数'), once_at: once.value.trim() || null,
      }),
    };
  },
};

// A small table of rows of text cells, with 添加 / 删除; build(cells) turns them into the value.
function rows(initial, columns, build) {
  const body = h('tbody');
  const add = (cells = columns.map(() => '')) => {
    const inputs = cells.map((c, i) => input(c, {class: columns[i][1], 'aria-label': columns[i][0]}));
    const row = h('tr', {}, inputs.map((el) => h('td', {}, el)),
      h('td', {}, h('button', {type: 'button', class: 'link', onclick: () => row.remove()}, '删除')));
    row.inputs = inputs;
    body.append(row);
  };
  initial.forEach(add);
  const el = h('div', {class: 'rows'},
    h('table', {class: 'mini'}, h('thead', {}, h('tr', {}, columns.map(([t]) => h('th', {}, t)), h('th'))), body),
    h('button', {type: 'button', class: 'link', onclick: () => add()}, '＋ 添加'));
  return {el, read: () => build([...body.children].map((row) => row.inputs.map((i) => i.value)))};
}

function fieldRow(field, settings, editors, ctx) {
  const error = h('div', {class: 'error field-error', hidden: true});
  let control;
  if (field.kind === 'enable_all') {
    control = enableAll(ctx);
  } else {
    const editor = EDITORS[field.kind](at(settings, field.path), field);
    editors.push({field, editor, error, original: JSON.stringify(editor.read())});
    control = editor.el;
  }
  return h('div', {class: 'field', dataset: {path: field.path || field.kind}},
    h('div', {class: 'name'}, field.no ? h('span', {class: 'no'}, `${field.no})`) : null, field.label),
    h('div', {class: 'control'}, control, field.help ? h('div', {class: 'help'}, field.help) : null, error));
}

function enableAll(ctx) {
  const box = h('span', {class: 'inline'});
  const ask = h('button', {type: 'button', id: 'enable-all', disabled: !ctx.can('settings.write')}, '一键启用');
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

function changes(editors) {
  const patch = {};
  let unreadable = false;
  for (const {field, editor, error, original} of editors) {
    error.hidden = true;
    try {
      const value = editor.read();
      if (JSON.stringify(value) !== original) place(patch, field.path, value);
    } catch (e) {
      if (!(e instanceof Unreadable)) throw e;
      error.textContent = e.message;
      error.hidden = false;
      unreadable = true;
    }
  }
  return unreadable ? null : patch;
}

// The editor the API's `field` (e.g. base.ratios.tiers.0.days) belongs to: the longest path it starts with.
function editorOf(editors, field) {
  const owners = editors.filter(({field: f}) => field === f.path || field.startsWith(f.path + '.'));
  return owners.sort((a, b) => b.field.path.length - a.field.path.length)[0];
}

function showRefusal(error, editors, banner, retry) {
  const owner = error.field ? editorOf(editors, error.field) : null;
  const box = owner ? owner.error : banner;
  clear(box, error.message);
  if (error.code === 'invalid_setting' && /extract_bp$/.test(error.field || '')) {
    append(box, [' ', h('button', {type: 'button', class: 'danger', id: 'acknowledge', onclick: retry}, '确认并保存')]);
  }
  box.hidden = false;
  (owner ? box.closest('.field') : box).scrollIntoView({block: 'center'});
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
    showRefusal(e, editors, banner, () => save(ctx, editors, banner, root, true));
  }
}

function draw(root, settings, ctx) {
  const editors = [];
  const banner = h('div', {class: 'error banner', hidden: true, id: 'settings-error'});
  const form = h('form', {class: 'settings', id: 'settings-form'},
    h('h2', {}, '排队返利基础设置'),
    ITEMS.map((f) => fieldRow(f, settings, editors, ctx)),
    GROUPS.map(([title, fields]) => [h('h2', {}, title), fields.map((f) => fieldRow(f, settings, editors, ctx))]),
    banner,
    ctx.can('settings.write') ? h('div', {class: 'actions sticky'}, h('button', {type: 'submit', class: 'primary', id: 'settings-save'}, '保存')) : null);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    save(ctx, editors, banner, root);
  });
  clear(root, form);
}

export async function render(root, ctx) {
  draw(root, await get('/api/admin/settings'), ctx);
}
