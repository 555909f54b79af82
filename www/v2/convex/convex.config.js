// The components of the demo app on Convex Auth v2 (@convex-dev/auth 2.0.0).
import { defineApp } from "convex/server";
import { v } from "convex/values";
import resend from "@convex-dev/resend/convex.config.js";
import auth from "@convex-dev/auth/convex.config.js";
import authEmail from "@convex-dev/auth/components/email/convex.config.js";
import authPasskey from "@convex-dev/auth/components/passkey/convex.config.js";
import authPassword from "@convex-dev/auth/components/password/convex.config.js";
import authUsername from "@convex-dev/auth/components/username/convex.config.js";
// Anonymous sign-in and the generic OAuth component are internal in 2.0.0 (not in the
// package's exports), so they are imported by file path.
import authAnonymous from "../node_modules/@convex-dev/auth/dist/components/anonymous/convex.config.js";
import authOauth from "../node_modules/@convex-dev/auth/dist/components/oauth/convex.config.js";

const app = defineApp({
  env: {
    AUTH_GITHUB_CLIENT_ID: v.string(),
    AUTH_GITHUB_CLIENT_SECRET: v.string(),
  },
});

// The core (sessions and tokens); it must be mounted as `auth`.
app.use(auth);
app.use(authPassword);
app.use(authEmail);
app.use(authUsername);
app.use(authAnonymous);
app.use(authPasskey);
// GitHub through the generic OAuth component, mounted under the name and prefix of the
// built-in GitHub method. Register <CONVEX_SITE_URL>/oauth/github/callback with GitHub.
app.use(authOauth, {
  name: "authGithub",
  httpPrefix: "/oauth/github",
  env: {
    CLIENT_ID: app.env.AUTH_GITHUB_CLIENT_ID,
    CLIENT_SECRET: app.env.AUTH_GITHUB_CLIENT_SECRET,
  },
});
// Email delivery (sign-up links, recovery links, notifications).
app.use(resend);

export default app;
