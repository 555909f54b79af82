//! `storage: "encrypted"`: values kept in IndexedDB (database `convex-auth-wasm`, store `kv`,
//! records `encrypted:<key>`), each encrypted with AES-GCM (random 96-bit IV, the storage key as
//! additional data) under a non-extractable WebCrypto key that is stored in the same database.
//! Script in the page cannot read the key's bytes and a copied database file or record is
//! ciphertext; script running in the page can still ask this client (or the key) to decrypt, so
//! this protects tokens at rest, not from XSS. A record that does not decrypt (tampered,
//! truncated, or from a lost key) reads as absent. The Promise wiring is in `io.js`.

use super::io;
use super::storage::{StorageFuture, TokenStorage};

/// The encrypted IndexedDB store. Opens the database (and creates the key) on first use.
#[derive(Default)]
pub struct EncryptedStorage;

impl std::fmt::Debug for EncryptedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptedStorage")
    }
}

impl EncryptedStorage {
    /// A store over the origin's `convex-auth-wasm` database.
    pub fn new() -> EncryptedStorage {
        EncryptedStorage
    }
}

impl TokenStorage for EncryptedStorage {
    fn get_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, Option<String>> {
        let p = io::decrypt(key);
        Box::pin(async move { Ok(io::storage(p).await?.as_string()) })
    }
    fn set_item<'a>(&'a self, key: &'a str, value: &'a str) -> StorageFuture<'a, ()> {
        let p = io::encrypt(key, value);
        Box::pin(async move { io::storage(p).await.map(drop) })
    }
    fn remove_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, ()> {
        let p = io::erase(key);
        Box::pin(async move { io::storage(p).await.map(drop) })
    }
}
