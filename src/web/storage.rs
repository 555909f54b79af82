//! Token storage: the [`TokenStorage`] trait and its built-in adapters (Web Storage, memory, and
//! any JS object with `getItem`/`setItem`/`removeItem` returning values or Promises).

use std::cell::RefCell;
use std::future::{ready, Future};
use std::pin::Pin;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

use super::io::settle_within;
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

/// An in-memory store: lives as long as the client, shared by nothing else.
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

/// `localStorage` or `sessionStorage`, raw string values (as the official client stores them).
#[derive(Debug)]
pub struct WebStorage {
    storage: web_sys::Storage,
}

impl WebStorage {
    /// `window.localStorage` (`local == true`) or `window.sessionStorage`. Fails where the
    /// browser refuses access (SecurityError in sandboxed frames, storage disabled).
    pub fn open(local: bool) -> Result<WebStorage, Error> {
        let window = web_sys::window()
            .ok_or_else(|| Error::storage("No window: Web Storage is not available here"))?;
        let storage = if local {
            window.local_storage()
        } else {
            window.session_storage()
        };
        match storage {
            Ok(Some(storage)) => Ok(WebStorage { storage }),
            Ok(None) => Err(Error::storage("Web Storage is not available")),
            Err(e) => Err(Error::storage(js_message(&e))),
        }
    }

    /// The underlying `Storage` object (to match `StorageEvent.storageArea`).
    pub(crate) fn raw(&self) -> &web_sys::Storage {
        &self.storage
    }
}

/// A storage failure with the browser's message.
pub(crate) fn storage_err(e: JsValue) -> Error {
    Error::storage(js_message(&e))
}

impl TokenStorage for WebStorage {
    fn get_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, Option<String>> {
        Box::pin(ready(self.storage.get_item(key).map_err(storage_err)))
    }
    fn set_item<'a>(&'a self, key: &'a str, value: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(ready(
            self.storage.set_item(key, value).map_err(storage_err),
        ))
    }
    fn remove_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(ready(self.storage.remove_item(key).map_err(storage_err)))
    }
}

/// How long a JS adapter may take to settle one call before the client gives up on it.
const ADAPTER_TIMEOUT_MS: f64 = 5_000.0;

/// A JS object `{getItem, setItem, removeItem}` whose methods return values or Promises
/// (localStorage itself, an IndexedDB wrapper, React Native SecureStore...).
#[derive(Debug)]
pub struct JsStorage {
    object: JsValue,
    get: Function,
    set: Function,
    remove: Function,
}

impl JsStorage {
    /// Checks that `object` has the three methods.
    pub fn new(object: JsValue) -> Result<JsStorage, Error> {
        let method = |name: &str| -> Result<Function, Error> {
            Reflect::get(&object, &JsValue::from_str(name))
                .ok()
                .and_then(|f| f.dyn_into::<Function>().ok())
                .ok_or_else(|| {
                    Error::options(
                        "`storage` adapter must have getItem, setItem and removeItem methods",
                    )
                })
        };
        Ok(JsStorage {
            get: method("getItem")?,
            set: method("setItem")?,
            remove: method("removeItem")?,
            object,
        })
    }

    async fn call(&self, result: Result<JsValue, JsValue>) -> Result<JsValue, Error> {
        let value = result.map_err(storage_err)?;
        settle_within(&value, ADAPTER_TIMEOUT_MS)
            .await
            .map_err(storage_err)?
            .ok_or_else(|| Error::storage("The storage adapter did not settle in time"))
    }
}

impl TokenStorage for JsStorage {
    fn get_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, Option<String>> {
        Box::pin(async move {
            let v = self
                .call(self.get.call1(&self.object, &JsValue::from_str(key)))
                .await?;
            if v.is_null() || v.is_undefined() {
                return Ok(None);
            }
            v.as_string()
                .map(Some)
                .ok_or_else(|| Error::storage("The storage adapter returned a non-string value"))
        })
    }
    fn set_item<'a>(&'a self, key: &'a str, value: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(async move {
            self.call(self.set.call2(
                &self.object,
                &JsValue::from_str(key),
                &JsValue::from_str(value),
            ))
            .await?;
            Ok(())
        })
    }
    fn remove_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(async move {
            self.call(self.remove.call1(&self.object, &JsValue::from_str(key)))
                .await?;
            Ok(())
        })
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
