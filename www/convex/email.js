// Delivery of sign-in codes and links. The local backend installs an in-memory outbox on
// `globalThis`; on a real deployment the message is written to the function logs instead
// (replace this with an email service such as Resend for production).
export async function deliver({ identifier, url, token, provider }) {
  const message = { provider: provider.id, to: identifier, code: token, url, sentAt: Date.now() };
  const outbox = globalThis.__convexAuthLocalOutbox;
  if (typeof outbox === "function") {
    outbox(message);
  } else {
    console.log(`[${provider.id}] for ${identifier}: code ${token}, link ${url}`);
  }
}

// Eight random digits, the shape people expect from an emailed one-time code.
export function digits() {
  const bytes = new Uint32Array(1);
  crypto.getRandomValues(bytes);
  return String(bytes[0] % 100_000_000).padStart(8, "0");
}
