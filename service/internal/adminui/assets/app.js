// The ad-ops page's one script (see package adminui): it keeps the admin token in
// this tab's sessionStorage, fetches the server-rendered content of the current
// URL with it, and rolls back through the admin API.
'use strict';

const tokenKey = 'asap-admin-token';
const main = document.getElementById('main');
const login = document.getElementById('login');
const problem = document.getElementById('login-problem');
const flash = document.getElementById('flash');
const signout = document.getElementById('signout');

function auth() {
  return {Authorization: 'Bearer ' + sessionStorage.getItem(tokenKey)};
}

function askToken(message) {
  main.replaceChildren();
  signout.hidden = true;
  login.hidden = false;
  problem.textContent = message || '';
  document.getElementById('token').focus();
  document.body.dataset.state = 'login';
}

// load replaces the content with what the server renders for this URL.
async function load() {
  if (!sessionStorage.getItem(tokenKey)) {
    askToken('');
    return;
  }
  document.body.dataset.state = 'loading';
  let res;
  try {
    res = await fetch(location.pathname + location.search, {headers: auth(), cache: 'no-store'});
  } catch (err) {
    flash.textContent = 'ASAP did not answer: ' + err.message;
    document.body.dataset.state = 'error';
    return;
  }
  if (res.status === 401 || res.status === 403) {
    sessionStorage.removeItem(tokenKey);
    askToken(await res.text());
    return;
  }
  login.hidden = true;
  signout.hidden = false;
  main.innerHTML = await res.text(); // html/template's output, escaped on the server
  document.body.dataset.state = 'ready';
}

login.addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('token');
  sessionStorage.setItem(tokenKey, input.value.trim());
  input.value = '';
  load();
});

signout.addEventListener('click', () => {
  sessionStorage.removeItem(tokenKey);
  flash.textContent = '';
  askToken('');
});

main.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-rollback]');
  if (!button) {
    return;
  }
  button.disabled = true;
  const {pkey, rollback, current} = button.dataset;
  let res, body = {};
  try {
    res = await fetch('/admin/placements/' + encodeURIComponent(pkey) + '/rollback', {
      method: 'POST',
      // If-Match: the rollback applies only to the version this page shows.
      headers: {...auth(), 'Content-Type': 'application/json', 'If-Match': '"' + current + '"'},
      body: JSON.stringify({version: Number(rollback)}),
    });
    body = await res.json().catch(() => ({}));
  } catch (err) {
    flash.textContent = 'ASAP did not answer: ' + err.message;
    button.disabled = false;
    return;
  }
  if (!res.ok) {
    flash.textContent = 'Rollback refused (' + res.status + '): ' + (body.error || res.statusText);
    button.disabled = false;
    return;
  }
  flash.textContent = 'Rolled back ' + pkey + ' to version ' + rollback + ': it is now version ' + body.version + '.';
  history.replaceState(null, '', location.pathname); // compare the new version with the one before
  await load();
});

load();
