// Drives openid-client (v6, the npm package) against authd for
// TestOpenIDClient in oidc_test.go. The Go test copies this file into a
// folder whose node_modules links to the one scripts/oidc-tools.sh
// installed, runs it with NODE_EXTRA_CA_CERTS naming the test's
// certificate (the only concession to the test setup: no
// allowInsecureRequests, no custom fetch), and talks to it in JSON lines:
//
//   stdout  {"authorization_url": "..."}             after discovery
//   stdin   the callback URL the browser was sent to  (one line)
//   stdout  {"ok": true, ...results}                  or {"ok": false, "step": ..., "error": ...}
//
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET (empty for a public
// client), REDIRECT_URI, SCOPE.
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function describe(err) {
  const d = { name: err?.name, message: String(err?.message ?? err) };
  for (const k of ['code', 'error', 'error_description', 'status']) {
    if (err?.[k] !== undefined) d[k] = err[k];
  }
  if (err?.cause !== undefined) {
    try {
      d.cause = JSON.parse(JSON.stringify(err.cause));
    } catch {
      d.cause = String(err.cause);
    }
    if (d.cause && typeof d.cause === 'object' && Object.keys(d.cause).length === 0) {
      d.cause = String(err.cause);
    }
  }
  return d;
}

let step = 'start';
async function main() {
  const issuer = new URL(env('ISSUER'));
  const redirectUri = env('REDIRECT_URI');
  const scope = process.env.SCOPE || 'openid email profile offline_access';

  step = 'discovery';
  // A string as the third argument is the client secret; openid-client
  // then authenticates with client_secret_post. Without one the client is
  // public: token_endpoint_auth_method none, PKCE alone.
  const secret = process.env.CLIENT_SECRET;
  const config = secret
    ? await client.discovery(issuer, env('CLIENT_ID'), secret)
    : await client.discovery(issuer, env('CLIENT_ID'), undefined, client.None());
  const meta = config.serverMetadata();

  step = 'authorization url';
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  out({ authorization_url: authUrl.href });

  step = 'read callback';
  const rl = createInterface({ input: process.stdin });
  const callback = await new Promise((resolve, reject) => {
    rl.once('line', resolve);
    rl.once('close', () => reject(new Error('stdin closed before the callback URL')));
  });
  rl.close();

  step = 'authorizationCodeGrant';
  const tokens = await client.authorizationCodeGrant(config, new URL(callback.trim()), {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();

  step = 'fetchUserInfo';
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  step = 'refreshTokenGrant';
  if (!tokens.refresh_token) throw new Error('the code grant returned no refresh_token');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const refreshedClaims = refreshed.id_token ? refreshed.claims() : null;

  step = 'tokenRevocation';
  await client.tokenRevocation(config, refreshed.refresh_token ?? tokens.refresh_token);

  step = 'refresh after revocation';
  let afterRevocation;
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token ?? tokens.refresh_token);
    afterRevocation = { refused: false };
  } catch (err) {
    afterRevocation = { refused: true, error: err?.error, status: err?.status };
  }

  step = 'end session url';
  let endSessionUrl = null;
  if (meta.end_session_endpoint) {
    endSessionUrl = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: redirectUri,
    }).href;
  }

  out({
    ok: true,
    issuer: meta.issuer,
    token_type: tokens.token_type,
    scope: tokens.scope ?? null,
    expires_in: tokens.expiresIn() ?? null,
    has_refresh_token: Boolean(tokens.refresh_token),
    id_token_header: JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString()),
    claims,
    userinfo,
    refresh: {
      new_access_token: refreshed.access_token !== tokens.access_token,
      rotated_refresh_token: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
      id_token_claims: refreshedClaims,
    },
    after_revocation: afterRevocation,
    end_session_url: endSessionUrl,
  });
}

main().catch((err) => {
  out({ ok: false, step, error: describe(err) });
  process.exitCode = 1;
});
