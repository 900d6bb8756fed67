// The settings forms' parts (基础设置, 分销设置, 团队等级): an editor per kind of value, a field row
// with its seed name, help text and error slot, the patch of what changed, and a refusal shown
// under the field the API's 400 names (with 确认并保存 when it is the commission guardrail's).
import {bpOf, fenOf, intOf, pct} from '../format.js';
import {append, clear, h} from '../h.js';
import {CLEARING_KINDS, WEEKDAYS} from './settings-fields.js';

export class Unreadable extends Error {}

export const at = (doc, path) => path.split('.').reduce((v, k) => (v === null || v === undefined ? undefined : v[k]), doc);

function place(patch, path, value) {
  const keys = path.split('.');
  let node = patch;
  for (const k of keys.slice(0, -1)) node = node[k] = node[k] || {};
  node[keys.at(-1)] = value;
}

export const percentText = (bp) => (bp === null || bp === undefined ? '' : pct(bp).replace('%', ''));
export const yuanText = (fen) => (fen === null || fen === undefined ? '' : (fen / 100).toFixed(2));

export function parsed(value, parse, what) {
  const result = parse(value);
  if (result === null) throw new Unreadable(what);
  return result;
}

export function input(value, attrs = {}) {
  return h('input', {type: 'text', value: value === null || value === undefined ? '' : String(value), ...attrs});
}

export function select(choices, current, attrs = {}) {
  return h('select', attrs, choices.map(([value, label]) =>
    h('option', {value: String(value), selected: String(value) === String(current)}, label)));
}

// Editors: {el, read()} for each kind; read() throws Unreadable for text it cannot turn into a value.
export const EDITORS = {
  bool(value) {
    const box = h('input', {type: 'checkbox', checked: Boolean(value)});
    return {el: h('label', {class: 'switch'}, box, h('span', {}, '开启')), read: () => box.checked};
  },
  choice(value, field) {
    const el = select(field.choices, value);
    return {el, read: () => el.value};
  },
  text(value, field) {
    const el = input(value);
    return {el, read: () => (field.nullable && !el.value.trim() ? null : el.value)};
  },
  int(value, field) {
    const el = input(value, {inputmode: 'numeric', class: 'short'});
    return {el, read: () => (field.nullable && !el.value.trim() ? null : parsed(el.value, intOf, '请输入整数'))};
  },
  bp(value, field) {
    const el = input(percentText(value), {inputmode: 'decimal', class: 'short'});
    return {el: h('span', {class: 'unit'}, el, '%'),
      read: () => (field.nullable && !el.value.trim() ? null : parsed(el.value, bpOf, '请输入百分比（最多两位小数）'))};
  },
  fen(value, field) {
    const el = input(yuanText(value), {inputmode: 'decimal', class: 'short', placeholder: field.placeholder || null});
    return {el: h('span', {class: 'unit'}, el, '元'),
      read: () => (field.nullable && !el.value.trim() ? null : parsed(el.value, fenOf, '请输入金额（元，最多两位小数）'))};
  },
  // an id chosen by name (field.choices: [[id, name]]); '' is none (null)
  ref(value, field) {
    const el = select([['', field.none || '无'], ...field.choices], value ?? '');
    return {el, read: () => (el.value === '' ? null : Number(el.value))};
  },
  // a list of texts, one a line (图片地址)
  lines(value) {
    const el = h('textarea', {rows: 3, cols: 60}, (value || []).join('\n'));
    return {el, read: () => el.value.split('\n').map((t) => t.trim()).filter(Boolean)};
  },
  // 奖励时间段: HH:MM to HH:MM (北京时间)
  windows(value) {
    return rows((value || []).map((w) => [w.start, w.end]), [['开始 HH:MM', 'short'], ['结束 HH:MM', 'short']],
      (cells) => cells.map(([start, end]) => ({start: start.trim(), end: end.trim()})));
  },
  // several of field.choices ([value, label]), as a list of the values ticked
  set(value, field) {
    const boxes = field.choices.map(([v, label]) => [v, h('input', {type: 'checkbox', value: v, checked: (value || []).includes(v)}), label]);
    return {
      el: h('span', {class: 'inline'}, boxes.map(([, box, label]) => h('label', {class: 'switch'}, box, h('span', {}, label)))),
      read: () => boxes.filter(([, box]) => box.checked).map(([v]) => v),
    };
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
  team_levels(value) {
    return rows((value || []).map((l) => [l.level, l.name, percentText(l.rate_bp), yuanText(l.min_team_turnover_fen), l.min_direct_referrals ?? '']),
      [['等级', 'short'], ['名称', 'short'], ['级差比例 %', 'short'], ['团队业绩门槛 元', 'short'], ['直推人数门槛', 'short']],
      (cells) => cells.map(([level, name, rate, turnover, referrals]) => ({
        level: parsed(level, intOf, '等级须为整数'),
        name: name.trim(),
        rate_bp: parsed(rate, bpOf, '比例须为百分比'),
        min_team_turnover_fen: turnover.trim() ? parsed(turnover, fenOf, '金额须为元') : null,
        min_direct_referrals: referrals.trim() ? parsed(referrals, intOf, '人数须为整数') : null,
      })));
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
export function rows(initial, columns, build) {
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

// `special(field)` builds the control of a field that is an action rather than a value.
export function fieldRow(field, settings, editors, special = () => null) {
  const error = h('div', {class: 'error field-error', hidden: true});
  let control;
  if (!EDITORS[field.kind]) {
    control = special(field);
  } else {
    const editor = EDITORS[field.kind](at(settings, field.path), field);
    let original = null;
    try {
      original = JSON.stringify(editor.read());
    } catch {
      // a stored value the editor cannot show as typed: any value typed replaces it
    }
    editors.push({field, editor, error, original});
    control = editor.el;
  }
  return h('div', {class: 'field', dataset: {path: field.path || field.kind}},
    h('div', {class: 'name'}, field.no ? h('span', {class: 'no'}, `${field.no})`) : null, field.label),
    h('div', {class: 'control'}, control, field.help ? h('div', {class: 'help'}, field.help) : null, error));
}

export function changes(editors) {
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

// Every value of the form (a whole document, as a create or a replacing PUT sends it); null when
// a value cannot be read (shown under its field).
export function collect(editors) {
  const doc = {};
  let unreadable = false;
  for (const {field, editor, error} of editors) {
    error.hidden = true;
    try {
      place(doc, field.path, editor.read());
    } catch (e) {
      if (!(e instanceof Unreadable)) throw e;
      error.textContent = e.message;
      error.hidden = false;
      unreadable = true;
    }
  }
  return unreadable ? null : doc;
}

// The editor the API's `field` (e.g. base.ratios.tiers.0.days) belongs to: the longest path it starts with.
export function editorOf(editors, field) {
  const owners = editors.filter(({field: f}) => field === f.path || field.startsWith(f.path + '.') || field.startsWith(f.path + '['));
  return owners.sort((a, b) => b.field.path.length - a.field.path.length)[0];
}

// `guarded(error)`: the refusal is the commission guardrail's, which an acknowledgement lifts.
export function showRefusal(error, editors, banner, retry, guarded) {
  const owner = error.field ? editorOf(editors, error.field) : null;
  const box = owner ? owner.error : banner;
  clear(box, error.message);
  if (error.code === 'invalid_setting' && guarded(error.field || '')) {
    append(box, [' ', h('button', {type: 'button', class: 'danger', id: 'acknowledge', onclick: retry}, '确认并保存')]);
  }
  box.hidden = false;
  (owner ? box.closest('.field') : box).scrollIntoView({block: 'center'});
}

