//! `storage: "encrypted"`: values kept in IndexedDB, each encrypted with AES-GCM (random 96-bit
//! IV, the storage key as additional data) under a non-extractable WebCrypto key that is stored
//! in the same database. Script in the page cannot read the key's bytes and a copied database
//! file or record is ciphertext; script running in the page can still ask this client (or the
//! key) to decrypt, so this protects tokens at rest, not from XSS.

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AesGcmParams, AesKeyGenParams, CryptoKey, IdbDatabase, IdbTransactionMode, SubtleCrypto,
};

use super::idb::{
    committed, fail, get_record, global, object_store, put_record, record_key, Database,
};
use super::storage::{StorageFuture, TokenStorage};
use crate::core::error::Error;

/// The record holding the `CryptoKey` (structured-cloned by IndexedDB, never exported).
const KEY_RECORD: &str = "__convexAuthWasmKey";
/// Prefix of the records of encrypted values.
const PREFIX: &str = "encrypted:";
const IV_LEN: u32 = 12;

/// The encrypted IndexedDB store. Opens the database (and creates the key) on first use.
#[derive(Default)]
pub struct EncryptedStorage {
    db: Database,
}

impl std::fmt::Debug for EncryptedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptedStorage")
    }
}

fn subtle() -> Result<SubtleCrypto, Error> {
    let crypto = global("crypto")?;
    Reflect::get(&crypto, &JsValue::from_str("subtle"))
        .ok()
        .filter(|v| v.is_object())
        .map(JsCast::unchecked_into)
        .ok_or_else(|| Error::storage("WebCrypto is not available (insecure context)"))
}

/// The database's key, created on first use. Two tabs creating it at once race on `add`: the
/// loser reads the winner's key.
async fn crypto_key(db: &IdbDatabase) -> Result<CryptoKey, Error> {
    if let Ok(key) = get_record(db, KEY_RECORD).await?.dyn_into::<CryptoKey>() {
        return Ok(key);
    }
    let usages = Array::of2(&JsValue::from_str("encrypt"), &JsValue::from_str("decrypt"));
    let generating = subtle()?
        .generate_key_with_object(&AesKeyGenParams::new("AES-GCM", 256), false, &usages)
        .map_err(fail("WebCrypto"))?;
    let key: CryptoKey = JsFuture::from(generating)
        .await
        .map_err(fail("WebCrypto"))?
        .unchecked_into();
    let (tx, store) = object_store(db, IdbTransactionMode::Readwrite)?;
    store
        .add_with_key(&key, &JsValue::from_str(KEY_RECORD))
        .map_err(fail("IndexedDB"))?;
    if committed(&tx).await.is_ok() {
        return Ok(key);
    }
    get_record(db, KEY_RECORD)
        .await?
        .dyn_into::<CryptoKey>()
        .map_err(|_| Error::storage("The encryption key could not be stored"))
}

fn gcm_params(iv: &Uint8Array, key: &str) -> AesGcmParams {
    let params = AesGcmParams::new_with_u8_array("AES-GCM", iv);
    params.set_additional_data_u8_array(&Uint8Array::from(key.as_bytes()));
    params
}

impl EncryptedStorage {
    /// A store over the origin's `convex-auth-wasm` database.
    pub fn new() -> EncryptedStorage {
        EncryptedStorage::default()
    }

    async fn get(&self, name: &str) -> Result<Option<String>, Error> {
        let rk = record_key(PREFIX, name);
        let rk = rk.as_str();
        let (record, key) = self
            .db
            .with(|db| async move { Ok((get_record(&db, rk).await?, crypto_key(&db).await?)) })
            .await?;
        let Ok(record) = record.dyn_into::<Uint8Array>() else {
            return Ok(None); // absent, or not a record of ours
        };
        if record.length() <= IV_LEN {
            return Ok(None);
        }
        let iv = record.subarray(0, IV_LEN);
        let data = record.subarray(IV_LEN, record.length());
        let Ok(decrypting) =
            subtle()?.decrypt_with_object_and_js_u8_array(&gcm_params(&iv, name), &key, &data)
        else {
            return Ok(None);
        };
        // A record that does not decrypt (tampered, truncated, or from a lost key) reads as
        // absent; the next write replaces it.
        match JsFuture::from(decrypting).await {
            Ok(plain) => Ok(String::from_utf8(Uint8Array::new(&plain).to_vec()).ok()),
            Err(_) => Ok(None),
        }
    }

    async fn set(&self, name: &str, value: &str) -> Result<(), Error> {
        let rk = record_key(PREFIX, name);
        let rk = rk.as_str();
        self.db
            .with(|db| async move {
                let key = crypto_key(&db).await?;
                let crypto: web_sys::Crypto = global("crypto")?.unchecked_into();
                let iv = Uint8Array::new_with_length(IV_LEN);
                crypto
                    .get_random_values_with_js_u8_array(&iv)
                    .map_err(fail("WebCrypto"))?;
                let encrypting = subtle()?
                    .encrypt_with_object_and_js_u8_array(
                        &gcm_params(&iv, name),
                        &key,
                        &Uint8Array::from(value.as_bytes()),
                    )
                    .map_err(fail("WebCrypto"))?;
                let sealed = Uint8Array::new(
                    &JsFuture::from(encrypting)
                        .await
                        .map_err(fail("WebCrypto"))?,
                );
                let record = Uint8Array::new_with_length(IV_LEN + sealed.length());
                record.set(&iv, 0);
                record.set(&sealed, IV_LEN);
                put_record(&db, rk, Some(&record)).await
            })
            .await
    }

    async fn remove(&self, name: &str) -> Result<(), Error> {
        let rk = record_key(PREFIX, name);
        let rk = rk.as_str();
        self.db
            .with(|db| async move { put_record(&db, rk, None).await })
            .await
    }
}

impl TokenStorage for EncryptedStorage {
    fn get_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, Option<String>> {
        Box::pin(self.get(key))
    }
    fn set_item<'a>(&'a self, key: &'a str, value: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(self.set(key, value))
    }
    fn remove_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(self.remove(key))
    }
}
