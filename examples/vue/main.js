// convex-auth-wasm in Vue 3 (render functions, no build plugin): a `useConvexAuth` composable.
import init, { ConvexAuthClient } from "convex-auth-wasm";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { createApp, defineComponent, h, onScopeDispose, ref, shallowRef, watch } from "vue";

// Without generated code, `anyApi` names any function: api.users.viewer is "users:viewer".
// (In a project with `npx convex dev`, import { api } from "../convex/_generated/api" instead.)
const api = anyApi;

const convexUrl = new URLSearchParams(location.search).get("convex") ?? "http://127.0.0.1:3210";

await init(); // loads the .wasm once
const auth = new ConvexAuthClient({ url: convexUrl, storageNamespace: "vue" });
window.auth = auth; // for the tests and the devtools console

const http = new ConvexHttpClient(convexUrl);

/** The auth state as a shallow ref, updated on every change, unsubscribed with the scope. */
export function useConvexAuth(client) {
  const state = shallowRef(client.getSnapshot());
  const unsubscribe = client.subscribe((next) => {
    state.value = next; // a new object on every change, the same one otherwise
  });
  onScopeDispose(unsubscribe);
  return state;
}

/** users:viewer through the official Convex HTTP client, re-fetched when the user changes. */
function useViewer(state) {
  const viewer = shallowRef(null);
  watch(
    () => state.value.userId,
    async (userId, _old, onCleanup) => {
      let current = true;
      onCleanup(() => (current = false));
      viewer.value = null;
      if (userId === null) return;
      const token = await auth.fetchAccessToken({ forceRefreshToken: false });
      if (token === null) return;
      http.setAuth(token);
      const doc = await http.query(api.users.viewer, {});
      if (current) viewer.value = doc;
    },
    { immediate: true },
  );
  return viewer;
}

const App = defineComponent({
  name: "App",
  setup() {
    const state = useConvexAuth(auth);
    const viewer = useViewer(state);
    const pending = ref(false);
    const error = ref("");
    const run = async (action) => {
      pending.value = true;
      error.value = "";
      try {
        await action();
      } catch (e) {
        error.value = e.message;
      } finally {
        pending.value = false;
      }
    };

    return () => {
      const { isLoading, isAuthenticated, userId } = state.value;
      const alert = error.value ? h("p", { role: "alert", "data-testid": "error" }, error.value) : null;
      if (isLoading) return h("main", [h("p", { "data-testid": "status" }, "loading")]);
      if (!isAuthenticated) {
        return h("main", [
          h("p", { "data-testid": "status" }, "signed-out"),
          h(
            "button",
            { "data-testid": "sign-in", disabled: pending.value, onClick: () => run(() => auth.signIn("anonymous")) },
            "Sign in anonymously",
          ),
          alert,
        ]);
      }
      return h("main", [
        h("p", { "data-testid": "status" }, "signed-in"),
        h("p", ["User id: ", h("code", { "data-testid": "user-id" }, userId)]),
        h("p", ["users:viewer says: ", h("code", { "data-testid": "viewer-id" }, viewer.value?._id ?? "")]),
        h(
          "button",
          { "data-testid": "sign-out", disabled: pending.value, onClick: () => run(() => auth.signOut()) },
          "Sign out",
        ),
        alert,
      ]);
    };
  },
});

createApp(App).mount("#app");
