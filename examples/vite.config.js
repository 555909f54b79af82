// One Vite multi-page app: the same sign-in flow with convex-auth-wasm in plain JS, React,
// Svelte and Vue. `npx vite` serves them for development, `bash build.sh` builds dist/.
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));
const page = (dir) => fileURLToPath(new URL(`${dir}index.html`, import.meta.url));

export default defineConfig({
  root,
  // Relative asset URLs, so the built pages work from any path (the tests serve them at /test/).
  base: "./",
  plugins: [svelte({ configFile: false })], // no svelte.config.js: the defaults
  // React without a plugin: Vite's built-in esbuild compiles .jsx with the automatic runtime.
  esbuild: { jsx: "automatic" },
  // Vue without a plugin (render functions, no SFC): set its compile-time flags ourselves.
  define: {
    __VUE_OPTIONS_API__: "false",
    __VUE_PROD_DEVTOOLS__: "false",
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: "false",
  },
  // The --target web build loads its .wasm with `new URL(..., import.meta.url)`; keep it out of
  // the dev-server pre-bundling so that URL still points at the file.
  optimizeDeps: { exclude: ["convex-auth-wasm"] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    rollupOptions: {
      input: {
        index: page(""),
        vanilla: page("vanilla/"),
        react: page("react/"),
        svelte: page("svelte/"),
        vue: page("vue/"),
        platform: page("platform/"),
      },
    },
  },
});
