//! Token storage: the [`TokenStorage`] trait, [`JsStorage`] over any JS object with
//! `getItem`/`setItem`/`removeItem` returning values or Promises (the built-in storages are such
//! objects, made by `io.js`), and [`MemoryStorage`] for Rust callers.

use std::cell::RefCell;
use std::future::{ready, Future};
use std::pin::Pin;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::io;
use super::platform::js_message;
use crate::core::error::Error;

/// A boxed future, as [`TokenStorage`] methods return.
pub type StorageFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + 'a>>;

/// Where the client keeps the JWT, the refresh token and the OAuth verifier. Implement it for
/// custom stores (an encrypted store, a native bridge). Values are raw strings.
pub trait TokenStorage {
    /// The value under `key`, `None` when absent.
    fn get_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, Option<String>>;
    /// Stores `value` under `key`.
    fn set_item<'a>(&'a self, key: &'a str, value: &'a str) -> StorageFuture<'a, ()>;
    /// Removes `key`.
    fn remove_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, ()>;
}

/// An in-memory store for Rust callers (`Storage::Custom`): lives as long as it is held. The
/// client's own `Storage::Memory` is a JS adapter, as every built-in storage is.
#[derive(Default)]
pub struct MemoryStorage {
    items: RefCell<Vec<(String, String)>>,
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStorage")
    }
}

impl MemoryStorage {
    fn get(&self, key: &str) -> Option<String> {
        self.items
            .borrow()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
    fn set(&self, key: &str, value: &str) {
        let mut items = self.items.borrow_mut();
        match items.iter_mut().find(|(k, _)| k == key) {
            Some(item) => item.1 = value.to_owned(),
            None => items.push((key.to_owned(), value.to_owned())),
        }
    }
    fn remove(&self, key: &str) {
        self.items.borrow_mut().retain(|(k, _)| k != key);
    }
}

impl TokenStorage for MemoryStorage {
    fn get_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, Option<String>> {
        Box::pin(ready(Ok(self.get(key))))
    }
    fn set_item<'a>(&'a self, key: &'a str, value: &'a str) -> StorageFuture<'a, ()> {
        self.set(key, value);
        Box::pin(ready(Ok(())))
    }
    fn remove_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, ()> {
        self.remove(key);
        Box::pin(ready(Ok(())))
    }
}

/// A storage failure with the browser's message.
pub(crate) fn storage_err(e: JsValue) -> Error {
    Error::storage(js_message(&e))
}

/// How long a JS adapter may take to settle one call before the client gives up on it.
const ADAPTER_TIMEOUT_MS: f64 = 5_000.0;

/// A JS object `{getItem, setItem, removeItem}` whose methods return values or Promises
/// (localStorage itself, an IndexedDB wrapper, React Native SecureStore...). The client's
/// built-in storages are such objects too (`io.js`'s `builtin`), so every store the client opens
/// takes this one path, with its time limit.
#[derive(Debug)]
pub struct JsStorage {
    object: JsValue,
}

impl JsStorage {
    /// Checks that `object` has the three methods.
    pub fn new(object: JsValue) -> Result<JsStorage, Error> {
        if io::is_adapter(&object) {
            Ok(JsStorage { object })
        } else {
            Err(Error::options(
                "`storage` adapter must have getItem, setItem and removeItem methods",
            ))
        }
    }

    /// A new memory store holding `value` under `key` (when given): what the client falls back
    /// to when its storage fails, with the session carried over.
    pub(crate) fn memory(key: &str, value: Option<&str>) -> JsStorage {
        JsStorage {
            object: io::memory(key, value),
        }
    }

    async fn call(&self, op: &str, key: &str, value: Option<&str>) -> Result<JsValue, Error> {
        // `[value]`, or undefined when the adapter took longer than the limit.
        let settled = JsFuture::from(io::store(&self.object, op, key, value, ADAPTER_TIMEOUT_MS))
            .await
            .map_err(storage_err)?;
        if settled.is_undefined() {
            return Err(Error::storage("The storage adapter did not settle in time"));
        }
        Ok(settled.unchecked_into::<js_sys::Array>().get(0))
    }
}

impl TokenStorage for JsStorage {
    fn get_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, Option<String>> {
        Box::pin(async move {
            let v = self.call("getItem", key, None).await?;
            if v.is_null() || v.is_undefined() {
                return Ok(None);
            }
            v.as_string()
                .map(Some)
                .ok_or_else(|| Error::storage("The storage adapter returned a non-string value"))
        })
    }
    fn set_item<'a>(&'a self, key: &'a str, value: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(async move { self.call("setItem", key, Some(value)).await.map(drop) })
    }
    fn remove_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(async move { self.call("removeItem", key, None).await.map(drop) })
    }
}

/// Which storage a client uses.
#[derive(Clone)]
pub enum Storage {
    /// `window.localStorage` (the default); other tabs follow through `storage` events.
    LocalStorage,
    /// `window.sessionStorage`: one session per tab.
    SessionStorage,
    /// Memory only: the session ends with the page.
    Memory,
    /// IndexedDB, AES-GCM encrypted under a non-extractable key; other tabs follow through a
    /// `BroadcastChannel`.
    Encrypted,
    /// A custom store.
    Custom(Rc<dyn TokenStorage>),
}

impl Storage {
    /// Opens the store: a custom one as it is, a built-in one as the adapter `io.js` makes for
    /// it, returned beside it (for localStorage, the `Storage` object that `storage` events name).
    /// Fails where the browser refuses Web Storage (SecurityError in sandboxed frames, storage
    /// disabled).
    pub(crate) fn open(&self) -> Result<(Rc<dyn TokenStorage>, Option<JsValue>), Error> {
        let name = match self {
            Storage::Custom(s) => return Ok((s.clone(), None)),
            Storage::LocalStorage => "localStorage",
            Storage::SessionStorage => "sessionStorage",
            Storage::Memory => "memory",
            Storage::Encrypted => "encrypted",
        };
        let object = io::builtin(name).map_err(storage_err)?;
        let store = Rc::new(JsStorage {
            object: object.clone(),
        });
        Ok((store, Some(object)))
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Storage::LocalStorage => "LocalStorage",
            Storage::SessionStorage => "SessionStorage",
            Storage::Memory => "Memory",
            Storage::Encrypted => "Encrypted",
            Storage::Custom(_) => "Custom",
        })
    }
}
