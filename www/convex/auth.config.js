// The backend trusts JWTs issued by this deployment's own Convex Auth, and, when
// CLERK_JWT_ISSUER_DOMAIN is set, those of an identity platform: Clerk's issuer URL with its
// "convex" JWT template (aud "convex"), or any OIDC issuer that mints such tokens (the local
// backend sets it to its own OAuth/OIDC mock).
const providers = [
  {
    domain: process.env.CONVEX_SITE_URL,
    applicationID: "convex",
  },
];

if (process.env.CLERK_JWT_ISSUER_DOMAIN) {
  providers.push({
    domain: process.env.CLERK_JWT_ISSUER_DOMAIN,
    applicationID: "convex",
  });
}

export default { providers };
