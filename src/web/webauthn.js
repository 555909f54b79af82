// WebAuthn for Convex Auth v2's passkeys: the browser's ceremony with the server's options (their
// JSON forms, binary fields in base64url) and the credential back as the JSON the server's
// validators accept (field by field: they refuse the extra fields of `credential.toJSON()`).

import { authError } from "./io.js";

const fromBase64url = (s) =>
  Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

const toBase64url = (buffer) => {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

const descriptors = (list) => (list ?? []).map((d) => ({ ...d, id: fromBase64url(d.id) }));

/**
 * Runs `navigator.credentials.create` (`register`) or `.get` with the server's `options` and
 * resolves the credential's JSON form; `conditional` (passkey autofill) asks `.get` for
 * `mediation: "conditional"` where the browser offers it (a plain `.get` elsewhere). Rejects with a ConvexAuthError: `PasskeyUnsupported`
 * (no WebAuthn here, or the page may not use it), `PasskeyCancelled` (the user cancelled, or
 * the ceremony timed out), `InvalidResponse` (options this browser cannot use).
 */
export const ceremony = async (register, conditional, options) => {
  const credentials = globalThis.navigator?.credentials;
  if (!globalThis.PublicKeyCredential || !credentials) {
    throw authError("This browser does not support passkeys", "PasskeyUnsupported", false);
  }
  let credential;
  try {
    const publicKey = { ...options, challenge: fromBase64url(options.challenge) };
    if (register) {
      publicKey.user = { ...options.user, id: fromBase64url(options.user.id) };
      publicKey.excludeCredentials = descriptors(options.excludeCredentials);
    } else {
      publicKey.allowCredentials = descriptors(options.allowCredentials);
    }
    const request = { publicKey };
    if (conditional && (await PublicKeyCredential.isConditionalMediationAvailable?.().catch(() => false))) {
      request.mediation = "conditional";
    }
    credential = await (register ? credentials.create(request) : credentials.get(request));
  } catch (e) {
    const name = e?.name;
    if (name == "NotAllowedError" || name == "AbortError") {
      throw authError("The passkey ceremony was cancelled or timed out", "PasskeyCancelled", false);
    }
    if (name == "SecurityError" || name == "NotSupportedError") {
      throw authError("Passkeys cannot be used on this page: " + e.message, "PasskeyUnsupported", false);
    }
    throw authError("The passkey ceremony failed: " + (e?.message ?? e), "InvalidResponse", false);
  }
  if (!credential) throw authError("The passkey ceremony was cancelled", "PasskeyCancelled", false);
  const r = credential.response;
  const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (register) {
    response.attestationObject = toBase64url(r.attestationObject);
    const transports = r.getTransports?.();
    if (transports) response.transports = transports;
  } else {
    response.authenticatorData = toBase64url(r.authenticatorData);
    response.signature = toBase64url(r.signature);
    if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    response,
    clientExtensionResults: {},
    type: "public-key",
  };
};
