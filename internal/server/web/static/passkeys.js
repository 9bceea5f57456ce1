// Passkeys (WebAuthn): the account page's "Add a passkey" button and the
// login page's "Sign in with a passkey" button (and, where the browser
// offers it, passkeys among the email field's autofill suggestions). The
// server runs each ceremony: /v1/.../begin gives a ceremony token and the
// options, the browser's answer goes to /v1/.../finish. Loaded under CSP
// script-src 'self': no inline script anywhere.
'use strict';
(() => {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // the buttons stay hidden
  }

  // base64url <-> ArrayBuffer
  const toBuffer = (s) => {
    const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  };
  const toB64url = (buf) => {
    if (!buf) return undefined;
    const bytes = new Uint8Array(buf);
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  const creationOptions = (o) => {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') {
      try { return PublicKeyCredential.parseCreationOptionsFromJSON(o); } catch (e) { /* manual below */ }
    }
    const out = { ...o, challenge: toBuffer(o.challenge), user: { ...o.user, id: toBuffer(o.user.id) } };
    if (o.excludeCredentials) {
      out.excludeCredentials = o.excludeCredentials.map((c) => ({ ...c, id: toBuffer(c.id) }));
    }
    return out;
  };
  const requestOptions = (o) => {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') {
      try { return PublicKeyCredential.parseRequestOptionsFromJSON(o); } catch (e) { /* manual below */ }
    }
    const out = { ...o, challenge: toBuffer(o.challenge) };
    if (o.allowCredentials) {
      out.allowCredentials = o.allowCredentials.map((c) => ({ ...c, id: toBuffer(c.id) }));
    }
    return out;
  };
  const credentialJSON = (c) => {
    if (typeof c.toJSON === 'function') {
      try { return c.toJSON(); } catch (e) { /* manual below */ }
    }
    const r = c.response;
    const response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (typeof r.getTransports === 'function') response.transports = r.getTransports();
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    }
    return {
      id: c.id, rawId: toB64url(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      response,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
    };
  };

  const post = async (url, body) => {
    const init = { method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(url, init);
    let data = null;
    try { data = await resp.json(); } catch (e) { /* no body */ }
    return { ok: resp.ok, status: resp.status, data };
  };

  const say = (el, text) => { if (el) el.textContent = text; };

  // A same-origin path only (the server checked it too).
  const safePath = (p) => (typeof p === 'string' && p.startsWith('/') && !p.startsWith('//') && !p.startsWith('/\\') ? p : '/account');

  // --- the account page: add a passkey ---
  const add = document.getElementById('add-passkey');
  if (add) {
    const status = document.getElementById('passkey-status');
    add.hidden = false;
    add.addEventListener('click', async () => {
      add.disabled = true;
      try {
        const begin = await post('/v1/user/passkeys/register/begin');
        if (!begin.ok) {
          if (begin.data && String(begin.data.type).endsWith('reauthentication-required')) {
            status.textContent = 'Adding a passkey needs a recent sign-in. ';
            const a = document.createElement('a');
            a.href = '/login?reauth=1&return_to=/account';
            a.textContent = 'Sign in again';
            status.append(a, ', then retry.');
          } else {
            say(status, (begin.data && begin.data.detail) || 'The passkey could not be added.');
          }
          return;
        }
        say(status, 'Follow your browser\u2019s prompt\u2026');
        const cred = await navigator.credentials.create({ publicKey: creationOptions(begin.data.options) });
        const nameEl = document.getElementById('new-passkey-name');
        const finish = await post('/v1/user/passkeys/register/finish', {
          ceremony: begin.data.ceremony, name: nameEl ? nameEl.value : '', credential: credentialJSON(cred),
        });
        if (!finish.ok) {
          say(status, (finish.data && finish.data.detail) || 'The passkey could not be added.');
          return;
        }
        say(status, 'Passkey added.');
        window.location.assign('/account');
      } catch (e) {
        say(status, e && e.name === 'InvalidStateError'
          ? 'This device already has a passkey for your account.'
          : 'No passkey was added (' + (e && e.name ? e.name : 'error') + ').');
      } finally {
        add.disabled = false;
      }
    });
  }

  // --- the login page: sign in with a passkey ---
  const login = document.getElementById('passkey-login');
  if (login) {
    const box = document.getElementById('passkey-login-box');
    const status = document.getElementById('passkey-status');
    const returnTo = safePath(box && box.dataset.returnTo ? box.dataset.returnTo : '/account');
    let pending = null; // the conditional (autofill) request, aborted by the button

    const run = async (mediation) => {
      const begin = await post('/v1/passkeys/login/begin');
      if (!begin.ok) throw new Error((begin.data && begin.data.detail) || 'passkey sign-in unavailable');
      const req = { publicKey: requestOptions(begin.data.options) };
      if (mediation === 'conditional') {
        pending = new AbortController();
        req.mediation = 'conditional';
        req.signal = pending.signal;
      }
      const cred = await navigator.credentials.get(req);
      if (!cred) return;
      const finish = await post('/v1/passkeys/login/finish', { ceremony: begin.data.ceremony, credential: credentialJSON(cred) });
      if (!finish.ok) {
        say(status, (finish.data && finish.data.detail) || 'That passkey did not work.');
        return;
      }
      window.location.assign(returnTo);
    };

    login.hidden = false;
    login.addEventListener('click', async () => {
      if (pending) {
        pending.abort();
        pending = null;
        await new Promise((r) => setTimeout(r, 100)); // let the browser drop it
      }
      login.disabled = true;
      say(status, '');
      try {
        await run('modal');
      } catch (e) {
        say(status, 'No passkey was used (' + (e && e.name ? e.name : 'error') + '). You can sign in with your password.');
      } finally {
        login.disabled = false;
      }
    });

    if (typeof PublicKeyCredential.isConditionalMediationAvailable === 'function') {
      PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
        if (ok) run('conditional').catch(() => { /* aborted or dismissed */ });
      }).catch(() => {});
    }
  }
})();
