// The console's shell: the left navigation, the header (operator, role, 退出) and a hash router
// (#/settings …) that renders one page module into #page.
import {ApiError, loadSession, logout} from './api.js';
import {clear, h} from './h.js';
import * as applications from './pages/applications.js';
import * as audit from './pages/audit.js';
import * as dashboard from './pages/dashboard.js';
import * as distribution from './pages/distribution.js';
import * as exports from './pages/exports.js';
import * as jobs from './pages/jobs.js';
import * as members from './pages/members.js';
import * as orders from './pages/orders.js';
import * as products from './pages/products.js';
import * as queues from './pages/queues.js';
import * as settings from './pages/settings.js';
import * as statements from './pages/statements.js';
import * as stores from './pages/stores.js';
import * as suppliers from './pages/suppliers.js';
import * as unionPool from './pages/union-pool.js';
import * as withdrawals from './pages/withdrawals.js';

// [hash, 导航名称, page module]; a page's `render(root, ctx, ...params)` fills #page.
const PAGES = [
  ['', '概览', dashboard],
  ['settings', '基础设置', settings],
  ['products', '商品', products],
  ['suppliers', '供应商', suppliers],
  ['stores', '门店', stores],
  ['queues', '队列', queues],
  ['union-pool', '工会排队', unionPool],
  ['members', '会员', members],
  ['orders', '订单', orders],
  ['withdrawals', '提现审核', withdrawals],
  ['applications', '商家入驻审核', applications],
  ['statements', '商家结算单', statements],
  ['distribution', '分销设置', distribution],
  ['team-levels', '团队等级', distribution.levels],
  ['exports', '导出', exports],
  ['jobs', '任务', jobs],
  ['audit', '操作日志', audit],
];

const ROLE_NAMES = {owner: '所有者', finance: '财务', operations: '运营', support: '客服', token: '接口令牌'};

// The permissions the session grants — a map {permission: granted} or a list of names — as a
// set; null: every action shown (the server decides). Pages ask ctx.can('view' | 'members.view'
// | 'money' | 'operations' | 'operators'), the permissions the operators' routes declare.
function grantedBy(permissions) {
  if (!permissions) return null;
  if (Array.isArray(permissions)) return new Set(permissions);
  return new Set(Object.entries(permissions).filter(([, on]) => on).map(([name]) => name));
}

function route() {
  const [name = '', ...params] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const found = PAGES.find(([hash]) => hash === name) || PAGES[0];
  return {page: found, params};
}

export function toast(message, kind = 'ok') {
  const box = document.getElementById('toast');
  box.textContent = message;
  box.className = `show ${kind}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.className = ''), 4000);
}

function drawMenu(current) {
  clear(document.getElementById('menu'), PAGES.map(([hash, title]) =>
    h('a', {href: `#/${hash}`, class: hash === current ? 'active' : null}, title)));
}

function drawHeader(session) {
  const role = session.role_name || ROLE_NAMES[session.role] || session.role || '';
  clear(document.getElementById('who'),
    h('span', {class: 'operator', id: 'operator-name'}, session.name),
    role ? h('span', {class: 'role'}, role) : null,
    h('button', {type: 'button', class: 'link', id: 'logout', onclick: () => logout()}, '退出'));
}

async function show(ctx) {
  const {page: [hash, title, module], params} = route();
  drawMenu(hash);
  document.getElementById('crumb').textContent = title;
  document.title = `${title} · 排队返利运营后台`;
  const root = document.getElementById('page');
  clear(root, h('p', {class: 'muted'}, '加载中…'));
  delete root.dataset.page;
  const mine = (ctx.renders = (ctx.renders || 0) + 1);
  try {
    const view = h('div', {class: 'view', id: `page-${hash || 'dashboard'}`});
    await module.render(view, ctx, ...params);
    if (mine !== ctx.renders) return;
    clear(root, view);
    root.dataset.page = hash || 'dashboard';
  } catch (error) {
    if (mine !== ctx.renders) return;
    clear(root, h('p', {class: 'error'}, error instanceof ApiError ? error.message : `页面出错：${error.message}`));
    if (!(error instanceof ApiError)) console.error(error);
  }
}

async function start() {
  let session;
  try {
    session = await loadSession();
  } catch (error) {
    clear(document.getElementById('page'), h('p', {class: 'error'}, error.message));
    return;
  }
  const granted = grantedBy(session.permissions);
  const ctx = {
    session,
    // actions the role lacks are hidden (the server refuses them anyway, 403)
    can: (permission) => granted === null || granted.has(permission),
    toast,
    refresh: () => show(ctx),
  };
  drawHeader(session);
  window.addEventListener('hashchange', () => show(ctx));
  await show(ctx);
  document.body.dataset.ready = 'true';
}

start();
