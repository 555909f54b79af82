//! Browser tests of Convex Auth v2 (`version: v2`) against the local v2 backend (`www/v2/`, the
//! real `@convex-dev/auth` 2.0.0): the `signIn` calls of the mapping table, v2's value-style
//! errors, the user id kept across reloads, refresh and sign-out with the refresh token, the
//! generations kept apart, and the OAuth return parameters. `make test` starts the backend with
//! 20 s tokens and passes its URL at compile time (`CONVEX_AUTH_TEST_URL_V2`).
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{event_log, get, http_at, local_storage, params, unique_email};
use convex_auth_wasm::core::keys::Keys;
use convex_auth_wasm::{
    AuthEventKind, ConvexAuthClient, Error, ErrorCode, Options, ShouldHandleCode, Storage, Version,
};
use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The local v2 backend.
const V2: &str = match option_env!("CONVEX_AUTH_TEST_URL_V2") {
    Some(u) => u,
    None => "http://127.0.0.1:3211",
};
const PASSWORD: &str = "correct horse battery staple";

fn options() -> Options {
    Options::new(V2)
        .version(Version::V2)
        .navigate(false)
        .should_handle_code(ShouldHandleCode::Never)
}

async fn client_with(options: Options) -> ConvexAuthClient {
    let c = ConvexAuthClient::new(options).unwrap();
    c.ready().await;
    c
}

async fn memory_client() -> ConvexAuthClient {
    client_with(options().storage(Storage::Memory)).await
}

/// A unique namespace in localStorage, standing for one app's storage.
fn namespace(tag: &str) -> String {
    format!("{tag}{}", (js_sys::Math::random() * 1e12) as u64)
}

async fn request_kinds_since(since: u32) -> Vec<String> {
    let (_, all) = http_at(V2, "GET", "/_test/requests", None, None).await;
    let all: js_sys::Array = all.unchecked_into();
    (since..all.length())
        .filter_map(|i| get(&all.get(i), "kind").as_string())
        .collect()
}

async fn request_count() -> u32 {
    let (_, all) = http_at(V2, "GET", "/_test/requests", None, None).await;
    all.unchecked_into::<js_sys::Array>().length()
}

/// The code of the newest mail to `to`.
async fn mailed_code(to: &str) -> String {
    let path = format!("/_test/outbox?to={}", js_sys::encode_uri_component(to));
    let (_, v) = http_at(V2, "GET", &path, None, None).await;
    let messages: js_sys::Array = get(&v, "messages").unchecked_into();
    let last = messages.get(messages.length().saturating_sub(1));
    get(&last, "code").as_string().expect("a mailed code")
}

/// The server's own code of a v2 rejection.
fn v2_code(e: &Error) -> String {
    assert_eq!(e.code(), ErrorCode::UserError, "{e}");
    e.code_name()
}

async fn viewer(token: &str) -> JsValue {
    let (status, v) = http_at(
        V2,
        "POST",
        "/api/query",
        Some(r#"{"path":"users:viewer","args":{},"format":"json"}"#),
        Some(token),
    )
    .await;
    assert_eq!(status, 200);
    get(&v, "value")
}

#[wasm_bindgen_test]
async fn email_password_sign_up_with_the_emailed_code_then_sign_in() {
    let ns = namespace("v2pw");
    let c = client_with(options().storage_namespace(ns.clone())).await;
    let email = unique_email("v2");
    let up = c
        .sign_in(
            Some("password"),
            params(&[
                ("email", &email),
                ("password", PASSWORD),
                ("flow", "signUp"),
            ]),
        )
        .await
        .unwrap();
    assert!(!up.signing_in, "a link was emailed, no session yet");
    assert!(!c.state().is_authenticated);
    // The browserSecret is kept under the official v2 key until the link is completed.
    let secret_key = Keys::v2(&ns).sign_up_secret;
    assert!(local_storage().get_item(&secret_key).unwrap().is_some());
    // A wrong code is refused and keeps the secret for the right one.
    let wrong = c
        .sign_in(
            Some("password"),
            params(&[("code", "00000000"), ("flow", "email-verification")]),
        )
        .await
        .unwrap_err();
    assert!(!v2_code(&wrong).is_empty());
    assert!(local_storage().get_item(&secret_key).unwrap().is_some());
    let code = mailed_code(&email).await;
    let done = c
        .sign_in(
            Some("password"),
            params(&[("code", &code), ("flow", "email-verification")]),
        )
        .await
        .unwrap();
    assert!(done.signing_in);
    assert!(local_storage().get_item(&secret_key).unwrap().is_none());
    let st = c.state();
    assert!(st.is_authenticated);
    let user_id = st.user_id.clone().expect("the bundle's user id");
    let claims = convex_auth_wasm::core::jwt::decode(st.token.as_deref().unwrap()).unwrap();
    assert_eq!(st.session_id.as_deref(), Some(claims.session_id.as_str()));
    assert_ne!(Some(user_id.as_str()), st.session_id.as_deref());
    assert_eq!(
        get(&viewer(st.token.as_deref().unwrap()).await, "email").as_string(),
        Some(email.clone())
    );

    // A reload: the stored session and its user id, with no request.
    let sent = request_count().await;
    let again = client_with(options().storage_namespace(ns.clone())).await;
    assert_eq!(again.state().token, st.token);
    assert_eq!(again.state().user_id.as_deref(), Some(user_id.as_str()));
    assert_eq!(request_kinds_since(sent).await, Vec::<String>::new());
    drop(again);

    // Sign-in: a wrong password is the server's own code, the right one signs in.
    let other = memory_client().await;
    let e = other
        .sign_in(
            Some("password"),
            params(&[
                ("email", &email),
                ("password", "an entirely wrong passphrase"),
                ("flow", "signIn"),
            ]),
        )
        .await
        .unwrap_err();
    assert_eq!(v2_code(&e), "INVALID_CREDENTIALS");
    assert_eq!(
        e.data().and_then(|d| d.get("error")?.string()).as_deref(),
        Some("INVALID_CREDENTIALS")
    );
    other
        .sign_in(
            Some("password"),
            params(&[("email", &email), ("password", PASSWORD)]),
        )
        .await
        .unwrap();
    assert_eq!(other.state().user_id.as_deref(), Some(user_id.as_str()));
    c.sign_out().await;
    other.sign_out().await;
}

#[wasm_bindgen_test]
async fn password_recovery_with_the_emailed_code_signs_out_other_sessions() {
    let first = memory_client().await;
    let email = unique_email("v2rec");
    first
        .sign_in(
            Some("password"),
            params(&[
                ("email", &email),
                ("password", PASSWORD),
                ("flow", "signUp"),
            ]),
        )
        .await
        .unwrap();
    let code = mailed_code(&email).await;
    first
        .sign_in(
            Some("password"),
            params(&[("code", &code), ("flow", "email-verification")]),
        )
        .await
        .unwrap();
    assert!(first.state().is_authenticated);

    let second = memory_client().await;
    let started = second
        .sign_in(
            Some("password"),
            params(&[("email", &email), ("flow", "reset")]),
        )
        .await
        .unwrap();
    assert!(!started.signing_in);
    let code = mailed_code(&email).await;
    let done = second
        .sign_in(
            Some("password"),
            params(&[
                ("code", &code),
                ("newPassword", "a brand new passphrase"),
                ("flow", "reset-verification"),
            ]),
        )
        .await
        .unwrap();
    assert!(done.signing_in && second.state().is_authenticated);
    // Recovery revoked the first session: its next refresh signs it out.
    assert_eq!(first.fetch_access_token(true).await, None);
    assert!(!first.state().is_authenticated);
    second.sign_out().await;
}

#[wasm_bindgen_test]
async fn username_password_anonymous_refresh_and_sign_out() {
    let c = memory_client().await;
    let username = format!("user{}", (js_sys::Math::random() * 1e12) as u64);
    let up = c
        .sign_in(
            Some("username-password"),
            params(&[
                ("username", &username),
                ("password", PASSWORD),
                ("flow", "signUp"),
            ]),
        )
        .await
        .unwrap();
    assert!(up.signing_in && c.state().is_authenticated);
    let user_id = c.state().user_id.unwrap();
    c.sign_out().await;
    c.sign_in(
        Some("username-password"),
        params(&[
            ("username", &username),
            ("password", PASSWORD),
            ("flow", "signIn"),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(c.state().user_id.as_deref(), Some(user_id.as_str()));

    // A forced refresh: one refreshSession, a new token of the same session and user.
    let (events, _sub) = event_log(&c);
    let before = c.state();
    let sent = request_count().await;
    let token = c.fetch_access_token(true).await.unwrap();
    assert_ne!(Some(&token), before.token.as_ref());
    assert_eq!(request_kinds_since(sent).await, ["refresh"]);
    assert_eq!(c.state().session_id, before.session_id);
    assert_eq!(c.state().user_id, before.user_id);
    assert_eq!(*events.borrow(), [AuthEventKind::TokenRefreshed]);

    // Sign-out deletes the server session with the refresh token.
    let sent = request_count().await;
    c.sign_out().await;
    assert!(!c.state().is_authenticated);
    assert_eq!(request_kinds_since(sent).await, ["signOut"]);

    let anon = memory_client().await;
    let r = anon.sign_in(Some("anonymous"), Vec::new()).await.unwrap();
    assert!(r.signing_in && anon.state().user_id.is_some());
    anon.sign_out().await;
}

#[wasm_bindgen_test]
async fn a_session_of_the_other_generation_is_discarded_without_a_request() {
    // A v1 session (sub `user|session`, a refresh token with `|`) under the shared keys.
    let ns = namespace("gen");
    let keys = Keys::v2(&ns);
    let payload = common::b64url(r#"{"sub":"u1|s1","iat":1700000000,"exp":4000000000}"#);
    let storage = local_storage();
    storage
        .set_item(&keys.jwt, &format!("e30.{payload}.sig"))
        .unwrap();
    storage.set_item(&keys.refresh_token, "r1|s1").unwrap();
    let sent = request_count().await;
    let c = ConvexAuthClient::new(options().storage_namespace(ns.clone())).unwrap();
    let (events, _sub) = event_log(&c);
    c.ready().await;
    assert!(!c.state().is_authenticated);
    assert_eq!(*events.borrow(), [AuthEventKind::Initialized]);
    assert_eq!(request_kinds_since(sent).await, Vec::<String>::new());
    assert_eq!(storage.get_item(&keys.refresh_token).unwrap(), None);
}

#[wasm_bindgen_test]
async fn a_function_the_deployment_lacks_is_named_in_invalid_options() {
    let c = client_with(
        options()
            .storage(Storage::Memory)
            .function("signInAnonymously", "auth:noSuchFunction"),
    )
    .await;
    let e = c.sign_in(Some("anonymous"), Vec::new()).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidOptions, "{e}");
    assert!(e.message().contains("auth:noSuchFunction"), "{e}");
    // A provider v2 does not have.
    let e = c
        .sign_in(Some("resend-otp"), params(&[("email", "a@b.c")]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidParams);
    // `functions` without v2.
    let e = ConvexAuthClient::new(
        Options::new(V2).function("signInAnonymously", "auth:signInAnonymously"),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidOptions);
}

/// A client that handles the page URL's OAuth return, ready, with the codes of the error events
/// it emitted (the subscription lives as long as the client).
async fn returned_client(ns: &str) -> (ConvexAuthClient, Rc<RefCell<Vec<String>>>) {
    let c = ConvexAuthClient::new(
        options()
            .storage_namespace(ns)
            .should_handle_code(ShouldHandleCode::Always),
    )
    .unwrap();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let seen = errors.clone();
    c.on_change(move |e| {
        if let Some(err) = &e.error {
            seen.borrow_mut().push(err.code_name());
        }
    })
    .keep();
    c.ready().await;
    (c, errors)
}

#[wasm_bindgen_test]
async fn oauth_start_keeps_the_flow_and_the_return_is_completed_or_reported() {
    let ns = namespace("oauth");
    let keys = Keys::v2(&ns);
    let c = client_with(options().storage_namespace(ns.clone())).await;
    let r = c
        .sign_in(
            Some("github"),
            params(&[("redirectTo", "http://localhost:5173/")]),
        )
        .await
        .unwrap();
    assert!(!r.signing_in);
    let redirect = r.redirect.expect("the provider's authorize URL");
    assert!(redirect.starts_with("http"), "{redirect}");
    let flow = local_storage().get_item(&keys.verifier).unwrap().unwrap();
    let flow = js_sys::JSON::parse(&flow).unwrap();
    assert_eq!(
        get(&flow, "providerName").as_string().as_deref(),
        Some("github")
    );
    assert!(get(&flow, "state").as_string().is_some());
    assert_eq!(
        get(&flow, "completeSignIn").as_string().as_deref(),
        Some("auth:completeSignInWithGithub")
    );
    drop(c);

    // Back with a code this deployment never issued: the flow is completed and refused, the
    // error reported, the code removed from the URL, and no session.
    let history = web_sys::window().unwrap().history().unwrap();
    let back = |query: &str| {
        history
            .replace_state_with_url(&JsValue::NULL, "", Some(query))
            .unwrap()
    };
    back("?convexAuthCode=not-a-ticket&keep=1");
    let (c, errors) = returned_client(&ns).await;
    assert!(!c.state().is_authenticated);
    assert_eq!(errors.borrow().len(), 1, "{:?}", errors.borrow());
    assert_eq!(
        web_sys::window().unwrap().location().search().unwrap(),
        "?keep=1"
    );
    assert_eq!(local_storage().get_item(&keys.verifier).unwrap(), None);
    drop(c);

    // Back with the provider's error: ACCESS_DENIED, the flow removed.
    local_storage().set_item(&keys.verifier, "{}").unwrap();
    back("?convexAuthError=access_denied");
    let (c, errors) = returned_client(&ns).await;
    assert!(!c.state().is_authenticated);
    assert_eq!(*errors.borrow(), ["ACCESS_DENIED"]);
    assert_eq!(web_sys::window().unwrap().location().search().unwrap(), "");
    assert_eq!(local_storage().get_item(&keys.verifier).unwrap(), None);
    drop(c);
    // A plain `code` (an email link's) is the app's: a v2 client neither takes nor strips it.
    back("?code=12345678");
    let (_c, errors) = returned_client(&ns).await;
    assert!(errors.borrow().is_empty());
    assert_eq!(
        web_sys::window().unwrap().location().search().unwrap(),
        "?code=12345678"
    );
    back("?");
}
