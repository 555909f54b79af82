//! Browser tests of the client against the local backend (`make test` starts it and passes its
//! URL at compile time in `CONVEX_AUTH_TEST_URL`; it runs with 20 s JWTs).
#![cfg(target_arch = "wasm32")]
// Tests fail loudly: unwrap is the assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;

use convex_auth_wasm::core::keys::Keys;
use convex_auth_wasm::web::storage::{MemoryStorage, StorageFuture};
use convex_auth_wasm::{
    AuthEventKind, ConvexAuthClient, ErrorCode, Options, ShouldHandleCode, Storage, TokenStorage,
};
use js_sys::{Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const URL: &str = match option_env!("CONVEX_AUTH_TEST_URL") {
    Some(u) => u,
    None => "http://127.0.0.1:3210",
};

// ---- helpers ----

async fn http(
    method: &str,
    path: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> (u16, JsValue) {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().unwrap();
    if let Some(b) = body {
        init.set_body(&JsValue::from_str(b));
        headers.set("Content-Type", "application/json").unwrap();
    }
    if let Some(t) = bearer {
        headers
            .set("Authorization", &format!("Bearer {t}"))
            .unwrap();
    }
    init.set_headers(&headers);
    let window = web_sys::window().unwrap();
    let resp: web_sys::Response =
        JsFuture::from(window.fetch_with_str_and_init(&format!("{URL}{path}"), &init))
            .await
            .unwrap()
            .unchecked_into();
    let text = JsFuture::from(resp.text().unwrap())
        .await
        .unwrap()
        .as_string()
        .unwrap();
    (resp.status(), JSON::parse(&text).unwrap_or(JsValue::NULL))
}

fn get(v: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(v.clone(), |v, k| {
        Reflect::get(&v, &k.into()).unwrap_or(JsValue::UNDEFINED)
    })
}

fn unique_email(tag: &str) -> String {
    format!(
        "{tag}-{}@example.com",
        (js_sys::Math::random() * 1e12) as u64
    )
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The newest outbox message for `to`.
async fn outbox(to: &str) -> JsValue {
    let (_, v) = http(
        "GET",
        &format!("/_test/outbox?to={}", js_sys::encode_uri_component(to)),
        None,
        None,
    )
    .await;
    let msgs: js_sys::Array = get(&v, "messages").unchecked_into();
    msgs.get(msgs.length().saturating_sub(1))
}

async fn requests() -> js_sys::Array {
    http("GET", "/_test/requests", None, None)
        .await
        .1
        .unchecked_into()
}

async fn count_kind(kind: &str, since: u32) -> usize {
    let all = requests().await;
    (since..all.length())
        .filter(|i| get(&all.get(*i), "kind").as_string().as_deref() == Some(kind))
        .count()
}

async fn fault(path: &str, kind: &str, count: u32) {
    let body = format!(r#"{{"path":"{path}","kind":"{kind}","count":{count}}}"#);
    http("POST", "/_test/faults", Some(&body), None).await;
}

async fn sleep_ms(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

fn client(storage: Storage) -> ConvexAuthClient {
    ConvexAuthClient::new(
        Options::new(URL)
            .storage(storage)
            .navigate(false)
            .should_handle_code(ShouldHandleCode::Never),
    )
    .unwrap()
}

async fn memory_client() -> ConvexAuthClient {
    let c = client(Storage::Memory);
    c.ready().await;
    c
}

async fn sign_up(c: &ConvexAuthClient, email: &str) {
    let out = c
        .sign_in(
            Some("password"),
            params(&[
                ("email", email),
                ("password", "s3cret-pass"),
                ("flow", "signUp"),
            ]),
        )
        .await
        .unwrap();
    assert!(out.signing_in);
}

async fn viewer_email(token: &str) -> JsValue {
    let (status, v) = http(
        "POST",
        "/api/query",
        Some(r#"{"path":"users:viewer","args":{},"format":"json"}"#),
        Some(token),
    )
    .await;
    assert_eq!(status, 200);
    get(&v, "value.email")
}

fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

// ---- options ----

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

// ---- sign-in flows ----

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

// ---- sign-out and storage ----

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

// ---- URL codes ----

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

// ---- tokens and refresh ----

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

/// Polls three futures concurrently on this thread.
async fn futures_join3<A: Future, B: Future, C: Future>(
    a: A,
    b: B,
    c: C,
) -> (A::Output, B::Output, C::Output) {
    let (mut a, mut b, mut c) = (Box::pin(a), Box::pin(b), Box::pin(c));
    let (mut ra, mut rb, mut rc) = (None, None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if rc.is_none() {
            if let Poll::Ready(v) = c.as_mut().poll(cx) {
                rc = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() && rc.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap(), rc.unwrap())
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

// ---- tabs: Web Locks, storage events, BroadcastChannel, encrypted storage ----

/// Runs a JS function body with arguments `a`, `b` (for what web-sys does not bind here).
fn js(body: &str, a: &JsValue, b: &JsValue) -> JsValue {
    js_sys::Function::new_with_args("a, b", body)
        .call2(&JsValue::NULL, a, b)
        .unwrap()
}

async fn js_async(body: &str, a: &JsValue, b: &JsValue) -> JsValue {
    JsFuture::from(js_sys::Promise::resolve(&js(body, a, b)))
        .await
        .unwrap()
}

/// A client standing for one tab: its own instance over a shared storage namespace.
async fn tab(storage: Storage, ns: &str) -> ConvexAuthClient {
    let c = ConvexAuthClient::new(
        Options::new(URL)
            .storage(storage)
            .storage_namespace(ns)
            .navigate(false)
            .should_handle_code(ShouldHandleCode::Never),
    )
    .unwrap();
    c.ready().await;
    c
}

/// Waits (up to 5 s) until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        sleep_ms(50).await;
    }
    panic!("timed out waiting until {what}");
}

fn event_log(
    c: &ConvexAuthClient,
) -> (
    Rc<RefCell<Vec<AuthEventKind>>>,
    convex_auth_wasm::Subscription,
) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let sub = c.on_change(move |e| l.borrow_mut().push(e.kind));
    (log, sub)
}

#[wasm_bindgen_test]
async fn tabs_sharing_local_storage_rotate_once_under_the_lock() {
    let ns = unique_email("locks");
    let a = tab(Storage::LocalStorage, &ns).await;
    sign_up(&a, &unique_email("locks")).await;
    let t0 = a.token();
    let since = requests().await.length();
    let (b, c) = (
        tab(Storage::LocalStorage, &ns).await,
        tab(Storage::LocalStorage, &ns).await,
    );
    assert_eq!(b.token(), t0, "a second tab loads the stored session");
    assert_eq!(requests().await.length(), since, "with no request");
    let (x, y, z) = futures_join3(
        a.fetch_access_token(true),
        b.fetch_access_token(true),
        c.fetch_access_token(true),
    )
    .await;
    assert!(x.is_some() && x != t0);
    assert_eq!(
        (&x, &x),
        (&y, &z),
        "the waiting tabs reuse the stored token"
    );
    assert_eq!(
        count_kind("refresh", since).await,
        1,
        "one rotation for three tabs"
    );
}

#[wasm_bindgen_test]
async fn a_stuck_lock_is_passed_over() {
    let ns = unique_email("stuck");
    let a = tab(Storage::LocalStorage, &ns).await;
    sign_up(&a, &unique_email("stuck")).await;
    let t0 = a.token();
    let name = JsValue::from_str(&Keys::new(&ns).refresh_token);
    // Another "tab" takes the refresh lock and never lets it go.
    js(
        "navigator.locks.request(a, () => new Promise(() => {}))",
        &name,
        &JsValue::NULL,
    );
    let held = js_async(
        "return navigator.locks.query().then(s => s.held.some(l => l.name === a))",
        &name,
        &JsValue::NULL,
    )
    .await;
    assert_eq!(held, JsValue::TRUE);
    let t1 = a.fetch_access_token(true).await;
    assert!(t1.is_some() && t1 != t0, "refreshed without the lock");
}

#[wasm_bindgen_test]
async fn storage_events_from_another_document_are_followed() {
    let ns = unique_email("events");
    let a = tab(Storage::LocalStorage, &ns).await;
    let other = memory_client().await;
    sign_up(&other, &unique_email("events")).await;
    let (log, _sub) = event_log(&a);
    // A same-origin frame is another document: its writes reach this one as `storage` events.
    let frame_storage = js(
        "const f = document.createElement('iframe'); document.body.appendChild(f); return f.contentWindow.localStorage;",
        &JsValue::NULL,
        &JsValue::NULL,
    );
    let key = JsValue::from_str(&Keys::new(&ns).jwt);
    let token = JsValue::from_str(&other.token().unwrap());
    js(
        "a.setItem(b[0], b[1])",
        &frame_storage,
        &js_sys::Array::of2(&key, &token),
    );
    eventually("the other document's sign-in is followed", || {
        a.token() == other.token()
    })
    .await;
    // The same value again is no change, so no event.
    js(
        "a.setItem(b[0], b[1])",
        &frame_storage,
        &js_sys::Array::of2(&key, &token),
    );
    js("a.removeItem(b)", &frame_storage, &key);
    eventually("the other document's sign-out is followed", || {
        a.token().is_none()
    })
    .await;
    assert_eq!(
        *log.borrow(),
        vec![AuthEventKind::SignedIn, AuthEventKind::SignedOut]
    );
}

#[wasm_bindgen_test]
async fn encrypted_storage_persists_hides_tokens_and_broadcasts() {
    let ns = unique_email("enc");
    let a = tab(Storage::Encrypted, &ns).await;
    assert!(!a.state().is_authenticated);
    sign_up(&a, &unique_email("enc")).await;
    let token = a.token().unwrap();
    // Nothing token-like in Web Storage.
    for storage in [
        local_storage(),
        web_sys::window()
            .unwrap()
            .session_storage()
            .unwrap()
            .unwrap(),
    ] {
        for i in 0..storage.length().unwrap() {
            let k = storage.key(i).unwrap().unwrap();
            let v = storage.get_item(&k).unwrap().unwrap_or_default();
            assert!(!v.contains(&token) && k != Keys::new(&ns).jwt);
        }
    }
    // The IndexedDB record is ciphertext.
    let key = JsValue::from_str(&Keys::new(&ns).jwt);
    let record = js_async(
        "return new Promise((ok, no) => { const r = indexedDB.open('convex-auth-wasm'); r.onerror = no;
           r.onsuccess = () => { const g = r.result.transaction('kv').objectStore('kv').get('encrypted:' + a);
             g.onsuccess = () => { ok(g.result); r.result.close(); }; g.onerror = no; }; })",
        &key,
        &JsValue::NULL,
    )
    .await;
    let bytes = record.dyn_into::<js_sys::Uint8Array>().unwrap().to_vec();
    assert!(bytes.len() > token.len());
    assert!(!String::from_utf8_lossy(&bytes).contains(&token[..20]));
    // Another tab (a reload) finds the session, with no request.
    let since = requests().await.length();
    let b = tab(Storage::Encrypted, &ns).await;
    assert_eq!(b.token().as_deref(), Some(token.as_str()));
    assert_eq!(requests().await.length(), since);
    // Sign-out and sign-in reach the other tab through the BroadcastChannel.
    let (log, _sub) = event_log(&b);
    a.sign_out().await;
    eventually("the other tab signs out", || b.token().is_none()).await;
    sign_up(&a, &unique_email("enc2")).await;
    eventually("the other tab signs in", || b.token() == a.token()).await;
    assert_eq!(
        *log.borrow(),
        vec![AuthEventKind::SignedOut, AuthEventKind::SignedIn]
    );
}

#[wasm_bindgen_test]
async fn encrypted_storage_survives_its_database_being_deleted() {
    let ns = unique_email("encdel");
    let a = tab(Storage::Encrypted, &ns).await;
    sign_up(&a, &unique_email("encdel")).await;
    // Clearing site data deletes the database: the open connection must not block that.
    let outcome = js_async(
        "return new Promise((ok, no) => { const r = indexedDB.deleteDatabase('convex-auth-wasm');
           r.onsuccess = () => ok('deleted'); r.onerror = no; r.onblocked = () => ok('blocked'); })",
        &JsValue::NULL,
        &JsValue::NULL,
    )
    .await;
    assert_eq!(outcome.as_string().as_deref(), Some("deleted"));
    // The client goes on: its next writes recreate the database and a new key, and another tab
    // reads what it stored.
    sign_up(&a, &unique_email("encdel2")).await;
    let b = tab(Storage::Encrypted, &ns).await;
    assert!(b.token().is_some());
    assert_eq!(b.token(), a.token());
    // The key they share is the one stored in the new database (not a copy cached from the old).
    let stored_key = js_async(
        "return new Promise((ok, no) => { const r = indexedDB.open('convex-auth-wasm'); r.onerror = no;
           r.onsuccess = () => { const g = r.result.transaction('kv').objectStore('kv').get(a);
             g.onsuccess = () => { ok(g.result instanceof CryptoKey); r.result.close(); };
             g.onerror = no; }; })",
        &JsValue::from_str("__convexAuthWasmKey"),
        &JsValue::NULL,
    )
    .await;
    assert_eq!(stored_key.as_bool(), Some(true));
}
