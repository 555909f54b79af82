// IndexedDB and WebCrypto: the database "convex-auth-wasm" (store `kv`) with its records, and the
// encrypted storage ("encrypted") kept in it. The executor (executor.js) also keeps the hand-over
// copy of the JWT here, because IndexedDB transactions are ordered with the Web Lock and
// localStorage between tabs is not.

const STORE = "kv";
const RECORD = "encrypted:"; // prefix of the records of encrypted values
const IV = 12;
const text = new TextEncoder();

let db; // Promise of the open IDBDatabase "convex-auth-wasm"; unset after a failure or a close
let cachedKey; // Promise of the database's CryptoKey, read once per connection

const open = () => {
  if (!db) {
    if (!globalThis.indexedDB) throw Error("IndexedDB is not available here");
    const r = indexedDB.open("convex-auth-wasm", 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    const p = (db = new Promise((ok, fail) => {
      r.onsuccess = () => {
        // A page that deletes or upgrades the database may proceed; the next call reopens.
        r.result.onversionchange = () => {
          r.result.close();
          if (db === p) db = cachedKey = undefined;
        };
        ok(r.result);
      };
      r.onerror = () => fail(r.error);
    }));
  }
  return db;
};

// Runs `op(store)` in a transaction and resolves with its request's result once committed.
// A failure is retried once on a fresh connection (another page may have closed this one).
const run = async (mode, op, retry = 1) => {
  try {
    const tx = (await open()).transaction(STORE, mode);
    const r = op(tx.objectStore(STORE));
    return await new Promise((ok, fail) => {
      tx.oncomplete = () => ok(r.result);
      tx.onerror = tx.onabort = () => fail(tx.error || r.error || Error("IndexedDB transaction failed"));
    });
  } catch (e) {
    if (!retry) throw e;
    const stale = db;
    db = cachedKey = undefined;
    stale?.then((d) => d.close(), () => {});
    return run(mode, op, 0);
  }
};

/** The record `key`, or undefined. */
export const idbGet = (key) => run("readonly", (s) => s.get(key));

/** Stores `value` under `key` (deletes it when undefined); resolves once committed. */
export const idbSet = (key, value) =>
  run("readwrite", (s) => (value === undefined ? s.delete(key) : s.put(value, key)));

// storage: "encrypted": values kept in IndexedDB (database `convex-auth-wasm`, store `kv`, records
// `encrypted:<key>`), each sealed with AES-GCM (random 96-bit IV, the storage key as additional
// data) under a non-extractable WebCrypto key stored in the same database. Script in the page
// cannot read the key's bytes and a copied database file or record is ciphertext; script running
// in the page can still ask this client (or the key) to decrypt, so this protects tokens at rest,
// not from XSS. A record that does not decrypt (tampered, truncated, or from a lost key) reads as
// absent.

const subtle = () => {
  if (!globalThis.crypto || !crypto.subtle) throw Error("WebCrypto is not available (insecure context)");
  return crypto.subtle;
};

const isKey = (k) => !!globalThis.CryptoKey && k instanceof CryptoKey;

// The database's AES-GCM key (non-extractable), created on first use. Two tabs creating it at
// once race on `add`: the loser reads the winner's key.
const loadKey = async () => {
  const KEY = "__convexAuthWasmKey";
  const stored = await idbGet(KEY);
  if (isKey(stored)) return stored;
  const key = await subtle().generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  try {
    await run("readwrite", (s) => s.add(key, KEY), 0);
    return key;
  } catch {
    const winner = await idbGet(KEY);
    if (isKey(winner)) return winner;
    throw Error("The encryption key could not be stored");
  }
};

// The key, cached with the connection: a deleted database (which closes the connection) drops it.
const cryptoKey = () =>
  (cachedKey ??= loadKey().catch((e) => {
    cachedKey = undefined;
    throw e;
  }));

// The storage key is bound to its value as additional data: a record moved to another key does
// not decrypt.
const gcm = (iv, name) => ({ name: "AES-GCM", iv, additionalData: text.encode(name) });

/** The decrypted value of `name`; undefined when absent or when it does not decrypt. */
const decrypt = async (name) => {
  const record = await idbGet(RECORD + name);
  const key = await cryptoKey();
  if (!(record instanceof Uint8Array) || record.length <= IV) return undefined;
  try {
    const plain = await subtle().decrypt(gcm(record.subarray(0, IV), name), key, record.subarray(IV));
    return new TextDecoder("utf-8", { fatal: true }).decode(plain);
  } catch {
    return undefined; // tampered, truncated, or sealed under a lost key: the next write replaces it
  }
};

/** Stores `value` under `name`, sealed as a random 96-bit IV followed by the AES-GCM ciphertext. */
const encrypt = async (name, value) => {
  const key = await cryptoKey();
  const iv = crypto.getRandomValues(new Uint8Array(IV));
  const sealed = new Uint8Array(await subtle().encrypt(gcm(iv, name), key, text.encode(value)));
  const record = new Uint8Array(IV + sealed.length);
  record.set(iv);
  record.set(sealed, IV);
  return idbSet(RECORD + name, record);
};

/** Removes the value of `name`. */
const erase = (name) => idbSet(RECORD + name);

/** The encrypted storage as an adapter object (`storage: "encrypted"`). */
export const encrypted = () => ({ getItem: decrypt, setItem: encrypt, removeItem: erase });
