//! Browser tests of token refresh against the local backend, which issues 20 s JWTs (see
//! `common::URL`): forced refreshes coalesce, network and server errors keep the session and
//! retry, a rejected refresh token signs out, and the timer refreshes before expiry.
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{
    client, count_kind, fault, futures_join3, get, http, memory_client, requests, sign_up,
    sleep_ms, unique_email, URL,
};
use convex_auth_wasm::web::storage::MemoryStorage;
use convex_auth_wasm::{AuthEventKind, ErrorCode, Storage, TokenStorage};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn forced_refreshes_coalesce_and_return_a_new_token() {
    let c = memory_client().await;
    sign_up(&c, &unique_email("force")).await;
    let t0 = c.fetch_access_token(false).await.unwrap();
    let since = requests().await.length();
    let (a, b, d) = futures_join3(
        c.fetch_access_token(true),
        c.fetch_access_token(true),
        c.fetch_access_token(true),
    )
    .await;
    assert!(a.is_some());
    assert_ne!(a.as_deref(), Some(t0.as_str()));
    assert_eq!(a, b);
    assert_eq!(a, d);
    assert_eq!(count_kind("refresh", since).await, 1);
    assert_eq!(c.token(), a);
    // The caller already holds `a`: the next forced call rotates again.
    let e = c.fetch_access_token(true).await;
    assert!(e.is_some() && e != a);
}

#[wasm_bindgen_test]
async fn network_failures_keep_the_session_and_retry() {
    let c = memory_client().await;
    sign_up(&c, &unique_email("flaky")).await;
    let t0 = c.fetch_access_token(false).await;
    let errors = Rc::new(RefCell::new(Vec::new()));
    let (errs, seen) = (errors.clone(), Rc::new(RefCell::new(true)));
    let seen2 = seen.clone();
    let _sub = c.on_change(move |e| {
        if let Some(err) = &e.error {
            errs.borrow_mut().push((err.code(), err.retryable()));
        }
        *seen2.borrow_mut() &= e.state.is_authenticated;
    });
    fault("auth:signIn", "network", 2).await;
    let t1 = c.fetch_access_token(true).await;
    assert!(t1.is_some() && t1 != t0);
    assert!(
        c.state().is_authenticated && *seen.borrow(),
        "never signed out"
    );
    assert_eq!(
        *errors.borrow(),
        vec![(ErrorCode::Network, true), (ErrorCode::Network, true)]
    );
}

#[wasm_bindgen_test]
async fn server_errors_keep_the_session() {
    let c = memory_client().await;
    sign_up(&c, &unique_email("5xx")).await;
    let body = r#"{"path":"auth:signIn","kind":"status","status":503,"count":1}"#;
    http("POST", "/_test/faults", Some(body), None).await;
    let t = c.fetch_access_token(true).await;
    assert!(t.is_some() && c.state().is_authenticated);
}

#[wasm_bindgen_test]
async fn a_rejected_refresh_token_signs_out() {
    let storage = Rc::new(MemoryStorage::default());
    let c = client(Storage::custom(storage.clone()));
    c.ready().await;
    sign_up(&c, &unique_email("rejected")).await;
    let ns: String = URL.chars().filter(char::is_ascii_alphanumeric).collect();
    // Another device signed this session out: its refresh token is dead.
    let rt = storage
        .get_item(&format!("__convexAuthRefreshToken_{ns}"))
        .await
        .unwrap()
        .unwrap();
    let (_, v) = http(
        "POST",
        "/api/action",
        Some(r#"{"path":"auth:signOut","args":{},"format":"json"}"#),
        c.token().as_deref(),
    )
    .await;
    assert_eq!(get(&v, "status").as_string().as_deref(), Some("success"));
    assert!(!rt.is_empty());
    let t = c.fetch_access_token(true).await;
    assert_eq!(t, None);
    assert!(!c.state().is_authenticated);
    assert_eq!(
        storage
            .get_item(&format!("__convexAuthRefreshToken_{ns}"))
            .await
            .unwrap(),
        None
    );
}

#[wasm_bindgen_test]
async fn the_timer_refreshes_before_expiry() {
    // The test backend issues 20 s tokens: the client refreshes 5 s before `exp`.
    let c = memory_client().await;
    sign_up(&c, &unique_email("timer")).await;
    let first = c.state();
    let events = Rc::new(RefCell::new(Vec::new()));
    let ev = events.clone();
    let _sub = c.on_change(move |e| ev.borrow_mut().push(e.kind));
    sleep_ms(16_500).await;
    let now = c.state();
    assert!(now.is_authenticated);
    assert_ne!(now.token, first.token);
    assert!(now.expires_at > first.expires_at);
    assert_eq!(*events.borrow(), vec![AuthEventKind::TokenRefreshed]);
}
