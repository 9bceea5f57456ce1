// Browser token mode, in plain JavaScript.
//
// - Sign-in is the OAuth authorization code flow with PKCE (RFC 6749
//   §4.1, RFC 7636, OAuth 2.1) as authd's built-in public client: the
//   page sends the browser to /oauth2/authorize with a state and an S256
//   code challenge, authd signs the user in on its own page and comes back
//   to /demo/token with a code, and the page redeems the code with the
//   verifier. The verifier and the state wait in sessionStorage during
//   the round trip only (the page itself is gone meanwhile), and are
//   removed as soon as the browser is back.
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
    signIn: document.getElementById('demo-signin'),
  };

  // The code flow's client: the built-in public client, whose one
  // redirect URI is this page (the server's issuer + /demo/token).
  const clientId = el.signIn.dataset.clientId;
  const redirectUri = `${location.origin}/demo/token`;
  // sessionStorage key of the sign-in in progress: { state, verifier }.
  const pendingKey = 'authd-demo-signin';

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
    el.signIn.disabled = false;
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

  // withLock runs fn holding the Web Lock that serialises the use of the
  // refresh cookie across tabs: a refresh, or a sign-in that replaces it.
  function withLock(fn) {
    return navigator.locks ? navigator.locks.request('authd-refresh', fn) : fn();
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
      const ok = await withLock(run);
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

  // base64url without padding (RFC 7636 §4.1, Appendix A).
  function base64url(bytes) {
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function randomString(n) {
    return base64url(crypto.getRandomValues(new Uint8Array(n)));
  }

  // startSignIn sends the browser to the authorization endpoint.
  async function startSignIn() {
    showError('');
    if (!window.crypto || !crypto.subtle) {
      showError('Signing in needs a secure context (HTTPS): this browser offers no crypto.subtle here.');
      return;
    }
    // RFC 7636 §4.1: 32 random bytes, 43 characters; the challenge is
    // its SHA-256 (S256, the only method authd accepts).
    const verifier = randomString(32);
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
    const state = randomString(16);
    sessionStorage.setItem(pendingKey, JSON.stringify({ state, verifier }));
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: 'read write',
      code_challenge: base64url(new Uint8Array(digest)),
      code_challenge_method: 'S256',
      state,
    });
    el.signIn.disabled = true;
    status('Going to authd’s sign-in page…');
    location.assign(`/oauth2/authorize?${q}`);
  }

  // takePending returns the sign-in in progress and forgets it.
  function takePending() {
    const raw = sessionStorage.getItem(pendingKey);
    sessionStorage.removeItem(pendingKey);
    try {
      const p = JSON.parse(raw);
      return p && typeof p.state === 'string' && typeof p.verifier === 'string' ? p : null;
    } catch {
      return null;
    }
  }

  // finishSignIn handles the browser's return from /oauth2/authorize:
  // ?code=…&state=…&iss=… or ?error=…&state=…&iss=….
  async function finishSignIn(params) {
    const pending = takePending();
    // The code leaves the address bar and the history entry at once: a
    // reload, a bookmark or a shared link must not carry it.
    history.replaceState(null, '', location.pathname);
    status('Completing the sign-in…');
    let problem = '';
    if (!pending || params.get('state') !== pending.state) {
      // CSRF (RFC 9700 §4.7): an answer to a request this tab did not make.
      problem = 'The sign-in answer does not match a sign-in started in this tab; it was ignored.';
    } else if (params.get('iss') !== location.origin) {
      // Mix-up (RFC 9207, RFC 9700 §4.4): another server answered.
      problem = 'The sign-in answer comes from another server (iss); it was ignored.';
    } else if (params.has('error')) {
      problem = params.get('error') === 'access_denied'
        ? 'The sign-in was cancelled.'
        : `The sign-in failed: ${params.get('error_description') || params.get('error')}`;
    } else if (!params.get('code')) {
      problem = 'The sign-in answer has no code.';
    }
    if (problem) {
      showLogin('Sign-in failed.');
      showError(problem);
      return;
    }
    try {
      // Under the refresh lock: another tab refreshing at the same moment
      // would otherwise overwrite the new refresh cookie with its own.
      await withLock(async () => {
        const body = await tokenRequest({
          grant_type: 'authorization_code',
          client_id: clientId,
          code: params.get('code'),
          redirect_uri: redirectUri,
          code_verifier: pending.verifier,
          refresh_token_delivery: 'cookie',
        });
        const expiry = Date.now() + body.expires_in * 1000;
        useToken(body.access_token, expiry, false);
        announce({ type: 'token', accessToken: body.access_token, expiresAt: expiry, renewed: false });
      });
      status('Signed in.');
      await loadUser(false);
    } catch (err) {
      showLogin('Sign-in failed.');
      if (err instanceof TokenError && err.code === 'invalid_grant') {
        showError('The sign-in code was refused: it expired or was already used. Sign in again.');
      } else if (err instanceof TokenError && err.status === 429) {
        showError('Too many attempts. Try again later.');
      } else {
        showError(err.message);
      }
    }
  }

  el.signIn.addEventListener('click', () => {
    startSignIn().catch((err) => {
      el.signIn.disabled = false;
      status('Sign-in failed.');
      showError(err.message);
    });
  });

  // Back from the sign-in page without an answer, out of the
  // back/forward cache: the button works again.
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted) el.signIn.disabled = false;
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

  const params = new URLSearchParams(location.search);
  if (params.has('code') || params.has('error')) {
    finishSignIn(params);
  } else {
    // No answer to wait for: a sign-in abandoned on the way leaves
    // nothing behind.
    sessionStorage.removeItem(pendingKey);
    // A reload keeps the session: the refresh cookie survives it.
    refresh('startup');
  }
})();
