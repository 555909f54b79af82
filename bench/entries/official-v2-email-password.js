// Bench entry (bench/run.mjs): what a non-React app writes to use Convex Auth v2's official
// browser client (`@convex-dev/auth` 2.0.0, `@convex-dev/auth/browser`) with email + password.
// 2.0 ships the method logic only as React hooks (PROTOCOL-V2.md §4), so the app re-implements
// them here, mirroring `src/react/index.tsx` (the provider's wiring) and
// `src/methods/email-password/react.tsx` (the hooks) without React.
//
// Measured twice: minified with `convex` external for the bundle-size row, and bundled with
// `convex` 1.51 into bench/out/pages/ for the requests-per-reload row (bench/entries/official-v2-page.js).
import { AuthClient, defaultStorage } from "@convex-dev/auth/browser";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server"; // what `convex/_generated/api` exports as `api`

const api = anyApi;
const SIGN_UP_SECRET = "__convexAuthEmailPasswordSignUpSecret";
const RECOVERY_SECRET = "__convexAuthEmailPasswordRecoverySecret";
const otherError = (cause) => ({ error: "OTHER_ERROR", cause });

// `convex`: the app's reactive client (`ConvexClient` from `convex/browser`), or null.
export function createConvexAuth({ url, convex = null, onChange, storage, storageNamespace }) {
  // Refresh and sign-out go over an HTTP client, as the React provider does (the reactive
  // client is paused while it waits for a token). The sign-in calls use it too: a non-React
  // app may have no reactive client.
  const http = new ConvexHttpClient(url);
  const client = new AuthClient({
    mode: "spa",
    authApi: {
      refreshSession: (refreshToken) => http.mutation(api.auth.refreshSession, { refreshToken }),
      signOut: async (refreshToken) => {
        await http.mutation(api.auth.signOut, { refreshToken });
      },
    },
    storage: storage ?? defaultStorage(),
    storageNamespace: storageNamespace ?? url,
  });
  const secrets = client.storage;

  // A sign-in envelope: adopt the session on `complete`, fold a throw into OTHER_ERROR.
  const signInWith = async (fn, args) => {
    try {
      const result = await http.mutation(fn, args);
      if (result.status === "complete") await client.setSession(result.tokens);
      return result;
    } catch (cause) {
      return { status: "error", userError: otherError(cause) };
    }
  };
  // A flow whose link completes in this browser: keep its secret, never return it.
  const startLinkFlow = async (fn, args, key) => {
    try {
      const { browserSecret, ...result } = await http.mutation(fn, args);
      if (result.success) await secrets.set(key, browserSecret);
      return result;
    } catch (cause) {
      return { success: false, userError: otherError(cause) };
    }
  };
  const completeLinkFlow = (key, complete) =>
    client.withSignInPending(async () => {
      const browserSecret = await secrets.get(key);
      if (browserSecret == null) return { status: "error", userError: { error: "MISSING_SECRET" } };
      const result = await complete(browserSecret);
      if (result.status === "complete") await secrets.remove(key);
      return result;
    });

  // What `ConvexProviderWithAuth` does for the React provider: (re)authenticate the reactive
  // client whenever the session appears or goes, and watch `isAuthenticated` (the provider's
  // SessionWatcher: a session revoked on the server signs out). `onChange(isAuthenticated)`:
  // the backend's answer, for the app's UI.
  let seen = "";
  let unwatch = null;
  const follow = () => {
    const { isLoading, isAuthenticated } = client.getSnapshot();
    if (`${isLoading}${isAuthenticated}` === seen) return;
    seen = `${isLoading}${isAuthenticated}`;
    unwatch?.();
    unwatch = null;
    if (isAuthenticated) {
      convex.setAuth(client.fetchAccessToken, (confirmed) => {
        unwatch?.();
        unwatch = confirmed
          ? convex.onUpdate(api.auth.isAuthenticated, {}, (live) => live === false && void client.signOut())
          : null;
        onChange?.(confirmed);
      });
    } else if (!isLoading) {
      convex.client.clearAuth();
      onChange?.(false);
    }
  };
  const start = async () => {
    if (convex) client.subscribe(follow);
    await client.init();
  };

  return {
    client,
    start,
    signIn: ({ email, password }) => signInWith(api.auth.signInWithEmailPassword, { email, password }),
    signUp: ({ email, password }) => startLinkFlow(api.auth.signUpWithEmailPassword, { email, password }, SIGN_UP_SECRET),
    completeSignUp: ({ emailCode }) =>
      completeLinkFlow(SIGN_UP_SECRET, (browserSecret) =>
        signInWith(api.auth.completeSignUpWithEmailPassword, { emailCode, browserSecret }),
      ),
    startPasswordRecovery: ({ email }) => startLinkFlow(api.auth.startPasswordRecovery, { email }, RECOVERY_SECRET),
    completePasswordRecovery: ({ emailCode, newPassword }) =>
      completeLinkFlow(RECOVERY_SECRET, (browserSecret) =>
        signInWith(api.auth.completePasswordRecovery, { emailCode, browserSecret, newPassword }),
      ),
    signOut: client.signOut,
  };
}

window.__x = { createConvexAuth };
