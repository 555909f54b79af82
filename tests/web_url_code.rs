//! Browser tests of the `?code=` in the page URL (magic links and OAuth come back with it): it
//! is exchanged and removed before `ready()`, a foreign one leaves the session alone, and the
//! `shouldHandleCode` and `replaceURL` options decide. Against the local backend (see
//! `common::URL`).
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{get, memory_client, outbox, params, sign_up, sleep_ms, unique_email, URL};
use convex_auth_wasm::{AuthEventKind, ConvexAuthClient, Options, ShouldHandleCode, Storage};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn set_page_query(query: &str) {
    let w = web_sys::window().unwrap();
    let path = w.location().pathname().unwrap();
    w.history()
        .unwrap()
        .replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{query}")))
        .unwrap();
}

#[wasm_bindgen_test]
async fn url_code_is_removed_and_exchanged_before_ready() {
    let email = unique_email("urlcode");
    let c = memory_client().await;
    c.sign_in(Some("magic-link"), params(&[("email", &email)]))
        .await
        .unwrap();
    let link = get(&outbox(&email).await, "url").as_string().unwrap();
    let code = web_sys::Url::new(&link)
        .unwrap()
        .search_params()
        .get("code")
        .unwrap();
    set_page_query(&format!("?keep=1&code={code}"));
    let c =
        ConvexAuthClient::new(Options::new(URL).storage(Storage::Memory).navigate(false)).unwrap();
    c.ready().await;
    assert!(c.state().is_authenticated);
    assert_eq!(
        web_sys::window().unwrap().location().search().unwrap(),
        "?keep=1"
    );
    set_page_query("");
}

#[wasm_bindgen_test]
async fn a_foreign_code_leaves_the_session_intact() {
    let c = ConvexAuthClient::new(
        Options::new(URL)
            .storage_namespace("foreign-code")
            .navigate(false),
    )
    .unwrap();
    c.ready().await;
    sign_up(&c, &unique_email("foreign")).await;
    let token = c.token();
    drop(c);
    set_page_query("?code=not-a-real-code");
    let c = ConvexAuthClient::new(
        Options::new(URL)
            .storage_namespace("foreign-code")
            .navigate(false),
    )
    .unwrap();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let errs = errors.clone();
    let _sub = c.on_change(move |e| errs.borrow_mut().push(e.kind));
    c.ready().await;
    assert_eq!(c.token(), token);
    assert!(c.state().is_authenticated);
    assert_eq!(
        *errors.borrow(),
        vec![AuthEventKind::Error, AuthEventKind::Initialized]
    );
    assert_eq!(web_sys::window().unwrap().location().search().unwrap(), "");
    // shouldHandleCode = false leaves the code alone.
    set_page_query("?code=abc");
    let c2 = ConvexAuthClient::new(
        Options::new(URL)
            .storage(Storage::Memory)
            .should_handle_code(ShouldHandleCode::Never),
    )
    .unwrap();
    c2.ready().await;
    assert_eq!(
        web_sys::window().unwrap().location().search().unwrap(),
        "?code=abc"
    );
    set_page_query("");
    c.sign_out().await;
}

#[wasm_bindgen_test]
async fn rust_callbacks_decide_on_the_url_code_and_replace_the_url() {
    let path = web_sys::window().unwrap().location().pathname().unwrap();
    set_page_query("?code=abc&x=1");
    // A Rust `should_handle_code` sees the page URL; `false` leaves the code alone.
    let seen = Rc::new(RefCell::new(String::new()));
    let s = seen.clone();
    let c = ConvexAuthClient::new(
        Options::new(URL)
            .storage(Storage::Memory)
            .should_handle_code(ShouldHandleCode::with(move |url| {
                *s.borrow_mut() = url.search();
                false
            })),
    )
    .unwrap();
    c.ready().await;
    assert_eq!(*seen.borrow(), "?code=abc&x=1");
    assert!(!c.state().is_authenticated);
    // `true` exchanges it (this one is not a real code: an error event), and a Rust
    // `replace_url` is awaited with the URL without it instead of `history.replaceState`.
    let replaced = Rc::new(RefCell::new(Vec::new()));
    let r = replaced.clone();
    let c = ConvexAuthClient::new(
        Options::new(URL)
            .storage(Storage::Memory)
            .should_handle_code(ShouldHandleCode::with(|_| true))
            .replace_url(Rc::new(move |url: String| {
                let r = r.clone();
                Box::pin(async move {
                    sleep_ms(10).await;
                    r.borrow_mut().push(url);
                })
            })),
    )
    .unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let ev = events.clone();
    let _sub = c.on_change(move |e| ev.borrow_mut().push(e.kind));
    c.ready().await;
    assert_eq!(*replaced.borrow(), vec![format!("{path}?x=1")]);
    assert_eq!(
        *events.borrow(),
        vec![AuthEventKind::Error, AuthEventKind::Initialized]
    );
    assert_eq!(
        web_sys::window().unwrap().location().search().unwrap(),
        "?code=abc&x=1"
    );
    set_page_query("");
}
