// A real OpenID provider (panva's oidc-provider) on a loopback port, for the dashboard's OIDC tests.
// Started by the test as a child process (both libraries are ES modules; the tests are CommonJS).
// Env: IDP_PORT, IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_REDIRECT_URI, IDP_ACCOUNTS (JSON: sub -> claims).
// Test controls (loopback only, this test provider only):
//   GET /__next-login?sub=X   who the next authorization signs in as (no login form);
//   GET /__tamper?mode=M      the next token response's ID token is re-signed with a wrong
//                             aud | iss | nonce | exp, or signed by a key not in the JWKS (sig); mode= clears.
import { exportJWK, generateKeyPair, decodeJwt, SignJWT, decodeProtectedHeader, importJWK } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.IDP_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.IDP_ACCOUNTS ?? '{}');

const key = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(key.privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
const rogue = (await generateKeyPair('RS256', { extractable: true })).privateKey;

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.IDP_CLIENT_ID, client_secret: process.env.IDP_CLIENT_SECRET, redirect_uris: [process.env.IDP_REDIRECT_URI],
    grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], roles: ['roles', 'ods'] },
  conformIdTokenClaims: false,
  cookies: { keys: ['local-idp-test-only'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, sub) => (accounts[sub] ? { accountId: sub, claims: async () => ({ sub, ...accounts[sub] }) } : undefined),
});

let nextLogin = null;
let tamper = '';

provider.use(async (ctx, next) => {
  if (ctx.path === '/__next-login') { nextLogin = ctx.query.sub; ctx.body = 'ok'; return; }
  if (ctx.path === '/__tamper') { tamper = ctx.query.mode ?? ''; ctx.body = 'ok'; return; }
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = nextLogin;
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    ctx.respond = false;
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
    return;
  }
  await next();
  if (tamper && ctx.path === '/token' && ctx.body && typeof ctx.body === 'object' && ctx.body.id_token) {
    const claims = decodeJwt(ctx.body.id_token);
    const now = Math.floor(Date.now() / 1000);
    if (tamper === 'aud') claims.aud = 'some-other-client';
    if (tamper === 'iss') claims.iss = 'http://127.0.0.1:1/not-the-issuer';
    if (tamper === 'nonce') claims.nonce = 'not-the-nonce';
    if (tamper === 'exp') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
    const signer = tamper === 'sig' ? rogue : await importJWK(jwk, 'RS256');
    ctx.body = { ...ctx.body, id_token: await new SignJWT(claims).setProtectedHeader(decodeProtectedHeader(ctx.body.id_token)).sign(signer) };
    tamper = '';
  }
});

provider.listen(port, '127.0.0.1', () => console.log(`local-idp ready ${issuer}`));
