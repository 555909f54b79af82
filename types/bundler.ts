// The bundler build needs no init(): the same client, imported from `convex-auth-wasm/bundler`.
import { ConvexAuthClient, type AuthState } from "convex-auth-wasm/bundler";

const auth = new ConvexAuthClient({ url: "https://a.convex.cloud" });
const state: AuthState = auth.getSnapshot();
void state;
// @ts-expect-error the bundler build has no default export (no init)
import init from "convex-auth-wasm/bundler";
void init;
