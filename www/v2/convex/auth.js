// Convex Auth v2: the session functions and every sign-in method of the demo, under the
// official 2.0 names (module `auth`).
import { setupConvexAuth } from "@convex-dev/auth/server";
import { setupEmailPassword } from "@convex-dev/auth/methods/email-password/server";
import { normalizeGithubProfile } from "@convex-dev/auth/methods/github/server";
import { setupUsernamePasskey } from "@convex-dev/auth/methods/username-passkey/server";
import { setupUsernamePassword } from "@convex-dev/auth/methods/username-password/server";
// Internal in 2.0.0 (not in the package's exports): anonymous sign-in, the generic OAuth
// method and GitHub's constants, imported by file path.
import { setupAnonymous } from "../node_modules/@convex-dev/auth/dist/methods/anonymous/server.js";
import { setupOauth } from "../node_modules/@convex-dev/auth/dist/methods/oauth/server.js";
import * as github from "../node_modules/@convex-dev/auth/dist/components/github/constants.js";
import { components, internal } from "./_generated/api.js";
import { env } from "./_generated/server.js";

// The page the emailed links and OAuth redirects return to.
const SITE_URL = (env.SITE_URL ?? "http://localhost:5173").replace(/\/$/, "");

// JWT_DURATION_MS sets the access-token lifetime (2.0's default is one minute).
const durationMs = Number(env.JWT_DURATION_MS);

const auth = setupConvexAuth({
  component: components.auth,
  accessTokenTtlSeconds: Number.isFinite(durationMs) && durationMs > 0 ? durationMs / 1000 : undefined,
});
export const { signOut, refreshSession, isAuthenticated } = auth;

export const {
  signUpWithEmailPassword,
  completeSignUpWithEmailPassword,
  signInWithEmailPassword,
  changePassword,
  startPasswordRecovery,
  checkPasswordRecovery,
  completePasswordRecovery,
  startChangeEmail,
  completeChangeEmail,
} = setupEmailPassword(auth, {
  component: components.authEmail,
  passwordComponent: components.authPassword,
  emailSender: {
    kind: "resend",
    sendEmail: components.resend.lib.sendEmail,
    apiKey: env.RESEND_API_KEY ?? "re_unset",
    from: env.AUTH_EMAIL_FROM ?? "Convex Auth demo <auth@example.com>",
  },
  urls: {
    signUp: `${SITE_URL}/validate-email`,
    changeEmail: `${SITE_URL}/confirm-email-change`,
    recovery: `${SITE_URL}/reset-password`,
  },
}).attachUserCallbacks({ createUser: internal.users.createUser });

export const { signUpWithUsernamePassword, signInWithUsernamePassword } = setupUsernamePassword(auth, {
  component: components.authPassword,
  usernameComponent: components.authUsername,
}).attachUserCallbacks({ createUser: internal.users.createUser });

export const { signInAnonymously } = setupAnonymous(auth, {
  component: components.authAnonymous,
}).attachUserCallbacks({ createUser: internal.users.createUser });

export const {
  startSignInWithUsernamePasskey,
  startAutofillSignInWithUsernamePasskey,
  finishSignUpWithUsernamePasskey,
  finishSignInWithUsernamePasskey,
} = setupUsernamePasskey(auth, {
  component: components.authPasskey,
  usernameComponent: components.authUsername,
  rpId: env.PASSKEY_RP_ID ?? new URL(SITE_URL).hostname,
  rpName: "Convex Auth demo",
  origin: SITE_URL,
}).attachUserCallbacks({ createUser: internal.users.createUser });

// GitHub: the generic OAuth method with GitHub's scopes, userinfo endpoints and the package's
// own GitHub profile mapping. GITHUB_BASE_URL (where browsers are sent) and
// GITHUB_API_BASE_URL (token and userinfo calls, https) point it at another server such as
// a local OAuth mock; unset, it talks to GitHub itself.
const githubBase = env.GITHUB_BASE_URL?.replace(/\/$/, "");
const githubApiBase = (env.GITHUB_API_BASE_URL ?? githubBase)?.replace(/\/$/, "");
const githubCatalog = {
  authorizationEndpoint: githubBase ? `${githubBase}/login/oauth/authorize` : github.AUTHORIZATION_ENDPOINT,
  tokenEndpoint: githubApiBase ? `${githubApiBase}/login/oauth/access_token` : github.TOKEN_ENDPOINT,
  userInfoEndpoints: githubApiBase
    ? { user: `${githubApiBase}/user`, emails: `${githubApiBase}/user/emails` }
    : github.USER_INFO_ENDPOINTS,
  scopes: github.SCOPES,
  profile: (_claims, userInfoResponses) => normalizeGithubProfile(userInfoResponses),
};
const githubMethod = setupOauth(
  auth,
  github.PROVIDER_NAME,
  githubCatalog,
  { createUser: internal.users.createUser },
  { component: components.authGithub, allowedRedirectOrigins: [new URL(SITE_URL).origin] },
);
export const startSignInWithGithub = githubMethod.startSignIn;
export const completeSignInWithGithub = githubMethod.completeSignIn;
