//! Browser tests of the client's API around sign-in: option checks, `fetch` (the token sent only
//! to the deployment, one retry after a 401), `subscribe`, and the error of an unreachable
//! server. Against the local backend (see `common::URL`).
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{count_kind, http, memory_client, requests, URL};
use convex_auth_wasm::{ConvexAuthClient, ErrorCode, Options, Storage};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn rejects_bad_urls() {
    for url in [
        "",
        "not a url",
        "ftp://x.convex.cloud",
        "https://x.convex.cloud/?a=1",
    ] {
        let e = ConvexAuthClient::new(Options::new(url)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidOptions, "{url}");
    }
}

#[wasm_bindgen_test]
async fn fetch_sends_the_token_to_the_deployment_and_retries_a_401_once() {
    let whoami = format!("{URL}/whoami");
    let request = || web_sys::Request::new_with_str(&whoami).unwrap();
    let c = memory_client().await;
    assert!(c.is_deployment_url(&whoami));
    assert!(!c.is_deployment_url("https://example.com/whoami"));
    // Signed out: the request goes as it is.
    assert_eq!(c.fetch(request()).await.unwrap().status(), 401);
    c.sign_in(Some("anonymous"), vec![]).await.unwrap();
    assert_eq!(c.fetch(request()).await.unwrap().status(), 200);
    let since = requests().await.length();
    let body = r#"{"path":"/whoami","kind":"status","status":401,"count":1}"#;
    http("POST", "/_test/faults", Some(body), None).await;
    assert_eq!(c.fetch(request()).await.unwrap().status(), 200);
    assert_eq!(count_kind("refresh", since).await, 1);
    // A used body is an InvalidParams error, not a panic.
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str("x"));
    let used = web_sys::Request::new_with_str_and_init(&whoami, &init).unwrap();
    let _ = JsFuture::from(used.text().unwrap()).await;
    let e = c.fetch(used).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidParams);
}

#[wasm_bindgen_test]
async fn subscribe_calls_at_once_and_on_change() {
    let c = memory_client().await;
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let sub = c.subscribe(move |st| s.borrow_mut().push(st.is_authenticated));
    c.sign_in(Some("anonymous"), vec![]).await.unwrap();
    drop(sub);
    c.sign_out().await;
    assert_eq!(*seen.borrow(), vec![false, true]);
}

#[wasm_bindgen_test]
async fn unreachable_server_is_a_retryable_network_error() {
    let c =
        ConvexAuthClient::new(Options::new("http://127.0.0.1:9").storage(Storage::Memory)).unwrap();
    c.ready().await;
    let e = c.sign_in(Some("anonymous"), vec![]).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Network);
    assert!(e.retryable());
}
