// verify.mjs verifies an authd access token with the jose library, knowing
// nothing of authd but its JWKS URL, issuer and audience. It prints the
// payload as JSON and exits 0, or prints the error and exits 1.
//
//   node verify.mjs <jwks-url> <token> <issuer> <audience>
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, token, issuer, audience] = process.argv.slice(2);
if (!jwksUrl || !token || !issuer || !audience) {
  console.error('usage: node verify.mjs <jwks-url> <token> <issuer> <audience>');
  process.exit(2);
}

try {
  const JWKS = createRemoteJWKSet(new URL(jwksUrl));
  const { payload } = await jwtVerify(token, JWKS, {
    issuer,
    audience,
    typ: 'at+jwt',
    algorithms: ['EdDSA', 'ES256', 'RS256'],
  });
  console.log(JSON.stringify(payload));
} catch (err) {
  console.error(`${err.code ?? err.name}: ${err.message}`);
  process.exit(1);
}
