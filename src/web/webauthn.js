// WebAuthn for Convex Auth v2's passkeys: the browser's ceremony with the server's options (their
// JSON forms, binary fields in base64url) and the credential back as the JSON the server's
// validators accept (field by field: they refuse the extra fields of `credential.toJSON()`).

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
 * `mediation: "conditional"` where the browser offers it (a plain `.get` elsewhere). Rejects with
 * `{name, message}`: the name of the DOMException the browser threw (`NotSupportedError` where
 * there is no WebAuthn, `NotAllowedError` for a ceremony that produced no credential), which the
 * client turns into an error code (src/core/protocol.rs, `ceremony_error`).
 */
export const ceremony = async (register, conditional, options) => {
  const credentials = globalThis.navigator?.credentials;
  if (!globalThis.PublicKeyCredential || !credentials) {
    throw { name: "NotSupportedError", message: "This browser does not support passkeys" };
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
    throw { name: String(e?.name), message: String(e?.message ?? e) };
  }
  if (!credential) throw { name: "NotAllowedError", message: "The ceremony produced no credential" };
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
