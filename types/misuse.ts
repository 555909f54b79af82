// Misuse that must not compile: every line below carries `@ts-expect-error`, so tsc fails if any
// of them starts compiling.
import { ConvexAuthClient, type ConvexAuthErrorCode } from "convex-auth-wasm";

// @ts-expect-error `url` is required
new ConvexAuthClient({});
// @ts-expect-error version is "v1" or "v2"
new ConvexAuthClient({ url: "https://x.convex.cloud", version: "v3" });
// @ts-expect-error functions map names to strings
new ConvexAuthClient({ url: "https://x.convex.cloud", version: "v2", functions: { signOut: 1 } });
// @ts-expect-error not a storage name
new ConvexAuthClient({ url: "https://a.convex.cloud", storage: "cookies" });
// @ts-expect-error an adapter needs removeItem
new ConvexAuthClient({ url: "https://a.convex.cloud", storage: { getItem: () => null, setItem: () => {} } });
// @ts-expect-error adapter values are strings
new ConvexAuthClient({ url: "https://a.convex.cloud", storage: { getItem: () => 42, setItem: () => {}, removeItem: () => {} } });
// @ts-expect-error `shouldHandleCode` takes a boolean or a predicate on URL
new ConvexAuthClient({ url: "https://a.convex.cloud", shouldHandleCode: "yes" });
// @ts-expect-error unknown option
new ConvexAuthClient({ url: "https://a.convex.cloud", storge: "memory" });
// @ts-expect-error a token source needs fetchToken
new ConvexAuthClient({ url: "https://a.convex.cloud", tokenSource: { signOut: () => {} } });
// @ts-expect-error fetchToken gives a string or null
new ConvexAuthClient({ url: "https://a.convex.cloud", tokenSource: { fetchToken: async () => 42 } });
// @ts-expect-error storeUser names a function
new ConvexAuthClient({ url: "https://a.convex.cloud", storeUser: true });

const auth = new ConvexAuthClient({ url: "https://a.convex.cloud" });

// @ts-expect-error params are strings
await auth.signIn("password", { email: "a@b.c", remember: true });
// @ts-expect-error the provider is a string
await auth.signIn(42);
// @ts-expect-error the token may be null
const token: string = auth.token;
// @ts-expect-error state is read-only
auth.getSnapshot().isAuthenticated = true;
// @ts-expect-error accessors are read-only
auth.isLoading = false;
// @ts-expect-error fetchAccessToken takes {forceRefreshToken}
await auth.fetchAccessToken();
// @ts-expect-error fetchAccessToken resolves string | null, not string
const jwt: string = await auth.fetchAccessToken({ forceRefreshToken: false });
// @ts-expect-error error codes are a closed union
const code: ConvexAuthErrorCode = "Oops";
auth.onChange((event) => {
  if (event.type === "signedIn") {
    // @ts-expect-error only `error` events carry an error
    void event.error.code;
  }
});
// @ts-expect-error subscribe's listener receives AuthState, not a string
auth.subscribe((state: string) => state);
void [token, jwt, code];

// @ts-expect-error attach needs a reactive Convex client
auth.attach({});
