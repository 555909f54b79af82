// convex-auth-wasm in React: `useSyncExternalStore(auth.subscribe, auth.getSnapshot)`.
import init, { ConvexAuthClient } from "convex-auth-wasm";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { StrictMode, useEffect, useState, useSyncExternalStore } from "react";
import { createRoot } from "react-dom/client";

// Without generated code, `anyApi` names any function: api.users.viewer is "users:viewer".
// (In a project with `npx convex dev`, import { api } from "../convex/_generated/api" instead.)
const api = anyApi;

const convexUrl = new URLSearchParams(location.search).get("convex") ?? "http://127.0.0.1:3210";

await init(); // loads the .wasm once
const auth = new ConvexAuthClient({ url: convexUrl, storageNamespace: "react" });
window.auth = auth; // for the tests and the devtools console

const http = new ConvexHttpClient(convexUrl);

/** The auth state; re-renders on every change. subscribe and getSnapshot work unbound. */
function useAuth() {
  return useSyncExternalStore(auth.subscribe, auth.getSnapshot);
}

/** Renders its children only once the user is signed in. */
function Authenticated({ children }) {
  const { isLoading, isAuthenticated } = useAuth();
  return !isLoading && isAuthenticated ? children : null;
}

/** Renders its children only once the user is known to be signed out. */
function Unauthenticated({ children }) {
  const { isLoading, isAuthenticated } = useAuth();
  return !isLoading && !isAuthenticated ? children : null;
}

/** Renders its children while the stored session is being loaded. */
function AuthLoading({ children }) {
  return useAuth().isLoading ? children : null;
}

/** `users:viewer` through the official Convex HTTP client, as the signed-in user. */
function useViewer(userId) {
  const [viewer, setViewer] = useState(null);
  useEffect(() => {
    let current = true;
    setViewer(null);
    (async () => {
      const token = await auth.fetchAccessToken({ forceRefreshToken: false });
      if (token === null) return;
      http.setAuth(token);
      const doc = await http.query(api.users.viewer, {});
      if (current) setViewer(doc);
    })().catch((e) => console.error(e));
    return () => {
      current = false;
    };
  }, [userId]);
  return viewer;
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
  const viewer = useViewer(userId);
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

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
