// Browser token mode, in plain JavaScript.
//
// - The access token is kept in a variable of this script and nowhere
//   else: not in Web Storage, IndexedDB or a cookie.
// - The refresh token never reaches JavaScript: with
//   refresh_token_delivery=cookie the server sets it as an HttpOnly cookie
//   that only /oauth2/token receives.
// - A refresh is scheduled before the access token expires. Tabs take the
//   Web Lock "authd-refresh" to refresh one at a time, and share the new
//   access token on the BroadcastChannel "authd". (The server tolerates two
//   tabs refreshing at once anyway, within its grace window.)
'use strict';
(() => {
  const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
  const el = {
    status: $('status'),
    email: $('user-email'),
    expiry: $('token-expiry'),
    count: $('refresh-count'),
    error: document.getElementById('demo-error'),
    login: document.getElementById('demo-login'),
    session: document.getElementById('demo-session'),
    form: document.getElementById('demo-login-form'),
    user: document.getElementById('demo-email'),
    password: document.getElementById('demo-password'),
  };

  let accessToken = null; // the only copy of the access token
  let expiresAt = 0; // ms since the epoch
  let generation = 0; // bumped by every new access token
  let renewals = 0;
  let refreshTimer = 0;

  const channel = 'BroadcastChannel' in window ? new BroadcastChannel('authd') : null;

  function status(text) {
    el.status.textContent = text;
  }

  function showError(text) {
    el.error.textContent = text;
    el.error.hidden = !text;
  }

  function showLogin(text) {
    clearToken();
    el.session.hidden = true;
    el.login.hidden = false;
    status(text || 'Signed out.');
  }

  function clearToken() {
    accessToken = null;
    expiresAt = 0;
    generation++;
    clearTimeout(refreshTimer);
    el.email.textContent = '';
  }

  // refreshDelay is when to refresh a token that lives expiresIn seconds:
  // 30 s before expiry, or half-way through for short lifetimes.
  function refreshDelay(expiresIn) {
    return Math.max(expiresIn * 0.5, expiresIn - 30) * 1000;
  }

  // useToken installs an access token, from this tab or from another one.
  function useToken(token, expiry, renewed) {
    accessToken = token;
    expiresAt = expiry;
    generation++;
    if (renewed) {
      renewals++;
      el.count.textContent = String(renewals);
    }
    clearTimeout(refreshTimer);
    const left = (expiresAt - Date.now()) / 1000;
    refreshTimer = setTimeout(() => refresh('scheduled'), Math.max(refreshDelay(left), 1000));
    el.expiry.dataset.expiresAt = String(expiresAt);
    showExpiry();
    el.login.hidden = true;
    el.session.hidden = false;
    showError('');
  }

  function showExpiry() {
    if (!accessToken) {
      el.expiry.textContent = '';
      return;
    }
    const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    el.expiry.textContent = `in ${left} s (${new Date(expiresAt).toLocaleTimeString()})`;
  }
  setInterval(showExpiry, 1000);

  class TokenError extends Error {
    constructor(status, body) {
      super((body && (body.error_description || body.error)) || `HTTP ${status}`);
      this.status = status;
      this.code = body && body.error;
    }
  }

  async function tokenRequest(params) {
    const res = await fetch('/oauth2/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
      credentials: 'same-origin',
      cache: 'no-store',
    });
    const body = await res.json().catch(() => null);
    if (!res.ok || !body || !body.access_token) {
      throw new TokenError(res.status, body);
    }
    // The refresh token must arrive as a cookie; one in the body is
    // dropped, never kept.
    delete body.refresh_token;
    return body;
  }

  function announce(msg) {
    if (channel) channel.postMessage(msg);
  }

  // refresh gets a new access token with the refresh cookie. It returns
  // true when this tab has a usable access token afterwards.
  async function refresh(reason) {
    const before = generation;
    const run = async () => {
      // Another tab refreshed while this one waited for the lock, and
      // shared its token: nothing left to do.
      if (generation !== before && accessToken && expiresAt - Date.now() > 5000) {
        return true;
      }
      status(reason === 'startup' ? 'Resuming the session…' : 'Refreshing the access token…');
      const body = await tokenRequest({ grant_type: 'refresh_token', refresh_token_delivery: 'cookie' });
      const expiry = Date.now() + body.expires_in * 1000;
      useToken(body.access_token, expiry, reason !== 'startup');
      announce({ type: 'token', accessToken: body.access_token, expiresAt: expiry, renewed: reason !== 'startup' });
      status(reason === 'startup' ? 'Session resumed.' : 'Access token refreshed by this tab.');
      return true;
    };
    try {
      const ok = navigator.locks ? await navigator.locks.request('authd-refresh', run) : await run();
      if (ok) await loadUser(false);
      return ok;
    } catch (err) {
      if (reason === 'startup') {
        showLogin('Not signed in.');
      } else {
        showLogin('The session ended. Sign in again.');
        showError(err.message);
      }
      return false;
    }
  }

  // loadUser calls the API with the access token; on 401 it refreshes
  // once and tries again.
  async function loadUser(retried) {
    if (!accessToken) return;
    const res = await fetch('/v1/user', {
      headers: { Authorization: `Bearer ${accessToken}` },
      credentials: 'omit',
      cache: 'no-store',
    });
    if (res.status === 401 && !retried) {
      if (await refresh('401')) await loadUser(true);
      return;
    }
    if (!res.ok) {
      showLogin('The API refused the token. Sign in again.');
      return;
    }
    const u = await res.json();
    el.email.textContent = u.email;
  }

  el.form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError('');
    status('Signing in…');
    try {
      const body = await tokenRequest({
        grant_type: 'password',
        username: el.user.value,
        password: el.password.value,
        refresh_token_delivery: 'cookie',
      });
      el.password.value = '';
      const expiry = Date.now() + body.expires_in * 1000;
      useToken(body.access_token, expiry, false);
      announce({ type: 'token', accessToken: body.access_token, expiresAt: expiry, renewed: false });
      status('Signed in.');
      await loadUser(false);
    } catch (err) {
      status('Sign-in failed.');
      if (err instanceof TokenError && err.code === 'invalid_grant') {
        showError('Wrong email or password.');
      } else if (err instanceof TokenError && err.status === 429) {
        showError('Too many attempts. Try again later.');
      } else {
        showError(err.message);
      }
    }
  });

  document.getElementById('demo-call').addEventListener('click', async () => {
    status('Calling GET /v1/user…');
    await loadUser(false);
    if (accessToken) status('GET /v1/user answered.');
  });

  document.getElementById('demo-refresh').addEventListener('click', () => refresh('manual'));

  document.getElementById('demo-logout').addEventListener('click', async () => {
    const token = accessToken;
    status('Signing out…');
    if (token) {
      await fetch('/v1/session', {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${token}` },
        credentials: 'same-origin',
      }).catch(() => {});
    }
    announce({ type: 'logout' });
    showLogin('Signed out.');
  });

  if (channel) {
    channel.addEventListener('message', (ev) => {
      const m = ev.data || {};
      if (m.type === 'token' && typeof m.accessToken === 'string' && m.expiresAt > expiresAt) {
        useToken(m.accessToken, m.expiresAt, m.renewed);
        status('Received a new access token from another tab.');
        loadUser(false);
      } else if (m.type === 'logout') {
        showLogin('Signed out in another tab.');
      }
    });
  }

  // A reload keeps the session: the refresh cookie survives it.
  refresh('startup');
})();
