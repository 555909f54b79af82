// convex-auth-wasm in React with the official reactive client: `ConvexProviderWithAuth` takes
// its `useAuth` from `useSyncExternalStore(auth.subscribe, auth.getSnapshot)`, and the app
// renders from `useConvexAuth()` (through convex/react's <Authenticated>, <Unauthenticated>,
// <AuthLoading>): signed in once the backend accepted the token, as Convex's guides teach.
// With `?attach` the page shows the other way: `auth.attach(convex)` under a plain
// <ConvexProvider>, the app rendering from the client's own state, which the attached reactive
// client makes server-confirmed.
import init, { ConvexAuthClient } from "convex-auth-wasm";
import {
  Authenticated,
  AuthLoading,
  ConvexProvider,
  ConvexProviderWithAuth,
  ConvexReactClient,
  Unauthenticated,
  useQuery,
} from "convex/react";
import { anyApi } from "convex/server";
import { StrictMode, useMemo, useState, useSyncExternalStore } from "react";
import { createRoot } from "react-dom/client";

// Without generated code, `anyApi` names any function: api.users.viewer is "users:viewer".
// (In a project with `npx convex dev`, import { api } from "../convex/_generated/api" instead.)
const api = anyApi;

const query = new URLSearchParams(location.search);
const convexUrl = query.get("convex") ?? "http://127.0.0.1:3210";
const attached = query.has("attach");

await init(); // loads the .wasm once
const auth = new ConvexAuthClient({ url: convexUrl, storageNamespace: attached ? "react-attach" : "react" });
const convex = new ConvexReactClient(convexUrl);
// `?attach`: the client gives the reactive client its tokens and waits for the backend's verdict.
if (attached) auth.attach(convex);
window.auth = auth; // for the tests and the devtools console

/** The client's auth state; re-renders on every change. subscribe and getSnapshot work unbound. */
function useAuth() {
  return useSyncExternalStore(auth.subscribe, auth.getSnapshot);
}

/** What `ConvexProviderWithAuth` asks of an auth provider. fetchAccessToken works unbound. */
function useAuthForConvex() {
  const { isLoading, isAuthenticated } = useAuth();
  return useMemo(
    () => ({ isLoading, isAuthenticated, fetchAccessToken: auth.fetchAccessToken }),
    [isLoading, isAuthenticated],
  );
}

function useAction(action) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState(null);
  const run = async () => {
    setPending(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e.message);
    } finally {
      setPending(false);
    }
  };
  return { run, pending, error };
}

function SignIn() {
  const signIn = useAction(() => auth.signIn("anonymous"));
  return (
    <>
      <p data-testid="status">signed-out</p>
      <button data-testid="sign-in" disabled={signIn.pending} onClick={signIn.run}>
        Sign in anonymously
      </button>
      {signIn.error && <p role="alert" data-testid="error">{signIn.error}</p>}
    </>
  );
}

function Profile() {
  const { userId } = useAuth();
  // `users:viewer` live through the reactive client, as the signed-in user.
  const viewer = useQuery(api.users.viewer, {});
  const signOut = useAction(() => auth.signOut());
  return (
    <>
      <p data-testid="status">signed-in</p>
      <p>
        User id: <code data-testid="user-id">{userId}</code>
      </p>
      <p>
        users:viewer says: <code data-testid="viewer-id">{viewer?._id ?? ""}</code>
      </p>
      <button data-testid="sign-out" disabled={signOut.pending} onClick={signOut.run}>
        Sign out
      </button>
    </>
  );
}

function App() {
  return (
    <main>
      <AuthLoading>
        <p data-testid="status">loading</p>
      </AuthLoading>
      <Unauthenticated>
        <SignIn />
      </Unauthenticated>
      <Authenticated>
        <Profile />
      </Authenticated>
    </main>
  );
}

/** `?attach`: the same app rendered from the client's state (server-confirmed while attached). */
function AttachedApp() {
  const { isLoading, isAuthenticated } = useAuth();
  return <main>{isLoading ? <p data-testid="status">loading</p> : isAuthenticated ? <Profile /> : <SignIn />}</main>;
}

createRoot(document.getElementById("root")).render(
  <StrictMode>
    {attached ? (
      <ConvexProvider client={convex}>
        <AttachedApp />
      </ConvexProvider>
    ) : (
      <ConvexProviderWithAuth client={convex} useAuth={useAuthForConvex}>
        <App />
      </ConvexProviderWithAuth>
    )}
  </StrictMode>,
);
