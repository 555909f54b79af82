// convex-auth-wasm in Svelte 5: the client itself is a Svelte store (`$auth` in App.svelte).
import init, { ConvexAuthClient } from "convex-auth-wasm";
import { ConvexHttpClient } from "convex/browser";
import { mount } from "svelte";
import App from "./App.svelte";

const convexUrl = new URLSearchParams(location.search).get("convex") ?? "http://127.0.0.1:3210";

await init(); // loads the .wasm once
const auth = new ConvexAuthClient({ url: convexUrl, storageNamespace: "svelte" });
window.auth = auth; // for the tests and the devtools console

const http = new ConvexHttpClient(convexUrl); // the official client, for users:viewer

mount(App, { target: document.getElementById("app"), props: { auth, http } });
