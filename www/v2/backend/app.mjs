// Loads the v2 app folder the way a deployment would see it: the root functions, the schema,
// auth.config.js and the component tree of convex.config.js, each component with its own
// module map, schema, environment and HTTP prefix, ready to register on a convex-test
// instance. Nothing here knows about auth.
import { AsyncLocalStorage } from "node:async_hooks";
import { readdirSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const BACKEND_DIR = dirname(fileURLToPath(import.meta.url));
const RESEND_STUB_DIR = join(BACKEND_DIR, "resend-stub");
const BRIDGE_MODULE = pathToFileURL(join(BACKEND_DIR, "component-bridge.mjs")).href;
/** The module every component with HTTP routes gets, to run a request in its context. */
export const BRIDGE_MODULE_NAME = "_localBackend";

/** Every `.js` file under `dir`, keyed by its absolute path, as lazy imports. */
function moduleMap(dir, { skip = () => false } = {}) {
  const modules = {};
  const walk = (folder) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".js") && !skip(relative(dir, full))) {
        const url = pathToFileURL(full).href;
        modules[full.split(sep).join("/")] = () => import(url);
      }
    }
  };
  walk(dir);
  return modules;
}

const isEnvRef = (value) => typeof value === "object" && value !== null && typeof value.__envVarRef === "string";

/**
 * Reads `convexDir` (a Convex app folder). `rootEnv()` gives the deployment's variables (the
 * app's own view); `siteUrl` is CONVEX_SITE_URL without a prefix. Returns
 * {schema, authConfig, modules, functionModule(path), components: [{path, dir, schema,
 * modules, env, httpPrefix, stub}]}.
 */
export async function loadApp(convexDir, { rootEnv, cloudUrl, siteUrl }) {
  const load = (file) => import(pathToFileURL(join(convexDir, file)).href);
  const [app, schema, authConfig] = await Promise.all([
    load("convex.config.js"),
    load("schema.js"),
    load("auth.config.js"),
  ]);
  const modules = moduleMap(convexDir);
  const byFunctionModule = new Map(
    Object.entries(modules).map(([file, loader]) => [
      relative(convexDir, file).split(sep).join("/").replace(/\.js$/, ""),
      loader,
    ]),
  );

  const components = [];
  async function walk(definition, parentPath, parentEnv) {
    for (const [name, child, envValues, httpPrefix] of definition._childComponents ?? []) {
      const path = parentPath ? `${parentPath}/${name}` : name;
      let dir = child.componentDefinitionPath;
      if (typeof dir !== "string") throw new Error(`component ${path} has no definition path (loader hooks missing?)`);
      // @convex-dev/resend is mounted as the app mounts it, with the outbox stub's modules.
      const stub = dir.split(sep).join("/").includes("/node_modules/@convex-dev/resend/");
      if (stub) dir = RESEND_STUB_DIR;
      const env = { CONVEX_CLOUD_URL: cloudUrl };
      // On Convex, a component's CONVEX_SITE_URL includes its HTTP prefix.
      env.CONVEX_SITE_URL = httpPrefix ? `${siteUrl}${httpPrefix.replace(/\/$/, "")}` : siteUrl;
      for (const [key, value] of Object.entries(envValues ?? {})) {
        const resolved = isEnvRef(value) ? parentEnv()[value.__envVarRef] : value;
        if (resolved !== undefined) env[key] = resolved;
      }
      const componentModules = moduleMap(dir, { skip: (file) => file === "convex.config.js" });
      if (httpPrefix) componentModules[`${dir.split(sep).join("/")}/${BRIDGE_MODULE_NAME}.js`] = () => import(BRIDGE_MODULE);
      const componentSchema = (await import(pathToFileURL(join(dir, "schema.js")).href)).default;
      components.push({ path, dir, schema: componentSchema, modules: componentModules, env, httpPrefix, stub });
      if (!stub) await walk(child, path, () => env);
    }
  }
  await walk(app.default, "", rootEnv);

  return {
    schema: schema.default,
    authConfig: authConfig.default,
    modules,
    functionModule: (modulePath) => byFunctionModule.get(modulePath),
    components,
  };
}

/**
 * Replaces `process.env` with a view that depends on the Convex function running: the app
 * and code outside any function see the real environment, a component sees only what Convex
 * would give it (CONVEX_CLOUD_URL, its own CONVEX_SITE_URL, the variables bound to it).
 * convex-test shares one `process.env` between components and keeps the running function's
 * `{componentPath, udfPath, udfType}` in an AsyncLocalStorage it does not export; that storage
 * is recognised the first time it runs a function (a one-shot wrapper of
 * `AsyncLocalStorage.prototype.run`, removed once found), which is why convex-test is pinned
 * exactly. Call before convex-test runs anything. `views()` maps component paths to envs.
 * Returns `found()`, true once the storage has been recognised.
 */
export function installComponentEnv(views) {
  let executionContext = null;
  const originalRun = AsyncLocalStorage.prototype.run;
  AsyncLocalStorage.prototype.run = function run(store, ...rest) {
    if (
      executionContext === null &&
      typeof store?.componentPath === "string" &&
      typeof store?.udfPath === "string" &&
      typeof store?.udfType === "string"
    ) {
      executionContext = this;
      AsyncLocalStorage.prototype.run = originalRun;
    }
    return originalRun.call(this, store, ...rest);
  };
  const real = process.env;
  const current = () => {
    const componentPath = executionContext?.getStore()?.componentPath;
    return componentPath ? (views().get(componentPath) ?? {}) : real;
  };
  process.env = new Proxy(real, {
    get: (target, key) => (typeof key === "string" ? current()[key] : Reflect.get(target, key)),
    has: (target, key) => (typeof key === "string" ? key in current() : Reflect.has(target, key)),
    ownKeys: () => Reflect.ownKeys(current()),
    getOwnPropertyDescriptor: (_target, key) => {
      const view = current();
      return Object.hasOwn(view, key)
        ? { value: view[key], writable: true, enumerable: true, configurable: true }
        : undefined;
    },
    set: (target, key, value) => Reflect.set(target, key, value),
    deleteProperty: (target, key) => Reflect.deleteProperty(target, key),
  });
  return { found: () => executionContext !== null };
}
