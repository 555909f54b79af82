//! Token storage: the [`Storage`] choices, [`JsStorage`] (any JS object with
//! `getItem`/`setItem`/`removeItem` returning values or Promises: what the client calls, the
//! built-in storages included), and the [`TokenStorage`] trait with [`MemoryStorage`] for stores
//! written in Rust.

use std::cell::RefCell;
use std::future::{ready, Future};
use std::pin::Pin;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::io;
use super::platform::promise;
use crate::core::error::Error;

/// A boxed future, as [`TokenStorage`] methods return.
pub type StorageFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + 'a>>;

/// Where the client keeps the JWT, the refresh token and the OAuth verifier. Implement it for
/// custom stores written in Rust (an encrypted store, a native bridge) and pass them to
/// [`Storage::custom`]. Values are raw strings.
pub trait TokenStorage {
    /// The value under `key`, `None` when absent.
    fn get_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, Option<String>>;
    /// Stores `value` under `key`.
    fn set_item<'a>(&'a self, key: &'a str, value: &'a str) -> StorageFuture<'a, ()>;
    /// Removes `key`.
    fn remove_item<'a>(&'a self, key: &'a str) -> StorageFuture<'a, ()>;
}

/// An in-memory store for Rust callers ([`Storage::custom`]): lives as long as it is held. The
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

/// A JS object `{getItem, setItem, removeItem}` whose methods return values or Promises
/// (localStorage itself, an IndexedDB wrapper, a Capacitor or Tauri secure store...): what the JS API's
/// `storage` adapter option is. The client's built-in storages are such objects too (`io.js`'s
/// `builtin`), and a [`TokenStorage`] is wrapped into one, so every store the client opens takes
/// one path, with `io.js`'s time limit.
#[derive(Clone, Debug)]
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
}

/// A JS adapter over a Rust [`TokenStorage`]: each method answers a Promise of the value
/// (undefined when absent), rejected with the error's message.
fn adapter_of(store: Rc<dyn TokenStorage>) -> JsValue {
    fn settle<T: Into<JsValue>>(r: Result<T, Error>) -> Result<JsValue, JsValue> {
        r.map(Into::into)
            .map_err(|e| JsValue::from_str(e.message()))
    }
    let (s1, s2, s3) = (store.clone(), store.clone(), store);
    let get = Closure::<dyn Fn(String) -> Promise>::new(move |key: String| {
        let s = s1.clone();
        promise(Box::pin(async move { settle(s.get_item(&key).await) }))
    });
    let set =
        Closure::<dyn Fn(String, String) -> Promise>::new(move |key: String, value: String| {
            let s = s2.clone();
            promise(Box::pin(async move {
                settle(s.set_item(&key, &value).await.map(|()| JsValue::UNDEFINED))
            }))
        });
    let remove = Closure::<dyn Fn(String) -> Promise>::new(move |key: String| {
        let s = s3.clone();
        promise(Box::pin(async move {
            settle(s.remove_item(&key).await.map(|()| JsValue::UNDEFINED))
        }))
    });
    io::adapter(
        &get.into_js_value(),
        &set.into_js_value(),
        &remove.into_js_value(),
    )
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
    /// A storage adapter object: a JS one, or a store written in Rust ([`Storage::custom`]).
    Adapter(JsStorage),
}

impl Storage {
    /// A store written in Rust, wrapped as the adapter object the client calls.
    pub fn custom(store: Rc<dyn TokenStorage>) -> Storage {
        Storage::Adapter(JsStorage {
            object: adapter_of(store),
        })
    }

    /// Opens the store as the JS adapter object the client calls: a built-in one as `io.js`
    /// makes it (for localStorage, the browser's `Storage` object that `storage` events name).
    /// Fails where the browser refuses Web Storage (SecurityError in sandboxed frames, storage
    /// disabled), with what the browser threw.
    pub(crate) fn open(&self) -> Result<JsValue, JsValue> {
        let name = match self {
            Storage::Adapter(s) => return Ok(s.object.clone()),
            Storage::LocalStorage => "localStorage",
            Storage::SessionStorage => "sessionStorage",
            Storage::Memory => "memory",
            Storage::Encrypted => return Ok(io::encrypted()),
        };
        io::builtin(name)
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Storage::LocalStorage => "LocalStorage",
            Storage::SessionStorage => "SessionStorage",
            Storage::Memory => "Memory",
            Storage::Encrypted => "Encrypted",
            Storage::Adapter(_) => "Adapter",
        })
    }
}
