// A software WebAuthn authenticator for Node tests: ES256 key pairs, "none" attestation, and
// the response JSON built field by field as the 2.0 finish mutations' exact validators want it.
// It stands in for the browser plus a platform authenticator (user present and verified).
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const sha256 = (data) => createHash("sha256").update(data).digest();

/** The CBOR subset WebAuthn needs: integers, byte and text strings, maps. */
function cbor(value) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  const entries = value instanceof Map ? [...value] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

function clientData(type, challenge, origin) {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
}

/** A new authenticator that remembers the credentials it makes (resident keys). */
export function softAuthenticator() {
  const credentials = [];
  return {
    credentials,
    /** navigator.credentials.create for `options` (PublicKeyCredentialCreationOptionsJSON). */
    create(options, origin) {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const jwk = publicKey.export({ format: "jwk" });
      const id = randomBytes(16);
      const coseKey = new Map([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x, "base64url")],
        [-3, Buffer.from(jwk.y, "base64url")],
      ]);
      const length = Buffer.alloc(2);
      length.writeUInt16BE(id.length);
      const authData = Buffer.concat([
        sha256(options.rp.id),
        Buffer.from([0x45]), // user present, user verified, attested credential data
        Buffer.alloc(4), // sign count 0
        Buffer.alloc(16), // AAGUID: none
        length,
        id,
        cbor(coseKey),
      ]);
      credentials.push({ id: b64url(id), privateKey, userHandle: options.user.id, rpId: options.rp.id, count: 0 });
      return {
        id: b64url(id),
        rawId: b64url(id),
        response: {
          clientDataJSON: b64url(clientData("webauthn.create", options.challenge, origin)),
          attestationObject: b64url(cbor({ fmt: "none", attStmt: {}, authData })),
          transports: ["internal"],
        },
        clientExtensionResults: {},
        type: "public-key",
      };
    },
    /** navigator.credentials.get for `options` (PublicKeyCredentialRequestOptionsJSON). */
    get(options, origin) {
      const allowed = options.allowCredentials?.map((c) => c.id) ?? [];
      const credential = credentials.find(
        (c) => c.rpId === options.rpId && (allowed.length === 0 || allowed.includes(c.id)),
      );
      if (!credential) throw new Error("NotAllowedError: no credential for this request");
      credential.count += 1;
      const count = Buffer.alloc(4);
      count.writeUInt32BE(credential.count);
      const authData = Buffer.concat([sha256(options.rpId), Buffer.from([0x05]), count]);
      const data = clientData("webauthn.get", options.challenge, origin);
      const signature = sign("sha256", Buffer.concat([authData, sha256(data)]), credential.privateKey);
      return {
        id: credential.id,
        rawId: credential.id,
        response: {
          clientDataJSON: b64url(data),
          authenticatorData: b64url(authData),
          signature: b64url(signature),
          userHandle: credential.userHandle,
        },
        clientExtensionResults: {},
        type: "public-key",
      };
    },
  };
}
