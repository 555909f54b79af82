//! IndexedDB, promise-free: the database `convex-auth-wasm` with one object store, awaited
//! through its events. Used by the encrypted storage and by the refresh hand-over record.

use std::cell::RefCell;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Event, EventTarget, IdbDatabase, IdbFactory, IdbObjectStore, IdbRequest, IdbTransaction,
    IdbTransactionMode,
};

use super::platform::{deferred, js_message};
use crate::core::error::Error;

const DB_NAME: &str = "convex-auth-wasm";
const STORE: &str = "kv";

pub(crate) fn fail(what: &'static str) -> impl Fn(JsValue) -> Error {
    move |e| {
        let mut m = String::from(what);
        m.push_str(": ");
        m.push_str(&js_message(&e));
        Error::storage(m)
    }
}

pub(crate) fn global(name: &str) -> Result<JsValue, Error> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .filter(|v| v.is_object())
        .ok_or_else(|| Error::storage("IndexedDB or WebCrypto is not available here"))
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
pub(crate) async fn committed(tx: &IdbTransaction) -> Result<(), Error> {
    match next_event(tx, &["complete", "error", "abort"]).await {
        Some(e) if e.type_() == "complete" => Ok(()),
        _ => Err(Error::storage(tx.error().map_or_else(
            || "IndexedDB transaction failed".to_owned(),
            |e| e.message(),
        ))),
    }
}

pub(crate) fn object_store(
    db: &IdbDatabase,
    mode: IdbTransactionMode,
) -> Result<(IdbTransaction, IdbObjectStore), Error> {
    let tx = db
        .transaction_with_str_and_mode(STORE, mode)
        .map_err(fail("IndexedDB"))?;
    let store = tx.object_store(STORE).map_err(fail("IndexedDB"))?;
    Ok((tx, store))
}

pub(crate) async fn get_record(db: &IdbDatabase, key: &str) -> Result<JsValue, Error> {
    let (_tx, store) = object_store(db, IdbTransactionMode::Readonly)?;
    let request = store
        .get(&JsValue::from_str(key))
        .map_err(fail("IndexedDB"))?;
    request_result(&request).await
}

pub(crate) async fn open_database() -> Result<IdbDatabase, Error> {
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

/// The record key `<prefix><name>` (the store holds records of several kinds).
pub(crate) fn record_key(prefix: &str, name: &str) -> String {
    let mut k = String::with_capacity(prefix.len() + name.len());
    k.push_str(prefix);
    k.push_str(name);
    k
}

/// Stores `value` under `key` (removes it for `None`), committed when this returns.
pub(crate) async fn put_record(
    db: &IdbDatabase,
    key: &str,
    value: Option<&JsValue>,
) -> Result<(), Error> {
    let (tx, store) = object_store(db, IdbTransactionMode::Readwrite)?;
    let key = JsValue::from_str(key);
    match value {
        Some(v) => store.put_with_key(v, &key).map(drop),
        None => store.delete(&key).map(drop),
    }
    .map_err(fail("IndexedDB"))?;
    committed(&tx).await
}

/// The origin's database, opened on first use and reopened after it was closed.
#[derive(Default)]
pub(crate) struct Database {
    open: RefCell<Option<IdbDatabase>>,
}

impl Database {
    /// Runs `f` with the open database; once more with a reopened one if it failed (another page
    /// deleted or upgraded the database, which closes this connection).
    pub(crate) async fn with<T, F, Fut>(&self, f: F) -> Result<T, Error>
    where
        F: Fn(IdbDatabase) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let cached = self.open.borrow().clone();
        if let Some(db) = cached {
            if let Ok(v) = f(db).await {
                return Ok(v);
            }
            self.open.borrow_mut().take();
        }
        let db = open_database().await?;
        *self.open.borrow_mut() = Some(db.clone());
        f(db).await
    }
}

/// The refresh hand-over record for localStorage sessions: a copy of the stored JWT, written
/// with it. localStorage reaches other tabs' renderers asynchronously, so a tab that has just
/// been granted the refresh lock can still read the token that the previous holder replaced;
/// IndexedDB reads are ordered after every committed write, so this copy is current under the
/// lock. Best effort: without IndexedDB the client falls back to what localStorage shows.
#[derive(Default)]
pub(crate) struct Handover {
    db: Database,
}

impl Handover {
    /// The JWT last written for `jwt_key`, if known.
    pub(crate) async fn read(&self, jwt_key: &str) -> Option<String> {
        let key = record_key("handover:", jwt_key);
        let key = key.as_str();
        self.db
            .with(|db| async move { get_record(&db, key).await })
            .await
            .ok()
            .and_then(|v| v.as_string())
    }

    /// Records the JWT written for `jwt_key` (`None`: removed).
    pub(crate) async fn write(&self, jwt_key: &str, token: Option<&str>) {
        let key = record_key("handover:", jwt_key);
        let key = key.as_str();
        let value = token.map(JsValue::from_str);
        let value = value.as_ref();
        let _ = self
            .db
            .with(|db| async move { put_record(&db, key, value).await })
            .await;
    }
}
