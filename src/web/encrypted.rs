//! `storage: "encrypted"`: values kept in IndexedDB, each encrypted with AES-GCM (random 96-bit
//! IV, the storage key as additional data) under a non-extractable WebCrypto key that is stored
//! in the same database. Script in the page cannot read the key's bytes and a copied database
//! file or record is ciphertext; script running in the page can still ask this client (or the
//! key) to decrypt, so this protects tokens at rest, not from XSS.

use std::cell::RefCell;

use js_sys::{Array, Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AesGcmParams, AesKeyGenParams, CryptoKey, Event, EventTarget, IdbDatabase, IdbFactory,
    IdbObjectStore, IdbRequest, IdbTransaction, IdbTransactionMode, SubtleCrypto,
};

use super::platform::{deferred, js_message};
use super::storage::{StorageFuture, TokenStorage};
use crate::core::error::Error;

const DB_NAME: &str = "convex-auth-wasm";
const STORE: &str = "encrypted";
/// The record holding the `CryptoKey` (structured-cloned by IndexedDB, never exported).
const KEY_RECORD: &str = "__convexAuthWasmKey";
const IV_LEN: u32 = 12;

/// The encrypted IndexedDB store. Opens the database (and creates the key) on first use.
#[derive(Default)]
pub struct EncryptedStorage {
    open: RefCell<Option<(IdbDatabase, CryptoKey)>>,
}

impl std::fmt::Debug for EncryptedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptedStorage")
    }
}

fn fail(what: &'static str) -> impl Fn(JsValue) -> Error {
    move |e| {
        let mut m = String::from(what);
        m.push_str(": ");
        m.push_str(&js_message(&e));
        Error::storage(m)
    }
}

fn global(name: &str) -> Result<JsValue, Error> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .filter(|v| v.is_object())
        .ok_or_else(|| Error::storage("IndexedDB or WebCrypto is not available here"))
}

fn subtle() -> Result<SubtleCrypto, Error> {
    let crypto = global("crypto")?;
    Reflect::get(&crypto, &JsValue::from_str("subtle"))
        .ok()
        .filter(|v| v.is_object())
        .map(JsCast::unchecked_into)
        .ok_or_else(|| Error::storage("WebCrypto is not available (insecure context)"))
}

/// The first of `names` that `target` fires, with the listeners removed afterwards.
async fn next_event(target: &EventTarget, names: &[&str]) -> Option<Event> {
    let (fired, resolve) = deferred();
    let listener = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
        let _ = resolve.call1(&JsValue::UNDEFINED, &e);
    });
    let f: &Function = listener.as_ref().unchecked_ref();
    for name in names {
        let _ = target.add_event_listener_with_callback(name, f);
    }
    let event = JsFuture::from(fired).await.ok();
    for name in names {
        let _ = target.remove_event_listener_with_callback(name, f);
    }
    event.map(JsCast::unchecked_into)
}

/// The result of a request, or its error.
async fn request_result(request: &IdbRequest) -> Result<JsValue, Error> {
    let event = next_event(request, &["success", "error"]).await;
    match event {
        Some(e) if e.type_() == "success" => request.result().map_err(fail("IndexedDB")),
        _ => Err(Error::storage(request.error().ok().flatten().map_or_else(
            || "IndexedDB request failed".to_owned(),
            |e| e.message(),
        ))),
    }
}

/// Waits until a read-write transaction is committed.
async fn committed(tx: &IdbTransaction) -> Result<(), Error> {
    match next_event(tx, &["complete", "error", "abort"]).await {
        Some(e) if e.type_() == "complete" => Ok(()),
        _ => Err(Error::storage(tx.error().map_or_else(
            || "IndexedDB transaction failed".to_owned(),
            |e| e.message(),
        ))),
    }
}

fn object_store(
    db: &IdbDatabase,
    mode: IdbTransactionMode,
) -> Result<(IdbTransaction, IdbObjectStore), Error> {
    let tx = db
        .transaction_with_str_and_mode(STORE, mode)
        .map_err(fail("IndexedDB"))?;
    let store = tx.object_store(STORE).map_err(fail("IndexedDB"))?;
    Ok((tx, store))
}

async fn get_record(db: &IdbDatabase, key: &str) -> Result<JsValue, Error> {
    let (_tx, store) = object_store(db, IdbTransactionMode::Readonly)?;
    let request = store
        .get(&JsValue::from_str(key))
        .map_err(fail("IndexedDB"))?;
    request_result(&request).await
}

async fn open_database() -> Result<IdbDatabase, Error> {
    let factory: IdbFactory = global("indexedDB")?.unchecked_into();
    let request = factory
        .open_with_u32(DB_NAME, 1)
        .map_err(fail("IndexedDB"))?;
    let creating = request.clone();
    let on_upgrade = Closure::<dyn FnMut(Event)>::new(move |_e: Event| {
        if let Ok(db) = creating.result() {
            let _ = db
                .unchecked_into::<IdbDatabase>()
                .create_object_store(STORE);
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let result = request_result(&request).await;
    request.set_onupgradeneeded(None);
    let db: IdbDatabase = result?.unchecked_into();
    // Let a page that deletes or upgrades the database proceed; the next call reopens it.
    let closing = db.clone();
    let on_version_change = Closure::<dyn FnMut(Event)>::new(move |_e: Event| closing.close());
    db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
    on_version_change.forget();
    Ok(db)
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

    async fn opened(&self) -> Result<(IdbDatabase, CryptoKey), Error> {
        if let Some(open) = self.open.borrow().as_ref() {
            return Ok(open.clone());
        }
        let db = open_database().await?;
        let key = crypto_key(&db).await?;
        *self.open.borrow_mut() = Some((db.clone(), key.clone()));
        Ok((db, key))
    }

    /// Runs `f` with the open database; once more with a reopened one if the connection was
    /// closed (another page deleted or upgraded the database).
    async fn with_db<T, F, Fut>(&self, f: F) -> Result<T, Error>
    where
        F: Fn(IdbDatabase, CryptoKey) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let (db, key) = self.opened().await?;
        match f(db, key).await {
            Ok(v) => Ok(v),
            Err(_) => {
                self.open.borrow_mut().take();
                let (db, key) = self.opened().await?;
                f(db, key).await
            }
        }
    }

    async fn get(&self, name: &str) -> Result<Option<String>, Error> {
        let (record, key) = self
            .with_db(|db, key| async move { Ok((get_record(&db, name).await?, key)) })
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
        let (_, key) = self.opened().await?;
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
        self.with_db(|db, _| {
            let record = record.clone();
            async move {
                let (tx, store) = object_store(&db, IdbTransactionMode::Readwrite)?;
                store
                    .put_with_key(&record, &JsValue::from_str(name))
                    .map_err(fail("IndexedDB"))?;
                committed(&tx).await
            }
        })
        .await
    }

    async fn remove(&self, name: &str) -> Result<(), Error> {
        self.with_db(|db, _| async move {
            let (tx, store) = object_store(&db, IdbTransactionMode::Readwrite)?;
            store
                .delete(&JsValue::from_str(name))
                .map_err(fail("IndexedDB"))?;
            committed(&tx).await
        })
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
