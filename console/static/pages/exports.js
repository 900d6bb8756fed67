// 导出: entries, postings, withdrawals or merchant statements of a date range, as the CSV the
// API streams (GET /api/admin/exports/{kind}); saved by the browser as a file.
import {download} from '../api.js';
import {clear, h} from '../h.js';

const KINDS = {postings: '资金流水', entries: '排队权益', withdrawals: '提现', statements: '商家结算单'};

export async function render(root, ctx) {
  const outcome = h('p', {id: 'export-outcome'});
  const kind = h('select', {name: 'kind'}, Object.entries(KINDS).map(([value, label]) => h('option', {value}, label)));
  const from = h('input', {name: 'from', type: 'date'});
  const to = h('input', {name: 'to', type: 'date'});
  const go = async (event) => {
    event.preventDefault();
    try {
      const blob = await download(`/api/admin/exports/${kind.value}`, {from: from.value, to: to.value});
      const link = h('a', {href: URL.createObjectURL(blob), download: `${kind.value}.csv`}, '');
      document.body.append(link);
      link.click();
      link.remove();
      clear(outcome, `已导出：${KINDS[kind.value]}（${blob.size} 字节）`);
    } catch (e) {
      clear(outcome, h('span', {class: 'error'}, e.message));
    }
  };
  root.append(
    h('h2', {}, '导出'),
    h('form', {id: 'export', class: 'card', onsubmit: go},
      h('label', {}, '内容', kind),
      h('label', {}, '起始日期', from),
      h('label', {}, '截止日期（含）', to),
      ctx.can('money') ? h('button', {type: 'submit', class: 'primary'}, '导出 CSV') : h('p', {}, '需要财务权限')),
    outcome);
}
