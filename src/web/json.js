// JSON for core::json's browser backend (src/core/json/browser.rs): the browser's own
// JSON.parse, atob and TextDecoder, so the wasm carries no parser.

/** JSON.parse; undefined for malformed text. */
export const jsonParse = (text) => {
  try {
    return JSON.parse(text);
  } catch {}
};

/** The JSON (UTF-8) in a base64url segment, as in a JWT; undefined when it is not that. */
export const jsonOfBase64url = (segment) => {
  try {
    const bytes = Uint8Array.from(atob(segment.replace(/-/g, "+").replace(/_/g, "/")), (c) =>
      c.charCodeAt(0),
    );
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {}
};

/** The own field `key` of an object that is not an array; undefined otherwise. */
export const jsonField = (v, key) =>
  v && typeof v == "object" && !Array.isArray(v) && Object.hasOwn(v, key) ? v[key] : undefined;
