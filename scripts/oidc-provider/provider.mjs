// oidc-provider configured as a plain OAuth 2.0 authorisation server for the suite's OAuth cases: open
// dynamic client registration (RFC 7591), the authorisation code grant with PKCE, refresh tokens for every
// client that registers the refresh_token grant, revocation (RFC 7009), the device authorisation grant
// (RFC 8628, `/device/auth` and the user-code page `/device`), and the development login and consent pages
// (devInteractions), which scripts/oidc-provider/authorize.sh completes with curl.
//
// Environment: OIDC_PORT (default 8201), OIDC_ACCESS_TOKEN_TTL in seconds (default 5).
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 8201);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  features: {
    registration: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
  },
  // Only listed scopes are granted; device scopes (urn:matrix:client:device:*) are dropped silently.
  scopes: ['openid', 'offline_access', 'urn:matrix:client:api:*'],
  // By default a refresh token needs the offline_access scope, which Matrix clients do not ask for.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  // ... and would die with the login session of the development pages.
  expiresWithSession: async () => false,
  ttl: {
    AccessToken: Number(process.env.OIDC_ACCESS_TOKEN_TTL || 5),
  },
});

provider.listen(port, '127.0.0.1');
console.log(`oidc-provider listening at ${issuer}`);
