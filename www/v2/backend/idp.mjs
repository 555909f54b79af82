// The local OAuth provider that stands in for GitHub: oauth2-mock-server on GitHub's paths,
// answering as the identity that /_test/idp/user sets.
//
// Convex Auth 2.0 refuses token and userinfo endpoints that are not https (the callback's
// server-side fetch), while a browser following the authorize URL is happy with http. So the
// app is given `https://<host>:<port>` for the server-to-server calls, and this process's
// outbound fetch sends requests for that origin to the plain-http mock, as a TLS terminator
// in front of it would.
import { OAuth2Server } from "oauth2-mock-server";
import { tokenClientId } from "../../backend/http.mjs";

const DEFAULT_USER = Object.freeze({ sub: "mock-user-1", email: "octocat@example.com", name: "Mona Octocat" });

/** Starts the mock; resolves to {url, apiUrl, user(), setUser(u), resetUser(), stop()}. */
export async function startIdp({ host, githubClientId }) {
  let user = { ...DEFAULT_USER };
  const idp = new OAuth2Server(undefined, undefined, {
    endpoints: {
      authorize: "/login/oauth/authorize",
      token: "/login/oauth/access_token",
      userinfo: "/user",
    },
  });
  await idp.issuer.keys.generate("RS256");
  idp.service.on("beforeTokenSigning", (token) => {
    token.payload.sub = user.sub;
    token.payload.email = user.email;
    token.payload.name = user.name;
  });
  idp.service.on("beforeResponse", (response, req) => {
    // GitHub is plain OAuth 2: its token answer has no id_token.
    if (tokenClientId(req) === githubClientId) delete response.body.id_token;
  });
  // GitHub's GET /user and GET /user/emails.
  const githubUser = () => ({ id: user.sub, login: user.sub, name: user.name ?? null, email: user.email ?? null });
  idp.service.on("beforeUserinfo", (response) => {
    response.body = githubUser();
  });
  idp.service.requestHandler.get("/user/emails", (_req, res) => {
    res.json(user.email ? [{ email: user.email, primary: true, verified: true, visibility: "public" }] : []);
  });
  await idp.start(0, host);
  const url = `http://${host}:${idp.address().port}`;
  const apiUrl = `https://${host}:${idp.address().port}`;
  idp.issuer.url = url;

  const plainFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const target = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (target === apiUrl || target.startsWith(`${apiUrl}/`)) {
      const plain = url + target.slice(apiUrl.length);
      return plainFetch(typeof input === "string" || input instanceof URL ? plain : new Request(plain, input), init);
    }
    return plainFetch(input, init);
  };

  return {
    url,
    apiUrl,
    user: () => user,
    setUser(next) {
      user = { ...next };
      return user;
    },
    resetUser() {
      user = { ...DEFAULT_USER };
    },
    async stop() {
      globalThis.fetch = plainFetch;
      await idp.stop();
    },
  };
}
