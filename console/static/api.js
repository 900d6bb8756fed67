// The console's one client of the operators' HTTP API (/api/admin/...). The console holds no
// rule of its own: it calls the API and shows what it answers.
//
// Authentication: the session cookie (HttpOnly, sent by the browser: credentials 'same-origin')
// with its CSRF token on every state-changing request (X-CSRF-Token), or — for API-client
// tokens and tests — a bearer token kept in sessionStorage.qr_admin_token. A 401 sends the
// operator to the login page.

export const LOGIN_PAGE = '/admin/login';
const TOKEN_KEY = 'qr_admin_token';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

let csrfToken = '';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `请求失败（${status}）`);
    this.status = status;
    this.code = (body && body.code) || 'http_error';
    this.field = (body && body.field) || null;
    this.body = body || {};
  }
}

export function bearerToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function toLogin() {
  const back = location.pathname + location.hash;
  location.assign(`${LOGIN_PAGE}?next=${encodeURIComponent(back)}`);
}

function url(path, query) {
  const u = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== '') u.searchParams.set(name, value);
  }
  return u.pathname + u.search;
}

// A file the API streams (an export): its bytes as a Blob, or an ApiError.
export async function download(path, query) {
  const headers = {};
  const token = bearerToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url(path, query), {headers, credentials: 'same-origin'});
  if (response.status === 401) toLogin();
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    throw new ApiError(response.status, data);
  }
  return response.blob();
}

// One request; the parsed JSON answer (null for 204), or an ApiError. `redirect: false` keeps a
// 401 from leaving the page (the login page itself, the session probe).
export async function request(method, path, {body, query, redirect = true} = {}) {
  const headers = {Accept: 'application/json'};
  const token = bearerToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (UNSAFE.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(url(path, query), {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.status === 401 && redirect) toLogin();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path, query) => request('GET', path, {query});
export const post = (path, body = {}) => request('POST', path, {body});
export const put = (path, body) => request('PUT', path, {body});
export const patch = (path, body) => request('PATCH', path, {body});
export const del = (path) => request('DELETE', path);

// Every page of a paged list (items, next_cursor), up to `most` items.
export async function all(path, query = {}, most = 500) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(path, {...query, cursor, limit: 50});
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null && items.length < most);
  return items;
}

// Who is signed in: {name, role, permissions, csrf_token}. With a bearer token and no session
// (API-client mode), the token's holder: every action shown, the server decides.
export async function loadSession() {
  try {
    const session = await request('GET', '/api/admin/session', {redirect: !bearerToken()});
    csrfToken = session.csrf_token || '';
    return session;
  } catch (error) {
    if (bearerToken() && error instanceof ApiError && error.status !== 401) {
      return {name: '接口令牌', role: 'token', permissions: null, csrf_token: ''};
    }
    throw error;
  }
}

export async function logout() {
  try {
    await request('DELETE', '/api/admin/session', {redirect: false});
  } finally {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // storage disabled: nothing kept there
    }
    location.assign(LOGIN_PAGE);
  }
}

export async function login(name, password) {
  const session = await request('POST', '/api/admin/session', {body: {name, password}, redirect: false});
  csrfToken = (session && session.csrf_token) || '';
  return session;
}
