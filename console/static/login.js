// The login page: POST /api/admin/session {name, password} sets the session cookie; then back
// to the page the operator came from (only a console page: never another site).
import {ApiError, login} from './api.js';

const form = document.getElementById('login');
const error = document.getElementById('login-error');

function next() {
  const target = new URLSearchParams(location.search).get('next') || '/admin/';
  return target.startsWith('/admin/') && !target.startsWith('//') ? target : '/admin/';
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  const data = new FormData(form);
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    await login(String(data.get('name')), String(data.get('password')));
    location.assign(next());
  } catch (e) {
    error.textContent = e instanceof ApiError && e.status === 401 ? '账号或密码错误' : e.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});
