//! Browser tests of an identity platform through the Rust API: `Options::token_source_fn` with
//! a token source that takes its JWTs from the local backend's platform issuer
//! (`POST /_test/platform/token`, aud "convex"), `store_user` and `current_user`, `auth.fetch`,
//! transient failures of the source, a change reported by the app. Against the local backend
//! (`common::URL`).
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::{event_log, eventually, get, http, URL};
use convex_auth_wasm::{AuthEventKind, ConvexAuthClient, ErrorCode, FetchToken, Options};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A platform stand-in: who is signed in there (`None`: nobody), how many calls fail next, and
/// every `force` it was asked with.
#[derive(Default)]
struct Platform {
    sub: RefCell<Option<String>>,
    failures: Cell<u32>,
    asked: RefCell<Vec<bool>>,
}

fn source(platform: &Rc<Platform>) -> FetchToken {
    let platform = platform.clone();
    Rc::new(move |force| {
        let platform = platform.clone();
        Box::pin(async move {
            platform.asked.borrow_mut().push(force);
            if platform.failures.get() > 0 {
                platform.failures.set(platform.failures.get() - 1);
                return Err("the platform is unreachable".to_owned());
            }
            let Some(sub) = platform.sub.borrow().clone() else {
                return Ok(None);
            };
            let body = format!(r#"{{"sub":"{sub}","name":"Rusty"}}"#);
            let (status, answer) = http("POST", "/_test/platform/token", Some(&body), None).await;
            assert_eq!(status, 200);
            Ok(get(&answer, "token").as_string())
        })
    })
}

#[wasm_bindgen_test]
async fn a_token_source_signs_in_stores_the_user_and_reaches_http_actions() {
    http("POST", "/_test/reset", None, None).await;
    let platform = Rc::new(Platform::default());
    *platform.sub.borrow_mut() = Some("rust_user".to_owned());
    let options = Options::new(URL)
        .token_source_fn(source(&platform))
        .store_user("users:store")
        .current_user("users:current");
    let c = ConvexAuthClient::new(options).unwrap();
    let (log, _sub) = event_log(&c);
    // ready(): the first state, with its gates passed (the user stored and found).
    c.ready().await;
    assert_eq!(*platform.asked.borrow(), [false]);
    assert!(c.state().is_authenticated && !c.state().is_loading);
    let state = c.state();
    assert_eq!(state.user_id.as_deref(), Some("rust_user"));
    assert_eq!(state.session_id, None);
    let stored = state.stored_user_id.and_then(|id| id.string());
    assert!(stored.is_some());
    // `current_user`: the stored user, found.
    let user = state.user.unwrap();
    assert_eq!(
        user.get("name").and_then(|n| n.string()).as_deref(),
        Some("Rusty")
    );
    assert_eq!(user.get("_id").and_then(|id| id.string()), stored);
    let whoami = web_sys::Request::new_with_str(&format!("{URL}/whoami")).unwrap();
    assert_eq!(c.fetch(whoami).await.unwrap().status(), 200);

    // A failing platform is transient: an error event, the session kept, the call retried.
    platform.failures.set(1);
    let token = c.fetch_access_token(true).await;
    assert!(token.is_some());
    assert!(c.state().is_authenticated);
    assert!(log.borrow().contains(&AuthEventKind::Error));
    assert!(platform.asked.borrow().iter().skip(1).all(|force| *force));

    // Signed out at the platform: the app reports it, the client asks unforced and signs out.
    *platform.sub.borrow_mut() = None;
    c.token_source_changed();
    eventually("signed out", || !c.state().is_authenticated).await;
    assert_eq!(log.borrow().last(), Some(&AuthEventKind::SignedOut));
    assert_eq!(platform.asked.borrow().last(), Some(&false));
}

#[wasm_bindgen_test]
async fn a_source_without_sign_in_or_with_a_version_is_refused() {
    let platform = Rc::new(Platform::default());
    let c = ConvexAuthClient::new(Options::new(URL).token_source_fn(source(&platform))).unwrap();
    c.ready().await;
    let e = c.sign_in(Some("github"), vec![]).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidOptions);
    let options = Options::new(URL)
        .token_source_fn(source(&platform))
        .version(convex_auth_wasm::Version::V2);
    assert_eq!(
        ConvexAuthClient::new(options).unwrap_err().code(),
        ErrorCode::InvalidOptions
    );
}
