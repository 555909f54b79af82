import GitHub from "@auth/core/providers/github";
import { Anonymous } from "@convex-dev/auth/providers/Anonymous";
import { Email } from "@convex-dev/auth/providers/Email";
import { Password } from "@convex-dev/auth/providers/Password";
import { convexAuth } from "@convex-dev/auth/server";
import { deliver, digits } from "./email.js";

// A one-time code sent by email (used directly, and for password reset and verification).
const emailCode = (id) =>
  Email({ id, maxAge: 15 * 60, generateVerificationToken: digits, sendVerificationRequest: deliver });

// GITHUB_BASE_URL points the stock GitHub provider at another server (the local OAuth mock).
const githubBase = process.env.GITHUB_BASE_URL;
const github = githubBase
  ? GitHub({ enterprise: { baseUrl: githubBase } })
  : GitHub;

const providers = [
  Password({ id: "password", reset: emailCode("password-reset") }),
  Password({ id: "password-verify", verify: emailCode("password-verify-code") }),
  emailCode("email-otp"),
  {
    // A magic link: an Auth.js email provider whose link carries the code back to SITE_URL.
    id: "magic-link",
    type: "email",
    name: "Magic link",
    from: "Convex Auth demo <auth@example.com>",
    maxAge: 15 * 60,
    sendVerificationRequest: deliver,
    options: {},
  },
  Anonymous,
  github,
];

if (process.env.AUTH_MOCK_OIDC_ISSUER) {
  providers.push({
    id: "mock-oidc",
    name: "Mock OIDC",
    type: "oidc",
    issuer: process.env.AUTH_MOCK_OIDC_ISSUER,
    clientId: process.env.AUTH_MOCK_OIDC_ID,
    clientSecret: process.env.AUTH_MOCK_OIDC_SECRET,
    options: {},
  });
}

const durationMs = Number(process.env.JWT_DURATION_MS);

export const { auth, signIn, signOut, store, isAuthenticated } = convexAuth({
  providers,
  jwt: Number.isFinite(durationMs) && durationMs > 0 ? { durationMs } : undefined,
});
