//! Browser tests of sign-out and of the session in storage: sign-out clears the server session
//! and the stored keys (also without a server), a valid stored session loads with no request, the
//! official keys in sessionStorage, and a failing store falls back to memory. Against the local
//! backend (see `common::URL`).
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{client, fault, get, http, local_storage, requests, sign_up, unique_email, URL};
use convex_auth_wasm::web::storage::{MemoryStorage, StorageFuture};
use convex_auth_wasm::{
    AuthEventKind, ConvexAuthClient, ErrorCode, Options, Storage, TokenStorage,
};
use js_sys::JSON;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn sign_out_deletes_the_server_session_and_storage() {
    let ns = "signout-test";
    let c = ConvexAuthClient::new(Options::new(URL).storage_namespace(ns).navigate(false)).unwrap();
    c.ready().await;
    sign_up(&c, &unique_email("out")).await;
    let ls = local_storage();
    let rt = ls
        .get_item("__convexAuthRefreshToken_signouttest")
        .unwrap()
        .unwrap();
    assert!(ls
        .get_item("__convexAuthJWT_signouttest")
        .unwrap()
        .is_some());
    let events = Rc::new(RefCell::new(Vec::new()));
    let ev = events.clone();
    let _sub = c.on_change(move |e| ev.borrow_mut().push(e.kind));
    c.sign_out().await;
    assert!(!c.state().is_authenticated);
    assert_eq!(*events.borrow(), vec![AuthEventKind::SignedOut]);
    assert_eq!(ls.get_item("__convexAuthJWT_signouttest").unwrap(), None);
    assert_eq!(
        ls.get_item("__convexAuthRefreshToken_signouttest").unwrap(),
        None
    );
    // The server session is gone: its refresh token no longer works.
    let (_, v) = http(
        "POST",
        "/api/action",
        Some(&format!(
            r#"{{"path":"auth:signIn","args":{{"refreshToken":"{rt}"}},"format":"json"}}"#
        )),
        None,
    )
    .await;
    assert!(
        get(&v, "value.tokens").is_null(),
        "{:?}",
        JSON::stringify(&v)
    );
}

#[wasm_bindgen_test]
async fn sign_out_without_a_server_still_signs_out() {
    let storage = Rc::new(MemoryStorage::default());
    let c = client(Storage::custom(storage.clone()));
    c.ready().await;
    sign_up(&c, &unique_email("offline-out")).await;
    fault("auth:signOut", "network", 1).await;
    c.sign_out().await;
    assert!(!c.state().is_authenticated && c.token().is_none());
}

#[wasm_bindgen_test]
async fn a_stored_valid_session_loads_with_no_request() {
    let c = ConvexAuthClient::new(
        Options::new(URL)
            .storage_namespace("reload-test")
            .navigate(false),
    )
    .unwrap();
    c.ready().await;
    sign_up(&c, &unique_email("reload")).await;
    let token = c.token();
    drop(c);
    let before = requests().await.length();
    let c = ConvexAuthClient::new(
        Options::new(URL)
            .storage_namespace("reload-test")
            .navigate(false),
    )
    .unwrap();
    assert!(c.state().is_loading);
    c.ready().await;
    assert!(c.state().is_authenticated && !c.state().is_loading);
    assert_eq!(c.token(), token);
    assert_eq!(c.fetch_access_token(false).await, token);
    assert_eq!(
        requests().await.length(),
        before,
        "no request for a valid stored session"
    );
    c.sign_out().await;
}

#[wasm_bindgen_test]
async fn session_storage_uses_the_official_keys() {
    let c = ConvexAuthClient::new(
        Options::new(URL)
            .storage(Storage::SessionStorage)
            .navigate(false),
    )
    .unwrap();
    c.ready().await;
    sign_up(&c, &unique_email("session")).await;
    let ns: String = URL.chars().filter(char::is_ascii_alphanumeric).collect();
    let ss = web_sys::window()
        .unwrap()
        .session_storage()
        .unwrap()
        .unwrap();
    assert_eq!(
        ss.get_item(&format!("__convexAuthJWT_{ns}")).unwrap(),
        c.token()
    );
    c.sign_out().await;
    assert_eq!(ss.get_item(&format!("__convexAuthJWT_{ns}")).unwrap(), None);
}

/// A store whose writes fail, like Safari private mode's quota.
struct BrokenStorage;
impl TokenStorage for BrokenStorage {
    fn get_item<'a>(&'a self, _: &'a str) -> StorageFuture<'a, Option<String>> {
        Box::pin(async { Ok(None) })
    }
    fn set_item<'a>(&'a self, _: &'a str, _: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(async {
            Err(convex_auth_wasm::Error::new(
                ErrorCode::Storage,
                "QuotaExceededError",
            ))
        })
    }
    fn remove_item<'a>(&'a self, _: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

#[wasm_bindgen_test]
async fn failing_storage_falls_back_to_memory_with_one_error_event() {
    let c = client(Storage::custom(Rc::new(BrokenStorage)));
    let errors = Rc::new(RefCell::new(Vec::new()));
    let errs = errors.clone();
    let _sub = c.on_change(move |e| {
        if let Some(err) = &e.error {
            errs.borrow_mut().push(err.code());
        }
    });
    c.ready().await;
    sign_up(&c, &unique_email("broken")).await;
    assert!(c.state().is_authenticated);
    let t = c.fetch_access_token(true).await;
    assert!(t.is_some());
    assert_eq!(*errors.borrow(), vec![ErrorCode::Storage]);
}
