//! Browser tests of sign-in with every provider kind against the local backend (password with
//! reset and email verification, one-time codes, magic links, anonymous, OAuth redirects) and of
//! the errors a sign-in rejects with. `make test` starts the backend (see `common::URL`).
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::rc::Rc;

use common::{
    client, get, http, memory_client, outbox, params, sign_up, unique_email, viewer_email, URL,
};
use convex_auth_wasm::web::storage::MemoryStorage;
use convex_auth_wasm::{ErrorCode, Storage, TokenStorage};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn password_sign_up_sign_in_and_errors() {
    let c = memory_client().await;
    assert!(!c.state().is_authenticated && !c.state().is_loading);
    let email = unique_email("pw");
    sign_up(&c, &email).await;
    let st = c.state();
    assert!(st.is_authenticated);
    assert!(st.user_id.is_some() && st.session_id.is_some() && st.expires_at.is_some());
    assert_eq!(
        viewer_email(&c.token().unwrap())
            .await
            .as_string()
            .as_deref(),
        Some(email.as_str())
    );

    let c2 = memory_client().await;
    let e = c2
        .sign_in(
            Some("password"),
            params(&[
                ("email", &email),
                ("password", "wrong-pass"),
                ("flow", "signIn"),
            ]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, convex_auth_wasm::Error::InvalidSecret(_)),
        "{e}"
    );
    assert_eq!(e.code(), ErrorCode::InvalidSecret);
    assert!(!e.retryable());
    let e = c2
        .sign_in(
            Some("password"),
            params(&[
                ("email", &unique_email("nobody")),
                ("password", "whatever1"),
                ("flow", "signIn"),
            ]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidAccountId);
    let out = c2
        .sign_in(
            Some("password"),
            params(&[
                ("email", &email),
                ("password", "s3cret-pass"),
                ("flow", "signIn"),
            ]),
        )
        .await
        .unwrap();
    assert!(out.signing_in && c2.state().is_authenticated);
    assert_eq!(c2.state().user_id, st.user_id);
}

#[wasm_bindgen_test]
async fn password_reset_flow() {
    let c = memory_client().await;
    let email = unique_email("reset");
    sign_up(&c, &email).await;
    c.sign_out().await;
    let out = c
        .sign_in(
            Some("password"),
            params(&[("email", &email), ("flow", "reset")]),
        )
        .await
        .unwrap();
    assert!(!out.signing_in);
    let code = get(&outbox(&email).await, "code").as_string().unwrap();
    let e = c
        .sign_in(
            Some("password"),
            params(&[
                ("email", &email),
                ("code", "00000000"),
                ("newPassword", "new-pass-123"),
                ("flow", "reset-verification"),
            ]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidCode);
    let out = c
        .sign_in(
            Some("password"),
            params(&[
                ("email", &email),
                ("code", &code),
                ("newPassword", "new-pass-123"),
                ("flow", "reset-verification"),
            ]),
        )
        .await
        .unwrap();
    assert!(out.signing_in && c.state().is_authenticated);
}

#[wasm_bindgen_test]
async fn email_verification_flow() {
    let c = memory_client().await;
    let email = unique_email("verify");
    let out = c
        .sign_in(
            Some("password-verify"),
            params(&[
                ("email", &email),
                ("password", "s3cret-pass"),
                ("flow", "signUp"),
            ]),
        )
        .await
        .unwrap();
    assert!(!out.signing_in && !c.state().is_authenticated);
    let code = get(&outbox(&email).await, "code").as_string().unwrap();
    let out = c
        .sign_in(
            Some("password-verify"),
            params(&[
                ("email", &email),
                ("code", &code),
                ("flow", "email-verification"),
            ]),
        )
        .await
        .unwrap();
    assert!(out.signing_in && c.state().is_authenticated);
}

#[wasm_bindgen_test]
async fn one_time_code_flow() {
    let c = memory_client().await;
    let email = unique_email("otp");
    let out = c
        .sign_in(Some("email-otp"), params(&[("email", &email)]))
        .await
        .unwrap();
    assert!(!out.signing_in);
    let code = get(&outbox(&email).await, "code").as_string().unwrap();
    let e = c
        .sign_in(
            Some("email-otp"),
            params(&[("email", &email), ("code", "99999999")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidCode);
    let out = c
        .sign_in(
            Some("email-otp"),
            params(&[("email", &email), ("code", &code)]),
        )
        .await
        .unwrap();
    assert!(out.signing_in && c.state().is_authenticated);
}

#[wasm_bindgen_test]
async fn magic_link_code_exchange_despite_a_stale_verifier() {
    let storage = Rc::new(MemoryStorage::default());
    let c = client(Storage::custom(storage.clone()));
    c.ready().await;
    // An abandoned OAuth attempt leaves a verifier behind.
    let out = c.sign_in(Some("github"), vec![]).await.unwrap();
    assert!(out.redirect.is_some());
    let email = unique_email("magic");
    let out = c
        .sign_in(Some("magic-link"), params(&[("email", &email)]))
        .await
        .unwrap();
    assert!(!out.signing_in);
    let link = get(&outbox(&email).await, "url").as_string().unwrap();
    let code = web_sys::Url::new(&link)
        .unwrap()
        .search_params()
        .get("code")
        .unwrap();
    let out = c.sign_in(None, params(&[("code", &code)])).await.unwrap();
    assert!(out.signing_in && c.state().is_authenticated);
    assert_eq!(
        viewer_email(&c.token().unwrap())
            .await
            .as_string()
            .as_deref(),
        Some(email.as_str())
    );
}

#[wasm_bindgen_test]
async fn anonymous_sign_in() {
    let c = memory_client().await;
    let out = c.sign_in(Some("anonymous"), vec![]).await.unwrap();
    assert!(out.signing_in && c.state().is_authenticated);
}

#[wasm_bindgen_test]
async fn oauth_redirect_stores_the_verifier() {
    let storage = Rc::new(MemoryStorage::default());
    let c = client(Storage::custom(storage.clone()));
    c.ready().await;
    let out = c
        .sign_in(Some("github"), params(&[("redirectTo", "/after")]))
        .await
        .unwrap();
    assert!(!out.signing_in);
    let redirect = web_sys::Url::new(out.redirect.as_deref().unwrap()).unwrap();
    assert!(redirect.pathname().ends_with("/api/auth/signin/github"));
    let verifier = redirect.search_params().get("code").unwrap();
    let ns = URL
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>();
    let stored = storage
        .get_item(&format!("__convexAuthOAuthVerifier_{ns}"))
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(verifier.as_str()));
}

#[wasm_bindgen_test]
async fn unknown_provider_is_a_function_error() {
    let c = memory_client().await;
    let e = c
        .sign_in(Some("no-such-provider"), vec![])
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::FunctionError);
    assert!(e.message().contains("no-such-provider"), "{}", e.message());
}

#[wasm_bindgen_test]
async fn convex_error_payload_reaches_data() {
    let (status, v) = http(
        "POST",
        "/api/mutation",
        Some(r#"{"path":"messages:send","args":{"body":"x"},"format":"json"}"#),
        None,
    )
    .await;
    assert_eq!(status, 560);
    assert_eq!(
        get(&v, "errorData.code").as_string().as_deref(),
        Some("NOT_AUTHENTICATED")
    );
}
