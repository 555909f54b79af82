// Builds the demo page (index.html, demo.js, style.css, public/) into www/dist with the
// convex-auth-wasm package installed from the packed tarball (scripts/build-demo.sh).
// `/config.js` (the deployment URL) is served at run time by serve.mjs, so it stays external.
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  publicDir: "public",
  logLevel: "warn",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    rollupOptions: { external: ["/config.js"] },
  },
});
