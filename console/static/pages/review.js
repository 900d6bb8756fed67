// What the review pages share: a status filter, a paged table and an action cell whose reject
// asks for a reason in place.
import {get} from '../api.js';
import {clear, h, table} from '../h.js';

export function reasonForm({label, min, max, onsubmit, id}) {
  const text = h('input', {type: 'text', placeholder: label, minlength: min, maxlength: max, required: true, class: 'reason'});
  const form = h('form', {class: 'inline reason-form', hidden: true, dataset: {for: id}}, text,
    h('button', {type: 'submit', class: 'danger'}, '确认驳回'),
    h('button', {type: 'button', class: 'link', onclick: () => (form.hidden = true)}, '取消'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    onsubmit(text.value.trim());
  });
  return form;
}

// A list page: `statuses` [[value, 名称]], `path` the list endpoint, `columns` the table.
export async function reviewList(root, {path, statuses, initial, columns, empty}) {
  const status = h('select', {class: 'status-filter'}, statuses.map(([v, t]) => h('option', {value: v, selected: v === initial}, t)));
  const body = h('div');
  let cursor = null;
  const more = h('button', {type: 'button', hidden: true, onclick: () => load(false)}, '加载更多');
  async function load(fresh) {
    if (fresh) { cursor = null; clear(body); }
    const page = await get(path, {status: status.value, cursor, limit: 50});
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    body.append(table(columns, page.items, empty));
  }
  status.addEventListener('change', () => load(true));
  root.append(h('div', {class: 'filters'}, status), body, more);
  await load(true);
  return () => load(true);
}
