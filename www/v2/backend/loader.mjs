// Node module hooks (registered by ./hooks.mjs before the app is imported) that stand in for
// what the Convex bundler does when it deploys the app:
// - a component's `convex.config.js` gets `componentDefinitionPath` and `defaultName`
//   stamped on its definition, without which `app.use()` refuses it ("only works in Convex
//   runtime"); the runner reads the component's folder from the stamped path;
// - a `.wasm` import (password-hash-wasm) becomes a default-exported WebAssembly.Module;
// - an extensionless relative import inside node_modules (`./logging` in
//   @convex-dev/batch-worker) resolves to its `.js` file.
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ORIGINAL = "convex-definition=original";

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const relative = specifier.startsWith("./") || specifier.startsWith("../");
    const inPackage = context.parentURL?.includes("/node_modules/");
    const bare = !/\.[a-z0-9]+$/i.test(specifier.split("/").pop());
    if (error?.code === "ERR_MODULE_NOT_FOUND" && relative && inPackage && bare) {
      return await nextResolve(`${specifier}.js`, context);
    }
    throw error;
  }
}

export async function load(url, context, nextLoad) {
  const { pathname, search } = new URL(url);
  if (url.startsWith("file:") && pathname.endsWith(".wasm")) {
    const bytes = await readFile(new URL(url));
    return {
      format: "module",
      shortCircuit: true,
      source: `export default new WebAssembly.Module(Buffer.from(${JSON.stringify(bytes.toString("base64"))}, "base64"));`,
    };
  }
  if (
    url.startsWith("file:") &&
    pathname.endsWith("/convex.config.js") &&
    pathname.includes("/node_modules/") &&
    !search.includes(ORIGINAL)
  ) {
    const folder = dirname(fileURLToPath(url));
    const original = `${url.split("?")[0]}?${ORIGINAL}`;
    return {
      format: "module",
      shortCircuit: true,
      source: [
        `import definition from ${JSON.stringify(original)};`,
        `if (definition && !definition._isRoot && definition.componentDefinitionPath === undefined) {`,
        `  definition.componentDefinitionPath = ${JSON.stringify(folder)};`,
        `  definition.defaultName ??= definition._name;`,
        `}`,
        `export default definition;`,
      ].join("\n"),
    };
  }
  return nextLoad(url, context);
}
