// Typical usage of the package: everything here must compile under `strict`.
import init, {
  ConvexAuthClient,
  type AuthEvent,
  type AuthState,
  type ConvexAuthClientOptions,
  type ConvexAuthError,
  type ConvexAuthErrorCode,
  type SignInResult,
  type TokenStorage,
} from "convex-auth-wasm";
import { ConvexClient, ConvexHttpClient, type AuthTokenFetcher } from "convex/browser";

await init();

const options: ConvexAuthClientOptions = {
  url: "https://happy-animal-123.convex.cloud",
  storage: "encrypted",
  storageNamespace: "app",
  shouldHandleCode: (url: URL) => url.pathname === "/callback",
  replaceURL: async (relative: string) => history.replaceState(null, "", relative),
  verbose: false,
};
const auth = new ConvexAuthClient(options);
await auth.ready();

// State accessors and the store contract.
const loading: boolean = auth.isLoading;
const signedIn: boolean = auth.isAuthenticated;
const token: string | null = auth.token;
const snapshot: AuthState = auth.getSnapshot();
const expires: number | null = snapshot.expiresAt;
const userId: string | null = snapshot.userId;
const getSnapshot = auth.getSnapshot; // unbound, as useSyncExternalStore calls it
const unsubscribe: () => void = auth.subscribe((state: AuthState) => void state.token);
unsubscribe();

// Events: `error` carries a typed error, the others do not.
const off = auth.onChange((event: AuthEvent) => {
  if (event.type === "error") {
    const code: ConvexAuthErrorCode = event.error.code;
    const retry: boolean = event.error.retryable;
    void [code, retry];
  } else {
    const kind: "initialized" | "signedIn" | "signedOut" | "tokenRefreshed" = event.type;
    void kind;
  }
});
off();

// Every provider kind.
const r1: SignInResult = await auth.signIn("password", { email: "a@b.c", password: "pw", flow: "signUp" });
await auth.signIn("password", { email: "a@b.c", flow: "reset" });
await auth.signIn("resend-otp", { email: "a@b.c", code: "12345678" });
await auth.signIn("anonymous");
const form = new FormData();
form.set("email", "a@b.c");
await auth.signIn("password", form);
const oauth = await auth.signIn("github", { redirectTo: "/dashboard" });
const redirect: URL | undefined = oauth.redirect;
await auth.signIn(undefined, { code: "from-a-magic-link" });
void [r1, redirect];

// Errors.
try {
  await auth.signIn("password", { email: "a@b.c", password: "wrong", flow: "signIn" });
} catch (e) {
  const error = e as ConvexAuthError;
  const name: "ConvexAuthError" = error.name;
  const data: unknown = error.data;
  void [name, data];
}

// The official Convex clients.
const fetcher: AuthTokenFetcher = auth.fetchAccessToken;
new ConvexClient(options.url).setAuth(auth.fetchAccessToken);
const jwt: string | null = await auth.fetchAccessToken({ forceRefreshToken: false });
const http = new ConvexHttpClient(options.url);
if (jwt) http.setAuth(jwt);
// ConvexProviderWithAuth's `useAuth` shape.
const useAuth = (): {
  isLoading: boolean;
  isAuthenticated: boolean;
  fetchAccessToken: (args: { forceRefreshToken: boolean }) => Promise<string | null | undefined>;
} => ({ isLoading: auth.isLoading, isAuthenticated: auth.isAuthenticated, fetchAccessToken: auth.fetchAccessToken });

// HTTP actions.
const response: Response = await auth.fetch("https://happy-animal-123.convex.site/api/me");
await auth.fetch(new URL("https://happy-animal-123.convex.site/send"), { method: "POST", body: "{}" });
await auth.fetch(new Request("https://happy-animal-123.convex.site/x"));

// Storage adapters: synchronous (Web Storage itself) or Promise-based (SecureStore-like).
const sync: TokenStorage = localStorage;
const secureStore = new Map<string, string>();
const asyncAdapter: TokenStorage = {
  getItem: async (key: string) => secureStore.get(key) ?? null,
  setItem: async (key: string, value: string) => void secureStore.set(key, value),
  removeItem: async (key: string) => void secureStore.delete(key),
};
new ConvexAuthClient({ url: options.url, storage: sync });
new ConvexAuthClient({ url: options.url, storage: asyncAdapter });
// Convex Auth v2, with an app's own name for one of its functions.
new ConvexAuthClient({ url: options.url, version: "v2", functions: { signInWithEmailPassword: "myAuth:signIn" } });
const v2Code: ConvexAuthErrorCode = "INVALID_CREDENTIALS";
void v2Code;

// An identity platform (Clerk-like), users in the app's table, and the reactive client attached.
const platform = new ConvexAuthClient({
  url: options.url,
  tokenSource: {
    fetchToken: async ({ forceRefreshToken }: { forceRefreshToken: boolean }) => (forceRefreshToken ? "jwt" : null),
    subscribe: (changed: () => void) => {
      const timer = setInterval(changed, 1000);
      return () => clearInterval(timer);
    },
    signIn: (props?: { redirectUrl?: string }) => void props,
    signOut: async () => {},
  },
  storeUser: "users:store",
  currentUser: "users:current",
});
const stored: unknown = platform.getSnapshot().storedUserId;
const user: unknown = platform.getSnapshot().user;
const detach: () => void = platform.attach(new ConvexClient(options.url));
detach();
await platform.signIn();
void [stored, user];

await auth.signOut();
auth.free();
{
  using scoped = new ConvexAuthClient({ url: options.url, storage: "memory" });
  void scoped;
}
void [loading, signedIn, token, expires, userId, getSnapshot, fetcher, response, useAuth];
